"""LPIPS, the learned perceptual image distance (Zhang et al., CVPR 2018), as the
reference `lpips` package (v0.1) computes it.

For images `x0`, `x1` in [-1, 1] and a backbone (AlexNet or VGG16, ImageNet weights)::

    z      = (x - shift) / scale            shift = (-.030, -.088, -.188)
                                            scale = (.458, .448, .450)
    f_l    = the backbone's activation after the ReLU of layer l, l = 1..5
    u_l    = f_l / (sqrt(sum_c f_l^2) + 1e-10)           unit length along channels
    LPIPS  = sum_l mean_hw ( sum_c w_lc (u0_lc - u1_lc)^2 )

with `w_l` the non-negative "linear heads" that the LPIPS authors fitted to human
judgements (v0.1). The layers tapped are those of the reference: AlexNet's five ReLUs
(`features.1, 4, 7, 9, 11` of torchvision's AlexNet), VGG16's `relu1_2, relu2_2,
relu3_3, relu4_3, relu5_3`.

Input convention: NHWC RGB images in `value_range`, [-1, 1] by default; they are mapped
to [-1, 1] first, so `value_range=(0, 1)` is the reference's `normalize=True`. The result
is one distance per image pair, shape (N,), float32. AlexNet needs images of at least
31x31 pixels, VGG16 of 16x16.

Weights (`weights=`):

- `"lpips"`: the published ones: torchvision's ImageNet backbone and the v0.1 heads,
  read from the weights folder (`spl_tf.utils.torch_weights.weights_folder()`), where
  they are downloaded on first use (`spl_tf.utils.torch_weights.published_path`), each
  checked against its publisher's SHA-256 before it is parsed;
- the path of a PyTorch file, or a list of them, holding between them the backbone
  (torchvision's names, `features.0.weight`, or `lpips.LPIPS`'s, `net.slice1.0.weight`)
  and the heads (`lin0.model.1.weight`): e.g. torchvision's `alexnet-owt-7be5be79.pth`
  and lpips's `weights/v0.1/alex.pth`, or one `torch.save(lpips.LPIPS().state_dict())`.
  They are read without PyTorch (`spl_tf.utils.torch_weights`): nothing in them is run;
- a dict `{name: array}` of the same tensors (PyTorch layout);
- `None`: random (tests only; a reloaded loss gets new random weights).

Written with `keras.ops`: TensorFlow and JAX, eager or compiled. `LPIPS` is also a Keras
loss (a distance, so trained towards 0); gradients flow to both images.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence

import keras
import numpy as np
from keras import layers, ops

from spl_tf.utils.torch_weights import PublishedFile, load_torch_weights, published_path
from spl_tf.validation import (
    check_image_dtype,
    check_image_values,
    check_optional_name,
    check_pair,
    check_value_range,
    empty_per_image,
    is_empty_batch,
    reduce_empty_batch,
    static_shape,
)

SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10
"""Added to each feature vector's length before dividing by it (the reference's eps)."""
DEFAULT_RANGE = (-1.0, 1.0)

# torchvision's `features` of each backbone, by index: ("conv", filters, kernel, stride,
# padding) or ("pool", size, stride); the ReLU after each convolution is part of it here.
# LPIPS taps the activations after the ReLUs at these indices.
_ALEXNET = {
    0: ("conv", 64, 11, 4, 2), 2: ("pool", 3, 2), 3: ("conv", 192, 5, 1, 2),
    5: ("pool", 3, 2), 6: ("conv", 384, 3, 1, 1), 8: ("conv", 256, 3, 1, 1),
    10: ("conv", 256, 3, 1, 1),
}
_VGG16 = {
    0: ("conv", 64, 3, 1, 1), 2: ("conv", 64, 3, 1, 1), 4: ("pool", 2, 2),
    5: ("conv", 128, 3, 1, 1), 7: ("conv", 128, 3, 1, 1), 9: ("pool", 2, 2),
    10: ("conv", 256, 3, 1, 1), 12: ("conv", 256, 3, 1, 1), 14: ("conv", 256, 3, 1, 1),
    16: ("pool", 2, 2),
    17: ("conv", 512, 3, 1, 1), 19: ("conv", 512, 3, 1, 1), 21: ("conv", 512, 3, 1, 1),
    23: ("pool", 2, 2),
    24: ("conv", 512, 3, 1, 1), 26: ("conv", 512, 3, 1, 1), 28: ("conv", 512, 3, 1, 1),
}
BACKBONES = {
    "alex": {"layers": _ALEXNET, "taps": (0, 3, 6, 8, 10), "min_size": 31},
    "vgg": {"layers": _VGG16, "taps": (2, 7, 14, 21, 28), "min_size": 16},
}
"""The backbones, by the reference's `net=` names: layers, the convolutions whose ReLU
outputs are tapped, and the smallest image side they take."""

PUBLISHED = {
    "alex": (
        PublishedFile("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
                      "7be5be79", "torchvision, AlexNet_Weights.IMAGENET1K_V1"),
        PublishedFile("https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/"
                      "weights/v0.1/alex.pth",
                      "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
                      "lpips 0.1.4, weights/v0.1/alex.pth"),
    ),
    "vgg": (
        PublishedFile("https://download.pytorch.org/models/vgg16-397923af.pth",
                      "397923af", "torchvision, VGG16_Weights.IMAGENET1K_V1"),
        PublishedFile("https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/"
                      "weights/v0.1/vgg.pth",
                      "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
                      "lpips 0.1.4, weights/v0.1/vgg.pth"),
    ),
}
"""The published files of `weights="lpips"`: the backbone, then the heads. torchvision
publishes the first 8 digits of its files' SHA-256; the heads' digests are those of the
files in the `lpips` 0.1.4 wheel."""


def lpips(
    y_true,
    y_pred,
    network: str = "alex",
    weights="lpips",
    value_range: Sequence[float] = DEFAULT_RANGE,
):
    """LPIPS distance per image pair, shape (N,) float32 (see the module doc).

    Args:
        y_true, y_pred: NHWC RGB image batches of the same shape, in `value_range`.
        network: `"alex"` (the reference's default) or `"vgg"`.
        weights: `"lpips"` (the published weights), PyTorch file path(s), a dict of
            arrays, or None (random; tests only).
        value_range: `(low, high)` of the images: (-1, 1) or (0, 1) (the reference's
            `normalize=True`), or any other range (mapped to [-1, 1] first).

    The network is built once per `(network, weights)` given as names or paths and kept
    for the next call.
    """
    network = _check_network(network)
    value_range = check_value_range(value_range)
    y_true, y_pred = _as_arrays(y_true, y_pred)
    y_true, y_pred = _check_images("lpips", y_true, y_pred, network, value_range)
    for name, images in (("y_true", y_true), ("y_pred", y_pred)):
        check_image_values("lpips", name, images, value_range)
    return _network(network, weights)(y_true, y_pred, value_range)


@keras.saving.register_keras_serializable(package="spl_tf")
class LPIPS(keras.losses.Loss):
    """LPIPS as a Keras loss: the reference `lpips` package's distance, per image.

    Args:
        network: `"alex"` or `"vgg"`.
        weights: `"lpips"` (the published weights, from the weights folder), the path of
            a PyTorch file or a list of paths, or None (random; tests only).
        value_range: `(low, high)` of the images; mapped to [-1, 1] first.
        reduction: Keras reduction of the per-image values.
        name: Optional name.

    `call` returns one distance per image, shape (batch,). The network is built (and its
    weights read) when the loss is made, so that missing weights stop a run before it
    starts.
    """

    def __init__(
        self,
        network: str = "alex",
        weights: str | os.PathLike | Sequence[str | os.PathLike] | None = "lpips",
        value_range: Sequence[float] = DEFAULT_RANGE,
        reduction: str | None = "sum_over_batch_size",
        name: str | None = None,
    ):
        super().__init__(name=check_optional_name(name), reduction=reduction, dtype="float32")
        self.network = _check_network(network)
        self.weights = _check_weights_argument(weights, allow_arrays=False)
        self.value_range = check_value_range(value_range)
        self.distance = LPIPSDistance(self.network, self.weights)

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Keras casts both to float32 before `call`: integer images are seen here only.
        for arg, images in (("y_true", y_true), ("y_pred", y_pred)):
            check_image_dtype(self.name, arg, images, self.value_range)
        value = super().__call__(y_true, y_pred, sample_weight)
        return reduce_empty_batch(value, self.reduction)

    def call(self, y_true, y_pred):
        y_true, y_pred = _check_images(self.name, y_true, y_pred, self.network,
                                       self.value_range)
        return self.distance(y_true, y_pred, self.value_range)

    def get_config(self):
        weights = self.weights
        if isinstance(weights, tuple):
            weights = list(weights)
        return {**super().get_config(), "network": self.network, "weights": weights,
                "value_range": list(self.value_range)}


class LPIPSDistance:
    """The LPIPS network: a frozen backbone (a Keras model of the five tapped feature maps)
    and the linear heads, with the reference's weights.

    `LPIPSDistance(network, weights)(x0, x1, value_range)` is the distance per image.
    """

    def __init__(self, network: str = "alex", weights="lpips"):
        self.network = _check_network(network)
        spec = BACKBONES[self.network]
        self.backbone = _backbone(self.network)
        self.heads = [np.zeros(self.backbone.outputs[i].shape[-1], np.float32)
                      for i in range(len(spec["taps"]))]
        if weights is None:
            # Random backbone (Keras's initialisers) and heads of 1/C: tests only.
            self.heads = [np.full_like(head, 1.0 / head.size) for head in self.heads]
        else:
            self.load_state_dict(_state_dict(self.network, weights))

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Take the reference's tensors, PyTorch layout and names (torchvision's or
        `lpips.LPIPS`'s: see the module doc)."""
        state = _canonical_names(state)
        spec = BACKBONES[self.network]
        wanted = [f"features.{i}.{kind}" for i, layer in spec["layers"].items()
                  if layer[0] == "conv" for kind in ("weight", "bias")]
        wanted += [f"lin{k}.weight" for k in range(len(spec["taps"]))]
        missing = [name for name in wanted if name not in state]
        if missing:
            raise ValueError(
                f"LPIPS({self.network!r}) weights lack {', '.join(missing[:4])}"
                f"{' ...' if len(missing) > 4 else ''}: they need the backbone "
                f"(torchvision's {'alexnet' if self.network == 'alex' else 'vgg16'}) and "
                f"the v0.1 linear heads (lpips's weights/v0.1/{self.network}.pth)")
        for index, layer in spec["layers"].items():
            if layer[0] != "conv":
                continue
            conv = self.backbone.get_layer(f"features.{index}")
            kernel = _checked(state, f"features.{index}.weight",
                              (layer[1], None, layer[2], layer[2]))
            bias = _checked(state, f"features.{index}.bias", (layer[1],))
            # PyTorch (out, in, h, w) -> Keras (h, w, in, out).
            conv.set_weights([np.transpose(kernel, (2, 3, 1, 0)), bias])
        self.heads = [
            _checked(state, f"lin{k}.weight", (1, head.size, 1, 1)).reshape(-1)
            for k, head in enumerate(self.heads)]

    def __call__(self, x0, x1, value_range: Sequence[float] = DEFAULT_RANGE):
        """Distance per image pair, (N,) float32, of NHWC RGB images in `value_range`."""
        if is_empty_batch(x0) or is_empty_batch(x1):
            # TensorFlow's oneDNN convolutions fail on a batch of 0.
            return empty_per_image(x1)
        count = ops.shape(x0)[0]
        # One pass of the backbone over both batches.
        features = self.backbone(_scaled(ops.concatenate([x0, x1], axis=0), value_range))
        total = 0.0
        for feature, head in zip(features, self.heads):
            unit = _unit_channels(feature)
            diff = ops.square(unit[:count] - unit[count:])
            # The reference's 1x1 convolution without bias, then the spatial mean.
            total = total + ops.mean(ops.sum(diff * ops.convert_to_tensor(head), axis=-1),
                                     axis=(1, 2))
        return total


# ---------------------------------------------------------------- computation


def _scaled(images, value_range: Sequence[float]):
    """Images in `value_range` -> [-1, 1] -> the reference's ScalingLayer."""
    low, high = value_range
    x = ops.cast(images, "float32")
    if (low, high) != (-1.0, 1.0):  # (x + 1) / 2 * 2 - 1 would round [-1, 1] images
        x = 2.0 * (x - low) / (high - low) - 1.0
    shift = ops.convert_to_tensor(np.float32(SHIFT))
    scale = ops.convert_to_tensor(np.float32(SCALE))
    return (x - shift) / scale


def _unit_channels(features):
    """`f / (sqrt(sum_c f^2) + eps)`, the reference's `normalize_tensor`.

    A ReLU output is all zero at some pixels, where the gradient of sqrt would be
    infinite and make NaN (inf * 0); sqrt of at least 1e-30 has the same value wherever
    the sum is above that, and gives a zero gradient where it is not.
    """
    sum_sq = ops.sum(ops.square(features), axis=-1, keepdims=True)
    return features / (ops.sqrt(ops.maximum(sum_sq, 1e-30)) + EPS)


def _backbone(network: str) -> keras.Model:
    """The frozen feature model: [-1, 1]-scaled images -> the five tapped ReLU outputs.
    Its convolutions are named after torchvision's (`features.3`)."""
    spec = BACKBONES[network]
    inputs = keras.Input((None, None, 3), name="scaled_images")
    x, outputs = inputs, []
    for index, layer in spec["layers"].items():
        if layer[0] == "pool":
            # torchvision's MaxPool2d: no padding, floor (Keras's "valid").
            x = layers.MaxPooling2D(layer[1], layer[2], padding="valid", dtype="float32",
                                    name=f"features.{index}")(x)
            continue
        _, filters, kernel, stride, padding = layer
        if stride == 1 and 2 * padding == kernel - 1:
            mode = "same"  # the same zeros, on every side
        else:
            x = layers.ZeroPadding2D(padding, dtype="float32", name=f"pad.{index}")(x)
            mode = "valid"
        x = layers.Conv2D(filters, kernel, stride, padding=mode, activation="relu",
                          dtype="float32", name=f"features.{index}")(x)
        if index in spec["taps"]:
            outputs.append(x)
        if len(outputs) == len(spec["taps"]):
            break
    model = keras.Model(inputs, outputs, name=f"lpips_{network}")
    model.trainable = False
    return model


# ---------------------------------------------------------------- weights


_NETWORKS: dict = {}


def _network(network: str, weights) -> LPIPSDistance:
    """The LPIPSDistance for (network, weights), kept when the weights are named by text."""
    network = _check_network(network)
    weights = _check_weights_argument(weights, allow_arrays=True)
    if isinstance(weights, Mapping):
        return LPIPSDistance(network, weights)
    key = (network, weights)
    if key not in _NETWORKS:
        _NETWORKS[key] = LPIPSDistance(network, weights)
    return _NETWORKS[key]


def _state_dict(network: str, weights) -> Mapping[str, np.ndarray]:
    if isinstance(weights, Mapping):
        return weights
    if weights == "lpips":
        # Each found in the weights folder or downloaded there, its digest checked.
        return _merged([load_torch_weights(published_path(file)) for file in PUBLISHED[network]])
    return _merged([load_torch_weights(path) for path in weights])


def _merged(states: list[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    merged: dict[str, np.ndarray] = {}
    for state in states:
        merged.update(state)
    return merged


_LPIPS_NAME = re.compile(r"net\.slice\d+\.(\d+)\.(weight|bias)")
_HEAD_NAME = re.compile(r"lin(\d+)\.model\.\d+\.weight")


def _canonical_names(state: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`lpips.LPIPS`'s names (`net.slice2.3.weight`, `lin1.model.1.weight`) as
    torchvision's (`features.3.weight`) and `lin1.weight`; the index in the slice is the
    index in torchvision's `features`."""
    names = {}
    for name, value in state.items():
        if match := _LPIPS_NAME.fullmatch(name):
            name = f"features.{match[1]}.{match[2]}"
        elif match := _HEAD_NAME.fullmatch(name):
            name = f"lin{match[1]}.weight"
        names[name] = value
    return names


def _checked(state: Mapping[str, np.ndarray], name: str, shape: tuple) -> np.ndarray:
    value = np.asarray(state[name], np.float32)
    if len(value.shape) != len(shape) or any(
            want is not None and got != want for got, want in zip(value.shape, shape)):
        raise ValueError(f"LPIPS weights: {name} has shape {value.shape}, expected "
                         f"{tuple('?' if n is None else n for n in shape)}")
    return value


def _check_network(network) -> str:
    if network not in BACKBONES:
        raise ValueError(f"network must be one of {sorted(BACKBONES)} (the reference's "
                         f"net=), got {network!r}")
    return network


def _check_weights_argument(weights, allow_arrays: bool):
    """"lpips", None, a path or a tuple of paths (or, where allowed, a dict of arrays)."""
    if weights is None or weights == "lpips":
        return weights
    if isinstance(weights, Mapping) and allow_arrays:
        return weights
    paths = [weights] if isinstance(weights, (str, os.PathLike)) else weights
    if isinstance(paths, (list, tuple)) and paths and all(
            isinstance(p, (str, os.PathLike)) for p in paths):
        return tuple(os.fspath(p) for p in paths)
    arrays = ", a dict of arrays" if allow_arrays else ""
    raise ValueError(f"weights must be 'lpips', the path of a PyTorch weight file or a list "
                     f"of them{arrays} or None, got {weights!r}")


# ---------------------------------------------------------------- validation


def _as_arrays(*xs):
    return [x if hasattr(x, "shape") and hasattr(x, "dtype") else ops.convert_to_tensor(x)
            for x in xs]


def _check_images(fn_name: str, y_true, y_pred, network: str, value_range):
    """Float RGB batches of one shape, large enough for the backbone; the pair to use."""
    pair = check_pair(fn_name, ("y_true", y_true), ("y_pred", y_pred), channels=3,
                      description="RGB images")
    for name, images in (("y_true", y_true), ("y_pred", y_pred)):
        check_image_dtype(fn_name, name, images, value_range)
    minimum = BACKBONES[network]["min_size"]
    shape = static_shape(pair[0]) or (None,) * 4
    if any(size is not None and size < minimum for size in shape[1:3]):
        raise ValueError(f"{fn_name} with network={network!r} needs images of at least "
                         f"{minimum}x{minimum} pixels; got {shape[1]}x{shape[2]}.")
    return pair
