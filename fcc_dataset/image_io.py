"""Images at the file boundary: uint8 on disk, float32 in [-1, 1] in memory.

One decoder for the whole project: TensorFlow's `tf.io.decode_image`, the one every
`tf.data` pipeline uses. `decode` is that decoder (graph-safe, for pipelines);
`read_rgb` runs the same decoder eagerly, for checks and for NumPy code, so a file
that passes a check is a file the pipeline can decode. Grey and RGBA images become
RGB, 16-bit PNGs 8-bit. TensorFlow is imported on first use only: importing this
module (or the FCC tools that use it) stays cheap.

This module lives in the lowest layer that reads images (the FCC tools); the
trainers use it too. Writing is atomic: a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from fcc_dataset.faults import pause_point

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def list_images(folder: Path) -> list[Path]:
    """The PNG and JPEG files directly in `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def output_names(paths: list[Path]) -> list[str]:
    """A distinct name per source image, for the files written from it.

    The file's stem (`a.png` -> `a`), or its whole name where two sources share a
    stem (`a.png`, `a.jpg` -> `a.png`, `a.jpg`), so that no output replaces another.
    """
    counts = Counter(p.stem for p in paths)
    return [p.name if counts[p.stem] > 1 else p.stem for p in paths]


def decode(data):
    """Encoded image bytes (a string tensor) -> (H, W, 3) uint8 tensor."""
    import tensorflow as tf

    return tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)


def read_rgb(path: Path) -> np.ndarray | None:
    """The image at `path` as RGB uint8 (H, W, 3), decoded by `decode`; None if unreadable."""
    import tensorflow as tf

    try:
        image = decode(tf.io.read_file(str(path))).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.UnknownError):
        return None
    return image if image.size else None


def to_float(images):
    """uint8 images (NumPy or a tf.Tensor) to float32 in [-1, 1]."""
    if isinstance(images, np.ndarray):
        return images.astype(np.float32) / 127.5 - 1.0
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 127.5 - 1.0


def to_uint8(images) -> np.ndarray:
    """Images in [-1, 1] to uint8, rounding and clipping."""
    return np.clip(np.rint((np.asarray(images, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def write_rgb(path: Path, image: np.ndarray) -> None:
    """Write an RGB uint8 (H, W, 3) image (format from the suffix, PNG without one),
    atomically.

    OpenCV encodes BGR: a writable C-contiguous `image` is made BGR in place, a few
    rows at a time, and RGB again after encoding (also on an error), so a large
    image is not copied; it must not be read by another thread meanwhile. Other
    arrays are copied first.
    """
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{path}: expected an RGB image (H, W, 3), got shape {image.shape}")
    image = np.require(image, requirements=["C_CONTIGUOUS", "WRITEABLE"])
    _swap_red_blue(image)
    try:
        ok, encoded = cv2.imencode(path.suffix or ".png", image)
    finally:
        _swap_red_blue(image)
    if not ok:
        raise OSError(f"could not encode {path}")
    write_bytes(path, encoded.reshape(-1))  # the encoder's buffer itself, not a copy


SWAP_BYTES = 1 << 22  # rows swapped at once: a bounded temporary


def _swap_red_blue(image: np.ndarray) -> None:
    """RGB <-> BGR in place, in chunks of rows."""
    step = max(1, SWAP_BYTES // max(1, image.strides[0]))
    for start in range(0, image.shape[0], step):
        rows = image[start:start + step]
        rows[..., [0, 2]] = rows[..., [2, 0]]


def write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a synced temporary file in the same folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            half = len(data) // 2
            f.write(data[:half])
            # A kill here leaves half a temporary file and `path` as it was.
            pause_point(f"write:{path.name}")
            f.write(data[half:])
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file 0600; give it the mode a plain open() would.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sync_folder(path.parent)


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


def image_grid(rows: list[list[np.ndarray]], gap: int = 4) -> np.ndarray:
    """Tile equal-sized uint8 images row by row, with white gaps (a raw pixel strip)."""
    height, width = rows[0][0].shape[:2]
    columns = max(len(r) for r in rows)
    grid = np.full(
        (len(rows) * (height + gap) - gap, columns * (width + gap) - gap, 3), 255, np.uint8
    )
    for i, row in enumerate(rows):
        for j, image in enumerate(row):
            y, x = i * (height + gap), j * (width + gap)
            grid[y:y + height, x:x + width] = image
    return grid
