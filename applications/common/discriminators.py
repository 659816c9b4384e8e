"""The conditional discriminators of the GAN baselines, as Keras models.

Both take the condition and the image concatenated on the channel axis (pix2pix's
`cat(real_A, fake_B)`: 6 channels for RGB to RGB) and give, scale after scale, the
outputs of each scale's layers, the last of a scale its patch logits (no sigmoid: the
objectives of `gan_objectives` take logits); `scales` splits them up again:

* `patchgan`: pytorch-CycleGAN-and-pix2pix's `NLayerDiscriminator` with its pix2pix
  defaults (`--netD basic --norm batch`): conv 4x4 stride 2 padding 1 -> ndf, LeakyReLU
  0.2; `layers - 1` more stride-2 convs doubling the filters (at most 8 x ndf), each
  without bias, batch norm, LeakyReLU; one stride-1 conv the same way; a stride-1 conv to
  1 channel. With 3 layers each logit sees 70x70 pixels; with 6 input channels it has
  2,768,705 trainable parameters. Weights ~ N(0, 0.02), batch norm scale ~ N(1, 0.02),
  biases and offsets 0 (its `init_weights`). One scale, its logits alone.
* `multiscale`: pix2pixHD's `MultiscaleDiscriminator` with its defaults: `num_D` copies
  of its `NLayerDiscriminator` (the layout above, but padding 2, a bias on every conv,
  and instance norm without scale or offset), the first on the full image, each next one
  on the input average-pooled again (3x3, stride 2, padding 1, padding left out of the
  average). With `getIntermFeat` every scale gives all of its layers' outputs,
  `f_1, ..., f_{layers+1}, logits`: the features of its feature-matching loss.
  Weights ~ N(0, 0.02); the biases keep PyTorch's default, U(-1/sqrt(fan_in), +).

The discriminators are trained, never exported: the exported model is the generator.
Their layers are Keras's own except `AveragePoolExcludingPadding`, registered (like the
trainer in `adversarial`) so that a checkpoint of an adversarial run loads whole.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

__all__ = ["KINDS", "AveragePoolExcludingPadding", "build_discriminator", "min_image_size",
           "scales"]

KINDS = ("patchgan", "multiscale")
KERNEL = 4
MAX_WIDTH_MULTIPLE = 8  # filters stop doubling at 8 x ndf (512 for ndf 64)
LEAK = 0.2
NORM_EPSILON = 1e-5  # PyTorch's BatchNorm2d and InstanceNorm2d
BN_MOMENTUM = 0.9  # PyTorch's momentum 0.1, counted the other way round
INIT_STDDEV = 0.02
# Padding of the 4x4 convs: pix2pix's padw = 1, pix2pixHD's ceil((4 - 1) / 2) = 2.
PADDING = {"patchgan": 1, "multiscale": 2}


@keras.saving.register_keras_serializable(package="applications")
class AveragePoolExcludingPadding(layers.Layer):
    """3x3 average pooling, stride 2, zero padding 1, the padding left out of each
    average: PyTorch's `AvgPool2d(3, stride=2, padding=1, count_include_pad=False)`.

    Keras's `padding="same"` pools differently: for an even size it pads only after the
    last pixel, so its windows are centred one pixel to the right of PyTorch's.
    """

    def call(self, inputs):
        pad = [[0, 0], [1, 1], [1, 1], [0, 0]]
        ones = ops.ones_like(inputs[..., :1])

        def pooled(x):
            return ops.average_pool(ops.pad(x, pad), 3, strides=2, padding="valid")

        # The mean over a window of the padded input, divided by the share of the
        # window that is image: the mean over the image pixels alone.
        return pooled(inputs) / pooled(ones)

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        return (n, None if h is None else (h + 1) // 2, None if w is None else (w + 1) // 2, c)


def build_discriminator(kind: str, input_channels: int = 6, ndf: int = 64,
                        num_layers: int = 3, num_scales: int = 2) -> keras.Model:
    """The `kind` discriminator (see the module) of `input_channels` (condition and
    image), `ndf` filters in its first layer, `num_layers` stride-2 convs and, for
    `multiscale`, `num_scales` scales. Its outputs: those of every scale's layers (one
    scale of logits alone for patchgan), scale after scale, each scale's float32 logits
    last; `scales(outputs, num_scales)` groups them by scale."""
    if kind not in KINDS:
        raise ValueError(f"discriminator kind must be one of {KINDS}, got {kind!r}")
    for name, value in (("input_channels", input_channels), ("ndf", ndf),
                        ("num_layers", num_layers), ("num_scales", num_scales)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    inputs = keras.Input((None, None, input_channels), name="condition_and_image")
    if kind == "patchgan":
        logits = _patch_layers(inputs, kind, ndf, num_layers, "")[-1]
        return keras.Model(inputs, [logits], name="patchgan_discriminator")
    outputs, x = [], inputs
    for scale in range(num_scales):
        if scale:
            x = AveragePoolExcludingPadding(name=f"downsample{scale}")(x)
        outputs += _patch_layers(x, kind, ndf, num_layers, f"scale{scale}_")
    return keras.Model(inputs, outputs, name="multiscale_discriminator")


def scales(outputs, num_scales: int) -> list[list]:
    """A discriminator's outputs grouped by scale: `num_scales` lists of equal length,
    each scale's logits last. (A functional model's outputs come back flat: Keras gives
    a one-element output list as the tensor itself.)"""
    flat = keras.tree.flatten(outputs)
    if len(flat) % num_scales:
        raise ValueError(f"{len(flat)} outputs do not split into {num_scales} scales")
    size = len(flat) // num_scales
    return [flat[i:i + size] for i in range(0, len(flat), size)]


def min_image_size(kind: str, num_layers: int = 3) -> int:
    """The smallest height and width that leave the `kind` discriminator at least one
    logit: each 4x4 conv with padding p changes a size s to (s + 2p - 4) // stride + 1."""
    size = 1
    while _logit_size(size, kind, num_layers) < 1:
        size += 1
    return size


def _logit_size(size: int, kind: str, num_layers: int) -> int:
    pad = PADDING[kind]
    for stride in [2] * num_layers + [1, 1]:
        size = (size + 2 * pad - KERNEL) // stride + 1
        if size < 1:
            return 0
    return size


def _patch_layers(x, kind: str, ndf: int, num_layers: int, prefix: str) -> list:
    """The outputs of the layers of one `NLayerDiscriminator` (pix2pixHD's
    `getIntermFeat` groups: conv, norm, LeakyReLU), the logits last."""
    widths = [ndf * min(2**n, MAX_WIDTH_MULTIPLE) for n in range(num_layers + 1)]
    strides = [2] * num_layers + [1]
    outputs = []
    for n, (width, stride) in enumerate(zip(widths, strides)):
        normed = n > 0  # the first layer has no norm, in both references
        x = _conv(x, kind, width, stride, use_bias=kind == "multiscale" or not normed,
                  name=f"{prefix}conv{n}")
        if normed:
            x = _norm(kind, f"{prefix}norm{n}")(x)
        x = layers.LeakyReLU(LEAK, name=f"{prefix}leaky_relu{n}")(x)
        outputs.append(x)
    # The logits in float32: the objectives get float32 under mixed precision too.
    outputs.append(_conv(x, kind, 1, 1, use_bias=True, name=f"{prefix}logits",
                         dtype="float32"))
    return outputs


def _conv(x, kind: str, filters: int, stride: int, use_bias: bool, name: str,
          dtype=None):
    pad = PADDING[kind]
    x = layers.ZeroPadding2D(pad, name=f"{name}_pad", dtype=dtype)(x)
    fan_in = x.shape[-1] * KERNEL * KERNEL
    if kind == "multiscale":  # pix2pixHD sets the weights only; PyTorch's default bias
        bound = 1 / math.sqrt(fan_in)
        bias_init = keras.initializers.RandomUniform(-bound, bound)
    else:
        bias_init = "zeros"
    return layers.Conv2D(
        filters, KERNEL, strides=stride, padding="valid", use_bias=use_bias,
        kernel_initializer=keras.initializers.RandomNormal(0.0, INIT_STDDEV),
        bias_initializer=bias_init, name=name, dtype=dtype)(x)


def _norm(kind: str, name: str) -> layers.Layer:
    if kind == "patchgan":
        return layers.BatchNormalization(
            momentum=BN_MOMENTUM, epsilon=NORM_EPSILON,
            gamma_initializer=keras.initializers.RandomNormal(1.0, INIT_STDDEV), name=name)
    # InstanceNorm2d(affine=False): each channel of each image over H and W.
    return layers.GroupNormalization(groups=-1, epsilon=NORM_EPSILON, center=False,
                                     scale=False, name=name)
