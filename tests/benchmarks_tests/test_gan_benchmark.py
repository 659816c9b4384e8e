"""benchmarks/gan.py: a discriminator's cost per training step next to SPL alone."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow  # a benchmark run: make test-slow
def test_prints_each_setup_as_a_multiple_of_spl_alone():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gan.py"), "--batches=2", "--size=32",
         "--rounds=1", "--ngf=4", "--num_blocks=1", "--ndf=4", "--xla=no"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    rows = re.findall(r"^\s+2  (no|yes)\s+(SPL[ +\w]*?)\s+([\d.]+)\s+([\d.]+)$", result.stdout,
                      re.MULTILINE)
    assert [(jit, setup) for jit, setup, _, _ in rows] == [
        ("no", setup) for setup in ("SPL alone", "SPL + PatchGAN", "SPL + multiscale")], result.stdout
    assert all(float(ratio) == 1.0 for _, setup, _, ratio in rows if setup == "SPL alone")
    assert all(float(step) > 0 for _, _, step, _ in rows)
