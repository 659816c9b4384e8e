"""`make demo`: edges to photo, learnt with the Spatial Profile Loss alone.

A paired dataset is cut from colour photographs that ship with scikit-image:
the input is a sketch of the photo (its edges, dark on white, as in pix2pix's
edges2* datasets), the target the photo. Training crops come from the left
part of each photo, validation and test crops from the right part it never
sees. The pix2pix trainer learns sketch -> photo, and the held-out crops are
scored against the trivial baseline, the sketch itself.

    python -m applications.pix2pix.demo [--output_dir=demo_output]

Writes to OUTPUT_DIR: `data/` (the pairs), `run/` (checkpoints, TensorBoard
logs, training_log.csv), `grid.png` (held-out input | output | target),
`loss.png`, `metrics.json`.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from absl import flags

from applications.common import errors, image_io
from applications.common.flags import TrainConfig
from applications.pix2pix import predict, train

flags.DEFINE_string("demo_dir", "demo_output", "Where the demo writes everything.")
flags.DEFINE_integer("demo_epochs", 8, "Training epochs of the demo.")
FLAGS = flags.FLAGS

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")
CROP = 64
TRAIN_FRACTION = 0.7  # left part of each photo for training, the rest held out
CROPS_PER_PHOTO = {"train": 150, "val": 1, "test": 4}


def sketch(rgb: np.ndarray) -> np.ndarray:
    """Canny edges of the photo, dark lines on white, as a 3-channel image."""
    grey = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (3, 3), 0)
    edges = cv2.Canny(grey, 60, 140)
    return np.repeat((255 - edges)[..., None], 3, axis=2)


def build_pairs(data_dir: Path, seed: int = 0) -> None:
    """Write `[grey | colour]` crops into train/, val/ and test/."""
    rng = np.random.default_rng(seed)
    for name in PHOTOS:
        photo = getattr(skimage.data, name)()[..., :3]
        # Half size: a 64-pixel crop then holds recognisable content.
        photo = cv2.resize(photo, (photo.shape[1] // 2, photo.shape[0] // 2),
                           interpolation=cv2.INTER_AREA)
        pair = np.concatenate([sketch(photo), photo], axis=2)
        split_x = int(photo.shape[1] * TRAIN_FRACTION)
        regions = {"train": pair[:, :split_x], "val": pair[:, split_x:], "test": pair[:, split_x:]}
        for split, count in CROPS_PER_PHOTO.items():
            region = regions[split]
            for i in range(count):
                y = rng.integers(0, region.shape[0] - CROP + 1)
                x = rng.integers(0, region.shape[1] - CROP + 1)
                crop = region[y:y + CROP, x:x + CROP]
                image_io.write_rgb(data_dir / split / f"{name}_{i:03d}.png",
                                   np.concatenate([crop[..., :3], crop[..., 3:]], axis=1))


def plot_loss(log_csv: Path, path: Path, size=(640, 360), margin=40) -> None:
    """Training and validation loss per epoch, drawn with OpenCV."""
    with open(log_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    curves = {key: [float(r[key]) for r in rows if r.get(key)] for key in ("loss", "val_loss")}
    values = [v for c in curves.values() for v in c]
    low, high = min(values), max(values)
    width, height = size
    canvas = np.full((height, width, 3), 255, np.uint8)
    cv2.rectangle(canvas, (margin, margin // 2), (width - margin // 2, height - margin), (0, 0, 0), 1)
    colours = {"loss": (31, 119, 180), "val_loss": (255, 127, 14)}
    for key, curve in curves.items():
        if len(curve) < 2:
            continue
        xs = np.linspace(margin, width - margin // 2, len(curve))
        ys = height - margin - (np.array(curve) - low) / max(high - low, 1e-9) * (height - 1.5 * margin)
        points = np.stack([xs, ys], axis=1).astype(np.int32)
        cv2.polylines(canvas, [points], False, colours[key], 2, cv2.LINE_AA)
    text = [(f"SPL per image, epochs 1-{len(rows)}", (margin, 15), (0, 0, 0)),
            (f"{high:.1f}", (2, margin // 2 + 10), (0, 0, 0)),
            (f"{low:.1f}", (2, height - margin), (0, 0, 0)),
            ("train", (width - 150, height - 12), colours["loss"]),
            ("validation", (width - 95, height - 12), colours["val_loss"])]
    for label, origin, colour in text:
        cv2.putText(canvas, label, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)
    image_io.write_rgb(path, canvas)


def run(output_dir: Path, epochs: int) -> dict:
    data_dir, model_dir = output_dir / "data", output_dir / "run"
    if not (data_dir / "test").is_dir():
        build_pairs(data_dir)
    config = TrainConfig(data_dir=data_dir, model_dir=model_dir, batch_size=8, epochs=epochs,
                         image_size=CROP, learning_rate=1e-3, fixed_learning_rate=True)
    start = time.time()
    train.run(config, ngf=16, batch_stats_at_inference=False, verbose=2)
    minutes = (time.time() - start) / 60
    metrics = predict.run(model_dir / "model.keras", output_dir / "predictions", CROP,
                          batch_size=8, data_dir=data_dir, split="test")
    (output_dir / "grid.png").write_bytes((output_dir / "predictions" / "grid.png").read_bytes())
    image_io.write_bytes(output_dir / "metrics.json",
                         json.dumps({k: v for k, v in metrics.items() if k != "per_image"},
                                    indent=2).encode())
    plot_loss(model_dir / "training_log.csv", output_dir / "loss.png")
    print(f"\nDemo done in {minutes:.1f} min of training. In {output_dir}/:")
    print("  grid.png      held-out crops: sketch input | SPL output | photo target")
    print("  loss.png      training and validation loss per epoch")
    print("  metrics.json  PSNR / SSIM on the held-out crops")
    print(f"  run/logs      TensorBoard: tensorboard --logdir {model_dir / 'logs'}")
    base = metrics["baseline"]
    print(f"\nHeld-out test crops ({metrics['images']}):  PSNR {metrics['psnr']:.2f} dB, "
          f"SSIM {metrics['ssim']:.4f}   (the sketch itself: PSNR {base['psnr']:.2f} dB, "
          f"SSIM {base['ssim']:.4f})")
    return metrics


def main(argv: list[str]) -> None:
    del argv
    run(Path(FLAGS.demo_dir), FLAGS.demo_epochs)


def entry_point() -> None:
    errors.run(main)


if __name__ == "__main__":
    entry_point()
