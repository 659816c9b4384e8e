"""The fused Pallas kernel (`spl_tf.kernels`) against the keras.ops path and the golden values,
and the switch that chooses it (`spl_tf.config.set_profile_kernel`, `SPL_PALLAS` before it).

On CPU the kernel runs in Pallas's interpret mode, which executes the same kernel
body as on TPU (its register rotates included). The GPU (Triton) and TPU (Mosaic)
lowerings are checked by lowering for those platforms without the device.

Under the TensorFlow backend this module only reruns itself under JAX in one
subprocess (the backend is fixed when Keras is first imported). Interpret-mode
compilations cost seconds each, so the cases share a few shapes.
"""

import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

from backend_utils import check_all_passed, rerun_under_jax
from spl_tf import config

ON_JAX = keras.backend.backend() == "jax"


@pytest.fixture
def switch(monkeypatch):
    """`spl_tf.config`, its switch unset (and `SPL_PALLAS` too) for the test, restored after."""
    monkeypatch.setattr(config, "_profile_kernel", None)
    monkeypatch.setattr(config, "_warned", False)
    monkeypatch.delenv(config.DEPRECATED_ENV, raising=False)
    return config


if not ON_JAX:

    @rerun_under_jax(__file__, timeout=600)
    def test_pallas_kernel_under_jax(jax_rerun):
        check_all_passed(jax_rerun, 21)

    def test_no_kernel_on_tensorflow(switch):
        from spl_tf import kernels

        switch.set_profile_kernel("pallas")
        assert kernels.pallas_platform() is None and not kernels.use_pallas()

    def test_the_switch_takes_only_its_kernels(switch):
        assert switch.profile_kernel() == "keras"  # the default
        for kernel in switch.PROFILE_KERNELS:
            switch.set_profile_kernel(kernel)
            assert switch.profile_kernel() == kernel
        with pytest.raises(ValueError, match=r"kernel must be one of .*'pallas'.* got 'fast'"):
            switch.set_profile_kernel("fast")
        assert switch.profile_kernel() == "interpret"  # unchanged by the refused value

    @pytest.mark.parametrize("value, kernel", [
        ("0", "keras"), ("off", "keras"), ("", "keras"), ("auto", "auto"), ("1", "pallas"),
        (" ON ", "pallas"), ("interpret", "interpret")])
    def test_spl_pallas_is_a_deprecated_alias(switch, monkeypatch, value, kernel):
        monkeypatch.setenv(switch.DEPRECATED_ENV, value)
        with pytest.warns(DeprecationWarning, match=rf"set_profile_kernel\('{kernel}'\)"):
            assert switch.profile_kernel() == kernel
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # once per process: the losses ask at every trace
            assert switch.profile_kernel() == kernel

    def test_the_switch_wins_over_spl_pallas(switch, monkeypatch):
        monkeypatch.setenv(switch.DEPRECATED_ENV, "1")
        switch.set_profile_kernel("keras")
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert switch.profile_kernel() == "keras"

    def test_a_bad_spl_pallas_is_an_error(switch, monkeypatch):
        monkeypatch.setenv(switch.DEPRECATED_ENV, "fast")
        with pytest.raises(ValueError, match="SPL_PALLAS must be auto, 1/on, 0/off or interpret"):
            switch.profile_kernel()

else:
    import jax
    import jax.numpy as jnp

    from spl_tf import kernels, profiles
    from spl_tf.kernels import pallas_profiles

    GOLDEN = np.load(Path(__file__).parents[1] / "data" / "spl_original.npz")
    SPL_TERMS = {(view, pos): 1.0 for view in ("raw", "yuv") for pos in profiles.POSITIONS}
    GREY = {("case5", "pm1"), ("case6", "unit")}  # see test_golden.py

    def _values_and_grads(fn):
        """jit of `(fn(a, b), d sum(fn) / da, d sum(fn) / db)`: one compilation per shape."""

        def values_and_grads(a, b):
            values, vjp = jax.vjp(fn, a, b)
            return (values, *vjp(jnp.ones_like(values)))

        jitted = jax.jit(values_and_grads)
        return lambda a, b: [np.asarray(x) for x in jitted(jnp.asarray(a), jnp.asarray(b))]

    def _planar_inputs():
        """(2, 3, 16, 24): odd width, with zero profiles where the norm floor acts."""
        rng = np.random.default_rng(14)
        a = rng.uniform(-1, 1, (2, 3, 16, 24)).astype("float32")
        b = (a + rng.normal(0, 0.3, a.shape)).astype("float32")
        a[0, 1, 3, :] = 0.0  # a zero row of a
        b[1, 2, :, 5] = 0.0  # a zero column of b
        a[1, 0] = 0.0  # a whole flat channel: every profile at the floor
        b[0, 0, 7, :] = 1e-7  # |b|^2 = 2.4e-13: below the floor, not zero
        return a, b

    WEIGHTS, HEIGHT = (1.0, 2.0, 0.5), 17

    def _planar_pallas(a, b):
        return kernels.planar_similarity_pallas(a, b, HEIGHT, WEIGHTS, "interpret")

    PLANAR_REFERENCE = _values_and_grads(
        lambda a, b: profiles.planar_similarity(a, b, HEIGHT, WEIGHTS))

    def test_planar_similarity_matches_profiles():
        a, b = _planar_inputs()
        expected = PLANAR_REFERENCE(a, b)
        actual = _values_and_grads(_planar_pallas)(a, b)  # jit(grad(f))
        assert actual[0].shape == (2,)
        np.testing.assert_allclose(actual[0], expected[0], rtol=1e-6)
        for grad, want in zip(actual[1:], expected[1:], strict=True):
            assert np.all(np.isfinite(grad))
            np.testing.assert_allclose(grad, want, atol=1e-6, rtol=0)

    def test_grad_of_jit():
        a, b = _planar_inputs()
        jitted = jax.jit(_planar_pallas)
        grad = jax.grad(lambda y: jnp.sum(jitted(a, y)))(jnp.asarray(b))
        np.testing.assert_allclose(np.asarray(grad), PLANAR_REFERENCE(a, b)[2], atol=1e-6, rtol=0)

    # Batch 1 (case0, 5, 7: random, zeros, identical images) and batch 3 of odd
    # size 24x40 (case2). Cases of one shape share a compilation; the [0, 1]
    # range is the same kernel after a different (jnp) input mapping.
    GOLDEN_CASES = [("case0", "pm1"), ("case5", "pm1"), ("case7", "pm1"), ("case2", "pm1")]
    FUSED_SPL = _values_and_grads(lambda t, p: kernels.weighted_profiles_pallas(
        t, p, SPL_TERMS, (-1.0, 1.0), "interpret"))

    @pytest.mark.parametrize("case,rng", GOLDEN_CASES)
    def test_fused_spl_matches_golden(case, rng):
        real, fake = GOLDEN[f"{case}_{rng}_real"], GOLDEN[f"{case}_{rng}_fake"]
        per_image, _, grad = FUSED_SPL(real, fake)
        expected = GOLDEN[f"{case}_{rng}_spl_per_sample"]
        assert np.all(np.isfinite(per_image)) and np.all(np.isfinite(grad))
        if (case, rng) in GREY:
            np.testing.assert_allclose(per_image, expected, atol=0.05)
            return
        np.testing.assert_allclose(per_image, expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(grad, GOLDEN[f"{case}_{rng}_dspl_dfake"], atol=1e-6, rtol=0)

    @pytest.mark.parametrize("chroma", [1e-4, 0.0])
    def test_fused_near_grey_matches_keras_ops(chroma):
        """Grey and near-grey 8x8 images (case0's shape: its compilation is shared);
        the keras.ops path is held to a float64 reference in test_near_grey.py."""
        rng = np.random.default_rng(3)
        grey = rng.uniform(-1, 1, (1, 8, 8, 1))
        real = (grey + chroma * rng.uniform(-1, 1, (1, 8, 8, 3))).astype("float32")
        fake = (0.8 * grey + chroma * rng.uniform(-1, 1, (1, 8, 8, 3))).astype("float32")
        expected = _values_and_grads(
            lambda t, p: profiles.weighted_profiles(t, p, SPL_TERMS))(real, fake)
        actual = FUSED_SPL(real, fake)
        np.testing.assert_allclose(actual[0], expected[0], rtol=1e-6)
        scale = np.abs(expected[2]).max()
        np.testing.assert_allclose(actual[2], expected[2], atol=1e-6 * scale, rtol=0)

    def test_fused_bands_with_halo_match_keras_ops():
        """H = 80: five 16-row programs per image, y-differences across band edges."""
        rng = np.random.default_rng(7)
        real = rng.uniform(-1, 1, (2, 80, 24, 3)).astype("float32")
        fake = np.clip(real + rng.normal(0, 0.3, real.shape), -1, 1).astype("float32")
        assert pallas_profiles._band_rows(80, 64) == 16
        expected = _values_and_grads(
            lambda t, p: profiles.weighted_profiles(t, p, SPL_TERMS))(real, fake)
        actual = FUSED_SPL(real, fake)
        np.testing.assert_allclose(actual[0], expected[0], rtol=1e-5)
        for grad, want in zip(actual[1:], expected[1:], strict=True):
            np.testing.assert_allclose(grad, want, atol=1e-6, rtol=0)

    @pytest.mark.parametrize("platform,call", [("tpu", "tpu_custom_call"),
                                               ("gpu", "xla.gpu.triton")])
    def test_lowers_for_device(platform, call):
        # 72 rows: padded to 128 on GPU (power of two), bands and halo on TPU.
        assert call in pallas_profiles.lower_for(platform, shape=(2, 72, 40, 3))

    @pytest.mark.parametrize("kernel,platform", [
        (None, None), ("keras", None), ("auto", None), ("pallas", "interpret"),
        ("interpret", "interpret")])
    def test_selection_on_cpu(switch, kernel, platform):
        if kernel is not None:  # None: the default
            switch.set_profile_kernel(kernel)
        assert kernels.pallas_platform() == platform
        assert kernels.use_pallas() == (platform is not None)

    @pytest.mark.parametrize("kernel,fused", [(None, False), ("pallas", True), ("keras", False)])
    def test_the_losses_take_the_kernel_when_asked(switch, kernel, fused):
        import spl_tf

        if kernel is not None:
            switch.set_profile_kernel(kernel)
        real = GOLDEN["case0_pm1_real"]
        for loss in (spl_tf.SPL(), spl_tf.GPL(), spl_tf.CPL()):
            program = str(jax.make_jaxpr(lambda t, p: loss(t, p))(real, real))
            assert ("pallas_call" in program) == fused, (kernel, loss.name)

    def test_spl_pallas_still_chooses_the_kernel(switch, monkeypatch):
        monkeypatch.setenv(switch.DEPRECATED_ENV, "1")
        with pytest.warns(DeprecationWarning, match="SPL_PALLAS is deprecated"):
            assert kernels.pallas_platform() == "interpret"

    def test_availability():
        assert kernels.pallas_available("gpu") and kernels.pallas_available("tpu")
        assert not kernels.pallas_available("cpu")
