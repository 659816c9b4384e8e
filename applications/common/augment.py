"""Seeded, stateless randomness for `tf.data` pipelines.

The training stream is a pure function of the files, the run's seed and the
example's place in the stream: epoch e visits the files in the permutation
`index_shuffle(seed, e)`, and example i carries the stateless seed (seed, i) that its
augmentations draw from. Nothing depends on TensorFlow's global seed or on which
parallel map call runs first, so `--deterministic` runs repeat exactly, every
process of a multi-host run builds the very stream a single process would (each
then keeps its shard of every batch), and a resumed run starts the stream where
the interrupted one left it, without reading what comes before.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


def shuffled_forever(items: Sequence, seed: int, start: int = 0) -> tf.data.Dataset:
    """`(item, seed)` forever: each pass over `items` in a new seeded order, each
    element with its own stateless seed, shape (2,) int64. `items`: scalars (strings,
    numbers), or tuples of them (one component per tuple position, each position of
    one type: a path and its orientation). `start`: the place in the stream of the
    first element, so that `shuffled_forever(items, seed, k)` is the stream after its
    first k elements."""
    count = len(items)
    rows = isinstance(items[0], tuple)
    # A table per tuple position: positions may differ in type.
    tables = [tf.constant(list(column)) for column in (zip(*items) if rows else [items])]

    def pick(i):
        order = tf.stack([tf.constant(seed, tf.int64), i // count])
        index = tf.random.experimental.index_shuffle(i % count, order, count - 1)
        item = tuple(tf.gather(table, index) for table in tables)
        return (item if rows else item[0]), tf.stack([tf.constant(seed, tf.int64), i])

    return tf.data.Dataset.counter(start).map(pick)


def with_seeds(ds: tf.data.Dataset, seed: int, start: int = 0) -> tf.data.Dataset:
    """Pair each element of an already shuffled stream (one that cannot be indexed,
    such as a tensorflow-datasets split) with a stateless seed: (element, seed), the
    seeds of places `start`, `start + 1`, ... of the stream."""
    seeds = tf.data.Dataset.counter(start).map(
        lambda i: tf.stack([tf.constant(seed, tf.int64), i]))
    return tf.data.Dataset.zip((ds, seeds))


def seeds(seed: tf.Tensor, count: int) -> tf.Tensor:
    """`count` independent seeds from one, shape (count, 2)."""
    return tf.random.experimental.stateless_split(seed, count)


def coin(seed: tf.Tensor) -> tf.Tensor:
    """True with probability 1/2."""
    return tf.random.stateless_uniform((), seed) < 0.5


def integer(seed: tf.Tensor, low, high) -> tf.Tensor:
    """An int32 in [low, high)."""
    return tf.random.stateless_uniform((), seed, low, high, tf.int32)
