"""A full disk at every named write of every command (`write_points`): one `error:` line
naming the file, what was committed before it kept byte for byte, no temporary file
left, and a rerun that goes on from there.

The disk fills through an injected ENOSPC (`SPL_FAIL_AT`, see `spl_tf.utils.faults`),
raised where the write it stands in for would raise it; the state the failing write
must leave is recorded at that instant (`faults.before_failure`). The commands run in
this process (`command_utils.run_in_process`) but for fcc_dataset.pairs' workers.
test_small_disk.py fills a real file system.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import write_points
from applications.common import callbacks, checkpoints
from applications.makeup.model import build_makeup_generator
from command_utils import run_in_process
from face_data import face_photo, write_rgb
from fcc_dataset import sample
from spl_tf.utils import faults
from pix2pix_data import write_pairs
from tiny_configs import pix2pix_flags

TRAIN = "applications.pix2pix.train"
PREDICT = "applications.pix2pix.predict"
TRANSFER = "applications.makeup.transfer"


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under `folder` (but the lock, which names its holder) -> hash of its bytes."""
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != ".lock"}


def temporary(names) -> list[str]:
    """The names of temporary files (`.NAME.XXXX.tmp`, `.NAME.tmp.keras`, `.export.tmp/`,
    an FCC build's `.work/` folder)."""
    return [n for n in names if any(part.startswith(".") and (".tmp" in part or part == ".work")
                                    for part in Path(n).parts)]


@contextlib.contextmanager
def disk_full_at(spec: str, folder: Path) -> Iterator[list[dict[str, str]]]:
    """The block's commands fail at the write point `spec` as a full disk would; yields a
    list that receives the snapshot of `folder` taken just before."""
    taken: list[dict[str, str]] = []
    hook = lambda name: taken.append(snapshot(folder))  # noqa: E731
    faults.before_failure.append(hook)
    os.environ[faults.FAIL_AT] = spec
    faults.reset()
    try:
        yield taken
    finally:
        del os.environ[faults.FAIL_AT]
        faults.before_failure.remove(hook)
        faults.reset()


def check_failed_cleanly(result, folder: Path, at_failure: list[dict[str, str]],
                         path_named: Path | str) -> None:
    """One `error:` line naming the file and the full disk; the folder as it was just
    before the failing write, with no temporary file."""
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()  # (progress bars aside)
    assert [line for line in lines if line.startswith("error: ")] == lines[-1:]
    assert "Traceback" not in result.stderr and str(path_named) in lines[-1]
    assert "No space left on device" in result.stderr and "free some space" in result.stderr
    assert len(at_failure) == 1, "the write point was not reached"
    before = {n: h for n, h in at_failure[0].items() if not temporary([n])}
    after = snapshot(folder)
    assert not temporary(after), temporary(after)
    assert after == before


# --- training -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_epoch(tmp_path_factory) -> tuple[Path, Path]:
    """Pairs data, and a run folder that finished 1 epoch."""
    root = tmp_path_factory.mktemp("one_epoch")
    data = write_pairs(root / "data", {"train": 8, "test": 2})
    result = run_in_process(TRAIN, *pix2pix_flags(data, root / "run", epochs=1))
    assert result.returncode == 0, result.stderr
    return data, root / "run"


def _where(spec: str, run: Path) -> Path:
    """The path a training write point's error must name."""
    name = spec.split(":")[1].split("@")[0]
    if name.endswith(".keras") and name.startswith("epoch"):
        return run / "checkpoints" / name
    return run / ("samples" if name.endswith(".png") else "") / name


@pytest.mark.parametrize("label, spec", write_points.TRAIN)
def test_a_full_disk_at_any_training_write_costs_nothing_committed(one_epoch, tmp_path, label,
                                                                   spec, caplog):
    data, finished = one_epoch
    run = tmp_path / "run"
    if spec != "write:.lock":
        shutil.copytree(finished, run)  # else a new run: the lock is its first write
    command = pix2pix_flags(data, run, epochs=2)
    with disk_full_at(spec, run) as at_failure, caplog.at_level(logging.WARNING):
        result = run_in_process(TRAIN, *command)
    if spec == "write:tensorboard":  # the logs are a view of the run: it goes on
        assert result.returncode == 0, result.stderr
        assert any("cannot write the TensorBoard logs" in r.getMessage() for r in caplog.records)
        assert len(callbacks.read_log(run / callbacks.LOG_FILE)) == 2
        return
    check_failed_cleanly(result, run, at_failure, _where(spec, run))
    if spec == "write:.lock":
        assert not run.exists()  # a refused command leaves nothing, not even an empty lock

    rerun = run_in_process(TRAIN, *command)
    assert rerun.returncode == 0, rerun.stderr
    assert [int(r["epoch"]) for r in callbacks.read_log(run / callbacks.LOG_FILE)] == [0, 1]
    checkpoints.check_readable(run / "model.keras")
    assert (run / "export" / "saved_model.pb").is_file()


# --- prediction -----------------------------------------------------------------------


@pytest.mark.parametrize("label, spec", write_points.PREDICT)
def test_a_full_disk_at_any_prediction_write_is_finished_by_the_rerun(one_epoch, tmp_path,
                                                                      label, spec):
    data, run = one_epoch
    out = tmp_path / "out"
    command = [f"--checkpoint={run / 'model.keras'}", f"--data_dir={data}",
               "--image_size=16", f"--output_dir={out}"]
    with disk_full_at(spec, out) as at_failure:
        result = run_in_process(PREDICT, *command)
    check_failed_cleanly(result, out, at_failure, spec.split(":")[1].split("@")[0])
    if spec in ("write:.lock", "write:predict.json"):
        assert not out.exists()  # nothing claimed the folder

    rerun = run_in_process(PREDICT, *command)
    assert rerun.returncode == 0, rerun.stderr
    for folder in ("input", "prediction", "target"):
        assert sorted(p.name for p in (out / folder).iterdir()) == ["test_00.png", "test_01.png"]
    assert (out / "grid.png").is_file() and (out / "metrics.json").is_file()


# --- makeup transfer ------------------------------------------------------------------


@pytest.fixture(scope="module")
def transfer_inputs(tmp_path_factory) -> dict[str, Path]:
    """An untrained makeup generator, and a folder each of one source and one reference."""
    root = tmp_path_factory.mktemp("transfer")
    model = root / "model.keras"
    checkpoints.save_model(build_makeup_generator(2, num_blocks=1), model)
    write_rgb(root / "sources" / "source.png", face_photo(size=200))
    write_rgb(root / "references" / "reference.png", face_photo((8, 4), 1.1, (1.2, 0.9, 0.9)))
    return {"model": model, "sources": root / "sources", "references": root / "references"}


@pytest.mark.parametrize("label, spec", write_points.TRANSFER)
def test_a_full_disk_at_any_transfer_write_is_finished_by_the_rerun(transfer_inputs, tmp_path,
                                                                    label, spec):
    out = tmp_path / "out"
    command = [f"--model={transfer_inputs['model']}", f"--source={transfer_inputs['sources']}",
               f"--reference={transfer_inputs['references']}", f"--output={out}",
               "--image_size=32"]
    with disk_full_at(spec, out) as at_failure:
        result = run_in_process(TRANSFER, *command)
    check_failed_cleanly(result, out, at_failure, spec.split(":")[1].split("@")[0])

    rerun = run_in_process(TRANSFER, *command)
    assert rerun.returncode == 0, rerun.stderr
    assert (out / "source_reference.png").is_file()
    assert (out / "figures" / "source_reference.png").is_file()


# --- the FCC tools ------------------------------------------------------------------------

FCC_VIDEO = "fullDisk001"


@pytest.fixture(scope="module")
def fcc_inputs(tmp_path_factory) -> dict[str, Path]:
    """A frame list of one video and the video (`--videos_dir`); face folders for pairs."""
    root = tmp_path_factory.mktemp("fcc")
    (root / "videos").mkdir()
    sample.write_sample_video(root / "videos" / f"{FCC_VIDEO}.mp4", seconds=2, fps=20)
    (root / "frames.csv").write_text(f"{FCC_VIDEO},00001,,eof_00002\n")
    for i, (dy, dx) in enumerate([(0, 0), (6, -8)]):
        write_rgb(root / "sources" / f"s{i}.png", face_photo((dy, dx), 1.0, size=160))
        write_rgb(root / "references" / f"r{i}.png",
                  face_photo((dx, dy), 1.1, (1.2, 0.85, 0.9), size=160))
    return {"csv": root / "frames.csv", "videos": root / "videos",
            "sources": root / "sources", "references": root / "references"}


@pytest.mark.parametrize("label, spec", write_points.FCC_BUILD)
def test_a_full_disk_at_any_fcc_build_write_is_finished_by_the_rerun(fcc_inputs, tmp_path,
                                                                     label, spec):
    out = tmp_path / "FCC"
    command = [f"--output_dir={out}", f"--frames_csv={fcc_inputs['csv']}",
               f"--videos_dir={fcc_inputs['videos']}", "--nodownload", "--hr_min_size=64"]
    with disk_full_at(spec, out) as at_failure:
        result = run_in_process("fcc_dataset.build", *command)
    check_failed_cleanly(result, out, at_failure, out)

    rerun = run_in_process("fcc_dataset.build", *command)
    assert rerun.returncode == 0, rerun.stderr
    assert "1 done, 0 unavailable, 0 failed" in rerun.stdout


def test_a_full_disk_at_a_pair_written_by_a_worker_costs_no_pair_before_it(fcc_inputs, tmp_path):
    out = tmp_path / "pairs"
    command = [f"--sources={fcc_inputs['sources']}", f"--references={fcc_inputs['references']}",
               f"--output_dir={out}", "--image_size=64"]
    first = run_in_process("fcc_dataset.pairs", *command, "--pairs=1")
    assert first.returncode == 0, first.stderr
    before = snapshot(out)
    # The first write of the next run is a pair, in a worker process: it inherits the
    # variable (so no snapshot at the failure: the folder must be as this run found it).
    with disk_full_at("write:*.jpg", out):
        result = run_in_process("fcc_dataset.pairs", *command, "--pairs=2")
    check_failed_cleanly(result, out, [before], out)
    rerun = run_in_process("fcc_dataset.pairs", *command, "--pairs=2")
    assert rerun.returncode == 0, rerun.stderr
    assert len(list(out.glob("*.jpg"))) == 4


def test_a_full_disk_at_the_lock_of_fcc_pairs_leaves_no_folder(fcc_inputs, tmp_path):
    out = tmp_path / "pairs"
    with disk_full_at("write:.lock", out) as at_failure:
        result = run_in_process("fcc_dataset.pairs", f"--sources={fcc_inputs['sources']}",
                                f"--references={fcc_inputs['references']}",
                                f"--output_dir={out}", "--image_size=64")
    check_failed_cleanly(result, out, at_failure, out / ".lock")
    assert not out.exists()


# --- the registry is the commands' own ----------------------------------------------------


@contextlib.contextmanager
def traced(path: Path) -> Iterator[None]:
    os.environ[faults.TRACE_FILE] = str(path)
    faults.reset()
    try:
        yield
    finally:
        del os.environ[faults.TRACE_FILE]
        faults.reset()


def _reached(trace: Path) -> list[str]:
    return [n for n in trace.read_text().split() if n.startswith("write:")]


def _covered(reached: list[str], registry) -> None:
    """Every write point reached is in the registry, and every entry is reached."""
    import fnmatch

    found = write_points.patterns(registry)
    unlisted = {n for n in reached if not any(fnmatch.fnmatchcase(n, p) for p in found)}
    unreached = {p for p in found if not any(fnmatch.fnmatchcase(n, p) for n in reached)}
    assert not unlisted and not unreached, (unlisted, unreached)


def test_the_registry_lists_every_write_of_training_and_prediction(one_epoch, tmp_path):
    data, finished = one_epoch
    run, trace = tmp_path / "run", tmp_path / "trace"
    shutil.copytree(finished, run)
    with traced(trace):
        assert run_in_process(TRAIN, *pix2pix_flags(data, run, epochs=2)).returncode == 0
    _covered(_reached(trace), write_points.TRAIN)
    trace.unlink()
    with traced(trace):
        assert run_in_process(PREDICT, f"--model_dir={run}", "--split=test").returncode == 0
    reached = _reached(trace)
    _covered(reached, write_points.PREDICT)
    assert sorted(n for n in reached if "test_00" in n) == ["write:test_00.png"] * 3


def test_the_registry_lists_every_write_of_transfer_and_the_fcc_tools(transfer_inputs,
                                                                      fcc_inputs, tmp_path):
    commands = {
        TRANSFER: ([f"--model={transfer_inputs['model']}",
                    f"--source={transfer_inputs['sources']}",
                    f"--reference={transfer_inputs['references']}",
                    f"--output={tmp_path / 'transfer'}", "--image_size=32"],
                   write_points.TRANSFER),
        "fcc_dataset.build": ([f"--output_dir={tmp_path / 'FCC'}",
                               f"--frames_csv={fcc_inputs['csv']}",
                               f"--videos_dir={fcc_inputs['videos']}", "--nodownload",
                               "--hr_min_size=64"], write_points.FCC_BUILD),
        "fcc_dataset.pairs": ([f"--sources={fcc_inputs['sources']}",
                               f"--references={fcc_inputs['references']}",
                               f"--output_dir={tmp_path / 'pairs'}", "--image_size=64",
                               "--pairs=1"], write_points.FCC_PAIRS),
    }
    for module, (command, registry) in commands.items():
        trace = tmp_path / f"{module}.trace"
        with traced(trace):
            result = run_in_process(module, *command)
        assert result.returncode == 0, (module, result.stderr)
        _covered(_reached(trace), registry)

