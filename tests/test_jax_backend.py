"""The golden tests again, under the JAX backend (a subprocess: the backend is
fixed when Keras is first imported)."""

from pathlib import Path

from backend_utils import pytest_under_jax


def test_golden_values_under_jax():
    tests = Path(__file__).parent
    result, output = pytest_under_jax(
        str(tests / "test_golden.py"), str(tests / "test_losses.py"), timeout=900)
    assert result.returncode == 0, output
    assert " passed" in result.stdout and "skipped" not in result.stdout
