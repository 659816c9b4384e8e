"""spl_tf needs Keras and a backend, not TensorFlow.

On the JAX backend, importing spl_tf and computing a loss and its gradient never imports
TensorFlow. Checked in a fresh process, since the test session may have TensorFlow loaded
already. `make test-compat` also runs this file in a venv with Keras and JAX but no
TensorFlow (its build checks that `import tensorflow` fails there).
"""

import os
import subprocess
import sys

SCRIPT = """
import sys

import jax
import numpy as np

import spl_tf

rng = np.random.default_rng(0)
y_true = rng.uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
y_pred = np.clip(y_true + rng.normal(0, 0.1, y_true.shape), -1, 1).astype("float32")
value = float(spl_tf.SPL()(y_true, y_pred))
grad = np.asarray(jax.grad(lambda p: spl_tf.SPL()(y_true, p))(y_pred))
assert np.isfinite(value) and np.all(np.isfinite(grad)), value
assert np.any(grad != 0)
loaded = sorted(m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow."))
assert "tensorflow" not in sys.modules, loaded[:10]
print("value", value)
"""


def test_spl_on_jax_never_imports_tensorflow():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert result.stdout.startswith("value -")  # SPL of close images is negative

