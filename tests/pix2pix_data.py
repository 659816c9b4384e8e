"""Tiny pix2pix-layout datasets written by the tests themselves."""

import functools
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import skimage.data

from spl_tf.utils import image_io


def mirrored_darker(target: np.ndarray) -> np.ndarray:
    """The crop mirrored left-right and darkened: something to learn."""
    return (target[:, ::-1] * 0.6).astype(np.uint8)


def negative(target: np.ndarray) -> np.ndarray:
    """The photographic negative: an input whose answer is known exactly, pixel by pixel."""
    return 255 - target


def write_pairs(root: Path, counts=None, size: int = 32, seed: int = 0,
                input_of: Callable[[np.ndarray], np.ndarray] = mirrored_darker,
                photos: dict[str, str] | None = None) -> Path:
    """`root/{train,val,test}` of `[input_of(crop) | crop]` pairs of crops of photos.

    The crops of a split come from the scikit-image photo `photos` names for it (the
    astronaut where it names none), resized to 128x128.
    """
    counts = counts or {"train": 8, "val": 2, "test": 2}
    rng = np.random.default_rng(seed)
    for split, count in counts.items():
        photo = _photo((photos or {}).get(split, "astronaut"))
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            y, x = rng.integers(0, 128 - size, 2)
            target = photo[y:y + size, x:x + size]
            pair = np.concatenate([input_of(target), target], axis=1)
            suffix = ".jpg" if i % 3 == 2 else ".png"
            cv2.imwrite(str(root / split / f"{split}_{i:02d}{suffix}"), pair[..., ::-1])
    return root


def mean_target(train_dir: Path) -> np.ndarray:
    """The mean of the targets (right halves) of the pairs in `train_dir`: under PSNR, the
    best output of a model that ignores its input."""
    targets = [image_io.read_rgb(path) for path in image_io.list_images(train_dir)]
    return np.mean([pair[:, pair.shape[1] // 2:] for pair in targets],
                   axis=0).round().astype(np.uint8)


@functools.cache
def _photo(name: str) -> np.ndarray:
    photo = cv2.resize(getattr(skimage.data, name)()[..., :3], (128, 128),
                       interpolation=cv2.INTER_AREA)
    photo.flags.writeable = False  # shared by every call
    return photo


def add_odd_files(folder: Path, size: int = 32) -> dict[str, Path]:
    """A grey pair, an RGBA pair, a corrupt file and a non-pair image in `folder`."""
    rng = np.random.default_rng(1)
    files = {
        "grey": folder / "grey_pair.png",
        "rgba": folder / "rgba_pair.png",
        "corrupt": folder / "corrupt.jpg",
        "not_pair": folder / "square.png",
    }
    cv2.imwrite(str(files["grey"]), rng.integers(0, 255, (size, 2 * size), np.uint8))
    cv2.imwrite(str(files["rgba"]), rng.integers(0, 255, (size, 2 * size, 4), np.uint8))
    files["corrupt"].write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    cv2.imwrite(str(files["not_pair"]), rng.integers(0, 255, (size, size, 3), np.uint8))
    return files
