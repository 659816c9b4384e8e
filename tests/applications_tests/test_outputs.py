"""Nothing the user owns is replaced: output names distinct for every set of inputs,
outputs never written over an input, an output folder claimed only once the inputs read,
and a killed prediction finished by its rerun."""

from __future__ import annotations

import hashlib
import os
import random
from pathlib import Path

import numpy as np
import pytest

from applications.common import checkpoints, resnet_generator
from applications.makeup.model import build_makeup_generator
from command_utils import run_in_process
from face_data import face_photo, write_rgb
from fcc_dataset import pairs
from spl_tf.utils import image_io

PREDICT = "applications.pix2pix.predict"
TRANSFER = "applications.makeup.transfer"


def _distinct(names: list[str], suffix: str = ".png") -> bool:
    """No two outputs `NAME + suffix` are one file, even where case does not count."""
    return len({(n + suffix).casefold() for n in names}) == len(names)


# --- names: a pure function of the names ---------------------------------------------


@pytest.mark.parametrize("names", [
    ["a.png", "a.jpg", "a.png.png"],           # same stem, and a name ending in ".png"
    ["a.png", "A.png", "a.PNG", "b.jpeg"],     # case only
    ["x.png", "x.png.png", "x.png.png.png"],   # names that are others' outputs
    ["a.png", "a.jpg", "a.png_69aba0d0.png"],  # a name that is another's hashed name
])
def test_output_names_are_distinct_for_adversarial_sets(names):
    result = image_io.output_names([Path("in", n) for n in names])
    assert _distinct(result)
    # A function of the set of names: the order they come in changes nothing.
    reordered = dict(zip(reversed(names), image_io.output_names(
        [Path("in", n) for n in reversed(names)])))
    assert [reordered[n] for n in names] == result


def test_plain_names_keep_their_stem_and_clashing_ones_their_whole_name():
    assert image_io.output_names([Path("a.png"), Path("b.jpg")]) == ["a", "b"]
    assert image_io.output_names([Path("a.png"), Path("a.jpg"), Path("b.png")]) == [
        "a.png", "a.jpg", "b"]


def test_output_names_of_random_sets_are_always_distinct():
    rng = random.Random(0)
    pieces = ["a", "A", "b", ".png", ".PNG", ".jpg", "_", "x"]
    for _ in range(2000):
        names = {"".join(rng.choices(pieces, k=rng.randint(1, 5))) + rng.choice(
            [".png", ".jpg", ".PNG"]) for _ in range(rng.randint(1, 8))}
        assert _distinct(image_io.output_names([Path(n) for n in sorted(names)])), names


@pytest.mark.parametrize("sources, references", [
    (["a_b.png", "a.png"], ["c.png", "b_c.png"]),  # a_b + c and a + b_c join alike
    (["A.png", "a.png"], ["c.png"]),               # case only
    (["s.png", "s.jpg"], ["r.png", "r.jpg"]),      # stems shared on both sides
])
def test_pair_names_are_distinct_for_every_pair(sources, references):
    combos = [(Path("s", s), Path("r", r)) for s in sources for r in references]
    assert _distinct(image_io.pair_names(combos))


def test_fcc_pair_names_that_clash_by_case_only_are_written_once(tmp_path, caplog):
    sources = [Path("S/A.png"), Path("S/a.png")]
    references = [Path("R/b.png"), Path("R/B.png")]
    planned = [t for t, _ in pairs._plan(sources, references, tmp_path, pairs=2, seed=0)]
    names = [o.name for t in planned for o in t.outputs]
    # The original's names run the stems together: all four pairs are one file where
    # case does not count. The first is written, the others skipped with a warning.
    assert len(names) == 1 and names[0].casefold() == "ab.jpg"
    assert sum("is taken by another pair" in r.getMessage() for r in caplog.records) == 3


# --- prediction ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """An untrained pix2pix generator (the outputs do not matter here, only the files)."""
    path = tmp_path_factory.mktemp("model") / "model.keras"
    checkpoints.save_model(resnet_generator.build_generator(2, num_blocks=1), path)
    return path


def _photos(folder: Path, names: list[str]) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(len(names))
    images = {n: rng.integers(0, 255, (16, 16, 3), np.uint8) for n in names}
    for name, image in images.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        ok, encoded = __import__("cv2").imencode(".png", image[..., ::-1])
        (folder / name).write_bytes(encoded.tobytes())  # PNG data whatever the suffix
    return images


def _predict(model: Path, images: Path, out: Path, *extra: str):
    return run_in_process(PREDICT, f"--checkpoint={model}", f"--input_dir={images}",
                          f"--output_dir={out}", "--image_size=16", *extra)


def test_predict_writes_one_output_per_source_whatever_the_names(model, tmp_path):
    names = ["a.png", "a.jpg", "a.png.png", "A.png"]
    images = _photos(tmp_path / "images", names)
    result = _predict(model, tmp_path / "images", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    written = sorted((tmp_path / "out" / "input").iterdir())
    assert len(written) == len(names) and _distinct([p.stem for p in written])
    # Each output comes from its own source.
    shown = sorted(image_io.read_rgb(p).tobytes() for p in written)
    assert shown == sorted(i.tobytes() for i in images.values())


@pytest.mark.parametrize("inputs_at", ["out/input", "out"])
def test_predict_never_writes_over_its_inputs_even_with_overwrite(model, tmp_path, inputs_at):
    _photos(tmp_path / "first", ["a.png"])
    assert _predict(model, tmp_path / "first", tmp_path / "out").returncode == 0
    images = tmp_path / inputs_at
    _photos(images, ["grid.png"] if inputs_at == "out" else [])
    before = {p: p.read_bytes() for p in images.iterdir() if p.is_file()}
    result = _predict(model, images, tmp_path / "out", "--overwrite")
    assert result.returncode == 2 and result.stderr.startswith("error: --input_dir=")
    assert "write the outputs elsewhere" in result.stderr or "give another output" in \
        result.stderr
    assert {p: p.read_bytes() for p in images.iterdir() if p.is_file()} == before


def test_a_failed_prediction_claims_no_folder(model, tmp_path):
    out = tmp_path / "out"
    result = _predict(model, tmp_path / "missing", out)
    assert result.returncode == 2 and "no such folder (--input_dir)" in result.stderr
    assert not out.exists()
    (tmp_path / "empty").mkdir()
    assert _predict(model, tmp_path / "empty", out).returncode == 2
    assert not out.exists()
    _photos(tmp_path / "images", ["a.png"])
    assert _predict(model, tmp_path / "images", out).returncode == 0


def test_the_rerun_of_a_killed_prediction_finishes_it_and_removes_its_temp_files(model,
                                                                                 tmp_path):
    _photos(tmp_path / "images", ["a.png", "b.png"])
    out = tmp_path / "out"
    assert _predict(model, tmp_path / "images", out).returncode == 0
    # What a kill in the middle leaves: half the outputs, a temporary file.
    (out / "prediction" / "b.png").unlink()
    (out / "grid.png").unlink()
    stale = out / "prediction" / ".b.png.x1y2.tmp"
    stale.write_bytes(b"half")
    assert _predict(model, tmp_path / "images", out).returncode == 0
    assert sorted(p.name for p in (out / "prediction").iterdir()) == ["a.png", "b.png"]
    assert (out / "grid.png").is_file() and not stale.exists()


# --- makeup transfer ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("faces")
    model = root / "model.keras"
    checkpoints.save_model(build_makeup_generator(2, num_blocks=1), model)
    write_rgb(root / "me.png", face_photo(size=200))
    write_rgb(root / "look.png", face_photo((8, 4), 1.1, (1.2, 0.9, 0.9)))
    return {"model": model, "me": root / "me.png", "look": root / "look.png", "root": root}


def _transfer(faces, source, reference, output, *extra: str):
    return run_in_process(TRANSFER, f"--model={faces['model']}", f"--source={source}",
                          f"--reference={reference}", f"--output={output}",
                          "--image_size=32", *extra)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("link", ["none", "symbolic", "hard"])
def test_transfer_never_writes_over_a_source_photo(faces, tmp_path, link):
    me = tmp_path / "me.png"
    me.write_bytes(faces["me"].read_bytes())
    output = {"none": me, "symbolic": tmp_path / "sym.png", "hard": tmp_path / "hard.png"}[link]
    if link == "symbolic":
        output.symlink_to(me)
    elif link == "hard":
        os.link(me, output)
    before = _digest(me)
    for extra in ([], ["--overwrite"]):
        result = _transfer(faces, me, faces["look"], output, *extra)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith(f"error: --source={me} is ")
        assert _digest(me) == before


def test_transfer_replaces_an_existing_result_only_with_overwrite(faces, tmp_path):
    result_path = tmp_path / "result.png"
    result_path.write_bytes(b"a file of the user's")
    refused = _transfer(faces, faces["me"], faces["look"], result_path)
    assert refused.returncode == 2 and "exists; give another --output, or --overwrite" in \
        refused.stderr
    assert result_path.read_bytes() == b"a file of the user's"
    assert _transfer(faces, faces["me"], faces["look"], result_path,
                     "--overwrite").returncode == 0
    assert image_io.read_rgb(result_path).shape == (32, 32, 3)


def test_transfer_folders_claim_their_output_and_keep_inputs_apart(faces, tmp_path):
    sources, references = tmp_path / "sources", tmp_path / "references"
    for folder, photo in ((sources, "me"), (references, "look")):
        folder.mkdir()
        (folder / f"{photo}.png").write_bytes(faces[photo].read_bytes())
    refused = _transfer(faces, sources, references, sources)
    assert refused.returncode == 2 and "write the outputs elsewhere" in refused.stderr
    assert sorted(p.name for p in sources.iterdir()) == ["me.png"]

    out = tmp_path / "out"
    assert _transfer(faces, sources, references, out).returncode == 0
    (out / "me_look.png").unlink()  # as a kill midway would leave it
    assert _transfer(faces, sources, references, out).returncode == 0  # finished
    assert (out / "me_look.png").is_file()
    other = _transfer(faces, sources, references, out, "--pairs=1", "--seed=3")
    assert other.returncode == 2 and "already holds results of" in other.stderr


@pytest.mark.parametrize("args, expected", [
    (["--image_size=8"], "degenerate triangles; no piecewise-affine warp; try a larger "
                         "--image_size"),
    (["--seed=-1"], "--seed=-1: must be in [0, 2**32 - 1]"),
    (["--image_size=30"], "--image_size=30: must be a multiple of 4"),
])
def test_transfer_settings_that_cannot_work_are_one_line_and_write_nothing(faces, tmp_path,
                                                                           args, expected):
    output = tmp_path / "out" / "result.png"
    result = run_in_process(TRANSFER, f"--model={faces['model']}", f"--source={faces['me']}",
                            f"--reference={faces['look']}", f"--output={output}", *args)
    assert result.returncode == 2 and expected in result.stderr
    assert result.stderr.count("\n") == 1 and not (tmp_path / "out").exists()
