"""Side-by-side pair data: each image is `[left | right]`, as pix2pix's datasets.

`DATA_DIR/{train,val,test}/*.{png,jpg,jpeg}`, halves resized to the training
size when they are not already that size, values in [-1, 1]. Files are checked
before training starts with the decoder the pipeline uses: unreadable ones and
images that are not pairs (width must be twice the height) are skipped with a
warning naming them, and a split left empty is an error. Training pairs get the
same random left-right flip on both halves. Photos are read upright (their EXIF
orientation applied), by the checks and the pipeline alike.

pix2pix reads `[input | target]` (`direction` swaps them); makeup transfer
reads `[source | warped reference]` and turns each pair into its own example
with `to_example`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import logging

from applications.common import augment
from applications.common.application import Batch, TrainData
from applications.common.config import PairData, TrainingConfig
from spl_tf.utils import image_io
from spl_tf.utils.errors import InputError

SAMPLES_SHOWN = 4


def scan_split(data_dir: Path, split: str) -> list[Path]:
    """The usable pair images of a split; warns about and skips the others."""
    folder = data_dir / split
    if not folder.is_dir():
        raise InputError(
            f"{folder}: no such folder; --data_dir must hold {split}/ with "
            "[input | target] images"
        )
    candidates = image_io.list_images(folder)
    with ThreadPoolExecutor() as pool:
        problems = list(pool.map(_pair_problem, candidates))
    usable = []
    for path, problem in zip(candidates, problems):
        if problem:
            logging.warning("skipping %s: %s", path, problem)
        else:
            usable.append(path)
    if not usable:
        raise InputError(
            f"{folder}: no usable [input | target] images (found {len(candidates)} "
            "PNG/JPEG files; each must be readable and twice as wide as high)"
        )
    return usable


def _pair_problem(path: Path) -> str | None:
    image = image_io.read_rgb(path)
    if image is None:
        return "unreadable (not a valid PNG or JPEG)"
    height, width = image.shape[:2]
    if width != 2 * height:
        return (f"{width}x{height} is not an [input | target] pair "
                "(expected width = 2 x height)")
    return None


@dataclasses.dataclass(frozen=True)
class PairFormat:
    """How a pair image becomes a training example.

    direction: "AtoB" reads `[input | target]`, "BtoA" swaps the halves.
    resize: `tf.image.resize` method for halves not at the training size
        ("bilinear" with antialiasing, or "area" as the makeup original).
    to_example: `(left, right) -> (x, y)` of one pair, after augmentation;
        None keeps `(left, right)`. Runs inside `tf.data`, so it must be traceable.
    """

    direction: str = "AtoB"
    resize: str = "bilinear"
    to_example: Callable | None = None

    def example(self, left, right):
        return (left, right) if self.to_example is None else self.to_example(left, right)


def load_pair(path: tf.Tensor | str, orientation: tf.Tensor | int, image_size: int,
              pair_format: PairFormat):
    """(left, right) of the pair at `path` (or swapped), each (size, size, 3) in [-1, 1];
    `orientation`: the file's EXIF orientation (`image_io.exif_orientation`)."""
    image = image_io.to_float(image_io.read(path, orientation))
    half = tf.shape(image)[1] // 2
    left = _resized(image[:, :half], image_size, pair_format.resize)
    right = _resized(image[:, half:2 * half], image_size, pair_format.resize)
    return (right, left) if pair_format.direction == "BtoA" else (left, right)


def _resized(image: tf.Tensor, size: int, method: str) -> tf.Tensor:
    shape = tf.shape(image)
    same = tf.logical_and(shape[0] == size, shape[1] == size)
    image = tf.cond(
        same, lambda: image,
        lambda: tf.image.resize(image, [size, size], method=method, antialias=True),
    )
    image.set_shape([size, size, 3])
    return image


def _flip_together(pair, seed: tf.Tensor):
    inputs, targets = pair
    flip = augment.coin(seed)
    return (tf.cond(flip, lambda: tf.reverse(inputs, [1]), lambda: inputs),
            tf.cond(flip, lambda: tf.reverse(targets, [1]), lambda: targets))


def pairs_dataset(files: list[Path], image_size: int, batch_size: int, pair_format: PairFormat,
                  training: bool, seed: int = 0, first_batch: int = 0) -> tf.data.Dataset:
    """Batches of examples; training ones shuffled, flipped, repeated, from the
    stream's batch `first_batch` on."""
    load = functools.partial(load_pair, image_size=image_size, pair_format=pair_format)
    paths = [str(f) for f in files]
    orientations = [image_io.exif_orientation(f) for f in files]
    if training:
        # In order: each process of a multi-host run keeps its shard of the same stream.
        stream = augment.shuffled_forever(list(zip(paths, orientations)), seed,
                                          start=first_batch * batch_size)
        ds = stream.map(
            lambda source, s: (load(*source), s), num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True)
    else:
        ds = tf.data.Dataset.from_tensor_slices((paths, orientations))
        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    if training:
        # Second net behind scan_split: a file that changed since does not stop
        # training. (Not for evaluation: Keras needs its length.)
        ds = ds.ignore_errors(log_warning=True)
        ds = ds.map(_flip_together, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(pair_format.example, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def default_splits(data: PairData) -> tuple[list[Path], list[Path] | None]:
    """The usable files of `train/` and, if it exists, of `val/`."""
    folder = data.folder()
    return (scan_split(folder, "train"),
            scan_split(folder, "val") if (folder / "val").is_dir() else None)


def training_data(data: PairData, training: TrainingConfig, pair_format: PairFormat,
                  splits: tuple[list[Path], list[Path] | None]) -> TrainData:
    """Train batches, validation batches and samples to show, from the chosen files."""
    train_files, val_files = splits
    steps = len(train_files) // training.batch_size
    if steps == 0:
        raise InputError(f"{data.data_dir}: {len(train_files)} usable training images, "
                         f"fewer than one batch (--batch_size={training.batch_size})")
    validation = None
    if val_files:
        validation = pairs_dataset(val_files, data.image_size, training.batch_size, pair_format,
                                   training=False)
    else:
        logging.warning("%s: no validation images; showing training samples instead",
                        data.data_dir)
        val_files = train_files
    inputs, targets, _ = next(named_pair_batches(val_files[:SAMPLES_SHOWN], data.image_size,
                                                 SAMPLES_SHOWN, pair_format))
    train = functools.partial(pairs_dataset, train_files, data.image_size, training.batch_size,
                              pair_format, training=True, seed=training.seed)
    return TrainData(lambda first: train(first_batch=first), steps, (inputs, targets),
                     validation)


def named_pair_batches(files: list[Path], image_size: int, batch_size: int,
                       pair_format: PairFormat) -> Iterator[Batch]:
    """(x, y, names) numpy batches of pair files, for prediction."""
    names = image_io.output_names(files)
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        examples = [pair_format.example(*load_pair(str(f), image_io.exif_orientation(f),
                                                   image_size, pair_format))
                    for f in chunk]
        yield (np.stack([e[0].numpy() for e in examples]),
               np.stack([e[1].numpy() for e in examples]), names[start:start + batch_size])


def named_image_batches(folder: Path, image_size: int, batch_size: int) -> Iterator[Batch]:
    """(inputs, None, names) numpy batches of plain images, resized to the model size."""
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder (--input_dir)")
    files = []
    for path in image_io.list_images(folder):
        if image_io.read_rgb(path) is None:
            logging.warning("skipping %s: unreadable (not a valid PNG or JPEG)", path)
        else:
            files.append(path)
    if not files:
        raise InputError(f"{folder}: no readable PNG or JPEG images (--input_dir)")
    names = image_io.output_names(files)
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        images = [image_io.read_rgb(f) for f in chunk]
        images = [tf.image.resize(i, [image_size, image_size], antialias=True).numpy()
                  if i.shape[:2] != (image_size, image_size) else i.astype(np.float32)
                  for i in images]
        yield image_io.to_float(np.stack(images)), None, names[start:start + batch_size]
