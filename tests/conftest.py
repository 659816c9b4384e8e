"""Test setup: quiet TensorFlow, two logical CPUs for the distribution tests, one JAX
compilation cache for every JAX process of the run, the runs under JAX of the tests that
ask for one (all in one background process), the longest test files first, and published
weight files never fetched from the internet."""

import os
import shutil
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "jax_rerun(*args, timeout): checks `pytest ARGS` run under JAX "
                   "(backend_utils.rerun_under_jax)")
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
import pytest  # noqa: E402

import backend_utils  # noqa: E402
from http_server import NOWHERE  # noqa: E402

if keras.backend.backend() == "tensorflow":
    import tensorflow as tf

    # Must happen before TensorFlow initialises its devices, so here, once.
    _cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )


# The longest test files, about longest first: each takes 1-4 minutes of a worker in a
# whole `make test` on 2 cores, which the background runs under JAX share (an order
# sorted by one run's file times measured no faster: the times vary from run to run). The
# Makefile's `--dist loadfile` gives each pytest-xdist worker whole files (so that a
# module's fixture, a trained run or a built dataset, is made once), the next one when it
# is free: the longest go first, and the many short ones even out the end.
LONGEST = (
    "test_training_faults.py",
    "test_adversarial_runs.py",
    "test_adversarial.py",
    "test_write_failures.py",
    "test_application_layer.py",
    "test_run_folder.py",
    "test_pix2pix_e2e.py",
    "test_experiment.py",
    "test_data_parallel.py",
    "test_fcc_faults.py",
    "test_reliability.py",
    "test_notebook.py",
    "test_learning.py",
    "test_makeup.py",
    "test_srresnet.py",
    "test_sr_memory.py",
    "test_demo.py",
    "test_small_disk.py",
    "test_fcc_youtube.py",
    "test_command_help.py",
    "test_sr_tiling.py",
    "test_package.py",
)


def _order(item) -> tuple[int, bool]:
    """Files as in LONGEST, then the others; in a file, the tests that read a run under JAX
    last, so that the background run has ended when they come."""
    name = item.path.name
    rank = LONGEST.index(name) if name in LONGEST else len(LONGEST)
    return rank, item.get_closest_marker("jax_rerun") is not None


def pytest_collection_modifyitems(config, items):
    items.sort(key=_order)  # stable: the order is kept otherwise


def _made_here(folder) -> bool:
    try:
        folder.mkdir()
        return True
    except FileExistsError:
        return False


@pytest.fixture(scope="session", autouse=True)
def _jax_reruns(request, tmp_path_factory):
    """Starts the runs under JAX of this session's tests marked `jax_rerun`, all in one
    process (each process pays the JAX, Keras and TensorFlow import and compiles its own
    programs), in the background from the session's first test on. Yields their folder."""
    marks = {item.nodeid: item.get_closest_marker("jax_rerun") for item in request.session.items}
    runs = {nodeid: mark.args for nodeid, mark in marks.items() if mark}
    if not runs:
        yield None
        return
    # pytest-xdist's workers each have a basetemp in one common folder: the first worker to
    # make the runs' folder there starts the runs, the other one only reads them.
    basetemp = tmp_path_factory.getbasetemp()
    folder = (basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp) / "jax_reruns"
    process = None
    if _made_here(folder):
        timeout = sum(mark.kwargs["timeout"] for mark in marks.values() if mark)
        process = backend_utils.start_runs_under_jax(folder, runs, timeout)
    yield folder
    if process:
        if request.session.shouldstop or request.session.shouldfail:  # -x: no one waits
            process.terminate()
        process.wait()  # else the other worker may still be waiting for the results


@pytest.fixture
def jax_rerun(_jax_reruns, request):
    """This test's run under JAX (its `jax_rerun` mark): (completed process, output tail)."""
    assert request.node.get_closest_marker("jax_rerun"), "mark it: backend_utils.rerun_under_jax"
    return backend_utils.result_under_jax(_jax_reruns, request.node.nodeid)


@pytest.fixture(autouse=True)
def _published_weights_never_from_the_internet(monkeypatch):
    """Tests never need the network: a published weight file that a test's cache lacks is
    asked of a port where nothing listens (refused at once, as offline), unless the test
    names a mirror of its own (a local server). Commands the test starts inherit it."""
    monkeypatch.setenv("SPL_TF_WEIGHTS_MIRROR", NOWHERE)
