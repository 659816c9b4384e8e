"""Makeup pairs: `[source | warped reference]` images, as `fcc_dataset.pairs` writes them.

`--data_dir` holds `train/` (and optionally `val/`, `test/`) of pair images, or
is itself a folder of pair images, split here: a `--val_fraction` of the
subjects is held out with all their pairs, so no one is on both sides (for
FCC names the subject is the video, otherwise the source face).
Augmentation as the original: the same random flip for both halves, area
resize to the training size. Each pair becomes `(x, x)` with `x` the 6-channel
[source, reference] stack: the generator's input and the loss's `y_true`.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import tensorflow as tf

from applications.common import pairs
from applications.common.application import Batch
from applications.makeup.config import MakeupData
from spl_tf.utils.errors import InputError


def stack(source: tf.Tensor, reference: tf.Tensor):
    """One pair -> (x, x), x = [source, reference] on channels."""
    x = tf.concat([source, reference], axis=-1)
    return x, x


MAKEUP = pairs.PairFormat(resize="area", to_example=stack)
FCC_NAME = re.compile(r"([A-Za-z0-9_-]{11})_(?:eof_)?\d{5}_\d+_cropped")


def splits(data: MakeupData) -> tuple[list[Path], list[Path] | None]:
    """(train files, validation files or None) of either layout."""
    data_dir = data.folder()
    if (data_dir / "train").is_dir():
        val = pairs.scan_split(data_dir, "val") if (data_dir / "val").is_dir() else None
        return pairs.scan_split(data_dir, "train"), val
    if not data_dir.is_dir():
        raise InputError(f"{data_dir}: no such folder (--data_dir)")
    files = pairs.scan_split(data_dir.parent, data_dir.name)
    held_out = [f for f in files if _held_out(f, data.val_fraction)]
    return [f for f in files if not _held_out(f, data.val_fraction)], held_out or None


def _held_out(path: Path, fraction: float) -> bool:
    return zlib.crc32(subject(path.stem).encode()) % 1000 < fraction * 1000


def subject(pair_stem: str) -> str:
    """Who the source face is: its video for FCC names, else the source's stem.

    `fcc_dataset.pairs` names a pair `<source stem><reference stem>`; FCC stems
    are `<video id>_[eof_]<frame>_<size>_cropped`.
    """
    match = FCC_NAME.match(pair_stem)
    return match[1] if match else pair_stem.split("_cropped")[0]


def named_batches(files: list[Path], image_size: int, batch_size: int) -> Iterator[Batch]:
    """(x, reference, names) batches for prediction."""
    for x, _, names in pairs.named_pair_batches(files, image_size, batch_size, MAKEUP):
        yield x, x[..., 3:], names
