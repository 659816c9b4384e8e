"""Perceptual (feature) and style (Gram) losses on VGG feature maps.

Input convention as the other losses here: NHWC RGB images in [-1, 1],
`y_true` the target; `call` returns one value per image, shape (batch,).

- `PerceptualLoss`: `sum_l w_l * mean |phi_l(y_true) - phi_l(y_pred)|^p`
  (p = 1 for `distance="l1"`, 2 for `"l2"`), the feature reconstruction loss
  of Johnson et al. (2016) and of pix2pixHD-style "VGG losses".
- `StyleLoss`: `sum_l w_l * mean (G_l(y_true) - G_l(y_pred))^2` with the Gram
  matrix `G = phi^T phi / (H W C)` of each layer (Gatys et al., 2016).

`phi_l` are frozen VGG feature maps (`spl_tf.features.VGGFeatures`), built
once per loss. With `weights="imagenet"` Keras downloads the weights on first
use; pass a local file path offline. `weights=None` gives a random network
(useful for tests only: a reloaded loss gets new random weights).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from spl_tf.features import FeatureLoss
from spl_tf.validation import check_batch

DEFAULT_PERCEPTUAL_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv4", "block4_conv4",
                             "block5_conv4")
DEFAULT_STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1",
                        "block5_conv1")


@keras.saving.register_keras_serializable(package="spl_tf")
class PerceptualLoss(FeatureLoss):
    """Mean L1 (or squared L2) distance of VGG feature maps, summed over layers.

    Args:
        layers: VGG layer names (Keras's `block3_conv4` or the papers' `relu3_4`).
        distance: `"l1"` or `"l2"` (mean squared difference).
        layer_weights: One weight per layer (default 1 each).
        network: `"vgg19"` or `"vgg16"`.
        weights: `"imagenet"`, a weights file path, or None (random).
        pooling: `"max"` or `"avg"`.
    """

    def __init__(self, layers: Sequence[str] = DEFAULT_PERCEPTUAL_LAYERS, distance: str = "l1",
                 layer_weights: Sequence[float] | None = None, network: str = "vgg19",
                 weights: str | None = "imagenet", pooling: str = "max",
                 reduction: str | None = "sum_over_batch_size", name: str | None = None):
        if distance not in ("l1", "l2"):
            raise ValueError(f"distance must be 'l1' or 'l2'; got {distance!r}")
        self.distance = distance
        super().__init__(layers, layer_weights, network, weights, pooling, reduction, name)

    def compare(self, true, pred):
        difference = true - pred
        per_element = ops.abs(difference) if self.distance == "l1" else ops.square(difference)
        return ops.mean(per_element, axis=(1, 2, 3))

    def get_config(self):
        return {**super().get_config(), "distance": self.distance}


@keras.saving.register_keras_serializable(package="spl_tf")
class StyleLoss(FeatureLoss):
    """Mean squared difference of the Gram matrices of VGG feature maps.

    Args: as `PerceptualLoss`, without `distance`.
    """

    def __init__(self, layers: Sequence[str] = DEFAULT_STYLE_LAYERS,
                 layer_weights: Sequence[float] | None = None, network: str = "vgg19",
                 weights: str | None = "imagenet", pooling: str = "max",
                 reduction: str | None = "sum_over_batch_size", name: str | None = None):
        super().__init__(layers, layer_weights, network, weights, pooling, reduction, name)

    def compare(self, true, pred):
        return ops.mean(ops.square(gram_matrix(true) - gram_matrix(pred)), axis=(1, 2))


def gram_matrix(features):
    """(N, H, W, C) -> (N, C, C): `phi^T phi / (H W C)`, so layers of any size compare."""
    features = check_batch("gram_matrix", "features", features, description="features")
    features = ops.cast(features, "float32")
    n, h, w, c = ops.shape(features)
    flat = ops.reshape(features, (n, h * w, c))
    gram = ops.einsum("npc,npd->ncd", flat, flat)
    return gram / ops.cast(h * w * c, "float32")
