"""Running a command: its flags defined only now, errors as one line.

Every command of the project (the FCC tools here, the trainers above) goes through
`run`: it defines the command's flags when the command starts (importing a module
defines none), parses them, and turns a bad flag, a stray argument, an `InputError` or
an OS error (a full disk) into one `error: ...` line on stderr with exit code 2, instead
of a traceback.
`--help` / `--helpfull` list the command's flags with their defaults.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from absl import app, flags

from fcc_dataset.errors import InputError, file_error

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # as a shell reports a process ended by SIGINT


def run(main: Callable[[], None], define_flags: Callable[[flags.FlagValues], None],
        argv: list[str] | None = None) -> None:
    """Define the command's flags on `flags.FLAGS`, parse `argv`, call `main()`."""
    define_flags(flags.FLAGS)
    app.run(lambda _: _guarded(main), argv=argv, flags_parser=_parse)


def _parse(argv: list[str]) -> list[str]:
    try:
        remaining = flags.FLAGS(argv)
    except flags.Error as error:
        fail(str(error))
    if len(remaining) > 1:
        fail(f"unexpected arguments {remaining[1:]}; flags look like --name=value")
    return remaining


def _guarded(main: Callable[[], None]) -> None:
    try:
        main()
    except KeyboardInterrupt:
        # Ctrl-C: every command keeps what it committed and goes on when rerun.
        print("\ninterrupted: run the same command again to go on", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except InputError as error:
        fail(str(error))
    except OSError as error:
        # The writes and reads of the commands name their file themselves; this is the
        # net under any other, so that a full disk is never a traceback.
        fail(str(file_error(error, "read or write")))


def fail(message: str) -> None:
    """Print `error: message` and exit with the usage exit code."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)
