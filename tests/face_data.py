"""Face photos for the tests, made from the astronaut photo that ships with scikit-image.

dlib finds Eileen Collins' face in it (a box of about 90 pixels on the 512 x 512 photo),
so moved, scaled, turned and recoloured copies stand in for the same person photographed
again, with and without makeup.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np
import skimage.data

# (x, y) of the middle of the face in the 512 x 512 photo (the centre of dlib's box).
FACE_CENTRE = (220.0, 121.0)
# Side, in photo pixels, of the square shown at scale 1: the face fills about 40 %.
FIELD = 224.0


@functools.cache
def astronaut() -> np.ndarray:
    image = skimage.data.astronaut()
    image.flags.writeable = False
    return image


def face_photo(
    shift: tuple[float, float] = (0.0, 0.0),
    scale: float = 1.0,
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0),
    size: int = 256,
    angle: float = 0.0,
) -> np.ndarray:
    """An RGB uint8 (size, size, 3) photo of the astronaut's face.

    `shift`: (dy, dx) in output pixels, the face's move from the centre; `scale`: its
    size relative to scale 1 (face about 0.4 * size wide); `colour`: gains for R, G, B
    (a crude "makeup"); `angle`: degrees, counter-clockwise. Outside the photo the
    border is mirrored, so every pixel is photo-like.
    """
    zoom = scale * size / FIELD
    matrix = cv2.getRotationMatrix2D(FACE_CENTRE, angle, zoom)
    matrix[:, 2] += np.array([size / 2 + shift[1], size / 2 + shift[0]]) - FACE_CENTRE
    image = cv2.warpAffine(
        astronaut(), matrix, (size, size), flags=cv2.INTER_AREA if zoom < 1 else cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REFLECT_101,
    )
    gains = np.asarray(colour, np.float32)
    return np.clip(np.rint(image * gains), 0, 255).astype(np.uint8)


def write_recoloured_pairs(folder: Path, count: int, size: int, seed: int) -> Path:
    """`count` makeup pairs `[source | reference]` in `folder`, a known answer each.

    The source: the face moved and scaled at random; the reference: the same face
    recoloured by random R, G, B gains, warped perfectly onto it. So the reference is
    the answer of the transfer, the source wearing the reference's colours.
    """
    rng = np.random.default_rng(seed)
    for i in range(count):
        placed = {"shift": tuple(rng.uniform(-size / 8, size / 8, 2)),
                  "scale": rng.uniform(0.85, 1.15), "size": size}
        gains = tuple(rng.uniform(0.6, 1.4, 3))
        pair = np.concatenate([face_photo(**placed), face_photo(colour=gains, **placed)], axis=1)
        write_rgb(folder / f"pair_{i:03d}.png", pair)
    return folder


def no_face_photo(size: int = 256) -> np.ndarray:
    """An RGB uint8 (size, size, 3) photo without a face: the astronaut's suit and flag."""
    patch = astronaut()[300:512, 0:212]
    return cv2.resize(patch, (size, size), interpolation=cv2.INTER_AREA)


def write_rgb(path: Path, image: np.ndarray, quality: int = 95) -> Path:
    """Save an RGB image with OpenCV (JPEG at `quality`), making the folder; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    jpeg = path.suffix.lower() in (".jpg", ".jpeg")
    options = [cv2.IMWRITE_JPEG_QUALITY, quality] if jpeg else []
    if not cv2.imwrite(str(path), image[..., ::-1], options):
        raise OSError(f"could not write {path}")
    return path
