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

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np

from fcc_dataset.errors import FileError
from fcc_dataset.faults import fault_point

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def list_images(folder: Path) -> list[Path]:
    """The PNG and JPEG files directly in `folder`, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


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
        return joined if level == 0 else f"{joined}_{_digest(pair[0].name, pair[1].name, level=level)}"

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
    """Write an RGB uint8 image (format from the suffix, PNG without one), atomically."""
    ok, encoded = cv2.imencode(path.suffix or ".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise OSError(f"could not encode {path}")
    write_bytes(path, encoded.tobytes())


def write_bytes(path: Path, data) -> None:
    """Write `data` (bytes, or any buffer such as a NumPy array) to `path` through a synced
    temporary file in the same folder.

    A failure (a full disk, a read-only folder) is a FileError naming `path`, and leaves
    `path` and its folder as they were (the temporary file and folders made for it are
    removed).
    """
    data = memoryview(data).cast("B")  # slices of it are views, not copies
    with new_folders(path.parent, path):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                half = len(data) // 2
                f.write(data[:half])
                # A kill here leaves half a temporary file and `path` as it was.
                fault_point(f"write:{path.name}")
                f.write(data[half:])
                f.flush()
                os.fsync(f.fileno())
            # mkstemp makes the file 0600; give it the mode a plain open() would.
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        sync_folder(path.parent)


@contextlib.contextmanager
def new_folders(folder: Path, target: Path | None = None) -> Iterator[None]:
    """Make `folder` (and its missing parents) for the block's write of `target`.

    An OSError in the block, or in making the folders, becomes a FileError naming
    `target` (or `folder`), and the folders made here are removed again: a write that
    fails leaves no trace.
    """
    made: list[Path] = []
    try:
        missing = []
        while not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for new in reversed(missing):
            new.mkdir()
            made.insert(0, new)
        yield
    except OSError as error:
        for new in made:
            try:
                new.rmdir()
            except OSError:
                break  # no longer empty: another writer's now
        raise FileError(target or error.filename or folder, error) from None


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
