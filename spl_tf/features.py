"""VGG feature maps for the feature-space losses (perceptual, style, contextual).

`VGGFeatures(layers, network="vgg19")` is a frozen Keras model that takes
images in [-1, 1] (this project's convention), applies the preprocessing the
ImageNet weights expect (RGB -> BGR on the 0..255 scale, minus the ImageNet
channel means: Keras's "caffe" mode), and returns a dict of named feature
maps. The network is cut after the deepest requested layer.

Layer names: Keras's (`block3_conv2`) or the papers' (`conv3_2`, `relu3_2`);
Keras's VGG convolutions include their ReLU, so both of the papers' names mean
the post-ReLU activation, which is what the feature losses use.

Weights: `"imagenet"` (Keras downloads and caches them), a path to a weights
file, or `None` (random; what the tests use, nothing is downloaded).
`pooling="avg"` swaps max pooling for average pooling, as the Contextual
loss's original VGG19 did.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

import keras
from keras import layers, ops

from spl_tf.validation import (
    check_finite_number,
    check_image_dtype,
    check_names,
    check_optional_name,
    check_pair,
    empty_per_image,
    is_empty_batch,
    reduce_empty_batch,
)

NETWORKS = {"vgg16": keras.applications.VGG16, "vgg19": keras.applications.VGG19}
# ImageNet channel means in BGR order, on the 0..255 scale (Keras "caffe" mode).
IMAGENET_BGR_MEAN = (103.939, 116.779, 123.68)
IMAGE_RANGE = (-1.0, 1.0)
"""The range of the images every feature loss takes (`preprocess` maps it)."""


def keras_layer_name(name: str) -> str:
    """`conv3_2` / `relu3_2` / `block3_conv2` -> `block3_conv2`."""
    match = re.fullmatch(r"(?:conv|relu)(\d)_(\d)", name)
    return f"block{match[1]}_conv{match[2]}" if match else name


def preprocess(images):
    """[-1, 1] RGB -> the input of ImageNet VGG weights (BGR, 0..255, mean removed)."""
    x = (ops.cast(images, "float32") + 1.0) * 127.5
    return ops.flip(x, axis=-1) - ops.convert_to_tensor(IMAGENET_BGR_MEAN, "float32")


def VGGFeatures(
    layer_names: Sequence[str],
    network: str = "vgg19",
    weights: str | None = "imagenet",
    pooling: str = "max",
) -> keras.Model:
    """A frozen model: [-1, 1] NHWC images -> {requested name: feature map}."""
    if network not in NETWORKS:
        raise ValueError(f"network must be one of {sorted(NETWORKS)}; got {network!r}")
    if pooling not in ("max", "avg"):
        raise ValueError(f"pooling must be 'max' or 'avg'; got {pooling!r}")
    if not (weights is None or isinstance(weights, (str, os.PathLike))):
        # Keras would say "File format not supported: filepath=3", naming no argument.
        raise ValueError(f"weights must be 'imagenet', the path of a weights file or None, "
                         f"got {weights!r}.")
    if not layer_names:
        raise ValueError("layer_names must name at least one layer")
    base = NETWORKS[network](include_top=False, weights=weights, input_shape=(None, None, 3))
    wanted = {keras_layer_name(name): name for name in layer_names}
    known = {layer.name for layer in base.layers}
    unknown = [name for name, key in zip(layer_names, wanted) if key not in known]
    if unknown:
        convs = sorted(n for n in known if "conv" in n)
        raise ValueError(f"unknown {network} layers {unknown}; known: {convs}")

    inputs = keras.Input((None, None, 3), name="images")
    x = VGGPreprocess(name="vgg_preprocess")(inputs)
    outputs = {}
    for layer in base.layers[1:]:
        if pooling == "avg" and isinstance(layer, layers.MaxPooling2D):
            x = layers.AveragePooling2D(layer.pool_size, layer.strides, name=layer.name)(x)
        else:
            x = layer(x)
        if layer.name in wanted:
            outputs[wanted[layer.name]] = x
        if len(outputs) == len(wanted):
            break  # nothing deeper is needed
    model = keras.Model(inputs, outputs, name=f"{network}_features")
    model.trainable = False
    return model


@keras.saving.register_keras_serializable(package="spl_tf")
class VGGPreprocess(layers.Layer):
    """`preprocess` as a layer (a Lambda would not reload in Keras's safe mode)."""

    def call(self, images):
        return preprocess(images)


class FeatureLoss(keras.losses.Loss):
    """Base of the losses on frozen VGG feature maps: a weighted sum over layers.

    Subclasses define `compare(true_features, pred_features) -> (batch,)` for one
    layer. `call` checks the images, runs the extractor (built once, here) on both
    and returns `sum_l layer_weight_l * compare(...)`, one value per image.
    """

    def __init__(self, layers, layer_weights, network, weights, pooling, reduction, name):
        super().__init__(name=check_optional_name(name), reduction=reduction, dtype="float32")
        self.layers = check_names(layers, "layers")
        self.layer_weights = (_check_layer_weights(layer_weights) if layer_weights is not None
                              else (1.0,) * len(self.layers))
        if len(self.layer_weights) != len(self.layers):
            raise ValueError(f"layer_weights has {len(self.layer_weights)} entries for "
                             f"{len(self.layers)} layers")
        self.network, self.weights, self.pooling = network, weights, pooling
        self.extractor = VGGFeatures(self.layers, network, weights, pooling)

    def __call__(self, y_true, y_pred, sample_weight=None):
        # Keras casts both to float32 before `call`: integer images are seen here only.
        check_float_images(self.name, ("y_true", y_true), ("y_pred", y_pred))
        # Keras leaves the values of an empty batch unreduced (an empty tensor).
        value = super().__call__(y_true, y_pred, sample_weight)
        return reduce_empty_batch(value, self.reduction)

    def call(self, y_true, y_pred):
        y_true, y_pred = check_rgb_pair(self.name, ("y_true", y_true), ("y_pred", y_pred))
        if is_empty_batch(y_true) or is_empty_batch(y_pred):
            # TensorFlow's oneDNN (CPU) convolutions fail on a batch of 0. One
            # that is empty only at run time still reaches them, and fails.
            return empty_per_image(y_pred)
        true_features = self.extractor(y_true)
        pred_features = self.extractor(y_pred)
        total = 0.0
        for layer, weight in zip(self.layers, self.layer_weights):
            total = total + weight * self.compare(true_features[layer], pred_features[layer])
        return total

    def compare(self, true, pred):
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "layers": list(self.layers),
                "layer_weights": list(self.layer_weights), "network": self.network,
                "weights": self.weights, "pooling": self.pooling}


def check_rgb_pair(fn_name: str, first, second):
    """ValueError unless both `(name, tensor)` are float RGB image batches of the same
    shape; the two tensors to compute with (`spl_tf.validation.check_same_shape`)."""
    pair = check_pair(fn_name, first, second, channels=3, description="RGB images",
                      hint=" in [-1, 1] (the VGG feature extractor's input)")
    check_float_images(fn_name, first, second)
    return pair


def check_float_images(fn_name: str, *images: tuple[str, object]) -> None:
    """ValueError on integer `(name, images)`: the feature losses take floats in [-1, 1]."""
    for arg_name, x in images:
        check_image_dtype(fn_name, arg_name, x, IMAGE_RANGE, takes_value_range=False)


def _check_layer_weights(layer_weights) -> tuple[float, ...]:
    """One finite number per layer (`float()` of a string would not name the argument)."""
    try:
        weights = tuple(layer_weights)
    except TypeError:
        raise ValueError(f"layer_weights must be a sequence of numbers (one per layer) or "
                         f"None, got {layer_weights!r}.") from None
    return tuple(check_finite_number(w, f"layer_weights[{i}]") for i, w in enumerate(weights))
