"""Value and gradient of a loss on whichever Keras backend is active."""

import keras
import numpy as np


def value_and_grads(fn, y_true, y_pred):
    """`fn(y_true, y_pred)` summed to a scalar, and its gradients w.r.t. both."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        y_true, y_pred = tf.convert_to_tensor(y_true), tf.convert_to_tensor(y_pred)
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([y_true, y_pred])
            value = tf.reduce_sum(fn(y_true, y_pred))
        grads = tape.gradient(value, [y_true, y_pred])
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        def scalar(t, p):
            return jnp.sum(fn(t, p))

        value, grads = jax.value_and_grad(scalar, argnums=(0, 1))(
            jnp.asarray(y_true), jnp.asarray(y_pred)
        )
    else:
        raise NotImplementedError(f"no gradient helper for backend {backend!r}")
    return np.asarray(value), [np.asarray(g) for g in grads]


# XLA flags for test processes on JAX: tiny programs spend their time compiling, and
# LLVM's optimisation level changes no float32 result on the CPU (no fast math).
CHEAP_COMPILE_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def jax_env(xla_flags: str = "") -> dict[str, str]:
    """The environment of a test process on the JAX backend, on the CPU."""
    import os

    return {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
            "TF_CPP_MIN_LOG_LEVEL": "3", "XLA_FLAGS": f"{xla_flags} {CHEAP_COMPILE_FLAGS}".strip()}


def pytest_under_jax(*args: str, timeout: int = 600):
    """Run pytest with `args` in a subprocess on the JAX backend (CPU).

    The backend is fixed when Keras is first imported, so a test module is
    rerun under JAX in a fresh process. Returns the completed process and the
    tail of its output, for assertion messages.
    """
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        env=jax_env(), capture_output=True, text=True, timeout=timeout,
    )
    return result, result.stdout[-4000:] + result.stderr[-4000:]
