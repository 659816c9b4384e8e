"""Seeded weights and images for the metrics' golden values, made with NumPy alone.

`make_golden.py` (in a virtual env with PyTorch and the reference packages) loads these
weights into the reference networks; the tests (no PyTorch) make the same arrays again
from the seed and the list of names and shapes that the golden file stores, in its order.
NumPy's `RandomState` is used because its streams are frozen across NumPy versions.

The values are scaled so that the activations of a deep network stay of order one
(He-normal convolutions, batch-norm statistics near the identity): features that all
vanish or overflow would make any implementation agree.
"""

from __future__ import annotations

import numpy as np

Shapes = list  # [[name, [sizes...]], ...]


def state_dict(shapes: Shapes, seed: int) -> dict[str, np.ndarray]:
    """{name: float32 array} in PyTorch's layout, for the `(name, shape)` list in order."""
    rng = np.random.RandomState(seed)
    return {name: _tensor(rng, name, tuple(shape)) for name, shape in shapes}


def _tensor(rng: np.random.RandomState, name: str, shape: tuple) -> np.ndarray:
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return np.zeros(shape, np.int64)
    if leaf == "running_mean":
        values = 0.1 * rng.standard_normal(shape)
    elif leaf == "running_var":
        values = rng.uniform(0.5, 1.5, shape)
    elif len(shape) == 1 and leaf == "weight":  # a batch norm's scale
        values = rng.uniform(0.5, 1.5, shape)
    elif leaf == "bias":
        values = 0.1 * rng.standard_normal(shape)
    elif name.startswith("lin"):  # LPIPS's linear heads: non-negative, as trained ones are
        values = rng.uniform(0.0, 2.0 / shape[1], shape)
    else:  # convolutions and linear layers: He-normal
        fan_in = int(np.prod(shape[1:]))
        values = np.sqrt(2.0 / fan_in) * rng.standard_normal(shape)
    return values.astype(np.float32)


def images(seed: int, count: int, height: int, width: int) -> np.ndarray:
    """(count, height, width, 3) uint8, uniform."""
    return np.random.RandomState(seed).randint(0, 256, (count, height, width, 3), np.uint8)


def features(seed: int, count: int, dims: int = 2048) -> np.ndarray:
    """(count, dims) float32, non-negative like Inception's pool features."""
    rng = np.random.RandomState(seed)
    return np.abs(rng.standard_normal((count, dims)) * 0.5 + 0.2).astype(np.float32)


def reader_tensors() -> dict[str, np.ndarray]:
    """The tensors of the small files that test `spl_tf.utils.torch_weights` (the script
    saves these, plus a transposed and a sliced view of `conv`, with PyTorch)."""
    conv = (np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5) - 50) / 7
    return {
        "conv": conv,
        "double": np.linspace(-1, 1, 7),
        "half": np.linspace(-2, 2, 9).astype(np.float16),
        "long": np.arange(-3, 3, dtype=np.int64),
        "byte": np.arange(250, 256, dtype=np.uint8),
        "flags": np.array([True, False, True]),
    }
