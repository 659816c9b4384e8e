"""Running a command: its flags defined only now, errors as one line, help that helps.

Every command of the project (the FCC tools, the trainers) goes through
`run`: it defines the command's flags when the command starts (importing a module
defines none), parses them, and turns a bad flag, a stray argument, an `InputError` or
an OS error (a full disk) into one `error: ...` line on stderr with exit code 2, instead
of a traceback.

`--help` (`-h`, `--helpshort`) prints the command's docstring and its own flags, grouped
by the module name they were registered under (a config section, see
`applications.common.config.define_flags`), each with its default; a help text that
starts with `REQUIRED` marks a flag the command cannot run without. absl's own flags
are left to `--helpfull`. Commands import TensorFlow in their `main`, through
`import_quietly`, so that help needs none.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator

from absl import app, flags
from absl import logging as absl_logging

from spl_tf.utils.errors import InputError, file_error

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # as a shell reports a process ended by SIGINT
REQUIRED = "(required)"  # how a help text marks a flag the command needs
# What TensorFlow's C++ side prints on import whatever TF_CPP_MIN_LOG_LEVEL says
# (tensorflow/tensorflow#100442): absl's info lines, and its notice that they go to stderr.
_INFO_LINE = re.compile(r"I\d{4} |WARNING: All log messages before absl::InitializeLog")


def run(main: Callable[..., None], define_flags: Callable[[flags.FlagValues], None],
        argv: list[str] | None = None, *, doc: str | None = None,
        arguments: bool = False) -> None:
    """Define the command's flags on `flags.FLAGS`, parse `argv`, call `main()`.

    doc: what `--help` says above the flags (default: the docstring of `main`'s module).
    arguments: the command takes arguments besides its flags (a subcommand and its
        operands, `spl-data fetch facades`): `main(arguments)` gets them as a list.
        Otherwise an argument is an error.
    """
    # TensorFlow's C++ start-up lines (CUDA probing, CPU features, "failed call to
    # cuInit" on a machine without a GPU) say nothing a user of these commands can act
    # on, and its errors reach Python as exceptions; a TF_CPP_MIN_LOG_LEVEL of the
    # user's own wins (0 shows everything).
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    before = set(flags.FLAGS)
    define_flags(flags.FLAGS)
    command_flags = [name for name in flags.FLAGS if name not in before]
    if doc is None:
        doc = sys.modules[main.__module__].__doc__ or ""
    _define_help_flags(lambda: help_text(doc, flags.FLAGS, command_flags))
    call = (lambda argv: main(argv[1:])) if arguments else (lambda _: main())
    app.run(lambda argv: _guarded(lambda: call(argv)), argv=argv,
            flags_parser=functools.partial(_parse, arguments=arguments))


def import_quietly(module: str) -> None:
    """Import `module` (TensorFlow) without the C++ info lines it prints on stderr, as
    TF_CPP_MIN_LOG_LEVEL >= 1 (set by `run` unless the user set it) asks; whatever else
    it prints, warnings and errors, still shows."""
    if module in sys.modules or os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0") == "0":
        importlib.import_module(module)
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)  # C++ writes to the file descriptor, not sys.stderr
        try:
            importlib.import_module(module)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines(keepends=True)
            sys.stderr.write("".join(line for line in lines if not _INFO_LINE.match(line)))


@contextlib.contextmanager
def quiet_tensorflow_info() -> Iterator[None]:
    """The info lines TensorFlow logs within the block held back (a SavedModel's
    "Assets written to ...", "Writing fingerprint to ...", through its own logger and
    absl's, which absl's `app.run` shows from INFO up); warnings and errors still show,
    and `--verbosity=1` (debug) shows everything, as it asks. For blocks that are
    TensorFlow's alone: this program's absl info lines are held back there too.

    A filter on the two loggers, not their levels: absl sets its logger's level again
    whenever the flags are set, as TensorFlow's saving does."""
    if logging.getLogger().getEffectiveLevel() < logging.INFO:  # debug asked for
        yield
        return
    loggers = (logging.getLogger("tensorflow"), absl_logging.get_absl_logger())
    for logger in loggers:
        logger.addFilter(_warnings_and_errors)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(_warnings_and_errors)


def _warnings_and_errors(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


def help_text(doc: str, flag_values: flags.FlagValues, names: Iterable[str]) -> str:
    """`doc`, then the flags `names` under the module (section) each was registered by."""
    module_of = {id(flag): module for module, module_flags
                 in flag_values.flags_by_module_dict().items() for flag in module_flags}
    sections: dict[str, list[flags.Flag]] = {}
    for name in names:
        flag = flag_values[name]
        section = sections.setdefault(module_of[id(flag)], [])
        if flag not in section:  # a flag with a short name is listed under both names
            section.append(flag)
    lines = [doc.strip(), ""]
    for section, section_flags in sections.items():
        lines += [f"{section}:", *map(_describe, section_flags), ""]
    lines.append("--helpfull adds the flags of absl itself.")
    return "\n".join(lines)


def _describe(flag: flags.Flag) -> str:
    """A flag as absl's --helpfull shows one: `--name: help`, then its default."""
    name = f"--[no]{flag.name}" if flag.boolean else f"--{flag.name}"
    text = flags.text_wrap(f"{name}: {flag.help}", indent="    ", firstline_indent="  ")
    if flag.default is not None and flag.default != []:
        text += f"\n    (default: {flag.default_as_str})"
    return text


class _HelpFlag(flags.BooleanFlag):
    """--help: print the command's help to stdout and exit 0 (absl's exits 1, and lists
    only flags defined in `__main__`: none of a command's here)."""

    def __init__(self, name: str, short_name: str | None, text: Callable[[], str]):
        super().__init__(name, False, "Show the command's flags.", short_name=short_name)
        self._text = text

    def parse(self, argument) -> None:
        if self._parse(argument):
            try:
                print(self._text(), flush=True)
            except BrokenPipeError:
                # `--help | head` stopped reading: as Python's docs advise, send what is
                # left to devnull so that the exit does not fail flushing it.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(0)


def _define_help_flags(text: Callable[[], str]) -> None:
    """absl's help flags, with --help / -h / --helpshort / -? replaced by ours."""
    app.define_help_flags()  # once per process; later calls keep what is there
    for name in ("help", "h", "helpshort", "?"):
        if name in flags.FLAGS:
            delattr(flags.FLAGS, name)
    flags.DEFINE_flag(_HelpFlag("help", "h", text), flags.FLAGS)
    flags.DEFINE_flag(_HelpFlag("helpshort", "?", text), flags.FLAGS)


def _parse(argv: list[str], arguments: bool = False) -> list[str]:
    try:
        remaining = flags.FLAGS(argv)
    except flags.Error as error:
        fail(str(error))
    if len(remaining) > 1 and not arguments:
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
