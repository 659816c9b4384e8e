"""The makeup application: model, loss, data, a tiny run end to end, transfer."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import keras
import numpy as np
import pytest

import tiny_configs
from applications.common import pairs, plots, prediction, training
from applications.makeup import data, transfer
from applications.makeup.application import MakeupTransfer
from applications.makeup.config import MakeupData
from applications.makeup.model import build_makeup_generator
from command_utils import run_in_process
from exif_data import write_oriented
from face_data import face_photo, no_face_photo, write_rgb
from fcc_dataset.pairs import make_pairs
from spl_tf import CPL, GPL, MakeupLoss
from spl_tf.utils.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
SIZE = 64
MAKEUP = MakeupTransfer()


def _cli(module, *args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def pair_dir(tmp_path_factory):
    """Aligned pairs made by fcc_dataset.pairs from astronaut-derived faces."""
    root = tmp_path_factory.mktemp("makeup")
    for i, (shift, scale) in enumerate([((0, 0), 1.0), ((8, -6), 0.9), ((-6, 8), 1.1)]):
        write_rgb(root / "no" / f"src{i}_256_cropped.jpg", face_photo(shift, scale))
    for i, colour in enumerate([(1.2, 0.8, 0.8), (0.8, 0.9, 1.2), (1.1, 1.0, 0.7)]):
        write_rgb(root / "any" / f"ref{i}_256_cropped.jpg",
                  face_photo((4 * i, -3 * i), 1.0 - 0.05 * i, colour))
    make_pairs(root / "no", root / "any", root / "pairs", pairs=2, image_size=SIZE)
    return root / "pairs"


def test_parameter_count_is_the_originals():
    model = build_makeup_generator(ngf=64)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 11_398_083
    assert model.input_shape == (None, None, None, 6) and model.output_shape[-1] == 3


def test_loss_is_gp_of_source_plus_cp_of_reference():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, 16, 16, 6)).astype("float32")
    output = rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    expected = (GPL(reduction=None)(x[..., :3], output)
                + CPL(reduction=None)(x[..., 3:], output))
    got = MakeupLoss(reduction=None)(x, output)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(MakeupLoss()(x, output), np.mean(expected), rtol=1e-6)
    with pytest.raises(ValueError, match=r"MakeupLoss expects y_true .*\(batch, height, width, "
                                         r"6\).*got 3 channels"):
        MakeupLoss()(x[..., :3], output)
    # The library's loss, saved with the model under the library's package.
    assert keras.saving.get_registered_name(MakeupLoss) == "spl_tf>MakeupLoss"
    assert isinstance(MAKEUP.loss(MAKEUP.train_config()), MakeupLoss)


def test_data_stacks_source_and_reference_with_one_flip(pair_dir):
    files, held_out = data.splits(MakeupData(data_dir=str(pair_dir), val_fraction=0.0))
    assert len(files) == 6 and held_out is None
    x, y = (t.numpy() for t in next(iter(pairs.pairs_dataset(files, 32, 6, data.MAKEUP,
                                                             training=False))))
    assert x.shape == (6, 32, 32, 6) and np.array_equal(x, y)
    image = cv2.imread(str(files[0]))[..., ::-1]
    source = cv2.resize(image[:, :SIZE], (32, 32), interpolation=cv2.INTER_AREA) / 127.5 - 1
    assert np.abs(x[0, ..., :3] - source).mean() < 0.02  # area resize (JPEG decoders differ)
    flips = 0
    for augmented, _ in pairs.pairs_dataset(files, 32, 2, data.MAKEUP, training=True).take(6):
        for example in augmented.numpy():
            same = [np.array_equal(example, e) for e in x]
            flipped = [np.array_equal(example, e[:, ::-1]) for e in x]
            assert any(same) or any(flipped)  # both halves flipped, or neither
            flips += any(flipped)
    assert 0 < flips < 12


def test_flat_folder_split_keeps_subjects_apart(tmp_path):
    folder = tmp_path / "pairs"
    names = [f"{vid}_{frame:05d}_256_cropped{ref}_00001_256_cropped"
             for vid in ("aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc", "ddddddddddd",
                         "eeeeeeeeeee", "fffffffffff")
             for frame in (1, 2) for ref in ("zzzzzzzzzzz",)]
    for name in names:
        write_rgb(folder / f"{name}.jpg", np.zeros((8, 16, 3), np.uint8))
    train_files, val_files = data.splits(MakeupData(data_dir=str(folder), val_fraction=0.5))
    assert train_files and val_files
    subjects = lambda fs: {data.subject(f.stem) for f in fs}  # noqa: E731
    assert not subjects(train_files) & subjects(val_files)
    assert data.subject(names[0]) == "aaaaaaaaaaa"
    with pytest.raises(InputError, match="missing: no such folder"):
        data.splits(MakeupData(data_dir=str(tmp_path / "missing"), val_fraction=0.1))
    with pytest.raises(InputError, match=r"--val_fraction=0.95: must be in \[0, 0.9\]"):
        MakeupData(data_dir=str(folder), val_fraction=0.95)
    with pytest.raises(InputError, match=r"--image_size=30: must be a multiple of 4"):
        MAKEUP.training_data(tiny_configs.makeup(folder, image_size=30))


@pytest.fixture(scope="module")
def trained(pair_dir, tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("run")
    config = tiny_configs.makeup(pair_dir, epochs=1, ngf=8, image_size=SIZE, batch_size=2,
                                 val_fraction=0.34)
    training.train(MAKEUP, config, model_dir)
    return model_dir


def test_tiny_training_run_writes_the_usual_outputs(trained):
    for name in ("config.json", "model.keras", "export/saved_model.pb", "training_log.csv"):
        assert (trained / name).exists(), name
    record = json.loads((trained / "config.json").read_text())
    assert record["application"] == "makeup"
    assert record["config"]["data"]["image_size"] == SIZE
    assert record["config"]["data"]["val_fraction"] == 0.34
    strip = cv2.imread(str(sorted((trained / "samples").glob("*.png"))[-1]))
    assert strip.shape[1] == 3 * SIZE + 2 * 4  # source | reference | output
    restored = keras.models.load_model(trained / "model.keras")
    assert isinstance(restored.loss, MakeupLoss)


def test_predict_writes_source_reference_output(trained, pair_dir, tmp_path):
    files = pairs.scan_split(pair_dir.parent, pair_dir.name)
    config = tiny_configs.predict(tiny_configs.MakeupPredictConfig, MakeupData(image_size=SIZE),
                                  checkpoint=trained / "model.keras", output_dir=tmp_path,
                                  input_dir=pair_dir, batch_size=2)
    written, result = prediction.predict(MAKEUP, config)
    assert written == tmp_path and result is None  # no ground truth, nothing scored
    for folder in ("input", "reference", "prediction"):
        assert len(list((tmp_path / folder).glob("*.png"))) == len(files), folder
    assert (tmp_path / "grid.png").exists() and not (tmp_path / "metrics.json").exists()

    # From the run folder: the run's image size (not the default 256) is the default,
    # RUN/predictions/images the default output.
    from_run = tiny_configs.predict(tiny_configs.MakeupPredictConfig, MakeupData(),
                                    model_dir=trained, input_dir=pair_dir, batch_size=2)
    from_run = prediction.with_run_settings(MAKEUP, from_run, given=set())
    assert from_run.data.image_size == SIZE
    written, _ = prediction.predict(MAKEUP, from_run)
    assert written == trained / "predictions" / "images"
    outputs = sorted((written / "prediction").glob("*.png"))
    assert len(outputs) == len(files) and cv2.imread(str(outputs[0])).shape == (SIZE, SIZE, 3)


def test_transfer_on_two_photos(trained, tmp_path):
    source = write_rgb(tmp_path / "source.png", face_photo(size=320))
    reference = write_rgb(tmp_path / "reference.jpg",
                          face_photo((10, -5), 0.9, (1.3, 0.8, 0.9), size=300))
    predictor = prediction.load_predictor(trained / "export")
    figure_path = transfer.run_files(predictor, source, reference,
                                     tmp_path / "out" / "result.png", SIZE)
    output = cv2.imread(str(tmp_path / "out" / "result.png"))
    assert output.shape == (SIZE, SIZE, 3)
    assert figure_path == tmp_path / "out" / "result_figure.png"
    assert _figure_shape(cv2.imread(str(figure_path))) == (1, 3)  # source | reference | result

    # The command's way: no --image_size, so the run's (the model is in a run folder).
    settings = transfer.TransferSettings(model=str(trained / "export"), source=str(source),
                                         reference=str(reference),
                                         output=str(tmp_path / "cmd" / "result.png"))
    message = transfer.run(settings)
    assert message == (f"wrote {tmp_path / 'cmd' / 'result.png'} and "
                       f"{tmp_path / 'cmd' / 'result_figure.png'}")
    assert cv2.imread(str(tmp_path / "cmd" / "result.png")).shape == (SIZE, SIZE, 3)


def test_transfer_on_photos_stored_turned_finds_the_faces_upright(trained, tmp_path):
    source, reference = face_photo(size=240), face_photo((6, -4), 0.9, (1.3, 0.8, 0.9))
    predictor = prediction.load_predictor(trained / "model.keras")
    results = {}
    for name, codes in (("upright", (1, 1)), ("turned", (6, 3))):  # sideways, upside down
        paths = [write_oriented(tmp_path / name / f"{role}.png", photo, code)
                 for role, photo, code in zip(("source", "reference"), (source, reference), codes)]
        results[name] = transfer.transfer(predictor, *(transfer.face(p, SIZE) for p in paths))
    for image in ("source", "reference", "result"):
        np.testing.assert_array_equal(getattr(results["turned"], image),
                                      getattr(results["upright"], image), image)


def _figure_shape(figure: np.ndarray) -> tuple[int, int]:
    """(rows, columns) of panels of a `plots.image_table` figure of SIZE-pixel images."""
    # Each panel is 1 inch (SIZE pixels < DPI), plus 0.3 inch for the titles.
    inch = plots.DPI
    rows, remainder = divmod(figure.shape[0] - round(0.3 * inch), inch)
    columns, remainder_w = divmod(figure.shape[1], inch)
    assert remainder == 0 and remainder_w == 0, figure.shape
    assert figure.std() > 0  # not blank
    return rows, columns


def test_transfer_on_folders_with_random_pairs(trained, tmp_path):
    for i in range(2):
        write_rgb(tmp_path / "sources" / f"s{i}.png", face_photo((3 * i, 0), 1.0, size=256))
        write_rgb(tmp_path / "refs" / f"r{i}.png", face_photo((0, 3 * i), 1.0, (1.2, 0.9, 0.9)))
    write_rgb(tmp_path / "refs" / "empty.png", no_face_photo())  # skipped with a warning
    predictor = prediction.load_predictor(trained / "model.keras")
    count = transfer.run_folders(predictor, tmp_path / "sources", tmp_path / "refs",
                                 tmp_path / "out", SIZE, pairs=3, seed=0)
    written = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert count == 3 and len(written) == 3
    assert all(name.split("_")[1][0] == "r" for name in written)
    figures = sorted((tmp_path / "out" / "figures").glob("*.png"))
    assert [f.name for f in figures] == written
    assert _figure_shape(cv2.imread(str(figures[0]))) == (1, 3)


def test_transfer_without_a_face_names_the_file(trained, tmp_path):
    source = write_rgb(tmp_path / "flag.png", no_face_photo())
    reference = write_rgb(tmp_path / "reference.png", face_photo())
    result = _cli("applications.makeup.transfer", f"--model={trained / 'model.keras'}",
                  f"--source={source}", f"--reference={reference}",
                  f"--output={tmp_path / 'result.png'}", f"--image_size={SIZE}")
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error:") and "flag.png: no face found" in last
    assert not (tmp_path / "result.png").exists()


def test_transfer_cli_refuses_unknown_flags_and_missing_settings(tmp_path):
    result = run_in_process("applications.makeup.transfer", f"--model={tmp_path}/m.keras",
                            "--ngf=8")
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(errors) == 1 and "Unknown command line flag 'ngf'" in errors[0], result.stderr
    with pytest.raises(InputError, match="--source is required"):
        transfer.TransferSettings(model=str(tmp_path / "m.keras"))
    with pytest.raises(InputError, match=r"--image_size=30: must be a multiple of 4"):
        transfer.TransferSettings(model="m", source="s", reference="r", output="o",
                                  image_size=30)
    with pytest.raises(InputError, match=r"--image_size=0: must be >= 1"):
        transfer.TransferSettings(model="m", source="s", reference="r", output="o",
                                  image_size=0)
