"""The Contextual loss against values computed by the original TensorFlow code.

`tests/data/cx_original.npz` comes from `shared/golden/` (see its README,
section `cx_original.npz`, for how each key was produced and the tolerances).
Backend-agnostic; `test_golden_under_jax` reruns the cosine golden checks of
inputs A and B under JAX in a subprocess.
"""

import os
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import ops

from backend_utils import (assert_close_to_scale, check_all_passed, rerun_under_jax,
                           value_and_grads)
from spl_tf.contextual import (
    MAX_PAIRWISE_ELEMENTS,
    contextual_loss,
    contextual_similarity,
    crop_quarters,
    raw_distances,
    sample_positions,
)

GOLDEN = np.load(Path(__file__).parents[1] / "data" / "cx_original.npz")
# Key name -> (distance, band width); "dotp" is the original's DotProduct.
CONFIGS = {
    "dotp_h0p5": ("cosine", 0.5),
    "dotp_h0p1": ("cosine", 0.1),
    "dotp_h1p0": ("cosine", 1.0),
    "l2_h1p0": ("l2", 1.0),
}
# Ids "input{X}-{cfg}": the JAX subprocess selects its subset by these words.
CASES = [
    pytest.param(x, cfg, id=f"input{x}-{cfg}") for x in "ABCD" for cfg in CONFIGS
]
JAX_SELECTION = "backend_is_requested or (golden and dotp and (inputA or inputB) and not jax)"
JAX_EXPECTED_PASSED = 1 + 2 * 2 * 3  # backend check + 2 tests x inputs A, B x 3 dotp configs

LOSS_TOL = {"rtol": 1e-5, "atol": 1e-6}
# Of the gradient's largest entry (2e-3 to 0.1): measured within 2.1e-6 (TF 2.21 CPU).
GRADIENT_SCALE_TOL = 1e-5


def _golden(inp, cfg, key):
    return GOLDEN[f"{inp}_{cfg}_{key}"]


def _inputs(inp):
    return GOLDEN[f"{inp}_T"], GOLDEN[f"{inp}_I"]


def _mean_loss(distance, band_width):
    # The golden gradient is of the original's batch MEAN; value_and_grads sums.
    return lambda t, i: ops.mean(contextual_loss(t, i, distance, band_width))


def test_backend_is_requested():
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


@pytest.mark.parametrize("inp, cfg", CASES)
def test_golden_distances_and_similarity(inp, cfg):
    distance, band_width = CONFIGS[cfg]
    target, generated = _inputs(inp)
    raw = ops.convert_to_numpy(raw_distances(target, generated, distance))
    cx = ops.convert_to_numpy(contextual_similarity(target, generated, distance, band_width))
    n, h, w, _ = target.shape
    assert raw.shape == cx.shape == (n, h, w, h * w)
    raw_tol = {"rtol": 1e-5, "atol": 1e-5} if distance == "l2" else {"rtol": 0, "atol": 1e-5}
    np.testing.assert_allclose(raw, _golden(inp, cfg, "raw_dist"), **raw_tol)
    np.testing.assert_allclose(cx, _golden(inp, cfg, "cx"), rtol=0, atol=1e-5)


@pytest.mark.parametrize("inp, cfg", CASES)
def test_golden_loss_and_gradient(inp, cfg):
    distance, band_width = CONFIGS[cfg]
    target, generated = _inputs(inp)
    per_sample = ops.convert_to_numpy(contextual_loss(target, generated, distance, band_width))
    assert per_sample.shape == (target.shape[0],)
    np.testing.assert_allclose(per_sample, _golden(inp, cfg, "loss_per_sample"), **LOSS_TOL)

    value, (grad_target, grad_generated) = value_and_grads(
        _mean_loss(distance, band_width), target, generated
    )
    np.testing.assert_allclose(value, _golden(inp, cfg, "loss"), **LOSS_TOL)
    np.testing.assert_allclose(value, per_sample.mean(), **LOSS_TOL)
    assert_close_to_scale(grad_generated, _golden(inp, cfg, "grad_I"), GRADIENT_SCALE_TOL)
    assert np.all(np.isfinite(grad_target))


def test_golden_quarters():
    target, generated = _inputs("B")
    quarters_t, quarters_g = crop_quarters(target), crop_quarters(generated)
    assert tuple(quarters_t.shape) == (8, 6, 5, 32)
    loss = ops.convert_to_numpy(ops.mean(contextual_loss(quarters_t, quarters_g, "cosine", 0.5)))
    np.testing.assert_allclose(loss, GOLDEN["B_quarters_dotp_h0p5_loss"], **LOSS_TOL)


def test_golden_sampled():
    target, generated = _inputs("C")
    indices = GOLDEN["C_sampled_idx"]
    sampled_t, sampled_g = sample_positions(target, generated, 8, indices=indices)
    assert tuple(sampled_t.shape) == tuple(sampled_g.shape) == (1, 8, 8, 64)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(sampled_t), target.reshape(1, 256, 64)[:, indices].reshape(1, 8, 8, 64)
    )
    loss = ops.convert_to_numpy(ops.mean(contextual_loss(sampled_t, sampled_g, "cosine", 0.5)))
    np.testing.assert_allclose(loss, GOLDEN["C_sampled_dotp_h0p5_loss"], **LOSS_TOL)


def test_per_sample_values_depend_on_the_batch():
    # The cosine centres by the target's mean over the whole batch: an image
    # alone does not give its batched value (the golden README's warning).
    target, generated = _inputs("B")
    batched = ops.convert_to_numpy(contextual_loss(target, generated))
    alone = ops.convert_to_numpy(contextual_loss(target[:1], generated[:1]))
    assert abs(alone[0] - batched[0]) > 1e-4


def test_crop_quarters_order_and_rounding():
    x = np.arange(2 * 4 * 6 * 1, dtype="float32").reshape(2, 4, 6, 1)
    expected = np.concatenate([x[:, :2, :3], x[:, 2:, :3], x[:, :2, 3:], x[:, 2:, 3:]])
    np.testing.assert_array_equal(ops.convert_to_numpy(crop_quarters(x)), expected)
    # round(5 / 2) == 2 (halves to even): the last row and column are dropped.
    y = np.arange(25, dtype="float32").reshape(1, 5, 5, 1)
    expected = np.concatenate([y[:, :2, :2], y[:, 2:4, :2], y[:, :2, 2:4], y[:, 2:4, 2:4]])
    np.testing.assert_array_equal(ops.convert_to_numpy(crop_quarters(y)), expected)
    # round(7 / 2) == 4: two blocks of 4 rows do not fit (the original fails too).
    with pytest.raises(ValueError, match="quarters"):
        crop_quarters(np.zeros((1, 7, 8, 1), "float32"))


def test_sample_positions_keeps_small_maps():
    target, generated = _inputs("A")  # 8 x 8 = 64 positions <= 8^2
    for size in (8, 65):
        sampled_t, sampled_g = sample_positions(target, generated, size, seed=1)
        np.testing.assert_array_equal(ops.convert_to_numpy(sampled_t), target)
        np.testing.assert_array_equal(ops.convert_to_numpy(sampled_g), generated)


def test_sample_positions_draws_the_same_positions_for_both():
    # Channel 0 holds each position's row-major index.
    target = np.arange(2 * 10 * 10, dtype="float32").reshape(2, 10, 10, 1) % 100
    generated = target + 1000.0

    def sample(seed):
        return [ops.convert_to_numpy(x) for x in sample_positions(target, generated, 4, seed=seed)]

    (first_t, first_g), (again_t, _), (other_t, _) = sample(7), sample(7), sample(8)
    assert first_t.shape == first_g.shape == (2, 4, 4, 1)
    np.testing.assert_array_equal(first_g - first_t, 1000.0)  # same positions in both
    np.testing.assert_array_equal(first_t[0], first_t[1])  # and in every image
    assert len(np.unique(first_t[0])) == 16  # drawn without replacement
    np.testing.assert_array_equal(first_t, again_t)  # seeded: reproducible
    assert not np.array_equal(first_t, other_t)
    seeded = sample_positions(target, generated, 4, seed=keras.random.SeedGenerator(3))
    assert tuple(seeded[0].shape) == (2, 4, 4, 1)


@pytest.mark.parametrize("distance", ["cosine", "l2"])
@pytest.mark.parametrize("case", ["both_zero", "generated_zero", "one_centred_zero"])
def test_zero_features_give_finite_values_and_gradients(distance, case):
    # The original divides 0 by 0 in its channel normalisation (NaN).
    rng = np.random.default_rng(0)
    target = rng.normal(size=(2, 4, 4, 8)).astype("float32")
    generated = rng.normal(size=(2, 4, 4, 8)).astype("float32")
    if case == "both_zero":
        target, generated = np.zeros_like(target), np.zeros_like(generated)
    elif case == "generated_zero":
        generated = np.zeros_like(generated)
    else:  # one generated vector equal to the target's mean: zero once centred
        generated[1, 2, 3] = target.mean(axis=(0, 1, 2))
    value, grads = value_and_grads(_mean_loss(distance, 0.5), target, generated)
    assert np.isfinite(value)
    assert all(np.all(np.isfinite(g)) for g in grads)
    if case == "both_zero":
        # Every distance is equal, cx is uniform: the loss is log(H*W).
        np.testing.assert_allclose(value, np.log(16.0), rtol=1e-5)


@pytest.mark.parametrize("distance", ["cosine", "l2"])
def test_identical_features_give_zero_even_for_a_small_band_width(distance):
    # With an exact match exp((b - r) / h) reaches exp(1 / h): the original
    # overflows to inf / inf for h = 0.01; the softmax form does not.
    target, _ = _inputs("A")
    value, grads = value_and_grads(_mean_loss(distance, 0.01), target, target)
    np.testing.assert_allclose(value, 0.0, atol=1e-5)
    assert all(np.all(np.isfinite(g)) for g in grads)


def test_l2_distances_are_clamped_at_zero():
    # |t|^2 - 2 t.g + |g|^2 rounds below zero for identical large vectors; a
    # negative nearest distance would wreck the relative distances.
    target = GOLDEN["A_T"] * 100.0
    raw = ops.convert_to_numpy(raw_distances(target, target, "l2"))
    assert raw.min() >= 0.0
    loss = ops.convert_to_numpy(contextual_loss(target, target, "l2", 1.0))
    np.testing.assert_allclose(loss, 0.0, atol=1e-5)


_OK = np.zeros((1, 4, 4, 3), "float32")
_LARGE = np.zeros((2, 128, 128, 1), "float32")


@pytest.mark.parametrize(
    "call, match",
    [
        pytest.param(lambda f: f(_OK[0], _OK[0]), "rank-4", id="rank"),
        pytest.param(lambda f: f(_OK, _OK[..., :2]), "same shape", id="shape"),
        pytest.param(lambda f: f(_OK, _OK, distance="dotp"), "distance", id="distance"),
        pytest.param(lambda f: f(_OK, _OK, band_width=0.0), "band_width", id="zero_band_width"),
        pytest.param(lambda f: f(_OK, _OK, band_width=-1.0), "band_width", id="negative_band"),
        pytest.param(
            # 2 x (128*128)^2 elements, twice the bound; nothing is allocated.
            lambda f: f(_LARGE, _LARGE),
            "sample_positions",
            id="too_large",
        ),
    ],
)
def test_errors(call, match):
    assert 2 * (128 * 128) ** 2 > MAX_PAIRWISE_ELEMENTS
    for function in (contextual_loss, contextual_similarity):
        with pytest.raises(ValueError, match=match):
            call(function)
    if match != "band_width":  # raw_distances has no band width
        with pytest.raises(ValueError, match=match):
            call(raw_distances)


def test_sample_positions_errors():
    target, generated = _inputs("C")
    with pytest.raises(ValueError, match="shape \\(64,\\)"):
        sample_positions(target, generated, 8, indices=np.arange(10))
    with pytest.raises(ValueError, match="indices must lie"):
        sample_positions(target, generated, 8, indices=np.arange(64) + 200)
    with pytest.raises(ValueError, match="same shape"):
        sample_positions(target, generated[:, :8], 8)
    with pytest.raises(ValueError, match="max_positions_1d"):
        sample_positions(target, generated, 0)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="spawns the JAX run")
@rerun_under_jax(__file__, "-k", JAX_SELECTION)
def test_golden_under_jax(jax_rerun):
    check_all_passed(jax_rerun, JAX_EXPECTED_PASSED)
