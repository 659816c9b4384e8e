"""Switches of spl_tf, as `keras.config` keeps Keras's (`keras.config.set_floatx`).

    import spl_tf
    spl_tf.config.set_profile_kernel("auto")  # the fused Pallas kernel on a GPU or TPU

A switch and not a loss argument: a saved model carries its losses' arguments, and
which kernel computes the profiles is the machine's business, not the model's (the
values are the same). It holds for the whole process, for losses made before as after.
"""

from __future__ import annotations

import os
import warnings

PROFILE_KERNELS = ("keras", "auto", "pallas", "interpret")
"""How the profile losses (SPL, GPL, CPL, MakeupLoss) compute their statistics:

- "keras" (the default): `keras.ops`, on every backend.
- "auto": the fused Pallas kernel of `spl_tf.kernels` where JAX's default device is a GPU
  or a TPU and Pallas imports; `keras.ops` elsewhere.
- "pallas": the kernel wherever the backend is JAX: compiled on a GPU or a TPU, in
  Pallas's interpret mode on other devices (slow; the CPU tests run it this way).
- "interpret": the kernel in interpret mode whatever the device (debugging).

The kernel is a JAX primitive: on the TensorFlow backend every setting means `keras.ops`.
It is opt-in until it has been timed and checked on a real GPU and TPU (so far it has
run in interpret mode and been lowered for both).
"""

DEPRECATED_ENV = "SPL_PALLAS"
"""The environment variable that chose the kernel before `set_profile_kernel`: still read
when the switch is not set, with a DeprecationWarning."""

# SPL_PALLAS's values -> the kernel each means.
_ENV_VALUES = {
    **dict.fromkeys(("", "0", "off", "false", "no"), "keras"),
    **dict.fromkeys(("1", "on", "true", "yes"), "pallas"),
    "auto": "auto",
    "interpret": "interpret",
}

_profile_kernel: str | None = None  # None: not set, so SPL_PALLAS or the default
_warned = False


def set_profile_kernel(kernel: str) -> None:
    """Choose how the profile losses compute, one of `PROFILE_KERNELS` (see there)."""
    global _profile_kernel
    if kernel not in PROFILE_KERNELS:
        raise ValueError(f"set_profile_kernel: kernel must be one of {PROFILE_KERNELS}, "
                         f"got {kernel!r}")
    _profile_kernel = kernel


def profile_kernel() -> str:
    """The kernel the profile losses use (one of `PROFILE_KERNELS`): what
    `set_profile_kernel` set, else what the deprecated `SPL_PALLAS` says, else "keras"."""
    if _profile_kernel is not None:
        return _profile_kernel
    value = os.environ.get(DEPRECATED_ENV)
    if value is None:
        return "keras"
    kernel = _ENV_VALUES.get(value.strip().lower())
    if kernel is None:
        raise ValueError(f"{DEPRECATED_ENV} must be auto, 1/on, 0/off or interpret, got "
                         f"{value!r}; better, call spl_tf.config.set_profile_kernel")
    _warn_deprecated(kernel)
    return kernel


def _warn_deprecated(kernel: str) -> None:
    global _warned
    if not _warned:  # once per process: the losses ask at every trace
        _warned = True
        warnings.warn(f"{DEPRECATED_ENV} is deprecated: call "
                      f"spl_tf.config.set_profile_kernel({kernel!r}) instead",
                      DeprecationWarning, stacklevel=3)


__all__ = ["PROFILE_KERNELS", "profile_kernel", "set_profile_kernel"]
