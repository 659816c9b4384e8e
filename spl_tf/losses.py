"""The Spatial Profile Loss and its two parts as Keras 3 losses.

Input convention (all three losses): `y_true` and `y_pred` are NHWC image
batches of the same shape, values in `value_range` ([-1, 1] by default, the
original's convention; `(0, 1)` reproduces its `use_conversion=False`). Any
float dtype is accepted; the loss computes in float32 and returns float32.

`call` returns one value per image, shape (batch,), equal to the original's
value on that image alone. The original sums over the batch: use
`reduction="sum"` to reproduce its batch figure; Keras's default
`"sum_over_batch_size"` gives the mean over the batch instead.

The losses are negative: identical images give the minimum, not zero.

The makeup-transfer objective of the original, `GP(output, source) +
CP(output, reference)`, is `MakeupLoss` (equal to `GPL()(source, output) +
CPL()(reference, output)`: every profile similarity is symmetric in its two
arguments). Its `y_true` holds both images, (N, H, W, 6).

Every argument is checked before computing (`spl_tf.validation`): a wrong
rank, shape, channel count, dtype or `value_range` is a ValueError that names
the loss and the argument, as are integer images (uint8) with a float
`value_range` such as the default (pass `value_range=(0, 255)` or convert) and
a constructor argument of the wrong kind. Inside a `tf.function` traced with
unknown sizes (an input signature with a `None` batch), `y_true` and `y_pred` of
different sizes fail when the graph runs. An empty batch gives an empty vector per image
and 0 once reduced ("sum", "sum_over_batch_size").
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from spl_tf.constants import DX, DY, IDENTITY
from spl_tf.profiles import weighted_profiles
from spl_tf.validation import (
    check_batch,
    check_bool,
    check_finite_number,
    check_image_dtype,
    check_optional_name,
    check_pair,
    check_same_shape,
    check_value_range,
    reduce_empty_batch,
)

DEFAULT_RANGE = (-1.0, 1.0)


def gradient_profile_loss(y_true, y_pred, value_range=DEFAULT_RANGE):
    """Gradient profile loss per image, shape (batch,).

    GP = sim(dx_true, dx_pred) + sim(dy_true, dy_pred), with dx, dy the
    forward differences of the images; any number of channels.
    """
    value_range = check_value_range(value_range)
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    y_true, y_pred = _check_images("GPL", y_true, y_pred, value_range, rgb=False)
    return weighted_profiles(y_true, y_pred, _gradient_terms(1.0), value_range)


def colour_profile_loss(
    y_true,
    y_pred,
    rgb: bool = True,
    yuv: bool = True,
    yuv_gradients: bool = True,
    value_range=DEFAULT_RANGE,
):
    """Colour profile loss per image, shape (batch,). RGB images only.

    CP = sim(rgb) + sim(yuv) + sim(dx_yuv) + sim(dy_yuv); each term can be
    switched off, as in the original's PyTorch copy.
    """
    value_range = check_value_range(value_range)
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    y_true, y_pred = _check_images("CPL", y_true, y_pred, value_range, rgb=True)
    terms = _colour_terms(1.0, *_check_switches(rgb, yuv, yuv_gradients))
    return weighted_profiles(y_true, y_pred, terms, value_range)


def spatial_profile_loss(
    y_true,
    y_pred,
    gp_weight: float = 1.0,
    cp_weight: float = 1.0,
    rgb: bool = True,
    yuv: bool = True,
    yuv_gradients: bool = True,
    value_range=DEFAULT_RANGE,
):
    """Spatial profile loss per image, shape (batch,). RGB images only.

    SPL = gp_weight * GP + cp_weight * CP; the original has both weights 1.
    """
    value_range = check_value_range(value_range)
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    y_true, y_pred = _check_images("SPL", y_true, y_pred, value_range, rgb=True)
    gp_weight, cp_weight = _check_weights(gp_weight, cp_weight)
    terms = _gradient_terms(gp_weight)
    switches = _check_switches(rgb, yuv, yuv_gradients)
    for key, weight in _colour_terms(cp_weight, *switches).items():
        terms[key] = terms.get(key, 0.0) + weight
    return weighted_profiles(y_true, y_pred, terms, value_range)


class _ProfileLoss(keras.losses.Loss):
    """What every profile loss holds: the input range, a float32 computation."""

    def __init__(self, value_range, reduction, name):
        super().__init__(name=check_optional_name(name), reduction=reduction, dtype="float32")
        self.value_range = check_value_range(value_range)

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Keras casts both to float32 before `call`: integer images are seen here only.
        _check_dtypes(type(self).__name__, y_true, y_pred, self.value_range)
        # Keras leaves the values of an empty batch unreduced (an empty tensor).
        value = super().__call__(y_true, y_pred, sample_weight)
        return reduce_empty_batch(value, self.reduction)

    def get_config(self):
        return {**super().get_config(), "value_range": list(self.value_range)}


class _ColourSwitchedLoss(_ProfileLoss):
    """A profile loss with the original's switchable colour terms."""

    def __init__(self, rgb, yuv, yuv_gradients, value_range, reduction, name):
        super().__init__(value_range, reduction, name)
        self.rgb, self.yuv, self.yuv_gradients = _check_switches(rgb, yuv, yuv_gradients)

    def get_config(self):
        return {
            **super().get_config(),
            "rgb": self.rgb,
            "yuv": self.yuv,
            "yuv_gradients": self.yuv_gradients,
        }


@keras.saving.register_keras_serializable(package="spl_tf")
class GPL(_ProfileLoss):
    """Gradient Profile Loss: profile similarity of the image gradients.

    `GP = sim(dx_true, dx_pred) + sim(dy_true, dy_pred)`, where `sim(a, b) =
    -(sum of row cosines + sum of column cosines) / H` over every row and
    column of every channel (see `spl_tf.profiles`). Works on any number of
    channels.

    Args:
        value_range: `(low, high)` of the inputs; mapped to [0, 1] first.
        reduction: Keras reduction of the per-image values; `"sum"` gives the
            original's batch value.
        name: Optional name.
    """

    def __init__(
        self,
        value_range: Sequence[float] = DEFAULT_RANGE,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
    ):
        super().__init__(value_range, reduction, name)

    def call(self, y_true, y_pred):
        return gradient_profile_loss(y_true, y_pred, self.value_range)


@keras.saving.register_keras_serializable(package="spl_tf")
class CPL(_ColourSwitchedLoss):
    """Colour Profile Loss: profile similarity in RGB and YUV.

    `CP = sim(rgb) + sim(yuv) + sim(dx_yuv) + sim(dy_yuv)` with TensorFlow's
    RGB-to-YUV kernel; inputs must have 3 (RGB) channels.

    Args:
        rgb: Include `sim(rgb)`.
        yuv: Include `sim(yuv)`.
        yuv_gradients: Include `sim(dx_yuv) + sim(dy_yuv)`.
        value_range: `(low, high)` of the inputs; mapped to [0, 1] first.
        reduction: Keras reduction of the per-image values.
        name: Optional name.
    """

    def __init__(
        self,
        rgb: bool = True,
        yuv: bool = True,
        yuv_gradients: bool = True,
        value_range: Sequence[float] = DEFAULT_RANGE,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
    ):
        super().__init__(rgb, yuv, yuv_gradients, value_range, reduction, name)

    def call(self, y_true, y_pred):
        return colour_profile_loss(
            y_true, y_pred, self.rgb, self.yuv, self.yuv_gradients, self.value_range
        )


@keras.saving.register_keras_serializable(package="spl_tf")
class SPL(_ColourSwitchedLoss):
    """Spatial Profile Loss (Sarfraz et al., BMVC 2019).

    `SPL = gp_weight * GP + cp_weight * CP` (see `GPL`, `CPL`). With the
    defaults and `reduction="sum"` it equals the original release's value,
    gradient included. Inputs must have 3 (RGB) channels.

    Args:
        gp_weight: Weight of the gradient profile part.
        cp_weight: Weight of the colour profile part.
        rgb, yuv, yuv_gradients: Switches of the colour terms, as in `CPL`.
        value_range: `(low, high)` of the inputs; mapped to [0, 1] first.
        reduction: Keras reduction of the per-image values.
        name: Optional name.

    Example:

    ```python
    model.compile(optimizer="adam", loss=spl_tf.SPL())
    ```
    """

    def __init__(
        self,
        gp_weight: float = 1.0,
        cp_weight: float = 1.0,
        rgb: bool = True,
        yuv: bool = True,
        yuv_gradients: bool = True,
        value_range: Sequence[float] = DEFAULT_RANGE,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
    ):
        super().__init__(rgb, yuv, yuv_gradients, value_range, reduction, name)
        self.gp_weight, self.cp_weight = _check_weights(gp_weight, cp_weight)

    def call(self, y_true, y_pred):
        return spatial_profile_loss(
            y_true,
            y_pred,
            self.gp_weight,
            self.cp_weight,
            self.rgb,
            self.yuv,
            self.yuv_gradients,
            self.value_range,
        )

    def get_config(self):
        return {
            **super().get_config(),
            "gp_weight": self.gp_weight,
            "cp_weight": self.cp_weight,
        }


def makeup_loss(y_true, y_pred, value_range=DEFAULT_RANGE):
    """The makeup-transfer loss per image, shape (batch,).

    `GP(source, y_pred) + CP(reference, y_pred)`, where `y_true` (N, H, W, 6)
    holds the source face's RGB then the warped reference's RGB, and `y_pred`
    (N, H, W, 3) is the output; all in `value_range`.
    """
    value_range = check_value_range(value_range)
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    check_batch("MakeupLoss", "y_true", y_true, channels=6,
                description="source and reference RGB images", hint=_MAKEUP_HINT)
    check_batch("MakeupLoss", "y_pred", y_pred, channels=3, description="RGB images")
    _check_dtypes("MakeupLoss", y_true, y_pred, value_range)
    y_true, y_pred = check_same_shape("MakeupLoss", ("y_true", y_true), ("y_pred", y_pred),
                                      axes=(0, 1, 2))
    source, reference = y_true[..., :3], y_true[..., 3:]
    return weighted_profiles(source, y_pred, _gradient_terms(1.0), value_range) + (
        weighted_profiles(reference, y_pred, _colour_terms(1.0, True, True, True), value_range)
    )


_MAKEUP_HINT = " (the source face's RGB, then the warped reference's: the generator's input)"


@keras.saving.register_keras_serializable(package="spl_tf")
class MakeupLoss(_ProfileLoss):
    """The makeup-transfer loss of the original: `GP(source, y_pred) + CP(reference, y_pred)`.

    Per image, `GP` the gradient profile similarity (`GPL`) and `CP` the colour
    profile similarity (`CPL`, all terms on): the output keeps the source
    face's structure and takes the reference's colours. It equals
    `GPL()(source, y_pred) + CPL()(reference, y_pred)`.

    Input convention: `y_true` is (N, H, W, 6), the source face's RGB in
    channels 0..2 then the reference face (warped onto the source) in
    channels 3..5, i.e. the makeup generator's input; `y_pred` is the output,
    (N, H, W, 3). Values in `value_range`.

    Args:
        value_range: `(low, high)` of the inputs; mapped to [0, 1] first.
        reduction: Keras reduction of the per-image values; `"sum"` gives the
            original's batch value.
        name: Optional name.

    Example:

    ```python
    model.compile(optimizer="adam", loss=spl_tf.MakeupLoss())
    model.fit(six_channel_inputs, six_channel_inputs)  # y_true = the input
    ```
    """

    def __init__(
        self,
        value_range: Sequence[float] = DEFAULT_RANGE,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = "makeup_loss",
    ):
        super().__init__(value_range, reduction, name)

    def call(self, y_true, y_pred):
        return makeup_loss(y_true, y_pred, self.value_range)


def _gradient_terms(weight: float) -> dict:
    return {("raw", DX): weight, ("raw", DY): weight}


def _colour_terms(weight: float, rgb: bool, yuv: bool, yuv_gradients: bool) -> dict:
    return {
        ("raw", IDENTITY): weight * rgb,
        ("yuv", IDENTITY): weight * yuv,
        ("yuv", DX): weight * yuv_gradients,
        ("yuv", DY): weight * yuv_gradients,
    }


_RGB_HINT = (" (its colour terms convert RGB to YUV; GPL works on any number of "
             "channels)")


def _check_images(loss: str, y_true, y_pred, value_range: tuple[float, float], rgb: bool):
    """ValueError naming what was expected, before any computation; the two batches to
    compute with (`spl_tf.validation.check_same_shape`).

    Both must be rank-4 NHWC batches of the same shape (unknown dimensions
    aside) with a known channel count, 3 for the colour losses, and not integer
    images with a float `value_range` (`check_image_dtype`).
    """
    if rgb:
        pair = check_pair(loss, ("y_true", y_true), ("y_pred", y_pred), channels=3,
                          description="RGB images", hint=_RGB_HINT)
    else:
        pair = check_pair(loss, ("y_true", y_true), ("y_pred", y_pred), known=("channels",))
    _check_dtypes(loss, y_true, y_pred, value_range)
    return pair


def _check_dtypes(loss: str, y_true, y_pred, value_range: tuple[float, float]) -> None:
    """No integer images with a float `value_range` (see `check_image_dtype`)."""
    for arg_name, images in (("y_true", y_true), ("y_pred", y_pred)):
        check_image_dtype(loss, arg_name, images, value_range)


def _check_switches(rgb, yuv, yuv_gradients) -> tuple[bool, bool, bool]:
    """The colour terms' switches, each True or False (`bool("no")` would be True)."""
    return (check_bool(rgb, "rgb"), check_bool(yuv, "yuv"),
            check_bool(yuv_gradients, "yuv_gradients"))


def _check_weights(gp_weight, cp_weight) -> tuple[float, float]:
    """SPL's two weights, finite numbers (any sign: a negative weight is a choice)."""
    return check_finite_number(gp_weight, "gp_weight"), check_finite_number(cp_weight,
                                                                             "cp_weight")
