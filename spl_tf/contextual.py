"""The Contextual loss (Mechrez, Talmi, Zelnik-Manor, ECCV 2018) on feature maps.

Input convention: `target` (T) and `generated` (I) are NHWC feature batches of
the same shape, e.g. VGG19 activations of the target and of the generated
image; any real dtype, computed in float32. Every feature vector (one position
of one image) is a point; the loss compares the two sets of points of each
image, ignoring where they are. With i over generated positions and j over
target positions of the same image:

    d_ij  = raw distance (see `raw_distances`)
    r_ij  = d_ij / (min_j' d_ij' + 1e-5)                 relative distance
    w_ij  = exp((b - r_ij) / h),  b = 1                  h = band_width
    cx_ij = w_ij / sum_j' w_ij'                          normalised over T
    CX    = mean_j max_i cx_ij
    loss  = -log(CX)

`contextual_loss` returns one value per image, shape (batch,); the original's
`CX_loss` returns their mean. The cosine distance centres both sets by the
mean of the TARGET over the whole batch (batch, height and width), as the
original does, so an image's value depends on the other images of its batch.

Differences from the original, none of which moves its values beyond float32
rounding (checked against its outputs in `tests/spl_tf_tests/test_contextual.py`):

- Channel L2 normalisation uses TensorFlow's `l2_normalize` rule,
  `x * rsqrt(max(sum(x^2), 1e-12))`: an all-zero feature vector (after
  centring) normalises to zero, where the original divides 0 by 0 and returns
  NaN. All-zero maps therefore give a finite loss and finite gradients.
- `cx` is computed as a softmax of `(b - r) / h` over target positions: the
  same quotient, but without overflow when `h` is small and a generated vector
  has an exact match (`r` near 0, `exp(1/h)` beyond float32), where the
  original returns inf / inf = NaN.
- The original computes `-log(1 - (1 - CX))`; here `-log(CX)`.

`ContextualLoss` is the loss on images: the weighted sum of the feature-level
loss over frozen VGG19 layers, with the original's sampling of at most 65 x 65
positions per layer.

Written with `keras.ops` only: runs on the TensorFlow and JAX backends.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from spl_tf.features import FeatureLoss
from spl_tf.profiles import l2_normalize
from spl_tf.validation import (
    check_batch,
    check_bool,
    check_pair,
    check_positive_int,
    check_positive_number,
    check_seed,
    empty_per_image,
    is_empty_batch,
)

COSINE, L2 = "cosine", "l2"
DISTANCES = (COSINE, L2)
"""`"cosine"` is the original's `Distance.DotProduct`, `"l2"` its `Distance.L2`."""

B = 1.0
"""The shift `b` of the original's `exp((b - r) / h)`; it cancels in the softmax."""

RELATIVE_EPSILON = 1e-5
"""Added to the smallest distance before dividing by it, as in the original."""

MAX_PAIRWISE_ELEMENTS = 2**28
"""Largest `N * (H*W)^2` accepted: one (N, H*W, H*W) float32 matrix is 1 GiB
here, and the loss keeps several of them (plus their gradients). Larger maps
must be subsampled with `sample_positions` (the original samples 65 x 65
positions) or taken from a coarser layer."""


DEFAULT_LAYERS = ("conv3_2", "conv4_2")
"""The original's training layers (`config.CX.feat_layers`), weight 1 each."""


@keras.saving.register_keras_serializable(package="spl_tf")
class ContextualLoss(FeatureLoss):
    """The Contextual loss of images through frozen VGG19 feature maps.

    `loss = sum_l w_l * contextual_loss(phi_l(y_true), phi_l(y_pred))`, one value
    per image: for each layer the target's and the output's feature vectors are
    compared as two sets, ignoring where they are (`contextual_loss`), so the
    loss suits training pairs that are not aligned pixel for pixel. Defaults are
    the original's training configuration: layers conv3_2 and conv4_2 of an
    average-pooled VGG19, cosine distance, band width 0.5, at most 65 x 65
    sampled positions per layer.

    Memory: each layer needs a (batch, P, P) matrix for P positions, several
    times over with its gradient. `max_positions_1d` bounds P by sampling
    `max_positions_1d ** 2` positions (the same ones in the output and the
    target, drawn anew at every call); with `max_positions_1d=None` every
    position is kept and maps with more than `MAX_PAIRWISE_ELEMENTS` pairs are
    refused with a ValueError (a 256 x 256 image gives 64 x 64 conv3_2 maps:
    2^24 pairs per image).

    Input convention: RGB images (batch, height, width, 3) in [-1, 1], `y_true`
    the target. As in the original, the cosine distance centres on the mean
    target feature of the whole batch, so an image's value depends on its
    batch.

    Args:
        layers: VGG19 layer names (`conv3_2` or Keras's `block3_conv2`).
        distance: `"cosine"` or `"l2"` (see `raw_distances`).
        band_width: `h` of `exp((1 - r) / h)`.
        max_positions_1d: Sample at most this many squared positions per layer;
            None to keep all.
        crop_quarters: Compare the four quarters of each map separately and
            average them (the original's `crop_quarters` option).
        layer_weights: One weight per layer (default 1 each).
        network, weights, pooling: the feature extractor (`VGGFeatures`);
            `weights="imagenet"` downloads Keras's VGG19 weights once, a path
            loads a local file, None is random (tests only).
        seed: Seed of the position sampling. Under a jitted JAX `fit` the
            loss's seed generator cannot advance (JAX is functional and the
            loss holds no model state), so the same positions are drawn at
            every step there; on TensorFlow they change every step.
    """

    def __init__(self, layers: Sequence[str] = DEFAULT_LAYERS, distance: str = COSINE,
                 band_width: float = 0.5, max_positions_1d: int | None = 65,
                 crop_quarters: bool = False, layer_weights: Sequence[float] | None = None,
                 network: str = "vgg19", weights: str | None = "imagenet",
                 pooling: str = "avg", seed: int | None = None,
                 reduction: str | None = "sum_over_batch_size", name: str | None = None):
        self.band_width = _check_options(distance, band_width)
        self.distance = distance
        self.max_positions_1d = check_positive_int(max_positions_1d, "max_positions_1d",
                                                   optional=True)
        self.crop_quarters = check_bool(crop_quarters, "crop_quarters")
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        super().__init__(layers, layer_weights, network, weights, pooling, reduction, name)

    def compare(self, true, pred):
        true, pred = ops.cast(true, "float32"), ops.cast(pred, "float32")
        if self.crop_quarters:
            true, pred = crop_quarters(true), crop_quarters(pred)
        if self.max_positions_1d is not None:
            true, pred = sample_positions(true, pred, self.max_positions_1d,
                                          seed=self.seed_generator)
        per_map = contextual_loss(true, pred, self.distance, self.band_width)
        if self.crop_quarters:  # (4 * N,) quarter-major -> (N,)
            per_map = ops.mean(ops.reshape(per_map, (4, -1)), axis=0)
        return per_map

    def get_config(self):
        return {**super().get_config(), "distance": self.distance,
                "band_width": self.band_width, "max_positions_1d": self.max_positions_1d,
                "crop_quarters": self.crop_quarters, "seed": self.seed}


def raw_distances(target, generated, distance: str = COSINE):
    """Distance of every generated position to every target position.

    Returns (N, H, W, H*W) float32: element [n, y, x, j] is the distance
    between `generated[n, y, x]` and `target[n, j // W, j % W]` (j row-major
    over the target's positions), the original's `raw_distances`.

    - `"cosine"`: `(1 - cos) / 2`, in [0, 1], after centring both by the mean of
      `target` over batch, height and width and L2-normalising over channels.
    - `"l2"`: squared Euclidean distance `|t|^2 - 2 t.g + |g|^2`, clamped at 0
      against rounding (no centring, no normalisation, no square root).
    """
    target, generated = _prepare(target, generated, distance=distance)
    return _as_maps(_pairwise_distances(target, generated, distance), generated)


def contextual_similarity(
    target, generated, distance: str = COSINE, band_width: float = 0.5
):
    """The contextual similarity `cx_ij`, shape (N, H, W, H*W), layout as in
    `raw_distances`; it sums to 1 over the last axis (target positions).

    `cx_ij = softmax_j((b - d_ij / (min_j' d_ij' + 1e-5)) / band_width)`, the
    original's `cs_NHWC`. 0.5 is the band width of the original's training
    configuration (its `CX_loss` signature defaults to 1.0 with `"l2"`).
    """
    target, generated = _prepare(target, generated, distance, band_width)
    cx = _similarity(_pairwise_distances(target, generated, distance), band_width)
    return _as_maps(cx, generated)


def contextual_loss(target, generated, distance: str = COSINE, band_width: float = 0.5):
    """The Contextual loss per image, shape (batch,).

    `-log(mean_j max_i cx_ij)`, with i over generated and j over target
    positions (see `contextual_similarity`). Zero when every target vector has
    an exact match among the generated ones; at most log(H*W). Its mean over
    the batch is the original's `CX_loss(target, generated, distance,
    band_width)`; the values depend on the whole batch through the cosine
    centring.
    """
    target, generated = _prepare(target, generated, distance, band_width)
    if is_empty_batch(target) or is_empty_batch(generated):
        return empty_per_image(generated)  # no positions to take a min or max over
    cx = _similarity(_pairwise_distances(target, generated, distance), band_width)
    # cx is (N, generated, target): the best generated match of each target
    # vector, averaged over the target vectors.
    return -ops.log(ops.mean(ops.max(cx, axis=1), axis=1))


def crop_quarters(features):
    """Split NHWC maps into their four quarters, stacked on the batch axis.

    Returns (4N, h, w, C) with `h = round(H / 2)`, `w = round(W / 2)` (Python's
    round, halves to even, as the original): the blocks rows [0:h] x cols
    [0:w], rows [h:2h] x cols [0:w], rows [0:h] x cols [w:2w], rows [h:2h] x
    cols [w:2w], each block holding the N images in order. For odd sizes that
    round down the last row / column is dropped; sizes that round up (3, 7, 11,
    ...) do not fit two blocks and raise a ValueError, where the original fails
    in `tf.slice`.
    """
    features = ops.convert_to_tensor(features)
    check_batch("crop_quarters", "features", features, description="features",
                known=("height", "width"))
    _, height, width, _ = features.shape
    h, w = round(height / 2), round(width / 2)
    if h == 0 or w == 0 or 2 * h > height or 2 * w > width:
        raise ValueError(
            f"crop_quarters cannot cut {height}x{width} maps into quarters of "
            f"round(H/2) x round(W/2) = {h}x{w} (the original's rule): use an "
            "even size or one whose half rounds down."
        )
    blocks = [
        features[:, :h, :w],
        features[:, h : 2 * h, :w],
        features[:, :h, w : 2 * w],
        features[:, h : 2 * h, w : 2 * w],
    ]
    return ops.concatenate(blocks, axis=0)


def sample_positions(
    target,
    generated,
    max_positions_1d: int = 65,
    seed=None,
    indices=None,
):
    """The same random positions of both maps when they hold too many.

    If `H * W > max_positions_1d^2`, returns `(target, generated)` each reduced
    to `max_positions_1d^2` positions, gathered at the same row-major indices
    (`y * W + x`) of every image and reshaped to (N, max_positions_1d,
    max_positions_1d, C) in the order of the indices; otherwise returns both
    unchanged (and `indices` is not used). This is the original's
    `random_pooling` with its `max_sampling_1d_size` (65 in its
    configuration); the reshaped layout is arbitrary, which the loss ignores.

    Args:
        target, generated: NHWC maps of the same shape, static H and W.
        max_positions_1d: Keep `max_positions_1d^2` positions.
        seed: Draw the indices without replacement (a shuffle, as the
            original's `tf.random_shuffle`) with this int or
            `keras.random.SeedGenerator`; `None` uses Keras's global seed
            generator (eager only under JAX: pass a `SeedGenerator` in
            traced code).
        indices: Use these `max_positions_1d^2` positions instead of drawing.
    """
    target, generated = ops.convert_to_tensor(target), ops.convert_to_tensor(generated)
    target, generated = check_pair("sample_positions", ("target", target),
                                   ("generated", generated), description="features",
                                   known=("height", "width", "channels"))
    _, height, width, channels = target.shape
    max_positions_1d = check_positive_int(max_positions_1d, "max_positions_1d")
    positions, count = height * width, max_positions_1d ** 2
    if positions <= count:
        return target, generated
    if indices is None:
        indices = keras.random.shuffle(ops.arange(positions, dtype="int32"), seed=seed)
        indices = indices[:count]
    else:
        indices = _check_indices(indices, count, positions)
    side = max_positions_1d

    def gather(x):
        flat = ops.reshape(x, (-1, positions, channels))
        return ops.reshape(ops.take(flat, indices, axis=1), (-1, side, side, channels))

    return gather(target), gather(generated)


def _pairwise_distances(target, generated, distance: str):
    """(N, P, P) float32 distances, [n, i, j] = d(generated_i, target_j)."""
    if distance == COSINE:
        # Centring by the target's mean over the batch makes the cosine measure
        # directions relative to the target's "average feature", as the
        # original does; it deliberately does not divide by the deviation.
        mean = ops.mean(target, axis=(0, 1, 2), keepdims=True)
        t = _flatten(l2_normalize(target - mean, axis=-1))
        g = _flatten(l2_normalize(generated - mean, axis=-1))
        cosine = ops.matmul(g, ops.transpose(t, (0, 2, 1)))
        return (1.0 - cosine) / 2.0
    t, g = _flatten(target), _flatten(generated)
    t_sq = ops.expand_dims(ops.sum(ops.square(t), axis=-1), 1)
    g_sq = ops.expand_dims(ops.sum(ops.square(g), axis=-1), 2)
    dot = ops.matmul(g, ops.transpose(t, (0, 2, 1)))
    # The original's order of operations; rounding can make it slightly
    # negative for near-identical vectors, hence the clamp.
    return ops.maximum((t_sq - 2.0 * dot) + g_sq, 0.0)


def _similarity(distances, band_width: float):
    """cx of (N, P, P) distances, normalised over the last (target) axis."""
    nearest = ops.min(distances, axis=-1, keepdims=True)
    relative = distances / (nearest + RELATIVE_EPSILON)
    # softmax = exp(.) / sum exp(.), the original's quotient, taken after
    # subtracting the row maximum so that exp cannot overflow for small h.
    return ops.softmax((B - relative) / band_width, axis=-1)


def _flatten(x):
    """(N, H, W, C) -> (N, H*W, C), positions row-major."""
    return ops.reshape(x, (ops.shape(x)[0], -1, x.shape[-1] or ops.shape(x)[-1]))


def _as_maps(pairwise, generated):
    """(N, P, P) -> (N, H, W, P): the generated positions back on the grid."""
    shape = ops.shape(generated)
    return ops.reshape(pairwise, (shape[0], shape[1], shape[2], -1))


def _prepare(target, generated, distance: str = COSINE, band_width: float = 1.0):
    """Check the arguments (ValueError before any computation); float32 tensors."""
    target, generated = ops.convert_to_tensor(target), ops.convert_to_tensor(generated)
    target, generated = check_pair("contextual loss", ("target", target),
                                   ("generated", generated), description="features")
    _check_options(distance, band_width)
    batch, height, width, _ = target.shape
    if height is not None and width is not None:
        elements = (height * width) ** 2 * (batch or 1)
        if elements > MAX_PAIRWISE_ELEMENTS:
            raise ValueError(
                f"contextual loss on shape {tuple(target.shape)} needs a "
                f"{batch or 1} x {height * width} x {height * width} distance "
                f"matrix ({elements} elements, limit {MAX_PAIRWISE_ELEMENTS}): "
                "reduce the positions first with `sample_positions` (the "
                "original keeps 65 x 65), or use a smaller layer or batch."
            )
    return ops.cast(target, "float32"), ops.cast(generated, "float32")


def _check_options(distance: str, band_width: float) -> float:
    """The distance name and the band width (returned as a float)."""
    if distance not in DISTANCES:
        raise ValueError(
            f"distance must be one of {DISTANCES} (the original's DotProduct and "
            f"L2), got {distance!r}."
        )
    return check_positive_number(band_width, "band_width")


def _check_indices(indices, count: int, positions: int):
    """int32 indices, checked for length and range when their values are known."""
    indices = ops.convert_to_tensor(indices, dtype="int32")
    if tuple(indices.shape) != (count,):
        raise ValueError(
            f"indices must have shape ({count},) (max_positions_1d ** 2); got "
            f"{tuple(indices.shape)}."
        )
    try:
        values = ops.convert_to_numpy(indices)
    except Exception:  # symbolic (traced) indices: values unknown here
        return indices
    if values.min() < 0 or values.max() >= positions:
        raise ValueError(
            f"indices must lie in [0, H*W) = [0, {positions}); got values from "
            f"{values.min()} to {values.max()}."
        )
    return indices
