"""Predictions paired with their targets by name, as the predict commands write them
(`prediction/NAME.png` beside `target/NAME.png`), and read as uint8 RGB."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from spl_tf.utils import image_io
from spl_tf.utils.errors import InputError

SHOWN = 3  # names listed in an error about many files


@dataclasses.dataclass(frozen=True)
class Pair:
    name: str
    prediction: Path
    target: Path


def pairs(pred_dir: Path, target_dir: Path) -> list[Pair]:
    """Each PNG or JPEG of `pred_dir` with the image of `target_dir` of the same name (the
    file name without its extension), sorted by name. Every image must have its partner:
    an InputError names those that have none."""
    predictions = _by_name(pred_dir, "--pred_dir")
    targets = _by_name(target_dir, "--target_dir")
    for these, folder, others, other_folder, what in (
            (predictions, pred_dir, targets, target_dir, "prediction"),
            (targets, target_dir, predictions, pred_dir, "target")):
        alone = sorted(set(these) - set(others))
        if alone:
            names = ", ".join(these[name].name for name in alone[:SHOWN])
            more = f" and {len(alone) - SHOWN} more" if len(alone) > SHOWN else ""
            raise InputError(f"{len(alone)} {what}{'s' if len(alone) > 1 else ''} in {folder} "
                             f"{'have' if len(alone) > 1 else 'has'} no image of the same name "
                             f"in {other_folder}: {names}{more}")
    return [Pair(name, predictions[name], targets[name]) for name in sorted(predictions)]


def _by_name(folder: Path, flag: str) -> dict[str, Path]:
    images = image_io.list_images(folder)
    if not images:
        raise InputError(f"{flag}={folder}: no PNG or JPEG images")
    found: dict[str, Path] = {}
    for path in images:
        if path.stem in found:
            raise InputError(f"{found[path.stem]} and {path} have the same name; keep one of "
                             "them")
        found[path.stem] = path
    return found


def read(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """(target, prediction) as uint8 (H, W, 3), upright; InputError on an image that cannot
    be decoded, or a pair of two sizes."""
    target, prediction = (_read(path) for path in (pair.target, pair.prediction))
    if target.shape != prediction.shape:
        raise InputError(f"{pair.prediction} is {_size(prediction)} but {pair.target} is "
                         f"{_size(target)}: a prediction and its target must be the same size")
    return target, prediction


def _read(path: Path) -> np.ndarray:
    image = image_io.read_rgb(path)
    if image is None:
        raise InputError(f"{path}: not a PNG or JPEG image that can be decoded")
    return image


def _size(image: np.ndarray) -> str:
    return f"{image.shape[1]}x{image.shape[0]}"
