"""`make demo`: edges to photo, learnt with the Spatial Profile Loss alone.

A paired dataset is cut from colour photographs that ship with scikit-image:
the input is a sketch of the photo (its edges, dark on white, as in pix2pix's
edges2* datasets), the target the photo. Training crops come from the left
part of each photo, validation and test crops from the right part it never
sees. The pix2pix trainer learns sketch -> photo, and the held-out crops are
scored against the trivial baseline, the sketch itself.

    python -m applications.pix2pix.demo [--output_dir=demo_output] [--epochs=8]

Writes to OUTPUT_DIR: `data/` (the pairs), `run/` (checkpoints, TensorBoard
logs, training_log.csv), `grid.png` (held-out input | output | target),
`loss.png`, `metrics.json`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from absl import flags

from applications.common.config import GeneratorConfig, PredictionConfig, TrainingConfig
from applications.pix2pix.config import Pix2PixConfig, Pix2PixData, Pix2PixPredictConfig
from spl_tf.utils import cli, files, image_io

PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field")
CROP = 64
TRAIN_FRACTION = 0.7  # left part of each photo for training, the rest held out
CROPS_PER_PHOTO = {"train": 150, "val": 1, "test": 4}


def sketch(rgb: np.ndarray) -> np.ndarray:
    """Canny edges of the photo, dark lines on white, as a 3-channel image."""
    grey = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (3, 3), 0)
    edges = cv2.Canny(grey, 60, 140)
    return np.repeat((255 - edges)[..., None], 3, axis=2)


def build_pairs(data_dir: Path, seed: int = 0, crops: dict[str, int] | None = None) -> None:
    """Write `[grey | colour]` crops into train/, val/ and test/, `crops` (default
    `CROPS_PER_PHOTO`) of each photo for each split."""
    rng = np.random.default_rng(seed)
    crops = CROPS_PER_PHOTO if crops is None else crops
    for name in PHOTOS:
        photo = getattr(skimage.data, name)()[..., :3]
        # Half size: a 64-pixel crop then holds recognisable content.
        photo = cv2.resize(photo, (photo.shape[1] // 2, photo.shape[0] // 2),
                           interpolation=cv2.INTER_AREA)
        pair = np.concatenate([sketch(photo), photo], axis=2)
        split_x = int(photo.shape[1] * TRAIN_FRACTION)
        regions = {"train": pair[:, :split_x], "val": pair[:, split_x:], "test": pair[:, split_x:]}
        for split, count in crops.items():
            region = regions[split]
            for i in range(count):
                y = rng.integers(0, region.shape[0] - CROP + 1)
                x = rng.integers(0, region.shape[1] - CROP + 1)
                crop = region[y:y + CROP, x:x + CROP]
                image_io.write_rgb(data_dir / split / f"{name}_{i:03d}.png",
                                   np.concatenate([crop[..., :3], crop[..., 3:]], axis=1))


def config(data_dir: Path, epochs: int) -> Pix2PixConfig:
    """The demo's settings: small crops, a narrow generator, a fixed learning rate."""
    return Pix2PixConfig(
        data=Pix2PixData(data_dir=str(data_dir), image_size=CROP),
        model=GeneratorConfig(ngf=16, batch_stats_at_inference=False),
        training=TrainingConfig(batch_size=8, epochs=epochs, learning_rate=1e-3,
                                fixed_learning_rate=True, verbose=2),
    )


def run(output_dir: Path, epochs: int) -> dict:
    # TensorFlow, only now: the demo's --help needs none.
    from applications.common import plots, prediction, training
    from applications.pix2pix.application import Pix2Pix

    data_dir, model_dir = output_dir / "data", output_dir / "run"
    if not (data_dir / "test").is_dir():
        build_pairs(data_dir)
    train_config = config(data_dir, epochs)
    start = time.time()
    training.train(Pix2Pix(), train_config, model_dir)
    minutes = (time.time() - start) / 60
    _, metrics = prediction.predict(Pix2Pix(), Pix2PixPredictConfig(
        prediction=PredictionConfig(model_dir=str(model_dir),
                                    output_dir=str(output_dir / "predictions"), batch_size=8),
        data=train_config.data))
    (output_dir / "grid.png").write_bytes((output_dir / "predictions" / "grid.png").read_bytes())
    files.write_bytes(output_dir / "metrics.json",
                         json.dumps({k: v for k, v in metrics.items() if k != "per_image"},
                                    indent=2).encode())
    plots.loss_curves(model_dir / "training_log.csv", output_dir / "loss.png", "SPL")
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


def define_flags(flag_values: flags.FlagValues) -> None:
    """The demo's flags, defined when it runs (importing defines none)."""
    where = {"flag_values": flag_values, "module_name": "demo"}
    flags.DEFINE_string("output_dir", "demo_output", "Where the demo writes everything.", **where)
    flags.DEFINE_integer("epochs", 8, "Training epochs.", lower_bound=1, **where)


def main() -> None:
    cli.import_quietly("tensorflow")
    run(Path(flags.FLAGS.output_dir), flags.FLAGS.epochs)


def entry_point() -> None:
    cli.run(main, define_flags)


if __name__ == "__main__":
    entry_point()
