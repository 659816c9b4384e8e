"""Test setup: quiet TensorFlow, two logical CPUs for the distribution tests, and one
JAX compilation cache for every JAX process of the run."""

import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")



def pytest_configure(config):
    # Many tests start JAX processes that compile the same tiny programs; on 2 cores each
    # compile costs seconds. The cache lives for one pytest run only, so a stale entry
    # never outlives the code that made it. Made in the controller only, before xdist
    # starts the workers, which inherit it.
    if hasattr(config, "workerinput") or "JAX_COMPILATION_CACHE_DIR" in os.environ:
        return
    config._jax_cache = tempfile.mkdtemp(prefix="spl_tf_jax_cache_")
    os.environ.update(JAX_COMPILATION_CACHE_DIR=config._jax_cache,
                      JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
                      JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")


def pytest_unconfigure(config):
    if getattr(config, "_jax_cache", None):
        shutil.rmtree(config._jax_cache, ignore_errors=True)


import keras  # noqa: E402

if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    # Must happen before TensorFlow initialises its devices, so here, once.
    _cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )


# The longest tests (1.5-3.5 minutes each on 2 cores), started first: pytest-xdist hands
# out tests in order, and one of them started last would run on alone at the end.
LONGEST = ("test_data_parallel.py", "test_training_faults.py", "test_notebook.py",
           "test_jax_backend.py")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.path.name not in LONGEST)  # stable: order kept otherwise
