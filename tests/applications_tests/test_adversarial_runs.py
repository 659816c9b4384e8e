"""Adversarial runs of the pix2pix train command, each in processes of its own: killed and
rerun under `--deterministic`, equal to an uninterrupted run; data parallel on two
simulated JAX devices, equal to one device; MirroredStrategy with bfloat16; and the
original's full-size generator, the model such a run leaves, loaded in a fresh process
with `import spl_tf` alone."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

import spl_tf  # noqa: F401  (registers what the runs' models need)
from applications.common import adversarial, callbacks, runtime  # noqa: F401  (registers it)
from applications.common.config import TrainingConfig
from backend_utils import jax_env
from pix2pix_data import write_pairs
from spl_tf.utils.faults import PAUSE_AT, PAUSE_FILE

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 3  # 8 training pairs, batch 4: 2 steps an epoch


def _command(data: Path, run: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "applications.pix2pix.train", f"--data_dir={data}",
            f"--model_dir={run}", "--batch_size=4", f"--epochs={EPOCHS}", "--image_size=32",
            "--ngf=4", "--num_blocks=1", "--ndf=4", "--verbose=0", *extra]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _kill_at(point: str, command: list[str], marker: Path) -> None:
    """Run `command` until it pauses at `point`, then SIGKILL it."""
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen(command, cwd=ROOT, env=_env(**{PAUSE_AT: point,
                                                          PAUSE_FILE: str(marker)}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"{point}: the run ended before pausing there:\n"
                            f"{proc.stderr.read().decode()[-3000:]}")
            assert time.monotonic() < deadline, f"{point}: not reached in time"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stderr.close()


def _state(run: Path) -> list[np.ndarray]:
    """Both networks' weights and both optimizers' state at the run's last checkpoint."""
    path = run / "checkpoints" / f"epoch_{EPOCHS:03d}.keras"
    model = keras.models.load_model(path)
    # The run's optimizers (its schedule: no learning-rate variable), to load their state.
    model.compile(*(runtime.optimizer(TrainingConfig(), 2) for _ in range(2)), spl_tf.SPL())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras only warns when state does not fit
        model.load_weights(path)
    assert int(model.optimizer.iterations) == int(model.discriminator_optimizer.iterations) \
        == 2 * EPOCHS
    return [np.asarray(v) for v in (*model.weights, *model.optimizer.variables,
                                    *model.discriminator_optimizer.variables)]


def _losses(run: Path) -> list[dict[str, str]]:
    return callbacks.read_log(run / callbacks.LOG_FILE)


def test_killed_and_rerun_equals_uninterrupted_under_deterministic(tmp_path):
    data = write_pairs(tmp_path / "data", {"train": 8})
    flags = ("--adversarial=multiscale", "--gan_mode=hinge", "--deterministic",
             "--jit_compile=false", "--seed=3")
    _run(_command(data, tmp_path / "uninterrupted", *flags), _env())
    expected = _state(tmp_path / "uninterrupted")
    assert len(expected) > 40

    run, marker = tmp_path / "run", tmp_path / "paused"
    command = _command(data, run, *flags)
    _kill_at("train:batch@3", command, marker)  # epoch 2's first step, epoch 1 committed
    _kill_at("write:epoch_002.keras", command, marker)  # inside epoch 2's checkpoint
    _run(command, _env())
    assert [int(r["epoch"]) for r in _losses(run)] == list(range(EPOCHS))
    assert _losses(run) == _losses(tmp_path / "uninterrupted")
    for a, b in zip(_state(run), expected, strict=True):
        np.testing.assert_array_equal(a, b)


def test_data_parallel_on_two_devices_equals_one_device(tmp_path):
    data = write_pairs(tmp_path / "data", {"train": 8})
    flags = ("--adversarial=patchgan", "--epochs=1")  # batch norm over the whole batch
    _run(_command(data, tmp_path / "one", *flags), jax_env(legacy_emitters=True))
    two = _run(_command(data, tmp_path / "two", "--strategy=data_parallel", *flags),
               jax_env("--xla_force_host_platform_device_count=2", legacy_emitters=True))
    assert "data parallel over 2 devices in 1 processes" in two.stderr
    (one_row,), (two_row,) = _losses(tmp_path / "one"), _losses(tmp_path / "two")
    assert set(one_row) == set(two_row) and "discriminator_loss" in one_row
    for name in one_row:
        np.testing.assert_allclose(float(two_row[name]), float(one_row[name]), rtol=1e-5,
                                   atol=1e-6, err_msg=name)


MIRRORED_BFLOAT16 = """
import dataclasses, sys
from pathlib import Path
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import tiny_configs
from applications.common import training
from applications.common.config import ObjectiveConfig
from applications.pix2pix.application import Pix2Pix
root, run = Path(sys.argv[1]), Path(sys.argv[2])
config = tiny_configs.pix2pix(root, jit_compile="auto", strategy="mirrored",
                              mixed_precision="bfloat16")
config = dataclasses.replace(config, objective=ObjectiveConfig(adversarial="patchgan", ndf=4))
model = training.train(Pix2Pix(), config, run)
print("replicas", model.distribute_strategy.num_replicas_in_sync)
print("dtypes", model.discriminator.layers[2].compute_dtype, model.discriminator.outputs[-1].dtype)
"""


@pytest.mark.slow  # a long end-to-end run: make test-slow
def test_mirrored_strategy_and_bfloat16(tmp_path):
    data = write_pairs(tmp_path / "data", {"train": 8})
    result = subprocess.run([sys.executable, "-c", MIRRORED_BFLOAT16, str(data),
                             str(tmp_path / "run")], cwd=ROOT / "tests", env=_env(),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2" in result.stdout and "dtypes bfloat16 float32" in result.stdout
    (row,) = _losses(tmp_path / "run")
    assert all(np.isfinite(float(v)) for v in row.values())


FRESH_LOAD = """
import sys
import spl_tf, keras
model = keras.models.load_model(sys.argv[1])
print(type(model).__name__, sum(int(w.numpy().size) for w in model.trainable_weights))
"""


def test_the_model_of_an_adversarial_run_is_the_original_generator(tmp_path):
    """pix2pix's baseline as its flags give it, one step: the run leaves the original's
    ResNet-9 (11,388,675 trainable parameters), which loads with `import spl_tf`."""
    data = write_pairs(tmp_path / "data", {"train": 4, "test": 1})
    run = tmp_path / "run"
    _run([sys.executable, "-m", "applications.pix2pix.train", f"--data_dir={data}",
          f"--model_dir={run}", "--batch_size=4", "--epochs=1", "--image_size=32",
          "--loss=l1", "--loss_weight=100", "--adversarial=patchgan", "--beta_1=0.5",
          "--jit_compile=false", "--verbose=0"], _env())
    loaded = subprocess.run([sys.executable, "-c", FRESH_LOAD, str(run / "model.keras")],
                            cwd=tmp_path, env=_env(), capture_output=True, text=True,
                            timeout=300)
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert loaded.stdout.split() == ["Functional", "11388675"]
    predicted = subprocess.run([sys.executable, "-m", "applications.pix2pix.predict",
                                f"--model_dir={run}", "--batch_size=1"], cwd=ROOT,
                               env=_env(), capture_output=True, text=True, timeout=300)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert (run / "predictions" / "test" / "metrics.json").is_file()
