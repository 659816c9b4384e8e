"""Value and gradient of a loss on whichever Keras backend is active."""

import keras
import numpy as np


def xla_compiled(fn):
    """`fn` compiled whole by XLA: TensorFlow's `jit_compile`, or `jax.jit`."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    import jax

    return jax.jit(fn)


def value_and_grads(fn, y_true, y_pred, compiled: bool = False):
    """`fn(y_true, y_pred)` summed to a scalar, and its gradients w.r.t. both; with
    `compiled`, the whole step compiled by XLA (TensorFlow's `jit_compile`, `jax.jit`)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        def step(t, p):
            with tf.GradientTape(persistent=True) as tape:
                tape.watch([t, p])
                value = tf.reduce_sum(fn(t, p))
            return value, tape.gradient(value, [t, p])

        if compiled:
            step = xla_compiled(step)
        value, grads = step(tf.convert_to_tensor(y_true), tf.convert_to_tensor(y_pred))
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        def scalar(t, p):
            return jnp.sum(fn(t, p))

        step = jax.value_and_grad(scalar, argnums=(0, 1))
        if compiled:
            step = xla_compiled(step)
        value, grads = step(jnp.asarray(y_true), jnp.asarray(y_pred))
    else:
        raise NotImplementedError(f"no gradient helper for backend {backend!r}")
    return np.asarray(value), [np.asarray(g) for g in grads]


def assert_close_to_scale(actual, expected, tolerance: float) -> None:
    """Every entry of `actual` within `tolerance` times the largest magnitude in
    `expected`: a bound relative to the array's own scale, for gradients whose entries
    may all be 1e-5 (where an absolute 1e-6 says nothing) or cross zero (where a
    relative one per entry is meaningless)."""
    expected = np.asarray(expected)
    assert np.asarray(actual).shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0,
                               atol=tolerance * np.abs(expected).max())


# XLA flags for test processes on JAX: tiny programs spend their time compiling, and
# LLVM's optimisation level changes no float32 result on the CPU (no fast math).
CHEAP_COMPILE_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"
# XLA's older CPU loop emitters compile about a third faster again, but round a few results
# differently in the last bits (a grey-image gradient in test_pallas_kernel.py is off by
# 3e-8): only for runs that are compared with runs under the same flags, or checked for
# finite values and files, never with golden values or with TensorFlow.
LEGACY_EMITTERS = "--xla_cpu_use_fusion_emitters=false"


def jax_env(xla_flags: str = "", legacy_emitters: bool = False) -> dict[str, str]:
    """The environment of a test process on the JAX backend, on the CPU."""
    import os

    flags = [xla_flags, CHEAP_COMPILE_FLAGS, LEGACY_EMITTERS if legacy_emitters else ""]
    return {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
            "TF_CPP_MIN_LOG_LEVEL": "3", "XLA_FLAGS": " ".join(f for f in flags if f)}


def rerun_under_jax(*args: str, timeout: int = 600):
    """Marks a test that checks `pytest ARGS` run on the JAX backend (the backend is fixed
    when Keras is first imported, so in another process). The test takes the fixture
    `jax_rerun` (conftest.py): that run's completed process and the tail of its output.
    The runs of all the marked tests of a session share one process, started in the
    background at the session's first test (`start_runs_under_jax`)."""
    import pytest

    return pytest.mark.jax_rerun(*args, timeout=timeout)


def start_runs_under_jax(folder, runs: dict[str, tuple[str, ...]], timeout: int):
    """Starts {name: pytest arguments}, run one after the other in one process on the JAX
    backend (CPU) by `jax_reruns.py`, in the background; their results go to `folder`."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    (folder / "runs.json").write_text(json.dumps({"timeout": timeout, "runs": runs}))
    return subprocess.Popen([sys.executable, str(Path(__file__).with_name("jax_reruns.py")),
                             str(folder)], env=jax_env(), stdout=subprocess.DEVNULL)


def result_under_jax(folder, name: str):
    """The run `name` of `start_runs_under_jax(folder, ...)`, once they have all ended:
    (completed process, tail of its output). A run that did not end has return code -1."""
    import json
    import subprocess
    import time

    timeout = json.loads((folder / "runs.json").read_text())["timeout"]
    deadline = time.monotonic() + timeout + 60  # the runs' own limit ends them before
    while not (folder / "status.json").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the runs under JAX in {folder} never ended")
        time.sleep(0.5)
    status = json.loads((folder / "status.json").read_text())
    results = folder / "results.json"
    run = json.loads(results.read_text()).get(name) if results.exists() else None
    run = run or {"returncode": -1, "stdout": "", "counts": {}}
    stderr = (folder / "stderr.log").read_text(errors="replace") + f"\nruns under JAX: {status}"
    completed = subprocess.CompletedProcess(name, run["returncode"], run["stdout"], stderr)
    completed.counts = run["counts"]
    return completed, completed.stdout[-4000:] + stderr[-4000:]


def check_all_passed(jax_rerun, tests: int) -> None:
    """A run under JAX (the `jax_rerun` fixture) collected exactly `tests` tests and each
    of them passed: none skipped, failed or xfailed, and none lost from the selection (a
    test gated on TensorFlow, a `-k` that matches less) without this count changing."""
    result, output = jax_rerun
    assert result.returncode == 0, output
    assert result.counts == {"collected": tests, "passed": tests}, (result.counts, output)
