"""Tiny pix2pix-layout datasets written by the tests themselves."""

from pathlib import Path

import cv2
import numpy as np
import skimage.data


def write_pairs(root: Path, counts=None, size: int = 32, seed: int = 0) -> Path:
    """`root/{train,val,test}` of `[input | target]` crops of the astronaut photo.

    Input: the crop mirrored left-right and darkened (something to learn).
    """
    counts = counts or {"train": 8, "val": 2, "test": 2}
    rng = np.random.default_rng(seed)
    photo = cv2.resize(skimage.data.astronaut(), (128, 128), interpolation=cv2.INTER_AREA)
    for split, count in counts.items():
        (root / split).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            y, x = rng.integers(0, 128 - size, 2)
            target = photo[y:y + size, x:x + size]
            pair = np.concatenate([(target[:, ::-1] * 0.6).astype(np.uint8), target], axis=1)
            suffix = ".jpg" if i % 3 == 2 else ".png"
            cv2.imwrite(str(root / split / f"{split}_{i:02d}{suffix}"), pair[..., ::-1])
    return root


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
