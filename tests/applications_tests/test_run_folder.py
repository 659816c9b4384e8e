"""What a rerun of the train command does with a run folder missing pieces or damaged
(`applications.common.resume`, the README's table): it goes on from the newest good
state, or refuses in one line naming the two ways out; it never starts over the run."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

import spl_tf  # noqa: F401  (registers what the run's model needs)
import tiny_configs
from applications.common import callbacks, checkpoints, training
from applications.pix2pix.application import Pix2Pix
from command_utils import run_in_process
from pix2pix_data import write_pairs
from tiny_configs import pix2pix_flags

TRAIN = "applications.pix2pix.train"
STEPS = 2  # 8 training pairs, batch 4
WAYS_OUT = "give a new --model_dir, or --overwrite to discard that run"


def _files(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def _damage(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _weights(path: Path) -> list[np.ndarray]:
    return keras.models.load_model(path).get_weights()


def _steps(path: Path) -> int:
    return int(keras.models.load_model(path).optimizer.iterations)


def _epochs_logged(run: Path) -> list[int]:
    return [int(r["epoch"]) for r in callbacks.read_log(run / callbacks.LOG_FILE)]


def _refused(result, *expected: str) -> str:
    assert result.returncode == 2, result.stderr
    line = result.stderr.strip()
    assert line.startswith("error: ") and "\n" not in line, line
    for text in expected:
        assert text in line, line
    return line


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """Pairs data, and a run that finished 2 epochs."""
    root = tmp_path_factory.mktemp("finished")
    data = write_pairs(root / "data", {"train": 8, "test": 2})
    result = run_in_process(TRAIN, *pix2pix_flags(data, root / "run", epochs=2))
    assert result.returncode == 0, result.stderr
    return data, root / "run"


@pytest.fixture
def run(finished, tmp_path) -> Path:
    """A copy of the finished run, to change."""
    shutil.copytree(finished[1], tmp_path / "run")
    return tmp_path / "run"


def test_deleted_checkpoints_resume_exactly_from_the_final_model(finished, run, caplog):
    data, _ = finished
    shutil.rmtree(run / "checkpoints")
    log_before = (run / callbacks.LOG_FILE).read_bytes()
    weights = _weights(run / "model.keras")
    with caplog.at_level(logging.WARNING):
        again = run_in_process(TRAIN, *pix2pix_flags(data, run, epochs=2))
    assert again.returncode == 0, again.stderr
    notes = [r.getMessage() for r in caplog.records if "resuming from" in r.getMessage()]
    assert notes == [f"{run / 'checkpoints'}: no checkpoint of epoch 2; resuming from "
                     f"{run / 'model.keras'} (epoch 2, optimizer step 4)"]
    # Nothing was trained again: the log and the model are the run's.
    assert (run / callbacks.LOG_FILE).read_bytes() == log_before
    assert all(np.array_equal(a, b)
               for a, b in zip(_weights(run / "model.keras"), weights, strict=True))

    more = run_in_process(TRAIN, *pix2pix_flags(data, run, epochs=3))
    assert more.returncode == 0, more.stderr
    assert _epochs_logged(run) == [0, 1, 2]
    assert _steps(run / "model.keras") == 3 * STEPS
    assert checkpoints.Checkpoints(run / "checkpoints").epochs() == [3]


def test_a_final_model_behind_the_log_is_not_resumed_from(finished, run):
    data, _ = finished
    # Epochs 3 and 4 were trained and logged, but that run's final model was not written
    # (the log may run one epoch ahead of what finished: two are more than a kill leaves).
    rows = (run / callbacks.LOG_FILE).read_text().splitlines()
    more = [f"{epoch}{rows[-1][1:]}" for epoch in (2, 3)]
    (run / callbacks.LOG_FILE).write_text("\n".join([*rows, *more]) + "\n")
    shutil.rmtree(run / "checkpoints")
    before = _files(run)
    line = _refused(run_in_process(TRAIN, *pix2pix_flags(data, run, epochs=5)),
                    "3 finished epochs", "nothing to resume them from",
                    f"{run / 'model.keras'} holds step 4, epoch 2, behind the 4 epochs of "
                    "training_log.csv", WAYS_OUT)
    assert str(run) in line
    assert _files(run) == before  # refused: nothing changed


def test_damaged_checkpoints_are_set_aside_and_never_outrank_good_ones(finished, run, caplog):
    data, _ = finished
    _damage(run / "checkpoints" / "epoch_002.keras")
    (run / "checkpoints" / "epoch_009.keras").write_bytes(b"not a zip")  # newer, damaged
    with caplog.at_level(logging.WARNING):
        result = run_in_process(TRAIN, *pix2pix_flags(data, run, epochs=3))
    assert result.returncode == 0, result.stderr
    warned = [r.getMessage() for r in caplog.records if "moved to" in r.getMessage()]
    assert len(warned) == 1
    for epoch in (2, 9):
        assert f"epoch_{epoch:03d}.keras: not a readable .keras file" in warned[0]
        assert (run / "checkpoints" / "damaged" / f"epoch_{epoch:03d}.keras").is_file()
    # Resumed from model.keras (epoch 2), newer than the good epoch 1: epoch 3 trained.
    assert f"resuming from {run / 'model.keras'} (epoch 2, optimizer step 4) instead" in \
        warned[0]
    assert _epochs_logged(run) == [0, 1, 2] and _steps(run / "model.keras") == 3 * STEPS
    # The keep-newest-two count good checkpoints only: epoch 1 and the new epoch 3.
    assert checkpoints.Checkpoints(run / "checkpoints").epochs() == [3, 1]
    result = run_in_process(TRAIN, *pix2pix_flags(data, run, epochs=4))
    assert result.returncode == 0, result.stderr
    assert checkpoints.Checkpoints(run / "checkpoints").epochs() == [4, 3]


def test_every_checkpoint_damaged_and_no_final_model_is_refused_not_restarted(finished, run):
    data, _ = finished
    for path in (run / "checkpoints").iterdir():
        _damage(path)
    (run / "model.keras").unlink()
    shutil.rmtree(run / "export")
    before = _files(run)
    _refused(run_in_process(TRAIN, *pix2pix_flags(data, run, epochs=3)),
             "2 finished epochs", "nothing to resume them from",
             "epoch_002.keras: not a readable .keras file", WAYS_OUT)
    assert _files(run) == before

    fresh = run_in_process(TRAIN, *pix2pix_flags(data, run, 1, "--overwrite"))
    assert fresh.returncode == 0, fresh.stderr
    assert _epochs_logged(run) == [0] and not (run / "checkpoints" / "damaged").exists()
    assert checkpoints.Checkpoints(run / "checkpoints").epochs() == [1]


def test_a_run_without_config_json_is_refused_whatever_the_flags(finished, run):
    data, _ = finished
    (run / "config.json").unlink()
    before = _files(run)
    _refused(run_in_process(TRAIN, *pix2pix_flags(data, run, 3, "--ngf=4")),
             f"{run} holds a training run (checkpoints, model.keras, export, "
             "training_log.csv, samples) but no config.json", WAYS_OUT)
    assert _files(run) == before and not (run / "config.json").exists()


@pytest.mark.parametrize("change, expected", [
    (lambda record: record["config"]["training"].update(batch_size="4"),
     '--batch_size="4": expected an integer'),
    (lambda record: record["config"]["model"].update(ngf=2.5), "--ngf=2.5: expected an integer"),
    (lambda record: record["config"]["training"].update(epochs=True),
     "--epochs=true: expected an integer"),
    (lambda record: record["config"].update(model=[]), "section model is [], not a set"),
    (lambda record: record.update(config="?"), "not a run config this program wrote"),
])
def test_a_config_json_with_a_wrong_value_is_one_line_naming_it(finished, run, change,
                                                                 expected):
    data, _ = finished
    record = json.loads((run / "config.json").read_text())
    change(record)
    (run / "config.json").write_text(json.dumps(record))
    before = _files(run)
    _refused(run_in_process(TRAIN, *pix2pix_flags(data, run, epochs=3)),
             str(run / "config.json"), expected, "--overwrite")
    assert _files(run) == before


def test_a_damaged_training_log_keeps_its_readable_rows(finished, run, caplog):
    data, _ = finished
    log = run / callbacks.LOG_FILE
    damaged = log.read_text().replace("\n1,", "\n1,garbage,", 1)
    log.write_text(damaged)
    with caplog.at_level(logging.WARNING):
        result = run_in_process(TRAIN, *pix2pix_flags(data, run, epochs=3))
    assert result.returncode == 0, result.stderr
    warned = [r.getMessage() for r in caplog.records if str(log) in r.getMessage()]
    assert len(warned) == 1 and "line 3 is not a row of this log" in warned[0]
    assert (run / f"{callbacks.LOG_FILE}.damaged").read_text() == damaged
    # Row 0 kept, row 1's epoch was finished (checkpoint 2): its row is gone, row 2 new.
    assert _epochs_logged(run) == [0, 2]


def test_a_missing_training_log_is_resumed_with_a_warning(finished, run, caplog):
    data, _ = finished
    (run / callbacks.LOG_FILE).unlink()
    with caplog.at_level(logging.WARNING):
        result = run_in_process(TRAIN, *pix2pix_flags(data, run, epochs=3))
    assert result.returncode == 0, result.stderr
    assert any("is missing: the rows of epochs 1-2 are lost" in r.getMessage()
               for r in caplog.records)
    assert _epochs_logged(run) == [2]
    again = run_in_process(TRAIN, *pix2pix_flags(data, run, epochs=4))  # the new log reads back
    assert again.returncode == 0, again.stderr
    assert _epochs_logged(run) == [2, 3]


def test_settings_of_a_run_that_finished_no_epoch_may_change(finished, tmp_path):
    data, _ = finished
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(
        {"application": "pix2pix", "config": {"model": {"ngf": 8}}}))
    result = run_in_process(TRAIN, *pix2pix_flags(data, run, epochs=1))
    assert result.returncode == 0, result.stderr
    assert json.loads((run / "config.json").read_text())["config"]["model"]["ngf"] == 2


def test_overwrite_discards_the_run_and_only_the_run(finished, run):
    data, _ = finished
    (run / "notes.txt").write_text("mine")
    result = run_in_process(TRAIN, *pix2pix_flags(data, run, 1, "--ngf=4", "--overwrite"))
    assert result.returncode == 0, result.stderr
    assert (run / "notes.txt").read_text() == "mine"
    assert json.loads((run / "config.json").read_text())["config"]["model"]["ngf"] == 4
    assert _epochs_logged(run) == [0] and sorted(
        p.name for p in (run / "samples").iterdir()) == ["epoch_001.png"]


@pytest.mark.parametrize("args, expected", [
    (["--image_size=4"], "--image_size=4: must be a multiple of 4, at least 8"),
    (["--seed=4294967296"], "--seed=4294967296: must be in [0, 2**32 - 1]"),
    (["--data_dir=/nonexistent"], "/nonexistent/train: no such folder"),
    (["--batch_size=100"], "fewer than one batch (--batch_size=100)"),
    (["--strategy=tpu", "--tpu=local"], "--tpu=local: no TPU found there"),
])
def test_a_refused_command_creates_nothing(finished, tmp_path, args, expected):
    data, _ = finished
    run = tmp_path / "new" / "run"
    _refused(run_in_process(TRAIN, *pix2pix_flags(data, run, 1), *args), expected)
    assert not (tmp_path / "new").exists()


def test_the_smallest_and_largest_accepted_values_train(finished, tmp_path):
    data, _ = finished
    smallest = ["--image_size=8", "--batch_size=1", "--ngf=1", "--beta_1=0",
                "--lr_decay_rate=1e-30", "--learning_rate=1e-30", "--seed=0",
                "--steps_per_execution=1"]
    largest = ["--batch_size=8", "--beta_1=0.999999", "--lr_decay_rate=1",
               f"--seed={2**32 - 1}", "--steps_per_execution=1000"]
    for values in (smallest, largest):
        run = tmp_path / str(len(values))
        result = run_in_process(TRAIN, *pix2pix_flags(data, run, 1), *values)
        assert result.returncode == 0, (values, result.stderr)
        assert len(callbacks.read_log(run / callbacks.LOG_FILE)) == 1


def test_the_smallest_accepted_super_resolution_values_train(tmp_path):
    from div2k_data import write_div2k

    data = write_div2k(tmp_path / "div2k", degradation="unknown")
    run = tmp_path / "run"
    result = run_in_process("applications.srresnet.train", f"--data_dir={data}",
                            f"--model_dir={run}", "--lr_crop_size=4", "--val_images=0",
                            "--batch_size=1", "--num_blocks=1", "--filters=1", "--epochs=1",
                            "--jit_compile=false", "--verbose=0")
    assert result.returncode == 0, result.stderr
    assert len(callbacks.read_log(run / callbacks.LOG_FILE)) == 1


def test_float16_trains_with_loss_scaling_and_resumes(finished, tmp_path):
    data, _ = finished
    run = tmp_path / "run"

    def train(epochs: int) -> keras.Model:
        return training.train(Pix2Pix(), tiny_configs.pix2pix(
            data, epochs=epochs, image_size=16, ngf=2, mixed_precision="float16"), run)

    train(1)
    model = train(2)  # resumed from the checkpoint
    assert keras.mixed_precision.global_policy().name == "float32"  # as it was before
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.layers[1].compute_dtype == "float16"
    # Loss scaling skips the steps whose gradients overflowed: the step count is no
    # epoch count. The final model records its epochs, so it still resumes exactly.
    assert int(model.optimizer.iterations) < 2 * STEPS
    assert checkpoints.recorded_epochs(run / "model.keras") == 2
    shutil.rmtree(run / "checkpoints")
    train(3)
    losses = [float(r["loss"]) for r in callbacks.read_log(run / callbacks.LOG_FILE)]
    assert len(losses) == 3 and np.all(np.isfinite(losses))
