"""benchmarks/xla_profile.py: the per-kernel time of an XLA-compiled loss step."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_profile_lists_the_kernels_of_the_step():
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "xla_profile.py"),
         "--loss=gpl", "--batch=1", "--size=32", "--steps=2", "--top=50"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    header = re.search(r"([\d.]+) kernel-ms per step over (\d+) kernels", result.stdout)
    assert header, result.stdout
    rows = re.findall(r"^\s*([\d.]+)\s+([\d.]+)%\s+(\S+)$", result.stdout, re.MULTILINE)
    # GPL's step is several fused kernels (views, products, reductions, gradient).
    assert int(header.group(2)) >= 5 and len(rows) == min(50, int(header.group(2)))
    assert any("fusion" in name for _, _, name in rows)
    assert abs(sum(float(share) for _, share, _ in rows) - 100) < 1.0
