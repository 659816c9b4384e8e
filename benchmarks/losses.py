"""Forward + gradient cost of SPL next to the paper's direct formulation and L1.

Everything is measured side by side in one process: for each batch size the
configurations are timed in interleaved rounds (so machine noise hits them
alike) and the median of the rounds is reported. Ratios come from the same run.

    python benchmarks/losses.py                # batch 1, 4, 16 at 256x256x3
    python benchmarks/losses.py --batches=16 --rounds=30

Besides the TensorFlow table it reports:

- the JAX backend, timed in a child process of this script (the Keras backend is
  fixed at import) right after the TensorFlow rounds, against TF's L1 and a flat
  `jnp.mean(jnp.abs(...))` L1;
- the float64 check of each formulation: max relative error of value and gradient
  against the float64 reference of tests/spl_tf_tests/spl_tf_tests/test_near_grey.py, on a near-grey
  (chroma 1e-4) and a random input;
- the memory floor of a step: the bytes that must move (read y_true and y_pred,
  write the gradient) over the bandwidth of a large NumPy copy on this machine,
  and each row's ratio to it.

"direct" is the formulation as the paper (and the original code) states it:
normalise every row and column profile, multiply, sum. Written here with
TensorFlow's own ops, it is also an independent check of our values.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
JAX_CHILD = "--jax_child" in sys.argv
if JAX_CHILD:
    os.environ.update(KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from spl_tf import SPL  # noqa: E402
from timing import make_step  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("batches", ["1", "4", "16"], "Batch sizes.")
flags.DEFINE_integer("size", 256, "Image height and width.")
flags.DEFINE_integer("rounds", 15, "Timed rounds per configuration.")
flags.DEFINE_float("target_ratio", 6.0, "Goal for SPL (TF, XLA) / L1 at the largest batch.")
flags.DEFINE_float("jax_target_ratio", 10.0, "Goal for SPL on JAX / TF's L1 at the largest batch.")
flags.DEFINE_bool("jax", True, "Also time the JAX backend (in a child process).")
flags.DEFINE_bool("jax_child", False, "Internal: this process is the JAX child.")


def inputs(batch: int, size: int):
    rng = np.random.default_rng(0)
    real = rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
    fake = np.clip(real + rng.normal(0, 0.3, real.shape), -1, 1).astype("float32")
    return real, fake


def interleaved(steps: dict, args, rounds: int) -> dict[str, float]:
    """Median ms of each `step(*args)` (blocking on its result), timed in turns."""
    times = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            np.asarray(step(*args)[1])
            times[name].append(time.perf_counter() - start)
    return {name: 1e3 * statistics.median(t) for name, t in times.items()}


# --- JAX (child process) -----------------------------------------------------------


def jax_child() -> None:
    """Print one JSON line per batch: SPL and flat-L1 ms on the JAX backend."""
    import jax
    import jax.numpy as jnp

    spl = SPL(reduction="sum")
    steps = {
        "SPL": jax.jit(jax.value_and_grad(lambda t, p: spl(t, p), argnums=1)),
        "L1": jax.jit(jax.value_and_grad(lambda t, p: jnp.mean(jnp.abs(t - p)), argnums=1)),
    }
    for batch in (int(b) for b in FLAGS.batches):
        args = tuple(jnp.asarray(x) for x in inputs(batch, FLAGS.size))
        for step in steps.values():
            for _ in range(3):
                jax.block_until_ready(step(*args))
        print(json.dumps({"batch": batch, **interleaved(steps, args, FLAGS.rounds)}), flush=True)


def run_jax_child() -> dict[int, dict]:
    argv = [sys.executable, __file__, "--jax_child", f"--size={FLAGS.size}",
            f"--rounds={FLAGS.rounds}", f"--batches={','.join(FLAGS.batches)}"]
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    return {row["batch"]: row for row in rows}


# --- TensorFlow ---------------------------------------------------------------------


def direct_spl(real, fake):
    """The original's SPL, term by term, with TensorFlow ops; a scalar."""
    import tensorflow as tf

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


def formulations() -> dict:
    return {
        "SPL (spl_tf)": SPL(reduction="sum"),
        "direct": direct_spl,
        "L1": keras.losses.MeanAbsoluteError(),
    }


def peak_memory_mb(step, y_true, y_pred) -> float:
    """Peak bytes the TF CPU allocator held during one step, above the inputs."""
    import tensorflow as tf

    tf.config.experimental.reset_memory_stats("CPU:0")
    before = tf.config.experimental.get_memory_info("CPU:0")["current"]
    step(y_true, y_pred)[1].numpy()
    return (tf.config.experimental.get_memory_info("CPU:0")["peak"] - before) / 2**20


def bench_batch(batch: int, size: int, rounds: int) -> list[dict]:
    import tensorflow as tf

    y_true, y_pred = (tf.constant(x) for x in inputs(batch, size))
    configs = {}
    for name, fn in formulations().items():
        for jit in (False, True):
            step = make_step(fn, jit)
            for _ in range(3):  # compile and warm up
                value = float(step(y_true, y_pred)[0])
            configs[(name, jit)] = dict(name=name, jit=jit, step=step, value=value,
                                        peak_mb=peak_memory_mb(step, y_true, y_pred))
    ms = interleaved({key: c["step"] for key, c in configs.items()}, (y_true, y_pred), rounds)
    for key, c in configs.items():
        c["ms"] = ms[key]
    return list(configs.values())


def best(configs, name):
    return min((c for c in configs if c["name"] == name), key=lambda c: c["ms"])


# --- float64 check and memory floor -------------------------------------------------


def float64_errors(fn) -> dict[str, tuple[float, float]]:
    """Max relative error of value and gradient (of max|grad|) vs the float64 reference."""
    import tensorflow as tf

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from test_near_grey import TALL, near_grey, reference

    rng = np.random.default_rng(1)
    grey = near_grey(1e-4, shape=TALL)
    random_true = rng.uniform(-1, 1, grey[0].shape).astype("float32")  # one shape, one trace
    random_pred = np.clip(random_true + rng.normal(0, 0.3, random_true.shape), -1, 1)
    cases = {"near-grey 1e-4": grey, "random": (random_true, random_pred.astype("float32"))}
    step = make_step(fn, jit=True)
    errors = {}
    for case, (y_true, y_pred) in cases.items():
        expected, expected_grad = reference("SPL", y_true, y_pred)
        value, grad = step(tf.constant(y_true), tf.constant(y_pred))
        errors[case] = (abs(float(value) - expected.sum()) / abs(expected.sum()),
                        float(np.abs(grad.numpy() - expected_grad).max() / np.abs(expected_grad).max()))
    return errors


def copy_bandwidth_gbs(megabytes: int = 256, rounds: int = 7) -> float:
    """Bytes moved (read + write) per second by a large NumPy copy, GB/s."""
    source = np.ones(megabytes * 2**20 // 4, "float32")
    target = np.empty_like(source)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        np.copyto(target, source)
        times.append(time.perf_counter() - start)
    return 2 * source.nbytes / min(times) / 1e9


def floor_ms(batch: int, size: int, bandwidth_gbs: float) -> float:
    """Read y_true and y_pred, write the gradient: 3 float32 images per sample."""
    return 3 * batch * size * size * 3 * 4 / (bandwidth_gbs * 1e9) * 1e3


# --- report ---------------------------------------------------------------------------


def verdict(ratio: float, target: float) -> str:
    return f"{ratio:.2f} ({'met' if ratio <= target else 'NOT met'})"


def main(argv):
    del argv
    if FLAGS.jax_child:
        return jax_child()
    import tensorflow as tf

    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"{os.cpu_count()} CPU cores; {FLAGS.size}x{FLAGS.size}x3 float32, "
          f"forward + gradient w.r.t. y_pred, median of {FLAGS.rounds} rounds\n")
    bandwidth = copy_bandwidth_gbs()
    print(f"Copy bandwidth (NumPy, 256 MB): {bandwidth:.1f} GB/s\n")
    print(f"{'batch':>5}  {'formulation':<13} {'XLA':<4} {'ms':>9} {'peak MB':>8} "
          f"{'x floor':>8}  value")
    summary = []
    for batch in (int(b) for b in FLAGS.batches):
        configs = bench_batch(batch, FLAGS.size, FLAGS.rounds)
        floor = floor_ms(batch, FLAGS.size, bandwidth)
        for c in configs:
            print(f"{batch:>5}  {c['name']:<13} {'yes' if c['jit'] else 'no':<4} "
                  f"{c['ms']:>9.2f} {c['peak_mb']:>8.1f} {c['ms'] / floor:>8.1f}  {c['value']:.6g}")
        l1 = best(configs, "L1")
        spl_xla = next(c for c in configs if c["name"] == "SPL (spl_tf)" and c["jit"])
        summary.append(dict(batch=batch, floor=floor, l1=l1, spl=best(configs, "SPL (spl_tf)"),
                            spl_xla=spl_xla, direct=best(configs, "direct")))
        print(f"{batch:>5}  memory floor{'':<10} {floor:>9.2f}")
        print()

    jax_rows = run_jax_child() if FLAGS.jax else {}
    if jax_rows:
        print("JAX backend (child process, jax.jit(value_and_grad)):")
        print(f"{'batch':>5}  {'SPL ms':>8}  {'L1 ms':>7}  {'x floor':>7}  {'/ TF L1':>7}  {'/ JAX L1':>8}")
        for row in summary:
            jax = jax_rows[row["batch"]]
            print(f"{row['batch']:>5}  {jax['SPL']:>8.2f}  {jax['L1']:>7.2f}  "
                  f"{jax['SPL'] / row['floor']:>7.1f}  {jax['SPL'] / row['l1']['ms']:>7.2f}  "
                  f"{jax['SPL'] / jax['L1']:>8.2f}")
        print()

    print("Ratios (TF; L1, SPL and direct each at its best of XLA / no XLA):")
    print(f"{'batch':>5}  {'SPL / L1':>9}  {'SPL XLA / L1':>12}  {'direct / L1':>11}  "
          f"{'direct / SPL':>12}  {'L1 x floor':>10}")
    for row in summary:
        l1 = row["l1"]["ms"]
        print(f"{row['batch']:>5}  {row['spl']['ms'] / l1:>9.2f}  {row['spl_xla']['ms'] / l1:>12.2f}  "
              f"{row['direct']['ms'] / l1:>11.2f}  {row['direct']['ms'] / row['spl']['ms']:>12.2f}  "
              f"{l1 / row['floor']:>10.1f}")

    print("\nFloat64 check (max relative error of value / of gradient, vs the float64 reference):")
    for name in ("SPL (spl_tf)", "direct"):
        errors = float64_errors(formulations()[name])
        print(f"  {name:<13} " + "   ".join(f"{case}: {v:.1e} / {g:.1e}"
                                          for case, (v, g) in errors.items()))

    last = summary[-1]
    print(f"\nTarget SPL (TF, XLA) / L1 <= {FLAGS.target_ratio:g} at batch {last['batch']}: "
          f"{verdict(last['spl_xla']['ms'] / last['l1']['ms'], FLAGS.target_ratio)}")
    if jax_rows:
        ratio = jax_rows[last["batch"]]["SPL"] / last["l1"]["ms"]
        print(f"Target SPL (JAX) / TF L1 <= {FLAGS.jax_target_ratio:g} at batch "
              f"{last['batch']}: {verdict(ratio, FLAGS.jax_target_ratio)}")


if __name__ == "__main__":
    app.run(main)
