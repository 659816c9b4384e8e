"""The original release's "ResNet 9 blocks" generator as a Keras 3 model.

Architecture (NHWC, `ngf` = 64 by default; every conv and transposed conv
has a bias, kernels drawn from TruncatedNormal(0, 0.02), biases zero):

1. reflect-pad 3, conv 7x7 stride 1 VALID -> ngf, batch norm, ReLU
2. conv 3x3 stride 2 SAME -> 2*ngf, BN, ReLU; conv 3x3 stride 2 SAME -> 4*ngf,
   BN, ReLU
3. nine residual blocks: y = [reflect-pad 1, conv 3x3 VALID, BN, ReLU,
   reflect-pad 1, conv 3x3 VALID, BN]; output relu(x + y)
4. transposed conv 3x3 stride 2 SAME -> 2*ngf, instance norm, ReLU;
   transposed conv 3x3 stride 2 SAME -> ngf, instance norm, ReLU
5. conv 7x7 stride 1 SAME (zero padding) -> 3 channels, no norm
6. tanh (float32 even under a mixed precision policy, so losses get float32).

With ngf=64 and 3 input channels the model has 11,388,675 trainable
parameters; the makeup-transfer variant (6 input channels) has 11,398,083.
Height and width may be any multiples of 4 (two stride-2 downsamplings are
undone by two stride-2 upsamplings).

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

The custom layers are registered (package "spl_tf"), so a saved `.keras`
file loads with plain `keras.models.load_model(path)` once this module has
been imported. Only `keras.layers` / `keras.ops` are used, so the model runs
under the TensorFlow and JAX backends alike.
"""

from __future__ import annotations

import keras
from keras import layers, ops

__all__ = [
    "BatchStatsNormalization",
    "ChannelSlice",
    "ReflectionPadding2D",
    "build_generator",
]

NUM_RESIDUAL_BLOCKS = 9
OUTPUT_CHANNELS = 3
BN_MOMENTUM = 0.9
NORM_EPSILON = 1e-5
INIT_STDDEV = 0.02


@keras.saving.register_keras_serializable(package="spl_tf")
class ReflectionPadding2D(layers.Layer):
    """Reflect-pads H and W of an NHWC tensor by `padding` on each side.

    Keras has no reflect mode in `ZeroPadding2D`; the original pads with
    `tf.pad(..., "REFLECT")` before its VALID convolutions so borders are not
    darkened by zeros. Batch and channel axes are not padded.
    """

    def __init__(self, padding: int = 1, **kwargs):
        super().__init__(**kwargs)
        padding = int(padding)
        if padding < 0:
            raise ValueError(f"padding must be >= 0, got {padding}")
        self.padding = padding

    def call(self, inputs):
        p = self.padding
        return ops.pad(inputs, [[0, 0], [p, p], [p, p], [0, 0]], mode="reflect")

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        p = 2 * self.padding
        return (n, None if h is None else h + p, None if w is None else w + p, c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


@keras.saving.register_keras_serializable(package="spl_tf")
class ChannelSlice(layers.Layer):
    """Channels `[start, stop)` of an NHWC tensor (a serialisable slice).

    Used to take the reference image out of the 6-channel makeup-transfer
    input without a `Lambda` layer (which `load_model` refuses in safe mode).
    """

    def __init__(self, start: int, stop: int, **kwargs):
        super().__init__(**kwargs)
        self.start = int(start)
        self.stop = int(stop)
        if not 0 <= self.start < self.stop:
            raise ValueError(
                f"need 0 <= start < stop, got start={self.start}, stop={self.stop}"
            )

    def call(self, inputs):
        return inputs[..., self.start : self.stop]

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.stop - self.start)

    def get_config(self):
        return {**super().get_config(), "start": self.start, "stop": self.stop}


@keras.saving.register_keras_serializable(package="spl_tf")
class BatchStatsNormalization(layers.BatchNormalization):
    """Batch norm that normalises with the current batch's statistics always.

    Reproduces the original, which never passed a training flag to its batch
    norms. In training (`training=True` and the layer trainable) it is exactly
    `BatchNormalization` in training mode, moving statistics updated. Otherwise
    (`training` False/None, or the layer frozen) it normalises with the batch's
    mean and variance over all axes but the channel axis, scaled by gamma and
    shifted by beta, and does NOT update the moving statistics (which are kept
    so weights stay interchangeable with a plain `BatchNormalization`).
    """

    def call(self, inputs, training=None, mask=None):
        if training and self.trainable:
            return super().call(inputs, training=True, mask=mask)
        if mask is not None and len(mask.shape) != len(inputs.shape) - 1:
            raise ValueError(
                "The mask provided should be one dimension less than the "
                f"inputs. Received: mask.shape={mask.shape}, "
                f"inputs.shape={inputs.shape}"
            )
        # As BatchNormalization: compute in at least float32 (bf16/f16 overflow).
        compute_dtype = keras.backend.result_type(inputs.dtype, "float32")
        inputs = ops.cast(inputs, compute_dtype)
        mean, variance = self._moments(inputs, mask)
        gamma = ops.cast(self.gamma, inputs.dtype) if self.scale else None
        beta = ops.cast(self.beta, inputs.dtype) if self.center else None
        outputs = ops.batch_normalization(
            x=inputs,
            mean=mean,
            variance=variance,
            axis=self.axis,
            offset=beta,
            scale=gamma,
            epsilon=self.epsilon,
        )
        return ops.cast(outputs, self.compute_dtype)


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


def build_generator(
    ngf: int = 64,
    input_channels: int = 3,
    reference_skip: bool = False,
    batch_stats_at_inference: bool = True,
    name: str = "resnet9_generator",
) -> keras.Model:
    """Builds the original's ResNet-9-blocks generator (see module docstring).

    Args:
        ngf: filters of the first conv; the model widens to 2*ngf and 4*ngf.
            64 is the original's value (11,388,675 trainable parameters).
        input_channels: channels of the input image(s). 3 for plain
            image-to-image translation.
        reference_skip: the makeup-transfer variant. The input is the source
            RGB then the reference RGB concatenated on channels
            (`input_channels` must be 6), and the output is
            `tanh(reference + last_conv)`: the network predicts a residual on
            the reference image, as the original does.
        batch_stats_at_inference: True (default) reproduces the original,
            whose batch norms always use the current batch's statistics, at
            prediction time too (`BatchStatsNormalization`); False uses plain
            `BatchNormalization` (moving averages at inference), so an image's
            output does not depend on the rest of its batch.
        name: the model's name.

    Returns:
        A functional `keras.Model` from `(None, None, None, input_channels)`
        to `(None, None, None, 3)` in (-1, 1), float32. H and W must be
        multiples of 4 for the output to have the input's size.

    Raises:
        ValueError: `ngf` or `input_channels` below 1, or `reference_skip`
            with `input_channels` other than 6.
    """
    if isinstance(ngf, bool) or not isinstance(ngf, int) or ngf < 1:
        raise ValueError(f"ngf must be an integer >= 1, got {ngf!r}")
    if (
        isinstance(input_channels, bool)
        or not isinstance(input_channels, int)
        or input_channels < 1
    ):
        raise ValueError(
            f"input_channels must be an integer >= 1, got {input_channels!r}"
        )
    if reference_skip and input_channels != 6:
        raise ValueError(
            "reference_skip=True needs input_channels=6 (source RGB then "
            f"reference RGB concatenated on channels), got input_channels="
            f"{input_channels}"
        )
    bsi = bool(batch_stats_at_inference)

    inputs = keras.Input(shape=(None, None, input_channels), name="image")

    # 1. c7s1-ngf with reflect padding.
    x = ReflectionPadding2D(3, name="c7s1_reflect_pad")(inputs)
    x = _conv(ngf, 7, 1, "valid", name="c7s1_conv")(x)
    x = _batch_norm(bsi, name="c7s1_bn")(x)
    x = layers.ReLU(name="c7s1_relu")(x)

    # 2. Two stride-2 downsamplings.
    for i, mult in enumerate((2, 4), start=1):
        x = _conv(mult * ngf, 3, 2, "same", name=f"down{i}_conv")(x)
        x = _batch_norm(bsi, name=f"down{i}_bn")(x)
        x = layers.ReLU(name=f"down{i}_relu")(x)

    # 3. Residual blocks at 4*ngf.
    for i in range(1, NUM_RESIDUAL_BLOCKS + 1):
        x = _residual_block(x, 4 * ngf, bsi, name=f"res{i}")

    # 4. Two stride-2 upsamplings with instance norm.
    for i, mult in enumerate((2, 1), start=1):
        x = _deconv(mult * ngf, name=f"up{i}_deconv")(x)
        x = _instance_norm(name=f"up{i}_instance_norm")(x)
        x = layers.ReLU(name=f"up{i}_relu")(x)

    # 5. Last conv, zero padding, no norm.
    x = _conv(OUTPUT_CHANNELS, 7, 1, "same", name="last_conv")(x)

    # 6. tanh (float32 so losses under mixed precision get float32).
    if reference_skip:
        reference = ChannelSlice(3, 6, dtype="float32", name="reference")(inputs)
        x = layers.Add(dtype="float32", name="reference_skip")([reference, x])
    outputs = layers.Activation("tanh", dtype="float32", name="tanh")(x)
    return keras.Model(inputs, outputs, name=name)
