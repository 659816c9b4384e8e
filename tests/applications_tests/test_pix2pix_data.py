"""The pix2pix data pipeline: layout, odd files, augmentation, errors."""

import numpy as np
import pytest
import tensorflow as tf

import tiny_configs
from applications.common import pairs
from applications.pix2pix.application import Pix2Pix
from exif_data import write_oriented
from spl_tf.utils import image_io
from spl_tf.utils.errors import InputError
from pix2pix_data import add_odd_files, write_pairs

AtoB, BtoA = pairs.PairFormat("AtoB"), pairs.PairFormat("BtoA")


def test_odd_files_are_converted_or_skipped_with_a_warning(tmp_path, caplog):
    root = write_pairs(tmp_path)
    odd = add_odd_files(root / "train")
    with caplog.at_level("WARNING"):
        files = pairs.scan_split(root, "train")
    names = {f.name for f in files}
    assert odd["grey"].name in names and odd["rgba"].name in names
    assert odd["corrupt"].name not in names and odd["not_pair"].name not in names
    log = caplog.text
    assert "corrupt.jpg: unreadable" in log
    assert "square.png: 32x32 is not an [input | target] pair" in log
    for path in (odd["grey"], odd["rgba"]):
        inputs, targets = pairs.load_pair(str(path), 1, 32, AtoB)
        assert inputs.shape == (32, 32, 3) and targets.shape == (32, 32, 3)
        assert -1.0 <= float(tf.reduce_min(inputs)) and float(tf.reduce_max(inputs)) <= 1.0
    grey_inputs, _ = pairs.load_pair(str(odd["grey"]), 1, 32, AtoB)
    np.testing.assert_array_equal(grey_inputs[..., 0], grey_inputs[..., 2])


def test_halves_resized_and_direction(tmp_path):
    root = write_pairs(tmp_path, {"train": 1}, size=32)
    path = tf.constant(str(next((root / "train").iterdir())))
    a, b = pairs.load_pair(path, 1, 16, AtoB)
    b2, a2 = pairs.load_pair(path, 1, 16, BtoA)
    assert a.shape == (16, 16, 3)
    np.testing.assert_array_equal(a, a2)
    np.testing.assert_array_equal(b, b2)
    same_size, _ = pairs.load_pair(path, 1, 32, AtoB)
    raw = tf.io.decode_png(tf.io.read_file(path))
    np.testing.assert_allclose(same_size, tf.cast(raw[:, :32], tf.float32) / 127.5 - 1, atol=1e-6)


def test_training_flip_is_the_same_for_both_halves(tmp_path):
    root = write_pairs(tmp_path, {"train": 8})
    files = pairs.scan_split(root, "train")
    plain = pairs.pairs_dataset(files, 32, 4, AtoB, training=False)
    as_is, mirrored = {}, {}
    for inputs, targets in plain.unbatch():
        as_is[targets.numpy().tobytes()] = inputs.numpy()
        mirrored[targets.numpy()[:, ::-1].tobytes()] = inputs.numpy()[:, ::-1]
    seen = {"as_is": 0, "mirrored": 0}
    augmented = pairs.pairs_dataset(files, 32, 4, AtoB, training=True)
    for inputs, targets in augmented.unbatch().take(64):
        key = targets.numpy().tobytes()
        kind = "as_is" if key in as_is else "mirrored"
        expected = (as_is if kind == "as_is" else mirrored).get(key)
        assert expected is not None, "target is neither an original nor its mirror"
        np.testing.assert_array_equal(inputs.numpy(), expected)  # input flipped with it
        seen[kind] += 1
    assert seen["as_is"] > 0 and seen["mirrored"] > 0
    assert all(b[0].shape == (4, 32, 32, 3) for b in augmented.take(3))


def test_a_pair_stored_turned_is_used_upright(tmp_path, caplog):
    root = write_pairs(tmp_path, {"train": 1})
    [upright] = pairs.scan_split(root, "train")
    picture = image_io.read_rgb(upright)
    # A phone held sideways: 32 wide, 64 high on disk, EXIF 6 turns it to 64 x 32.
    turned = write_oriented(root / "train" / "turned.png", picture, 6)
    with caplog.at_level("WARNING"):
        files = pairs.scan_split(root, "train")
    assert turned in files and not caplog.records  # a pair, not "32x64 is not a pair"

    left, right = (t.numpy() for t in pairs.load_pair(str(upright), 1, 16, AtoB))
    shown = [(left, right), (left[:, ::-1], right[:, ::-1])]  # as is, or flipped together
    batches = {
        "validation": pairs.pairs_dataset([turned], 16, 1, AtoB, training=False),
        "training": pairs.pairs_dataset([turned], 16, 1, AtoB, training=True).take(4),
        "prediction": ((x, y) for x, y, _ in pairs.named_pair_batches([turned], 16, 1, AtoB)),
    }
    for name, batch in batches.items():
        for inputs, targets in batch:
            inputs, targets = np.asarray(inputs)[0], np.asarray(targets)[0]
            assert any(np.array_equal(inputs, x) and np.array_equal(targets, y)
                       for x, y in shown), name


def test_training_data_and_samples(tmp_path):
    root = write_pairs(tmp_path)
    train_data = Pix2Pix().training_data(tiny_configs.pix2pix(root))
    assert train_data.steps_per_epoch == 2
    inputs, targets = train_data.sample
    assert inputs.shape == (2, 32, 32, 3) and targets.shape == (2, 32, 32, 3)
    assert train_data.validation is not None


@pytest.mark.parametrize("problem,message", [
    ("missing", r"train: no such folder"),
    ("empty", r"no usable \[input \| target\] images \(found 0"),
    ("only_bad", r"no usable .* \(found 2 PNG/JPEG files"),
    ("odd_size", r"--image_size=30: must be a multiple of 4, at least 8, for the pix2pix model"),
    ("small", r"fewer than one batch \(--batch_size=4\)"),
])
def test_clear_errors(tmp_path, problem, message):
    root = tmp_path / "data"
    size = 32
    if problem == "empty":
        (root / "train").mkdir(parents=True)
    elif problem == "only_bad":
        (root / "train").mkdir(parents=True)
        files = add_odd_files(root / "train")
        files["grey"].unlink()
        files["rgba"].unlink()
    elif problem == "odd_size":
        write_pairs(root)
        size = 30
    elif problem == "small":
        write_pairs(root, {"train": 3})
    with pytest.raises(InputError, match=message):
        Pix2Pix().training_data(tiny_configs.pix2pix(root, image_size=size))
