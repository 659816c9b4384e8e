"""SPL, GPL and CPL on near-grey images against an independent float64 reference.

Near-grey images (R = G = B up to a chroma of amplitude 1e-3, 1e-4 or exactly 0) are
where a shortcut that derives the YUV statistics from RGB cross-channel sums (YUV is
linear in RGB) loses everything to cancellation: |U|^2 and |V|^2 are tiny differences
of large numbers. Our losses take every sum on the products themselves, so they stay
exact. The reference (`spl_reference.py`) is written straight from the formula
(REFERENCE.md), in float64 NumPy, with its analytic gradient, checked here once against
central finite differences. It rounds the [-1, 1] -> [0, 1] conversion in float32, as
the original does (that rounding is part of the loss's definition on float32 inputs, and
the golden tests hold us to it bit for bit); everything after it is float64.

Tolerances, from measurements (float32 code against this reference, 2 images 24x20,
TF 2.21 CPU): value relative error <= 1.2e-7 and gradient error <= 2.1e-7 of max|grad|
for every loss and chroma; compiled by XLA at 40x20, <= 1.9e-7 and <= 2.0e-7. The Gram shortcut measured in issue 14 is off by 7e2
(value) and 6e4 (gradient, relative) at chroma 1e-4, and so was TensorFlow's own
`k_r R + k_g G + k_b B` YUV form at exactly grey (gradient error 6e4, see
`spl_tf.profiles.rgb_to_yuv`). The bounds (1e-5 for both) leave margin for other CPUs
and backends and sit 7-9 orders of magnitude below such failures.
"""

from pathlib import Path

import keras
import numpy as np
import pytest

from backend_utils import check_all_passed, rerun_under_jax, value_and_grads
from spl_reference import reference
from spl_tf import CPL, GPL, SPL

CHROMAS = (1e-3, 1e-4, 0.0)


# 40 rows: under XLA on TensorFlow the column sums add up rows in groups of 16 first
# (`spl_tf.profiles._column_sums`), here 2 groups and 8 rows (7 in the y differences).
TALL = (2, 40, 20)


def near_grey(chroma: float, seed: int = 0,
              shape: tuple[int, int, int] = (2, 24, 20)) -> tuple[np.ndarray, np.ndarray]:
    """Two float32 image batches of `shape` in [-1, 1]: a grey level plus `chroma` colour."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(2):
        grey = rng.uniform(-0.8, 0.8, shape + (1,))
        colour = chroma * rng.uniform(-1, 1, shape + (3,))
        images.append((grey + colour).astype("float32"))
    return images[0], images[1]


LOSSES = {"SPL": SPL, "GPL": GPL, "CPL": CPL}


def test_reference_gradient_matches_finite_differences():
    y_true, y_pred = near_grey(1e-3, seed=1)
    y_true, y_pred = y_true[:1, :6, :5].astype("float64"), y_pred[:1, :6, :5].astype("float64")
    _, grad = reference("SPL", y_true, y_pred)
    step, numeric = 1e-6, np.zeros_like(y_pred)
    for index in np.ndindex(y_pred.shape):
        up, down = y_pred.copy(), y_pred.copy()
        up[index] += step
        down[index] -= step
        numeric[index] = (reference("SPL", y_true, up)[0].sum()
                          - reference("SPL", y_true, down)[0].sum()) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-6 * np.abs(numeric).max())


@pytest.mark.parametrize("compiled, shape", [(False, (2, 24, 20)), (True, TALL)],
                         ids=["eager", "compiled"])
@pytest.mark.parametrize("chroma", CHROMAS)
@pytest.mark.parametrize("kind", sorted(LOSSES))
def test_near_grey_value_and_gradient(kind, chroma, compiled, shape):
    y_true, y_pred = near_grey(chroma, shape=shape)
    expected, expected_grad = reference(kind, y_true, y_pred)
    loss = LOSSES[kind](reduction=None)
    per_image = np.asarray(loss(y_true, y_pred))
    value, (_, grad) = value_and_grads(loss, y_true, y_pred, compiled=compiled)
    np.testing.assert_allclose(per_image, expected, rtol=1e-5)
    np.testing.assert_allclose(value, expected.sum(), rtol=1e-5)
    np.testing.assert_array_less(np.abs(grad - expected_grad).max(),
                                 1e-5 * np.abs(expected_grad).max())


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="reruns itself under JAX")
@rerun_under_jax(str(Path(__file__)), "-k", "near_grey_value", timeout=300)
def test_near_grey_under_jax(jax_rerun):
    check_all_passed(jax_rerun, 18)
