"""Side-by-side pair data: each image is `[left | right]`, as pix2pix's datasets.

`DATA_DIR/{train,val,test}/*.{png,jpg,jpeg}`, halves resized to the training
size when they are not already that size, values in [-1, 1]. Files are checked
before training starts: unreadable ones and images that are not pairs (width
must be twice the height) are skipped with a warning naming them, and a split
left empty is an error. Training pairs get the same random left-right flip on
both halves.

pix2pix reads `[input | target]` (`direction` swaps them); makeup transfer
reads `[source | warped reference]` and turns each pair into its own example
with `to_example`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import logging

from applications.common import image_io
from applications.common.errors import InputError
from applications.common.flags import TrainConfig
from applications.common.training import TrainData

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


PIX2PIX = PairFormat()


def load_pair(path: tf.Tensor, image_size: int, direction: str = "AtoB",
              resize: str = "bilinear"):
    """(input, target), each (size, size, 3) float32 in [-1, 1]."""
    image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
    image = tf.cast(image, tf.float32) / 127.5 - 1.0
    half = tf.shape(image)[1] // 2
    left = _resized(image[:, :half], image_size, resize)
    right = _resized(image[:, half:2 * half], image_size, resize)
    return (right, left) if direction == "BtoA" else (left, right)


def _resized(image: tf.Tensor, size: int, method: str = "bilinear") -> tf.Tensor:
    shape = tf.shape(image)
    same = tf.logical_and(shape[0] == size, shape[1] == size)
    image = tf.cond(
        same, lambda: image,
        lambda: tf.image.resize(image, [size, size], method=method, antialias=True),
    )
    image.set_shape([size, size, 3])
    return image


def _flip_together(inputs: tf.Tensor, targets: tf.Tensor):
    flip = tf.random.uniform(()) < 0.5
    return (tf.cond(flip, lambda: tf.reverse(inputs, [1]), lambda: inputs),
            tf.cond(flip, lambda: tf.reverse(targets, [1]), lambda: targets))


def pairs_dataset(files: list[Path], config: TrainConfig, training: bool,
                  pair_format: PairFormat = PIX2PIX):
    """Batches of examples; training ones shuffled, flipped, repeated."""
    ds = tf.data.Dataset.from_tensor_slices([str(f) for f in files])
    if training:
        ds = ds.shuffle(len(files), seed=config.seed, reshuffle_each_iteration=True).repeat()
    ds = ds.map(lambda p: load_pair(p, config.image_size, pair_format.direction,
                                    pair_format.resize),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=not training)
    if training:
        # Second net behind scan_split: a file that changed since does not stop
        # training. (Not for evaluation: it would hide the dataset's length.)
        ds = ds.ignore_errors(log_warning=True)
        ds = ds.map(_flip_together, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(pair_format.example, num_parallel_calls=tf.data.AUTOTUNE)
    return ds.batch(config.batch_size, drop_remainder=training).prefetch(tf.data.AUTOTUNE)


def training_data(config: TrainConfig, pair_format: PairFormat = PIX2PIX,
                  splits: tuple[list[Path], list[Path] | None] | None = None) -> TrainData:
    """Train batches, validation batches and samples to show.

    `splits`: (train files, validation files or None) chosen by the caller;
    by default the usable files of `train/` and, if it exists, `val/`.
    """
    if config.image_size % 4:
        raise InputError(f"--image_size={config.image_size} must be divisible by 4 "
                         "(the generator downsamples twice by 2)")
    if splits is None:
        val_dir = config.data_dir / "val"
        splits = (scan_split(config.data_dir, "train"),
                  scan_split(config.data_dir, "val") if val_dir.is_dir() else None)
    train_files, val_files = splits
    steps = len(train_files) // config.batch_size
    if steps == 0:
        raise InputError(f"{config.data_dir}: {len(train_files)} usable training images, "
                         f"fewer than one batch (--batch_size={config.batch_size})")
    validation = None
    if val_files:
        validation = pairs_dataset(val_files, config, False, pair_format)
    else:
        logging.warning("%s: no validation images; showing training samples instead",
                        config.data_dir)
        val_files = train_files
    inputs, targets, _ = next(named_pair_batches(val_files[:SAMPLES_SHOWN], config.image_size,
                                                 SAMPLES_SHOWN, pair_format))
    return TrainData(pairs_dataset(train_files, config, True, pair_format), steps,
                     (inputs, targets), validation)


def named_pair_batches(files: list[Path], image_size: int, batch_size: int,
                       pair_format: PairFormat = PIX2PIX):
    """(x, y, names) numpy batches of a split, for prediction."""
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        examples = [pair_format.example(*load_pair(tf.constant(str(f)), image_size,
                                                   pair_format.direction, pair_format.resize))
                    for f in chunk]
        yield (np.stack([e[0].numpy() for e in examples]),
               np.stack([e[1].numpy() for e in examples]), [f.stem for f in chunk])


def named_image_batches(folder: Path, image_size: int, batch_size: int):
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
    for start in range(0, len(files), batch_size):
        chunk = files[start:start + batch_size]
        images = [image_io.read_rgb(f) for f in chunk]
        images = [tf.image.resize(i, [image_size, image_size], antialias=True).numpy()
                  if i.shape[:2] != (image_size, image_size) else i.astype(np.float32)
                  for i in images]
        yield np.stack(images) / 127.5 - 1.0, None, [f.stem for f in chunk]
