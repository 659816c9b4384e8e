"""The ResNet-9-blocks generator of applications/common/resnet_generator.py, its layers
(spl_tf.layers) and the makeup generator's reference skip (applications/makeup/model.py)."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from backend_utils import jax_env

ROOT = Path(__file__).resolve().parents[2]

from applications.common.resnet_generator import (  # noqa: E402
    SIZE_MULTIPLE,
    build_generator,
)
from applications.makeup.model import build_makeup_generator  # noqa: E402
from spl_tf.layers import (  # noqa: E402
    BatchStatsNormalization,
    ChannelSlice,
    ReflectionPadding2D,
)

SMALL_NGF = 4


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _images(n, h=32, w=32, c=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(n, h, w, c)).astype("float32")


def _moving_stats(model):
    return [_np(w) for w in model.non_trainable_weights]


@pytest.fixture(scope="module")
def batch_stats_model():
    keras.utils.set_random_seed(1)
    return build_generator(ngf=SMALL_NGF, batch_stats_at_inference=True)


@pytest.fixture(scope="module")
def standard_model():
    keras.utils.set_random_seed(2)
    model = build_generator(ngf=SMALL_NGF, batch_stats_at_inference=False)
    # Move the moving statistics off their initial values (0 and 1).
    for seed in range(3):
        model(_images(4, seed=10 + seed), training=True)
    return model


# --- architecture ---------------------------------------------------------


def test_trainable_parameter_count_default():
    model = build_generator()
    assert _trainable_count(model) == 11_388_675
    # Initialisers: conv kernels TruncatedNormal(0, 0.02) (cut at 2 std),
    # biases zero; instance-norm scale around 1.
    kernel = _np(model.get_layer("res5_conv1").kernel)
    # A normal(0, 0.02) cut at 2 std has std 0.02 * 0.8796.
    assert abs(kernel.std() - 0.02 * 0.8796) < 0.0005
    assert np.abs(kernel).max() <= 0.04 + 1e-6
    assert not _np(model.get_layer("res5_conv1").bias).any()
    gamma = _np(model.get_layer("up1_instance_norm").gamma)
    assert np.abs(gamma - 1.0).max() <= 0.04 + 1e-6 and gamma.std() > 0


def test_trainable_parameter_count_reference_skip():
    model = build_makeup_generator(ngf=64)
    assert _trainable_count(model) == 11_398_083
    # The skip itself has no weights: 11,388,675 + the 3 extra input channels
    # of the first 7x7 conv (7 * 7 * 3 * 64).
    assert _trainable_count(model) == 11_388_675 + 7 * 7 * 3 * 64


def test_fewer_residual_blocks():
    """Each block is two 3x3 convs at 4*ngf with their batch norms; the rest is shared."""
    one, nine = build_generator(ngf=8, num_blocks=1), build_generator(ngf=8)
    block = 2 * (3 * 3 * 32 * 32 + 32) + 2 * 2 * 32  # two convs, two batch norms (gamma, beta)
    assert _trainable_count(nine) - _trainable_count(one) == 8 * block
    assert (one.name, nine.name) == ("resnet1_generator", "resnet9_generator")
    assert [l.name for l in one.layers if l.name.endswith("_out")] == ["res1_out"]
    out = one(_images(2, 16, 16), training=False)
    assert tuple(out.shape) == (2, 16, 16, 3)
    makeup = build_makeup_generator(ngf=8, num_blocks=2)
    assert _trainable_count(makeup) == _trainable_count(one) + block + 7 * 7 * 3 * 8


def test_layer_structure():
    model = build_generator(ngf=8)
    convs = [l for l in model.layers if type(l) is keras.layers.Conv2D]
    assert [(l.kernel_size, l.strides, l.padding, l.filters) for l in convs[:3]] == [
        ((7, 7), (1, 1), "valid", 8),
        ((3, 3), (2, 2), "same", 16),
        ((3, 3), (2, 2), "same", 32),
    ]
    last = model.get_layer("last_conv")
    assert (last.kernel_size, last.padding, last.filters) == ((7, 7), "same", 3)
    deconvs = [l for l in model.layers if isinstance(l, keras.layers.Conv2DTranspose)]
    assert [(l.strides, l.padding, l.filters) for l in deconvs] == [
        ((2, 2), "same", 16),
        ((2, 2), "same", 8),
    ]
    bns = [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]
    assert len(bns) == 1 + 2 + 2 * 9
    assert all(
        (l.momentum, l.epsilon, l.scale, l.center) == (0.9, 1e-5, True, True)
        for l in bns
    )
    assert all(isinstance(l, BatchStatsNormalization) for l in bns)
    pads = [l for l in model.layers if isinstance(l, ReflectionPadding2D)]
    assert sorted(l.padding for l in pads) == [1] * 18 + [3]
    # Two stride-2 downsamplings: sizes must be multiples of 4.
    assert SIZE_MULTIPLE == 4


def test_layers_are_registered_under_spl_tf():
    for cls in (BatchStatsNormalization, ReflectionPadding2D, ChannelSlice):
        assert keras.saving.get_registered_name(cls) == f"spl_tf>{cls.__name__}"
        assert keras.saving.get_registered_object(f"spl_tf>{cls.__name__}") is cls


def test_reflection_padding_matches_numpy():
    x = _images(2, 5, 6, 3)
    got = _np(ReflectionPadding2D(3)(x))
    want = np.pad(x, [(0, 0), (3, 3), (3, 3), (0, 0)], mode="reflect")
    np.testing.assert_array_equal(got, want)


def test_instance_norm_is_per_image_per_channel():
    model = build_generator(ngf=SMALL_NGF)
    layer = model.get_layer("up2_instance_norm")
    assert layer.groups == SMALL_NGF
    x = _images(3, 8, 10, SMALL_NGF, seed=3) * np.arange(1, SMALL_NGF + 1) + 2.0
    got = _np(layer(x))
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    want = (x - mean) / np.sqrt(var + 1e-5) * _np(layer.gamma) + _np(
        layer.beta
    )
    np.testing.assert_allclose(got, want, atol=1e-4)


# --- forward pass ---------------------------------------------------------


@pytest.mark.parametrize("h, w", [(32, 32), (36, 44), (256, 256)])
def test_output_shape_and_range(batch_stats_model, h, w):
    x = _images(2, h, w)
    y = _np(batch_stats_model(x, training=False))
    assert y.shape == x.shape
    assert y.dtype == np.float32
    assert np.all(np.abs(y) < 1.0)
    assert y.std() > 0


def test_batch_stats_mode_depends_on_batch(batch_stats_model):
    a, b, c = _images(3, seed=4)
    before = _moving_stats(batch_stats_model)
    y_ab = batch_stats_model.predict(np.stack([a, b]), verbose=0)
    y_ac = batch_stats_model.predict(np.stack([a, c]), verbose=0)
    assert np.abs(y_ab[0] - y_ac[0]).max() > 1e-4
    for old, new in zip(before, _moving_stats(batch_stats_model), strict=True):
        np.testing.assert_array_equal(old, new)
    # Same normalisation as in training, which does update the statistics.
    x = np.stack([a, b])
    y_train = _np(batch_stats_model(x, training=True))
    np.testing.assert_allclose(y_train, y_ab, atol=1e-5)
    changed = [
        not np.array_equal(o, n)
        for o, n in zip(before, _moving_stats(batch_stats_model), strict=True)
    ]
    assert all(changed)


def test_standard_mode_does_not_depend_on_batch(standard_model):
    a, b, c = _images(3, seed=5)
    before = _moving_stats(standard_model)
    y_ab = standard_model.predict(np.stack([a, b]), verbose=0)
    y_ac = standard_model.predict(np.stack([a, c]), verbose=0)
    np.testing.assert_allclose(y_ab[0], y_ac[0], atol=1e-5)
    for old, new in zip(before, _moving_stats(standard_model), strict=True):
        np.testing.assert_array_equal(old, new)


def test_batch_stats_layer_matches_batch_normalization():
    x = _images(4, 6, 5, 3, seed=6) * np.array([1.0, 2.0, 3.0]) + 0.5
    kwargs = dict(momentum=0.9, epsilon=1e-5)
    ours, ref = BatchStatsNormalization(**kwargs), keras.layers.BatchNormalization(
        **kwargs
    )
    ours.build(x.shape), ref.build(x.shape)
    gamma, beta = np.array([0.5, 1.5, -1.0]), np.array([0.1, -0.2, 0.3])
    for layer in (ours, ref):
        layer.gamma.assign(gamma)
        layer.beta.assign(beta)
    # Inference: the batch's statistics, moving statistics untouched.
    got = _np(ours(x, training=False))
    mean, var = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(
        got, (x - mean) / np.sqrt(var + 1e-5) * gamma + beta, atol=1e-5
    )
    np.testing.assert_array_equal(_np(ours.moving_mean), np.zeros(3))
    np.testing.assert_array_equal(_np(ours.moving_variance), np.ones(3))
    # Training: exactly BatchNormalization(training=True).
    np.testing.assert_allclose(
        _np(ours(x, training=True)), _np(ref(x, training=True)), atol=1e-6
    )
    np.testing.assert_allclose(_np(ours.moving_mean), 0.1 * mean, atol=1e-6)
    np.testing.assert_allclose(
        _np(ours.moving_mean), _np(ref.moving_mean), atol=1e-7
    )
    np.testing.assert_allclose(
        _np(ours.moving_variance), _np(ref.moving_variance), atol=1e-7
    )
    # Config round trip.
    config = keras.saving.serialize_keras_object(ours)
    clone = keras.saving.deserialize_keras_object(config)
    assert type(clone) is BatchStatsNormalization
    assert clone.get_config() == ours.get_config()


# --- reference skip -------------------------------------------------------


def test_reference_skip_output_is_tanh_of_reference_plus_last_conv():
    keras.utils.set_random_seed(7)
    model = build_makeup_generator(ngf=SMALL_NGF)
    assert model.name == "makeup_generator"
    reference = model.get_layer("reference")
    assert isinstance(reference, ChannelSlice)
    assert (reference.start, reference.stop) == (3, 6)
    x = _images(2, 32, 36, 6, seed=8)
    pre = keras.Model(model.input, model.get_layer("last_conv").output)
    np.testing.assert_allclose(
        _np(model(x)), np.tanh(x[..., 3:6] + _np(pre(x))), atol=1e-5
    )
    last = model.get_layer("last_conv")
    last.kernel.assign(np.zeros(last.kernel.shape))
    last.bias.assign(np.zeros(last.bias.shape))
    np.testing.assert_allclose(_np(model(x)), np.tanh(x[..., 3:6]), atol=1e-6)


def test_reference_skip_needs_six_channels():
    # The makeup generator always takes [source, warped reference]: 6 channels.
    model = build_makeup_generator(ngf=SMALL_NGF)
    assert model.input_shape == (None, None, None, 6)
    assert model.output_shape == (None, None, None, 3)
    with pytest.raises(ValueError, match=r"expected shape=\(None, None, None, 6\)"):
        model(_images(1, 32, 32, 3))
    with pytest.raises(ValueError, match="start < stop"):
        ChannelSlice(3, 3)


@pytest.mark.parametrize(
    "kwargs, word",
    [({"ngf": 0}, "ngf"), ({"input_channels": 0}, "input_channels"),
     ({"num_blocks": 0}, "num_blocks"), ({"num_blocks": 2.5}, "num_blocks")],
)
def test_invalid_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        build_generator(**kwargs)


def test_invalid_makeup_ngf():
    with pytest.raises(ValueError, match="ngf"):
        build_makeup_generator(ngf=0)


# --- saving, mixed precision, JAX -----------------------------------------


@pytest.mark.parametrize("mode", ["batch_stats", "standard", "reference_skip"])
def test_keras_save_load_round_trip(
    mode, batch_stats_model, standard_model, tmp_path
):
    if mode == "reference_skip":
        keras.utils.set_random_seed(9)
        model = build_makeup_generator(ngf=SMALL_NGF)
    else:
        model = batch_stats_model if mode == "batch_stats" else standard_model
    x = _images(2, 36, 44, model.input.shape[-1], seed=11)
    path = tmp_path / f"{mode}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(
        _np(loaded(x, training=False)), _np(model(x, training=False))
    )
    # The compiled predict paths may fuse differently: close, not bit-exact.
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5
    )
    assert [type(l) for l in loaded.layers] == [type(l) for l in model.layers]


@pytest.fixture
def mixed_bfloat16():
    old = keras.mixed_precision.dtype_policy()
    keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_dtype_policy(old)


def test_mixed_precision_output_is_float32(mixed_bfloat16):
    model = build_makeup_generator(ngf=SMALL_NGF)
    assert model.get_layer("res1_conv1").compute_dtype == "bfloat16"
    y = model(_images(2, 32, 32, 6), training=True)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert y.shape == (2, 32, 32, 3)
    assert np.all(np.isfinite(_np(y)))


@pytest.mark.skipif(
    keras.backend.backend() == "jax", reason="already running under JAX"
)
def test_under_jax_backend(tmp_path):
    script = textwrap.dedent(
        """
        import numpy as np, keras
        assert keras.backend.backend() == "jax"
        from applications.makeup.model import build_makeup_generator
        # One model covers every custom layer (reflect pad, batch-stats BN,
        # channel slice of the reference skip).
        m = build_makeup_generator(ngf=4)
        x = np.random.default_rng(0).uniform(-1, 1, (3, 36, 44, 6)).astype("float32")
        y = np.asarray(m(x[:2]))
        assert y.shape == (2, 36, 44, 3) and np.all(np.abs(y) < 1)
        y2 = np.asarray(m(x[[0, 2]]))
        assert np.abs(y[0] - y2[0]).max() > 1e-4
        m.save("{path}")
        np.testing.assert_array_equal(
            np.asarray(keras.models.load_model("{path}")(x[:2])), y)
        print("JAX OK")
        """
    ).format(path=tmp_path / "jax.keras")
    env = {
        **jax_env(),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "JAX OK" in result.stdout
