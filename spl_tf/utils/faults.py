"""Named fault points, so that tests can kill a command, or fail a write, at an exact instant.

Code that writes state calls `fault_point("write:manifest.json")` (and the like) at the
instants a kill or a failed write matters. Normally that does nothing. Tests steer it
through the environment, which spawned worker processes inherit (each counts its own
points):

* `SPL_PAUSE_AT=PATTERN[@N]` with `SPL_PAUSE_FILE=PATH`: at the Nth point whose name
  matches the shell-style PATTERN (1st by default) the process writes `PID NAME` to
  PATH and sleeps until it is killed, so a test's SIGKILL lands exactly there.
* `SPL_FAIL_AT=PATTERN[@N]`: at that point the process raises the `OSError` a full disk
  gives (ENOSPC), as the write it stands in would; the code around it must turn that
  into one clear error and leave the state it had before the write.
* `SPL_TRACE_FILE=PATH`: every point reached is appended to PATH, a name a line (how the
  tests check that their list of write points is the commands' own).

Write points are named `write:<file name>` after the file they write. The variables are
read once, when this module is imported: with none set (every real run), a point costs a
function call. A process that changes them afterwards calls `reset()`.
"""

from __future__ import annotations

import dataclasses
import errno
import fnmatch
import os
import time
from collections.abc import Callable

PAUSE_AT = "SPL_PAUSE_AT"
PAUSE_FILE = "SPL_PAUSE_FILE"
FAIL_AT = "SPL_FAIL_AT"
TRACE_FILE = "SPL_TRACE_FILE"

# Called with the point's name just before an injected failure is raised: lets an
# in-process test record the state the failing write must leave as it was.
before_failure: list[Callable[[str], None]] = []


@dataclasses.dataclass(frozen=True)
class _Settings:
    """The fault variables, as the environment had them when last read."""

    pause_at: str | None
    pause_file: str | None
    fail_at: str | None
    trace_file: str | None


def _read_environment() -> _Settings | None:
    """The variables' values; None when no point can act (the normal case)."""
    settings = _Settings(*(os.environ.get(name) or None
                           for name in (PAUSE_AT, PAUSE_FILE, FAIL_AT, TRACE_FILE)))
    if not (settings.pause_at or settings.fail_at or settings.trace_file):
        return None
    return settings


# Read once: `fault_point` runs on every training batch, and reading os.environ there
# costs microseconds each time. Tests set the variables before a process starts (its
# workers inherit them), or call `reset()` after changing them in-process.
_settings = _read_environment()
_matches: dict[str, int] = {}


def fault_point(name: str) -> None:
    """Trace, pause or fail here if the environment says so (see the module)."""
    settings = _settings
    if settings is None:
        return
    if settings.trace_file:
        with open(settings.trace_file, "a") as f:
            f.write(name + "\n")
    if _is_nth_match(PAUSE_AT, settings.pause_at, name):
        _pause(name, settings.pause_file)
    if _is_nth_match(FAIL_AT, settings.fail_at, name):
        for hook in before_failure:
            hook(name)
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (injected at {name})")


def reset() -> None:
    """Read the variables again and forget the points counted so far (for in-process
    tests that change the variables)."""
    global _settings
    _settings = _read_environment()
    _matches.clear()


def _is_nth_match(variable: str, spec: str | None, name: str) -> bool:
    if not spec:
        return False
    pattern, _, nth = spec.partition("@")
    if not fnmatch.fnmatchcase(name, pattern):
        return False
    _matches[variable] = _matches.get(variable, 0) + 1
    return _matches[variable] == int(nth or 1)


def _pause(name: str, marker: str | None) -> None:
    if not marker:
        raise RuntimeError(f"{PAUSE_AT} is set but {PAUSE_FILE} is not: no file to say "
                           f"where the process paused ({name})")
    with open(f"{marker}.{os.getpid()}", "w") as f:
        f.write(f"{os.getpid()} {name}\n")
    os.replace(f"{marker}.{os.getpid()}", marker)
    while True:  # until the test's SIGKILL
        time.sleep(60)
