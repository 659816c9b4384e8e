"""A tiny DIV2K-shaped folder from photographs that ship with scikit-image."""

from pathlib import Path

import cv2
import numpy as np
import skimage.data

TRAIN = ("astronaut", "coffee", "chelsea", "rocket")
VALID = ("immunohistochemistry", "hubble_deep_field")


def hr_photo(name: str, size=(128, 96)) -> np.ndarray:
    """RGB uint8 photo resized to size=(width, height) (multiples of 12: x2, x3, x4 work)."""
    return cv2.resize(getattr(skimage.data, name)()[..., :3], size, interpolation=cv2.INTER_AREA)


def downscale(hr: np.ndarray, scale: int, interpolation: int = cv2.INTER_CUBIC) -> np.ndarray:
    height, width = hr.shape[:2]
    return cv2.resize(hr, (width // scale, height // scale), interpolation=interpolation)


def write_div2k(root: Path, scale: int = 4, degradation: str = "bicubic", size=(120, 96),
                tiles: int = 1, interpolation: int = cv2.INTER_CUBIC, train=TRAIN,
                valid=VALID) -> Path:
    """DIV2K's folders of the `train` and `valid` photos at `size`, downscaled with the
    OpenCV `interpolation`; each training photo cut into `tiles` x `tiles` pieces (more,
    smaller images: more steps an epoch)."""
    for split, names in (("train", train), ("valid", valid)):
        hr_dir = root / f"DIV2K_{split}_HR"
        lr_dir = root / f"DIV2K_{split}_LR_{degradation}" / f"X{scale}"
        hr_dir.mkdir(parents=True, exist_ok=True)
        lr_dir.mkdir(parents=True, exist_ok=True)
        pieces = tiles if split == "train" else 1
        images = [tile for name in names for row in np.split(hr_photo(name, size), pieces)
                  for tile in np.split(row, pieces, axis=1)]
        for i, hr in enumerate(images):
            stem = f"{(1 if split == 'train' else 801) + i:04d}"
            cv2.imwrite(str(hr_dir / f"{stem}.png"), hr[..., ::-1])
            lr = downscale(hr, scale, interpolation)
            cv2.imwrite(str(lr_dir / f"{stem}x{scale}.png"), lr[..., ::-1])
    return root
