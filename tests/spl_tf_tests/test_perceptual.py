"""VGG feature extractor, perceptual and style losses (random VGG weights: no download)."""

import keras
import numpy as np
import pytest

from spl_tf.features import VGGFeatures, keras_layer_name, preprocess
from spl_tf.perceptual import PerceptualLoss, StyleLoss, gram_matrix

LAYERS = ("block1_conv2", "relu2_1")


def _images(n=2, size=32, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (n, size, size, 3)).astype("float32"),
            rng.uniform(-1, 1, (n, size, size, 3)).astype("float32"))


def test_layer_names_and_preprocessing():
    assert keras_layer_name("conv3_2") == keras_layer_name("relu3_2") == "block3_conv2"
    assert keras_layer_name("block4_conv1") == "block4_conv1"
    x, _ = _images()
    expected = keras.applications.vgg19.preprocess_input((x + 1) * 127.5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(preprocess(x)), expected, atol=1e-4)


def test_extractor_returns_requested_maps_and_stops_early():
    model = VGGFeatures(LAYERS, weights=None)
    x, _ = _images()
    out = model(x)
    assert set(out) == set(LAYERS)
    assert out["block1_conv2"].shape == (2, 32, 32, 64) and out["relu2_1"].shape == (2, 16, 16, 128)
    names = [layer.name for layer in model.layers]
    assert "block2_conv1" in names and "block2_conv2" not in names  # cut after the deepest
    assert not model.trainable_weights and model.non_trainable_weights


def test_average_pooling_option():
    model = VGGFeatures(("block2_conv1",), weights=None, pooling="avg")
    pools = [l for l in model.layers if "pool" in l.name]
    assert pools and all(isinstance(l, keras.layers.AveragePooling2D) for l in pools)


@pytest.mark.parametrize("kwargs,message", [
    (dict(layer_names=("block9_conv1",)), r"unknown vgg19 layers \['block9_conv1'\]"),
    (dict(layer_names=("block1_conv1",), network="vgg11"), r"network must be one of"),
    (dict(layer_names=("block1_conv1",), pooling="min"), r"pooling must be 'max' or 'avg'"),
])
def test_extractor_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        VGGFeatures(weights=None, **kwargs)


@pytest.mark.parametrize("distance", ["l1", "l2"])
def test_perceptual_loss_matches_its_definition(distance):
    loss = PerceptualLoss(LAYERS, distance=distance, layer_weights=(1.0, 0.5), weights=None,
                          reduction=None)
    y_true, y_pred = _images()
    ft, fp = loss.extractor(y_true), loss.extractor(y_pred)
    expected = 0.0
    for layer, weight in zip(LAYERS, (1.0, 0.5), strict=True):
        diff = keras.ops.convert_to_numpy(ft[layer] - fp[layer])
        per = np.abs(diff) if distance == "l1" else diff ** 2
        expected = expected + weight * per.mean(axis=(1, 2, 3))
    np.testing.assert_allclose(loss(y_true, y_pred), expected, rtol=1e-5)
    np.testing.assert_allclose(loss(y_true, y_true), np.zeros(2), atol=1e-7)


def test_style_loss_matches_gram_definition():
    loss = StyleLoss(("block1_conv1",), weights=None, reduction=None)
    y_true, y_pred = _images()
    ft = keras.ops.convert_to_numpy(loss.extractor(y_true)["block1_conv1"]).astype(np.float64)
    fp = keras.ops.convert_to_numpy(loss.extractor(y_pred)["block1_conv1"]).astype(np.float64)

    def gram(f):
        n, h, w, c = f.shape
        flat = f.reshape(n, h * w, c)
        return np.einsum("npc,npd->ncd", flat, flat) / (h * w * c)

    np.testing.assert_allclose(keras.ops.convert_to_numpy(gram_matrix(ft.astype("float32"))),
                               gram(ft), rtol=1e-4)
    expected = ((gram(ft) - gram(fp)) ** 2).mean(axis=(1, 2))
    np.testing.assert_allclose(loss(y_true, y_pred), expected, rtol=1e-4)


def test_errors_before_computing():
    loss = PerceptualLoss(("block1_conv1",), weights=None)
    with pytest.raises(ValueError, match=r"RGB images .*got shape \(2, 8, 8, 1\)"):
        loss(np.zeros((2, 8, 8, 1), "float32"), np.zeros((2, 8, 8, 1), "float32"))
    with pytest.raises(ValueError, match="distance must be"):
        PerceptualLoss(("block1_conv1",), distance="l3", weights=None)
    with pytest.raises(ValueError, match="layer_weights has 1 entries for 2 layers"):
        PerceptualLoss(LAYERS, layer_weights=(1.0,), weights=None)


def test_weights_from_a_local_file_are_the_ones_used(tmp_path):
    """`weights=PATH` (as the README's examples load weights, here without a download):
    the extractor and a loss on it compute with exactly the file's weights."""
    keras.utils.set_random_seed(5)
    saved = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    path = tmp_path / "vgg16_notop.weights.h5"
    saved.save_weights(path)
    x, y = _images(size=16)
    cut = keras.Model(saved.input, saved.get_layer("block2_conv1").output)
    expected = {name: keras.ops.convert_to_numpy(cut(preprocess(images)))
                for name, images in (("x", x), ("y", y))}

    features = VGGFeatures(("relu2_1",), network="vgg16", weights=str(path))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(features(x)["relu2_1"]),
                               expected["x"], rtol=1e-5, atol=1e-4)
    loss = PerceptualLoss(("relu2_1",), network="vgg16", weights=str(path), reduction=None)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(loss(x, y)),
                               np.abs(expected["x"] - expected["y"]).mean(axis=(1, 2, 3)),
                               rtol=1e-5)
    other = PerceptualLoss(("relu2_1",), network="vgg16", weights=None, reduction=None)
    assert not np.allclose(keras.ops.convert_to_numpy(other(x, y)),
                           keras.ops.convert_to_numpy(loss(x, y)))
