"""The shared argument checks (`spl_tf.validation`) and their use by every loss and metric.

Backend-agnostic, except the tests that trace with unknown dimensions
(`tf.function` input signatures, the run-time shape check, XLA), which exist on
TensorFlow only, and those of `jax.jit`, on JAX only; the file is rerun under
JAX by `test_this_file_under_jax`.
"""

import functools
import math
import re

import keras
import numpy as np
import pytest
from keras import ops

from backend_utils import check_all_passed, rerun_under_jax, value_and_grads
from spl_tf import (
    CPL,
    GPL,
    SPL,
    ContextualLoss,
    FSeSimLoss,
    LSeSim,
    MakeupLoss,
    PerceptualLoss,
    colour_profile_loss,
    contextual_loss,
    gradient_profile_loss,
    makeup_loss,
    spatial_correlative_loss,
    spatial_profile_loss,
)
from spl_tf.metrics import psnr, rgb_to_y, ssim
from spl_tf.validation import (
    check_batch,
    check_last_axis,
    check_non_negative_int,
    check_pair,
    check_positive_int,
    check_positive_number,
    check_same_shape,
    check_value_range,
    static_shape,
)

RGB = np.zeros((2, 8, 8, 3), "float32")
EMPTY = np.zeros((0, 16, 16, 3), "float32")


@functools.cache
def _feature_loss(kind: str, reduction: str | None = "sum_over_batch_size"):
    """A small random-weight VGG loss, built once (building VGG is the slow part)."""
    if kind == "perceptual":
        return PerceptualLoss(("block1_conv1",), weights=None, reduction=reduction, name="vgg")
    if kind == "contextual":
        return ContextualLoss(("conv1_1",), weights=None, reduction=reduction, name="cx")
    return FSeSimLoss(("relu1_1",), weights=None, reduction=reduction, name="fsesim")


def _profile_loss(kind: str, reduction: str | None = "sum_over_batch_size"):
    return {"SPL": SPL, "CPL": CPL, "GPL": GPL, "MakeupLoss": MakeupLoss}[kind](
        reduction=reduction)


def _loss(kind: str, reduction: str | None = "sum_over_batch_size"):
    if kind in ("perceptual", "contextual", "fsesim"):
        return _feature_loss(kind, reduction)
    return _profile_loss(kind, reduction)


def _y_true_for(kind: str, y_pred):
    """MakeupLoss's y_true holds two RGB images (6 channels); the others' is RGB."""
    return np.concatenate([y_pred, y_pred], axis=-1) if kind == "MakeupLoss" else y_pred


LOSSES = ("SPL", "CPL", "GPL", "MakeupLoss", "perceptual", "contextual", "fsesim")


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


def test_check_batch_accepts_an_empty_batch():
    # A batch of 0 has a value (0 once reduced); it used to be a ValueError.
    empty = np.zeros((0, 4, 4, 3), "float32")
    assert check_batch("fn", "img", empty, channels=3) is empty


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


def test_check_last_axis():
    check_last_axis("fn", "img", np.zeros((5, 3)), 3, "RGB images")
    for shape in [(5, 4), ()]:
        with pytest.raises(ValueError, match=rf"fn needs RGB images \(\.\.\., 3\) as img; "
                                             rf"got shape {re.escape(str(shape))}"):
            check_last_axis("fn", "img", np.zeros(shape), 3, "RGB images")


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
                                      gradient_profile_loss, psnr, ssim,
                                      lambda a, b, value_range: rgb_to_y(a, value_range)])
def test_functions_refuse_an_infinite_range(function):
    images = np.zeros((1, 16, 16, 3), "float32")
    with pytest.raises(ValueError, match="value_range .* finite"):
        function(images, images, value_range=(0, math.inf))


def test_makeup_loss_refuses_an_infinite_range():
    with pytest.raises(ValueError, match="value_range .* finite"):
        makeup_loss(np.zeros((1, 8, 8, 6), "float32"), RGB[:1], value_range=(0, math.inf))


# --- empty batches -----------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["sum", "sum_over_batch_size", "mean"])
@pytest.mark.parametrize("kind", LOSSES)
def test_an_empty_batch_reduces_to_zero(kind, reduction):
    # Keras leaves the per-image values of an empty batch unreduced: the loss
    # was an empty tensor (not a number) for every reduction, then a ValueError.
    loss = _loss(kind, reduction)
    value = ops.convert_to_numpy(loss(_y_true_for(kind, EMPTY), EMPTY))
    assert value.shape == () and value == 0.0


@pytest.mark.parametrize("kind", LOSSES)
def test_an_empty_batch_has_no_per_image_values(kind):
    loss = _loss(kind, None)
    values = ops.convert_to_numpy(loss(_y_true_for(kind, EMPTY), EMPTY))
    assert values.shape == (0,)


def test_an_empty_batch_keeps_a_gradient():
    # The 0 is computed from the inputs: their gradient is empty, not missing.
    value, (_, grad) = value_and_grads(SPL(reduction="sum"), EMPTY, EMPTY)
    assert value == 0.0 and grad.shape == EMPTY.shape


def test_functions_on_an_empty_batch():
    for per_image in (psnr(EMPTY, EMPTY), ssim(EMPTY, EMPTY), contextual_loss(EMPTY, EMPTY),
                      LSeSim(("relu1_1",), weights=None).generator_loss(EMPTY, EMPTY)):
        assert ops.convert_to_numpy(per_image).shape == (0,)
    for mode, other in (("cos", None), ("l1", None), ("info", EMPTY)):
        # The mean over no image: 0, not NaN.
        value = ops.convert_to_numpy(spatial_correlative_loss(EMPTY, EMPTY, other, mode=mode))
        assert value.shape == () and value == 0.0


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

    def _wrapped(kind):
        """`_loss(kind)` as a plain function, built now: not inside the trace
        (Keras must not create the VGG weights in a tf.function's graph)."""
        loss = _loss(kind)
        return lambda a, b: loss(a, b)

    # Every loss and metric, as (name, builder of a function of two NHWC
    # tensors, y_true channels).
    _EVERY = [
        *[(name, functools.partial(_wrapped, name), 3) for name in ("SPL", "GPL", "CPL")],
        ("MakeupLoss", functools.partial(_wrapped, "MakeupLoss"), 6),
        ("vgg", functools.partial(_wrapped, "perceptual"), 3),
        ("cx", functools.partial(_wrapped, "contextual"), 3),
        ("fsesim", functools.partial(_wrapped, "fsesim"), 3),
        ("psnr", lambda: psnr, 3),
        ("ssim", lambda: ssim, 3),
        ("contextual loss", lambda: contextual_loss, 3),
        ("spatial_correlative_loss", lambda: spatial_correlative_loss, 3),
    ]
    _IDS = [name for name, _, _ in _EVERY]

    @pytest.mark.parametrize("name,make,channels", _EVERY, ids=_IDS)
    def test_every_loss_and_metric_refuses_unknown_rank(name, make, channels):
        fn, pattern = make(), rf"ValueError: {name}: \w+ must be a rank-4 .* unknown rank"
        with pytest.raises(ValueError, match=pattern):
            _trace(fn, None, (None, 16, 16, 3))
        with pytest.raises(ValueError, match=pattern):
            _trace(fn, (None, 16, 16, channels), None)

    def test_rgb_to_y_refuses_unknown_rank_and_channels():
        # Unknown rank was TensorFlow's "Cannot iterate over a shape with unknown rank".
        with pytest.raises(ValueError, match=r"rgb_to_y needs RGB images \(\.\.\., 3\) as "
                                             r"images; got a tensor of unknown rank"):
            _trace(rgb_to_y, None)
        with pytest.raises(ValueError, match=r"rgb_to_y needs .*got shape \(None, 4, None\)"):
            _trace(rgb_to_y, (None, 4, None))

    @pytest.mark.parametrize("name,make,channels",
                             [e for e in _EVERY if e[0] not in ("psnr", "contextual loss")],
                             ids=[n for n in _IDS if n not in ("psnr", "contextual loss")])
    def test_losses_that_need_the_channel_count_refuse_none(name, make, channels):
        # (psnr and the contextual loss compute on any channel count, known or not.)
        fn = make()
        pattern = rf"ValueError: {name} .*(channel dimension is unknown|channels of \w+ static)"
        with pytest.raises(ValueError, match=pattern):
            _trace(fn, (None, 16, 16, None), (None, 16, 16, None))

    # --- a batch mismatch that only shows at run time ------------------------------

    _BATCH_OF_2 = np.zeros((2, 16, 16, 3), "float32")
    _BATCH_OF_1 = _BATCH_OF_2[:1]

    def _run_time_mismatch_pattern(name, a, b, what="the same shape", true_channels=3):
        return (rf"{name} expects {a} and {b} of {what}; got {a}\] \[2 16 16 {true_channels}\] "
                rf"\[and {b}\] \[1 16 16 3\]")

    @pytest.mark.parametrize("name,make,channels", _EVERY, ids=_IDS)
    def test_a_batch_mismatch_fails_at_run_time(name, make, channels):
        # The losses used to broadcast the batch of 1 against the batch of 2
        # and return a number.
        unknown_batch = tf.function(make(), input_signature=[
            tf.TensorSpec((None, 16, 16, channels)), tf.TensorSpec((None, 16, 16, 3))])
        y_true = np.zeros((2, 16, 16, channels), "float32")
        args = {"contextual loss": ("target", "generated"),
                "spatial_correlative_loss": ("source", "target")}.get(name, ("y_true", "y_pred"))
        what = "the same batch, height and width" if name == "MakeupLoss" else "the same shape"
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=_run_time_mismatch_pattern(name, *args, what, channels)):
            unknown_batch(y_true, _BATCH_OF_1)
        unknown_batch(y_true, _BATCH_OF_2)  # the same batch: no error

    def test_a_run_time_check_does_not_change_the_value():
        rng = np.random.default_rng(0)
        a, b = (rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32") for _ in range(2))
        loss = SPL(reduction="sum")
        traced = tf.function(loss, input_signature=[tf.TensorSpec((None, None, None, 3))] * 2)
        assert float(traced(a, b)) == float(loss(a, b))

    def test_no_run_time_check_when_every_size_is_known():
        # The assertion costs a few ops on the shapes, and only where a size is
        # unknown while tracing; static shapes are compared once, in Python.
        def assertions(*shapes):
            graph = _trace(lambda a, b: SPL()(a, b), *shapes).graph
            return [op for op in graph.get_operations() if op.type == "Assert"]

        assert not assertions((2, 16, 16, 3), (2, 16, 16, 3))
        assert assertions((None, 16, 16, 3), (None, 16, 16, 3))

    def test_a_batch_mismatch_fails_under_xla():
        # XLA drops tf.debugging.Assert; the stack of two empty tensors shaped
        # like the inputs fails when XLA compiles for the actual shapes.
        loss = SPL()
        compiled = tf.function(loss, input_signature=[tf.TensorSpec((None, 16, 16, 3))] * 2,
                               jit_compile=True)
        with pytest.raises(tf.errors.InvalidArgumentError,
                           match=r"(?s)Shapes of all inputs must match: values\[0\]\.shape = "
                                 r"\[2,16,16,3,0\] != values\[1\]\.shape = \[1,16,16,3,0\]"
                                 r".*SPL_y_true_and_y_pred_must_have_the_same_shape"):
            compiled(_BATCH_OF_2, _BATCH_OF_1)
        rng = np.random.default_rng(1)
        a, b = (rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32") for _ in range(2))
        np.testing.assert_allclose(float(compiled(a, b)), float(loss(a, b)), rtol=1e-6)

    @pytest.mark.parametrize("reduction", ["sum", "sum_over_batch_size"])
    def test_a_batch_empty_at_run_time_reduces_to_zero(reduction):
        signature = [tf.TensorSpec((None, 16, 16, 3))] * 2
        loss = tf.function(SPL(reduction=reduction), input_signature=signature)
        assert float(loss(EMPTY, EMPTY)) == 0.0
        # The mean over no image was 0 / 0 = NaN.
        mean = tf.function(spatial_correlative_loss, input_signature=signature)
        assert float(mean(EMPTY, EMPTY)) == 0.0

    @rerun_under_jax("-p", "no:xdist", __file__, timeout=300)
    def test_this_file_under_jax(jax_rerun):
        check_all_passed(jax_rerun, 114)


if keras.backend.backend() == "jax":
    import jax

    def test_jit_refuses_a_batch_mismatch_while_tracing():
        # JAX traces with every size known: the static check covers the case
        # that needs a run-time assertion on TensorFlow.
        pattern = (r"SPL expects y_true and y_pred of the same shape; got y_true "
                   r"\(2, 8, 8, 3\) and y_pred \(1, 8, 8, 3\)")
        with pytest.raises(ValueError, match=pattern):
            jax.jit(SPL())(RGB, RGB[:1])

    def test_jit_gives_zero_for_an_empty_batch():
        for reduction in ("sum", "sum_over_batch_size"):
            assert float(jax.jit(SPL(reduction=reduction))(EMPTY, EMPTY)) == 0.0
        assert float(jax.jit(spatial_correlative_loss)(EMPTY, EMPTY)) == 0.0
