"""Named pause points, so that tests can kill a command at an exact instant.

Code that writes state calls `pause_point("write:manifest.json")` (and the like) at
the instants a kill matters. Normally that does nothing. A fault-injection test
sets `SPL_PAUSE_AT=PATTERN[@N]` (a shell-style pattern over point names; the Nth
point that matches, 1 by default) and `SPL_PAUSE_FILE=PATH`: when the process reaches
that point it writes `PID NAME` to PATH and sleeps until it is killed, so a test's
SIGKILL lands exactly there, from outside the process. Spawned worker processes
inherit the variables and count their own points.
"""

from __future__ import annotations

import fnmatch
import os
import time

PAUSE_AT = "SPL_PAUSE_AT"
PAUSE_FILE = "SPL_PAUSE_FILE"

_seen = 0


def pause_point(name: str) -> None:
    """Pause here for good if the environment names this point (see the module)."""
    spec = os.environ.get(PAUSE_AT)
    if not spec:
        return
    pattern, _, nth = spec.partition("@")
    if not fnmatch.fnmatchcase(name, pattern):
        return
    global _seen
    _seen += 1
    if _seen != int(nth or 1):
        return
    marker = os.environ[PAUSE_FILE]
    with open(f"{marker}.{os.getpid()}", "w") as f:
        f.write(f"{os.getpid()} {name}\n")
    os.replace(f"{marker}.{os.getpid()}", marker)
    while True:  # until the test's SIGKILL
        time.sleep(60)
