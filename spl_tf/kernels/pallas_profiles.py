"""Fused Pallas kernel for the profile statistics of SPL (JAX on GPU and TPU).

Every SPL/GPL/CPL term is a weighted profile similarity of a *view* of the two
images (`spl_tf.profiles`): a linear combination of the input channels (one
channel, or Y, U or V of RGB), optionally differenced along x or y. For view v
of images a and b, with `A = view_v(a)` and `B = view_v(b)`:

    value_n = -sum_v (w_v / H) * (sum_rows cos(A_r, B_r) + sum_cols cos(A_c, B_c))
    cos(p, q) = <p, q> / (|p| |q|),   |p| = sqrt(max(<p, p>, 1e-12))

The kernel reads each input once and writes, for every view and every row and
column, the three sums <A, B>, |A|^2 and |B|^2; cosines and the value come from
those small arrays in plain `jax.numpy`. The gradient is analytic, as in
`spl_tf.profiles.planar_similarity`:

    d/dB <A, B> / (|A| |B|) = A / (|A| |B|) - cos * B / |B|^2

(the second term is 0 where the norm floor is active: TensorFlow's `maximum`
passes its gradient to the first operand on ties, and `|B|^2 >= 1e-12` is that
operand). It is one elementwise pass from the per-profile coefficients, written
in `jax.numpy` so XLA fuses it with the adjoint of the view construction.

Grid: one program per (image, band of rows). A program holds all input channels
of its band (`C x band x W` float32), builds every view in registers / VMEM,
and writes the row sums of its band and its partial column sums; the partial
column sums of the bands are added afterwards (a tiny array), so no program
accumulates into another's output and the grid is parallel on GPU and TPU.
y-differences at the band's last row need the next band's first row: a second,
8-row "halo" block of the same input provides it.

Platforms (the `platform` argument): "tpu" (Mosaic; also the code path used in
interpret mode, so the CPU tests execute it), "gpu" (Triton: value shapes must
be powers of two, so planes are zero-padded to the next power of two and masked;
shifted neighbours are read with masked loads because Triton has no in-register
shift), "interpret" (the TPU body run by the Pallas interpreter, any device).

Limits: float32 computation (inputs of any float dtype are cast); a program
holds `C x band x W` floats (band <= 64 rows), so the width is the only size
that matters: up to a few thousand columns on TPU (VMEM) and GPU (registers
spill beyond ~1024 columns, slower but correct).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.experimental import pallas as pl

from spl_tf.constants import DX, DY, EPSILON, IDENTITY, RGB_TO_YUV

PLATFORMS = ("gpu", "tpu", "interpret")
_HALO = 8  # rows in the halo block: the smallest TPU-legal second-minor block.
_STATS = 3  # <A, B>, |A|^2, |B|^2


class View(NamedTuple):
    """One planar view: `position(sum_c coeffs[c] * x[c])`.

    `coeffs` has one float per input channel (a unit vector selects a channel);
    `position` is IDENTITY, DX (forward difference along W, zero in the last
    column) or DY (along H, zero in the last row).
    """

    coeffs: tuple[float, ...]
    position: str


# ---------------------------------------------------------------------------
# The kernel.


def _profile_stats(a, b, views: tuple[View, ...], platform: str):
    """Row and column sums of every view of planar (N, C, H, W) float32 a and b.

    Returns `rows` (N, V, 3, H) and `cols` (N, V, 3, W); index 0, 1, 2 of the
    third axis is <A, B>, |A|^2, |B|^2 along the profile.
    """
    n, channels, height, width = a.shape
    if platform == "gpu":  # Triton: every value shape a power of two.
        padded = (pl.next_power_of_2(height), pl.next_power_of_2(width))
        pad = [(0, 0), (0, 0), (0, padded[0] - height), (0, padded[1] - width)]
        a, b = jnp.pad(a, pad), jnp.pad(b, pad)  # no-op at 2^k sizes
    h_p, w_p = a.shape[2:]
    band = _band_rows(h_p, 16 if platform == "gpu" else 64)
    bands = h_p // band
    needs_halo = bands > 1 and any(v.position == DY for v in views)

    band_spec = pl.BlockSpec((None, channels, band, w_p), lambda i, k: (i, 0, k, 0))
    in_specs, operands = [band_spec, band_spec], [a, b]
    if needs_halo:
        last = h_p // _HALO - 1
        halo_spec = pl.BlockSpec(
            (None, channels, _HALO, w_p),
            lambda i, k: (i, 0, jnp.minimum((k + 1) * (band // _HALO), last), 0),
        )
        in_specs, operands = [band_spec, halo_spec, band_spec, halo_spec], [a, a, b, b]

    kernel = functools.partial(
        _stats_kernel, views=views, size=(height, width), band=band,
        needs_halo=needs_halo, platform=platform,
    )
    rows, cols = pl.pallas_call(
        kernel,
        grid=(n, bands),
        in_specs=in_specs,
        out_specs=(
            pl.BlockSpec((None, len(views), _STATS, band, 1), lambda i, k: (i, 0, 0, k, 0)),
            pl.BlockSpec((None, None, len(views), _STATS, 1, w_p), lambda i, k: (i, k, 0, 0, 0, 0)),
        ),
        out_shape=(
            jax.ShapeDtypeStruct((n, len(views), _STATS, h_p, 1), jnp.float32),
            jax.ShapeDtypeStruct((n, bands, len(views), _STATS, 1, w_p), jnp.float32),
        ),
        compiler_params=_compiler_params(platform),
        interpret=platform == "interpret",
        name="spl_profile_stats",
    )(*operands)
    rows = rows[:, :, :, :height, 0]
    cols = jnp.sum(cols[:, :, :, :, 0, :width], axis=1)
    return rows, cols


def _band_rows(height: int, most: int) -> int:
    """Rows per program: a multiple of 8 dividing H (TPU tiling), else all of H.

    GPU bands are short: a Triton program holds its band in registers.
    """
    if height <= most:
        return height
    for band in (64, 32, 16, 8):
        if band <= most and height % band == 0:
            return band
    return height


def _compiler_params(platform: str):
    if platform == "tpu":
        from jax.experimental.pallas import tpu as pltpu

        return pltpu.CompilerParams(dimension_semantics=("parallel", "parallel"))
    if platform == "gpu":
        from jax.experimental.pallas import triton as pltriton

        return pltriton.CompilerParams(num_warps=8, num_stages=1)
    return None


def _stats_kernel(*refs, views, size, band, needs_halo, platform):
    """One program: image `i`, rows `[k * band, (k + 1) * band)`.

    Builds each view of both inputs, masks what the original pads with zeros
    (the last column of dx, the last row of dy, and any padding), and stores
    the three row sums and the three partial column sums.
    """
    if needs_halo:
        a_ref, a_halo, b_ref, b_halo, rows_ref, cols_ref = refs
    else:
        (a_ref, b_ref, rows_ref, cols_ref), a_halo, b_halo = refs, None, None
    height, width = size
    shape = (band, a_ref.shape[-1])
    row = jax.lax.broadcasted_iota(jnp.int32, shape, 0)
    col = jax.lax.broadcasted_iota(jnp.int32, shape, 1)
    global_row = row + pl.program_id(1) * band
    neighbours = _NEIGHBOURS[platform]
    valid = {
        IDENTITY: None,  # padding is zero: contributes nothing
        DX: col < width - 1,
        DY: global_row < height - 1,
    }

    def planes(ref, halo, position):
        """The input channels at each pixel and at its neighbour for `position`."""
        here = [ref[c] for c in range(ref.shape[0])]
        if position == IDENTITY:
            return here, None
        there = [neighbours(ref, halo, c, position, row, col, band) for c in range(ref.shape[0])]
        return here, there

    for position in (IDENTITY, DX, DY):
        indices = [v for v, view in enumerate(views) if view.position == position]
        if not indices:
            continue
        a_here, a_there = planes(a_ref, a_halo, position)
        b_here, b_there = planes(b_ref, b_halo, position)
        for v in indices:
            coeffs = views[v].coeffs
            va = _view(coeffs, a_here, a_there, valid[position])
            vb = _view(coeffs, b_here, b_there, valid[position])
            for s, product in enumerate((va * vb, va * va, vb * vb)):
                rows_ref[v, s] = jnp.sum(product, axis=1, keepdims=True)
                cols_ref[v, s] = jnp.sum(product, axis=0, keepdims=True)


def _view(coeffs, here, there, valid):
    """`sum_c coeffs[c] * x[c]`, differenced against the neighbour and masked."""
    base = _combine(coeffs, here)
    if there is None:
        return base
    return jnp.where(valid, _combine(coeffs, there) - base, 0.0)


def _combine(coeffs, planes):
    """`sum_c coeffs[c] * planes[c]`, in the order of `spl_tf.profiles.rgb_to_yuv`.

    Coefficients that sum to zero (U and V) are applied to the differences
    `R - B`, `G - B`, as `rgb_to_yuv` does, so that grey pixels give exactly 0.
    """
    if len(coeffs) == 3 and coeffs[2] != 0.0 and abs(sum(coeffs)) < 1e-6:
        blue = planes[2]
        return coeffs[0] * (planes[0] - blue) + coeffs[1] * (planes[1] - blue)
    terms = [(c, p) for c, p in zip(coeffs, planes) if c != 0.0]
    if len(terms) == 1 and terms[0][0] == 1.0:
        return terms[0][1]  # a plain channel, bit-exact
    total = None
    for c, p in terms:
        total = c * p if total is None else total + c * p
    return total


def _neighbours_roll(ref, halo, c, position, row, col, band):
    """x[c] at (r, j + 1) or (r + 1, j), via a register rotate (TPU, interpreter).

    The rotated-in values (column 0, row 0 of the band) are masked later,
    except the band's last row, which takes the next band's first (the halo).
    """
    from jax.experimental.pallas import tpu as pltpu

    x = ref[c]
    if position == DX:
        return pltpu.roll(x, x.shape[1] - 1, 1)
    below = pltpu.roll(x, band - 1, 0) if band > 1 else x
    if halo is None:
        return below
    return jnp.where(row == band - 1, halo[c, 0:1, :], below)


def _neighbours_masked_load(ref, halo, c, position, row, col, band):
    """x[c] at (r, j + 1) or (r + 1, j), via a masked load one element over (Triton).

    The offset is made dynamic so that Pallas does not reject the slice as out
    of bounds; the mask guarantees no element outside the block is read.
    """
    from jax.experimental.pallas import triton as pltriton

    one = pl.program_id(0) * 0 + 1
    width = ref.shape[-1]
    if position == DX:
        return pltriton.load(ref.at[c, :, pl.ds(one, width)], mask=col < width - 1, other=0.0)
    below = pltriton.load(ref.at[c, pl.ds(one, band), :], mask=row < band - 1, other=0.0)
    if halo is None:
        return below
    return jnp.where(row == band - 1, halo[c, 0:1, :], below)


_NEIGHBOURS = {
    "tpu": _neighbours_roll,
    "interpret": _neighbours_roll,
    "gpu": _neighbours_masked_load,
}


# ---------------------------------------------------------------------------
# Similarity with its analytic gradient.


class _Coefficients(NamedTuple):
    """Per-profile cosine and gradient coefficients (as `_ProfileStats`)."""

    cosine: jax.Array
    inv_ab: jax.Array
    inv_aa: jax.Array
    inv_bb: jax.Array


def _coefficients(stats) -> _Coefficients:
    dot, norm_a, norm_b = stats[:, :, 0], stats[:, :, 1], stats[:, :, 2]
    ra = jax.lax.rsqrt(jnp.maximum(norm_a, EPSILON))
    rb = jax.lax.rsqrt(jnp.maximum(norm_b, EPSILON))
    inv_ab = ra * rb
    return _Coefficients(
        cosine=dot * inv_ab,
        inv_ab=inv_ab,
        # TensorFlow's maximum sends the gradient to its first input on ties.
        inv_aa=jnp.where(norm_a >= EPSILON, ra * ra, 0.0),
        inv_bb=jnp.where(norm_b >= EPSILON, rb * rb, 0.0),
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(3, 4))
def _similarity(a, b, scale, views, platform):
    """`-sum_v scale[v] * (sum of row and column cosines of view v)`, shape (N,)."""
    return _similarity_fwd(a, b, scale, views, platform)[0]


def _similarity_fwd(a, b, scale, views, platform):
    rows, cols = _profile_stats(a, b, views, platform)
    r, c = _coefficients(rows), _coefficients(cols)
    value = -jnp.sum(scale * (jnp.sum(r.cosine, -1) + jnp.sum(c.cosine, -1)), axis=1)
    return value, (a, b, scale, r, c)


def _similarity_bwd(views, platform, residuals, upstream):
    del platform
    a, b, scale, r, c = residuals
    u = -upstream[:, None] * scale  # (N, V)
    grad_a, grad_b = jnp.zeros_like(a), jnp.zeros_like(b)
    for v, view in enumerate(views):
        # (N, H, 1) row and (N, 1, W) column coefficients of view v.
        row = {k: x[:, v, :, None] for k, x in r._asdict().items()}
        col = {k: x[:, v, None, :] for k, x in c._asdict().items()}
        va, vb = _view_jnp(view, a), _view_jnp(view, b)
        cross = row["inv_ab"] + col["inv_ab"]
        uv = u[:, v, None, None]
        ga = uv * (cross * vb - (row["cosine"] * row["inv_aa"] + col["cosine"] * col["inv_aa"]) * va)
        gb = uv * (cross * va - (row["cosine"] * row["inv_bb"] + col["cosine"] * col["inv_bb"]) * vb)
        grad_a = grad_a + _view_adjoint(view, ga)
        grad_b = grad_b + _view_adjoint(view, gb)
    return grad_a, grad_b, jnp.zeros_like(scale)


_similarity.defvjp(_similarity_fwd, _similarity_bwd)


def _view_jnp(view: View, x):
    """View `view` of planar (N, C, H, W) `x`, shape (N, H, W), as the kernel builds it."""
    base = _combine(view.coeffs, [x[:, c] for c in range(x.shape[1])])
    if view.position == DX:
        return jnp.pad(base[:, :, 1:] - base[:, :, :-1], [(0, 0), (0, 0), (0, 1)])
    if view.position == DY:
        return jnp.pad(base[:, 1:] - base[:, :-1], [(0, 0), (0, 1), (0, 0)])
    return base


def _view_adjoint(view: View, g):
    """Adjoint of `_view_jnp`: (N, H, W) cotangent -> (N, C, H, W).

    The difference's adjoint is `g[j - 1] - g[j]`; `g` is zero in the last
    column (row), where the view is zero, so shifting it in is exact.
    """
    if view.position == DX:
        g = jnp.pad(g[:, :, :-1], [(0, 0), (0, 0), (1, 0)]) - g
    elif view.position == DY:
        g = jnp.pad(g[:, :-1], [(0, 0), (1, 0), (0, 0)]) - g
    coeffs = jnp.asarray(view.coeffs, g.dtype)
    return coeffs[None, :, None, None] * g[:, None]


# ---------------------------------------------------------------------------
# Public functions, with the contracts of spl_tf.profiles.


def planar_similarity_pallas(a, b, height, weights=None, platform: str = "interpret"):
    """`spl_tf.profiles.planar_similarity` with the fused kernel, shape (N,).

    `-sum_c weights[c] * (rows_c + cols_c) / height` for (N, C, H', W') a and
    b, rows_c and cols_c the summed profile cosines of channel c; the gradient
    is the analytic one (see the module docstring).
    """
    a, b = jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)
    channels = a.shape[1]
    weights = (1.0,) * channels if weights is None else tuple(float(w) for w in weights)
    views = tuple(View(tuple(float(i == c) for i in range(channels)), IDENTITY)
                  for c in range(channels))
    scale = jnp.asarray(weights, jnp.float32) / jnp.asarray(height, jnp.float32)
    return _similarity(a, b, scale, views, _check_platform(platform))


def weighted_profiles_pallas(y_true, y_pred, weights, value_range=(-1.0, 1.0),
                             platform: str = "interpret"):
    """`spl_tf.profiles.weighted_profiles` in one fused kernel, shape (N,).

    `weights` maps `(view, position)` to a weight: view "raw" (the channels as
    given) or "yuv" (TensorFlow's YUV of RGB), position "identity", "dx" or
    "dy". Inputs (NHWC) are mapped from `value_range` to [0, 1] first. The
    mapping and the NHWC -> planar transpose are one XLA fusion; the kernel
    then reads each image once for all views.
    """
    low, high = (float(v) for v in value_range)
    y_true, y_pred = jnp.asarray(y_true), jnp.asarray(y_pred)
    views, view_weights = _views(weights, y_true.shape[-1])
    if not views:
        return jnp.zeros((y_true.shape[0],), jnp.float32)
    scale = jnp.asarray(view_weights, jnp.float32) / y_true.shape[1]
    a, b = _planar(y_true, low, high), _planar(y_pred, low, high)
    return _similarity(a, b, scale, views, _check_platform(platform))


def _views(weights, channels: int):
    """(views, per-view weights) for a `weighted_profiles` weight dict."""
    bases = {
        "raw": [tuple(float(i == c) for i in range(channels)) for c in range(channels)],
        "yuv": [tuple(float(RGB_TO_YUV[c][k]) for c in range(3)) for k in range(3)],
    }
    views, view_weights = [], []
    for position in (IDENTITY, DX, DY):
        for name in ("raw", "yuv"):
            weight = float(weights.get((name, position), 0.0))
            if weight == 0.0:
                continue
            if name == "yuv" and channels != 3:
                raise ValueError(f"the yuv view needs 3 (RGB) channels, got {channels}")
            views += [View(coeffs, position) for coeffs in bases[name]]
            view_weights += [weight] * len(bases[name])
    return tuple(views), tuple(view_weights)


def _planar(images, low: float, high: float):
    """NHWC in [low, high] -> (N, C, H, W) float32 in [0, 1], as the original maps."""
    x = images.astype(jnp.float32)
    if (low, high) == (-1.0, 1.0):
        x = (x + 1.0) / 2.0  # bit-for-bit the original's conversion
    elif (low, high) != (0.0, 1.0):
        x = (x - low) / (high - low)
    return jnp.transpose(x, (0, 3, 1, 2))


def _check_platform(platform: str) -> str:
    if platform not in PLATFORMS:
        raise ValueError(f"platform must be one of {PLATFORMS}, got {platform!r}")
    return platform


def lower_for(platform: str, shape=(2, 64, 128, 3)) -> str:
    """StableHLO text of SPL's value and gradient lowered for "tpu" or "gpu".

    Runs the Pallas lowering (Mosaic for TPU, Triton for GPU) on any machine,
    without the device: a check that the kernel is expressible there.
    """
    weights = {(v, p): 1.0 for v in ("raw", "yuv") for p in (IDENTITY, DX, DY)}  # SPL

    def loss(t, p):
        return jnp.sum(weighted_profiles_pallas(t, p, weights, platform=platform))

    spec = jax.ShapeDtypeStruct(shape, jnp.float32)
    target = {"gpu": "cuda", "tpu": "tpu"}[platform]
    traced = jax.jit(jax.value_and_grad(loss, argnums=1)).trace(spec, spec)
    return traced.lower(lowering_platforms=(target,)).as_text()


__all__ = [
    "View",
    "lower_for",
    "planar_similarity_pallas",
    "weighted_profiles_pallas",
]
