"""Data parallel training on JAX: two simulated devices, then two processes on
localhost (CPU collectives over gloo), each against a single-device run of the same
global batch and seed; then one of the two processes killed and both rerun."""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from applications.common import callbacks, runtime, training
from backend_utils import jax_env
from spl_tf.utils.faults import PAUSE_AT, PAUSE_FILE
from pix2pix_data import write_pairs

ROOT = Path(__file__).resolve().parents[2]
# Every run here is compared only with the others, all under the same flags.
JAX = jax_env(legacy_emitters=True)


def _command(data: Path, run: Path, *extra: str) -> list[str]:
    # Two steps per epoch (8 images, batch 4).
    return [sys.executable, "-m", "applications.pix2pix.train", f"--data_dir={data}",
            f"--model_dir={run}", "--batch_size=4", "--epochs=2", "--image_size=16",
            "--ngf=4", "--num_blocks=1", "--verbose=0", *extra]


def _losses(run: Path) -> list[float]:
    return [float(r["loss"]) for r in callbacks.read_log(run / callbacks.LOG_FILE)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cluster(data: Path, run: Path, env_of=lambda i: {}) -> list[subprocess.Popen]:
    """The two processes of a localhost run, started; their stderr in RUN.i.log."""
    port = _free_port()
    processes = []
    for i in range(2):
        with open(f"{run}.{i}.log", "w") as log:  # a file: a full pipe would block them
            processes.append(subprocess.Popen(
                _command(data, run, "--strategy=data_parallel",
                         f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
                         f"--process_id={i}"),
                cwd=ROOT, env={**JAX, **env_of(i)}, stdout=subprocess.DEVNULL, stderr=log))
    return processes


def _finish(processes: list[subprocess.Popen], run: Path) -> None:
    try:
        for i, proc in enumerate(processes):
            proc.wait(timeout=400)
            assert proc.returncode == 0, Path(f"{run}.{i}.log").read_text()[-3000:]
    finally:
        for proc in processes:
            proc.kill()


@pytest.mark.slow  # a long end-to-end run: make test-slow
def test_data_parallel_matches_one_device_and_resumes_across_processes(tmp_path):
    # 5 validation images: batches of 4 and 1, and a batch of 1 cannot be split over
    # 2 devices (the data-parallel runs validate on the whole batch only).
    data = write_pairs(tmp_path / "data", {"train": 8, "val": 5})
    single = subprocess.run(_command(data, tmp_path / "single"), cwd=ROOT, env=JAX,
                            capture_output=True, text=True, timeout=400)
    assert single.returncode == 0, single.stderr[-3000:]
    expected = _losses(tmp_path / "single")
    assert len(expected) == 2

    # (a) Two simulated devices in one process: the same losses after 4 steps.
    two = subprocess.run(_command(data, tmp_path / "devices", "--strategy=data_parallel"),
                         cwd=ROOT, capture_output=True, text=True, timeout=400,
                         env=jax_env("--xla_force_host_platform_device_count=2",
                                     legacy_emitters=True))
    assert two.returncode == 0, two.stderr[-3000:]
    assert "data parallel over 2 devices in 1 processes" in two.stderr
    assert "validating on whole batches of 4 only (split over 2 devices)" in two.stderr
    np.testing.assert_allclose(_losses(tmp_path / "devices"), expected, rtol=1e-5)

    # (b) Two processes, each reading its shard of the batches, only process 0 writing:
    # the same loss after epoch 1 (2 steps). Process 0 then pauses, just after epoch 1
    # is checkpointed; process 1 is killed, and the stranded process 0 too.
    run, marker = tmp_path / "processes", tmp_path / "paused"
    processes = _cluster(data, run, lambda i: {PAUSE_AT: "epoch:committed",
                                               PAUSE_FILE: str(marker)} if i == 0 else {})
    try:
        deadline = time.monotonic() + 400
        while not marker.exists():
            alive = all(p.poll() is None for p in processes)
            assert alive, Path(f"{run}.0.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "epoch 1 was not checkpointed in time"
            time.sleep(0.05)
        processes[1].send_signal(signal.SIGKILL)
        processes[1].wait(timeout=60)
    finally:
        for proc in processes:
            proc.kill()
            proc.wait(timeout=60)
    assert "data parallel over 2 devices in 2 processes" in Path(f"{run}.0.log").read_text()
    np.testing.assert_allclose(_losses(run), expected[:1], rtol=1e-5)

    # Both rerun: they resume from epoch 1 and finish the run as one device would have:
    # the second epoch's loss is the uninterrupted single-device run's.
    _finish(_cluster(data, run), run)
    np.testing.assert_allclose(_losses(run), expected, rtol=1e-5)
    assert (run / "model.keras").is_file() and (run / "export" / "saved_model.pb").is_file()
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "epoch_001.png", "epoch_002.png"]


def test_validation_that_cannot_be_split_over_the_devices(monkeypatch, caplog):
    import tensorflow as tf

    monkeypatch.setattr(runtime, "data_parallel_devices", lambda: 2)
    images = tf.data.Dataset.from_tensor_slices(np.zeros((5, 4, 4, 3), "float32"))
    pairs = tf.data.Dataset.zip((images, images)).batch(2)  # batches of 2, 2, 1
    whole = training._whole_batches(pairs, batch_size=2)
    assert [int(x.shape[0]) for x, _ in whole] == [2, 2]

    assert training._whole_batches(pairs, batch_size=8) is None  # not one batch
    assert "fewer validation images than one batch of 8" in caplog.text

    sizes = tf.data.Dataset.from_generator(  # whole images of different sizes, as SR's
        lambda: (np.zeros((1, 4 + i, 4, 3), "float32") for i in range(3)),
        output_signature=tf.TensorSpec((1, None, None, 3), tf.float32))
    assert training._whole_batches(tf.data.Dataset.zip((sizes, sizes)), batch_size=2) is None
    assert "images of different sizes cannot be split over 2 devices" in caplog.text
    monkeypatch.setattr(runtime, "data_parallel_devices", lambda: 1)
    assert training._whole_batches(pairs, batch_size=8) is pairs
