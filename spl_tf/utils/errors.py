"""The errors that mean "the user's input, or the machine, stops this command".

Raised by every layer (the FCC tools, the trainers, the utilities under them); commands
show them as one `error:` line (see `spl_tf.utils.cli`).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path


class InputError(Exception):
    """Bad flags or data: the message names the file or argument and what was expected."""


# What a user can do about the OS errors a command meets at a file.
_ADVICE = {
    errno.ENOSPC: "free some space there",
    errno.EDQUOT: "free some space there (disk quota exceeded)",
    errno.EFBIG: "the file system does not take files this large; use another",
    errno.EROFS: "the file system is read-only; use a writable place",
    errno.EACCES: "check the permissions",
    errno.EPERM: "check the permissions",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.EIO: "the device reports an I/O error; check it",
}


def what_to_do(number: int | None) -> str:
    """`; <advice> and rerun the command` for an errno the user can act on, else ""."""
    advice = _ADVICE.get(number)
    return f"; {advice} and rerun the command" if advice else ""


class FileError(InputError):
    """An OS error at a file the command reads or writes, named with what to do.

    `error: cannot write RUN/config.json: No space left on device; free some space
    there and rerun the command` -- and the command leaves the state it had before
    that write, so the rerun goes on from there.
    """

    def __init__(self, path: Path | str, error: OSError | str, action: str = "write"):
        if isinstance(error, OSError):
            self.errno, self.reason = error.errno, error.strerror or str(error)
        else:  # a message, as TensorFlow's file writers report OS errors
            self.reason = error.splitlines()[0] if error else "failed"
            self.errno = next((code for code in _ADVICE if os.strerror(code) in error), None)
        self.path = Path(path)
        super().__init__(f"cannot {action} {path}: {self.reason}{what_to_do(self.errno)}")

    def __reduce__(self):
        # As it was made: it crosses from worker processes to the command's.
        return _rebuilt, (str(self), self.path, self.errno, self.reason)


def _rebuilt(message: str, path: Path, number: int | None, reason: str) -> FileError:
    error = FileError.__new__(FileError)
    InputError.__init__(error, message)
    error.path, error.errno, error.reason = path, number, reason
    return error


def file_error(error: OSError, action: str = "write") -> FileError:
    """A FileError for an OSError that names its own file (or says it has none)."""
    return FileError(error.filename if error.filename is not None else "a file",
                     error, action)


# The OS errors of a file system that stop every write there, whoever meets them.
_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def disk_error(path: Path | str, message: str) -> FileError | None:
    """A FileError at `path` if a tool's `message` (ffmpeg's, yt-dlp's) reports a full or
    read-only file system, which stops every video alike; None for other failures."""
    if any(os.strerror(code) in message for code in _DISK_ERRNOS):
        return FileError(path, message)
    return None
