"""A command's entry point run inside the test process, for its error paths."""

import contextlib
import importlib
import io
import logging
import subprocess
import sys
from unittest import mock

from absl import app, flags


def run_in_process(module: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m module ARGS`, run in this process: its exit code, stdout and stderr.

    The same flag parsing and checks as in a process of its own, without the 6-15 s of
    TensorFlow import that each such process takes on 2 cores. An exception the command
    lets through is raised here, where in a process of its own it would have ended it
    with a traceback. Afterwards absl's FLAGS hold no flag of the command (the next
    command defines its own) and Python's logging has its handlers of before (absl's
    first run puts its own on the root logger).
    """
    entry_point = importlib.import_module(module).entry_point
    app.define_help_flags()  # absl defines them on its first run only: kept, not removed
    before, handlers = set(flags.FLAGS), logging.root.handlers[:]
    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    try:
        with mock.patch.object(sys, "argv", [module, *args]), \
                contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            entry_point()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    finally:
        for name in set(flags.FLAGS) - before:
            delattr(flags.FLAGS, name)
        flags.FLAGS.unparse_flags()
        logging.root.handlers[:] = handlers
    return subprocess.CompletedProcess([module, *args], code, stdout.getvalue(),
                                       stderr.getvalue())
