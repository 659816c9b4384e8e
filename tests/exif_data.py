"""Images stored turned or mirrored, with the EXIF orientation that shows them upright,
as cameras and phones write them. Written with Pillow (PNGs keep EXIF in an eXIf chunk,
so the pixels round-trip exactly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

ORIENTATION_TAG = 0x0112

# What a camera does to the upright picture before storing it under each orientation:
# the inverse of the transpose that `PIL.ImageOps.exif_transpose` applies on reading.
_STORED = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def write_oriented(path: Path, upright: np.ndarray, orientation, quality: int = 95) -> Path:
    """Save the RGB uint8 `upright` so that a viewer honouring EXIF shows it as given:
    pixels stored as `orientation` (1-8) says, and the tag set. Any other tag value
    (0, 9, a string) is written as it is, over the upright pixels. Returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stored = Image.fromarray(upright)
    if orientation in _STORED:
        stored = stored.transpose(_STORED[orientation])
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    stored.save(path, exif=exif, quality=quality)
    return path


def stored_pixels(path: Path) -> np.ndarray:
    """The pixels of the image at `path` as stored, with no orientation applied."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))
