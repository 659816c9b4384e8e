"""The golden tests again, under the JAX backend (a subprocess: the backend is
fixed when Keras is first imported)."""

from pathlib import Path

from backend_utils import rerun_under_jax

TESTS = Path(__file__).parent


@rerun_under_jax(str(TESTS / "test_golden.py"), str(TESTS / "test_losses.py"), timeout=900)
def test_golden_values_under_jax(jax_rerun):
    result, output = jax_rerun
    assert result.returncode == 0, output
    assert " passed" in result.stdout and "skipped" not in result.stdout
