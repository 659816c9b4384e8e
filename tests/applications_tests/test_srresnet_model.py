"""The SRResNet generator of applications/srresnet/model.py and its pixel shuffle
(spl_tf.layers.PixelShuffle)."""

import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from applications.srresnet.model import build_srresnet
from backend_utils import jax_env
from spl_tf.layers import PixelShuffle

ROOT = Path(__file__).resolve().parents[2]
SMALL = dict(num_blocks=2, filters=4)


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _images(n, h=6, w=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(n, h, w, 3)).astype("float32")


def _layers_of(model, cls):
    return [layer for layer in model.layers if isinstance(layer, cls)]


def _randomise_state(model, seed):
    """Non-zero PReLU slopes and non-trivial BN moving statistics."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.PReLU):
            a = layer.alpha
            a.assign(rng.uniform(0.05, 0.5, size=a.shape).astype("float32"))
        elif isinstance(layer, keras.layers.BatchNormalization):
            c = layer.moving_mean.shape
            layer.moving_mean.assign(rng.normal(0, 0.3, c).astype("float32"))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, c).astype("float32"))
            layer.beta.assign(rng.normal(0, 0.1, c).astype("float32"))


# --- architecture ---------------------------------------------------------


def test_trainable_parameter_count_default():
    model = build_srresnet()
    assert _trainable_count(model) == 1_546_435
    assert model.input_shape == (None, None, None, 3)
    assert model.output_shape == (None, None, None, 3)


def test_layer_settings():
    model = build_srresnet(scale=4, num_blocks=2, filters=8)
    prelus = _layers_of(model, keras.layers.PReLU)
    # input, one per residual block, two upsampling stages.
    assert len(prelus) == 1 + 2 + 2
    for layer in prelus:
        alpha = _np(layer.alpha)
        assert alpha.shape == (1, 1, 8)
        np.testing.assert_array_equal(alpha, 0.0)

    bns = _layers_of(model, keras.layers.BatchNormalization)
    assert len(bns) == 2 * 2 + 1
    for layer in bns:
        assert layer.gamma is None and not layer.scale and layer.center
        assert layer.epsilon == pytest.approx(1e-3)
        assert layer.momentum == pytest.approx(0.9)
        assert len(layer.trainable_weights) == 1  # beta only

    convs = {layer.name: layer for layer in _layers_of(model, keras.layers.Conv2D)}
    no_bias = [n for n in convs if n.startswith("res")] + ["body_conv"]
    assert len(no_bias) == 2 * 2 + 1
    for name in no_bias:
        assert not convs[name].use_bias and convs[name].bias is None
        assert convs[name].kernel.shape == (3, 3, 8, 8)
    for name in ("input_conv", "up1_conv", "up2_conv", "output_conv"):
        assert convs[name].use_bias
        np.testing.assert_array_equal(_np(convs[name].bias), 0.0)
    assert convs["input_conv"].kernel.shape == (9, 9, 3, 8)
    assert convs["up1_conv"].kernel.shape == (3, 3, 8, 32)
    assert convs["output_conv"].kernel.shape == (9, 9, 8, 3)
    for conv in convs.values():
        assert isinstance(conv.kernel_initializer, keras.initializers.GlorotUniform)

    x3 = build_srresnet(scale=3, num_blocks=1, filters=8)
    up = x3.get_layer("up1_conv")
    assert up.kernel.shape == (3, 3, 8, 72)
    assert x3.get_layer("up1_pixel_shuffle").block_size == 3
    with pytest.raises(ValueError):
        x3.get_layer("up2_conv")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(scale=5), "scale"),
        (dict(scale=1), r"\(2, 3, 4\)"),
        (dict(scale=True), "scale"),
        (dict(num_blocks=0), "num_blocks"),
        (dict(num_blocks=2.5), "num_blocks"),
        (dict(filters=0), "filters"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_srresnet(**kwargs)


def test_forward_matches_tf_reference():
    """The whole wiring against a direct tf.nn implementation of the paper's
    architecture (inference mode), with non-trivial PReLU/BN state."""
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("reference uses TensorFlow ops")
    keras.utils.set_random_seed(3)
    model = build_srresnet(scale=4, num_blocks=2, filters=4)
    _randomise_state(model, seed=4)
    x = _images(2, 5, 7, seed=5)

    def w(name, attr):
        return _np(getattr(model.get_layer(name), attr))

    def conv(t, name):
        out = tf.nn.conv2d(t, w(name, "kernel"), 1, "SAME")
        layer = model.get_layer(name)
        return out + _np(layer.bias) if layer.use_bias else out

    def prelu(t, name):
        return tf.maximum(t, 0.0) + w(name, "alpha") * tf.minimum(t, 0.0)

    def bn(t, name):
        mean, var = w(name, "moving_mean"), w(name, "moving_variance")
        return (t - mean) / np.sqrt(var + 1e-3) + w(name, "beta")

    t = prelu(conv(x, "input_conv"), "input_prelu")
    skip = t
    for i in (1, 2):
        y = prelu(bn(conv(t, f"res{i}_conv1"), f"res{i}_bn1"), f"res{i}_prelu")
        t = t + bn(conv(y, f"res{i}_conv2"), f"res{i}_bn2")
    t = skip + bn(conv(t, "body_conv"), "body_bn")
    for i in (1, 2):
        t = prelu(tf.nn.depth_to_space(conv(t, f"up{i}_conv"), 2), f"up{i}_prelu")
    expected = tf.tanh(conv(t, "output_conv")).numpy()

    got = _np(model(x, training=False))
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-5)


# --- shapes and dtypes ----------------------------------------------------


@pytest.mark.parametrize("scale, h, w", [(2, 5, 7), (3, 6, 4), (4, 3, 8), (4, 7, 5)])
def test_output_shape_and_range(scale, h, w):
    model = build_srresnet(scale=scale, **SMALL)
    out = _np(model(_images(2, h, w), training=False))
    assert out.shape == (2, scale * h, scale * w, 3)
    assert out.dtype == np.float32
    assert np.all(np.abs(out) < 1.0)
    assert np.std(out) > 0


def test_float32_output_under_mixed_precision():
    try:
        keras.mixed_precision.set_dtype_policy("mixed_bfloat16")
        model = build_srresnet(scale=4, **SMALL)
        assert model.get_layer("input_conv").compute_dtype == "bfloat16"
        out = model(_images(1, 4, 6), training=False)
        assert keras.backend.standardize_dtype(out.dtype) == "float32"
        out = _np(out)
        assert out.shape == (1, 16, 24, 3)
        assert np.all(np.abs(out) < 1.0)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")


# --- pixel shuffle --------------------------------------------------------


@pytest.mark.parametrize("r, c_out", [(2, 3), (3, 2), (2, 5)])
def test_pixel_shuffle_equals_depth_to_space(r, c_out):
    tf = pytest.importorskip("tensorflow")
    if keras.backend.backend() != "tensorflow":
        pytest.skip("compares against tf.nn.depth_to_space")
    x = np.random.default_rng(r).normal(size=(2, 3, 4, r * r * c_out)).astype("float32")
    got = _np(PixelShuffle(r)(x))
    expected = tf.nn.depth_to_space(x, r).numpy()
    assert got.shape == (2, 3 * r, 4 * r, c_out)
    np.testing.assert_array_equal(got, expected)


def test_pixel_shuffle_index_formula():
    r, c_out = 3, 2
    x = np.arange(1 * 2 * 2 * r * r * c_out, dtype="float32").reshape(1, 2, 2, -1)
    out = _np(PixelShuffle(r)(x))
    for h in range(2):
        for w in range(2):
            for i in range(r):
                for j in range(r):
                    for c in range(c_out):
                        assert out[0, h * r + i, w * r + j, c] == x[
                            0, h, w, (i * r + j) * c_out + c
                        ]


def test_pixel_shuffle_config_round_trip():
    layer = PixelShuffle(3, name="ps")
    config = layer.get_config()
    assert config["block_size"] == 3
    clone = PixelShuffle.from_config(config)
    assert clone.block_size == 3 and clone.name == "ps"
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(layer)
    )
    assert isinstance(restored, PixelShuffle) and restored.block_size == 3
    x = np.random.default_rng(0).normal(size=(1, 2, 3, 18)).astype("float32")
    np.testing.assert_array_equal(_np(restored(x)), _np(layer(x)))
    assert restored.compute_output_shape((None, 2, None, 18)) == (None, 6, None, 2)
    with pytest.raises(ValueError, match="block_size"):
        PixelShuffle(0)
    with pytest.raises(ValueError, match="divisible"):
        PixelShuffle(2)(np.zeros((1, 2, 2, 6), "float32"))
    # Registered under the library's package, so a model using it loads after `import spl_tf`.
    assert keras.saving.get_registered_name(PixelShuffle) == "spl_tf>PixelShuffle"
    assert keras.saving.get_registered_object("spl_tf>PixelShuffle") is PixelShuffle


# --- batch norm modes and saving -------------------------------------------


def test_inference_is_independent_of_batch():
    keras.utils.set_random_seed(6)
    model = build_srresnet(scale=2, **SMALL)
    before = [_np(w) for w in model.non_trainable_weights]
    # One training-mode step moves the moving statistics off (0, 1).
    model(_images(4, seed=7) * 3.0 + 0.5, training=True)
    after = [_np(w) for w in model.non_trainable_weights]
    assert len(after) == 2 * 5  # moving mean and variance of 5 BN layers
    assert all(np.abs(a - b).max() > 1e-3 for a, b in zip(after, before, strict=True))

    batch = _images(4, seed=8)
    batch[1:] *= 5.0  # very different companions
    together = _np(model(batch, training=False))
    alone = _np(model(batch[:1], training=False))
    np.testing.assert_allclose(together[:1], alone, atol=1e-5, rtol=0)
    # Whereas training mode (batch statistics) does depend on the batch.
    t_together = _np(model(batch, training=True))
    t_alone = _np(model(batch[:2], training=True))
    assert np.abs(t_together[:1] - t_alone[:1]).max() > 1e-4


def test_keras_save_load_round_trip(tmp_path):
    keras.utils.set_random_seed(9)
    model = build_srresnet(scale=3, **SMALL)
    _randomise_state(model, seed=10)
    path = tmp_path / "srresnet.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded.get_layer("up1_pixel_shuffle"), PixelShuffle)
    assert loaded.get_layer("up1_pixel_shuffle").block_size == 3
    x = _images(2, 4, 5, seed=11)
    np.testing.assert_array_equal(
        _np(loaded(x, training=False)), _np(model(x, training=False))
    )


# --- JAX backend ----------------------------------------------------------


def test_builds_and_runs_under_jax():
    script = textwrap.dedent(
        """
        import numpy as np
        import keras
        assert keras.backend.backend() == "jax"
        from applications.srresnet.model import build_srresnet
        from spl_tf.layers import PixelShuffle
        model = build_srresnet(scale=4, num_blocks=1, filters=4)
        out = model(np.zeros((2, 3, 5, 3), "float32"), training=False)
        assert tuple(out.shape) == (2, 12, 20, 3), out.shape
        assert str(out.dtype) == "float32", out.dtype
        x = np.arange(2 * 3 * 12, dtype="float32").reshape(1, 2, 3, 12)
        got = np.asarray(PixelShuffle(2)(x))
        want = x.reshape(1, 2, 3, 2, 2, 3).transpose(0, 1, 3, 2, 4, 5)
        np.testing.assert_array_equal(got, want.reshape(1, 4, 6, 3))
        print("JAX_OK")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT, env=jax_env(), capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "JAX_OK" in result.stdout
