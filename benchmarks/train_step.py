"""What SPL adds to a ResNet-9 training step, and whether input keeps up.

    python benchmarks/train_step.py                 # 256x256, batch 1 and 4
    python benchmarks/train_step.py --batches=1 --rounds=2

Measured side by side in one process: the pix2pix generator's training step
(forward, gradient, Adam update) with SPL and with L1, with and without XLA,
timed in interleaved rounds (median reported); then the tf.data pipeline of
`applications.common.pairs` on real [input | target] PNGs, in images per
second, against what the training step consumes.
"""

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from applications.common import pairs  # noqa: E402
from applications.common.resnet_generator import build_generator  # noqa: E402
from spl_tf import SPL  # noqa: E402
from timing import loss_step_times, print_ratios  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("batches", ["1", "4"], "Batch sizes.")
flags.DEFINE_integer("size", 256, "Image height and width.")
flags.DEFINE_integer("rounds", 3, "Timed rounds per configuration.")
flags.DEFINE_integer("pipeline_images", 64, "Pair images written for the input benchmark.")
flags.DEFINE_integer("ngf", 64, "Generator width (the original's 64).")

LOSSES = {"SPL": SPL, "L1": keras.losses.MeanAbsoluteError}


def step_times(batch: int) -> dict:
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (batch, FLAGS.size, FLAGS.size, 3)).astype("float32")
    y = np.tanh(x[..., ::-1] * 1.5).astype("float32")
    return loss_step_times(lambda: build_generator(ngf=FLAGS.ngf), LOSSES, x, y, FLAGS.rounds)


def pipeline_rate(batch: int, folder: Path) -> float:
    """Images per second out of the training pipeline (decode, resize, flip, batch)."""
    files = pairs.scan_split(folder, "train")
    ds = pairs.pairs_dataset(files, FLAGS.size, batch, pairs.PairFormat(), training=True)
    batches = 2 * len(files) // batch
    for _ in ds.take(2):
        pass
    start = time.perf_counter()
    for _ in ds.take(batches):
        pass
    return batches * batch / (time.perf_counter() - start)


def write_pairs(folder: Path) -> None:
    """512x256 [input | target] PNGs from scikit-image photographs."""
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea(),
              skimage.data.rocket()]
    rng = np.random.default_rng(0)
    (folder / "train").mkdir(parents=True)
    for i in range(FLAGS.pipeline_images):
        photo = photos[i % len(photos)]
        y0 = rng.integers(0, photo.shape[0] - 256 + 1)
        x0 = rng.integers(0, photo.shape[1] - 256 + 1)
        target = photo[y0:y0 + 256, x0:x0 + 256]
        pair = np.concatenate([cv2.Canny(target, 60, 140)[..., None].repeat(3, 2), target], 1)
        cv2.imwrite(str(folder / "train" / f"{i:04d}.png"), pair[..., ::-1])


def main(argv):
    del argv
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores; "
          f"ResNet-9 generator ngf={FLAGS.ngf} at {FLAGS.size}x{FLAGS.size}, Adam step, "
          f"median of {FLAGS.rounds} rounds\n")
    print(f"{'batch':>5}  {'XLA':<4} {'L1 step s':>10} {'SPL step s':>11} {'SPL / L1':>9}")
    best_steps = {}
    for batch in (int(b) for b in FLAGS.batches):
        times = step_times(batch)
        print_ratios(batch, times)
        best_steps[batch] = min(times[("SPL", True)], times[("SPL", False)])

    print(f"\n{'batch':>5}  {'pipeline img/s':>15} {'training img/s':>15} {'ratio':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        write_pairs(Path(tmp))
        for batch, step in best_steps.items():
            produced, consumed = pipeline_rate(batch, Path(tmp)), batch / step
            print(f"{batch:>5}  {produced:>15.1f} {consumed:>15.2f} {produced / consumed:>7.1f}")
    print("\nTargets: SPL / L1 <= 1.03 (SPL adds at most 3%); pipeline / training >= 3.")


if __name__ == "__main__":
    app.run(main)
