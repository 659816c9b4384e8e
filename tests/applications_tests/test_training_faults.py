"""Fault injection: a tiny training run killed (SIGKILL, from this process; once Ctrl-C,
SIGINT) at named instants spread over a whole run, inside every file it writes, and rerun.

One run folder goes through a chain of kills: each run is paused at the next point
(`spl_tf.utils.faults`), killed there, and checked; the next run resumes it and is
killed at a later point; a last run finishes, and one more is killed between the two
renames of the export swap. After every kill the folder must be
consistent, and in the end the run must be whole: the right epoch count, the
learning-rate schedule at the right step, one log row per epoch, every sample, a
loadable model and export. The chain runs with `--deterministic`, so its final weights
must also be bit for bit those of an uninterrupted run: every resume starts the input
stream where the last commit left it and the optimizer from its saved state. Then the
finished run loses pieces: a damaged checkpoint, both kept checkpoints damaged, and
`checkpoints/` deleted; each rerun must resume from the newest good state, whole.
"""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import keras
import numpy as np
import pytest

import spl_tf  # noqa: F401  (registers the layers and losses a run's model uses)
from applications.common import callbacks
from applications.common.checkpoints import Checkpoints, check_readable
from spl_tf.utils.faults import PAUSE_AT, PAUSE_FILE
from pix2pix_data import write_pairs

ROOT = Path(__file__).resolve().parents[2]
EPOCHS, STEPS, LR, DECAY = 3, 2, 2e-4, 0.96

# (fault point, epochs checkpointed when the process is stopped there, the signal).
# Counts are per process: each rerun resumes where the last stop left the run.
CHAIN = [
    ("write:config.json", 0, signal.SIGKILL),       # the first config.json, half written
    ("train:batch@1", 0, signal.SIGKILL),           # the first step
    ("write:epoch_001.png", 0, signal.SIGKILL),     # inside the first sample strip
    ("write:training_log.csv", 0, signal.SIGKILL),  # inside the first log
    ("write:epoch_001.keras", 0, signal.SIGKILL),   # the first checkpoint, not renamed
    ("epoch:committed", 1, signal.SIGKILL),         # just after epoch 1 is checkpointed
    ("train:batch@1", 1, signal.SIGINT),            # Ctrl-C in epoch 2's first step
    ("train:batch@2", 1, signal.SIGKILL),           # the last step of epoch 2
    ("write:epoch_002.keras", 1, signal.SIGKILL),   # epoch 2's checkpoint; then cut in half,
                                                    # as a kill while Keras writes it leaves it
    ("checkpoint:prune@2", 3, signal.SIGKILL),      # the last epoch committed, its
                                                    # checkpoint one too many (epoch 1's)
    ("write:model.keras", 3, signal.SIGKILL),       # inside the final model
    ("write:export", 3, signal.SIGKILL),            # the export, written but not swapped in
]


def _command(data: Path, run: Path) -> list[str]:
    return [sys.executable, "-m", "applications.pix2pix.train", f"--data_dir={data}",
            f"--model_dir={run}", "--batch_size=4", f"--epochs={EPOCHS}", "--image_size=16",
            "--ngf=4", "--num_blocks=1", "--jit_compile=false", "--verbose=0", "--deterministic", "--seed=3"]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONFAULTHANDLER": "1", **extra}


def _kill_at(point: str, command: list[str], marker: Path,
             stop: signal.Signals = signal.SIGKILL) -> str:
    """Run `command` until it pauses at `point`, send it `stop` (SIGKILL, or SIGINT as
    Ctrl-C does); the point it reached."""
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen(command, cwd=ROOT, env=_env(**{PAUSE_AT: point,
                                                          PAUSE_FILE: str(marker)}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=_as_in_a_terminal)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            if proc.poll() is not None:
                pytest.fail(f"{point}: the run ended before pausing there:\n"
                            f"{proc.stderr.read().decode()[-3000:]}")
            assert time.monotonic() < deadline, f"{point}: not reached in time"
            time.sleep(0.05)
        pid, reached = marker.read_text().split()
        assert int(pid) == proc.pid
        if stop == signal.SIGINT:  # Ctrl-C: one line, and the exit status of SIGINT
            proc.send_signal(stop)
            assert _exit_status(proc, point) == 130
            last = proc.stderr.read().decode().strip().splitlines()[-1]
            assert last == "interrupted: run the same command again to go on", last
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        proc.stderr.close()
    return reached


def _as_in_a_terminal() -> None:
    """Ctrl-C's default action, as a shell gives the command it runs in the foreground: a
    suite started in the background (`make test &`) ignores SIGINT, and its children
    inherit that, so Python would never raise KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _exit_status(proc: subprocess.Popen, point: str, timeout: float = 180) -> int:
    """The exit status of `proc`; if it has not ended within `timeout` (a hang, not
    slowness: it ends in seconds), fail with the Python stack of each of its threads."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # faulthandler (PYTHONFAULTHANDLER) prints stacks
        proc.wait(timeout=60)
        pytest.fail(f"{point}: still running {timeout:.0f} s after the signal:\n"
                    f"{proc.stderr.read().decode(errors='replace')[-6000:]}")


def _half_write_temporary_checkpoint(run: Path) -> None:
    """What a kill while Keras writes a checkpoint's temporary file leaves: half of it."""
    (temporary,) = (run / "checkpoints").glob(".*.tmp.keras")
    temporary.write_bytes(temporary.read_bytes()[: temporary.stat().st_size // 2])


def _check_consistent(run: Path, committed: int) -> None:
    """What any kill may leave: whole files, and nothing of an uncommitted epoch lost."""
    epochs = Checkpoints(run / "checkpoints").epochs()
    assert (epochs[0] if epochs else 0) == committed
    for epoch in epochs:
        check_readable(run / "checkpoints" / f"epoch_{epoch:03d}.keras")
    logged = [int(r["epoch"]) for r in callbacks.read_log(run / callbacks.LOG_FILE)]
    assert logged == list(range(len(logged))) and len(logged) >= committed
    for epoch in range(1, committed + 1):
        assert (run / "samples" / f"epoch_{epoch:03d}.png").is_file()


def _weights(run: Path) -> list[np.ndarray]:
    return [np.asarray(w) for w in keras.models.load_model(run / "model.keras").get_weights()]


def _check_whole(run: Path) -> None:
    rows = callbacks.read_log(run / callbacks.LOG_FILE)
    assert [int(r["epoch"]) for r in rows] == list(range(EPOCHS))
    # The staircase schedule after each epoch: had a resume restarted the optimizer's
    # step count, the rate logged after it would be off.
    expected = [LR * DECAY ** (epoch + 1) for epoch in range(EPOCHS)]
    np.testing.assert_allclose([float(r["learning_rate"]) for r in rows], expected, rtol=1e-6)
    assert all(np.isfinite(float(r["loss"])) for r in rows)
    for epoch in range(1, EPOCHS + 1):
        assert (run / "samples" / f"epoch_{epoch:03d}.png").stat().st_size > 0
    model = keras.models.load_model(run / "model.keras")
    assert int(model.optimizer.iterations) == EPOCHS * STEPS
    import tensorflow as tf

    exported = tf.saved_model.load(str(run / "export"))  # kept: it owns the variables
    assert tuple(exported.serve(tf.zeros((1, 16, 16, 3))).shape) == (1, 16, 16, 3)
    leftovers = [p for p in run.rglob(".*") if p.name != ".lock"]
    assert not leftovers, leftovers


@pytest.mark.slow  # a long end-to-end run: make test-slow
def test_killed_anywhere_a_rerun_finishes_the_run_whole(tmp_path):
    data = write_pairs(tmp_path / "data", {"train": 8})  # no val/: one step traced less
    uninterrupted = subprocess.run(_command(data, tmp_path / "uninterrupted"), cwd=ROOT,
                                   env=_env(), capture_output=True, text=True, timeout=600)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-3000:]
    expected = _weights(tmp_path / "uninterrupted")

    run, marker = tmp_path / "run", tmp_path / "paused"
    command = _command(data, run)
    survived = 0
    for point, committed, stop in CHAIN:
        reached = _kill_at(point, command, marker, stop)
        assert reached == point.split("@")[0]
        if point == "write:epoch_002.keras":
            _half_write_temporary_checkpoint(run)
        _check_consistent(run, committed)
        survived += 1
    final = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True,
                           timeout=600)
    assert final.returncode == 0, final.stderr[-3000:]
    _check_whole(run)
    assert Checkpoints(run / "checkpoints").epochs() == [EPOCHS, EPOCHS - 1]  # newest two
    assert survived == len(CHAIN) == 12
    assert all(np.array_equal(a, b) for a, b in zip(_weights(run), expected, strict=True))

    # Between the export swap's two renames: the old export moved aside, the new one not
    # yet in place. The rerun exports again and leaves one export, nothing beside it.
    assert _kill_at("export:swap", command, marker) == "export:swap"
    assert not (run / "export").exists() and (run / ".export.old").is_dir()
    _check_consistent(run, EPOCHS)
    final = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True,
                           timeout=600)
    assert final.returncode == 0, final.stderr[-3000:]
    _check_whole(run)

    # A checkpoint damaged on disk (and no final model): the rerun falls back to the one
    # before, says so in one line, redoes the epoch after it, and the run is whole again.
    newest = run / "checkpoints" / f"epoch_{EPOCHS:03d}.keras"
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])
    (run / "model.keras").unlink()
    rerun = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    warning = [line for line in rerun.stderr.splitlines() if "resuming from" in line]
    assert len(warning) == 1 and f"{newest}: not a readable .keras file" in warning[0]
    assert f"resuming from epoch_{EPOCHS - 1:03d}.keras instead" in warning[0]
    _check_whole(run)
    assert all(np.array_equal(a, b) for a, b in zip(_weights(run), expected, strict=True))

    # Both kept checkpoints damaged: set aside, never counted; the run resumes from its
    # final model, which holds the optimizer state of the last epoch.
    kept = Checkpoints(run / "checkpoints")
    for epoch in kept.epochs():
        path = kept.path(epoch)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    _rerun_resumes_from_the_final_model(command, run, expected)
    assert kept.epochs() == [] and len(list((run / "checkpoints" / "damaged").iterdir())) == 3

    # checkpoints/ deleted to save space: the same, not a run started over.
    shutil.rmtree(run / "checkpoints")
    _rerun_resumes_from_the_final_model(command, run, expected)


def _rerun_resumes_from_the_final_model(command: list[str], run: Path,
                                        expected: list[np.ndarray]) -> None:
    log = (run / callbacks.LOG_FILE).read_bytes()
    rerun = subprocess.run(command, cwd=ROOT, env=_env(), capture_output=True, text=True,
                           timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"resuming from {run / 'model.keras'} (epoch {EPOCHS}, optimizer step " \
           f"{EPOCHS * STEPS})" in rerun.stderr
    assert (run / callbacks.LOG_FILE).read_bytes() == log  # nothing trained again
    _check_whole(run)
    assert all(np.array_equal(a, b) for a, b in zip(_weights(run), expected, strict=True))
