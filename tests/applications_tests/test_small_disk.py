"""Training on a real file system that fills up, then turns read-only: a 1 MB tmpfs in a
private mount namespace (`unshare -m`, as root). The injected failures of
test_write_failures.py stand in for this at every write point; here the kernel says no.

It needs root and util-linux's `unshare` (as CI has). The commands run in one shell
inside the namespace (the mount lives as long as it): the
train command until the disk is full, a copy of the run folder as it was left, the
command again on the file system remounted read-only, then remounted larger. The test
reads what each left.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from applications.common import callbacks, checkpoints
from pix2pix_data import write_pairs

ROOT = Path(__file__).resolve().parents[2]


def test_a_full_then_read_only_disk_stops_training_in_one_line_and_the_rerun_finishes(
        tmp_path):
    data = write_pairs(tmp_path / "data", {"train": 8})
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    out.mkdir()
    run = disk / "run"
    train = shlex.join([sys.executable, "-m", "applications.pix2pix.train",
                        f"--data_dir={data}", f"--model_dir={run}", "--batch_size=4",
                        "--epochs=3", "--image_size=16", "--ngf=6", "--num_blocks=1",
                        "--jit_compile=false", "--verbose=0"])
    d, o = shlex.quote(str(disk)), shlex.quote(str(out))
    script = f"""
        mount -t tmpfs -o size=1m tmpfs {d} || exit 99
        {train} 2> {o}/full.err; echo $? > {o}/full.rc
        cp -a {d}/run {o}/left_full
        mount -o remount,ro {d}
        {train} 2> {o}/ro.err; echo $? > {o}/ro.rc
        mount -o remount,rw,size=16m {d}
        {train} 2> {o}/rerun.err; echo $? > {o}/rerun.rc
        cp -a {d}/run {o}/finished
    """
    shell = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                           cwd=ROOT, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                           capture_output=True, text=True, timeout=900)
    assert shell.returncode == 0, shell.stderr[-2000:]

    def error_line(name: str) -> str:
        lines = (out / f"{name}.err").read_text().strip().splitlines()
        assert (out / f"{name}.rc").read_text().strip() == "2", lines[-20:]
        assert "Traceback" not in "\n".join(lines) and lines[-1].startswith("error: ")
        return lines[-1]

    full = error_line("full")
    assert f"cannot write {run}/" in full and "No space left on device" in full, full
    assert "free some space there and rerun the command" in full
    # What was committed before the disk filled is whole; nothing half written is left.
    left = out / "left_full"
    assert not [p for p in left.rglob(".*") if p.name != ".lock"]
    committed = checkpoints.Checkpoints(left / "checkpoints").epochs()
    for epoch in committed:
        checkpoints.check_readable(left / "checkpoints" / f"epoch_{epoch:03d}.keras")
    logged = [int(r["epoch"]) for r in callbacks.read_log(left / callbacks.LOG_FILE)]
    assert logged == list(range(len(logged))) and len(logged) >= (committed or [0])[0]

    read_only = error_line("ro")
    assert "(Read-only file system); the file system is read-only; use a writable place" in \
        read_only and str(run) in read_only, read_only

    assert (out / "rerun.rc").read_text().strip() == "0", (out / "rerun.err").read_text()
    finished = out / "finished"
    assert [int(r["epoch"]) for r in callbacks.read_log(finished / callbacks.LOG_FILE)] == [
        0, 1, 2]
    checkpoints.check_readable(finished / "model.keras")
    assert (finished / "export" / "saved_model.pb").is_file()
