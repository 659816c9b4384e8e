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
CP(output, reference)`, is `GPL()(source, output) + CPL()(reference, output)`
(every profile similarity is symmetric in its two arguments).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from spl_tf.profiles import DX, DY, IDENTITY, weighted_profiles

DEFAULT_RANGE = (-1.0, 1.0)


def gradient_profile_loss(y_true, y_pred, value_range=DEFAULT_RANGE):
    """Gradient profile loss per image, shape (batch,).

    GP = sim(dx_true, dx_pred) + sim(dy_true, dy_pred), with dx, dy the
    forward differences of the images; any number of channels.
    """
    value_range = _check_range(value_range)
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    _check_images("GPL", y_true, y_pred, rgb=False)
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
    value_range = _check_range(value_range)
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    _check_images("CPL", y_true, y_pred, rgb=True)
    terms = _colour_terms(1.0, rgb, yuv, yuv_gradients)
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
    value_range = _check_range(value_range)
    y_true, y_pred = ops.convert_to_tensor(y_true), ops.convert_to_tensor(y_pred)
    _check_images("SPL", y_true, y_pred, rgb=True)
    terms = _gradient_terms(gp_weight)
    for key, weight in _colour_terms(cp_weight, rgb, yuv, yuv_gradients).items():
        terms[key] = terms.get(key, 0.0) + weight
    return weighted_profiles(y_true, y_pred, terms, value_range)


class _ProfileLoss(keras.losses.Loss):
    """What every profile loss holds: the input range, a float32 computation."""

    def __init__(self, value_range, reduction, name):
        super().__init__(name=name, reduction=reduction, dtype="float32")
        self.value_range = _check_range(value_range)

    def get_config(self):
        return {**super().get_config(), "value_range": list(self.value_range)}


class _ColourSwitchedLoss(_ProfileLoss):
    """A profile loss with the original's switchable colour terms."""

    def __init__(self, rgb, yuv, yuv_gradients, value_range, reduction, name):
        super().__init__(value_range, reduction, name)
        self.rgb, self.yuv, self.yuv_gradients = bool(rgb), bool(yuv), bool(yuv_gradients)

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
        self.gp_weight, self.cp_weight = float(gp_weight), float(cp_weight)

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


def _gradient_terms(weight: float) -> dict:
    return {("raw", DX): weight, ("raw", DY): weight}


def _colour_terms(weight: float, rgb: bool, yuv: bool, yuv_gradients: bool) -> dict:
    return {
        ("raw", IDENTITY): weight * rgb,
        ("yuv", IDENTITY): weight * yuv,
        ("yuv", DX): weight * yuv_gradients,
        ("yuv", DY): weight * yuv_gradients,
    }


def _check_range(value_range) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(
            f"value_range must be a pair (low, high) of numbers, got {value_range!r}"
        ) from None
    if not low < high:
        raise ValueError(f"value_range must have low < high, got {value_range!r}")
    return low, high


def _check_images(loss: str, y_true, y_pred, rgb: bool) -> None:
    """Raise a ValueError naming what was expected, before any computation."""
    expected = "(batch, height, width, 3)" if rgb else "(batch, height, width, channels)"
    true_shape, pred_shape = tuple(y_true.shape), tuple(y_pred.shape)
    for arg, shape in (("y_true", true_shape), ("y_pred", pred_shape)):
        if len(shape) != 4:
            raise ValueError(
                f"{loss} expects {arg} as a rank-4 NHWC image batch {expected}; "
                f"got shape {shape} (rank {len(shape)})."
            )
    if any(t is not None and p is not None and t != p for t, p in zip(true_shape, pred_shape)):
        raise ValueError(
            f"{loss} expects y_true and y_pred of the same shape; got y_true "
            f"{true_shape} and y_pred {pred_shape}."
        )
    channels = true_shape[-1] if true_shape[-1] is not None else pred_shape[-1]
    if rgb and channels not in (3, None):
        raise ValueError(
            f"{loss} expects RGB images {expected} (its colour terms convert RGB "
            f"to YUV); got {channels} channels, shape {true_shape}. GPL works on "
            "any number of channels."
        )
    for arg, x in (("y_true", y_true), ("y_pred", y_pred)):
        dtype = keras.backend.standardize_dtype(x.dtype)
        if not ("float" in dtype or "int" in dtype):
            raise ValueError(f"{loss} expects real-valued images; got {arg} of dtype {dtype}.")
