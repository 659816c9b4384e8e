"""Super-resolution costs: SRResNet training step with SPL vs L1, and evaluation speed.

    python benchmarks/sr.py
    python benchmarks/sr.py --batches=4 --rounds=2

Measured side by side in one process: the x4 SRResNet's training step (forward,
gradient, Adam update) at the default 98x98 LR crop (392x392 HR) with SPL and
with L1, with and without XLA, median of interleaved rounds; then whole-image
evaluation of a 510x339 LR image (2040x1356 output, DIV2K's usual size) in output
megapixels per second.
"""

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from applications.srresnet.model import build_srresnet  # noqa: E402
from spl_tf import SPL  # noqa: E402
from timing import loss_step_times, print_ratios  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("batches", ["16", "4"], "Training batch sizes.")
flags.DEFINE_integer("lr_crop", 98, "LR crop side (HR is 4x).")
flags.DEFINE_integer("rounds", 3, "Timed rounds per configuration.")

LOSSES = {"SPL": SPL, "L1": keras.losses.MeanAbsoluteError}
EVAL_LR = (339, 510)  # (height, width): 2040x1356 after x4


def step_times(batch: int) -> dict:
    rng = np.random.default_rng(0)
    lr = rng.uniform(-1, 1, (batch, FLAGS.lr_crop, FLAGS.lr_crop, 3)).astype("float32")
    hr = tf.image.resize(lr, (4 * FLAGS.lr_crop, 4 * FLAGS.lr_crop), "bicubic").numpy()
    return loss_step_times(build_srresnet, LOSSES, lr, hr, FLAGS.rounds)


def evaluation_rate(jit: bool) -> float:
    """Output megapixels per second for one whole DIV2K-sized image (batch 1)."""
    model = build_srresnet()
    infer = tf.function(lambda x: model(x, training=False), jit_compile=jit)
    lr = tf.random.uniform((1, *EVAL_LR, 3), -1, 1)
    infer(lr).numpy()
    times = []
    for _ in range(FLAGS.rounds):
        start = time.perf_counter()
        infer(lr).numpy()
        times.append(time.perf_counter() - start)
    return 16 * EVAL_LR[0] * EVAL_LR[1] / 1e6 / statistics.median(times)


def main(argv):
    del argv
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores; "
          f"SRResNet x4 (1,546,435 parameters), {FLAGS.lr_crop}x{FLAGS.lr_crop} LR crops, "
          f"median of {FLAGS.rounds} rounds\n")
    print(f"{'batch':>5}  {'XLA':<4} {'L1 step s':>10} {'SPL step s':>11} {'SPL / L1':>9}")
    for batch in (int(b) for b in FLAGS.batches):
        print_ratios(batch, step_times(batch))
    print(f"\nEvaluation, {EVAL_LR[1]}x{EVAL_LR[0]} LR -> {4 * EVAL_LR[1]}x{4 * EVAL_LR[0]}:")
    for jit in (False, True):
        print(f"  XLA {'yes' if jit else 'no':<4} {evaluation_rate(jit):8.3f} output megapixels/s")


if __name__ == "__main__":
    app.run(main)
