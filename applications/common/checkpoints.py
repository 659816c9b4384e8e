"""A run's resume points: `checkpoints/epoch_NNN.keras`, the newest two kept.

Each is the whole model with its optimizer state (so the learning-rate schedule
goes on at the right step), written to a temporary file, synced, then renamed: a
kill leaves the previous checkpoints as they were. Resuming takes the newest one
that reads back whole (its zip checksums verified first) and says in one line when
it had to fall back to an older one.
"""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import keras
from absl import logging

from fcc_dataset import image_io
from fcc_dataset.errors import InputError
from fcc_dataset.faults import pause_point

KEEP = 2
_NAME = re.compile(r"epoch_(\d+)\.keras")


def save_model(model: keras.Model, path: Path) -> None:
    """`model.save(path)`, atomically: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    pause_point(f"write:{path.name}")
    os.replace(tmp, path)
    image_io.sync_folder(path.parent)


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


class Checkpoints:
    """The epoch checkpoints of one run folder."""

    def __init__(self, folder: Path):
        self.folder = folder

    def path(self, epoch: int) -> Path:
        return self.folder / f"epoch_{epoch:03d}.keras"

    def epochs(self) -> list[int]:
        """The epochs that have a checkpoint, newest first."""
        if not self.folder.is_dir():
            return []
        found = (_NAME.fullmatch(p.name) for p in self.folder.iterdir())
        return sorted((int(m[1]) for m in found if m), reverse=True)

    def save(self, model: keras.Model, epoch: int) -> None:
        """Checkpoint the model after `epoch` epochs; then drop all but the newest KEEP."""
        save_model(model, self.path(epoch))
        for old in self.epochs()[KEEP:]:
            self.path(old).unlink(missing_ok=True)

    def remove_leftovers(self) -> None:
        """The temporary files of checkpoint writes a kill interrupted."""
        for stale in self.folder.glob(".*.tmp.keras") if self.folder.is_dir() else ():
            stale.unlink(missing_ok=True)

    def restore(self, model: keras.Model) -> int:
        """Load the newest readable checkpoint into `model`; the epochs it had done (0: none).

        `model` must be compiled with its optimizer built, so that the optimizer's
        state (its step count among it) is restored too.
        """
        skipped = []
        for epoch in self.epochs():
            try:
                check_readable(self.path(epoch))
            except InputError as error:
                skipped.append(str(error))
                continue
            model.load_weights(self.path(epoch))
            if skipped:
                logging.warning("%s; resuming from %s instead", "; ".join(skipped),
                                self.path(epoch).name)
            return epoch
        if skipped:
            logging.warning("%s; no readable checkpoint left, training from the start",
                            "; ".join(skipped))
        return 0

