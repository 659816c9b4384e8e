"""Fused kernels for SPL, and when to use them.

`use_pallas()` says whether `spl_tf.profiles` should compute the profile statistics
with the Pallas kernel of `spl_tf.kernels.pallas_profiles`: only on the JAX backend
(the kernel is a JAX primitive), and as `spl_tf.config.set_profile_kernel` chose
("keras", the default: never; see `spl_tf.config.PROFILE_KERNELS`).

The kernel shares the original's constants with `spl_tf.profiles` through
`spl_tf.constants`, so neither imports the other's module. Nothing here imports JAX
until a function is called on the JAX backend, so importing spl_tf on TensorFlow never
imports JAX (nor this package TensorFlow).
"""

from __future__ import annotations

import importlib

from spl_tf import config

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

    Decided by `spl_tf.config.profile_kernel()` and JAX's default device.
    """
    import keras

    if keras.backend.backend() != "jax":
        return None
    kernel = config.profile_kernel()
    if kernel == "keras":
        return None
    if kernel == "interpret":
        return "interpret"
    import jax

    device = jax.default_backend()  # "cpu", "gpu" or "tpu"
    if pallas_available(device):
        return device
    return None if kernel == "auto" else "interpret"


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
    "pallas_available",
    "pallas_platform",
    "planar_similarity_pallas",
    "use_pallas",
    "weighted_profiles_pallas",
]
