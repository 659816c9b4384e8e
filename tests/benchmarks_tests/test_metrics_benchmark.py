"""benchmarks/metrics.py runs and prints its two tables (tiny sizes: what is checked is the
script, not the numbers it measures)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_run_prints_speed_memory_and_the_ratio_to_the_bare_network():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "metrics.py"), "--lpips_size=32",
         "--lpips_batch=1", "--fid_size=16", "--fid_batch=2", "--rounds=1"],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # A row: the configuration (38 characters), images/s, s/call, peak MB, / bare.
    rows = {line[:38].strip(): [float(v) for v in line[38:].split()]
            for line in result.stdout.splitlines()
            if re.match(r"(AlexNet|VGG16|Inception) ", line)}
    assert sorted(rows) == sorted([
        "AlexNet bare forward (2N images)", "AlexNet LPIPS", "VGG16 bare forward (2N images)",
        "VGG16 LPIPS", "Inception bare forward", "Inception features of arrays",
        "Inception folder statistics"]), result.stdout
    for name, (images_per_s, seconds, peak_mb, ratio) in rows.items():
        assert images_per_s > 0 and seconds > 0 and peak_mb > 0 and ratio > 0, name
        assert ratio == 1.0 or "bare" not in name, name
