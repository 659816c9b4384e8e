"""Data-parallel train-step throughput on JAX for 1, 2 and 4 devices.

    python benchmarks/scaling.py                      # simulated CPU devices
    python benchmarks/scaling.py --devices=1 --real   # the machine's own devices (GPU/TPU)

Each device count runs in a fresh process (`XLA_FLAGS=
--xla_force_host_platform_device_count=N` on the CPU: the device count is fixed when
JAX starts) with `keras.distribution.DataParallel`, the pix2pix ResNet-9 generator and
SPL, the same global batch for every count. On simulated CPU devices the N "devices"
share the same cores, so this measures what splitting the batch and gathering the
gradients costs, not a speed-up; on a machine with several GPUs (`--real`) it is the
speed-up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from absl import app, flags

STEP = r"""
import json, statistics, sys, time
import keras, numpy as np
from applications.common.resnet_generator import build_generator
from spl_tf import SPL
batch, size, ngf, steps, loss = json.loads(sys.argv[1])
keras.distribution.set_distribution(keras.distribution.DataParallel())
keras.utils.set_random_seed(0)
model = build_generator(ngf=ngf)
model.compile(keras.optimizers.Adam(2e-4), loss=SPL() if loss == "SPL" else "mae")
rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (batch, size, size, 3)).astype("float32")
y = np.tanh(x[..., ::-1] * 1.5).astype("float32")
for _ in range(2):
    model.train_on_batch(x, y)  # compile, warm up
times = []
for _ in range(steps):
    start = time.perf_counter()
    model.train_on_batch(x, y)
    times.append(time.perf_counter() - start)
print(json.dumps({"devices": len(keras.distribution.list_devices()),
                  "step": statistics.median(times)}))
"""


def define_flags(flag_values: flags.FlagValues) -> None:
    fv = {"flag_values": flag_values}
    flags.DEFINE_list("devices", ["1", "2", "4"], "Device counts.", **fv)
    flags.DEFINE_integer("batch", 16, "Global batch size.", **fv)
    flags.DEFINE_integer("size", 64, "Image height and width.", **fv)
    flags.DEFINE_integer("ngf", 16, "Generator width.", **fv)
    flags.DEFINE_integer("steps", 5, "Timed steps per configuration (median).", **fv)
    flags.DEFINE_list("losses", ["SPL", "L1"], "Losses to time.", **fv)
    flags.DEFINE_boolean("real", False, "Use the machine's devices instead of simulated "
                         "CPU devices.", **fv)


def time_step(devices: int, loss: str, values) -> dict:
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    if not values.real:
        env.update(JAX_PLATFORMS="cpu",
                   XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    spec = json.dumps([values.batch, values.size, values.ngf, values.steps, loss])
    result = subprocess.run([sys.executable, "-c", STEP, spec], env=env, capture_output=True,
                            text=True, timeout=1800, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{devices} devices, {loss}: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(_) -> None:
    values = flags.FLAGS
    kind = "real devices" if values.real else "simulated CPU devices (overhead, not speed-up)"
    print(f"ResNet-9 ngf {values.ngf}, global batch {values.batch}, {values.size}x"
          f"{values.size}, JAX, {kind}")
    print(f"{'loss':<5}{'devices':>8}{'s/step':>10}{'images/s':>10}{'vs 1':>8}")
    for loss in values.losses:
        base = None
        for devices in map(int, values.devices):
            measured = time_step(devices, loss, values)
            base = base or measured["step"]
            print(f"{loss:<5}{measured['devices']:>8}{measured['step']:>10.3f}"
                  f"{values.batch / measured['step']:>10.1f}{base / measured['step']:>8.2f}")


if __name__ == "__main__":
    define_flags(flags.FLAGS)
    app.run(main)
