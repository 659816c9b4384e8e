"""The layers the paper's generators need beyond Keras's own.

They are registered under the package "spl_tf", so a model that uses them (every
application's `model.keras`) loads with plain `keras.models.load_model(path)` once
`spl_tf` is imported, on the TensorFlow and the JAX backend alike: they are written
with `keras.layers` / `keras.ops` only.

- `ReflectionPadding2D`: reflect-pad H and W (the original pads with
  `tf.pad(..., "REFLECT")` before its VALID convolutions).
- `BatchStatsNormalization`: batch norm that always normalises with the current
  batch's statistics, the original's quirk (it never passed a training flag).
- `PixelShuffle`: depth-to-space with `tf.nn.depth_to_space`'s channel order.
- `ChannelSlice`: channels `[start, stop)`, a serialisable slice (no `Lambda`).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from spl_tf.validation import check_positive_int

__all__ = ["BatchStatsNormalization", "ChannelSlice", "PixelShuffle", "ReflectionPadding2D"]


@keras.saving.register_keras_serializable(package="spl_tf")
class ReflectionPadding2D(layers.Layer):
    """Reflect-pads H and W of an NHWC tensor by `padding` on each side.

    Keras's `ZeroPadding2D` has no reflect mode; reflecting keeps borders from
    being darkened by zeros. Batch and channel axes are not padded.
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

    Takes e.g. the reference image out of the 6-channel makeup input without a
    `Lambda` layer, which `load_model` refuses in safe mode.
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
    so weights stay interchangeable with a plain `BatchNormalization`). An
    image's output therefore depends on the other images of its batch.
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


@keras.saving.register_keras_serializable(package="spl_tf")
class PixelShuffle(layers.Layer):
    """Depth-to-space by `block_size` with `tf.nn.depth_to_space` ordering.

    Maps an NHWC tensor (N, H, W, r*r*C) to (N, r*H, r*W, C) with
    ``out[b, h*r + i, w*r + j, c] = in[b, h, w, (i*r + j)*C + c]`` ("DCR"), so
    weights converted from the original (which used `tf.depth_to_space`) give
    the same images.
    """

    def __init__(self, block_size: int = 2, **kwargs):
        super().__init__(**kwargs)
        check_positive_int(block_size, "block_size")
        self.block_size = int(block_size)

    def build(self, input_shape):
        channels = input_shape[-1]
        r2 = self.block_size**2
        if channels is not None and channels % r2:
            raise ValueError(
                f"PixelShuffle(block_size={self.block_size}) needs a channel "
                f"count divisible by {r2}, got {channels}"
            )

    def call(self, inputs):
        r = self.block_size
        shape = ops.shape(inputs)
        n, h, w, c = shape[0], shape[1], shape[2], shape[3]
        c_out = c // (r * r)
        # Channel index (i*r + j)*C_out + c -> axes (i, j, c).
        x = ops.reshape(inputs, (n, h, w, r, r, c_out))
        # (n, h, i, w, j, c): row h*r + i, column w*r + j.
        x = ops.transpose(x, (0, 1, 3, 2, 4, 5))
        return ops.reshape(x, (n, h * r, w * r, c_out))

    def compute_output_shape(self, input_shape):
        n, h, w, c = input_shape
        r = self.block_size
        return (
            n,
            None if h is None else h * r,
            None if w is None else w * r,
            None if c is None else c // (r * r),
        )

    def get_config(self):
        return {**super().get_config(), "block_size": self.block_size}
