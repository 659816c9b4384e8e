"""The original release's SRResNet generator (super-resolution) as a Keras 3 model.

Architecture (NHWC; inputs are low-resolution images in [-1, 1] of any height
and width; `filters` = 64 and `num_blocks` = 16 by default; every conv kernel
is Glorot/Xavier uniform, every bias zero):

1. conv 9x9 stride 1 SAME -> filters, with bias, PReLU
2. `num_blocks` residual blocks: y = [conv 3x3 SAME no bias, BN, PReLU,
   conv 3x3 SAME no bias, BN]; output x + y (no activation after the add)
3. conv 3x3 SAME no bias, BN, then + the output of stage 1 (long skip)
4. upsampling: for x4 two stages, for x2 one stage, of
   [conv 3x3 SAME with bias -> 4*filters, pixel shuffle x2, PReLU];
   for x3 one stage of [conv 3x3 SAME with bias -> 9*filters,
   pixel shuffle x3, PReLU]. Each stage gives back `filters` channels.
5. conv 9x9 stride 1 SAME -> 3 channels, with bias
6. tanh (float32 even under a mixed precision policy, so losses get float32).

PReLU has one slope per channel, shared over H and W, initialised to 0 (so
it starts as a ReLU). Batch norm is plain `keras.layers.BatchNormalization`
with momentum 0.9, epsilon 1e-3 and an offset only (`center=True,
scale=False`, i.e. no gamma), as the original's `tf.contrib.layers.batch_norm`
defaults: batch statistics in training, moving averages at inference, so an
image's output does not depend on the rest of its batch.

Parameter count with the x4 defaults: 1,546,435 trainable parameters

* stage 1: 9*9*3*64 + 64 (bias) + 64 (PReLU) = 15,680
* each residual block: 2 * 3*3*64*64 + 2*64 (BN beta) + 64 (PReLU) = 73,920,
  times 16 = 1,182,720
* stage 3: 3*3*64*64 + 64 (BN beta) = 36,928
* each x2 upsampling stage: 3*3*64*256 + 256 (bias) + 64 (PReLU after the
  shuffle, on 64 channels) = 147,776, times 2 = 295,552
* stage 5: 9*9*64*3 + 3 = 15,555

Pixel shuffle is `spl_tf.layers.PixelShuffle`, with exactly the channel
ordering of TensorFlow's `tf.nn.depth_to_space` (NHWC, "DCR"), so weights
converted from the original (which used `tf.depth_to_space`) give the same
images, and a saved `.keras` file loads after `import spl_tf` on the
TensorFlow and JAX backends alike.
"""

from __future__ import annotations

import numbers

import keras
from keras import layers

from spl_tf.layers import PixelShuffle
from spl_tf.validation import check_positive_int

__all__ = ["build_srresnet"]

OUTPUT_CHANNELS = 3
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-3
ALLOWED_SCALES = (2, 3, 4)


def _conv(filters, kernel_size, use_bias, name):
    return layers.Conv2D(
        filters,
        kernel_size,
        strides=1,
        padding="same",
        use_bias=use_bias,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        name=name,
    )


def _batch_norm(name):
    return layers.BatchNormalization(
        momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON,
        center=True,
        scale=False,
        name=name,
    )


def _prelu(name):
    return layers.PReLU(alpha_initializer="zeros", shared_axes=[1, 2], name=name)


def _residual_block(x, filters, name):
    y = _conv(filters, 3, False, name=f"{name}_conv1")(x)
    y = _batch_norm(name=f"{name}_bn1")(y)
    y = _prelu(name=f"{name}_prelu")(y)
    y = _conv(filters, 3, False, name=f"{name}_conv2")(y)
    y = _batch_norm(name=f"{name}_bn2")(y)
    return layers.Add(name=f"{name}_add")([x, y])


def build_srresnet(
    scale: int = 4,
    num_blocks: int = 16,
    filters: int = 64,
    name: str = "srresnet",
) -> keras.Model:
    """Builds the original's SRResNet generator (see module docstring).

    Args:
        scale: upsampling factor, 2, 3 or 4 (the original uses 4).
        num_blocks: residual blocks (16 in the original).
        filters: width of the network (64 in the original). Upsampling convs
            have `4 * filters` (x2 stages) or `9 * filters` (x3) filters, so
            every pixel shuffle gives back `filters` channels. Small values
            are for tests and demos.
        name: the model's name.

    Returns:
        A functional `keras.Model` from `(None, None, None, 3)` low-resolution
        images in [-1, 1] to `(None, scale*H, scale*W, 3)` in (-1, 1),
        float32. With the defaults it has 1,546,435 trainable parameters.

    Raises:
        ValueError: `scale` not in {2, 3, 4}, or `num_blocks` / `filters`
            not an integer >= 1.
    """
    if (
        isinstance(scale, bool)
        or not isinstance(scale, numbers.Integral)
        or scale not in ALLOWED_SCALES
    ):
        raise ValueError(f"scale must be one of {ALLOWED_SCALES}, got {scale!r}")
    check_positive_int(num_blocks, "num_blocks")
    check_positive_int(filters, "filters")
    scale, num_blocks, filters = int(scale), int(num_blocks), int(filters)

    inputs = keras.Input(shape=(None, None, OUTPUT_CHANNELS), name="lr_image")

    # 1. conv 9x9 with bias, PReLU.
    x = _conv(filters, 9, True, name="input_conv")(inputs)
    x = _prelu(name="input_prelu")(x)
    stage1 = x

    # 2. Residual blocks (no activation after the add).
    for i in range(1, num_blocks + 1):
        x = _residual_block(x, filters, name=f"res{i}")

    # 3. conv, BN, long skip from stage 1.
    x = _conv(filters, 3, False, name="body_conv")(x)
    x = _batch_norm(name="body_bn")(x)
    x = layers.Add(name="long_skip")([stage1, x])

    # 4. Upsampling stages: conv, pixel shuffle, PReLU.
    factors = {2: (2,), 3: (3,), 4: (2, 2)}[scale]
    for i, r in enumerate(factors, start=1):
        x = _conv(filters * r * r, 3, True, name=f"up{i}_conv")(x)
        x = PixelShuffle(r, name=f"up{i}_pixel_shuffle")(x)
        x = _prelu(name=f"up{i}_prelu")(x)

    # 5. conv 9x9 to RGB with bias.
    x = _conv(OUTPUT_CHANNELS, 9, True, name="output_conv")(x)

    # 6. tanh, float32 under mixed precision too.
    outputs = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inputs, outputs, name=name)
