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


@rerun_under_jax(str(TESTS / "test_lpips.py"), str(TESTS / "test_fid.py"), timeout=900)
def test_metrics_golden_values_under_jax(jax_rerun):
    # LPIPS, FID and KID against the reference packages, the LPIPS loss under fit.
    check_all_passed(jax_rerun, 46)  # every test of the two files


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
