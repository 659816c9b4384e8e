"""The shared argument checks (`spl_tf.validation`) and their use by every loss and metric.

Backend-agnostic, except the tests that trace with unknown dimensions
(`tf.function` input signatures, the run-time shape check, XLA), which exist on
TensorFlow only, and those of `jax.jit`, on JAX only; the file is rerun under
JAX by `test_this_file_under_jax`.
"""

import functools
import inspect
import math
import re

import keras
import numpy as np
import pytest
import skimage.data
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
    StyleLoss,
    colour_profile_loss,
    contextual_loss,
    gradient_profile_loss,
    makeup_loss,
    spatial_correlative_loss,
    spatial_profile_loss,
)
from spl_tf.metrics import mse, psnr, rgb_to_y, ssim
from spl_tf.validation import (
    check_batch,
    check_bool,
    check_finite_number,
    check_image_dtype,
    check_last_axis,
    check_names,
    check_non_negative_int,
    check_pair,
    check_positive_int,
    check_positive_number,
    check_same_shape,
    check_seed,
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


# --- guarded inputs: integer images, values outside value_range, constructor arguments


U8 = np.stack([skimage.data.astronaut()[100:116, 200:216],
               skimage.data.astronaut()[300:316, 300:316]])
"""Two uint8 RGB pictures, 16x16 (large enough for SSIM's window)."""


def _as_float(u8, value_range=(-1.0, 1.0)):
    low, high = value_range
    return (low + u8.astype("float32") / 255 * (high - low)).astype("float32")


@functools.cache
def _style_loss():
    return StyleLoss(("block1_conv1",), weights=None, name="style")


@functools.cache
def _lsesim():
    return LSeSim(("relu1_1",), weights=None)


# Every loss and metric on images: (test id, name in its messages, builder of a
# function of (y_true, y_pred), whether it takes a value_range).
_ON_IMAGES = [
    *[(f"{kind}()", kind, functools.partial(_profile_loss, kind), True)
      for kind in ("SPL", "CPL", "GPL", "MakeupLoss")],
    ("spatial_profile_loss", "SPL", lambda: spatial_profile_loss, True),
    ("colour_profile_loss", "CPL", lambda: colour_profile_loss, True),
    ("gradient_profile_loss", "GPL", lambda: gradient_profile_loss, True),
    ("makeup_loss", "MakeupLoss", lambda: makeup_loss, True),
    ("PerceptualLoss", "vgg", lambda: _feature_loss("perceptual"), False),
    ("ContextualLoss", "cx", lambda: _feature_loss("contextual"), False),
    ("FSeSimLoss", "fsesim", lambda: _feature_loss("fsesim"), False),
    ("StyleLoss", "style", _style_loss, False),
    ("LSeSim.generator_loss", "LSeSim.generator_loss", lambda: _lsesim().generator_loss,
     False),
    ("LSeSim.head_loss", "LSeSim.head_loss",
     lambda: lambda source, output: _lsesim().head_loss(source, output, output), False),
    ("psnr", "psnr", lambda: psnr, True),
    ("ssim", "ssim", lambda: ssim, True),
    ("mse", "mse", lambda: mse, True),
    ("rgb_to_y", "rgb_to_y", lambda: lambda images, _=None, **kw: rgb_to_y(images, **kw), True),
]
_WITH_RANGE = [case for case in _ON_IMAGES if case[3]]
_IDS_WITH_RANGE = [case[0] for case in _WITH_RANGE]


_ARGUMENT_NAMES = {
    "rgb_to_y": {"y_true": "images"},
    "LSeSim.generator_loss": {"y_true": "source", "y_pred": "output"},
    "LSeSim.head_loss": {"y_true": "source", "y_pred": "output"},
}
"""Where a function names its two images otherwise than y_true and y_pred."""


def _call(name, fn, y_true, y_pred):
    """`fn(y_true, y_pred)`; MakeupLoss's y_true holds the RGB pair side by side."""
    if name == "MakeupLoss":
        y_true = np.concatenate([y_true, y_true], axis=-1)
    return fn(y_true, y_pred)


def _with_range(case_id, make, value_range):
    """`make()` with `value_range`: the Loss classes take it when built, the rest when called."""
    if case_id.endswith("()"):
        return {"SPL()": SPL, "CPL()": CPL, "GPL()": GPL, "MakeupLoss()": MakeupLoss}[case_id](
            value_range=value_range)
    return functools.partial(make(), value_range=value_range)


# Each case with each of its image arguments (rgb_to_y has one).
_INTEGER_CASES = [(*case, argument) for case in _ON_IMAGES
                  for argument in ("y_true", "y_pred")[:1 if case[1] == "rgb_to_y" else 2]]


@pytest.mark.parametrize("case_id,name,make,takes_range,argument", _INTEGER_CASES,
                         ids=[f"{case[0]}-{case[-1]}" for case in _INTEGER_CASES])
def test_integer_images_with_a_float_range_are_refused(case_id, name, make, takes_range,
                                                       argument):
    # uint8 with the default (-1, 1) gave a plausible number: PSNR -2.95 dB for 39.16.
    images = {"y_true": _as_float(U8), "y_pred": _as_float(U8)}
    images[argument] = U8
    named = _ARGUMENT_NAMES.get(name, {}).get(argument, argument)
    if takes_range:
        pattern = (rf"^{re.escape(name)} got {named} of integer dtype uint8 with "
                   r"value_range=\(-1, 1\), a range of float images: pass value_range=\(0, "
                   rf"255\), the range of uint8 images, or convert {named} to float in "
                   r"\[-1, 1\] first \(e\.g\. x / 127\.5 - 1\)\.$")
    else:
        pattern = (rf"^{re.escape(name)} got {named} of integer dtype uint8 but it takes "
                   rf"float images in \[-1, 1\]: convert {named} to float in \[-1, 1\] "
                   r"first \(e\.g\. x / 127\.5 - 1\)\.$")
    with pytest.raises(ValueError, match=pattern):
        _call(name, make(), images["y_true"], images["y_pred"])


@pytest.mark.parametrize("case_id,name,make,takes_range", _WITH_RANGE, ids=_IDS_WITH_RANGE)
def test_integer_images_are_refused_with_zero_one_too(case_id, name, make, takes_range):
    pattern = (rf"^{re.escape(name)} got \w+ of integer dtype int32 with value_range=\(0, "
               r"1\).*pass value_range=\(0, 255\).*to float in \[0, 1\] first \(e\.g\. x / "
               r"255\)")
    with pytest.raises(ValueError, match=pattern):
        _call(name, _with_range(case_id, make, (0, 1)), U8.astype("int32"),
              _as_float(U8, (0, 1)))


@pytest.mark.parametrize("case_id,name,make,takes_range", _WITH_RANGE, ids=_IDS_WITH_RANGE)
def test_integer_images_with_their_range_give_the_float_value(case_id, name, make,
                                                              takes_range):
    noisy = np.clip(U8 + np.random.default_rng(0).integers(-20, 21, U8.shape), 0, 255)
    noisy = noisy.astype("uint8")
    as_u8 = _call(name, _with_range(case_id, make, (0, 255)), U8, noisy)
    as_float = _call(name, make(), _as_float(U8), _as_float(noisy))
    np.testing.assert_allclose(ops.convert_to_numpy(as_u8), ops.convert_to_numpy(as_float),
                               rtol=1e-4, atol=1e-4)


def test_the_psnr_of_uint8_images():
    # The case of the issue: the default range gave -2.95 dB for 39.16.
    noisy = np.clip(U8.astype(int) + np.random.default_rng(0).integers(-4, 5, U8.shape), 0,
                    255).astype("uint8")
    got = ops.convert_to_numpy(psnr(U8, noisy, value_range=(0, 255), y_channel=False))
    squared = (U8.astype(float) - noisy) ** 2
    np.testing.assert_allclose(got, 10 * np.log10(255**2 / squared.mean(axis=(1, 2, 3))),
                               rtol=1e-5)
    with pytest.raises(ValueError, match=r"pass value_range=\(0, 255\)"):
        psnr(U8, noisy)


@pytest.mark.parametrize("dtype,expected", [("uint16", "(0, 65535)"), ("int8", "(-128, 127)"),
                                            ("int64", "(0, 255)")])
def test_the_message_suggests_the_range_of_the_dtype(dtype, expected):
    with pytest.raises(ValueError, match=rf"integer dtype {dtype} .*pass value_range="
                                         rf"{re.escape(expected)}, the range of {dtype} images"):
        check_image_dtype("f", "x", np.zeros((1, 2, 2, 3), dtype), (-1.0, 1.0))


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_float_images_and_integer_ranges_pass_the_dtype_check(dtype):
    check_image_dtype("f", "x", ops.zeros((1, 2, 2, 3), dtype), (-1.0, 1.0))
    check_image_dtype("f", "x", np.zeros((1, 2, 2, 3), "uint8"), (0.0, 255.0))
    check_image_dtype("f", "x", np.zeros((1, 2, 2, 3), "uint16"), (0.0, 1023.0))


_METRICS = {"psnr": psnr, "ssim": ssim, "mse": mse}


@pytest.mark.parametrize("argument", ["y_true", "y_pred"])
@pytest.mark.parametrize("name", sorted(_METRICS))
def test_metrics_refuse_values_outside_the_range(name, argument):
    # The usual slip: images on 0..255 (or 0..1) as float, the default range (-1, 1).
    images = {"y_true": _as_float(U8), "y_pred": _as_float(U8)}
    images[argument] = U8.astype("float32")
    low, high = float(U8.min()), float(U8.max())
    pattern = (rf"^{name} expects {argument} in value_range=\(-1, 1\); got values from "
               rf"{low:g} to {high:g}\. Pass the value_range the images are in, or clip them "
               rf"to it \(e\.g\. np\.clip\({argument}, -1, 1\)\)\.$")
    with pytest.raises(ValueError, match=pattern):
        _METRICS[name](**images)
    images = {"y_true": _as_float(U8, (0, 1)), "y_pred": _as_float(U8, (0, 1))}
    images[argument][0, 0, 0, 0] = -0.5
    with pytest.raises(ValueError, match=rf"{argument} in value_range=\(0, 1\); got values "
                                         r"from -0\.5 to"):
        _METRICS[name](**images, value_range=(0, 1))


@pytest.mark.parametrize("name", sorted(_METRICS))
def test_metrics_accept_rounding_beyond_the_range(name):
    rounded = _as_float(U8)
    # The tolerance is 1e-3 of the range's width: 0.002 here.
    rounded[0, 0, 0], rounded[0, 0, 1] = 1.0015, -1.0015
    _METRICS[name](rounded, _as_float(U8))
    rounded[0, 0, 2] = 1.006
    with pytest.raises(ValueError, match=r"got values from -1\.0015 to 1\.006"):
        _METRICS[name](rounded, _as_float(U8))


@pytest.mark.parametrize("name", sorted(_METRICS))
def test_metrics_refuse_eager_tensors_and_nan(name):
    outside = _as_float(U8)
    outside[0, 1, 2, 0] = 1.5
    outside = ops.convert_to_tensor(outside)
    with pytest.raises(ValueError, match=r"expects y_true in value_range=\(-1, 1\); got "
                                         r"values from -?[\d.]+ to 1\.5\."):
        _METRICS[name](outside, _as_float(U8))
    nan = _as_float(U8)
    nan[1, 3, 4, 2] = np.nan
    with pytest.raises(ValueError, match=rf"^{name} expects y_pred in value_range=\(-1, 1\); "
                                         r"got NaN values\.$"):
        _METRICS[name](_as_float(U8), nan)


def test_integer_values_outside_their_range_are_refused():
    assert U8.max() > 100
    with pytest.raises(ValueError, match=rf"psnr expects y_true in value_range=\(0, 100\); "
                                         rf"got values from {U8.min()} to {U8.max()}\."):
        psnr(U8, U8, value_range=(0, 100))


def test_the_losses_leave_values_outside_the_range_to_the_model():
    # A model's output may overshoot (no tanh); the loss must still train it.
    images = _as_float(U8)
    assert np.isfinite(ops.convert_to_numpy(SPL()(images, images * 1.5)))


def test_an_empty_batch_has_no_values_to_check():
    empty = np.zeros((0, 16, 16, 3), "uint8")
    assert ops.convert_to_numpy(psnr(empty, empty, value_range=(0, 255))).shape == (0,)


_LOSS_CLASSES = {"SPL": SPL, "CPL": CPL, "GPL": GPL, "MakeupLoss": MakeupLoss,
                 "ContextualLoss": ContextualLoss, "FSeSimLoss": FSeSimLoss, "LSeSim": LSeSim,
                 "PerceptualLoss": PerceptualLoss, "StyleLoss": StyleLoss}
_FEATURES = {"weights": None}  # a bad argument is refused before VGG is built

# Every constructor argument of every loss, a bad value and what its message says.
_BAD_ARGUMENTS = {
    "value_range": ("ab", r"value_range must be a pair \(low, high\) of finite numbers"),
    "reduction": ("each", r"Invalid value for argument `reduction`"),
    "name": (3, r"name must be a string or None, got 3"),
    "gp_weight": ("x", r"gp_weight must be a finite number, got 'x'"),
    "cp_weight": (math.nan, r"cp_weight must be a finite number, got nan"),
    "rgb": ("no", r"rgb must be True or False, got 'no'"),
    "yuv": (1, r"yuv must be True or False, got 1"),
    "yuv_gradients": (None, r"yuv_gradients must be True or False, got None"),
    "layers": ("conv3_2", r"layers must be a sequence of names, got the string 'conv3_2': "
                          r"pass \('conv3_2',\)"),
    "layer_weights": (("a",), r"layer_weights\[0\] must be a finite number, got 'a'"),
    "distance": ("l3", r"distance must be .*got 'l3'"),
    "band_width": (0, r"band_width must be a positive finite number, got 0"),
    "max_positions_1d": (64.0, r"max_positions_1d must be a positive integer or None, got 64"),
    "crop_quarters": ("yes", r"crop_quarters must be True or False, got 'yes'"),
    "network": ("vgg11", r"network must be one of \['vgg16', 'vgg19'\]; got 'vgg11'"),
    "weights": (3, r"weights must be 'imagenet', the path of a weights file or None, got 3"),
    "pooling": ("min", r"pooling must be 'max' or 'avg'; got 'min'"),
    "seed": ("x", r"seed must be a non-negative integer or None, got 'x'"),
    "mode": ("info", r"mode .*must be 'cos' or 'l1', got 'info'"),
    "patch_size": (0, r"patch_size must be a positive integer or None, got 0"),
    "num_queries": (1.5, r"num_queries must be a positive integer or None, got 1\.5"),
    "normalize": ("no", r"normalize must be True or False, got 'no'"),
    "temperature": (-1, r"temperature must be a positive finite number, got -1"),
    "head_units": (0, r"head_units must be a positive integer or None, got 0"),
}


def _constructor_arguments(cls) -> list[str]:
    parameters = inspect.signature(cls.__init__).parameters.values()
    return [p.name for p in parameters if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD]


_CONSTRUCTOR_CASES = [(cls_name, argument) for cls_name, cls in _LOSS_CLASSES.items()
                      for argument in _constructor_arguments(cls)]


@pytest.mark.parametrize("cls_name,argument", _CONSTRUCTOR_CASES,
                         ids=[f"{c}-{a}" for c, a in _CONSTRUCTOR_CASES])
def test_each_constructor_argument_is_checked_and_named(cls_name, argument):
    # SPL(gp_weight="x") said "could not convert string to float: 'x'".
    assert argument in _BAD_ARGUMENTS, f"{cls_name}({argument}=...) has no bad value to try"
    value, pattern = _BAD_ARGUMENTS[argument]
    cls = _LOSS_CLASSES[cls_name]
    defaults = _FEATURES if "weights" in _constructor_arguments(cls) else {}
    with pytest.raises(ValueError, match=pattern):
        cls(**{**defaults, argument: value})


@pytest.mark.parametrize("value", [True, False, np.bool_(True)])
def test_check_bool_accepts(value):
    assert check_bool(value, "rgb") is bool(value)


@pytest.mark.parametrize("value", [1, 0, "True", None, np.array([True])])
def test_check_bool_refuses(value):
    with pytest.raises(ValueError, match="rgb must be True or False"):
        check_bool(value, "rgb")


def test_check_finite_number():
    assert check_finite_number(-2, "w") == -2.0 and check_finite_number(np.float32(0.5), "w") == 0.5
    for bad in (math.inf, -math.inf, math.nan, True, "1", None, [1.0]):
        with pytest.raises(ValueError, match="w must be a finite number"):
            check_finite_number(bad, "w")


def test_check_names_and_seed():
    assert check_names(["a", "b"], "layers") == ("a", "b")
    for bad in ((), ("a", 1), 3):
        with pytest.raises(ValueError, match="layers must be a non-empty sequence of names"):
            check_names(bad, "layers")
    assert check_seed(0) == 0 and check_seed(None) is None and check_seed(np.int64(5)) == 5
    for bad in (-1, 1.0, True, "1"):  # a negative seed fails on JAX when first drawn
        with pytest.raises(ValueError, match="seed must be a non-negative integer or None"):
            check_seed(bad)


def test_valid_constructor_arguments_are_kept():
    loss = SPL(gp_weight=np.float32(0.5), cp_weight=-1, rgb=np.bool_(False), name="spl")
    assert (loss.gp_weight, loss.cp_weight, loss.rgb) == (0.5, -1.0, False)
    assert type(loss.gp_weight) is float and type(loss.rgb) is bool
    contextual = ContextualLoss(("conv1_1",), layer_weights=[2], weights=None, seed=np.int32(7))
    assert contextual.layer_weights == (2.0,) and type(contextual.seed) is int


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

    def test_integer_images_are_refused_while_tracing():
        # The dtype is static: a fit step's trace stops at it, before any value is read.
        uint8 = [tf.TensorSpec((None, 16, 16, 3), tf.uint8)] * 2
        for fn, name in ((SPL(), "SPL"), (psnr, "psnr"), (_feature_loss("perceptual"), "vgg")):
            with pytest.raises(ValueError, match=rf"ValueError: {name} got y_true of integer "
                                                 r"dtype uint8"):
                tf.function(fn, input_signature=uint8).get_concrete_function()

    @pytest.mark.parametrize("jit_compile", [False, True])
    def test_traced_metrics_read_no_values(jit_compile):
        # Inside a graph there are no values to check: no host round trip, no error.
        outside = np.full((1, 16, 16, 3), 2.0, "float32")
        compiled = tf.function(lambda a, b: psnr(a, b), jit_compile=jit_compile)
        assert np.isposinf(compiled(outside, outside).numpy()).all()
        with pytest.raises(ValueError, match="got values from 2 to 2"):
            psnr(outside, outside)

    @rerun_under_jax("-p", "no:xdist", __file__, timeout=300)
    def test_this_file_under_jax(jax_rerun):
        check_all_passed(jax_rerun, 277)


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

    def test_jit_refuses_integer_images_and_reads_no_values():
        with pytest.raises(ValueError, match=r"^SPL got y_true of integer dtype uint8"):
            jax.jit(SPL())(U8, U8)
        outside = np.full((1, 16, 16, 3), 2.0, "float32")
        assert np.isposinf(np.asarray(jax.jit(psnr)(outside, outside))).all()
        with pytest.raises(ValueError, match="got values from 2 to 2"):
            psnr(jax.numpy.asarray(outside), outside)
