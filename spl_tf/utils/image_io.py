"""Images at the file boundary: uint8 on disk, float32 in [-1, 1] in memory.

One decoder for the whole project: TensorFlow's `tf.io.decode_image`, the one every
`tf.data` pipeline uses. `read` is that decoder (graph-safe, for pipelines);
`read_rgb` runs the same reader eagerly, for checks and for NumPy code, so a file
that passes a check is a file the pipeline can decode, at the size the pipeline sees.
Grey and RGBA images become RGB, 16-bit PNGs 8-bit. Images come upright, as people
see them: TensorFlow's decoder reads pixels as stored, so each file's EXIF orientation
is read from its header with Pillow (`exif_orientation`) and applied with TensorFlow
ops (`upright`); pipelines carry (path, orientation) where they carry paths.
TensorFlow is imported on first use only: importing this module (or the commands
that use it) stays cheap. Writing goes through `spl_tf.utils.files`: a reader never
sees half an image.
"""

from __future__ import annotations

import errno
import hashlib
import stat
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np
from absl import logging

from spl_tf.utils import files
from spl_tf.utils.errors import FileError

if TYPE_CHECKING:  # imported on first use (see above)
    import tensorflow as tf

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
EXIF_ORIENTATION = 0x0112  # the EXIF tag


def list_images(folder: Path) -> list[Path]:
    """The PNG and JPEG files directly in `folder`, sorted by name.

    Entries with an image name that are not files (a dangling symlink, a symlink
    loop, a folder) are left out and named in one warning, so none goes unnoticed. A
    folder that cannot be listed is a FileError.
    """
    try:
        named = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    except OSError as error:
        raise FileError(folder, error, "read") from None
    problems = {path: _not_a_file(path) for path in named}
    unusable = [f"{path.name} ({problem})" for path, problem in problems.items() if problem]
    if unusable:
        logging.warning("skipping %d entries of %s that are not image files: %s",
                        len(unusable), folder, ", ".join(unusable))
    return [path for path, problem in problems.items() if not problem]


def _not_a_file(path: Path) -> str | None:
    """What `path` is, where it is not a file (following symlinks); None for a file."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        # Listed, so the entry exists: a link to nothing (or removed since).
        return "a dangling symlink" if path.is_symlink() else "removed while listed"
    except OSError as error:
        return "a symlink loop" if error.errno == errno.ELOOP else str(error)
    if stat.S_ISREG(mode):
        return None
    return "a folder" if stat.S_ISDIR(mode) else "not a regular file"


def output_names(paths: Sequence[Path]) -> list[str]:
    """A distinct name per source image, for the files written from it.

    The file's stem (`a.png` -> `a`); where stems clash, the whole name (`a.png`,
    `a.jpg`); where even that clashes (`a.png` and the stem of `a.png.png`), the name
    and a hash of it. Names that differ only in case clash too, for the file systems
    (macOS, Windows) that do not tell them apart. A pure function of the names.
    """
    def name_at(path: Path, level: int) -> str:
        return (path.stem, path.name)[level] if level < 2 else _hashed(path.name, level)

    return distinct(list(paths), name_at)


def pair_names(pairs: Sequence[tuple[Path, Path]]) -> list[str]:
    """A distinct name per (source, reference) pair: `<source>_<reference>`, each side
    named as `output_names` names it among its own kind; where two joined names clash
    (`a_b` + `c` and `a` + `b_c`, or by case), with a hash of both file names."""
    sources = dict(zip(*_unique_with_names([s for s, _ in pairs])))
    references = dict(zip(*_unique_with_names([r for _, r in pairs])))

    def name_at(pair: tuple[Path, Path], level: int) -> str:
        joined = f"{sources[pair[0]]}_{references[pair[1]]}"
        if level == 0:
            return joined
        return f"{joined}_{_digest(pair[0].name, pair[1].name, level=level)}"

    return distinct(list(pairs), name_at)


def _unique_with_names(paths: list[Path]) -> tuple[list[Path], list[str]]:
    unique = sorted(set(paths))
    return unique, output_names(unique)


def distinct(keys: list, name_at: Callable[[object, int], str]) -> list[str]:
    """`name_at(key, level)` for each key at the lowest level where no two names are
    equal ignoring case: the keys of a clash go up a level together until it is gone.
    `name_at` must give distinct names for distinct keys at some level (a hash)."""
    levels = [0] * len(keys)
    while True:
        names = [name_at(key, level) for key, level in zip(keys, levels)]
        clashes: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            clashes.setdefault(name.casefold(), []).append(i)
        clashing = [i for group in clashes.values() if len(group) > 1 for i in group]
        if not clashing:
            return names
        for i in clashing:
            levels[i] += 1
            if levels[i] > _MAX_LEVEL:
                raise ValueError(f"no distinct name for {keys[i]}")


_MAX_LEVEL = 8


def _hashed(name: str, level: int) -> str:
    return f"{name}_{_digest(name, level=level - 1)}"


def _digest(*parts: str, level: int) -> str:
    """A hex digest of `parts`, longer at each level (8 characters, 16, ... 40)."""
    digest = hashlib.sha1("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()
    return digest[:min(8 * level, len(digest))]


def exif_orientation(path: Path) -> int:
    """The EXIF orientation of the image at `path`, 1-8 (see `upright`); 1 where it has
    none, an invalid one, or none that can be read. Reads the file's header only."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            # Only an EXIF block in the header (a JPEG's APP1, a PNG's eXIf before the
            # pixels): without one, Pillow's getexif() decodes a PNG's pixels to look on.
            code = image.getexif().get(EXIF_ORIENTATION) if "exif" in image.info else 1
    except Exception:  # Pillow raises many kinds on damaged headers; the decoder judges files
        return 1
    return code if isinstance(code, int) and 1 <= code <= 8 else 1


# How to undo each orientation's storage: (swap rows and columns, then mirror top-bottom,
# mirror left-right). Orientations 5-8 are 1-4 with rows and columns swapped.
_UNDO = (
    (False, False, False),  # 1: stored upright
    (False, False, True),   # 2: stored mirrored left-right
    (False, True, True),    # 3: stored turned 180 degrees
    (False, True, False),   # 4: stored mirrored top-bottom
    (True, False, False),   # 5: stored mirrored along the diagonal
    (True, False, True),    # 6: stored turned 90 degrees anticlockwise
    (True, True, True),     # 7: stored mirrored along the antidiagonal
    (True, True, False),    # 8: stored turned 90 degrees clockwise
)


def upright(image: tf.Tensor, orientation: tf.Tensor | int) -> tf.Tensor:
    """`image` (H, W, C) as shown under EXIF `orientation` (1-8, a tensor or an int):
    turned and mirrored as `PIL.ImageOps.exif_transpose` would. Any other value leaves
    it as stored. Graph-safe and works eagerly; plain dataflow, no branches, so that
    tracing a pipeline stays cheap."""
    import tensorflow as tf

    if isinstance(orientation, int) and not 2 <= orientation <= 8:
        return image  # known upright: spares eager readers (most files) the ops below
    code = tf.cast(orientation, tf.int32)
    swap, mirror_rows, mirror_columns = tf.unstack(
        tf.gather(_UNDO, tf.where((code >= 1) & (code <= 8), code - 1, 0)))
    turned = tf.transpose(image, tf.where(swap, [1, 0, 2], [0, 1, 2]))
    turned = tf.reverse(turned, tf.boolean_mask([0, 1], [mirror_rows, mirror_columns]))
    turned.set_shape([None, None, image.shape[-1]])  # a perm tensor hides the channels
    return turned


def decode(data):
    """Encoded image bytes (a string tensor) -> (H, W, 3) uint8 tensor, pixels as stored."""
    import tensorflow as tf

    return tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)


def read(path: tf.Tensor | str, orientation: tf.Tensor | int) -> tf.Tensor:
    """The image at `path` (a string or string tensor) as (H, W, 3) uint8, upright under
    its EXIF `orientation` (`exif_orientation(path)`, found when the files are listed).
    Graph-safe: the reader of every pipeline."""
    import tensorflow as tf

    return upright(decode(tf.io.read_file(path)), orientation)


def read_rgb(path: Path) -> np.ndarray | None:
    """The image at `path` as RGB uint8 (H, W, 3), as `read` gives it to the pipelines
    (upright); None if unreadable."""
    import tensorflow as tf

    try:
        image = read(str(path), exif_orientation(path)).numpy()
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.UnknownError,
            tf.errors.PermissionDeniedError, tf.errors.FailedPreconditionError):
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
    files.write_bytes(path, encoded.reshape(-1))  # the encoder's buffer itself, not a copy


SWAP_BYTES = 1 << 22  # rows swapped at once: a bounded temporary


def _swap_red_blue(image: np.ndarray) -> None:
    """RGB <-> BGR in place, in chunks of rows."""
    step = max(1, SWAP_BYTES // max(1, image.strides[0]))
    for start in range(0, image.shape[0], step):
        rows = image[start:start + step]
        rows[..., [0, 2]] = rows[..., [2, 0]]


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
