"""Behaviour of the losses beyond the golden values: options, errors, safety.

Backend-agnostic; `test_jax_backend.py` reruns it under JAX.
"""

import keras
import numpy as np
import pytest
from keras import ops

from backend_utils import value_and_grads, xla_compiled
from spl_tf import (
    CPL,
    GPL,
    SPL,
    MakeupLoss,
    colour_profile_loss,
    gradient_profile_loss,
    makeup_loss,
    profile_similarity,
    spatial_profile_loss,
)
from spl_tf.profiles import (
    _column_sums,
    _shift_difference,
    image_gradients,
    l2_normalize,
    rgb_to_yuv,
)


def _images(shape=(2, 12, 10, 3), seed=0):
    rng = np.random.default_rng(seed)
    real = rng.uniform(-1, 1, shape).astype("float32")
    fake = np.clip(real + rng.normal(0, 0.3, shape), -1, 1).astype("float32")
    return real, fake


def _direct_sim(a, b):
    """The paper's formulation: normalise, multiply, sum over everything."""
    rows = ops.sum(l2_normalize(a, 2) * l2_normalize(b, 2), axis=(1, 2, 3))
    cols = ops.sum(l2_normalize(a, 1) * l2_normalize(b, 1), axis=(1, 2, 3))
    return -(rows + cols) / a.shape[1]


def _direct_spl(real, fake):
    real, fake = (real + 1) / 2, (fake + 1) / 2
    (dy_r, dx_r), (dy_f, dx_f) = image_gradients(real), image_gradients(fake)
    yuv_r, yuv_f = rgb_to_yuv(real), rgb_to_yuv(fake)
    (dyy_r, dxy_r), (dyy_f, dxy_f) = image_gradients(yuv_r), image_gradients(yuv_f)
    return (
        _direct_sim(dx_r, dx_f) + _direct_sim(dy_r, dy_f)
        + _direct_sim(real, fake) + _direct_sim(yuv_r, yuv_f)
        + _direct_sim(dxy_r, dxy_f) + _direct_sim(dyy_r, dyy_f)
    )


def test_analytic_gradient_matches_autodiff_of_direct_formulation():
    real, fake = _images()
    value, (g_true, g_pred) = value_and_grads(spatial_profile_loss, real, fake)
    ref_value, (ref_true, ref_pred) = value_and_grads(_direct_spl, real, fake)
    np.testing.assert_allclose(value, ref_value, rtol=1e-5)
    np.testing.assert_allclose(g_pred, ref_pred, atol=1e-6)
    np.testing.assert_allclose(g_true, ref_true, atol=1e-6)


@pytest.mark.parametrize("position", ["dx", "dy"])
@pytest.mark.parametrize("size", [1, 2, 3, 9])
def test_difference_adjoint_is_that_of_the_slices(position, size):
    # The forward difference has a hand-written adjoint; it must be the transpose of
    # x[1:] - x[:-1]: g shifted by one with a zero in, minus g (np.diff's adjoint).
    axis = 3 if position == "dx" else 2
    shape = [2, 3, 4, 5]
    shape[axis] = size
    rng = np.random.default_rng(size)
    x = rng.normal(size=shape).astype("float32")
    shape[axis] = size - 1
    weights = rng.normal(size=shape).astype("float32")

    def weighted(_, p):
        return ops.sum(ops.convert_to_tensor(weights) * _shift_difference(p, position))

    value, (_, grad) = value_and_grads(weighted, x, x)
    np.testing.assert_allclose(value, np.sum(weights * np.diff(x, axis=axis)), rtol=1e-5)
    zero = np.zeros_like(np.take(x, [0], axis=axis))
    expected = (np.concatenate([zero, weights], axis=axis)
                - np.concatenate([weights, zero], axis=axis))
    np.testing.assert_allclose(grad, expected, rtol=1e-6)


@pytest.mark.parametrize("height", [0, 1, 31, 32, 33, 47, 64])
def test_column_sums_in_groups_of_rows_are_the_sums(height):
    # XLA's form of the column sums (every 16th row added up first, the last, incomplete
    # group apart) against float64 sums of the products, eagerly and compiled.
    rng = np.random.default_rng(height)
    a, b = (rng.normal(size=(2, 3, height, 5)).astype("float32") for _ in range(2))
    a64, b64 = a.astype("float64"), b.astype("float64")
    expected = np.concatenate([np.sum(x * y, axis=2, keepdims=True)
                               for x, y in ((a64, b64), (a64, a64), (b64, b64))])
    a, b = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
    for name, sums in (("eager", _column_sums), ("compiled", xla_compiled(_column_sums))):
        value = np.asarray(sums(a, b))
        assert value.shape == (6, 3, 1, 5), name
        np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-5, err_msg=name)
    # Through the strided slices, the gradient of sum(a*b + a*a + b*b) w.r.t. b.
    _, (_, grad) = value_and_grads(_column_sums, a, b, compiled=True)
    np.testing.assert_allclose(grad, a64 + 2 * b64, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", [(1, 2, 2, 3), (2, 3, 2, 3), (2, 1, 5, 3), (1, 5, 1, 3)])
def test_the_smallest_images_match_the_float64_reference(shape):
    # One-pixel-high or -wide images have no y or x differences at all (an empty view;
    # the original's zero padding adds nothing). With 2 pixels a difference profile is
    # one value, whose cosine is a sign with gradient 0: float32 leaves noise there of
    # about 1e-7 / |profile|, so the gradient is checked to 3e-5 of its largest value.
    from test_near_grey import reference

    real, fake = _images(shape)
    value, (_, grad) = value_and_grads(spatial_profile_loss, real, fake)
    assert np.shape(spatial_profile_loss(real, fake)) == (shape[0],)
    expected, expected_grad = reference("SPL", real, fake)
    np.testing.assert_allclose(value, expected.sum(), rtol=1e-6)
    assert np.abs(grad - expected_grad).max() <= 3e-5 * np.abs(expected_grad).max()


def test_gradient_through_a_compiled_loss_equals_the_eager_one():
    # Outer transforms around a compiled loss: jax.grad(jax.jit(loss)) on JAX (the
    # analytic gradient once closed over a tracer there and failed), a GradientTape
    # around an XLA-compiled loss on TensorFlow.
    real, fake = _images()
    _, (_, eager) = value_and_grads(spatial_profile_loss, real, fake)
    if keras.backend.backend() == "jax":
        import jax

        compiled = jax.grad(jax.jit(lambda p: spatial_profile_loss(real, p).sum()))(fake)
    else:
        import tensorflow as tf

        loss = tf.function(spatial_profile_loss, jit_compile=True)
        fake_t = tf.convert_to_tensor(fake)
        with tf.GradientTape() as tape:
            tape.watch(fake_t)
            value = tf.reduce_sum(loss(tf.convert_to_tensor(real), fake_t))
        compiled = tape.gradient(value, fake_t)
    np.testing.assert_allclose(np.asarray(compiled), eager, atol=1e-6)


def test_spl_is_gp_plus_cp_with_weights():
    real, fake = _images()
    gp = gradient_profile_loss(real, fake)
    cp = colour_profile_loss(real, fake)
    weighted = spatial_profile_loss(real, fake, gp_weight=0.5, cp_weight=2.0)
    np.testing.assert_allclose(weighted, 0.5 * np.asarray(gp) + 2.0 * np.asarray(cp), rtol=1e-5)


def test_colour_switches_select_terms():
    real, fake = _images()
    r, f = (real + 1) / 2, (fake + 1) / 2
    yuv_r, yuv_f = rgb_to_yuv(r), rgb_to_yuv(f)
    (dy_r, dx_r), (dy_f, dx_f) = image_gradients(yuv_r), image_gradients(yuv_f)
    terms = {
        "rgb": _direct_sim(r, f),
        "yuv": _direct_sim(yuv_r, yuv_f),
        "yuv_gradients": _direct_sim(dx_r, dx_f) + _direct_sim(dy_r, dy_f),
    }
    for on in ("rgb", "yuv", "yuv_gradients"):
        switches = {name: name == on for name in terms}
        np.testing.assert_allclose(
            colour_profile_loss(real, fake, **switches), terms[on], rtol=1e-5
        )
    off = colour_profile_loss(real, fake, rgb=False, yuv=False, yuv_gradients=False)
    np.testing.assert_array_equal(off, np.zeros(2))


def test_value_range_maps_to_unit_interval():
    real, fake = _images()
    as_pm1 = SPL()(real, fake)
    as_255 = SPL(value_range=(0, 255))((real + 1) * 127.5, (fake + 1) * 127.5)
    np.testing.assert_allclose(as_255, as_pm1, rtol=1e-5)


def test_gradient_profile_works_per_channel_on_any_channel_count():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (2, 9, 11, 5)).astype("float32")
    y = rng.uniform(-1, 1, (2, 9, 11, 5)).astype("float32")
    whole = gradient_profile_loss(x, y)
    parts = sum(np.asarray(gradient_profile_loss(x[..., i:i + 1], y[..., i:i + 1])) for i in range(5))
    np.testing.assert_allclose(whole, parts, rtol=1e-5)


def test_identical_images_give_the_minimum():
    real, fake = _images(shape=(1, 8, 8, 3))
    same = float(np.asarray(SPL()(real, real)))
    assert same < float(np.asarray(SPL()(real, fake)))
    # Each of the 6 similarities is -(H*C + W*C)/H at a perfect match when no
    # profile is flat: -(8*3 + 8*3)/8 = -6 each; the dx/dy images lose one
    # column/row of profiles to zero padding: -(8*3 + 7*3)/8 = -5.625.
    assert same == pytest.approx(-(2 * 6 + 4 * 5.625), abs=1e-4)


def test_makeup_objective_is_expressible():
    """The original's `GP(output, source) + CP(output, reference)`."""
    source, output = _images(seed=2)
    reference, _ = _images(seed=3)
    objective = GPL()(source, output) + CPL()(reference, output)
    expected = np.mean(
        np.asarray(_direct_sim_gp(output, source)) + np.asarray(colour_profile_loss(output, reference))
    )
    np.testing.assert_allclose(objective, expected, rtol=1e-5)


def _makeup_batch(seed=4, value_range=(-1.0, 1.0)):
    """y_true = [source, reference] (N, H, W, 6) and an output (N, H, W, 3)."""
    source, output = _images(seed=seed)
    reference, _ = _images(seed=seed + 1)
    low, high = value_range
    source, output, reference = (low + (x + 1) / 2 * (high - low)
                                 for x in (source, output, reference))
    return np.concatenate([source, reference], axis=-1), output, source, reference


@pytest.mark.parametrize("value_range", [(-1.0, 1.0), (0.0, 1.0), (0.0, 255.0)])
def test_makeup_loss_is_gp_of_source_plus_cp_of_reference(value_range):
    y_true, output, source, reference = _makeup_batch(value_range=value_range)
    per_image = (np.asarray(GPL(value_range=value_range, reduction=None)(source, output))
                 + np.asarray(CPL(value_range=value_range, reduction=None)(reference, output)))
    assert per_image.shape == (2,) and not np.allclose(per_image[0], per_image[1])
    loss = MakeupLoss(value_range=value_range, reduction=None)
    np.testing.assert_allclose(loss(y_true, output), per_image, rtol=1e-6)
    np.testing.assert_allclose(makeup_loss(y_true, output, value_range), per_image, rtol=1e-6)
    for reduction, expected in (("sum", per_image.sum()),
                                ("sum_over_batch_size", per_image.mean())):
        reduced = MakeupLoss(value_range=value_range, reduction=reduction)(y_true, output)
        np.testing.assert_allclose(reduced, expected, rtol=1e-6)
        gp = GPL(value_range=value_range, reduction=reduction)(source, output)
        cp = CPL(value_range=value_range, reduction=reduction)(reference, output)
        np.testing.assert_allclose(reduced, np.asarray(gp) + np.asarray(cp), rtol=1e-6)


def test_makeup_loss_gradient_is_finite_and_reaches_the_output():
    y_true, output, *_ = _makeup_batch()
    value, (_, grad) = value_and_grads(makeup_loss, y_true, output)
    assert np.isfinite(value) and np.all(np.isfinite(grad)) and np.any(grad != 0)


def test_makeup_loss_serialization_round_trip():
    loss = MakeupLoss(value_range=(0, 255), reduction="sum", name="makeup")
    config = loss.get_config()
    assert config["value_range"] == [0.0, 255.0] and config["reduction"] == "sum"
    serialized = keras.saving.serialize_keras_object(loss)
    assert serialized["registered_name"] == "spl_tf>MakeupLoss"
    restored = keras.saving.deserialize_keras_object(serialized)
    assert type(restored) is MakeupLoss and restored.get_config() == config
    assert restored.value_range == (0.0, 255.0) and restored.name == "makeup"
    y_true, output, *_ = _makeup_batch(value_range=(0.0, 255.0))
    np.testing.assert_allclose(restored(y_true, output), loss(y_true, output), rtol=1e-6)
    assert MakeupLoss().name == "makeup_loss"


@pytest.mark.parametrize("true_channels,pred_channels,match", [
    (3, 3, r"MakeupLoss expects y_true as source and reference RGB images \(batch, height, "
           r"width, 6\).*got 3 channels"),
    (7, 3, r"y_true .*width, 6\).*got 7 channels"),
    (6, 6, r"MakeupLoss expects y_pred as RGB images \(batch, height, width, 3\).*got 6 "
           r"channels"),
    (6, 1, r"y_pred .*got 1 channels"),
])
def test_makeup_loss_refuses_bad_channel_counts(true_channels, pred_channels, match):
    y_true = np.zeros((1, 8, 8, true_channels), "float32")
    y_pred = np.zeros((1, 8, 8, pred_channels), "float32")
    with pytest.raises(ValueError, match=match):
        MakeupLoss()(y_true, y_pred)
    with pytest.raises(ValueError, match=match):
        makeup_loss(y_true, y_pred)


@pytest.mark.parametrize("pred_shape", [(1, 8, 9, 3), (1, 9, 8, 3), (2, 8, 8, 3)])
def test_makeup_loss_refuses_other_sizes(pred_shape):
    with pytest.raises(ValueError, match=r"same batch, height and width; got y_true "
                                         r"\(1, 8, 8, 6\) and y_pred"):
        makeup_loss(np.zeros((1, 8, 8, 6), "float32"), np.zeros(pred_shape, "float32"))


def test_makeup_loss_refuses_bad_rank_and_range():
    with pytest.raises(ValueError, match=r"MakeupLoss: y_true must be a rank-4 NHWC"):
        makeup_loss(np.zeros((8, 8, 6), "float32"), np.zeros((1, 8, 8, 3), "float32"))
    with pytest.raises(ValueError, match="value_range"):
        MakeupLoss(value_range=(1, 0))


def _direct_sim_gp(a, b):
    (dy_a, dx_a), (dy_b, dx_b) = image_gradients((a + 1) / 2), image_gradients((b + 1) / 2)
    return _direct_sim(dx_a, dx_b) + _direct_sim(dy_a, dy_b)


def test_profile_similarity_is_symmetric_and_per_sample():
    real, fake = _images(shape=(3, 6, 7, 2))
    ab, ba = profile_similarity(real, fake), profile_similarity(fake, real)
    assert ab.shape == (3,)
    np.testing.assert_allclose(ab, ba, rtol=1e-6)
    np.testing.assert_allclose(ab, _direct_sim(real, fake), rtol=1e-5)


# --- configuration ----------------------------------------------------------

CONFIGURED = [
    GPL(value_range=(0, 1), reduction="sum", name="gp"),
    CPL(rgb=False, yuv=True, yuv_gradients=False, value_range=(0, 255), reduction=None),
    SPL(gp_weight=0.25, cp_weight=3.0, rgb=False, yuv_gradients=False, value_range=(0, 1),
        reduction="sum", name="spl_custom"),
]


@pytest.mark.parametrize("loss", CONFIGURED, ids=lambda l: type(l).__name__)
def test_config_round_trips(loss):
    config = loss.get_config()
    clone = type(loss).from_config(config)
    assert clone.get_config() == config
    restored = keras.losses.deserialize(keras.losses.serialize(loss))
    assert type(restored) is type(loss) and restored.get_config() == config
    real, fake = _images()
    np.testing.assert_allclose(restored(real, fake), loss(real, fake), rtol=1e-6)


# --- errors -----------------------------------------------------------------

@pytest.mark.parametrize("cls", [GPL, CPL, SPL])
def test_rank_error_names_expectation(cls):
    x = np.zeros((8, 8, 3), "float32")
    with pytest.raises(ValueError, match=r"rank-4 NHWC.*got shape \(8, 8, 3\) \(rank 3\)"):
        cls()(x, x)


@pytest.mark.parametrize("cls", [GPL, CPL, SPL])
def test_shape_mismatch_error(cls):
    with pytest.raises(ValueError, match=r"same shape.*\(1, 8, 8, 3\).*\(1, 8, 9, 3\)"):
        cls()(np.zeros((1, 8, 8, 3), "float32"), np.zeros((1, 8, 9, 3), "float32"))


@pytest.mark.parametrize("cls", [CPL, SPL])
@pytest.mark.parametrize("channels", [1, 4])
def test_colour_losses_need_rgb(cls, channels):
    x = np.zeros((1, 8, 8, channels), "float32")
    with pytest.raises(ValueError, match=rf"RGB images .*got {channels} channels"):
        cls()(x, x)


@pytest.mark.parametrize("bad", [(1, 1), (1, 0), "ab", (0,), None])
def test_bad_value_range(bad):
    with pytest.raises(ValueError, match="value_range"):
        SPL(value_range=bad)


# --- numerical safety -------------------------------------------------------

def _flat(value, shape=(2, 8, 8, 3)):
    return np.full(shape, value, "float32")


SAFETY = {
    "all_zero": (_flat(0.0), _flat(0.0)),
    "flat_grey": (_flat(0.3), _flat(-0.2)),
    "saturated_both": (_flat(1.0), _flat(-1.0)),
    "saturated_true": (_flat(-1.0), _images()[1][:, :8, :8]),
    "saturated_pred": (_images()[0][:, :8, :8], _flat(1.0)),
    "flat_vs_textured": (_flat(0.5), _images()[0][:, :8, :8]),
}


@pytest.mark.parametrize("name", list(SAFETY))
@pytest.mark.parametrize("cls", [GPL, CPL, SPL])
def test_finite_value_and_gradient(name, cls):
    real, fake = SAFETY[name]
    value, grads = value_and_grads(cls(), real, fake)
    assert np.isfinite(value)
    for g in grads:
        assert np.all(np.isfinite(g))


def test_bfloat16_inputs_compute_in_float32():
    real, fake = _images()
    real16, fake16 = ops.cast(real, "bfloat16"), ops.cast(fake, "bfloat16")
    value = SPL()(real16, fake16)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    exact = SPL()(ops.cast(real16, "float32"), ops.cast(fake16, "float32"))
    np.testing.assert_allclose(value, exact, rtol=1e-6)
    functional = spatial_profile_loss(real16, fake16)
    assert keras.backend.standardize_dtype(functional.dtype) == "float32"
    _, grads = value_and_grads(SPL(), real16, fake16)
    for g in grads:
        assert np.all(np.isfinite(np.asarray(g, "float32")))
