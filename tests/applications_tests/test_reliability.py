"""Training and prediction lose nothing: locks, bad files, NaN, overwrites, modes,
determinism (the kill-anywhere suite is test_training_faults.py)."""

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tiny_configs
from applications.common import augment, callbacks, prediction, training
from applications.common.checkpoints import Checkpoints
from applications.pix2pix.application import Pix2Pix
from exif_data import write_oriented
from spl_tf.utils import image_io
from spl_tf.utils.errors import InputError
from spl_tf.utils.faults import PAUSE_AT, PAUSE_FILE
from pix2pix_data import write_pairs

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _train_args(data: Path, run: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "applications.pix2pix.train", f"--data_dir={data}",
            f"--model_dir={run}", "--batch_size=4", "--image_size=16", "--ngf=4", "--num_blocks=1",
            "--jit_compile=false", "--verbose=0", *extra]


# --- the run folder --------------------------------------------------------------------


def test_a_second_trainer_on_a_running_run_is_refused_naming_the_first(tmp_path):
    data = write_pairs(tmp_path / "data")
    run, marker = tmp_path / "run", tmp_path / "paused"
    first = subprocess.Popen(_train_args(data, run, "--epochs=1"), cwd=ROOT,
                             env={**ENV, PAUSE_AT: "train:batch", PAUSE_FILE: str(marker)},
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        with pytest.raises(InputError, match=rf"--model_dir={run}: another training run "
                                             rf"\(pid {first.pid}\) is writing there"):
            training.train(Pix2Pix(), tiny_configs.pix2pix(data, image_size=16), run)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    # The kernel dropped the killed process's lock: the run goes on.
    training.train(Pix2Pix(), tiny_configs.pix2pix(data, image_size=16), run)
    assert (run / "model.keras").is_file()


def test_a_model_dir_that_cannot_be_a_folder_is_one_clear_error(tmp_path):
    data = write_pairs(tmp_path / "data")
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(InputError, match="exists and is not a folder"):
        training.train(Pix2Pix(), tiny_configs.pix2pix(data), blocker)
    with pytest.raises(InputError, match=rf"--model_dir={blocker}/run: cannot write there"):
        training.train(Pix2Pix(), tiny_configs.pix2pix(data), blocker / "run")


class _DivergesAfterOneEpoch(Pix2Pix):
    """Pix2pix whose inputs turn to NaN one epoch after the run (re)starts."""

    def training_data(self, config):
        data = super().training_data(config)
        stream = data.train

        def poisoned_after_an_epoch(first_batch):
            batches = stream(first_batch)
            poisoned = batches.map(lambda x, y: (x * float("nan"), y))
            return batches.take(data.steps_per_epoch).concatenate(poisoned)

        data.train = poisoned_after_an_epoch
        return data


def test_a_nan_loss_stops_training_and_keeps_the_last_good_state(tmp_path):
    data = write_pairs(tmp_path / "data")
    run = tmp_path / "run"
    training.train(Pix2Pix(), tiny_configs.pix2pix(data, epochs=1), run)
    kept = {p: p.read_bytes() for p in (run / "model.keras", run / "export" / "saved_model.pb")}

    with pytest.raises(training.DivergedError,
                       match=r"the loss became nan in epoch 3, step 1.*last checkpoint is "
                             r"epoch 2"):
        training.train(_DivergesAfterOneEpoch(), tiny_configs.pix2pix(data, epochs=4), run)
    # Epoch 2 (the take()) was fine; epoch 3 diverged and wrote nothing.
    assert Checkpoints(run / "checkpoints").epochs() == [2, 1]
    assert [r["epoch"] for r in callbacks.read_log(run / "training_log.csv")] == ["0", "1"]
    assert not (run / "samples" / "epoch_003.png").exists()
    assert all(path.read_bytes() == data for path, data in kept.items())


# --- bad files ------------------------------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_a_truncated_jpeg_in_train_or_val_is_skipped_with_a_warning(tmp_path, caplog):
    data = write_pairs(tmp_path / "data", {"train": 9, "val": 3, "test": 3})
    bad = [data / "train" / "train_02.jpg", data / "val" / "val_02.jpg"]
    for path in bad:
        _truncate(path)
        assert image_io.read_rgb(path) is None  # the pipeline's own decoder refuses it
    run = tmp_path / "run"
    with caplog.at_level(logging.WARNING):
        training.train(Pix2Pix(), tiny_configs.pix2pix(data, epochs=1), run)
    for path in bad:
        assert any(f"skipping {path}: unreadable" in r.getMessage() for r in caplog.records)
    assert len(callbacks.read_log(run / "training_log.csv")) == 1

    _truncate(data / "test" / "test_02.jpg")
    out = tmp_path / "pred"
    config = tiny_configs.predict(tiny_configs.Pix2PixPredictConfig,
                                  tiny_configs.pix2pix(data).data,
                                  checkpoint=run / "model.keras", output_dir=out)
    prediction.predict(Pix2Pix(), config)
    assert sorted(p.name for p in (out / "prediction").iterdir()) == [
        "test_00.png", "test_01.png"]


# --- prediction never overwrites ----------------------------------------------------------


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    """Pairs data, and a run's checkpoint after epoch 1 and its model after epoch 2."""
    root = tmp_path_factory.mktemp("ckpts")
    data = write_pairs(root / "data")
    training.train(Pix2Pix(), tiny_configs.pix2pix(data, epochs=2), root / "run")
    return data, root / "run" / "checkpoints" / "epoch_001.keras", root / "run" / "model.keras"


def test_a_truncated_keras_file_is_named_as_damaged_not_missing(two_checkpoints, tmp_path):
    damaged = tmp_path / "model.keras"
    damaged.write_bytes(two_checkpoints[2].read_bytes())
    _truncate(damaged)
    with pytest.raises(InputError, match=rf"{damaged}: not a readable .keras file"):
        prediction.load_predictor(damaged)


def _predict_folder(checkpoint: Path, images: Path, out: Path, **options):
    config = tiny_configs.predict(tiny_configs.Pix2PixPredictConfig,
                                  tiny_configs.pix2pix(None).data, checkpoint=checkpoint,
                                  output_dir=out, input_dir=images, **options)
    return prediction.predict(Pix2Pix(), config)


def test_sources_sharing_a_stem_keep_distinct_outputs(two_checkpoints, tmp_path):
    _, checkpoint, _ = two_checkpoints
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name in ("a.png", "a.jpg", "b.png"):
        image_io.write_rgb(images / name, rng.integers(0, 255, (16, 16, 3), np.uint8))
    out = tmp_path / "out"
    _predict_folder(checkpoint, images, out)
    for folder in ("input", "prediction"):
        assert sorted(p.name for p in (out / folder).iterdir()) == [
            "a.jpg.png", "a.png.png", "b.png"]
    assert ((out / "input" / "a.jpg.png").read_bytes()
            != (out / "input" / "a.png.png").read_bytes())


def test_a_photo_stored_turned_is_predicted_upright(two_checkpoints, tmp_path):
    _, checkpoint, _ = two_checkpoints
    picture = np.random.default_rng(0).integers(0, 255, (24, 40, 3), np.uint8)
    images = tmp_path / "images"
    image_io.write_rgb(images / "upright.png", picture)
    write_oriented(images / "turned.png", picture, 8)  # 24 wide, 40 high on disk
    out = tmp_path / "out"
    _predict_folder(checkpoint, images, out)
    for folder in ("input", "prediction"):
        upright, turned = (image_io.read_rgb(out / folder / name)
                           for name in ("upright.png", "turned.png"))
        np.testing.assert_array_equal(turned, upright)


def test_predictions_of_another_checkpoint_are_not_mixed_in(two_checkpoints, tmp_path):
    data, first, second = two_checkpoints
    out = tmp_path / "out"
    _predict_folder(first, data / "test", out)
    before = (out / "prediction" / "test_00.png").read_bytes()
    _predict_folder(first, data / "test", out)  # the same predictions again: fine
    with pytest.raises(InputError, match=rf"--output_dir={out} already holds predictions of "
                                         rf"{first}.*--overwrite to replace them"):
        _predict_folder(second, data / "test", out)
    assert (out / "prediction" / "test_00.png").read_bytes() == before
    _predict_folder(second, data / "test", out, overwrite=True)
    assert (out / "prediction" / "test_00.png").read_bytes() != before

    foreign = tmp_path / "foreign"
    (foreign / "prediction").mkdir(parents=True)
    with pytest.raises(InputError, match="files this command did not write"):
        _predict_folder(first, data / "test", foreign)


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_written_files_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        image_io.write_rgb(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8))
    finally:
        os.umask(old)
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == 0o666 & ~umask


# --- determinism ---------------------------------------------------------------------------
# Bit-identical weights under --deterministic, through kills and resumes: the chain of
# tests/applications_tests/test_training_faults.py ends equal to an uninterrupted run.


def test_the_training_stream_starts_anywhere_without_reading_what_comes_before(tmp_path):
    items = [str(tmp_path / f"missing_{i}.png") for i in range(5)]  # never opened
    whole = [(item.decode(), tuple(s)) for item, s in
             augment.shuffled_forever(items, seed=7).take(12).as_numpy_iterator()]
    later = [(item.decode(), tuple(s)) for item, s in
             augment.shuffled_forever(items, seed=7, start=8).take(4).as_numpy_iterator()]
    assert later == whole[8:]
    assert sorted(item for item, _ in whole[5:10]) == sorted(items)  # each epoch: all once
    assert [item for item, _ in whole[:5]] != [item for item, _ in whole[5:10]]
