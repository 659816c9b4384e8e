"""Files that are written whole or not at all, and folders that a failed write leaves as
they were.

Every command writes its state (manifests, config.json, checkpoints, images) through
`write_bytes`: a synced temporary file in the same folder, renamed over the target, so a
reader, or the rerun after a kill, never sees half a file. A failure is a `FileError`
naming the file and what to do (see `spl_tf.utils.errors`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from spl_tf.utils.errors import FileError
from spl_tf.utils.faults import fault_point


def write_bytes(path: Path, data) -> None:
    """Write `data` (bytes, or any buffer such as a NumPy array) to `path` through a synced
    temporary file in the same folder.

    A failure (a full disk, a read-only folder) is a FileError naming `path`, and leaves
    `path` and its folder as they were (the temporary file and folders made for it are
    removed).
    """
    data = memoryview(data).cast("B")  # slices of it are views, not copies
    with new_folders(path.parent, path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                half = len(data) // 2
                f.write(data[:half])
                # A kill here leaves half a temporary file and `path` as it was.
                fault_point(f"write:{path.name}")
                f.write(data[half:])
                f.flush()
                os.fsync(f.fileno())
            # mkstemp makes the file 0600; give it the mode a plain open() would.
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        sync_folder(path.parent)


@contextlib.contextmanager
def new_folders(folder: Path, target: Path | None = None) -> Iterator[None]:
    """Make `folder` (and its missing parents) for the block's write of `target`.

    An OSError in the block, or in making the folders, becomes a FileError naming
    `target` (or `folder`), and the folders made here are removed again: a write that
    fails leaves no trace.
    """
    made: list[Path] = []
    try:
        make_folders(folder, made)
        yield
    except OSError as error:
        remove_empty(made)
        raise FileError(target or error.filename or folder, error) from None


def make_folders(folder: Path, made: list[Path]) -> None:
    """`folder.mkdir(parents=True, exist_ok=True)`, adding each folder it makes to `made`,
    deepest first (for `remove_empty`)."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        folder = folder.parent
    for new in reversed(missing):
        new.mkdir()
        made.insert(0, new)


def remove_empty(folders: list[Path]) -> None:
    """Remove `folders`, deepest first, as long as they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (or gone): what is above it is not empty either


def sync_folder(folder: Path) -> None:
    """Make a rename in `folder` durable (the rename itself lives in the folder)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
