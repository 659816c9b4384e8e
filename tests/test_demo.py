"""`make demo` in miniature: one epoch, every promised output."""

import json

import numpy as np

from fcc_dataset import image_io
from applications.pix2pix import demo


def test_sketch_keeps_edges_only():
    photo = np.zeros((32, 32, 3), np.uint8)
    photo[:, 16:] = 200  # one vertical edge
    sketch = demo.sketch(photo)
    assert sketch.shape == (32, 32, 3)
    dark_columns = np.where((sketch[..., 0] < 128).any(axis=0))[0]
    assert set(dark_columns) <= {15, 16} and len(dark_columns) > 0


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
