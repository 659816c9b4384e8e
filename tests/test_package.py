"""The release: an sdist and a wheel that build offline and pass `twine check`, and a wheel
that installs into a clean virtual environment where `import spl_tf` and every console
script work, without the optional extras and with each of them.

No network and no second TensorFlow download: each new environment gets the dependencies
installed beside this interpreter, linked into its site-packages entry by entry, and only
those that the wheel's own metadata asks for (walked from its Requires-Dist, with the
extras given). So an environment holds what `pip install "spl_tf[extra]"` would give, at
this environment's versions, and never the editable spl_tf of the checkout. pip installs
the wheel offline (and, for [fcc], checks that those dependencies satisfy it).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path, PurePosixPath

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from checkout import scratch_copy

PACKAGES = ("spl_tf", "spl_tf.utils", "applications", "fcc_dataset")
# What only the extras bring.
EXTRA_ONLY = ("dlib", "face_recognition_models", "yt_dlp", "imageio_ffmpeg")
TIMEOUT = 300  # seconds, for any one command


def run(*command: str | Path, cwd: Path | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(part) for part in command], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT)


def succeeded(result: subprocess.CompletedProcess) -> bool:
    """True when the command exited 0 without a traceback; says what it printed if not."""
    if result.returncode == 0 and "Traceback" not in result.stderr:
        return True
    print(f"{result.args} exited {result.returncode}\n{result.stdout}\n{result.stderr}")
    return False


# --- the distributions -------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Dists:
    source: Path  # the copy of the checkout they were built from
    sdist: Path
    wheel: Path


@pytest.fixture(scope="module")
def dists(tmp_path_factory) -> Dists:
    """The sdist, and the wheel built from it, built offline from a copy of the checkout
    (a build writes its egg-info into the tree it builds)."""
    tmp = tmp_path_factory.mktemp("release")
    source, out = tmp / "source", tmp / "dist"
    scratch_copy(source)
    built = run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, source)
    assert succeeded(built)
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Dists(source, sdist, wheel)


def wheel_metadata(wheel: Path) -> metadata.Distribution:
    """The wheel's own metadata, read from inside it."""
    with zipfile.ZipFile(wheel) as archive:
        (info,) = {name.split("/")[0] for name in archive.namelist()
                   if name.split("/")[0].endswith(".dist-info")}
    return metadata.PathDistribution(zipfile.Path(wheel, f"{info}/"))


def test_sdist_and_wheel_pass_twine_check(dists: Dists):
    checked = run(sys.executable, "-m", "twine", "check", "--strict", dists.sdist, dists.wheel)
    assert succeeded(checked)
    assert checked.stdout.count("PASSED") == 2, checked.stdout


def test_wheel_holds_every_file_of_the_packages_and_the_license(dists: Dists):
    with zipfile.ZipFile(dists.wheel) as wheel:
        names = set(wheel.namelist())
    shipped = {path.relative_to(dists.source).as_posix()
               for package in PACKAGES for path in (dists.source / package).rglob("*")
               if path.is_file()}
    assert shipped - names == set()
    # In .dist-info/licenses/ since setuptools 77 (metadata 2.4), in .dist-info/ before.
    assert any(".dist-info/" in name and name.endswith("/LICENSE") for name in names), names
    assert not any(name.startswith("tests/") for name in names)


def test_sdist_carries_the_release_files_and_not_the_tests(dists: Dists):
    with tarfile.open(dists.sdist) as sdist:
        names = {PurePosixPath(name).relative_to(PurePosixPath(name).parts[0]).as_posix()
                 for name in sdist.getnames() if len(PurePosixPath(name).parts) > 1}
    for name in ("LICENSE", "CITATION.cff", "CHANGELOG.md", "README.md", "setup.py",
                 "pyproject.toml", "spl_tf/__init__.py"):
        assert name in names
    assert not any(name.startswith("tests") for name in names)


# --- clean environments --------------------------------------------------------------

def dependencies(own: metadata.Distribution, extras: tuple[str, ...]
                 ) -> dict[str, metadata.Distribution]:
    """The installed distributions `own[extras]` needs, directly or not, by name; a
    requirement on `own` itself (`spl_tf[makeup]` in [fcc]) adds that extra's."""
    own_name = canonicalize_name(own.metadata["Name"])
    found: dict[str, metadata.Distribution] = {own_name: own}
    todo = [(own_name, extra) for extra in ("", *extras)]
    seen = set(todo)
    while todo:
        name, extra = todo.pop()
        for line in found[name].requires or ():
            requirement = Requirement(line)
            if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
                continue
            needed = canonicalize_name(requirement.name)
            if needed not in found:
                try:
                    found[needed] = metadata.distribution(needed)
                except metadata.PackageNotFoundError:
                    pytest.fail(f"{line} (required by {name}) is not installed here")
            for wanted in ("", *requirement.extras):
                if (needed, wanted) not in seen:
                    seen.add((needed, wanted))
                    todo.append((needed, wanted))
    del found[own_name]
    return found


def top_level_entries(dist: metadata.Distribution) -> set[Path]:
    """The files and folders directly in site-packages that `dist` installed."""
    assert dist.files is not None, f"{dist.metadata['Name']} has no RECORD"
    site = Path(dist.locate_file(""))
    parts = {PurePosixPath(file).parts[0] for file in dist.files}
    # Scripts (../../bin/...) and byte code are not what an import needs.
    return {site / part for part in parts if part not in ("..", "__pycache__")}


@dataclasses.dataclass(frozen=True)
class Venv:
    root: Path
    work: Path  # an empty folder to run commands in, away from the checkout

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def run(self, program: str, *args: str) -> subprocess.CompletedProcess:
        """A program of bin/ (a console script, python), as a user of this venv runs it."""
        env = {key: value for key, value in os.environ.items()
               if key not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        env["PYTHONNOUSERSITE"] = "1"
        return run(self.root / "bin" / program, *args, cwd=self.work, env=env)

    def python_code(self, code: str) -> subprocess.CompletedProcess:
        return self.run("python", "-c", code)


def install(wheel: Path, extras: tuple[str, ...], folder: Path, resolve: bool = False
            ) -> Venv:
    """A new venv with `spl_tf[extras]` installed from `wheel`, and nothing more.

    `resolve`: pip checks that the linked dependencies satisfy the wheel's requirements
    (offline; 5 s more than `--no-deps`).
    """
    venv = Venv(folder / "venv", folder / "work")
    venv.work.mkdir(parents=True)
    assert succeeded(run(sys.executable, "-m", "venv", "--without-pip", venv.root))
    site = Path(venv.python_code("import sysconfig; print(sysconfig.get_path('purelib'))")
                .stdout.strip())
    for dist in dependencies(wheel_metadata(wheel), extras).values():
        for entry in top_level_entries(dist):
            if not (site / entry.name).exists():  # namespace folders are shared
                (site / entry.name).symlink_to(entry)
    requirement = f"{wheel}[{','.join(extras)}]" if extras else str(wheel)
    installed = run(sys.executable, "-m", "pip", "--python", venv.python, "install",
                    "--no-index", "--disable-pip-version-check", "--quiet",
                    *(() if resolve else ("--no-deps",)), requirement)
    assert succeeded(installed)
    return venv


@pytest.fixture(scope="module")
def plain(dists: Dists, tmp_path_factory) -> Venv:
    return install(dists.wheel, (), tmp_path_factory.mktemp("plain"))


@pytest.fixture(scope="module")
def makeup(dists: Dists, tmp_path_factory) -> Venv:
    return install(dists.wheel, ("makeup",), tmp_path_factory.mktemp("makeup"))


@pytest.fixture(scope="module")
def fcc(dists: Dists, tmp_path_factory) -> Venv:
    # Resolved: [fcc] holds every requirement, spl_tf[makeup] among them.
    return install(dists.wheel, ("fcc",), tmp_path_factory.mktemp("fcc"), resolve=True)


def console_scripts(wheel: Path) -> list[str]:
    return sorted(entry.name for entry in wheel_metadata(wheel).entry_points
                  if entry.group == "console_scripts")


def last_line(result: subprocess.CompletedProcess) -> str:
    """The error line of a failed command, after any log lines (TensorFlow's, absl's)."""
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr.strip().splitlines()[-1]


# --- installed without extras ----------------------------------------------------------

def test_plain_install_imports_the_wheels_packages_and_no_extra(plain: Venv):
    found = plain.python_code(
        "import importlib.util, applications, fcc_dataset, spl_tf, spl_tf.utils\n"
        "for package in (spl_tf, spl_tf.utils, applications, fcc_dataset):\n"
        "    print(package.__file__)\n"
        f"print([m for m in {EXTRA_ONLY} if importlib.util.find_spec(m)])")
    assert succeeded(found)
    *files, extras = found.stdout.strip().splitlines()
    for file in files:  # the wheel's copy, not the checkout's
        assert Path(file).resolve().is_relative_to(plain.root.resolve()), file
    assert extras == "[]"


def test_every_console_script_shows_its_help_without_extras(plain: Venv, dists: Dists):
    scripts = console_scripts(dists.wheel)
    assert {"spl-pix2pix-train", "spl-srresnet-predict", "fcc-build"} <= set(scripts)
    failed = [script for script in scripts if not succeeded(plain.run(script, "--help"))]
    assert failed == []


@pytest.mark.parametrize("command, extra", [
    (("spl-makeup-transfer", "--model=run/model.keras", "--source=a.jpg",
      "--reference=b.jpg", "--output=c.png"), "makeup"),
    (("fcc-pairs", "--sources=s", "--references=r", "--output_dir=out"), "makeup"),
    (("fcc-build", "--output_dir=out"), "fcc"),
])
def test_a_command_that_needs_an_extra_names_it_in_one_line(plain: Venv, command, extra):
    result = plain.run(*command)
    assert result.returncode == 2
    assert last_line(result).startswith("error: dlib-bin, face-recognition-models")
    assert last_line(result).endswith(f'pip install "spl_tf[{extra}]"')
    # It stops before touching anything.
    assert list(plain.work.iterdir()) == []


# --- installed with extras -------------------------------------------------------------

def test_makeup_extra_finds_faces_and_fcc_build_asks_for_fcc(makeup: Venv):
    detected = makeup.python_code(
        "import skimage.data\nfrom fcc_dataset import faces\n"
        "box = faces.detect_face(skimage.data.astronaut())\n"
        "print(box.width, faces.landmarks(skimage.data.astronaut(), box).shape)")
    assert succeeded(detected)
    width, shape = detected.stdout.split(maxsplit=1)
    assert 60 < int(width) < 130 and shape.strip() == "(68, 2)"  # the astronaut's face

    result = makeup.run("fcc-build", "--output_dir=out")
    assert result.returncode == 2
    assert last_line(result) == ('error: imageio-ffmpeg, yt-dlp not installed; this needs '
                                 'the [fcc] extra: pip install "spl_tf[fcc]"')


def test_fcc_extra_has_every_tool_of_a_build(fcc: Venv):
    result = fcc.run("fcc-build", "--output_dir=out", "--frames_csv=missing.csv")
    # Past the check of its tools, the build stops at the frame list it cannot read.
    assert result.returncode == 2
    assert "missing.csv" in last_line(result)
    assert "extra" not in last_line(result)
