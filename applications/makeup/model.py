"""The makeup generator: pix2pix's ResNet-9 with the reference skip.

Input (N, H, W, 6): the source face, then the reference face warped onto it,
in [-1, 1]. Output `tanh(reference + last_conv)`: the network predicts a
residual on the reference image, as the original does. 11,398,083 trainable
parameters at ngf 64. Its loss is `spl_tf.MakeupLoss`.
"""

from __future__ import annotations

import keras
from keras import layers

from applications.common import resnet_generator
from spl_tf.layers import ChannelSlice


def build_makeup_generator(ngf: int = 64, batch_stats_at_inference: bool = True,
                           num_blocks: int = resnet_generator.NUM_RESIDUAL_BLOCKS) -> keras.Model:
    """(N, H, W, 6) [source, warped reference] in [-1, 1] -> (N, H, W, 3) result."""
    inputs = keras.Input(shape=(None, None, 6), name="image")
    residual = resnet_generator.trunk(inputs, ngf, batch_stats_at_inference, num_blocks)
    reference = ChannelSlice(3, 6, dtype="float32", name="reference")(inputs)
    x = layers.Add(dtype="float32", name="reference_skip")([reference, residual])
    outputs = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inputs, outputs, name="makeup_generator")
