"""The golden tests again, under the JAX backend (a subprocess: the backend is
fixed when Keras is first imported)."""

from pathlib import Path

from backend_utils import check_all_passed, rerun_under_jax

TESTS = Path(__file__).parent


@rerun_under_jax(str(TESTS / "test_golden.py"), str(TESTS / "test_losses.py"), timeout=900)
def test_golden_values_under_jax(jax_rerun):
    check_all_passed(jax_rerun, 148)  # every test of the two files
