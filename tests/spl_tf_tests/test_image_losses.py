"""The losses on images through VGG features, and LSeSim's step.

Random VGG weights throughout (`weights=None`): nothing is downloaded. The
feature-level functions are checked against the originals' golden values in
`test_contextual.py` and `test_sesim.py`; here the image-level losses must
equal those functions applied to the extractor's maps, and work in Keras.
"""

import keras
import numpy as np
import pytest

from backend_utils import check_all_passed, rerun_under_jax, value_and_grads
from spl_tf import (ContextualLoss, FSeSimLoss, LSeSim, PerceptualLoss, StyleLoss,
                    contextual_loss)
from spl_tf.contextual import crop_quarters
from spl_tf.sesim import spatial_correlative_loss

TF_ONLY = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                             reason="TensorFlow-backend integration")


def _images(n=2, size=32, seed=0):
    rng = np.random.default_rng(seed)
    y_true = rng.uniform(-1, 1, (n, size, size, 3)).astype("float32")
    y_pred = np.clip(y_true + 0.5 * rng.normal(size=y_true.shape), -1, 1).astype("float32")
    return y_true, y_pred


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


# --- Contextual -------------------------------------------------------------


@pytest.mark.parametrize("distance,band_width", [("cosine", 0.5), ("l2", 1.0)])
def test_contextual_loss_is_the_weighted_sum_over_layers(distance, band_width):
    loss = ContextualLoss(("conv1_2", "conv2_2"), distance=distance, band_width=band_width,
                          layer_weights=(1.0, 0.25), max_positions_1d=None, weights=None,
                          reduction=None)
    y_true, y_pred = _images(size=16)
    ft, fp = loss.extractor(y_true), loss.extractor(y_pred)
    expected = (_numpy(contextual_loss(ft["conv1_2"], fp["conv1_2"], distance, band_width))
                + 0.25 * _numpy(contextual_loss(ft["conv2_2"], fp["conv2_2"], distance,
                                                band_width)))
    np.testing.assert_allclose(_numpy(loss(y_true, y_pred)), expected, rtol=1e-5)
    assert np.all(_numpy(loss(y_true, y_true)) < 1e-3)


def test_contextual_defaults_are_the_originals():
    loss = ContextualLoss(weights=None)
    assert loss.layers == ("conv3_2", "conv4_2") and loss.layer_weights == (1.0, 1.0)
    assert (loss.distance, loss.band_width, loss.max_positions_1d) == ("cosine", 0.5, 65)
    assert loss.network == "vgg19" and loss.pooling == "avg" and not loss.crop_quarters


def test_contextual_crop_quarters_averages_the_quarters():
    loss = ContextualLoss(("conv1_1",), crop_quarters=True, max_positions_1d=None,
                          weights=None, reduction=None)
    y_true, y_pred = _images(size=16)
    ft, fp = loss.extractor(y_true)["conv1_1"], loss.extractor(y_pred)["conv1_1"]
    per_quarter = _numpy(contextual_loss(crop_quarters(ft), crop_quarters(fp)))
    np.testing.assert_allclose(_numpy(loss(y_true, y_pred)),
                               per_quarter.reshape(4, 2).mean(axis=0), rtol=1e-5)


def test_contextual_sampling_is_seeded_and_bounded():
    y_true, y_pred = _images(size=16)  # conv1_1: 256 positions

    def value(seed, max_positions_1d=6):
        keras.utils.set_random_seed(0)  # the same random VGG weights each time
        return _numpy(ContextualLoss(("conv1_1",), max_positions_1d=max_positions_1d, seed=seed,
                                     weights=None, reduction=None)(y_true, y_pred))

    values = [value(seed) for seed in (3, 3, 4)]
    np.testing.assert_array_equal(values[0], values[1])
    assert not np.array_equal(values[0], values[2])
    assert np.all(values[0] <= np.log(36) + 1e-5)  # at most log(P) with P = 6 * 6 sampled
    # 16 * 16 = all positions: nothing is sampled.
    np.testing.assert_allclose(value(0, 16), value(0, None), rtol=1e-6)


def test_contextual_refuses_maps_too_large_without_sampling():
    loss = ContextualLoss(("conv1_1",), max_positions_1d=None, weights=None)
    image = np.zeros((1, 160, 160, 3), "float32")  # 25,600 positions: 6.6e8 pairs
    with pytest.raises(ValueError, match="sample_positions"):
        loss(image, image)


def test_contextual_all_zero_images_are_finite():
    """The original divides 0 by 0 here; the guard in `contextual_loss` keeps it finite."""
    loss = ContextualLoss(("conv1_1", "conv2_1"), weights=None, reduction="sum")
    zeros = np.full((2, 16, 16, 3), -1.0, "float32")  # VGG input 0 minus the means
    value, grads = value_and_grads(loss, zeros, zeros)
    assert np.isfinite(value) and all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("kwargs,match", [
    (dict(distance="dot"), "distance must be"),
    (dict(band_width=0.0), "band_width"),
    (dict(max_positions_1d=0), "max_positions_1d"),
    (dict(layers=("conv9_1",)), "unknown vgg19 layers"),
])
def test_contextual_argument_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ContextualLoss(weights=None, **kwargs)


# --- Spatially-Correlative ------------------------------------------------------


@pytest.mark.parametrize("mode,normalize", [("cos", False), ("l1", True)])
def test_fsesim_is_the_mean_over_layers(mode, normalize):
    layers = ("relu2_1", "relu3_1")
    loss = FSeSimLoss(layers, mode=mode, normalize=normalize, patch_size=3, num_queries=None,
                      weights=None, reduction=None)
    y_true, y_pred = _images(n=1, size=32)
    ft, fp = loss.extractor(y_true), loss.extractor(y_pred)
    expected = np.mean([_numpy(spatial_correlative_loss(ft[l], fp[l], mode=mode, patch_size=3,
                                                        normalize=normalize)) for l in layers])
    np.testing.assert_allclose(_numpy(loss(y_true, y_pred)), [expected], rtol=1e-5)


def test_fsesim_defaults_are_the_originals():
    loss = FSeSimLoss(weights=None)
    assert loss.layers == ("relu3_1", "relu4_1", "relu4_3") and loss.network == "vgg16"
    assert (loss.mode, loss.patch_size, loss.num_queries, loss.normalize) == ("cos", 64, 256,
                                                                              False)
    np.testing.assert_allclose(loss.layer_weights, [1 / 3] * 3)


def test_fsesim_query_sampling_is_seeded():
    y_true, y_pred = _images(n=2, size=32)  # relu3_1: 64 positions, 8 queries drawn

    def value(seed):
        keras.utils.set_random_seed(0)  # the same random VGG weights each time
        return _numpy(FSeSimLoss(("relu3_1",), num_queries=8, seed=seed, weights=None,
                                 reduction=None)(y_true, y_pred))

    np.testing.assert_array_equal(value(1), value(1))
    assert not np.array_equal(value(1), value(2))
    assert np.all(_numpy(FSeSimLoss(weights=None, reduction=None)(y_true, y_true)) < 1e-6)


def test_fsesim_errors():
    with pytest.raises(ValueError, match="LSeSim.head_loss"):
        FSeSimLoss(mode="info", weights=None)
    with pytest.raises(ValueError, match="num_queries"):
        FSeSimLoss(num_queries=0, weights=None)
    with pytest.raises(ValueError, match=r"RGB images .*\(2, 32, 32, 1\)"):
        FSeSimLoss(weights=None)(np.zeros((2, 32, 32, 1), "float32"),
                                 np.zeros((2, 32, 32, 1), "float32"))


# --- Keras integration ------------------------------------------------------------


LOSSES = {
    "perceptual": lambda: PerceptualLoss(("block1_conv2",), weights=None),
    "style": lambda: StyleLoss(("block1_conv2",), weights=None),
    "contextual": lambda: ContextualLoss(("conv2_2",), max_positions_1d=6, seed=0, weights=None),
    "fsesim": lambda: FSeSimLoss(("relu2_1", "relu3_1"), num_queries=16, seed=0, weights=None),
}


@TF_ONLY
@pytest.mark.parametrize("name", LOSSES)
def test_fit_with_jit_and_save_load(name, tmp_path):
    x, y = _images(n=4, size=16)
    model = keras.Sequential([keras.Input((16, 16, 3)),
                              keras.layers.Conv2D(3, 3, padding="same", activation="tanh")])
    loss = LOSSES[name]()
    model.compile(keras.optimizers.Adam(1e-2), loss=loss, jit_compile=True)
    history = model.fit(x, y, batch_size=2, epochs=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    assert type(restored.loss) is type(loss)
    assert restored.loss.get_config() == loss.get_config()


if keras.backend.backend() == "jax":

    def test_fit_on_jax():
        """Every image-level loss drives `fit` on the JAX backend too."""
        x, y = _images(n=4, size=16)
        for make in LOSSES.values():
            model = keras.Sequential([keras.Input((16, 16, 3)),
                                      keras.layers.Conv2D(3, 3, padding="same")])
            model.compile("adam", loss=make(), jit_compile=True)
            assert np.isfinite(model.fit(x, y, batch_size=2, verbose=0).history["loss"][-1])

else:

    @rerun_under_jax(__file__, "-k", "test_fit_on_jax")
    def test_fit_on_jax(jax_rerun):
        """The test of the same name, run on the JAX backend."""
        check_all_passed(jax_rerun, 1)


# --- LSeSim -------------------------------------------------------------------------


def test_lsesim_holds_only_its_heads_trainable_and_reloads():
    lsesim = LSeSim(("relu2_1", "relu3_1"), weights=None)
    # relu2_1: 128 -> 32 channels, relu3_1: 256 -> 64 (the original's max(32, C // 4)).
    shapes = [tuple(w.shape) for w in lsesim.trainable_weights]
    assert shapes == [(128, 32), (32,), (32, 32), (32,), (256, 64), (64,), (64, 64), (64,)]
    assert all(not w.trainable for w in lsesim.extractor.weights)
    clone = LSeSim.from_config(lsesim.get_config())
    assert clone.get_config() == lsesim.get_config()


@TF_ONLY
def test_lsesim_training_step_alternates_heads_and_generator():
    from lsesim_translation import LSeSimTranslation, small_generator

    def trained(head_lr, generator_lr):
        keras.utils.set_random_seed(0)
        model = LSeSimTranslation(small_generator(32),
                                  LSeSim(("relu2_1", "relu3_1"), weights=None, seed=0))
        before = ([_numpy(w) for w in model.generator.weights],
                  [_numpy(w) for w in model.lsesim.trainable_weights])
        model.compile(keras.optimizers.Adam(generator_lr), keras.optimizers.Adam(head_lr))
        source, other = _images(n=2, size=32)
        logs = model.fit(source, other, batch_size=2, epochs=2, verbose=0).history
        after = ([_numpy(w) for w in model.generator.weights],
                 [_numpy(w) for w in model.lsesim.trainable_weights])
        moved = [any(not np.array_equal(a, b) for a, b in zip(x, y, strict=True))
                 for x, y in zip(before, after, strict=True)]
        return moved, logs

    (generator_moved, heads_moved), logs = trained(head_lr=1e-3, generator_lr=0.0)
    assert heads_moved and not generator_moved
    assert np.all(np.isfinite(logs["head_loss"])) and np.all(np.isfinite(logs["spatial_loss"]))
    (generator_moved, heads_moved), _ = trained(head_lr=0.0, generator_lr=1e-3)
    assert generator_moved and not heads_moved


def test_lsesim_head_loss_holds_the_output_fixed():
    lsesim = LSeSim(("relu2_1",), weights=None, seed=0)
    source, output = _images(n=1, size=16)
    other = _images(n=1, size=16, seed=1)[0]
    _, (_, output_grad) = value_and_grads(lambda s, o: lsesim.head_loss(s, o, other),
                                          source, output)
    _, (_, generator_grad) = value_and_grads(lsesim.generator_loss, source, output)
    assert not np.any(output_grad) and np.any(generator_grad)
