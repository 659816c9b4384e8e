"""The golden tests again, under the JAX backend (a subprocess: the backend is
fixed when Keras is first imported)."""

import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from backend_utils import check_all_passed, jax_env, rerun_under_jax

TESTS = Path(__file__).parent
GOLDEN_TESTS = 70  # of test_golden.py


@rerun_under_jax(str(TESTS / "test_golden.py"), str(TESTS / "test_losses.py"), timeout=900)
def test_golden_values_under_jax(jax_rerun):
    check_all_passed(jax_rerun, 148)  # every test of the two files


# What of LPIPS, FID and KID runs through keras.ops: the networks, their golden values, the
# LPIPS loss under fit, the folder streaming. The distances (NumPy/SciPy in float64), the
# input checks and the weight downloads do not depend on the backend and run once, above.
METRICS_ON_BACKEND = " and ".join(f"not {name}" for name in (
    "frechet_distance", "fid_of_images", "kid_of_features", "published", "statistics_of",
    "without_images", "one_image", "subsets_no_larger", "bad_input", "outside_the_range",
    "incomplete_weights", "cannot_save", "empty_batch", "out_of_range"))


@rerun_under_jax(str(TESTS / "test_lpips.py"), str(TESTS / "test_fid.py"), "-k",
                 METRICS_ON_BACKEND, timeout=900)
def test_metrics_golden_values_under_jax(jax_rerun):
    check_all_passed(jax_rerun, 20)


@pytest.mark.slow
def test_golden_values_under_jax_with_default_xla_settings(tmp_path):
    """The golden values under XLA as users run it: the other JAX runs compile with
    cheaper settings (backend_utils.CHEAP_COMPILE_FLAGS), which no user sets."""
    env = {name: value for name, value in jax_env().items() if name != "XLA_FLAGS"}
    report = tmp_path / "report.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
         str(TESTS / "test_golden.py")],
        env=env, cwd=TESTS.parents[1], capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    suite = ElementTree.parse(report).getroot().find("testsuite")
    counts = {kind: int(suite.get(kind)) for kind in ("tests", "failures", "errors", "skipped")}
    assert counts == {"tests": GOLDEN_TESTS, "failures": 0, "errors": 0, "skipped": 0}, counts
