"""Where an XLA-compiled loss step spends its time, kernel by kernel (TensorFlow, CPU).

    python benchmarks/xla_profile.py                  # SPL, batch 16, 256x256x3
    python benchmarks/xla_profile.py --loss=l1 --batch=4

The step (forward + gradient w.r.t. y_pred, `tf.function(jit_compile=True)`) runs
under the TensorFlow profiler; the time of each XLA kernel (a fusion, a GEMV, a
reduce-window...), from its start to its end on the thread that launched it, is
averaged over the profiled steps. XLA splits a kernel's loop over the cores inside
that span, and kernels that run side by side are each counted: the sum is neither the
step's wall time nor its CPU time (time the step under `taskset -c 0` to compare work).
The names are those of the optimised HLO module, which
`XLA_FLAGS=--xla_dump_to=DIR --xla_dump_hlo_as_text` writes as
`*after_optimizations.txt`: read the two side by side to see what each kernel fuses
and which image-sized buffers it writes. Shares are of the kernels' summed time.
"""

import collections
import os
import re
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from timing import make_step  # noqa: E402

FLAGS = flags.FLAGS

# XLA names its kernels after HLO instructions (`bitcast_dot_fusion.2`,
# `wrapped_reduce-window`); the runtime's own events are CamelCase
# (`ThunkExecutor::Execute`, `TFE_...`) or markers (`end: ...`). `step` is the traced
# Python function.
_KERNEL_NAME = re.compile(r"[a-z][a-z0-9_.\-]*")


def define_flags() -> None:
    flags.DEFINE_enum("loss", "spl", ["spl", "gpl", "cpl", "l1"], "Loss to profile.")
    flags.DEFINE_integer("batch", 16, "Batch size.")
    flags.DEFINE_integer("size", 256, "Image height and width.")
    flags.DEFINE_integer("steps", 5, "Profiled steps (after 3 warm-up steps).")
    flags.DEFINE_integer("top", 25, "Kernels to list.")


def make_loss(name: str):
    import spl_tf

    return {
        "spl": lambda: spl_tf.SPL(reduction="sum"),
        "gpl": lambda: spl_tf.GPL(reduction="sum"),
        "cpl": lambda: spl_tf.CPL(reduction="sum"),
        "l1": keras.losses.MeanAbsoluteError,
    }[name]()


def kernel_ms(xspace_path: Path, steps: int) -> collections.Counter:
    """Milliseconds per step of each XLA kernel in a profiler trace, start to end."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(xspace_path.read_bytes())
    totals = collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        for line in plane.lines:
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if _KERNEL_NAME.fullmatch(name) and name != "step":
                    totals[name] += event.duration_ps / 1e9 / steps
    return totals


def main(argv) -> None:
    del argv
    import tensorflow as tf

    step = make_step(make_loss(FLAGS.loss), jit=True)

    rng = np.random.default_rng(0)
    shape = (FLAGS.batch, FLAGS.size, FLAGS.size, 3)
    y_true = tf.constant(rng.uniform(-1, 1, shape).astype("float32"))
    y_pred = tf.constant(rng.uniform(-1, 1, shape).astype("float32"))
    for _ in range(3):
        step(y_true, y_pred)[1].numpy()
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(FLAGS.steps):
            step(y_true, y_pred)[1].numpy()
        tf.profiler.experimental.stop()
        trace = next(Path(logdir).rglob("*.xplane.pb"))
        totals = kernel_ms(trace, FLAGS.steps)

    total = sum(totals.values())
    print(f"{FLAGS.loss.upper()}, batch {FLAGS.batch}, {FLAGS.size}x{FLAGS.size}x3, TF "
          f"{tf.__version__}: {total:.1f} kernel-ms per step over {len(totals)} kernels")
    print(f"{'ms':>8}  {'share':>6}  kernel")
    for name, ms in totals.most_common(FLAGS.top):
        print(f"{ms:8.3f}  {100 * ms / total:5.1f}%  {name}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    define_flags()
    app.run(main)
