"""Argument checks shared by every loss and metric of `spl_tf`.

Each function raises a `ValueError` that names the function and the argument
at fault, says what was expected and what was got, before anything is
computed. They read static information only (shapes, dtypes, Python values),
so they cost nothing at run time and work the same eagerly, inside a
`tf.function` / `jax.jit` trace and on Keras symbolic tensors.

Shapes may hold unknown (`None`) dimensions, as in a `tf.function` traced with
an `input_signature` of `None` sizes: such a dimension cannot be checked and
is let through, dimension by dimension, unless the caller states that it
needs it known (`known=` of `check_batch`, or a required channel count).

    check_batch("SPL", "y_true", y_true, channels=3, description="RGB images")
    check_batch("sample_positions", "target", target, description="features",
                known=("height", "width", "channels"))
    check_same_shape("SPL", ("y_true", y_true), ("y_pred", y_pred))
    low, high = check_value_range(value_range)
    patch_size = check_positive_int(patch_size, "patch_size", optional=True)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import ops

Shape = tuple  # tuple[int | None, ...]

AXES = ("batch", "height", "width", "channels")
"""The names of the four NHWC axes, as `check_batch(known=...)` takes them."""


def static_shape(x: Any) -> Shape | None:
    """The static shape of `x` as a tuple of ints and `None`s; None if its rank is unknown."""
    shape = x.shape
    if getattr(shape, "rank", 0) is None:  # tf.TensorShape(None)
        return None
    return tuple(None if d is None else int(d) for d in shape)


def layout(channels: int | None = None) -> str:
    """`"(batch, height, width, channels)"`, with the channel count when it is fixed."""
    return f"(batch, height, width, {'channels' if channels is None else channels})"


def check_batch(
    fn_name: str,
    arg_name: str,
    x: Any,
    channels: int | None = None,
    description: str = "images",
    *,
    known: Sequence[str] = (),
    hint: str = "",
):
    """Check that `x` is a non-empty, real-valued rank-4 NHWC batch; return it.

    Args:
        fn_name: The function (or loss) checking, named in the message.
        arg_name: The argument checked (`"y_true"`), named in the message.
        x: A tensor or array (anything with `shape` and `dtype`; anything else
            is converted with `keras.ops.convert_to_tensor` and returned so).
        channels: The required channel count, or None for any. A required
            count must be statically known: an unknown (`None`) channel
            dimension is refused.
        description: What `x` holds, a plural noun for the message
            (`"RGB images"`, `"features"`).
        known: Axes among `AXES` whose size must be statically known, for
            functions that build shapes from them (`("height", "width")`).
        hint: Appended to the channel-count message (why that count).

    Returns:
        `x`, converted to a tensor only if it had no shape.

    Raises:
        ValueError: if `x` has unknown rank or a rank other than 4, a dtype
            that is neither float nor integer, a batch size of 0, the wrong
            (or an unknown, when required) channel count, or an unknown size
            along an axis of `known`.
    """
    if not (hasattr(x, "shape") and hasattr(x, "dtype")):
        x = ops.convert_to_tensor(x)
    expected = f"a rank-4 NHWC batch of {description} {layout(channels)}"
    shape = static_shape(x)
    if shape is None:
        raise ValueError(
            f"{fn_name}: {arg_name} must be {expected}; got a tensor of unknown rank "
            "(give the tensor a static rank, e.g. a TensorSpec of rank 4)."
        )
    if len(shape) != 4:
        raise ValueError(
            f"{fn_name}: {arg_name} must be {expected}; got shape {shape} (rank {len(shape)})."
        )
    dtype = keras.backend.standardize_dtype(x.dtype)
    if not ("float" in dtype or "int" in dtype):
        raise ValueError(
            f"{fn_name} expects real-valued {description} (float or integer); got "
            f"{arg_name} of dtype {dtype}."
        )
    if shape[0] == 0:
        raise ValueError(
            f"{fn_name}: {arg_name} is an empty batch, shape {shape}; a loss or metric "
            "of no images has no value (pass at least one image)."
        )
    if channels is not None:
        if shape[3] is None:
            raise ValueError(
                f"{fn_name} expects {arg_name} as {description} {layout(channels)}{hint}; "
                f"its channel dimension is unknown (None), got shape {shape}. Give it a "
                f"static channel count of {channels} (e.g. keras.Input((None, None, "
                f"{channels})), a TensorSpec ending in {channels}, or tf.ensure_shape)."
            )
        if shape[3] != channels:
            raise ValueError(
                f"{fn_name} expects {arg_name} as {description} {layout(channels)}{hint}; "
                f"got {shape[3]} channels (got shape {shape})."
            )
    unknown_axes = [axis for axis in known if _axis_size(shape, axis) is None]
    if unknown_axes:
        raise ValueError(
            f"{fn_name} needs the {_join(unknown_axes)} of {arg_name} statically known "
            f"(it builds shapes from them); got shape {shape}."
        )
    return x


def check_same_shape(
    fn_name: str,
    first: tuple[str, Any],
    second: tuple[str, Any],
    axes: Sequence[int] | None = None,
) -> None:
    """Check that two tensors have the same shape, dimension by dimension.

    A dimension unknown (`None`) in either tensor cannot be compared and is
    skipped; every other dimension is compared, so one unknown dimension
    never hides a mismatch elsewhere. A tensor of unknown rank has nothing to
    compare.

    Args:
        fn_name: The function checking, named in the message.
        first, second: `(argument name, tensor)` pairs.
        axes: Compare these axes only (e.g. `(0, 1, 2)`: batch, height and
            width of NHWC batches whose channels differ); None for all, and
            then the ranks must agree too.

    Raises:
        ValueError: on a known dimension that differs, or different ranks.
    """
    (name_a, a), (name_b, b) = first, second
    shape_a, shape_b = static_shape(a), static_shape(b)
    if shape_a is None or shape_b is None:
        return
    what = "the same shape"
    if axes is None:
        differs = len(shape_a) != len(shape_b)
        axes = range(min(len(shape_a), len(shape_b)))
    else:
        differs = False
        if len(shape_a) == len(shape_b) == 4:
            what = f"the same {_join([AXES[i] for i in axes])}"
        else:
            what = f"the same size along axes {tuple(axes)}"
    for i in axes:
        if i >= len(shape_a) or i >= len(shape_b):
            differs = True
            break
        p, q = shape_a[i], shape_b[i]
        if p is not None and q is not None and p != q:
            differs = True
            break
    if differs:
        raise ValueError(
            f"{fn_name} expects {name_a} and {name_b} of {what}; got {name_a} "
            f"{shape_a} and {name_b} {shape_b}."
        )


def check_pair(
    fn_name: str,
    first: tuple[str, Any],
    second: tuple[str, Any],
    channels: int | None = None,
    description: str = "images",
    *,
    known: Sequence[str] = (),
    hint: str = "",
) -> None:
    """`check_batch` on both tensors (same options), then `check_same_shape`."""
    for name, x in (first, second):
        check_batch(fn_name, name, x, channels, description, known=known, hint=hint)
    check_same_shape(fn_name, first, second)


def check_value_range(
    value_range: Any, arg: str = "value_range"
) -> tuple[float, float]:
    """Check a `(low, high)` input range; return it as two floats.

    Both must be finite real numbers (not bools) with `low < high`: an
    infinite bound would map every input to 0 and silently zero the loss.

    Raises:
        ValueError: otherwise, naming `arg`.
    """
    message = f"{arg} must be a pair (low, high) of finite numbers with low < high"
    try:
        values = list(value_range)
    except TypeError:
        raise ValueError(f"{message}; got {value_range!r}.") from None
    if len(values) != 2 or not all(_is_real(v) for v in values):
        raise ValueError(f"{message}; got {value_range!r}.")
    low, high = (float(v) for v in values)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{message}; got {value_range!r} (not finite).")
    if not low < high:
        raise ValueError(f"{message}; got {value_range!r} (low >= high).")
    return low, high


def check_positive_int(value: Any, name: str, optional: bool = False) -> int | None:
    """Check that `value` is an integer >= 1 (or None when `optional`); return it as int.

    Python and NumPy integers are accepted; bools and floats (even `3.0`) are
    refused.
    """
    return _check_int(value, name, optional, minimum=1, what="a positive integer")


def check_non_negative_int(value: Any, name: str, optional: bool = False) -> int | None:
    """As `check_positive_int`, for an integer >= 0."""
    return _check_int(value, name, optional, minimum=0, what="a non-negative integer")


def check_positive_number(value: Any, name: str) -> float:
    """Check that `value` is a finite real number > 0 (not a bool); return it as float."""
    if not _is_real(value) or not (math.isfinite(float(value)) and float(value) > 0):
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.")
    return float(value)


def _check_int(value, name: str, optional: bool, minimum: int, what: str) -> int | None:
    if value is None and optional:
        return None
    is_int = isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )
    if not is_int or value < minimum:
        expected = f"{what} or None" if optional else what
        raise ValueError(f"{name} must be {expected}, got {value!r}.")
    return int(value)


def _is_real(value) -> bool:
    """A real number that is not a bool: Python or NumPy int or float, or a 0-d array."""
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, np.ndarray):
        return value.ndim == 0 and value.dtype.kind in "iuf"
    return isinstance(value, (numbers.Real, np.integer, np.floating))


def _axis_size(shape: Shape, axis: str) -> int | None:
    if axis not in AXES:
        raise ValueError(f"unknown axis {axis!r}; one of {AXES}")
    return shape[AXES.index(axis)]


def _join(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
