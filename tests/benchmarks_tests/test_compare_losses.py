"""The loss-comparison harness: its expression grammar and a tiny run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import compare_losses  # benchmarks/ is on pytest's pythonpath (pytest.ini)
import spl_tf
from applications.common import plots
from spl_tf.utils.errors import InputError
from pix2pix_data import write_pairs

ROOT = Path(__file__).resolve().parents[2]


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32"),
            rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32"))


def test_expression_is_the_weighted_sum_of_its_losses():
    y_true, y_pred = _batch()
    loss = compare_losses.parse_loss("SPL - 0.5 * GPL + 2*L1")
    expected = (spl_tf.SPL(reduction=None)(y_true, y_pred)
                - 0.5 * spl_tf.GPL(reduction=None)(y_true, y_pred)
                + 2 * np.abs(y_true - y_pred).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(loss(y_true, y_pred), expected, rtol=1e-5)


def test_expression_arguments_reach_the_loss():
    (weight, loss), = compare_losses.parse_loss("CPL(rgb=False, value_range=(0, 1)) * 3")
    assert weight == 3.0 and isinstance(loss, spl_tf.CPL)
    assert not loss.rgb and tuple(loss.value_range) == (0.0, 1.0)


@pytest.mark.parametrize("expression,match", [
    ("SPL +", "not an expression"),
    ("MSE", "unknown loss 'MSE'"),
    ("SPL * GPL", "multiplied by numbers"),
    ("__import__('os')", "cannot read"),
    ("SPL(gp_weight=abs(-1))", "keyword=constant"),
    ("SPL(gamma=1)", "SPL:"),
    ("2", "names no loss"),
])
def test_expression_errors(expression, match):
    with pytest.raises(InputError, match=match):
        compare_losses.parse_loss(expression)


def test_tiny_comparison_writes_figure_and_table(tmp_path):
    data_dir = write_pairs(tmp_path / "data", {"train": 8, "test": 3})
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_losses.py"),
         f"--output_dir={tmp_path}", f"--data_dir={data_dir}", "--batch_size=4", "--steps=2", "--losses=L1", "--losses=SPL + 0.5 * GPL",
         "--image_size=32", "--ngf=4", "--num_blocks=1", "--rows=2"],
        env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "comparison.json").read_text())
    assert [r["loss"] for r in report["results"]] == ["L1", "SPL + 0.5 * GPL"]
    assert (report["ngf"], report["num_blocks"]) == (4, 1)
    for r in report["results"]:
        assert all(np.isfinite(r[k]) for k in ("psnr", "ssim", "energy", "seconds_per_step"))
    assert "| `SPL + 0.5 * GPL` |" in (tmp_path / "comparison.md").read_text()
    import cv2
    figure = cv2.imread(str(tmp_path / "comparison.png"))
    # 2 rows x 4 titled columns (input, two losses, target) of 1-inch panels.
    assert figure.shape == (round(2.3 * plots.DPI), 4 * plots.DPI, 3)
    assert figure.std() > 10  # not blank


def test_bad_expression_is_one_line_before_training(tmp_path):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "compare_losses.py"),
         f"--output_dir={tmp_path}", "--losses=SPL + foo"],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, capture_output=True, text=True,
        timeout=300)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: --losses='SPL + foo'")
    assert not (tmp_path / "comparison.json").exists()
