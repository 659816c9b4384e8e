r"""Speed and memory of the field's metrics against a bare forward pass of their networks.

    python benchmarks/metrics.py
    python benchmarks/metrics.py --lpips_size=256 --lpips_batch=4 --fid_batch=50 --rounds=5

In one process, timed in interleaved rounds (the median is reported):

- **LPIPS** (`spl_tf.lpips.LPIPSDistance`, AlexNet and VGG16) on `--lpips_batch` image pairs
  of `--lpips_size` pixels, against the bare forward pass of its backbone (the tapped
  feature model) over the same 2N images: what the metric adds is the unit-length
  normalisation of five feature maps, the heads and the spatial means.
- **FID features** (pytorch-fid's Inception-v3, `spl_tf.fid`) of `--fid_batch` uint8 images
  of `--fid_size` pixels (resized to 299 inside the network), as an array
  (`InceptionFeatures`: the range check, the [0, 1] conversion, the network) and as a folder
  of PNG files streamed into float64 statistics (`folder_statistics`: decoding, the
  network, the running mean and 2048 x 2048 scatter), against the bare forward pass of the
  same Keras model (`predict_on_batch` on images already in [0, 1]).

Images per second count image pairs for LPIPS (the bare pass runs 2N images for N pairs).
Peak memory is what the TensorFlow CPU allocator (its BFC allocator, which keeps
statistics) held during one call above what it held before, plus the peak of Python's own
allocations (`tracemalloc`: decoded images, features,
statistics). The weights are random: the time of a network does not depend on their values
(the published files are not needed, nor fetched).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# TensorFlow keeps statistics of what its CPU allocator holds only with its BFC allocator;
# the bare passes and the metrics run under the same one.
os.environ.setdefault("TF_CPU_ALLOCATOR_USE_BFC", "true")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402
from keras import ops  # noqa: E402

from spl_tf import fid  # noqa: E402
from spl_tf.lpips import LPIPSDistance  # noqa: E402
from spl_tf.utils import cli, image_io  # noqa: E402

MB = 2**20


def define_flags(flag_values: flags.FlagValues) -> None:
    fv = {"flag_values": flag_values}
    flags.DEFINE_integer("lpips_size", 256, "Height and width of the LPIPS images.", **fv)
    flags.DEFINE_integer("lpips_batch", 4, "Image pairs per LPIPS call.", **fv)
    flags.DEFINE_integer("fid_size", 32, "Height and width of the FID images (resized to "
                         "299 inside the network).", **fv)
    flags.DEFINE_integer("fid_batch", 50, "Images per Inception call (pytorch-fid's 50).", **fv)
    flags.DEFINE_integer("rounds", 5, "Timed rounds of every configuration.", **fv)


def peak_mb(call: Callable[[], object]) -> float:
    """MB the TF CPU allocator held at most during `call()` above what it held before, plus
    the peak of Python's own allocations."""
    import tensorflow as tf

    tf.config.experimental.reset_memory_stats("CPU:0")
    before = tf.config.experimental.get_memory_info("CPU:0")["current"]
    tracemalloc.start()
    try:
        call()
        python = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    held = tf.config.experimental.get_memory_info("CPU:0")["peak"] - before
    return (held + python) / MB


def lpips_cases(size: int, batch: int) -> dict[str, tuple[Callable, int]]:
    """{name: (call, images it scores)}: each backbone bare, then LPIPS."""
    rng = np.random.RandomState(0)
    x0, x1 = (rng.uniform(-1, 1, (batch, size, size, 3)).astype(np.float32) for _ in "ab")
    both = ops.convert_to_tensor(np.concatenate([x0, x1]))
    cases = {}
    for net, label in (("alex", "AlexNet"), ("vgg", "VGG16")):
        distance = LPIPSDistance(net, None)
        cases[f"{label} bare forward (2N images)"] = (
            lambda d=distance: ops.convert_to_numpy(d.backbone(both)[-1]), batch)
        cases[f"{label} LPIPS"] = (
            lambda d=distance: ops.convert_to_numpy(d(x0, x1)), batch)
    return cases


def fid_cases(size: int, batch: int, folder: Path) -> dict[str, tuple[Callable, int]]:
    """{name: (call, images it takes)}: Inception bare, on arrays, on a folder of PNGs."""
    rng = np.random.RandomState(1)
    images = rng.randint(0, 256, (batch, size, size, 3)).astype(np.uint8)
    for i, image in enumerate(images):
        image_io.write_rgb(folder / f"{i:04d}.png", image)
    network = fid.InceptionFeatures(None)
    unit = images.astype(np.float32) / 255.0
    return {
        "Inception bare forward": (lambda: network.model.predict_on_batch(unit), batch),
        "Inception features of arrays": (lambda: network(images, (0, 255)), batch),
        "Inception folder statistics": (
            lambda: fid.folder_statistics(folder, network, batch_size=batch), batch),
    }


def measure(cases: dict[str, tuple[Callable, int]], rounds: int) -> dict[str, dict]:
    """Median seconds per call (interleaved rounds, after a warm-up call) and peak MB."""
    for call, _ in cases.values():
        call()  # trace, allocate
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (call, _) in cases.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: {"seconds": statistics.median(times[name]), "images": images,
                   "peak_mb": peak_mb(call)}
            for name, (call, images) in cases.items()}


def table(results: dict[str, dict], bare_of: Callable[[str], str]) -> list[str]:
    lines = [f"{'':<38} {'images/s':>9} {'s/call':>8} {'peak MB':>8} {'/ bare':>7}"]
    for name, r in results.items():
        bare = results[bare_of(name)]["seconds"]
        lines.append(f"{name:<38} {r['images'] / r['seconds']:>9.2f} {r['seconds']:>8.3f} "
                     f"{r['peak_mb']:>8.1f} {r['seconds'] / bare:>7.2f}")
    return lines


def main() -> None:
    cli.import_quietly("tensorflow")
    import tensorflow as tf

    values = flags.FLAGS
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU "
          f"cores; median of {values.rounds} interleaved rounds, random weights\n")
    lpips = measure(lpips_cases(values.lpips_size, values.lpips_batch), values.rounds)
    print(f"LPIPS, {values.lpips_batch} pairs of {values.lpips_size}x{values.lpips_size} "
          "(images/s: pairs)")
    print("\n".join(table(lpips, lambda name: name.split()[0] + " bare forward (2N images)")))
    with tempfile.TemporaryDirectory() as folder:
        inception = measure(fid_cases(values.fid_size, values.fid_batch, Path(folder)),
                            values.rounds)
    print(f"\nFID features, {values.fid_batch} images of {values.fid_size}x{values.fid_size} "
          "(resized to 299)")
    print("\n".join(table(inception, lambda name: "Inception bare forward")))
    sys.stdout.flush()


if __name__ == "__main__":
    cli.run(main, define_flags)
