"""Our losses against values computed by the original TensorFlow code.

`tests/data/spl_original.npz` comes from `shared/golden/` (see its README).
This module is backend-agnostic; `test_jax_backend.py` reruns it under JAX.
"""

import os
from pathlib import Path

import keras
import numpy as np
import pytest

from backend_utils import value_and_grads
from spl_tf import CPL, GPL, SPL

GOLDEN = np.load(Path(__file__).parent / "data" / "spl_original.npz")
RANGES = {"pm1": (-1.0, 1.0), "unit": (0.0, 1.0)}
# Grey images: U and V are zero in exact arithmetic, and float32 rounding
# residue is normalised to unit vectors, so these depend on rounding order.
GREY = {("case5", "pm1"), ("case6", "unit")}
CASES = [(f"case{i}", r) for i in range(8) for r in RANGES]


def _golden(case, rng, key):
    return GOLDEN[f"{case}_{rng}_{key}"]


def _check(actual, expected, case, rng, atol=1e-5, rtol=1e-5):
    assert np.all(np.isfinite(actual))
    if (case, rng) in GREY:
        np.testing.assert_allclose(actual, expected, atol=0.05)
    else:
        np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def test_backend_is_the_requested_one():
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


@pytest.mark.parametrize("case,rng", CASES)
def test_batch_values(case, rng):
    real, fake = _golden(case, rng, "real"), _golden(case, rng, "fake")
    value_range = RANGES[rng]
    for cls, key in ((GPL, "gp"), (CPL, "cp"), (SPL, "spl")):
        loss = cls(value_range=value_range, reduction="sum")
        _check(np.asarray(loss(real, fake)), _golden(case, rng, key), case, rng)


@pytest.mark.parametrize("case,rng", CASES)
def test_per_sample_values(case, rng):
    real, fake = _golden(case, rng, "real"), _golden(case, rng, "fake")
    per_sample = SPL(value_range=RANGES[rng], reduction=None)(real, fake)
    assert per_sample.shape == (real.shape[0],)
    _check(np.asarray(per_sample), _golden(case, rng, "spl_per_sample"), case, rng)
    mean = SPL(value_range=RANGES[rng])(real, fake)  # Keras's default reduction
    _check(np.asarray(mean), _golden(case, rng, "spl") / real.shape[0], case, rng)


@pytest.mark.parametrize("case,rng", CASES)
def test_swapped_gradient_profile(case, rng):
    real, fake = _golden(case, rng, "real"), _golden(case, rng, "fake")
    loss = GPL(value_range=RANGES[rng], reduction="sum")
    _check(np.asarray(loss(fake, real)), _golden(case, rng, "gp_swapped"), case, rng)


@pytest.mark.parametrize("case,rng", CASES)
def test_gradient_wrt_prediction(case, rng):
    real, fake = _golden(case, rng, "real"), _golden(case, rng, "fake")
    loss = SPL(value_range=RANGES[rng], reduction="sum")
    value, (_, grad) = value_and_grads(loss, real, fake)
    expected = _golden(case, rng, "dspl_dfake")
    if (case, rng) in GREY:
        assert np.all(np.isfinite(grad))
        _check(value, _golden(case, rng, "spl"), case, rng)
    else:
        np.testing.assert_allclose(grad, expected, atol=1e-6, rtol=0)


# The golden cases at least 32 rows high, compiled: under XLA on TensorFlow their column
# sums add up rows in groups of 16 first (`spl_tf.profiles._column_sums`; 64 rows are 4
# groups, and 3 groups and 15 rows in the y differences).
TALL = [(case, rng) for case, rng in CASES if _golden(case, rng, "real").shape[1] >= 32]


@pytest.mark.parametrize("case,rng", TALL)
def test_value_and_gradient_compiled(case, rng):
    # SPL only: it is GPL + CPL, each of whose terms the near-grey test also compiles.
    real, fake = _golden(case, rng, "real"), _golden(case, rng, "fake")
    loss = SPL(value_range=RANGES[rng], reduction="sum")
    value, (_, grad) = value_and_grads(loss, real, fake, compiled=True)
    _check(value, _golden(case, rng, "spl"), case, rng)
    np.testing.assert_allclose(grad, _golden(case, rng, "dspl_dfake"), atol=1e-6, rtol=0)
