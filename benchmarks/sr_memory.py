r"""Super-resolution predict memory vs input size, tiled and untiled.

    python benchmarks/sr_memory.py
    python benchmarks/sr_memory.py --sizes=500x375,1000x750 --num_blocks=16 --filters=64

A small x4 SRResNet (4 blocks, 16 filters by default, random weights) is saved as a
`.keras` checkpoint and loaded as `predict` loads it (`prediction.load_predictor`),
then run through the SR application's `inference` hook on one random LR image of
each size, with `--tile_size` / `--tile_overlap` as given and with tiling off. Each
case runs in a fresh subprocess, so its peak resident memory (VmHWM) is its own:
the table shows the peak before the image (TensorFlow, the model, one warm-up call
on a 16x16 image) and during it, and the wall-clock and CPU (user + system)
seconds of the call (CPU seconds stay comparable when other work shares the
machine). Untiled cases whose memory, extrapolated from the previous untiled size,
would pass `--max_gb` are skipped.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from applications.common.config import PredictionConfig  # noqa: E402
from applications.common.prediction import load_predictor  # noqa: E402
from applications.srresnet.application import SuperResolution  # noqa: E402
from applications.srresnet.config import (DEFAULT_TILE_OVERLAP, DEFAULT_TILE_SIZE,  # noqa: E402
                                          SRInference, SRPredictConfig)
from applications.srresnet.model import build_srresnet  # noqa: E402
from fcc_dataset import cli  # noqa: E402

SIZES = ["250x188", "500x375", "1000x750", "2000x1500"]  # LR width x height


def define_flags(flag_values: flags.FlagValues) -> None:
    fv = {"flag_values": flag_values}
    flags.DEFINE_list("sizes", SIZES, "LR sizes, WIDTHxHEIGHT.", **fv)
    flags.DEFINE_integer("scale", 4, "Upscaling factor of the model.", **fv)
    flags.DEFINE_integer("num_blocks", 4, "Residual blocks of the model.", **fv)
    flags.DEFINE_integer("filters", 16, "Filters of the model.", **fv)
    flags.DEFINE_integer("tile_size", DEFAULT_TILE_SIZE, "Tile side (LR pixels).", **fv)
    flags.DEFINE_integer("tile_overlap", DEFAULT_TILE_OVERLAP, "Tile overlap (LR pixels).",
                         **fv)
    flags.DEFINE_float("max_gb", 16.0, "Skip untiled cases expected to peak above this.", **fv)
    # Internal: run one case (a size) in this process and print its numbers as JSON.
    flags.DEFINE_string("case", None, "Internal: the LR size of the one case to run.", **fv)
    flags.DEFINE_string("checkpoint", None, "Internal: the model of the case.", **fv)


def peak_mb() -> float:
    """This process's peak resident memory (VmHWM), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def cpu_seconds() -> float:
    """User + system CPU time of this process so far: readable on a busy machine."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _parse_size(size: str) -> tuple[int, int]:
    width, height = (int(v) for v in size.lower().split("x"))
    return width, height


def run_case(checkpoint: Path, size: str, tile_size: int, overlap: int) -> dict:
    """One image through the SR inference hook, in this process: peaks and seconds."""
    config = SRPredictConfig(
        prediction=PredictionConfig(checkpoint=str(checkpoint), output_dir=tempfile.gettempdir()),
        inference=SRInference(tile_size=tile_size, tile_overlap=overlap))
    predict = SuperResolution().inference(config, load_predictor(checkpoint))
    predict(np.zeros((1, 16, 16, 3), "float32"))  # one-time set-up, not the image's cost
    width, height = _parse_size(size)
    image = np.random.default_rng(0).uniform(-1, 1, (1, height, width, 3)).astype("float32")
    before, start, cpu = peak_mb(), time.perf_counter(), cpu_seconds()
    output = predict(image)
    seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
    return {"before_mb": before, "peak_mb": peak_mb(), "seconds": seconds, "cpu_seconds": cpu,
            "output": list(output.shape[1:3])}


def _subprocess_case(checkpoint: Path, size: str, tile_size: int, overlap: int) -> dict:
    """`run_case` in a fresh interpreter, so that the peak is this case's alone."""
    result = subprocess.run(
        [sys.executable, __file__, f"--case={size}", f"--checkpoint={checkpoint}",
         f"--tile_size={tile_size}", f"--tile_overlap={overlap}"],
        capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return {"error": (result.stderr.strip().splitlines() or ["killed"])[-1]}
    return json.loads(result.stdout.strip().splitlines()[-1])


def _expected_mb(previous: dict | None, size: str) -> float:
    """Untiled peak extrapolated linearly in pixels from the previous untiled case."""
    if previous is None:
        return 0.0
    pixels = np.prod(_parse_size(size)) / np.prod(_parse_size(previous["size"]))
    grown = previous["peak_mb"] - previous["before_mb"]
    return previous["before_mb"] + grown * pixels


def _row(size: str, mode: str, case: dict) -> str:
    if "expected_mb" in case:
        return (f"{size:>10}  {mode:<14} skipped: about {case['expected_mb'] / 1024:.0f} GB "
                "expected (over --max_gb)")
    if "error" in case:
        return f"{size:>10}  {mode:<14} failed: {case['error']}"
    return (f"{size:>10}  {mode:<14} {case['before_mb'] / 1024:>9.2f} "
            f"{case['peak_mb'] / 1024:>9.2f} {case['seconds']:>9.2f} {case['cpu_seconds']:>9.2f}")


def benchmark(values: flags.FlagValues) -> None:
    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "model.keras"
        keras.utils.set_random_seed(0)
        model = build_srresnet(values.scale, values.num_blocks, values.filters)
        model.save(checkpoint)
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        print(f"{os.cpu_count()} CPU cores; x{values.scale} SRResNet, {values.num_blocks} "
              f"blocks, {values.filters} filters ({trainable:,} trainable parameters), random "
              f"weights; tiles {values.tile_size} LR pixels, overlap {values.tile_overlap}; "
              "one image per fresh process\n")
        print(f"{'LR size':>10}  {'inference':<14} {'before GB':>9} {'peak GB':>9} "
              f"{'wall s':>9} {'CPU s':>9}")
        tiled_mode = f"tiled {values.tile_size}"
        previous = None
        for size in values.sizes:
            case = _subprocess_case(checkpoint, size, values.tile_size, values.tile_overlap)
            print(_row(size, tiled_mode, case), flush=True)
            expected = _expected_mb(previous, size)
            if expected > values.max_gb * 1024:
                print(_row(size, "untiled", {"expected_mb": expected}), flush=True)
                continue
            case = _subprocess_case(checkpoint, size, 0, 0)
            print(_row(size, "untiled", case), flush=True)
            if "error" not in case:
                previous = {**case, "size": size}


def main() -> None:
    values = flags.FLAGS
    if values.case:
        print(json.dumps(run_case(Path(values.checkpoint), values.case, values.tile_size,
                                  values.tile_overlap)))
        return
    benchmark(values)


if __name__ == "__main__":
    cli.run(main, define_flags)
