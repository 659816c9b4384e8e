"""SPL's fused Pallas kernel on a GPU or TPU, against keras.ops SPL, L1 and the memory floor.

    KERAS_BACKEND=jax python benchmarks/pallas_gpu.py             # on a GPU/TPU machine
    KERAS_BACKEND=jax python benchmarks/pallas_gpu.py --interpret  # anywhere, slow, a smoke test

Times forward + gradient w.r.t. the prediction at batch 16, 256x256x3 (flags
change it) of: SPL on the Pallas kernel, SPL on keras.ops (`spl_tf.SPL` on
JAX), and a plain JAX L1. The configurations are timed in interleaved rounds
and the median is reported, with each row's ratio to L1 and to the floor.

Memory floor: a step must read both images and write the gradient, 3 x N x H x W
x C float32 (the loss value is negligible); divided by the bandwidth of a large
device-to-device copy measured here, it is the time no implementation can beat.
Needs only jax, keras and this repository (no TensorFlow).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

SPL_TERMS = {(view, pos): 1.0 for view in ("raw", "yuv") for pos in ("identity", "dx", "dy")}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--inner", type=int, default=10, help="steps per timed round")
    parser.add_argument("--interpret", action="store_true",
                        help="run the kernel in Pallas interpret mode (any device, slow)")
    return parser.parse_args()


def make_steps(platform: str):
    """name -> jitted (y_true, y_pred) -> (value, d value / d y_pred)."""
    from spl_tf import SPL, config
    from spl_tf.kernels import pallas_profiles

    def pallas_spl(t, p):
        return jnp.sum(pallas_profiles.weighted_profiles_pallas(t, p, SPL_TERMS, platform=platform))

    keras_spl = SPL(reduction="sum")
    config.set_profile_kernel("keras")  # the keras.ops row must not take the kernel

    def l1(t, p):
        return jnp.mean(jnp.abs(t - p))

    fns = {"SPL (Pallas kernel)": pallas_spl, "SPL (keras.ops)": keras_spl, "L1": l1}
    return {name: jax.jit(jax.value_and_grad(fn, argnums=1)) for name, fn in fns.items()}


def copy_bandwidth(n_bytes: int = 1 << 28, repeats: int = 10) -> float:
    """Bytes/s of a device copy (read + write) of an `n_bytes` buffer, best of `repeats`."""
    x = jnp.ones((n_bytes // 4,), jnp.float32)
    copy = jax.jit(lambda v: v + 0.0)  # not elided, unlike a bare copy
    copy(x).block_until_ready()
    best = min(_seconds(lambda: copy(x).block_until_ready()) for _ in range(repeats))
    return 2 * n_bytes / best


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    args = parse_args()
    if keras.backend.backend() != "jax":
        sys.exit("pallas_gpu: needs KERAS_BACKEND=jax")
    device = jax.default_backend()
    if device not in ("gpu", "tpu") and not args.interpret:
        sys.exit(f"pallas_gpu: no GPU or TPU here (JAX's device is {device!r}); "
                 "give --interpret for a slow smoke test")
    platform = "interpret" if args.interpret else device

    rng = np.random.default_rng(0)
    shape = (args.batch, args.size, args.size, 3)
    real = rng.uniform(-1, 1, shape).astype("float32")
    fake = np.clip(real + rng.normal(0, 0.3, shape), -1, 1).astype("float32")
    real, fake = jax.device_put(real), jax.device_put(fake)

    steps = make_steps(platform)
    outputs = {name: jax.block_until_ready(step(real, fake)) for name, step in steps.items()}
    (v_k, g_k), (v_r, g_r) = outputs["SPL (Pallas kernel)"], outputs["SPL (keras.ops)"]
    print(f"device: {jax.devices()[0].device_kind} ({platform}); batch {args.batch}, "
          f"{args.size}x{args.size}x3, forward + gradient")
    print(f"kernel vs keras.ops: value rel {abs(float(v_k - v_r)) / abs(float(v_r)):.1e}, "
          f"gradient max abs {float(jnp.max(jnp.abs(g_k - g_r))):.1e}")

    times = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, step in steps.items():
            def run(step=step):
                for _ in range(args.inner):
                    out = step(real, fake)
                jax.block_until_ready(out)
            times[name].append(_seconds(run) / args.inner)

    floor = 3 * int(np.prod(shape)) * 4 / copy_bandwidth()
    l1 = statistics.median(times["L1"])
    print(f"memory floor: {floor * 1e3:.3f} ms (3 x {np.prod(shape) * 4 / 1e6:.2f} MB / copy bandwidth)")
    print(f"{'':22s} {'ms':>9s} {'x L1':>7s} {'x floor':>8s}")
    for name, values in times.items():
        t = statistics.median(values)
        print(f"{name:22s} {t * 1e3:9.3f} {t / l1:7.2f} {t / floor:8.2f}")


if __name__ == "__main__":
    main()
