"""Profiles: the building blocks of the Spatial Profile Loss.

A *profile* is one row or one column of one channel of an image. The profile
similarity of two images compares their profiles pairwise by cosine:

    sim(a, b) = -(sum_rows <a_r, b_r> / (|a_r| |b_r|)
                  + sum_cols <a_c, b_c> / (|a_c| |b_c|)) / H

with sums over every row (column) of every channel, and H the image height.
The original computes it as `sum(l2_normalize(a) * l2_normalize(b))` along each
axis; TensorFlow's `l2_normalize` divides by `sqrt(max(|x|^2, 1e-12))`, so the
same rule is applied to each norm here. A profile that is all zeros therefore
contributes 0, never NaN.

Written with `keras.ops`: the same code runs on the TensorFlow and JAX
backends, with one choice per backend of how the sums go through XLA
(`_profile_sums`, `_separate_pass`) and, on JAX where `spl_tf.config` asks for
it, the fused kernel of `spl_tf.kernels`. Public functions take NHWC image batches.
The original's constants (`EPSILON`, `RGB_TO_YUV`, the `POSITIONS`) are in
`spl_tf.constants`, which the kernel shares.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
from keras import ops

from spl_tf import kernels
from spl_tf.constants import DX, DY, EPSILON, IDENTITY, POSITIONS, RGB_TO_YUV
from spl_tf.validation import check_pair


def l2_normalize(x, axis: int | Sequence[int]):
    """`x / sqrt(max(sum(x^2, axis), 1e-12))`, TensorFlow's rule (no NaN at 0)."""
    square_sum = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(square_sum, EPSILON))


def image_gradients(images):
    """Forward differences `(dy, dx)` of NHWC images, zero at the last row/column.

    The convention of `tf.image.image_gradients`, which the original uses.
    """
    dy = images[:, 1:] - images[:, :-1]
    dx = images[:, :, 1:] - images[:, :, :-1]
    dy = ops.pad(dy, [[0, 0], [0, 1], [0, 0], [0, 0]])
    dx = ops.pad(dx, [[0, 0], [0, 0], [0, 1], [0, 0]])
    return dy, dx


def rgb_to_yuv(images, axis: int = -1):
    """RGB to YUV with TensorFlow's kernel, channels on `axis`.

    U and V are computed as `k_r (R - B) + k_g (G - B)`: TensorFlow's U and V
    columns sum to exactly zero, so this is the same linear map, but a grey
    pixel gives exactly U = V = 0 and near-grey pixels keep their chroma to
    float32 precision, where `k_r R + k_g G + k_b B` cancels to rounding noise
    that the norm floor of a flat profile would blow up (tests/spl_tf_tests/test_near_grey.py).
    Slices and one concatenate rather than a 3x3 contraction: on planar images
    XLA fuses them into the views' single pass (benchmarks/README.md).
    """
    red, green, blue = ops.split(images, 3, axis=axis)
    (y_r, u_r, v_r), (y_g, u_g, v_g), (y_b, _, _) = RGB_TO_YUV
    red_blue, green_blue = red - blue, green - blue
    return ops.concatenate(
        [
            y_r * red + y_g * green + y_b * blue,
            u_r * red_blue + u_g * green_blue,
            v_r * red_blue + v_g * green_blue,
        ],
        axis=axis,
    )


def profile_similarity(a, b):
    """The original's `sim(a, b)` for each image of two NHWC batches, shape (N,).

    Summing the result over the batch gives the original's batch value.
    Both must be NHWC batches of the same shape with a known channel count.
    """
    a, b = ops.convert_to_tensor(a), ops.convert_to_tensor(b)
    a, b = check_pair("profile_similarity", ("a", a), ("b", b), known=("channels",))
    a = ops.transpose(ops.cast(a, "float32"), (0, 3, 1, 2))
    b = ops.transpose(ops.cast(b, "float32"), (0, 3, 1, 2))
    return planar_similarity(a, b, height=a.shape[2] or ops.shape(a)[2])


def planar_similarity(a, b, height, weights=None):
    """Weighted profile similarity of (N, C, H', W') float32 tensors, shape (N,).

    `-sum_c weights[c] * (rows_c + cols_c) / height`, where rows_c and cols_c
    are the summed profile cosines of channel c. `height` is passed separately
    because gradient images lose a row or column here: the original pads them
    back with zeros, and zero profiles contribute nothing to any sum.

    The gradient is analytic: d/db <a,b>/(|a||b|) = a/(|a||b|) - cos * b/|b|^2
    (the second term vanishes where the norm floor is active, as TensorFlow's
    `maximum` gradient does). It needs only per-profile coefficients and one
    elementwise pass per input, where autodiff differentiates through each
    reduction separately (about 10% slower under XLA, see benchmarks/README.md).
    """
    channels = a.shape[1]
    if weights is None:
        weights = (1.0,) * channels
    scale = ops.reshape(
        ops.convert_to_tensor(weights, "float32"), (1, channels, 1, 1)
    ) / ops.cast(height, "float32")

    # `scale` is an argument, not a closure: jax.custom_gradient cannot close over
    # a tracer of an enclosing transform (jax.grad(jax.jit(loss)) would fail).
    @ops.custom_gradient
    def similarity(a, b, scale):
        rows = _ProfileStats(a, b, axis=3)
        cols = _ProfileStats(*_separate_pass(a, b), axis=2)
        value = -(
            ops.sum(scale * rows.cosine, axis=(1, 2, 3))
            + ops.sum(scale * cols.cosine, axis=(1, 2, 3))
        )

        def grad(*args, upstream=None):
            u = -ops.reshape(_upstream(args, upstream), (-1, 1, 1, 1)) * scale
            cross = rows.inv_ab + cols.inv_ab
            grad_a = u * (
                cross * b - (rows.cosine * rows.inv_aa + cols.cosine * cols.inv_aa) * a
            )
            grad_b = u * (
                cross * a - (rows.cosine * rows.inv_bb + cols.cosine * cols.inv_bb) * b
            )
            return grad_a, grad_b, ops.zeros_like(scale)

        return value, grad

    return similarity(a, b, scale)


# Views of at least this many values go through memory once on JAX (_separate_pass).
_SEPARATE_PASS_SIZE = 2**20


def _separate_pass(a, b):
    """`(a, b)` for the column statistics: on JAX, for large views, behind an
    optimization barrier.

    Without it JAX's XLA fuses the views' differences into the row and the column
    reductions alike and computes them twice; with it they are written once and
    read by each pass, 35-40% faster from batch 4 at 256x256. One image's views fit
    in the cache, where recomputing is cheaper (the barrier costs 50% there:
    benchmarks/README.md). TensorFlow's XLA needs neither.
    """
    if keras.backend.backend() != "jax":
        return a, b
    # An unknown size counts as large.
    if math.prod(dim or _SEPARATE_PASS_SIZE for dim in a.shape) < _SEPARATE_PASS_SIZE:
        return a, b
    import jax

    return jax.lax.optimization_barrier((a, b))


class _ProfileStats:
    """Per-profile cosine and the coefficients of its gradient, along `axis`."""

    def __init__(self, a, b, axis: int):
        dot, norm_a, norm_b = _profile_sums(a, b, axis)
        ra = ops.rsqrt(ops.maximum(norm_a, EPSILON))
        rb = ops.rsqrt(ops.maximum(norm_b, EPSILON))
        self.inv_ab = ra * rb
        self.cosine = dot * self.inv_ab
        # TensorFlow's maximum passes the gradient to its first input on ties.
        self.inv_aa = ops.where(norm_a >= EPSILON, ra * ra, 0.0)
        self.inv_bb = ops.where(norm_b >= EPSILON, rb * rb, 0.0)


def _profile_sums(a, b, axis: int):
    """`(sum(a*b), sum(a*a), sum(b*b))` along `axis` (2 or 3), keepdims.

    Each sum is taken directly on the elementwise products, never derived from
    other statistics, so near-grey images (tiny chroma) keep full precision.

    On TensorFlow the three products are concatenated into one operand. Sums
    along the last (contiguous) axis are taken as `products @ ones`: XLA on CPU
    fuses elementwise producers into a matrix-vector product, but nothing into a
    `reduce`. Column sums (a major axis) are one `reduce`; under XLA on the CPU,
    rows are first added up in groups in one elementwise pass (`_column_sums`).
    JAX's XLA fuses producers into reductions, so it keeps three plain sums.
    """
    if keras.backend.backend() != "tensorflow":
        return tuple(ops.sum(x, axis=axis, keepdims=True) for x in (a * b, a * a, b * b))
    if axis == 3:
        sums = _row_sums(a, b)
    else:
        sums = _column_sums(a, b, grouped=_compiling_for_xla_on_cpu())
    # The batch of a*b is what is left of the concatenation after a*a and b*b.
    m, k = ops.shape(a)[0], ops.shape(b)[0]
    n = ops.shape(sums)[0] - m - k
    return sums[:n], sums[n : n + m], sums[n + m :]


def _row_sums(a, b):
    """`[a*b, a*a, b*b]` (concatenated on the batch) summed over W, keepdims: one
    matrix-vector product, which XLA fuses with the products (it reads `a` and `b`)."""
    stacked = _stacked_products(a, b)
    # Every dimension given: a view with no rows (the y difference of a 1-pixel-high
    # image) would make a -1 stand for the batch.
    batch, channels, height, width = ops.shape(stacked)
    sums = ops.matmul(
        ops.reshape(stacked, (batch * channels * height, width)),
        ops.ones((width, 1), "float32"),
    )
    return ops.reshape(sums, (batch, channels, height, 1))


_ROWS_PER_PARTIAL = 16
"""Rows that `_column_sums` adds up before its `reduce`."""


def _column_sums(a, b, grouped: bool = True):
    """`[a*b, a*a, b*b]` (concatenated on the batch) summed over H, keepdims.

    `grouped` is the form for XLA on the CPU. A `reduce` of the products has them
    written out whole (three image-sized buffers: XLA on TensorFlow fuses nothing
    into a `reduce`) and read back. Grouped, one loop fusion first adds up every
    16th row of them, reading strided rows of `a` and `b`, and the `reduce` gets
    a sixteenth of the data: 0.73-0.78 of the SPL step's time (benchmarks/README.md).
    The rows of the last, incomplete group are summed apart. Without XLA the
    strided slices are as many TensorFlow ops, 3x slower than the plain `reduce`.
    """
    height, step = a.shape[2], _ROWS_PER_PARTIAL
    # Unknown at trace time, or too few rows to group.
    if not grouped or height is None or height < 2 * step:
        return ops.sum(_stacked_products(a, b), axis=2, keepdims=True)
    whole = height - height % step
    partial = _stacked_products(a[:, :, 0:whole:step], b[:, :, 0:whole:step])
    for row in range(1, step):
        partial = partial + _stacked_products(
            a[:, :, row:whole:step], b[:, :, row:whole:step]
        )
    sums = ops.sum(partial, axis=2, keepdims=True)
    if whole < height:
        rest = _stacked_products(a[:, :, whole:], b[:, :, whole:])
        sums = sums + ops.sum(rest, axis=2, keepdims=True)
    return sums


def _compiling_for_xla_on_cpu() -> bool:
    """Whether TensorFlow is tracing for XLA (inside `jit_compile=True`) and no
    GPU or TPU is visible.

    XLA on a GPU or TPU fuses producers into reductions, as JAX's does on the CPU,
    where the grouped column sums measured slower. TensorFlow has no public call
    for an XLA trace; its `tf.function` marks the graph with an XLA context,
    which its own `control_flow_util` reads. That is checked first: eagerly the
    loss runs this on every call, and listing the devices costs more.
    """
    import tensorflow as tf

    try:
        from tensorflow.python.framework import ops as tf_ops
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # a TensorFlow without them: the form that works everywhere
        return False
    if not control_flow_util.GraphOrParentsInXlaContext(tf_ops.get_default_graph()):
        return False
    return all(device.device_type == "CPU" for device in tf.config.list_logical_devices())


def _stacked_products(a, b):
    """`[a*b, a*a, b*b]`, concatenated on the batch.

    Concatenated, not stacked: a batch mismatch that only shows at run time must
    reach the check of `check_same_shape`, not fail here.
    """
    return ops.concatenate((a * b, a * a, b * b), axis=0)


def weighted_profiles(
    y_true,
    y_pred,
    weights: dict[tuple[str, str], float],
    value_range: tuple[float, float] = (-1.0, 1.0),
):
    """Weighted sum of profile similarities of two NHWC batches, shape (N,).

    `weights` maps `(view, position)` to a weight, where view is `"raw"` (the
    channels as given) or `"yuv"` (the YUV transform of RGB) and position is
    one of `POSITIONS`. For example the original's gradient profile is
    `{("raw", "dx"): 1, ("raw", "dy"): 1}`. Inputs are first mapped from
    `value_range` to [0, 1], as the original's `use_conversion` does.
    """
    low, high = value_range
    weights = {key: float(w) for key, w in weights.items() if w != 0}
    views = [view for view in ("raw", "yuv") if any(v == view for v, _ in weights)]
    if not views:
        return ops.zeros((ops.shape(y_true)[0],), "float32")
    # The fused kernel, where spl_tf.config asks for it (see spl_tf.kernels). An empty
    # batch has nothing to launch a kernel over.
    if kernels.use_pallas() and y_true.shape[0] != 0:
        return kernels.weighted_profiles_pallas(y_true, y_pred, weights, value_range)
    height = y_true.shape[1] or ops.shape(y_true)[1]
    stack_true = _planar_views(y_true, views, low, high)
    stack_pred = _planar_views(y_pred, views, low, high)
    widths = {"raw": y_true.shape[-1], "yuv": 3}

    total = 0.0
    for position in POSITIONS:
        per_channel = []
        for view in views:
            per_channel += [weights.get((view, position), 0.0)] * widths[view]
        active = [i for i, w in enumerate(per_channel) if w != 0]
        if not active:
            continue
        # Views are stacked in order, so the active channels are contiguous.
        first, last = active[0], active[-1] + 1
        a = _shift_difference(stack_true[:, first:last], position)
        b = _shift_difference(stack_pred[:, first:last], position)
        total = total + planar_similarity(a, b, height, per_channel[first:last])
    return total


def _planar_views(images, views: Sequence[str], low: float, high: float):
    """NHWC images in [low, high] -> (N, C', H, W) float32 in [0, 1], views stacked."""
    x = ops.cast(images, "float32")
    if (low, high) == (-1.0, 1.0):
        x = (x + 1.0) / 2.0  # bit-for-bit the original's conversion
    elif (low, high) != (0.0, 1.0):
        x = (x - low) / (high - low)
    x = ops.transpose(x, (0, 3, 1, 2))
    stacked = [x if view == "raw" else rgb_to_yuv(x, axis=1) for view in views]
    return stacked[0] if len(stacked) == 1 else ops.concatenate(stacked, axis=1)


def _shift_difference(x, position: str):
    """The image (identity) or its forward difference along W (dx) or H (dy)."""
    if position == IDENTITY:
        return x
    axis = 3 if position == DX else 2
    if (x.shape[axis] or 0) < 2:  # unknown or too short for the adjoint's three parts
        return _difference(x, axis)
    return _forward_difference(x, axis)


def _forward_difference(x, axis: int):
    """`x[1:] - x[:-1]` along `axis` (of size >= 2), with its adjoint as one
    concatenation: `[-g[0], g[:-1] - g[1:], g[-1]]`.

    Autodiff gives `pad(g, [1, 0]) - pad(g, [0, 1])`, which XLA on TensorFlow
    writes out as two image-sized padded buffers per difference; XLA fuses the
    concatenation: 5-9% off the SPL step with XLA, and half the time without
    (benchmarks/README.md). On JAX the two measure the same from batch 4.
    """

    @ops.custom_gradient
    def difference(x):
        def grad(*args, upstream=None):
            upstream = _upstream(args, upstream)
            inside = _take(upstream, axis, None, -1) - _take(upstream, axis, 1, None)
            return ops.concatenate(
                [-_take(upstream, axis, None, 1), inside, _take(upstream, axis, -1, None)],
                axis=axis,
            )

        return _difference(x, axis), grad

    return difference(x)


def _difference(x, axis: int):
    """`x[1:] - x[:-1]` along `axis`."""
    return _take(x, axis, 1, None) - _take(x, axis, None, -1)


def _upstream(args, upstream):
    """The upstream gradient given to a `keras.ops.custom_gradient` grad function:
    positionally on TensorFlow, as `upstream=` on JAX."""
    if upstream is None:
        (upstream,) = args
    return upstream


def _take(x, axis: int, start: int | None, stop: int | None):
    """`x[start:stop]` along `axis`."""
    index = [slice(None)] * len(x.shape)
    index[axis] = slice(start, stop)
    return x[tuple(index)]
