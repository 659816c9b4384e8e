"""Fused kernels for SPL, and when to use them.

`use_pallas()` says whether `spl_tf.profiles` should compute the profile
statistics with the Pallas kernel of `spl_tf.kernels.pallas_profiles`:

- only on the JAX backend (the kernel is a JAX primitive);
- `SPL_PALLAS` unset, "0" or "off": never. The kernel is opt-in until it has been
  timed and checked on a real GPU and TPU: so far it has run in interpret mode and
  been lowered for both, but no device compiler has run it;
- `SPL_PALLAS=auto`: when JAX's default device is a GPU or a TPU and Pallas imports;
- `SPL_PALLAS=1` (or "on"): always on JAX, in Pallas's interpret mode where
  the device is neither (the CPU tests run this way);
- `SPL_PALLAS=interpret`: interpret mode whatever the device (debugging).

Nothing here imports JAX until a function is called on the JAX backend, so
importing spl_tf on TensorFlow never imports JAX (nor this package TensorFlow).
"""

from __future__ import annotations

import importlib
import os

ENV = "SPL_PALLAS"
_DEVICE_PLATFORMS = ("gpu", "tpu")


def pallas_available(platform: str) -> bool:
    """Whether the kernel has a compiled lowering for `platform` and Pallas imports."""
    if platform not in _DEVICE_PLATFORMS:
        return False
    try:
        importlib.import_module("jax.experimental.pallas")
    except ImportError:
        return False
    return True


def pallas_platform() -> str | None:
    """The kernel platform to use now ("gpu", "tpu", "interpret"), or None for none.

    Decided by `SPL_PALLAS` and JAX's default device, as the module says.
    A value of `SPL_PALLAS` other than those listed is a ValueError.
    """
    import keras

    if keras.backend.backend() != "jax":
        return None
    mode = os.environ.get(ENV, "off").strip().lower()
    if mode in ("", "0", "off", "false", "no"):
        return None
    if mode == "interpret":
        return "interpret"
    if mode not in ("auto", "1", "on", "true", "yes"):
        raise ValueError(f"{ENV} must be auto, 1/on, 0/off or interpret, got {mode!r}")
    import jax

    device = jax.default_backend()  # "cpu", "gpu" or "tpu"
    if pallas_available(device):
        return device
    return None if mode == "auto" else "interpret"


def use_pallas() -> bool:
    """Whether the profile losses should run on the Pallas kernel now."""
    return pallas_platform() is not None


def weighted_profiles_pallas(y_true, y_pred, weights, value_range=(-1.0, 1.0), platform=None):
    """`spl_tf.profiles.weighted_profiles` on the fused kernel (JAX arrays in and out).

    `platform` defaults to `pallas_platform()` ("interpret" where that is None).
    """
    from spl_tf.kernels import pallas_profiles

    platform = platform or pallas_platform() or "interpret"
    return pallas_profiles.weighted_profiles_pallas(
        y_true, y_pred, weights, value_range, platform=platform)


def planar_similarity_pallas(a, b, height, weights=None, platform=None):
    """`spl_tf.profiles.planar_similarity` on the kernel (JAX arrays in and out)."""
    from spl_tf.kernels import pallas_profiles

    platform = platform or pallas_platform() or "interpret"
    return pallas_profiles.planar_similarity_pallas(a, b, height, weights, platform=platform)


__all__ = [
    "ENV",
    "pallas_available",
    "pallas_platform",
    "planar_similarity_pallas",
    "use_pallas",
    "weighted_profiles_pallas",
]
