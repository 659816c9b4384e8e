"""Forward + gradient cost of SPL next to the paper's direct formulation and L1.

Everything is measured side by side in one process: for each batch size the
configurations are timed in interleaved rounds (so machine noise hits them
alike) and the median of the rounds is reported. Ratios come from the same run.

    python benchmarks/losses.py                # batch 1, 4, 16 at 256x256x3
    python benchmarks/losses.py --batches=16 --rounds=30

"direct" is the formulation as the paper (and the original code) states it:
normalise every row and column profile, multiply, sum. Written here with
TensorFlow's own ops, it is also an independent check of our values.
"""

import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402

from spl_tf import SPL  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("batches", ["1", "4", "16"], "Batch sizes.")
flags.DEFINE_integer("size", 256, "Image height and width.")
flags.DEFINE_integer("rounds", 15, "Timed rounds per configuration.")
flags.DEFINE_float("target_ratio", 4.0, "Goal for SPL / L1 at the largest batch.")


def direct_spl(real, fake):
    """The original's SPL, term by term, with TensorFlow ops; a scalar."""

    def sim(a, b):
        rows = tf.reduce_sum(tf.math.l2_normalize(a, 2) * tf.math.l2_normalize(b, 2))
        cols = tf.reduce_sum(tf.math.l2_normalize(a, 1) * tf.math.l2_normalize(b, 1))
        return -(rows + cols) / a.shape[1]

    real, fake = (real + 1) / 2, (fake + 1) / 2
    (dy_r, dx_r), (dy_f, dx_f) = tf.image.image_gradients(real), tf.image.image_gradients(fake)
    yuv_r, yuv_f = tf.image.rgb_to_yuv(real), tf.image.rgb_to_yuv(fake)
    (dyy_r, dxy_r), (dyy_f, dxy_f) = tf.image.image_gradients(yuv_r), tf.image.image_gradients(yuv_f)
    gp = sim(dx_r, dx_f) + sim(dy_r, dy_f)
    cp = sim(real, fake) + sim(yuv_r, yuv_f) + sim(dxy_r, dxy_f) + sim(dyy_r, dyy_f)
    return gp + cp


FORMULATIONS = {
    "SPL (spl_tf)": SPL(reduction="sum"),
    "direct": direct_spl,
    "L1": keras.losses.MeanAbsoluteError(),
}


def make_step(loss_fn, jit: bool):
    @tf.function(jit_compile=jit)
    def step(y_true, y_pred):
        with tf.GradientTape() as tape:
            tape.watch(y_pred)
            value = loss_fn(y_true, y_pred)
        return value, tape.gradient(value, y_pred)

    return step


def run_once(step, y_true, y_pred) -> float:
    start = time.perf_counter()
    value, grad = step(y_true, y_pred)
    grad.numpy()  # waits for the gradient, and makes the output real
    return time.perf_counter() - start, float(value)


def peak_memory_mb(step, y_true, y_pred) -> float:
    """Peak bytes the TF CPU allocator held during one step, above the inputs."""
    tf.config.experimental.reset_memory_stats("CPU:0")
    before = tf.config.experimental.get_memory_info("CPU:0")["current"]
    step(y_true, y_pred)[1].numpy()
    return (tf.config.experimental.get_memory_info("CPU:0")["peak"] - before) / 2**20


def bench_batch(batch: int, size: int, rounds: int) -> list[dict]:
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    fake = np.clip(real + rng.normal(0, 0.3, real.shape), -1, 1).astype("float32")
    y_true, y_pred = tf.constant(real), tf.constant(fake)

    configs = []
    for name, fn in FORMULATIONS.items():
        for jit in (False, True):
            step = make_step(fn, jit)
            for _ in range(3):  # compile and warm up
                _, value = run_once(step, y_true, y_pred)
            configs.append(dict(name=name, jit=jit, step=step, value=value, times=[]))
    for config in configs:
        config["peak_mb"] = peak_memory_mb(config["step"], y_true, y_pred)
    for _ in range(rounds):
        for config in configs:
            config["times"].append(run_once(config["step"], y_true, y_pred)[0])
    for config in configs:
        config["ms"] = 1e3 * statistics.median(config["times"])
    return configs


def best(configs, name):
    return min((c for c in configs if c["name"] == name), key=lambda c: c["ms"])


def main(argv):
    del argv
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"{os.cpu_count()} CPU cores; {FLAGS.size}x{FLAGS.size}x3 float32, "
          f"forward + gradient w.r.t. y_pred, median of {FLAGS.rounds} rounds\n")
    print(f"{'batch':>5}  {'formulation':<13} {'XLA':<4} {'ms':>9} {'peak MB':>8}  value")
    summary = []
    for batch in (int(b) for b in FLAGS.batches):
        configs = bench_batch(batch, FLAGS.size, FLAGS.rounds)
        for c in configs:
            print(f"{batch:>5}  {c['name']:<13} {'yes' if c['jit'] else 'no':<4} "
                  f"{c['ms']:>9.2f} {c['peak_mb']:>8.1f}  {c['value']:.6g}")
        spl, direct, l1 = best(configs, "SPL (spl_tf)"), best(configs, "direct"), best(configs, "L1")
        agree = abs(spl["value"] - direct["value"]) <= 1e-5 * abs(direct["value"])
        summary.append((batch, spl, direct, l1, agree))
        print()

    print("Ratios (each formulation at its best of XLA / no XLA):")
    print(f"{'batch':>5}  {'SPL / L1':>9}  {'direct / L1':>11}  {'direct / SPL':>12}  values agree")
    for batch, spl, direct, l1, agree in summary:
        print(f"{batch:>5}  {spl['ms'] / l1['ms']:>9.2f}  {direct['ms'] / l1['ms']:>11.2f}  "
              f"{direct['ms'] / spl['ms']:>12.2f}  {'yes' if agree else 'NO'}")
    batch, spl, _, l1, _ = summary[-1]
    ratio = spl["ms"] / l1["ms"]
    verdict = "met" if ratio <= FLAGS.target_ratio else "NOT met"
    print(f"\nTarget SPL / L1 <= {FLAGS.target_ratio:g} at batch {batch}: {ratio:.2f} ({verdict})")


if __name__ == "__main__":
    app.run(main)
