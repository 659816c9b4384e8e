"""The README and the documentation site (mkdocs.yml, docs/).

The site builds with warnings as errors (every internal link, anchor and API name resolves),
its API reference covers every public name, every `spl_tf.<name>` the README and the pages
write exists, and the README stays short: its links resolve, its Python runs and each of
its shell commands is one that the Makefile or the tests run.
"""

import importlib.util
import importlib
import inspect
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

import spl_tf
import spl_tf.layers
import spl_tf.metrics

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 200
BUILD_TIMEOUT_S = 120

# Each shell command the README shows, and what runs it. A command that needs the network
# (a dataset download, a full-scale run) belongs on a docs page, not here.
README_COMMANDS = {
    "make demo": "the Makefile's demo target (tests/test_demo.py runs the same demo.run)",
    "make test": "the Makefile's test target",
    "spl-experiment --experiment_dir=exp/smoke": "the smoke preset, as tests/applications_tests/"
    "test_experiment.py runs it (cut to one epoch)",
    "pip install -e .": "the Makefile's install, with the extras (every make target)",
    'pip install -e ".[jax]"': "the Makefile's install, with the extras (every make target)",
}


def fenced_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.M | re.S)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built as `make docs` builds it, into a temporary folder."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.fail('MkDocs is not installed: pip install -e ".[docs]" (make install does)')
    out = tmp_path_factory.mktemp("site")
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    print(f"mkdocs build --strict: {time.monotonic() - start:.1f} s")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return out


def public_names() -> list[str]:
    """Every name the API reference must cover, dotted from `spl_tf`."""
    metrics = [name for name, value in vars(spl_tf.metrics).items()
               if inspect.isfunction(value) and value.__module__ == "spl_tf.metrics"
               and not name.startswith("_")]
    return ([f"spl_tf.{name}" for name in spl_tf.__all__]
            + [f"spl_tf.metrics.{name}" for name in metrics]
            + [f"spl_tf.layers.{name}" for name in spl_tf.layers.__all__])


def test_site_builds_with_warnings_as_errors(site: Path):
    assert (site / "index.html").is_file()
    assert (site / "api" / "losses" / "index.html").is_file()


def test_api_reference_covers_every_public_name(site: Path):
    names = public_names()
    assert {"spl_tf.SPL", "spl_tf.metrics.psnr", "spl_tf.metrics.ssim"} <= set(names)
    written = "\n".join(page.read_text() for page in (DOCS / "api").glob("*.md"))
    rendered = "\n".join(page.read_text() for page in (site / "api").rglob("*.html"))
    not_written = [name for name in names if not re.search(rf"^::: {re.escape(name)}$",
                                                           written, flags=re.M)]
    not_rendered = [name for name in names if f'id="{name}"' not in rendered]
    assert not_written == [] and not_rendered == []


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def test_every_spl_tf_name_written_exists():
    pages = [README, *DOCS.rglob("*.md")]
    written = {name for page in pages for name in
               re.findall(r"\bspl_tf(?:\.[A-Za-z_]\w*)+", page.read_text())}
    missing = []
    for name in sorted(written):
        value, parts = spl_tf, name.split(".")
        for at, part in enumerate(parts[1:], start=2):
            # A module that its package does not import itself (spl_tf.utils.errors).
            value = getattr(value, part, None) or _module(".".join(parts[:at]))
        if value is None:
            missing.append(name)
    assert missing == []


def test_readme_is_short_and_its_links_resolve():
    text = README.read_text()
    assert len(text.splitlines()) <= README_MAX_LINES
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [target.split("#")[0] for target in targets if "://" not in target]
    assert "docs/losses.md" in local
    assert [target for target in local if not (ROOT / target).exists()] == []


def test_readme_runs_only_commands_the_tests_run():
    text = README.read_text()
    commands = [line.split("#")[0].strip() for block in fenced_blocks(text, "bash")
                for line in block.splitlines()]
    commands = [command for command in commands if command]
    assert "make demo" in commands and "make test" in commands
    assert [command for command in commands if command not in README_COMMANDS] == []
    makefile = (ROOT / "Makefile").read_text()
    for command in commands:
        if command.startswith("make "):
            assert re.search(rf"^{command.split()[1]}:", makefile, flags=re.M), command
    install = re.search(r'pip install --quiet -e "\.\[([a-z,]+)\]"', makefile)
    assert install and "jax" in install[1].split(","), "the Makefile's install line"


def test_readme_python_runs(tmp_path):
    """The README's usage, as written: it trains a model with SPL and prints its PSNR."""
    (code,) = fenced_blocks(README.read_text(), "python")
    assert "loss=spl_tf.SPL()" in code
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    values = [float(v) for v in re.findall(r"[-\d.]+(?:e[-+]?\d+)?", result.stdout)]
    assert len(values) == 8 and all(0 < v < 100 for v in values), result.stdout
