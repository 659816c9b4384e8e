"""Argument checks shared by every loss and metric of `spl_tf`.

Each function raises a `ValueError` that names the function and the argument
at fault, says what was expected and what was got, before anything is
computed. They read static information (shapes, dtypes, Python values), so
they work the same eagerly, inside a `tf.function` / `jax.jit` trace and on
Keras symbolic tensors; `check_image_values` alone also reads the values of
arrays that have them (NumPy, eager tensors), for the metrics.

Images of an integer dtype (uint8) with a float `value_range` (`(-1, 1)`,
`(0, 1)`) are refused by every loss and metric (`check_image_dtype`): they
would give plausible numbers that mean nothing.

Shapes may hold unknown (`None`) dimensions, as in a `tf.function` traced with
an `input_signature` of `None` sizes. A size the computation builds shapes
from must be known (`known=` of `check_batch`, or a required channel count).
Any other unknown size is let through the static check; `check_same_shape`
then compares it when the graph runs (TensorFlow only: JAX traces with every
size known), because the losses would otherwise broadcast a batch of 1
against a batch of N and return a number.

An empty batch (size 0) is valid: per-image values are empty and a loss
reduced by Keras ("sum", "sum_over_batch_size") is 0 (`reduce_empty_batch`).

    check_batch("SPL", "y_true", y_true, channels=3, description="RGB images")
    check_batch("sample_positions", "target", target, description="features",
                known=("height", "width", "channels"))
    y_true, y_pred = check_same_shape("SPL", ("y_true", y_true), ("y_pred", y_pred))
    low, high = check_value_range(value_range)
    check_image_dtype("SPL", "y_true", y_true, (low, high))    # no uint8 with (-1, 1)
    check_image_values("psnr", "y_true", y_true, (low, high))  # metrics: nor values outside
    patch_size = check_positive_int(patch_size, "patch_size", optional=True)
    gp_weight = check_finite_number(gp_weight, "gp_weight")
    rgb = check_bool(rgb, "rgb")
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Iterable, Sequence
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
    """Check that `x` is a real-valued rank-4 NHWC batch; return it.

    A batch of 0 images is accepted: every loss and metric gives an empty
    per-image vector for it (and a reduced loss gives 0, `reduce_empty_batch`).

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
            that is neither float nor integer, the wrong (or an unknown, when
            required) channel count, or an unknown size along an axis of
            `known`.
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
) -> tuple[Any, Any]:
    """Check that two tensors have the same shape, dimension by dimension; the two
    tensors, to compute with (see below).

    Every dimension known in both tensors is compared now, so one unknown
    dimension never hides a mismatch elsewhere. A dimension unknown (`None`)
    in either, as the batch of a `tf.function` traced with an input signature,
    is compared when the graph runs, on TensorFlow (`_assert_same_at_run_time`;
    JAX always traces with known sizes). A tensor of unknown rank has nothing
    to compare.

    Args:
        fn_name: The function checking, named in the message.
        first, second: `(argument name, tensor)` pairs.
        axes: Compare these axes only (e.g. `(0, 1, 2)`: batch, height and
            width of NHWC batches whose channels differ); None for all, and
            then the ranks must agree too.

    Returns:
        The two tensors; where they are compared when the graph runs, as copies
        that wait for the comparison, so that a mismatch is reported by it and
        not by whichever op of the computation meets it first.

    Raises:
        ValueError: on a known dimension that differs, or different ranks.
        tf.errors.InvalidArgumentError: when the graph runs, on a dimension
            that was unknown while tracing and differs (see
            `_assert_same_at_run_time`, also for XLA).
    """
    (name_a, a), (name_b, b) = first, second
    shape_a, shape_b = static_shape(a), static_shape(b)
    if shape_a is None or shape_b is None:
        return a, b
    what = _compared(shape_a, shape_b, axes)
    if axes is None:
        differs = len(shape_a) != len(shape_b)
        axes = range(min(len(shape_a), len(shape_b)))
    else:
        differs = any(i >= len(shape_a) or i >= len(shape_b) for i in axes)
    axes = tuple(axes)
    if differs or any(_known_and_different(shape_a[i], shape_b[i]) for i in axes):
        raise ValueError(
            f"{fn_name} expects {name_a} and {name_b} of {what}; got {name_a} "
            f"{shape_a} and {name_b} {shape_b}."
        )
    if any(shape_a[i] is None or shape_b[i] is None for i in axes):
        return _assert_same_at_run_time(fn_name, first, second, axes, what)
    return a, b


def _compared(shape_a: Shape, shape_b: Shape, axes: Sequence[int] | None) -> str:
    """What `check_same_shape` compares, for its messages: "the same shape"."""
    if axes is None:
        return "the same shape"
    if len(shape_a) == len(shape_b) == 4:
        return f"the same {_join([AXES[i] for i in axes])}"
    return f"the same size along axes {tuple(axes)}"


def _known_and_different(p: int | None, q: int | None) -> bool:
    return p is not None and q is not None and p != q


def _assert_same_at_run_time(
    fn_name: str, first: tuple[str, Any], second: tuple[str, Any], axes: tuple, what: str
) -> tuple[Any, Any]:
    """Compare the sizes along `axes` when the graph runs (TensorFlow only); the two
    tensors, as copies that wait for the comparison.

    Without it a mismatch unknown while tracing is silent: the losses
    broadcast a batch of 1 against a batch of N and return a number. JAX
    traces with every size known, so `check_same_shape` has already compared
    them all there. The cost is a few int32 ops on the two shapes: no tensor
    data is read, nothing waits on the device beyond the assertion itself.

    Two ops, because XLA (`jit_compile=True`) drops `tf.debugging.Assert`:

    - the assertion, whose message names the function, both arguments and
      their shapes; it fails first outside XLA;
    - a stack of two empty tensors shaped like the compared sizes. Stacking
      needs equal shapes, and XLA checks that when it compiles the function
      for the actual input shapes (once per shape), so the first call with a
      mismatch fails with `Shapes of all inputs must match: values[0].shape =
      [2,8,8,3,0] != values[1].shape = [1,8,8,3,0]` at the node
      `<fn>_<a>_and_<b>_must_have_the_same_shape`. (XLA also logs "Ignoring
      Assert operator" for the assertions, once per compilation.)
    """
    (name_a, a), (name_b, b) = first, second
    if keras.backend.backend() != "tensorflow":
        return a, b
    import tensorflow as tf  # lazily: spl_tf runs on JAX without TensorFlow

    if not (tf.is_tensor(a) and tf.is_tensor(b)):
        return a, b  # Keras symbolic tensors: no graph runs them
    shape_a, shape_b = tf.shape(a), tf.shape(b)
    sizes_a, sizes_b = tf.gather(shape_a, axes), tf.gather(shape_b, axes)
    assertion = tf.debugging.Assert(
        tf.reduce_all(tf.equal(sizes_a, sizes_b)),
        [f"{fn_name} expects {name_a} and {name_b} of {what}; got {name_a}", shape_a,
         f"and {name_b}", shape_b],
        summarize=max(len(a.shape), len(b.shape)),
    )
    with tf.control_dependencies([assertion]):  # outside XLA its message comes first
        stacked = tf.stack([_empty_of_sizes(tf, sizes_a), _empty_of_sizes(tf, sizes_b)],
                           name=_op_name(f"{fn_name}_{name_a}_and_{name_b}_must_have_{what}"))
    # Nothing consumes the stack, so it would be pruned from the graph. An
    # assertion is kept (it is stateful) and XLA compiles its inputs; this
    # one always holds.
    kept = tf.debugging.Assert(tf.reduce_all(tf.shape(stacked) >= 0), [stacked])
    # Ops without side effects run in any order: the computation must wait.
    with tf.control_dependencies([assertion, kept]):
        return tf.identity(a), tf.identity(b)


def _empty_of_sizes(tf, sizes):
    """An int32 tensor of shape `sizes + [0]`: that shape, and no element to compute."""
    return tf.zeros(tf.concat([sizes, [0]], axis=0), tf.int32)


def _op_name(text: str) -> str:
    """`text` as a TensorFlow op name: letters, digits, `_` and `.` only."""
    return re.sub(r"[^A-Za-z0-9_.]+", "_", text).strip("_")


def check_pair(
    fn_name: str,
    first: tuple[str, Any],
    second: tuple[str, Any],
    channels: int | None = None,
    description: str = "images",
    *,
    known: Sequence[str] = (),
    hint: str = "",
) -> tuple[Any, Any]:
    """`check_batch` on both tensors (same options), then `check_same_shape`; the two
    tensors to compute with (as `check_same_shape` returns them)."""
    for name, x in (first, second):
        check_batch(fn_name, name, x, channels, description, known=known, hint=hint)
    return check_same_shape(fn_name, first, second)


def check_last_axis(fn_name: str, arg_name: str, x: Any, size: int, description: str) -> None:
    """Check that `x` (any known rank >= 1) has `size` entries on its last axis.

    For functions on `(..., channels)` arrays of any rank (`rgb_to_y`).

    Raises:
        ValueError: on an unknown rank, a scalar, or another (or an unknown) size.
    """
    shape = static_shape(x)
    if shape is None or not shape or shape[-1] != size:
        got = "a tensor of unknown rank" if shape is None else f"shape {shape}"
        raise ValueError(f"{fn_name} needs {description} (..., {size}) as {arg_name}; "
                         f"got {got}.")


def is_empty_batch(x: Any) -> bool:
    """Whether `x` is a batch of 0 images, as far as its static shape tells."""
    shape = static_shape(x) if hasattr(x, "shape") else None
    return bool(shape) and shape[0] == 0


def empty_per_image(x: Any) -> Any:
    """The per-image values of an empty batch `x`: shape (0,) float32.

    For the functions that cannot compute on no image (TensorFlow's oneDNN
    convolutions give a batch of 0 the wrong channel count; Keras's eager
    `min` on TensorFlow refuses empty tensors; JAX cannot reshape 0 elements
    to `(0, -1)`). Summing `x` over its other axes keeps the values connected
    to `x`: its gradient is an empty tensor, not None.
    """
    return ops.sum(ops.cast(x, "float32"), axis=tuple(range(1, len(x.shape))))


def reduce_empty_batch(losses: Any, reduction: str | None) -> Any:
    """A Keras-reduced loss of an empty batch: 0, where Keras leaves an empty tensor.

    Keras's `Loss.__call__` returns per-image values of static shape (0,)
    unreduced whatever the reduction, while a batch of unknown size that turns
    out empty is reduced to 0 (its mean divides with `divide_no_nan`). The
    losses pass Keras's result through here, so that an empty batch gives 0
    for every reduction but None / "none" (which keep the empty vector).

    `ops.sum` of the empty values is that 0 and keeps the loss connected to
    its inputs: their gradients are empty tensors, not None.
    """
    if reduction in (None, "none") or static_shape(losses) != (0,):
        return losses
    return ops.sum(losses)


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


# --- images and their value_range ---------------------------------------------------

RANGE_TOLERANCE = 1e-3
"""How far concrete values may lie outside `value_range`, as a fraction of `high - low`:
float rounding (`x / 127.5 - 1` of 255 is 1 + 1e-7), well under one 8-bit level (1/255)."""


def check_image_dtype(
    fn_name: str,
    arg_name: str,
    x: Any,
    value_range: tuple[float, float],
    *,
    takes_value_range: bool = True,
) -> None:
    """Refuse integer images with a float `value_range` (high <= 1, as (-1, 1) and (0, 1)).

    Integer pixels (uint8 straight from a file) are whole numbers, so a range that
    ends at 1 holds at most three of their values: computed anyway, uint8 images
    give numbers that look plausible and mean nothing (a PSNR of -2.95 dB for
    39.16). Reads the static dtype only, so it works inside traces too.

    Args:
        fn_name, arg_name: The function (or loss) and the argument, for the message.
        x: The images; anything without a `dtype` (a list) is let through.
        value_range: The checked `(low, high)` the images are taken to be in.
        takes_value_range: Whether `fn_name` has a `value_range` argument; without
            one the message only asks for a conversion to float.

    Raises:
        ValueError: on an integer dtype with `high <= 1`.
    """
    dtype = keras.backend.standardize_dtype(x.dtype) if hasattr(x, "dtype") else "float"
    low, high = value_range
    if "int" not in dtype or high > 1:
        return
    convert = (f"convert {arg_name} to float in [{low:g}, {high:g}] first"
               f"{_conversion_example(dtype, low, high)}")
    if takes_value_range:
        int_low, int_high = _integer_range(dtype)
        fix = (f"pass value_range=({int_low}, {int_high}), the range of {dtype} "
               f"images, or {convert}")
        got = f"with value_range=({low:g}, {high:g}), a range of float images"
    else:
        fix, got = convert, f"but it takes float images in [{low:g}, {high:g}]"
    raise ValueError(f"{fn_name} got {arg_name} of integer dtype {dtype} {got}: {fix}.")


def check_image_values(
    fn_name: str, arg_name: str, x: Any, value_range: tuple[float, float]
) -> None:
    """`check_image_dtype`, then refuse concrete values outside `value_range` by more
    than rounding (`RANGE_TOLERANCE`).

    For the metrics, whose numbers are only comparable on images in their range.
    Values are read only where they exist: NumPy arrays, and eager tensors (a min
    and a max on their device). A traced or symbolic tensor (`tf.function`,
    `jax.jit`, `keras.Input`) has none, and is let through.

    Raises:
        ValueError: naming the argument, the values found and the range.
    """
    check_image_dtype(fn_name, arg_name, x, value_range)
    extremes = _concrete_extremes(x)
    if extremes is None:
        return
    (found_low, found_high), (low, high) = extremes, value_range
    margin = RANGE_TOLERANCE * (high - low)
    expected = f"{fn_name} expects {arg_name} in value_range=({low:g}, {high:g})"
    if math.isnan(found_low) or math.isnan(found_high):  # min and max propagate NaN
        raise ValueError(f"{expected}; got NaN values.")
    if found_low < low - margin or found_high > high + margin:
        raise ValueError(
            f"{expected}; got values from {found_low:g} to {found_high:g}. Pass the "
            f"value_range the images are in, or clip them to it (e.g. np.clip({arg_name}, "
            f"{low:g}, {high:g}))."
        )


def _integer_range(dtype: str) -> tuple[int, int]:
    """The values of an 8- or 16-bit dtype; (0, 255) for wider ones (8-bit values
    held in int32 are common, their full range is not)."""
    info = np.iinfo(dtype)
    return (int(info.min), int(info.max)) if info.bits <= 16 else (0, 255)


def _conversion_example(dtype: str, low: float, high: float) -> str:
    """`" (e.g. x / 127.5 - 1)"` for the usual ranges; "" for others."""
    int_low, int_high = _integer_range(dtype)
    if int_low != 0:
        return ""
    if (low, high) == (-1.0, 1.0):
        return f" (e.g. x / {int_high / 2:g} - 1)"
    if (low, high) == (0.0, 1.0):
        return f" (e.g. x / {int_high})"
    return ""


def _concrete_extremes(x: Any) -> tuple[float, float] | None:
    """(min, max) of `x` where its values exist and it has any; None otherwise."""
    if not _is_concrete(x) or 0 in (static_shape(x) or (0,)):
        return None
    if isinstance(x, np.ndarray):
        return float(np.min(x)), float(np.max(x))
    return (float(ops.convert_to_numpy(ops.min(x))), float(ops.convert_to_numpy(ops.max(x))))


def _is_concrete(x: Any) -> bool:
    """Whether `x` holds values now: a NumPy array or an eager tensor, not a trace's."""
    if isinstance(x, np.ndarray):
        return True
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return isinstance(x, tf.Tensor) and tf.executing_eagerly()
    if backend == "jax":
        import jax

        return isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer)
    return False


# --- constructor arguments ---------------------------------------------------------


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


def check_finite_number(value: Any, name: str) -> float:
    """Check that `value` is a finite real number (not a bool); return it as float.

    Where `float()` would say "could not convert string to float: 'x'" and name
    nothing, or let `inf` and `nan` through to every value computed with it.
    """
    if not _is_real(value) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}.")
    return float(value)


def check_bool(value: Any, name: str) -> bool:
    """Check that `value` is True or False (Python or NumPy); return it as bool.

    `bool()` would take any object: `rgb="no"` would switch the term on.
    """
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}.")
    return bool(value)


def check_names(value: Any, name: str) -> tuple[str, ...]:
    """Check that `value` is a non-empty sequence of strings; return it as a tuple.

    A single string is refused: iterated, `"conv3_2"` would be seven layer names.
    """
    if isinstance(value, str):
        raise ValueError(f"{name} must be a sequence of names, got the string {value!r}: "
                         f"pass ({value!r},).")
    names = tuple(value) if isinstance(value, Iterable) else ()
    if not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{name} must be a non-empty sequence of names, got {value!r}.")
    return names


def check_optional_name(value: Any, name: str = "name") -> str | None:
    """Check that `value` is a string or None (a Keras object's `name`); return it."""
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string or None, got {value!r}.")
    return value


def check_seed(value: Any, name: str = "seed") -> int | None:
    """Check that `value` is a random seed, an integer >= 0, or None; return it.

    Negative seeds pass Keras's `SeedGenerator` but fail on JAX ("Python integer
    -1 out of bounds for uint32") at the first draw.
    """
    return check_non_negative_int(value, name, optional=True)


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
