"""`import spl_tf` loads no Keras, yet it is enough to load a saved model.

Each case runs in a fresh process (this session has Keras loaded already), on the JAX
backend for speed; the TensorFlow backend goes through the same import machinery.
`spl_tf.registration` registers spl_tf's losses and layers as soon as Keras is imported,
in whichever order the two are imported, also when a spl_tf module is what imports Keras
first (the registering then waits until that module has executed).
"""

import os
import subprocess
import sys

import pytest

COUNT = """
import sys
import keras
from spl_tf import registration
from spl_tf.registration import _Finder
registered = sorted(k for k in keras.saving.get_custom_objects() if k.startswith("spl_tf>"))
assert not any(isinstance(f, _Finder) for f in sys.meta_path), sys.meta_path
assert keras.__loader__ is keras.__spec__.loader
assert type(keras.__loader__).__module__ != "spl_tf.registration", keras.__loader__
print(len(registered), ",".join(registered))
"""

# The Keras objects spl_tf defines (every `register_keras_serializable` in spl_tf/).
EXPECTED = {
    "spl_tf>BatchStatsNormalization", "spl_tf>CPL", "spl_tf>ChannelSlice",
    "spl_tf>ContextualLoss", "spl_tf>FSeSimLoss", "spl_tf>GPL", "spl_tf>LPIPS", "spl_tf>LSeSim",
    "spl_tf>LSeSimHead", "spl_tf>MakeupLoss", "spl_tf>PerceptualLoss", "spl_tf>PixelShuffle",
    "spl_tf>ReflectionPadding2D", "spl_tf>SPL", "spl_tf>StyleLoss", "spl_tf>VGGPreprocess",
}


def _run(code: str) -> str:
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_expected_list_is_every_registration_in_the_sources():
    from pathlib import Path
    root = Path(__file__).resolve().parents[2] / "spl_tf"
    count = sum(path.read_text().count("@keras.saving.register_keras_serializable")
                for path in root.rglob("*.py"))
    assert count == len(EXPECTED)


def test_import_spl_tf_loads_neither_keras_nor_utils():
    out = _run("import sys, spl_tf\n"
               "print(sorted(m for m in sys.modules if m.split('.')[0] in "
               "('keras', 'tensorflow', 'jax', 'numpy') or m.startswith('spl_tf.')))")
    assert out.strip() == "['spl_tf.registration', 'spl_tf.version']"


@pytest.mark.parametrize("first", [
    "import spl_tf",                           # spl_tf, then Keras
    "import keras; import spl_tf",             # Keras, then spl_tf
    "import spl_tf; spl_tf.SPL",               # a public name asked for
    "from spl_tf import GPL",
    "import spl_tf.profiles",                  # a helper module imports Keras first
    "import spl_tf.validation",
    "from spl_tf.layers import PixelShuffle",
    "from spl_tf.metrics import psnr",
    "import spl_tf.utils.cli; import spl_tf.features",
])
def test_every_order_of_imports_registers_every_object(first):
    count, names = _run(first + "\n" + COUNT).split()
    assert set(names.split(",")) == EXPECTED and int(count) == len(EXPECTED)


def test_a_saved_model_loads_after_import_spl_tf_alone(tmp_path):
    saved = tmp_path / "model.keras"
    _run(f"""
import keras, spl_tf
inputs = keras.Input((8, 8, 3))
outputs = spl_tf.layers.ReflectionPadding2D(1)(inputs)
model = keras.Model(inputs, outputs)
model.compile(loss=spl_tf.SPL(gp_weight=2.0))
model.save({str(saved)!r})
""")
    out = _run(f"""
import spl_tf
import keras
model = keras.models.load_model({str(saved)!r})
print(type(model.loss).__name__, model.loss.gp_weight, type(model.layers[1]).__name__)
""")
    assert out.split() == ["SPL", "2.0", "ReflectionPadding2D"]


def test_public_names_resolve_to_their_modules():
    out = _run("import spl_tf\n"
               "for name in spl_tf.__all__:\n"
               "    obj = getattr(spl_tf, name)\n"
               "    print(name, obj.__module__)\n"
               "print('dir', set(spl_tf.__all__) <= set(dir(spl_tf)))")
    lines = out.split("\n")
    import spl_tf
    assert len([line for line in lines if line.startswith(tuple(spl_tf.__all__))]) == len(
        spl_tf.__all__)
    assert "dir True" in out
    assert all(line.split()[1].startswith("spl_tf.") for line in lines[:-2])
