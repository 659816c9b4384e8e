"""LSeSim's alternating training step as a Keras model (TensorFlow backend).

    python examples/lsesim_translation.py          # a few steps on random-weight VGG16

F-LSeSim (`SCModel.optimize_parameters` in the original) makes two updates per
batch, in this order:

1. the heads of `spl_tf.LSeSim`, on the contrastive `head_loss` with the
   generator's output held fixed and an unrelated image as the negative;
2. the generator, on `spatial_weight * generator_loss` through the heads just
   updated, with an optimiser that holds the generator's weights only.

The original also trains a discriminator; this example keeps the spatial part
alone so the alternation is plain to see. Add a GAN or an SPL term to
`generator_objective` for a full translator.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

import spl_tf


class LSeSimTranslation(keras.Model):
    """A generator trained with the learned spatially-correlative loss.

    `fit` takes `(source, other)` batches: `source` the images to translate,
    `other` unrelated images of the target domain (the heads' negatives).
    """

    def __init__(self, generator: keras.Model, lsesim: spl_tf.LSeSim,
                 spatial_weight: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        self.generator, self.lsesim = generator, lsesim
        self.spatial_weight = spatial_weight

    def compile(self, generator_optimizer: keras.optimizers.Optimizer,
                head_optimizer: keras.optimizers.Optimizer, **kwargs) -> None:
        super().compile(**kwargs)
        self.generator_optimizer, self.head_optimizer = generator_optimizer, head_optimizer

    def call(self, images, training=False):
        return self.generator(images, training=training)

    def generator_objective(self, source, output):
        spatial = ops.mean(self.lsesim.generator_loss(source, output))
        return self.spatial_weight * spatial, {"spatial_loss": spatial}

    def train_step(self, data):
        source, other = data
        with tf.GradientTape() as generator_tape:
            output = self.generator(source, training=True)
            # The heads learn on this same output first; nothing of their
            # update belongs on the generator's tape.
            with generator_tape.stop_recording():
                head_loss = self._update_heads(source, output, other)
            loss, logs = self.generator_objective(source, output)
        variables = self.generator.trainable_weights
        self.generator_optimizer.apply(generator_tape.gradient(loss, variables), variables)
        return {"loss": loss, "head_loss": head_loss, **logs}

    def _update_heads(self, source, output, other):
        with tf.GradientTape() as tape:
            head_loss = ops.mean(self.lsesim.head_loss(source, output, other))
        variables = self.lsesim.trainable_weights
        self.head_optimizer.apply(tape.gradient(head_loss, variables), variables)
        return head_loss


def small_generator(size: int) -> keras.Model:
    """A tiny residual translator, enough to show the step."""
    images = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(images)
    x = keras.layers.Conv2D(3, 3, padding="same")(x)
    return keras.Model(images, ops.tanh(images + x), name="generator")


def main() -> None:
    size, rng = 64, np.random.default_rng(0)
    source = rng.uniform(-1, 1, (8, size, size, 3)).astype("float32")
    other = rng.uniform(-1, 1, (8, size, size, 3)).astype("float32")
    # weights="imagenet" for real use; None keeps this example offline.
    model = LSeSimTranslation(small_generator(size), spl_tf.LSeSim(weights=None, seed=0))
    model.compile(keras.optimizers.Adam(2e-4), keras.optimizers.Adam(2e-4))
    model.fit(source, other, batch_size=4, epochs=2)


if __name__ == "__main__":
    main()
