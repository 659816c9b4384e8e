"""Seeded, stateless randomness for `tf.data` pipelines.

Each training example gets its own seed from one seeded stream
(`tf.data.Dataset.random`), and augmentations draw from it with stateless ops. The
draws then depend on the run's seed and the example's place in the stream alone,
not on which parallel map call happens to run first, so `--deterministic` runs
repeat exactly without making the maps sequential.
"""

from __future__ import annotations

import tensorflow as tf


def with_seeds(ds: tf.data.Dataset, seed: int) -> tf.data.Dataset:
    """Pair each element with a stateless seed, shape (2,) int64: (element, seed)."""
    return tf.data.Dataset.zip((ds, tf.data.Dataset.random(seed=seed).batch(2)))


def seeds(seed: tf.Tensor, count: int) -> tf.Tensor:
    """`count` independent seeds from one, shape (count, 2)."""
    return tf.random.experimental.stateless_split(seed, count)


def coin(seed: tf.Tensor) -> tf.Tensor:
    """True with probability 1/2."""
    return tf.random.stateless_uniform((), seed) < 0.5


def integer(seed: tf.Tensor, low, high) -> tf.Tensor:
    """An int32 in [low, high)."""
    return tf.random.stateless_uniform((), seed, low, high, tf.int32)
