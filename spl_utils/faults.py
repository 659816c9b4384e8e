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

Write points are named `write:<file name>` after the file they write.
"""

from __future__ import annotations

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

_matches: dict[str, int] = {}


def fault_point(name: str) -> None:
    """Trace, pause or fail here if the environment says so (see the module)."""
    trace = os.environ.get(TRACE_FILE)
    if trace:
        with open(trace, "a") as f:
            f.write(name + "\n")
    if _is_nth_match(PAUSE_AT, name):
        _pause(name)
    if _is_nth_match(FAIL_AT, name):
        for hook in before_failure:
            hook(name)
        raise OSError(errno.ENOSPC, f"{os.strerror(errno.ENOSPC)} (injected at {name})")


def reset() -> None:
    """Forget the points counted so far (for in-process tests that change the variables)."""
    _matches.clear()


def _is_nth_match(variable: str, name: str) -> bool:
    spec = os.environ.get(variable)
    if not spec:
        return False
    pattern, _, nth = spec.partition("@")
    if not fnmatch.fnmatchcase(name, pattern):
        return False
    _matches[variable] = _matches.get(variable, 0) + 1
    return _matches[variable] == int(nth or 1)


def _pause(name: str) -> None:
    marker = os.environ[PAUSE_FILE]
    with open(f"{marker}.{os.getpid()}", "w") as f:
        f.write(f"{os.getpid()} {name}\n")
    os.replace(f"{marker}.{os.getpid()}", marker)
    while True:  # until the test's SIGKILL
        time.sleep(60)
