"""spl_tf needs Keras and a backend, not TensorFlow.

On the JAX backend, importing spl_tf and computing a loss and its gradient never imports
TensorFlow, and the submodules the README writes out (`spl_tf.metrics.psnr`) are reachable
after a plain `import spl_tf`, imported when first used. Checked in a fresh process, since
the test session may have TensorFlow loaded already. `make test-compat` also runs this
file in a venv with Keras and JAX but no TensorFlow (its build checks that `import
tensorflow` fails there).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import sys

import jax
import numpy as np

import spl_tf

# The submodules are loaded on first use (spl_tf.__getattr__), not by `import spl_tf`.
assert "spl_tf.metrics" not in sys.modules, "spl_tf.metrics imported eagerly"
assert {"metrics", "kernels", "layers"} <= set(dir(spl_tf)), dir(spl_tf)
for name in sys.argv[1:]:  # every `spl_tf.<name>` of the README
    assert getattr(spl_tf, name) is not None, name
try:
    spl_tf.no_such_module
except AttributeError as error:
    assert "module 'spl_tf' has no attribute 'no_such_module'" in str(error), error
else:
    raise AssertionError("spl_tf.no_such_module did not raise")

rng = np.random.default_rng(0)
y_true = rng.uniform(-1, 1, (2, 8, 8, 3)).astype("float32")
y_pred = np.clip(y_true + rng.normal(0, 0.1, y_true.shape), -1, 1).astype("float32")
value = float(spl_tf.SPL()(y_true, y_pred))
grad = np.asarray(jax.grad(lambda p: spl_tf.SPL()(y_true, p))(y_pred))
assert np.isfinite(value) and np.all(np.isfinite(grad)), value
assert np.any(grad != 0)
psnr = np.asarray(spl_tf.metrics.psnr(y_true, y_pred))
assert psnr.shape == (2,) and np.all((psnr > 15) & (psnr < 40)), psnr
loaded = sorted(m for m in sys.modules if m == "tensorflow" or m.startswith("tensorflow."))
assert "tensorflow" not in sys.modules, loaded[:10]
print("value", value)
"""


README = Path(__file__).parents[2] / "README.md"


def readme_submodules() -> list[str]:
    """The `spl_tf.<name>` the README writes that are not called: its submodules."""
    return sorted(set(re.findall(r"\bspl_tf\.([a-z_]+)\b(?!\()", README.read_text())))


def test_spl_on_jax_never_imports_tensorflow():
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    assert "metrics" in readme_submodules()
    result = subprocess.run([sys.executable, "-c", SCRIPT, *readme_submodules()], env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    assert result.stdout.startswith("value -")  # SPL of close images is negative

