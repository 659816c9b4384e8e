"""The shared argument checks (`spl_tf.validation`) and their use by every loss and metric.

Backend-agnostic, except the tests that trace with unknown dimensions
(`tf.function` input signatures), which exist on TensorFlow only; the rest of
this file is rerun under JAX by `test_this_file_under_jax`.
"""

import math

import keras
import numpy as np
import pytest
from keras import ops

from backend_utils import pytest_under_jax
from spl_tf import (
    CPL,
    GPL,
    SPL,
    ContextualLoss,
    MakeupLoss,
    PerceptualLoss,
    colour_profile_loss,
    contextual_loss,
    gradient_profile_loss,
    makeup_loss,
    spatial_correlative_loss,
    spatial_profile_loss,
)
from spl_tf.metrics import psnr, ssim
from spl_tf.validation import (
    check_batch,
    check_non_negative_int,
    check_pair,
    check_positive_int,
    check_positive_number,
    check_same_shape,
    check_value_range,
    static_shape,
)

RGB = np.zeros((2, 8, 8, 3), "float32")


class _Shaped:
    """A stand-in for a traced tensor: a static shape with unknown (None) sizes."""

    def __init__(self, shape, dtype="float32"):
        self.shape, self.dtype = tuple(shape), dtype


# --- check_batch --------------------------------------------------------------


@pytest.mark.parametrize("x", [
    np.zeros((1, 4, 5, 3), "float32"),
    np.zeros((2, 4, 5, 1), "uint8"),
    np.zeros((2, 4, 5, 7), "int32"),
    np.zeros((2, 4, 5, 3), "float16"),
    _Shaped((None, None, None, 3)),
])
def test_check_batch_accepts_and_returns_the_input(x):
    assert check_batch("f", "x", x) is x


def test_check_batch_converts_what_has_no_shape():
    out = check_batch("f", "x", [[[[0.0, 1.0, 2.0]]]], channels=3)
    assert ops.is_tensor(out) and tuple(out.shape) == (1, 1, 1, 3)


@pytest.mark.parametrize("shape", [(8, 8, 3), (8,), (1, 1, 8, 8, 3)])
def test_check_batch_refuses_other_ranks(shape):
    rank = len(shape)
    pattern = (rf"^fn: img must be a rank-4 NHWC batch of images \(batch, height, width, "
               rf"channels\); got shape \({', '.join(map(str, shape))},?\) \(rank {rank}\)")
    with pytest.raises(ValueError, match=pattern):
        check_batch("fn", "img", np.zeros(shape, "float32"))


def test_check_batch_refuses_a_scalar():
    with pytest.raises(ValueError, match=r"got shape \(\) \(rank 0\)"):
        check_batch("fn", "img", np.float32(1.0))


@pytest.mark.parametrize("dtype", ["bool", "complex64"])
def test_check_batch_refuses_non_real_dtypes(dtype):
    with pytest.raises(ValueError, match=rf"fn expects real-valued images .*img of dtype {dtype}"):
        check_batch("fn", "img", np.zeros((1, 2, 2, 3), dtype))


def test_check_batch_refuses_an_empty_batch():
    with pytest.raises(ValueError, match=r"fn: img is an empty batch, shape \(0, 4, 4, 3\)"):
        check_batch("fn", "img", np.zeros((0, 4, 4, 3), "float32"))
    check_batch("fn", "img", _Shaped((None, 4, 4, 3)))  # unknown batch: not refused


@pytest.mark.parametrize("channels", [1, 4])
def test_check_batch_channel_count(channels):
    x = np.zeros((1, 4, 4, channels), "float32")
    with pytest.raises(ValueError, match=rf"fn expects img as RGB images \(batch, height, width, "
                                         rf"3\) \(why\); got {channels} channels"):
        check_batch("fn", "img", x, channels=3, description="RGB images", hint=" (why)")
    assert check_batch("fn", "img", x, channels=channels) is x


def test_check_batch_required_channels_must_be_known():
    x = _Shaped((2, 4, 4, None))
    with pytest.raises(ValueError, match=r"fn expects img as .*channel dimension is unknown "
                                         r"\(None\), got shape \(2, 4, 4, None\)"):
        check_batch("fn", "img", x, channels=3)
    assert check_batch("fn", "img", x) is x  # any channel count: None is fine


def test_check_batch_known_axes():
    x = _Shaped((None, None, 5, None))
    with pytest.raises(ValueError, match=r"fn needs the height and channels of img statically "
                                         r"known .*\(None, None, 5, None\)"):
        check_batch("fn", "img", x, known=("batch", "height", "width", "channels")[1:])
    assert check_batch("fn", "img", x, known=("width",)) is x
    with pytest.raises(ValueError, match="unknown axis"):
        check_batch("fn", "img", x, known=("depth",))


def test_static_shape():
    assert static_shape(np.zeros((1, 2, 3, 4))) == (1, 2, 3, 4)
    assert static_shape(_Shaped((None, 2, None, 4))) == (None, 2, None, 4)
    assert all(type(d) is int for d in static_shape(ops.zeros((1, 2, 3, 4))))


# --- check_same_shape / check_pair ------------------------------------------------


@pytest.mark.parametrize("a,b", [
    ((1, 8, 8, 3), (1, 8, 8, 3)),
    ((None, 8, 8, 3), (4, 8, 8, 3)),
    ((None, None, None, 3), (2, 7, 9, 3)),
    ((None, None, None, None), (2, 7, 9, 3)),
])
def test_check_same_shape_accepts(a, b):
    check_same_shape("fn", ("a", _Shaped(a)), ("b", _Shaped(b)))
    check_same_shape("fn", ("b", _Shaped(b)), ("a", _Shaped(a)))


@pytest.mark.parametrize("a,b", [
    ((1, 8, 8, 3), (1, 8, 9, 3)),
    # An unknown dimension elsewhere must not hide the mismatch (it used to, in
    # the feature losses' check).
    ((None, 8, 8, 3), (None, 8, 9, 3)),
    ((None, 8, 8, 3), (2, 8, 8, 1)),
    ((2, None, 8, 3), (3, 8, None, 3)),
    ((1, 8, 8, 3), (1, 8, 8)),
])
def test_check_same_shape_refuses_per_dimension(a, b):
    with pytest.raises(ValueError, match=r"fn expects a and b of the same shape; got a \(.*\) "
                                         r"and b \("):
        check_same_shape("fn", ("a", _Shaped(a)), ("b", _Shaped(b)))


def test_check_same_shape_on_some_axes():
    six, three = _Shaped((2, 8, 8, 6)), _Shaped((2, 8, 8, 3))
    check_same_shape("fn", ("a", six), ("b", three), axes=(0, 1, 2))
    with pytest.raises(ValueError, match=r"same batch, height and width; got a \(2, 8, 8, 6\) "
                                         r"and b \(2, 8, 9, 3\)"):
        check_same_shape("fn", ("a", six), ("b", _Shaped((2, 8, 9, 3))), axes=(0, 1, 2))
    with pytest.raises(ValueError, match="same shape"):
        check_same_shape("fn", ("a", six), ("b", three))


def test_check_pair_checks_both_then_the_shapes():
    check_pair("fn", ("a", RGB), ("b", RGB), channels=3)
    with pytest.raises(ValueError, match="fn: b must be a rank-4"):
        check_pair("fn", ("a", RGB), ("b", RGB[0]))
    with pytest.raises(ValueError, match="fn expects b as .* got 1 channels"):
        check_pair("fn", ("a", RGB), ("b", RGB[..., :1]), channels=3)
    with pytest.raises(ValueError, match="same shape"):
        check_pair("fn", ("a", RGB), ("b", RGB[:1]))


# --- check_value_range --------------------------------------------------------------


@pytest.mark.parametrize("value_range,expected", [
    ((-1, 1), (-1.0, 1.0)),
    ([0, 255], (0.0, 255.0)),
    (np.array([0.0, 1.0], "float32"), (0.0, 1.0)),
    ((np.int64(-5), np.float32(5.5)), (-5.0, 5.5)),
])
def test_check_value_range_accepts(value_range, expected):
    result = check_value_range(value_range)
    assert result == expected and all(type(v) is float for v in result)


@pytest.mark.parametrize("value_range", [
    (0, math.inf), (-math.inf, 1), (0, math.nan), (math.nan, 1), (1, 1), (1, 0),
    (0, 1, 2), (0,), "ab", None, 3.0, (True, 2), ("0", "1"),
])
def test_check_value_range_refuses(value_range):
    with pytest.raises(ValueError, match=r"^my_range must be a pair \(low, high\) of finite"):
        check_value_range(value_range, "my_range")


# --- integer and number checks ------------------------------------------------------


@pytest.mark.parametrize("value", [1, 7, np.int64(3), np.int32(1), np.uint8(2)])
def test_check_positive_int_accepts(value):
    result = check_positive_int(value, "n")
    assert result == value and type(result) is int


@pytest.mark.parametrize("value", [0, -1, True, False, np.bool_(True), 2.0, 2.5, "3", None,
                                   np.float32(2)])
def test_check_positive_int_refuses(value):
    with pytest.raises(ValueError, match=r"^n must be a positive integer, got"):
        check_positive_int(value, "n")


def test_optional_ints():
    assert check_positive_int(None, "n", optional=True) is None
    with pytest.raises(ValueError, match="n must be a positive integer or None, got 0"):
        check_positive_int(0, "n", optional=True)
    assert check_non_negative_int(0, "shave") == 0
    assert check_non_negative_int(np.int16(4), "shave") == 4
    for bad in (-1, 1.5, True, None):
        with pytest.raises(ValueError, match="shave must be a non-negative integer"):
            check_non_negative_int(bad, "shave")


def test_check_positive_number():
    assert check_positive_number(0.5, "h") == 0.5 and check_positive_number(np.int8(2), "h") == 2
    for bad in (0, -1.0, math.inf, math.nan, True, "1", None):
        with pytest.raises(ValueError, match="h must be a positive finite number"):
            check_positive_number(bad, "h")


# --- used by the losses and metrics --------------------------------------------------


@pytest.mark.parametrize("make", [SPL, CPL, GPL, MakeupLoss])
@pytest.mark.parametrize("value_range", [(0, math.inf), (-math.inf, 0)])
def test_losses_refuse_an_infinite_range(make, value_range):
    # (0, inf) used to be accepted and mapped every image to 0: a loss of 0.
    with pytest.raises(ValueError, match="value_range .* finite"):
        make(value_range=value_range)


@pytest.mark.parametrize("function", [spatial_profile_loss, colour_profile_loss,
                                      gradient_profile_loss, psnr, ssim])
def test_functions_refuse_an_infinite_range(function):
    images = np.zeros((1, 16, 16, 3), "float32")
    with pytest.raises(ValueError, match="value_range .* finite"):
        function(images, images, value_range=(0, math.inf))


def test_makeup_loss_refuses_an_infinite_range():
    with pytest.raises(ValueError, match="value_range .* finite"):
        makeup_loss(np.zeros((1, 8, 8, 6), "float32"), RGB[:1], value_range=(0, math.inf))


@pytest.mark.parametrize("reduction", ["sum", "sum_over_batch_size", None])
@pytest.mark.parametrize("make", [SPL, CPL, GPL])
def test_losses_refuse_an_empty_batch(make, reduction):
    # Keras returns the empty per-image values unreduced: an empty tensor,
    # not a number, for every reduction.
    empty = np.zeros((0, 8, 8, 3), "float32")
    with pytest.raises(ValueError, match=r"y_true is an empty batch, shape \(0, 8, 8, 3\)"):
        make(reduction=reduction)(empty, empty)


def test_other_functions_refuse_an_empty_batch():
    empty = np.zeros((0, 16, 16, 3), "float32")
    for call in (lambda: psnr(empty, empty), lambda: ssim(empty, empty),
                 lambda: contextual_loss(empty, empty),
                 lambda: spatial_correlative_loss(empty, empty),
                 lambda: MakeupLoss()(np.zeros((0, 16, 16, 6), "float32"), empty)):
        with pytest.raises(ValueError, match="empty batch"):
            call()


def test_feature_losses_check_channels_and_shape():
    loss = PerceptualLoss(("block1_conv1",), weights=None, name="vgg")
    with pytest.raises(ValueError, match=r"vgg expects y_pred as RGB images .*got 4 "
                                         r"channels"):
        loss(np.zeros((1, 8, 8, 3), "float32"), np.zeros((1, 8, 8, 4), "float32"))
    with pytest.raises(ValueError, match=r"same shape; got y_true \(1, 8, 8, 3\) and y_pred "
                                         r"\(1, 8, 9, 3\)"):
        loss(np.zeros((1, 8, 8, 3), "float32"), np.zeros((1, 8, 9, 3), "float32"))


def test_contextual_loss_options_use_the_shared_checks():
    for bad in (64.0, True, 0):
        with pytest.raises(ValueError, match="max_positions_1d must be a positive integer or None"):
            ContextualLoss(("conv1_1",), weights=None, max_positions_1d=bad)
    with pytest.raises(ValueError, match="band_width must be a positive finite number"):
        contextual_loss(RGB, RGB, band_width=math.inf)


def test_metrics_shave_must_be_an_integer():
    images = np.zeros((1, 16, 16, 3), "float32")
    with pytest.raises(ValueError, match="shave must be a non-negative integer, got 2.0"):
        psnr(images, images, shave=2.0)
    assert np.isposinf(ops.convert_to_numpy(psnr(images, images, shave=np.int64(2)))).all()


if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    def _trace(fn, *shapes):
        """Trace `fn` with these static shapes (None: unknown); the error surfaces here."""
        specs = [tf.TensorSpec(shape, tf.float32) for shape in shapes]
        return tf.function(fn, input_signature=specs).get_concrete_function()

    def test_tensor_of_unknown_rank_is_refused():
        with pytest.raises(ValueError, match=r"fn: x must be a rank-4 NHWC batch .* unknown rank"):
            _trace(lambda x: check_batch("fn", "x", x), None)
        with pytest.raises(ValueError, match=r"SPL: y_true must be a rank-4 .* unknown rank"):
            _trace(spatial_profile_loss, None, None)

    @pytest.mark.parametrize("make", [SPL, CPL, GPL])
    def test_unknown_channels_are_refused_by_the_profile_losses(make):
        # Was a raw TypeError (None * list) deep in the computation.
        with pytest.raises(ValueError, match=r"channel|channels of y_true"):
            _trace(lambda a, b: make()(a, b), (None, 8, 8, None), (None, 8, 8, None))
        with pytest.raises(ValueError, match=r"y_pred .*channel|channels of y_pred"):
            _trace(lambda a, b: make()(a, b), (None, 8, 8, 3), (None, 8, 8, None))

    def test_spl_unknown_channels_message():
        with pytest.raises(ValueError, match=r"SPL expects y_true as RGB images \(batch, height, "
                                             r"width, 3\).*channel dimension is unknown"):
            _trace(lambda a, b: SPL()(a, b), (None, None, None, None), (None, None, None, 3))

    def test_unknown_height_and_width_still_trace():
        _trace(lambda a, b: SPL()(a, b), (None, None, None, 3), (None, None, None, 3))
        _trace(lambda a, b: psnr(a, b), (None, None, None, 3), (None, None, None, 3))

    @pytest.mark.parametrize("other", [(None, 8, 9, 3), (None, 9, 8, 3)])
    def test_perceptual_loss_refuses_a_mismatch_beside_an_unknown_batch(other):
        # The feature losses used to skip the shape check whenever any
        # dimension was None, here the batch of a fit step.
        loss = PerceptualLoss(("block1_conv1",), weights=None, name="vgg")
        with pytest.raises(ValueError, match=r"vgg expects y_true and y_pred of the "
                                             r"same shape; got y_true \(None, 8, 8, 3\)"):
            _trace(lambda a, b: loss(a, b), (None, 8, 8, 3), other)
        _trace(lambda a, b: loss(a, b), (None, 8, 8, 3), (None, 8, 8, 3))

    def test_feature_losses_refuse_unknown_channels():
        loss = PerceptualLoss(("block1_conv1",), weights=None, name="vgg")
        with pytest.raises(ValueError, match="channel dimension is unknown"):
            _trace(lambda a, b: loss(a, b), (None, 8, 8, 3), (None, 8, 8, None))

    def test_metrics_refuse_a_mismatch_beside_unknown_dimensions():
        with pytest.raises(ValueError, match=r"psnr expects y_true and y_pred of the same shape"):
            _trace(lambda a, b: psnr(a, b), (None, None, 16, 3), (None, 16, 15, 3))
        with pytest.raises(ValueError, match="y_channel=True needs RGB"):
            _trace(lambda a, b: psnr(a, b), (None, 16, 16, None), (None, 16, 16, None))
        with pytest.raises(ValueError, match="ssim needs the channels of y_true"):
            _trace(lambda a, b: ssim(a, b, y_channel=False), (None, 16, 16, None),
                   (None, 16, 16, None))

    def test_contextual_and_sesim_refuse_a_mismatch_beside_an_unknown_batch():
        with pytest.raises(ValueError, match="contextual loss expects target and generated of "
                                             "the same shape"):
            _trace(contextual_loss, (None, 4, 4, 8), (None, 4, 4, 7))
        with pytest.raises(ValueError, match="spatial_correlative_loss expects source and target "
                                             "of the same shape"):
            _trace(spatial_correlative_loss, (None, 4, 4, 8), (None, 4, 5, 8))

    def test_this_file_under_jax():
        result, output = pytest_under_jax("-p", "no:xdist", __file__, timeout=300)
        assert result.returncode == 0, output
        assert " passed" in result.stdout and "skipped" not in result.stdout
