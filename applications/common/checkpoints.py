"""A run's resume points: `checkpoints/epoch_NNN.keras`, the newest two good ones kept.

Each is the whole model with its optimizer state (so the learning-rate schedule
goes on at the right step), written to a temporary file, synced, then renamed: a
kill leaves the previous checkpoints as they were. Only checkpoints known to be
whole count: those this process wrote and those that read back whole (their zip
checksums verified) when the run resumed. A damaged one is never ranked above a
good one: the run moves it to `checkpoints/damaged/`, saying so in one line.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import zipfile
from pathlib import Path

import keras

from spl_tf.utils import files
from spl_tf.utils.errors import FileError, InputError
from spl_tf.utils.faults import fault_point

KEEP = 2
DAMAGED = "damaged"
RECORD = "spl_tf_run.json"  # in a .keras file: the epochs its model was trained
_NAME = re.compile(r"epoch_(\d+)\.keras")


def save_model(model: keras.Model, path: Path, epochs: int | None = None) -> None:
    """`model.save(path)`, atomically: a reader never sees half a file. With `epochs`,
    the file also records how many epochs the model was trained (`recorded_epochs`).

    A failure (a full disk) is a FileError naming `path`, which is left as it was.
    """
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    with files.new_folders(path.parent, path):
        try:
            model.save(tmp)
            if epochs is not None:
                # A member Keras does not read. The optimizer's step count cannot tell the
                # epoch: with float16 loss scaling it skips the steps that overflowed.
                with zipfile.ZipFile(tmp, "a") as archive:
                    archive.writestr(RECORD, json.dumps({"epochs": epochs}))
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            fault_point(f"write:{path.name}")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        files.sync_folder(path.parent)


def recorded_epochs(path: Path) -> int | None:
    """The epochs `save_model` recorded in the `.keras` file at `path`; None if it has
    no record (it was written otherwise) or the record does not read."""
    try:
        with zipfile.ZipFile(path) as archive:
            epochs = json.loads(archive.read(RECORD))["epochs"]
    except (KeyError, OSError, ValueError, TypeError, zipfile.BadZipFile):
        return None
    return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None


def check_readable(path: Path) -> None:
    """InputError unless `path` is a whole `.keras` archive (every member's CRC checked)."""
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise InputError(f"{path}: not a readable .keras file ({error})") from None
    if bad is not None or "config.json" not in names:
        raise InputError(f"{path}: not a readable .keras file (damaged: {bad or 'no config'})")


@dataclasses.dataclass(frozen=True)
class Survey:
    """The checkpoints of a folder, read and checked, nothing changed."""

    good: tuple[int, ...]  # epochs, newest first
    damaged: dict[int, str]  # epoch -> why it does not read


class Checkpoints:
    """The epoch checkpoints of one run folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self._good: set[int] = set()  # known whole: the only ones retention counts

    def path(self, epoch: int) -> Path:
        return self.folder / f"epoch_{epoch:03d}.keras"

    def epochs(self) -> list[int]:
        """The epochs that have a checkpoint file, newest first (whole or not)."""
        if not self.folder.is_dir():
            return []
        found = (_NAME.fullmatch(p.name) for p in self.folder.iterdir())
        return sorted((int(m[1]) for m in found if m), reverse=True)

    def survey(self) -> Survey:
        """Check every checkpoint: which read back whole (from now on counted by `save`)
        and which are damaged."""
        good, damaged = [], {}
        for epoch in self.epochs():
            try:
                check_readable(self.path(epoch))
                good.append(epoch)
            except InputError as error:
                damaged[epoch] = str(error)
        self._good.update(good)
        return Survey(tuple(good), damaged)

    def set_aside(self, epochs) -> list[Path]:
        """Move damaged checkpoints to `checkpoints/damaged/`; where they went."""
        moved = []
        for epoch in epochs:
            target = _free_name(self.folder / DAMAGED / self.path(epoch).name)
            with files.new_folders(target.parent, target):
                os.replace(self.path(epoch), target)
            self._good.discard(epoch)
            moved.append(target)
        return moved

    def save(self, model: keras.Model, epoch: int) -> None:
        """Checkpoint the model after `epoch` epochs; then `prune`."""
        save_model(model, self.path(epoch), epoch)
        self._good.add(epoch)
        fault_point("checkpoint:prune")  # a kill here leaves one checkpoint too many
        self.prune()

    def prune(self) -> None:
        """Drop all but the newest KEEP good checkpoints (damaged files never count, so
        they never push a good one out)."""
        for old in sorted(self._good, reverse=True)[KEEP:]:
            try:
                self.path(old).unlink(missing_ok=True)
            except OSError as error:
                raise FileError(self.path(old), error, "remove") from None
            self._good.discard(old)

    def newest(self) -> int | None:
        """The newest good checkpoint's epoch, None if there is none."""
        return max(self._good, default=None)

    def remove_leftovers(self) -> None:
        """The temporary files of checkpoint writes a kill interrupted."""
        for stale in self.folder.glob(".*.tmp.keras") if self.folder.is_dir() else ():
            stale.unlink(missing_ok=True)


def _free_name(path: Path) -> Path:
    """`path`, or `path` with `.2`, `.3`... before its suffix if that name is taken."""
    candidate, n = path, 1
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}.{n}{path.suffix}")
    return candidate
