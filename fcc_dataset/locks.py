"""One writer per output folder: an advisory lock that names its holder."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from fcc_dataset.errors import InputError

LOCK_FILE = ".lock"


@contextlib.contextmanager
def hold(folder: Path, flag: str, what: str) -> Iterator[None]:
    """Hold `folder/.lock` for the block; InputError naming the process that holds it.

    `flag` and `what` word the error (`--model_dir`, "training run"). The kernel drops
    the lock of a killed process, so a kill never leaves the folder locked.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = (folder / LOCK_FILE).open("a+")
    except OSError as error:
        raise InputError(f"{flag}={folder}: cannot write there ({error.strerror})") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise InputError(f"{flag}={folder}: another {what} (pid {holder}) is writing "
                             "there; wait for it to end or use another folder") from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield
