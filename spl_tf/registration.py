"""spl_tf's Keras objects, registered as soon as Keras is imported.

`import spl_tf` imports no Keras: on the TensorFlow backend Keras imports TensorFlow
(seconds, and its C++ start-up lines), which every command's `--help` and every user of
`spl_tf.utils` would pay. Yet `import spl_tf` must be enough for
`keras.models.load_model` to find the losses and layers a run saved, and Keras finds them
in its registry, which their modules fill as they are imported.

So those modules are imported as soon as Keras is: at once when it already is, or else
when its import finishes, seen by a finder at the front of `sys.meta_path` that wraps
the loaders of `keras` and of spl_tf's own modules (PEP 451). When a spl_tf module is the
first to import Keras, it is still executing at that point and the modules that import
from it could not yet, so the registering waits until no spl_tf module is executing.
The finder removes itself once done.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
import threading
from types import ModuleType

# The modules that define the public names of `spl_tf` and register its Keras objects,
# in an order where each one's spl_tf imports come before it.
KERAS_MODULES = (
    "spl_tf.profiles",
    "spl_tf.losses",
    "spl_tf.features",
    "spl_tf.lpips",
    "spl_tf.contextual",
    "spl_tf.perceptual",
    "spl_tf.sesim",
    "spl_tf.layers",
)

_executing = threading.local()  # how many wrapped spl_tf modules this thread is executing


def keras_is_imported() -> bool:
    module = sys.modules.get("keras")
    return module is not None and not getattr(module.__spec__, "_initializing", False)


def register_keras_objects() -> None:
    """Import the modules that register spl_tf's Keras objects (this imports Keras)."""
    _remove_finder()
    for name in KERAS_MODULES:
        importlib.import_module(name)


def register_when_keras_is_imported() -> None:
    """Register now if Keras is imported, or else when it is."""
    if keras_is_imported():
        register_keras_objects()
    elif not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def _remove_finder() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if not isinstance(finder, _Finder)]


def _after_execution(name: str) -> None:
    keras_done = name == "keras" or keras_is_imported()
    if keras_done and not getattr(_executing, "depth", 0) and any(
            isinstance(finder, _Finder) for finder in sys.meta_path):
        register_keras_objects()


class _Finder(importlib.abc.MetaPathFinder):
    """Finds `keras` and spl_tf's modules as the other finders do, with a loader that
    calls back when the module has executed."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "keras" and not fullname.startswith("spl_tf."):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, fullname)
                return spec
        return None


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader, name: str):
        self._loader = loader
        self._name = name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # The module and its spec show its own loader (importlib.resources reads through it).
        module.__loader__ = module.__spec__.loader = self._loader
        counted = self._name != "keras"
        if counted:
            _executing.depth = getattr(_executing, "depth", 0) + 1
        try:
            self._loader.exec_module(module)
        finally:
            if counted:
                _executing.depth -= 1
        _after_execution(self._name)
