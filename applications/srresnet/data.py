"""DIV2K-style super-resolution data: folders or tensorflow-datasets.

Folders as DIV2K ships them (`--data_dir` holds, for scale s and degradation
d in {unknown, bicubic}):

    DIV2K_train_HR/0001.png ...          DIV2K_train_LR_d/Xs/0001xs.png ...
    DIV2K_valid_HR/0801.png ...          DIV2K_valid_LR_d/Xs/0801xs.png ...

LR and HR are paired by name (the original paired them by sorted order,
which silently shifts every pair when one file is missing); a missing or
extra file, or an HR image that is not exactly s times its LR image, is an
error naming the file. Images are read upright (their EXIF orientation applied),
by the size check and the pipelines alike. Training takes aligned random crops (98x98
LR with the matching 392x392 HR by default); evaluation uses whole images, batch 1,
uint8 as the files hold them (prediction turns them to float a tile at a time).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import tensorflow as tf
from absl import logging

from applications.common import augment
from applications.common.application import Batch, TrainData
from applications.common.config import TrainingConfig
from applications.srresnet.config import SRData, SRImages
from spl_tf.utils import image_io
from spl_tf.utils.errors import InputError

SPLITS = {"train": "train", "valid": "validation"}  # folder name -> tfds split
SAMPLE_LR = 24  # side of the LR crops shown in TensorBoard


@dataclasses.dataclass(frozen=True)
class Pair:
    lr: Path
    hr: Path
    lr_size: tuple[int, int]  # (width, height)


def folder_pairs(data: SRImages, split: str) -> list[Pair]:
    """The LR/HR pairs of a DIV2K split folder, checked."""
    if not data.data_dir:
        raise InputError("give --data_dir (DIV2K folders) or --tfds_name (e.g. div2k/unknown_x4)")
    data_dir, scale = Path(data.data_dir), data.scale
    hr_dir = data_dir / f"DIV2K_{split}_HR"
    lr_dir = data_dir / f"DIV2K_{split}_LR_{data.degradation}" / f"X{scale}"
    for folder in (hr_dir, lr_dir):
        if not folder.is_dir():
            raise InputError(f"{folder}: no such folder (DIV2K layout expected under --data_dir)")
    return match_pairs(lr_dir, hr_dir, scale)


def match_pairs(lr_dir: Path, hr_dir: Path, scale: int) -> list[Pair]:
    """Pair `NAMExS.png` in lr_dir with `NAME.png` in hr_dir; check names and sizes."""
    suffix = f"x{scale}"
    hr = _by_name(image_io.list_images(hr_dir), lambda stem: stem)
    lr = _by_name(image_io.list_images(lr_dir),
                  lambda stem: stem[: -len(suffix)] if stem.endswith(suffix) else stem)
    if not hr:
        raise InputError(f"{hr_dir}: no PNG or JPEG images")
    missing = sorted(set(hr) - set(lr))
    if missing:
        raise InputError(f"{hr[missing[0]]} has no low-resolution partner in {lr_dir} "
                         f"(expected {missing[0]}{suffix}.png; {len(missing)} missing)")
    extra = sorted(set(lr) - set(hr))
    if extra:
        raise InputError(f"{lr[extra[0]]} has no high-resolution partner in {hr_dir} "
                         f"(expected {extra[0]}.png; {len(extra)} without partner)")
    names = sorted(hr)
    paths = [p for name in names for p in (lr[name], hr[name])]
    with ThreadPoolExecutor() as pool:  # the decoder releases the GIL
        sizes = dict(zip(paths, pool.map(decoded_size, paths)))
    pairs = []
    for name in names:
        lr_size, hr_size = sizes[lr[name]], sizes[hr[name]]
        unreadable = [p for p in (lr[name], hr[name]) if sizes[p] is None]
        if unreadable:
            logging.warning("skipping the pair %s: %s unreadable (not a valid PNG or JPEG)",
                            name, " and ".join(map(str, unreadable)))
            continue
        if hr_size != (lr_size[0] * scale, lr_size[1] * scale):
            raise InputError(
                f"{hr[name]} is {hr_size[0]}x{hr_size[1]} but {lr[name]} is "
                f"{lr_size[0]}x{lr_size[1]}: HR must be x{scale} the LR size"
            )
        pairs.append(Pair(lr[name], hr[name], lr_size))
    if not pairs:
        raise InputError(f"{lr_dir}, {hr_dir}: no readable LR/HR pairs "
                         f"({len(names)} pairs found, every one with an unreadable image)")
    return pairs


def _by_name(paths: list[Path], name_of) -> dict[str, Path]:
    """`{pair name: path}`; two images of one name (`a.png`, `a.jpg`) are an error."""
    found: dict[str, Path] = {}
    for path in paths:
        name = name_of(path.stem)
        if name in found:
            raise InputError(f"{found[name]} and {path} would pair with the same image; "
                             "keep one of them")
        found[name] = path
    return found


def decoded_size(path: Path) -> tuple[int, int] | None:
    """(width, height) of the image as the pipeline decodes it (upright); None if it cannot."""
    image = image_io.read_rgb(path)
    return None if image is None else (image.shape[1], image.shape[0])


def _sources(pair: Pair) -> tuple[str, int, str, int]:
    """What the pipelines read a pair from: (LR path, LR orientation, HR path, HR
    orientation), the orientations EXIF's (`image_io.exif_orientation`)."""
    return (str(pair.lr), image_io.exif_orientation(pair.lr),
            str(pair.hr), image_io.exif_orientation(pair.hr))


def _read_pair(lr, lr_orientation, hr, hr_orientation) -> tuple[tf.Tensor, tf.Tensor]:
    """(lr, hr) uint8 images, upright, from a pair's `_sources`. Graph-safe."""
    return image_io.read(lr, lr_orientation), image_io.read(hr, hr_orientation)


def _to_unit_range(lr, hr):
    return image_io.to_float(lr), image_io.to_float(hr)


def random_crop_pair(lr: tf.Tensor, hr: tf.Tensor, lr_crop: int, scale: int, seed: tf.Tensor):
    """Aligned crops: lr_crop x lr_crop of LR and the HR region it came from, placed
    by the stateless `seed` (shape (2,))."""
    shape = tf.shape(lr)
    seed_y, seed_x = tf.unstack(augment.seeds(seed, 2))
    y = augment.integer(seed_y, 0, shape[0] - lr_crop + 1)
    x = augment.integer(seed_x, 0, shape[1] - lr_crop + 1)
    lr = lr[y:y + lr_crop, x:x + lr_crop]
    hr = hr[y * scale:(y + lr_crop) * scale, x * scale:(x + lr_crop) * scale]
    lr.set_shape([lr_crop, lr_crop, 3])
    hr.set_shape([lr_crop * scale, lr_crop * scale, 3])
    return lr, hr


def flip_rotate(lr: tf.Tensor, hr: tf.Tensor, seed: tf.Tensor):
    """The same random flip and quarter turn for both images, drawn from `seed`."""
    seed_flip, seed_turns = tf.unstack(augment.seeds(seed, 2))
    flip = augment.coin(seed_flip)
    turns = augment.integer(seed_turns, 0, 4)

    def apply(image):
        image = tf.cond(flip, lambda: tf.reverse(image, [1]), lambda: image)
        return tf.image.rot90(image, turns)

    return apply(lr), apply(hr)


def _pairs_dataset(data: SRImages, split: str) -> tuple[tf.data.Dataset, int]:
    """(lr, hr) uint8 images of a split, and how many there are."""
    if data.tfds_name:
        if split not in SPLITS:
            raise InputError(f"--split={split}: {data.tfds_name} has the splits "
                             f"{', '.join(SPLITS)}")
        builder = prepared_builder(data.tfds_name, data.tfds_data_dir)
        ds = builder.as_dataset(split=SPLITS[split])
        count = int(ds.cardinality())
        if count < 0:  # unknown: trust the dataset's metadata
            count = builder.info.splits[SPLITS[split]].num_examples
        return ds.map(lambda e: (e["lr"], e["hr"])), count
    pairs = folder_pairs(data, split)
    columns = tuple(list(column) for column in zip(*map(_sources, pairs)))  # one per source part
    ds = tf.data.Dataset.from_tensor_slices(columns)
    return ds.map(_read_pair, num_parallel_calls=tf.data.AUTOTUNE), len(pairs)


def prepared_builder(name: str, data_dir: str | None):
    """The tensorflow-datasets builder `name` with its data downloaded and prepared (the
    first time) in `data_dir`. Whatever stops tensorflow-datasets there (the network, a
    checksum, a missing package) is one line naming the set and the cause."""
    try:
        import tensorflow_datasets as tfds

        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # DatasetNotFoundError, a broken install...
        raise InputError(f"--tfds_name={name}: {_cause(error)}") from None
    try:
        builder.download_and_prepare()
    except Exception as error:  # anything tensorflow-datasets meets; Ctrl-C goes through
        raise InputError(f"--tfds_name={name}: tensorflow-datasets could not download and "
                         f"prepare it ({_cause(error)}); a rerun retries") from None
    return builder


def _cause(error: Exception) -> str:
    """`Type: the first line of the message`: tensorflow-datasets' run to many lines."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


def training_data(data: SRData, training: TrainingConfig) -> TrainData:
    """Random aligned crops for training, whole validation images, sample crops."""
    stream, count = _training_stream(data, training.seed)
    steps = count // training.batch_size
    if steps == 0:
        raise InputError(f"{count} training images, fewer than one batch "
                         f"(--batch_size={training.batch_size})")

    def train(first_batch: int) -> tf.data.Dataset:
        # In order: each process of a multi-host run keeps its shard of the same stream.
        ds = stream(first_batch * training.batch_size).map(
            lambda pair, seed: _augmented(*pair, seed, data),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.batch(training.batch_size, drop_remainder=True).prefetch(tf.data.AUTOTUNE)

    valid, _ = _pairs_dataset(data, "valid")
    sample = [_centre_crop(lr, hr, data.scale) for lr, hr in valid.take(4)]
    validation = None
    if data.val_images:
        validation = valid.take(data.val_images).map(_to_unit_range).batch(1).prefetch(2)
    return TrainData(train, steps,
                     (np.stack([s[0] for s in sample]), np.stack([s[1] for s in sample])),
                     validation)


def _training_stream(data: SRData, seed: int
                     ) -> tuple[Callable[[int], tf.data.Dataset], int]:
    """start -> ((lr, hr), seed) uint8 training pairs, shuffled, forever, from place
    `start` of the stream on; and how many pairs there are.

    A tensorflow-datasets split cannot be indexed: its stream starts at the same
    place again on resume (pairs in its shuffled order, seeds from `start`).
    """
    if data.tfds_name:
        ds, count = _pairs_dataset(data, "train")
        ds = ds.shuffle(min(count, 1000), seed=seed, reshuffle_each_iteration=True).repeat()
        return lambda start: augment.with_seeds(ds, seed, start), count
    pairs = folder_pairs(data, "train")
    _check_crop_fits(pairs, data.lr_crop_size)
    items = [_sources(p) for p in pairs]

    def stream(start: int) -> tf.data.Dataset:
        ds = augment.shuffled_forever(items, seed, start).map(
            lambda sources, s: (_read_pair(*sources), s),
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        # Second net behind match_pairs: a file that changed since does not stop training.
        return ds.ignore_errors(log_warning=True)

    return stream, len(pairs)


def _augmented(lr: tf.Tensor, hr: tf.Tensor, seed: tf.Tensor, data: SRData):
    """A training example: aligned crops, flipped and turned with `--augment`, in [-1, 1]."""
    seed_crop, seed_flip = tf.unstack(augment.seeds(seed, 2))
    lr, hr = random_crop_pair(lr, hr, data.lr_crop_size, data.scale, seed_crop)
    if data.augment:
        lr, hr = flip_rotate(lr, hr, seed_flip)
    return _to_unit_range(lr, hr)


def _check_crop_fits(pairs: list[Pair], lr_crop: int) -> None:
    for pair in pairs:
        width, height = pair.lr_size
        if min(width, height) < lr_crop:
            raise InputError(f"{pair.lr} is {width}x{height}, smaller than the "
                             f"{lr_crop}x{lr_crop} training crop (--lr_crop_size)")


def _centre_crop(lr: tf.Tensor, hr: tf.Tensor, scale: int):
    """A fixed-size LR crop from the image centre and its HR region, in [-1, 1]."""
    side = min(SAMPLE_LR, int(lr.shape[0]), int(lr.shape[1]))
    y, x = (int(lr.shape[0]) - side) // 2, (int(lr.shape[1]) - side) // 2
    lr = lr[y:y + side, x:x + side]
    hr = hr[y * scale:(y + side) * scale, x * scale:(x + side) * scale]
    lr, hr = _to_unit_range(lr, hr)
    return lr.numpy(), hr.numpy()


def evaluation_batches(data: SRImages, split: str = "valid") -> Iterator[Batch]:
    """(lr, hr, name) numpy batches of whole uint8 images, batch 1."""
    if data.tfds_name:
        ds, _ = _pairs_dataset(data, split)
        for i, (lr, hr) in enumerate(ds):
            yield lr.numpy()[None], hr.numpy()[None], [f"{i:04d}"]
        return
    for pair in folder_pairs(data, split):
        yield _load_pair(pair)


def _load_pair(pair: Pair) -> Batch:
    lr, hr = (image.numpy()[None] for image in _read_pair(*_sources(pair)))
    return lr, hr, [pair.lr.stem]


def folder_batches(input_dir: Path, hr_dir: Path | None, scale: int) -> Iterator[Batch]:
    """Plain uint8 LR images (any size), with their HR partners when `hr_dir` is given."""
    if not input_dir.is_dir():
        raise InputError(f"{input_dir}: no such folder (--input_dir)")
    if hr_dir is not None:
        if not hr_dir.is_dir():
            raise InputError(f"{hr_dir}: no such folder (--hr_dir)")
        for pair in match_pairs(input_dir, hr_dir, scale):
            yield _load_pair(pair)
        return
    files = image_io.list_images(input_dir)
    if not files:
        raise InputError(f"{input_dir}: no PNG or JPEG images (--input_dir)")
    written = 0
    for path, name in zip(files, image_io.output_names(files)):
        image = image_io.read_rgb(path)
        if image is None:
            logging.warning("skipping %s: unreadable (not a valid PNG or JPEG)", path)
            continue
        written += 1
        yield image[None], None, [name]
    if not written:
        raise InputError(f"{input_dir}: no readable PNG or JPEG images (--input_dir)")
