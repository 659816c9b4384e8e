"""The Spatially-Correlative loss (Zheng, Cham, Cai, CVPR 2021) on feature maps.

F-LSeSim compares images by the *structure* of their features rather than the
features themselves: each query position is described by its similarities to
a set of key positions of the same map (a "self-similarity map"), and the loss
asks the target's maps to match the source's. Values match the original
PyTorch code (`lyndonzheng/F-LSeSim` at commit 6ca7883, `models/losses.py`,
`PatchSim` and `SpatialCorrelativeLoss`) number for number. Other versions of
that file differ in the tanh scale (6) and in the `cos`/`l1` mask (top half of
the source's map); this module follows 6ca7883.

Input convention: NHWC float feature maps (any float dtype; everything is
computed in float32). Positions are numbered row-major, `id = y * W + x`.

Self-similarity of one map `f` (N, H, W, C):

    g = f - mean_{y,x} f                              (per image and channel)
    normalize=True:   g <- g / max(|g|_channels, 1e-12),  sim(q, k) = <g_q, g_k>
    normalize=False:  g <- g / sqrt(C),               sim(q, k) = tanh(<g_q, g_k> / 10)

`normalize=False` is the original's training default (`--use_norm` off).

Keys of query `q` are either every position (global) or the `ps x ps` window
around `q`, shifted to stay inside the map: its top-left corner is
`clip(centre - ps // 2, 0, size - ps)` along each axis. A window as large as
the smaller side of the map (`ps >= min(H, W)`) means global, as in the
original.

On images: `FSeSimLoss` (fixed VGG16 features, a Keras loss) and `LSeSim`
(a learned head per layer, trained contrastively; see its docstring for the
alternating training step).

Written with `keras.ops` only: the same code runs on the TensorFlow and JAX
backends.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from spl_tf.features import FeatureLoss, VGGFeatures, check_rgb_pair, keras_layer_name
from spl_tf.validation import (
    check_batch,
    check_bool,
    check_names,
    check_positive_int,
    check_positive_number,
    check_same_shape,
    check_seed,
    empty_per_image,
    is_empty_batch,
)

MODES = ("cos", "l1", "info")
"""`cos`/`l1` compare the top quarter of each target map; `info` is contrastive."""

TANH_SCALE = 10.0
"""The original divides the dot product by this before `tanh` (`normalize=False`)."""

NORMALIZE_EPSILON = 1e-12
"""`torch.nn.functional.normalize`'s floor on the norm."""

COSINE_EPSILON = 1e-8
"""`torch.nn.functional.cosine_similarity`'s floor on each norm."""


def self_similarity(
    features,
    query_ids=None,
    patch_size: int | None = None,
    normalize: bool = False,
    original_window_quirk: bool = False,
):
    """Self-similarity maps of NHWC features, shape (N, Num, K), float32.

    Row `n` belongs to the query at position `query_ids[n]` (all positions in
    row-major order when `None`). Column `k` is the key: every position in
    row-major order when `patch_size` is `None` or `>= min(H, W)` (K = H * W),
    else the `patch_size x patch_size` window of the query, row-major within
    the window (K = patch_size ** 2). See the module docstring for the formula.

    Args:
        features: (N, H, W, C) feature maps.
        query_ids: 1-D integer positions `y * W + x` in `[0, H * W)`, or `None`.
        patch_size: Window side, or `None` for global keys (as is any size
            `>= min(H, W)`). An even side puts the query one position below and
            right of the window's centre, as in the original (whose training
            default, 64, is even).
        normalize: Channel L2 normalisation and plain dot product (the
            original's `--use_norm`); otherwise `tanh(dot / 10)` of the
            features divided by `sqrt(C)`.
        original_window_quirk: Centre windows at `(id // H, id % H)` as the
            original does, instead of the true `(id // W, id % W)`. Differs
            only for non-square maps; use it to reproduce the original there.
    """
    features = _as_features("self_similarity", "features", features)
    patch_size = check_positive_int(patch_size, "patch_size", optional=True)
    height, width = features.shape[1], features.shape[2]
    ids = _check_query_ids(query_ids, height * width)
    return _similarity(features, ids, patch_size, normalize, original_window_quirk)


def spatial_correlative_loss(
    source,
    target,
    other=None,
    mode: str = "cos",
    patch_size: int | None = None,
    query_ids=None,
    normalize: bool = False,
    temperature: float = 0.07,
    original_window_quirk: bool = False,
):
    """The spatially-correlative loss between `source` and `target`, a scalar.

    All three maps go through `self_similarity` with the same queries and keys;
    `s`, `t`, `o` are the maps of `source`, `target`, `other`, with K keys.

    - `mode="cos"`: keep the keys where `t >= m`, `m` the `(K//4 + 1)`-th
      largest entry of the row of `t` (zero the rest in both `s` and `t`);
      `loss = crit(1 - cos(s_kept, t_kept))` per query.
    - `mode="l1"`: same mask; `loss = crit(K / (K//4) * (s_kept - t_kept))` per
      entry (needs K >= 4).
    - `mode="info"`: contrastive, with `other` as negatives. Rows of s, t, o
      are L2-normalised; for query q the logits are
      `[<s_q, t_m>, <s_q, o_m>, <t_q, o_m>]_m / temperature` (3 * Num values)
      and the loss is the cross-entropy with `<s_q, t_q>` as the right answer.

    `crit` is |x| with `normalize=True` and the smooth L1 (0.5 x^2 if |x| < 1,
    else |x| - 0.5) otherwise, the original's pairing. Every image has the
    same number of queries and keys, so the value is the mean over the batch
    of the per-image losses (the original's mean over all queries of all
    images); 0 for an empty batch.

    The mask is the target's top quarter (plus one) of each row; it is not
    differentiated (the gradient reaches the kept entries only), and ties at
    the threshold are all kept, as in the original.

    Args:
        source: (N, H, W, C) features of the input image.
        target: (N, H, W, C) features of the translated image (the one trained).
        other: (N, H, W, C) features of an unrelated image; `info` only. (The
            original silently switches to `info` whenever it is given; here the
            mode decides, so passing it with `cos`/`l1` is an error.)
        mode: `"cos"`, `"l1"` or `"info"`.
        patch_size, query_ids, normalize, original_window_quirk: as in
            `self_similarity`.
        temperature: Softmax temperature of `info` (the original's `T`,
            0.07 by default in its training options).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    function = "spatial_correlative_loss"
    source = _as_features(function, "source", source)
    target = _as_features(function, "target", target)
    source, target = check_same_shape(function, ("source", source), ("target", target))
    if mode == "info":
        if other is None:
            raise ValueError("mode 'info' needs `other`: the features of an unrelated image.")
        other = _as_features(function, "other", other)
        source, other = check_same_shape(function, ("source", source), ("other", other))
        temperature = check_positive_number(temperature, "temperature")
    elif other is not None:
        raise ValueError(f"`other` is used by mode 'info' only; got it with mode {mode!r}.")
    patch_size = check_positive_int(patch_size, "patch_size", optional=True)
    height, width = source.shape[1], source.shape[2]
    ids = _check_query_ids(query_ids, height * width)

    if mode == "l1":
        keys = height * width if _is_global(patch_size, height, width) else patch_size**2
        if keys < 4:
            # The original rescales by K / (K // 4): a division by zero.
            raise ValueError(f"mode 'l1' needs at least 4 keys per query; got {keys}.")

    if is_empty_batch(source) or is_empty_batch(target):
        # The mean of no image is 0, as Keras reduces an empty batch (JAX
        # cannot reshape the empty maps below).
        return ops.sum(empty_per_image(target))

    def maps(features):
        return _similarity(features, ids, patch_size, normalize, original_window_quirk)

    sim_oth = maps(other) if mode == "info" else None
    per_image = _compare(maps(source), maps(target), sim_oth, mode, normalize, float(temperature))
    # A batch found empty only at run time (a TensorFlow trace of unknown
    # batch) has the mean 0 / 0: give it 0, as Keras's reductions do.
    return ops.where(ops.shape(per_image)[0] > 0, ops.mean(per_image), 0.0)


@keras.saving.register_keras_serializable(package="spl_tf")
class LSeSimHead(keras.layers.Layer):
    """The learned head of LSeSim: `relu(f W1 + b1) W2 + b2` at every pixel.

    Two 1x1 convolutions with a ReLU between, applied to NHWC features before
    the self-similarity (the original's `use_conv=True`, one head per feature
    layer). Output channels `C' = max(32, C // 4)` unless `units` is given.

    Weights, in `get_weights()` / `set_weights()` order: `W1` (C, C'), `b1`
    (C'), `W2` (C', C'), `b2` (C'). From the original's
    `nn.Sequential(conv1, ReLU, conv2)`: `W1 = conv1.weight[:, :, 0, 0].T`,
    `b1 = conv1.bias`, and the same for conv2 (a torch 1x1 conv weight is
    `W.T[:, :, None, None]`). The default initialisation is the original's:
    weights N(0, 0.02), biases zero.

    Args:
        units: Output channels; `None` for the original's `max(32, C // 4)`.
        kernel_initializer: Keras initialiser of W1 and W2; `None` for the
            original's N(0, 0.02).
        bias_initializer: Keras initialiser of b1 and b2.
    """

    def __init__(
        self,
        units: int | None = None,
        kernel_initializer=None,
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units", optional=True)
        if kernel_initializer is None:
            # The original's `init_net(..., "normal", 0.02)`.
            kernel_initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)

    @staticmethod
    def output_channels(channels: int) -> int:
        """The original's head width for `channels` input channels."""
        return max(32, channels // 4)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("LSeSimHead needs a known number of input channels.")
        units = self.units or self.output_channels(channels)
        self.w1 = self.add_weight(
            shape=(channels, units), initializer=self.kernel_initializer, name="w1"
        )
        self.b1 = self.add_weight(shape=(units,), initializer=self.bias_initializer, name="b1")
        self.w2 = self.add_weight(
            shape=(units, units), initializer=self.kernel_initializer, name="w2"
        )
        self.b2 = self.add_weight(shape=(units,), initializer=self.bias_initializer, name="b2")

    def call(self, features):
        hidden = ops.relu(ops.matmul(features, self.w1) + self.b1)
        return ops.matmul(hidden, self.w2) + self.b2

    def compute_output_shape(self, input_shape):
        units = self.units or self.output_channels(input_shape[-1])
        return (*input_shape[:-1], units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
        }


DEFAULT_LAYERS = ("relu3_1", "relu4_1", "relu4_3")
"""The original's `--attn_layers 4,7,9` of its VGG16 feature list."""


@keras.saving.register_keras_serializable(package="spl_tf")
class FSeSimLoss(FeatureLoss):
    """The fixed Spatially-Correlative loss (F-LSeSim) of images, VGG16 features.

    `loss = sum_l w_l * L(phi_l(y_true), phi_l(y_pred))` per image, with `L` the
    spatially-correlative comparison of `spatial_correlative_loss` on the
    layer's self-similarity maps. `y_true` is the image whose *structure* the
    output must keep: in the original's unpaired translation that is the
    generator's input, not a target (`model.fit(x, x)` with this loss alone).
    Defaults are the original's training options: layers relu3_1, relu4_1,
    relu4_3, weights 1/3 each (it averages the layers), mode `cos`, 256 random
    queries per layer, window 64 (so global on the maps of a 256-pixel image),
    no channel normalisation. The original weighs the result by
    `lambda_spatial = 10` in the generator's objective.

    Input convention: RGB images (batch, height, width, 3) in [-1, 1]. The
    features come from Keras's ImageNet VGG16 with its own preprocessing (the
    original used torchvision's VGG16 and normalisation: other weights, the
    same architecture).

    Args:
        layers: VGG16 layer names (`relu3_1` or Keras's `block3_conv1`).
        mode: `"cos"` or `"l1"`. (The contrastive `"info"` needs an unrelated
            third image and trains the heads of `LSeSim`.)
        patch_size: Key window side; None or `>= min(H, W)` for global keys.
        num_queries: Query positions drawn per layer and call (the same for the
            images of a batch); None (or more than the map holds) for all.
        normalize: The original's `--use_norm`.
        layer_weights: One weight per layer; default `1 / len(layers)` each.
        network, weights, pooling: the feature extractor (`VGGFeatures`).
        seed: Seed of the query sampling (see `ContextualLoss` on JAX).
    """

    def __init__(self, layers: Sequence[str] = DEFAULT_LAYERS, mode: str = "cos",
                 patch_size: int | None = 64, num_queries: int | None = 256,
                 normalize: bool = False, layer_weights: Sequence[float] | None = None,
                 network: str = "vgg16", weights: str | None = "imagenet",
                 pooling: str = "max", seed: int | None = None,
                 reduction: str | None = "sum_over_batch_size", name: str | None = None):
        if mode not in ("cos", "l1"):
            raise ValueError(
                f"FSeSimLoss mode must be 'cos' or 'l1', got {mode!r} (the contrastive "
                "'info' mode trains the heads of LSeSim: LSeSim.head_loss)."
            )
        self.mode, self.normalize = mode, check_bool(normalize, "normalize")
        self.patch_size = check_positive_int(patch_size, "patch_size", optional=True)
        self.num_queries = check_positive_int(num_queries, "num_queries", optional=True)
        self.seed = check_seed(seed)
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        layers = check_names(layers, "layers")
        if layer_weights is None:
            layer_weights = (1.0 / max(len(layers), 1),) * len(layers)
        super().__init__(layers, layer_weights, network, weights, pooling, reduction, name)

    def compare(self, true, pred):
        ids = _draw_queries(true, self.num_queries, self.seed_generator)
        maps = [_layer_similarity(f, ids, self.patch_size, self.normalize) for f in (true, pred)]
        return _compare(*maps, None, self.mode, self.normalize, 0.0)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "patch_size": self.patch_size,
                "num_queries": self.num_queries, "normalize": self.normalize,
                "seed": self.seed}


@keras.saving.register_keras_serializable(package="spl_tf")
class LSeSim(keras.layers.Layer):
    """The learned Spatially-Correlative loss: frozen VGG16, a trainable head per layer.

    The heads (`LSeSimHead`) map each feature layer before the self-similarity.
    As in the original, training alternates two updates per batch:

    1. heads: minimise `head_loss(source, output, other)`, the contrastive
       `info` objective, with the generator's output held fixed (no gradient
       reaches the generator) and `other` an unrelated image (the original
       uses a target-domain image, flipped both ways);
    2. generator: minimise `lambda * generator_loss(source, output)` (mode
       `cos` or `l1` through the current heads) with an optimiser that holds
       the generator's weights only, so the heads do not move.

    `examples/lsesim_translation.py` is that training step as a `keras.Model`.
    Both losses return one value per image, shape (batch,); images are RGB
    (batch, height, width, 3) in [-1, 1].

    Args: as `FSeSimLoss`, plus `temperature` (of the `info` objective, the
    original's `T` = 0.07) and `head_units` (None: the original's
    `max(32, C // 4)` channels).
    """

    def __init__(self, layers: Sequence[str] = DEFAULT_LAYERS, mode: str = "cos",
                 patch_size: int | None = 64, num_queries: int | None = 256,
                 normalize: bool = False, temperature: float = 0.07,
                 network: str = "vgg16", weights: str | None = "imagenet",
                 pooling: str = "max", head_units: int | None = None,
                 seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("cos", "l1"):
            raise ValueError(f"LSeSim mode (of the generator loss) must be 'cos' or 'l1', "
                             f"got {mode!r}.")
        temperature = check_positive_number(temperature, "temperature")
        self.layer_names, self.mode = check_names(layers, "layers"), mode
        self.normalize = check_bool(normalize, "normalize")
        self.patch_size = check_positive_int(patch_size, "patch_size", optional=True)
        self.num_queries = check_positive_int(num_queries, "num_queries", optional=True)
        head_units = check_positive_int(head_units, "head_units", optional=True)
        self.temperature, self.head_units = temperature, head_units
        self.seed = check_seed(seed)
        # `weights` is a Layer property: keep the extractor's argument apart.
        self.network, self.vgg_weights, self.pooling = network, weights, pooling
        self.extractor = VGGFeatures(self.layer_names, network, weights, pooling)
        self.heads = []
        for i, name in enumerate(self.layer_names):
            head = LSeSimHead(head_units, name=f"head_{i}")
            channels = self.extractor.get_layer(keras_layer_name(name)).filters
            head.build((None, None, None, channels))
            self.heads.append(head)
        self.seed_generator = keras.random.SeedGenerator(self.seed)

    def call(self, images):
        """The head outputs of every layer, a list in `layers` order."""
        features = self.extractor(images)
        return [head(features[name]) for head, name in zip(self.heads, self.layer_names)]

    def generator_loss(self, source, output):
        """Per image: how far `output`'s learned self-similarity is from `source`'s."""
        source, output = check_rgb_pair("LSeSim.generator_loss", ("source", source),
                                        ("output", output))
        if is_empty_batch(source) or is_empty_batch(output):
            return empty_per_image(output)  # TensorFlow's CPU convolutions fail on it
        return self._loss(source, output, None, self.mode)

    def head_loss(self, source, output, other):
        """Per image: the contrastive objective of the heads; `output` is held fixed."""
        source, output = check_rgb_pair("LSeSim.head_loss", ("source", source),
                                        ("output", output))
        source, other = check_rgb_pair("LSeSim.head_loss", ("source", source), ("other", other))
        if any(is_empty_batch(x) for x in (source, output, other)):
            return empty_per_image(ops.stop_gradient(output))  # as generator_loss
        other = ops.flip(ops.flip(other, axis=1), axis=2)
        return self._loss(source, ops.stop_gradient(output), other, "info")

    def _loss(self, source, target, other, mode: str):
        images = [source, target] + ([other] if other is not None else [])
        per_image = [self(x) for x in images]
        total = 0.0
        for layer_maps in zip(*per_image):
            ids = _draw_queries(layer_maps[0], self.num_queries, self.seed_generator)
            sims = [_layer_similarity(f, ids, self.patch_size, self.normalize)
                    for f in layer_maps]
            if other is None:
                sims.append(None)
            total = total + _compare(*sims, mode, self.normalize, self.temperature)
        return total / len(self.layer_names)

    def get_config(self):
        return {**super().get_config(), "layers": list(self.layer_names), "mode": self.mode,
                "patch_size": self.patch_size, "num_queries": self.num_queries,
                "normalize": self.normalize, "temperature": self.temperature,
                "network": self.network, "weights": self.vgg_weights,
                "pooling": self.pooling, "head_units": self.head_units, "seed": self.seed}


def _layer_similarity(features, ids, patch_size, normalize):
    """Self-similarity maps of one layer as the image-level losses use it."""
    return _similarity(ops.cast(features, "float32"), ids, patch_size, normalize, False)


def _draw_queries(features, num_queries: int | None, seed_generator):
    """Random query positions (a shuffle, as the original's randperm), or None for all."""
    positions = features.shape[1] * features.shape[2]
    if num_queries is None or num_queries >= positions:
        return None
    return keras.random.shuffle(ops.arange(positions, dtype="int32"),
                                seed=seed_generator)[:num_queries]


# --- similarity maps --------------------------------------------------------


def _similarity(features, ids, patch_size, normalize, quirk):
    """(N, Num, K) maps of validated float32 features; `ids` int32 or None."""
    _, height, width, channels = features.shape
    centred = features - ops.mean(features, axis=(1, 2), keepdims=True)
    if normalize:
        centred = _l2_normalize(centred, NORMALIZE_EPSILON)
    else:
        centred = centred / np.sqrt(channels)
    flat = ops.reshape(centred, (-1, height * width, channels))
    queries = flat if ids is None else ops.take(flat, ids, axis=1)

    if _is_global(patch_size, height, width):
        dots = ops.einsum("nqc,nkc->nqk", queries, flat)
    else:
        if ids is None:
            ids = ops.arange(height * width, dtype="int32")
        window = _window_positions(ids, height, width, patch_size, quirk)
        keys = ops.take(flat, window, axis=1)  # (N, Num, K, C)
        dots = ops.einsum("nqc,nqkc->nqk", queries, keys)
    return dots if normalize else ops.tanh(dots / TANH_SCALE)


def _is_global(patch_size: int | None, height: int, width: int) -> bool:
    """Whether every position is a key: no window, or one that cannot fit."""
    return patch_size is None or patch_size >= min(height, width)


def _window_positions(ids, height: int, width: int, size: int, quirk: bool):
    """(Num, size * size) row-major positions of each query's key window.

    The window is centred on the query where possible and shifted inward at
    the borders so that it always lies inside the map.
    """
    # The original reads the row count where the row length belongs; the two
    # agree on square maps only.
    row_length = height if quirk else width
    centre_y, centre_x = ids // row_length, ids % row_length
    top = ops.clip(centre_y - size // 2, 0, height - size)
    left = ops.clip(centre_x - size // 2, 0, width - size)
    offsets = ops.arange(size, dtype="int32")
    rows = top[:, None] + offsets[None, :]  # (Num, size)
    cols = left[:, None] + offsets[None, :]
    positions = rows[:, :, None] * width + cols[:, None, :]
    return ops.reshape(positions, (-1, size * size))


# --- losses -----------------------------------------------------------------


def _compare(sim_src, sim_tgt, sim_oth, mode: str, normalize: bool, temperature: float):
    """The loss of each image, shape (N,), from its similarity maps."""
    if mode == "info":
        return _contrastive_loss(sim_src, sim_tgt, sim_oth, temperature)
    return _masked_loss(sim_src, sim_tgt, mode, normalize)


def _masked_loss(sim_src, sim_tgt, mode: str, normalize: bool):
    """`cos` / `l1` per image: compare where the target map is in its top quarter."""
    keys = sim_tgt.shape[-1]
    quarter = keys // 4
    # The (quarter + 1)-th largest entry of each target row. It only selects
    # entries, so no gradient flows through it.
    threshold = ops.stop_gradient(ops.top_k(sim_tgt, k=quarter + 1)[0][..., -1:])
    keep = sim_tgt >= threshold
    src = ops.where(keep, sim_src, 0.0)
    tgt = ops.where(keep, sim_tgt, 0.0)
    if mode == "l1":
        # Rescaled as if the kept quarter were the whole map.
        scale = keys / quarter
        diff = scale * src - scale * tgt
    else:
        diff = 1.0 - _cosine(src, tgt)
    per_entry = ops.abs(diff) if normalize else _smooth_l1(diff)
    return ops.mean(ops.reshape(per_entry, (ops.shape(per_entry)[0], -1)), axis=1)


def _contrastive_loss(sim_src, sim_tgt, sim_oth, temperature: float):
    """`info` per image: cross-entropy picking the target's own map among 3 * Num."""
    src = _l2_normalize(sim_src, NORMALIZE_EPSILON)
    tgt = _l2_normalize(sim_tgt, NORMALIZE_EPSILON)
    oth = _l2_normalize(sim_oth, NORMALIZE_EPSILON)
    matched = ops.einsum("nqk,nmk->nqm", src, tgt) / temperature
    logits = ops.concatenate(
        [
            matched,
            ops.einsum("nqk,nmk->nqm", src, oth) / temperature,
            ops.einsum("nqk,nmk->nqm", tgt, oth) / temperature,
        ],
        axis=-1,
    )
    # -log softmax of the right answer, shifted by that very logit (as torch's
    # log_softmax in effect does): logsumexp(logits) - positive would cancel
    # two float32 values near 1 / temperature and lose a small loss's digits.
    positive = ops.diagonal(matched, axis1=1, axis2=2)[..., None]
    return ops.mean(ops.logsumexp(logits - positive, axis=-1), axis=1)


def _l2_normalize(x, epsilon: float):
    """`x / max(|x|, epsilon)` along the last axis, torch's `normalize` rule."""
    # sqrt(max(s, eps^2)) == max(sqrt(s), eps), without sqrt's infinite
    # gradient at an all-zero vector.
    square_sum = ops.sum(ops.square(x), axis=-1, keepdims=True)
    return x / ops.sqrt(ops.maximum(square_sum, epsilon * epsilon))


def _cosine(a, b):
    """Cosine along the last axis, each norm floored at 1e-8 as torch does."""
    return ops.sum(_l2_normalize(a, COSINE_EPSILON) * _l2_normalize(b, COSINE_EPSILON), axis=-1)


def _smooth_l1(x):
    """Huber with delta 1: `0.5 x^2` if |x| < 1, else `|x| - 0.5`."""
    magnitude = ops.abs(x)
    return ops.where(magnitude < 1.0, 0.5 * ops.square(x), magnitude - 0.5)


# --- argument checks ----------------------------------------------------------


def _as_features(function: str, name: str, x):
    """Validated float32 NHWC tensor with known height, width and channels."""
    x = check_batch(function, name, ops.convert_to_tensor(x), description="features",
                    known=("height", "width", "channels"))
    return ops.cast(x, "float32")


def _check_query_ids(query_ids, positions: int):
    """int32 tensor of query positions, range-checked when its values are known."""
    if query_ids is None:
        return None
    values = _known_values(query_ids)
    if values is not None:
        if values.ndim != 1 or values.size == 0:
            raise ValueError(
                "query_ids must be a non-empty 1-D sequence of positions; "
                f"got shape {values.shape}."
            )
        if not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"query_ids must be integers; got dtype {values.dtype}.")
        if values.min() < 0 or values.max() >= positions:
            raise ValueError(
                f"query_ids must lie in [0, {positions}) (height * width); got values "
                f"from {values.min()} to {values.max()}."
            )
        return ops.convert_to_tensor(values.astype(np.int32))
    return ops.cast(query_ids, "int32")


def _known_values(x) -> np.ndarray | None:
    """`x` as a NumPy array, or None for a symbolic tensor (inside a trace)."""
    if not ops.is_tensor(x):
        return np.asarray(x)
    try:
        return np.asarray(ops.convert_to_numpy(x))
    except (TypeError, ValueError, NotImplementedError, AttributeError):
        return None
