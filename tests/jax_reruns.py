"""Pytest runs on the JAX backend, one after the other in one process, while a test session
goes on (backend_utils.start_runs_under_jax starts this, in the JAX environment).

    python jax_reruns.py FOLDER          runs the next command, then writes FOLDER/status.json
    python jax_reruns.py FOLDER --run    FOLDER/runs.json -> FOLDER/results.json

runs.json holds {"timeout": seconds for all, "runs": {name: [pytest arguments]}}. Each run is
its own `pytest.main`, with its own selection and report, as if it had its own process; only
the JAX, Keras and TensorFlow import and the compilations of shapes seen before are shared,
which is what made one process per run slow. results.json gets {name: {"returncode",
"stdout", "counts"}} after each run (counts: the tests it collected and each outcome's
number, for checks that cannot pass on a run that shrank), so that a crash still leaves
the runs that finished; the first command outlives any crash of the second and says how
it ended in status.json.
"""

import contextlib
import io
import json
import signal
import subprocess
import sys
import time
from pathlib import Path


def _write(path: Path, value) -> None:
    """Whole or not at all: the test session reads these files while they are written."""
    partial = path.with_name(path.name + ".part")
    partial.write_text(json.dumps(value))
    partial.replace(path)


def supervise(folder: Path) -> None:
    timeout = json.loads((folder / "runs.json").read_text())["timeout"]
    start = time.monotonic()
    with open(folder / "stderr.log", "w") as stderr:
        process = subprocess.Popen([sys.executable, __file__, str(folder), "--run"],
                                   stdout=stderr, stderr=subprocess.STDOUT)
        # A session stopped early (-x) terminates this process: the runs end with it.
        signal.signal(signal.SIGTERM, lambda *_: process.kill())
        try:
            status = {"returncode": process.wait(timeout=timeout), "timed_out": False}
        except subprocess.TimeoutExpired:
            process.kill()
            status = {"returncode": process.wait(), "timed_out": True}
    _write(folder / "status.json", {**status, "seconds": round(time.monotonic() - start)})


class Counts:
    """A pytest plugin: how many tests a run collected, and how many ended each way."""

    def __init__(self):
        self.counts: dict[str, int] = {}

    def pytest_sessionfinish(self, session):
        stats = session.config.pluginmanager.get_plugin("terminalreporter").stats
        self.counts = {"collected": len(session.items),
                       **{outcome: len(reports) for outcome, reports in stats.items()
                          if outcome not in ("", "warnings", "deselected")}}


def run(folder: Path) -> None:
    import pytest

    results = {}
    for name, args in json.loads((folder / "runs.json").read_text())["runs"].items():
        stdout, start, counts = io.StringIO(), time.monotonic(), Counts()
        with contextlib.redirect_stdout(stdout):  # the terminal report of this run only
            code = pytest.main(["-q", "-p", "no:cacheprovider", *args], plugins=[counts])
        results[name] = {"returncode": int(code), "stdout": stdout.getvalue(),
                         "counts": counts.counts}
        _write(folder / "results.json", results)
        print(f"{name}: exit code {int(code)} after {time.monotonic() - start:.0f} s", flush=True)


if __name__ == "__main__":
    if sys.argv[2:] == ["--run"]:
        run(Path(sys.argv[1]))
    else:
        supervise(Path(sys.argv[1]))
