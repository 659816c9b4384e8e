"""Errors that mean "the user's input is wrong", shown as one line by the CLIs."""

import sys
from collections.abc import Callable

from absl import app


class InputError(Exception):
    """Bad flags or data: the message names the file or argument and what was expected."""


def run(main: Callable[[list[str]], None]) -> None:
    """`absl.app.run(main)`, with an `InputError` printed as one line (exit code 2)."""

    def guarded(argv: list[str]) -> None:
        try:
            main(argv)
        except InputError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    app.run(guarded)
