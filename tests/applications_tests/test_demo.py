"""`make demo` in miniature (one epoch, every promised output), and in full (slow)."""

import json
import re
from pathlib import Path

import numpy as np
import pytest

import learning_margins
from pix2pix_data import mean_target
from test_learning import mean_score
from applications.pix2pix import demo
from spl_tf.utils import image_io

ROOT = Path(__file__).resolve().parents[2]


def test_sketch_keeps_edges_only():
    photo = np.zeros((32, 32, 3), np.uint8)
    photo[:, 16:] = 200  # one vertical edge
    sketch = demo.sketch(photo)
    assert sketch.shape == (32, 32, 3)
    dark_columns = np.where((sketch[..., 0] < 128).any(axis=0))[0]
    assert set(dark_columns) <= {15, 16} and len(dark_columns) > 0


@pytest.mark.slow  # a long end-to-end run: make test-slow
def test_demo_runs_and_writes_everything(tmp_path, capsys):
    metrics = demo.run(tmp_path, epochs=1)
    for name in ("grid.png", "loss.png", "metrics.json", "run/model.keras", "run/training_log.csv"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["images"] == len(demo.PHOTOS) * demo.CROPS_PER_PHOTO["test"]
    assert saved["baseline"]["name"] == "input" and "per_image" not in saved
    assert np.isfinite(saved["psnr"]) and saved == {k: v for k, v in metrics.items() if k != "per_image"}
    pair = image_io.read_rgb(next((tmp_path / "data" / "test").iterdir()))
    assert pair.shape == (demo.CROP, 2 * demo.CROP, 3)
    out = capsys.readouterr().out
    assert "Held-out test crops" in out and "the sketch itself" in out


# The Quick start's figures: the demo's output, the sketch, the mean training photo.
README_FIGURES = re.compile(
    r"held-out PSNR of about ([\d.]+) dB \(SSIM ([\d.]+)\), against ([\d.]+) dB \(SSIM "
    r"([\d.]+)\) for the sketch itself.*?the mean training photo \(one flat image\) still "
    r"scores ([\d.]+) dB \(SSIM ([\d.]+)\)")


def readme_figures() -> dict[str, dict[str, float]]:
    text = " ".join((ROOT / "README.md").read_text().split())
    found = README_FIGURES.search(text)
    assert found, "the README's Quick start no longer quotes the demo's figures"
    values = iter(map(float, found.groups()))
    return {name: {"psnr": next(values), "ssim": next(values)}
            for name in ("output", "sketch", "mean photo")}


@pytest.mark.slow
def test_demo_reaches_the_readme_figures(tmp_path):
    """`make demo` itself (8 epochs): the held-out figures the README quotes, within the
    tolerances of `learning_margins.DEMO`."""
    metrics = demo.run(tmp_path, epochs=8)
    mean = mean_target(tmp_path / "data" / "train")
    measured = {"output": metrics, "sketch": metrics["baseline"], "mean photo": mean_score(
        tmp_path / "predictions" / "target", lambda name: mean)._asdict()}
    figures = readme_figures()
    for name, tolerances in learning_margins.DEMO.items():
        for metric, tolerance in tolerances.items():
            assert measured[name][metric] == pytest.approx(figures[name][metric],
                                                           abs=tolerance), (name, metric)
