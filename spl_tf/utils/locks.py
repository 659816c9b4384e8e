"""One writer per output folder: an advisory lock that names its holder; and one at a time
for a shared file, where the others wait."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from spl_tf.utils import files
from spl_tf.utils.errors import FileError, InputError, what_to_do
from spl_tf.utils.faults import fault_point

LOCK_FILE = ".lock"


@contextlib.contextmanager
def hold(folder: Path, flag: str, what: str) -> Iterator[None]:
    """Hold `folder/.lock` for the block; InputError naming the process that holds it.

    `flag` and `what` word the error (`--model_dir`, "training run"). The kernel drops
    the lock of a killed process, so a kill never leaves the folder locked. A command
    that writes nothing in the block (it was refused, or failed at its first write)
    leaves no trace: the lock file and the folder are removed again if it made them.
    """
    made: list[Path] = []
    try:
        files.make_folders(folder, made)
    except OSError as error:
        files.remove_empty(made)
        raise _cannot_write(flag, folder, error) from None
    lock_path = folder / LOCK_FILE
    try:
        lock, made_lock = _locked(lock_path, flag, folder, what)
    except BaseException:
        files.remove_empty(made)
        raise
    try:
        with lock:
            try:
                _write_pid(lock, lock_path)
                yield
            finally:
                # Unlinked while still held: see `_locked` for whoever opened it meanwhile.
                if made_lock and _names(folder) == [LOCK_FILE]:
                    lock_path.unlink()
    finally:
        files.remove_empty(made)


@contextlib.contextmanager
def one_at_a_time(lock_path: Path, waiting: str) -> Iterator[None]:
    """Hold `lock_path` for the block, waiting for whoever holds it (`waiting` is printed
    to stderr while this process waits). The lock file is removed when the block ends, so
    it leaves no trace; a waiter that then holds a removed file starts again with the
    file at the path, as `_locked` does.
    """
    while True:
        with lock_path.open("a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print(waiting, file=sys.stderr, flush=True)
                fcntl.flock(lock, fcntl.LOCK_EX)
            if _same_file(lock, lock_path):
                try:
                    yield
                finally:
                    lock_path.unlink(missing_ok=True)  # while held: see above
                return


def _locked(lock_path: Path, flag: str, folder: Path, what: str):
    """The open, exclusively locked lock file, and whether it was made here."""
    while True:
        made = not lock_path.exists()
        try:
            lock = lock_path.open("a+")
        except OSError as error:
            raise _cannot_write(flag, folder, error) from None
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            lock.close()
            raise InputError(f"{flag}={folder}: another {what} (pid {holder}) is writing "
                             "there; wait for it to end or use another folder") from None
        if _same_file(lock, lock_path):
            return lock, made
        # The file was removed (by a holder leaving no trace) after it was opened here:
        # locking it locks nothing. Start again with the file now at the path.
        lock.close()


def _cannot_write(flag: str, folder: Path, error: OSError) -> InputError:
    return InputError(f"{flag}={folder}: cannot write there ({error.strerror})"
                      f"{what_to_do(error.errno)}")


def _same_file(lock, lock_path: Path) -> bool:
    try:
        on_disk = os.stat(lock_path)
    except FileNotFoundError:
        return False
    held = os.fstat(lock.fileno())
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _write_pid(lock, lock_path: Path) -> None:
    try:
        lock.truncate(0)
        fault_point(f"write:{LOCK_FILE}")
        lock.write(f"{os.getpid()}\n")
        lock.flush()
    except OSError as error:
        raise FileError(lock_path, error) from None


def _names(folder: Path) -> list[str] | None:
    """The names in `folder`; None if it cannot be listed (then nothing is removed)."""
    try:
        return [p.name for p in folder.iterdir()]
    except OSError:
        return None
