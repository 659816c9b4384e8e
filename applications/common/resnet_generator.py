"""The original release's "ResNet 9 blocks" generator as a Keras 3 model.

Architecture (NHWC, `ngf` = 64 by default; every conv and transposed conv
has a bias, kernels drawn from TruncatedNormal(0, 0.02), biases zero):

1. reflect-pad 3, conv 7x7 stride 1 VALID -> ngf, batch norm, ReLU
2. conv 3x3 stride 2 SAME -> 2*ngf, BN, ReLU; conv 3x3 stride 2 SAME -> 4*ngf,
   BN, ReLU
3. `num_blocks` residual blocks (the original's nine): y = [reflect-pad 1,
   conv 3x3 VALID, BN, ReLU, reflect-pad 1, conv 3x3 VALID, BN]; output relu(x + y)
4. transposed conv 3x3 stride 2 SAME -> 2*ngf, instance norm, ReLU;
   transposed conv 3x3 stride 2 SAME -> ngf, instance norm, ReLU
5. conv 7x7 stride 1 SAME (zero padding) -> 3 channels, no norm
6. tanh (float32 even under a mixed precision policy, so losses get float32).

With ngf=64 and 3 input channels the model has 11,388,675 trainable
parameters. Height and width may be any multiples of `SIZE_MULTIPLE` (4: two
stride-2 downsamplings are undone by two stride-2 upsamplings) from `MIN_SIZE` (8) on. pix2pix uses
`build_generator`; makeup transfer wraps `trunk` with its reference skip.

Batch norm modes (`batch_stats_at_inference`):

* ``True`` (default) reproduces a quirk of the original: it never passed a
  training flag to its batch norms, so they always normalise with the
  statistics of the *current batch*, at prediction time too. The layers are
  `BatchStatsNormalization`: in training they are exactly
  `keras.layers.BatchNormalization(training=True)` (moving statistics
  updated); at inference they use the batch's mean and variance over
  (N, H, W) with gamma/beta and leave the moving statistics alone. An
  image's output therefore depends on the other images in its batch.
* ``False`` uses plain `keras.layers.BatchNormalization`: standard inference
  with the moving averages, so each image's output is independent of the
  batch. The moving averages are only meaningful after training in this
  mode (momentum 0.9).

Instance norm is `keras.layers.GroupNormalization(groups=-1)`: one group per
channel, i.e. each channel of each image normalised over H and W, with a
per-channel scale (initialised TruncatedNormal(1, 0.02)) and offset (zeros).

The custom layers come from `spl_tf.layers`, so a saved `.keras` file loads
with plain `keras.models.load_model(path)` after `import spl_tf`, on the
TensorFlow and JAX backends alike.
"""

from __future__ import annotations

import math

import keras
from keras import layers

from spl_tf.layers import BatchStatsNormalization, ReflectionPadding2D
from spl_tf.validation import check_positive_int

__all__ = ["MIN_SIZE", "SIZE_MULTIPLE", "build_generator", "trunk"]

NUM_RESIDUAL_BLOCKS = 9
DOWNSAMPLING_STRIDES = (2, 2)
# Input height and width must be multiples of this for the output to match them.
SIZE_MULTIPLE = math.prod(DOWNSAMPLING_STRIDES)
# ... and at least this: the residual blocks reflect-pad by 1 at 1/SIZE_MULTIPLE of the
# size, and reflecting needs 2 pixels.
MIN_SIZE = 2 * SIZE_MULTIPLE
OUTPUT_CHANNELS = 3
BN_MOMENTUM = 0.9
NORM_EPSILON = 1e-5
INIT_STDDEV = 0.02


def _kernel_init():
    # A fresh instance per layer: Keras warns when one unseeded initializer
    # instance is reused, as it would give every layer the same values.
    return keras.initializers.TruncatedNormal(mean=0.0, stddev=INIT_STDDEV)


def _conv(filters, kernel_size, strides, padding, name):
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        use_bias=True,
        kernel_initializer=_kernel_init(),
        bias_initializer="zeros",
        name=name,
    )


def _deconv(filters, name):
    return layers.Conv2DTranspose(
        filters,
        3,
        strides=2,
        padding="same",
        use_bias=True,
        kernel_initializer=_kernel_init(),
        bias_initializer="zeros",
        name=name,
    )


def _batch_norm(batch_stats_at_inference, name):
    if batch_stats_at_inference:
        cls = BatchStatsNormalization
    else:
        cls = layers.BatchNormalization
    return cls(
        momentum=BN_MOMENTUM,
        epsilon=NORM_EPSILON,
        center=True,
        scale=True,
        name=name,
    )


def _instance_norm(name):
    # groups=-1: one group per channel, so each channel of each image is
    # normalised over H and W (instance norm), with per-channel scale/offset.
    return layers.GroupNormalization(
        groups=-1,
        axis=-1,
        epsilon=NORM_EPSILON,
        center=True,
        scale=True,
        gamma_initializer=keras.initializers.TruncatedNormal(
            mean=1.0, stddev=INIT_STDDEV
        ),
        beta_initializer="zeros",
        name=name,
    )


def _residual_block(x, filters, batch_stats_at_inference, name):
    y = ReflectionPadding2D(1, name=f"{name}_reflect_pad1")(x)
    y = _conv(filters, 3, 1, "valid", name=f"{name}_conv1")(y)
    y = _batch_norm(batch_stats_at_inference, name=f"{name}_bn1")(y)
    y = layers.ReLU(name=f"{name}_relu1")(y)
    y = ReflectionPadding2D(1, name=f"{name}_reflect_pad2")(y)
    y = _conv(filters, 3, 1, "valid", name=f"{name}_conv2")(y)
    y = _batch_norm(batch_stats_at_inference, name=f"{name}_bn2")(y)
    x = layers.Add(name=f"{name}_add")([x, y])
    return layers.ReLU(name=f"{name}_out")(x)


def trunk(inputs, ngf: int = 64, batch_stats_at_inference: bool = True,
          num_blocks: int = NUM_RESIDUAL_BLOCKS):
    """Everything up to the last conv (stages 1-5 above), before the tanh."""
    check_positive_int(ngf, "ngf")
    check_positive_int(num_blocks, "num_blocks")
    bsi = bool(batch_stats_at_inference)

    # 1. c7s1-ngf with reflect padding.
    x = ReflectionPadding2D(3, name="c7s1_reflect_pad")(inputs)
    x = _conv(ngf, 7, 1, "valid", name="c7s1_conv")(x)
    x = _batch_norm(bsi, name="c7s1_bn")(x)
    x = layers.ReLU(name="c7s1_relu")(x)

    # 2. Stride-2 downsamplings.
    for i, stride in enumerate(DOWNSAMPLING_STRIDES, start=1):
        x = _conv(2**i * ngf, 3, stride, "same", name=f"down{i}_conv")(x)
        x = _batch_norm(bsi, name=f"down{i}_bn")(x)
        x = layers.ReLU(name=f"down{i}_relu")(x)

    # 3. Residual blocks at 4*ngf.
    for i in range(1, num_blocks + 1):
        x = _residual_block(x, 4 * ngf, bsi, name=f"res{i}")

    # 4. Two stride-2 upsamplings with instance norm.
    for i, mult in enumerate((2, 1), start=1):
        x = _deconv(mult * ngf, name=f"up{i}_deconv")(x)
        x = _instance_norm(name=f"up{i}_instance_norm")(x)
        x = layers.ReLU(name=f"up{i}_relu")(x)

    # 5. Last conv, zero padding, no norm.
    return _conv(OUTPUT_CHANNELS, 7, 1, "same", name="last_conv")(x)


def build_generator(
    ngf: int = 64,
    input_channels: int = 3,
    batch_stats_at_inference: bool = True,
    name: str | None = None,
    num_blocks: int = NUM_RESIDUAL_BLOCKS,
) -> keras.Model:
    """Builds the original's ResNet-9-blocks generator (see module docstring).

    Args:
        ngf: filters of the first conv; the model widens to 2*ngf and 4*ngf.
            64 is the original's value (11,388,675 trainable parameters).
        input_channels: channels of the input image(s), 3 for RGB.
        batch_stats_at_inference: True (default) reproduces the original,
            whose batch norms always use the current batch's statistics, at
            prediction time too (`BatchStatsNormalization`); False uses plain
            `BatchNormalization` (moving averages at inference), so an image's
            output does not depend on the rest of its batch.
        name: the model's name (default `resnet{num_blocks}_generator`).
        num_blocks: residual blocks; 9, the original's, gives ResNet-9. Fewer make
            a smaller, faster model (pytorch-CycleGAN-and-pix2pix offers 6).

    Returns:
        A functional `keras.Model` from `(None, None, None, input_channels)`
        to `(None, None, None, 3)` in (-1, 1), float32. H and W must be
        multiples of `SIZE_MULTIPLE` for the output to have the input's size.

    Raises:
        ValueError: `ngf`, `input_channels` or `num_blocks` not an integer >= 1.
    """
    check_positive_int(input_channels, "input_channels")
    inputs = keras.Input(shape=(None, None, input_channels), name="image")
    x = trunk(inputs, ngf, batch_stats_at_inference, num_blocks)
    # 6. tanh, float32 so that losses under mixed precision get float32.
    outputs = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inputs, outputs, name=name or f"resnet{num_blocks}_generator")
