r"""Peak memory of the whole super-resolution predict command vs the LR size.

    python benchmarks/sr_memory.py
    python benchmarks/sr_memory.py --sizes=1000x750 --num_blocks=16 --filters=64

A small x4 SRResNet (4 blocks, 16 filters by default, random weights) is saved as a
`.keras` checkpoint. For each LR size a photo (scikit-image's astronaut, resized to
the HR size, the LR its area downscale) is written as PNGs, and the predict command
(`python -m applications.srresnet.predict --input_dir=LR --checkpoint=... --output_dir=...`)
runs on it in a fresh process, as a user runs it: without `--hr_dir`, and with it
(which adds the HR target, the bicubic baseline and PSNR / SSIM); tiled
(`--tile_size` / `--tile_overlap`) and, for `--untiled_sizes`, with `--tile_size=0`.
The table shows each run's peak resident memory (the kernel's maxrss of that process
alone), the uint8 size of its HR output, and its wall-clock and CPU (user + system)
seconds (CPU seconds stay comparable when other work shares the machine).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
from absl import flags  # noqa: E402

from applications.srresnet.config import DEFAULT_TILE_OVERLAP, DEFAULT_TILE_SIZE  # noqa: E402
from applications.srresnet.model import build_srresnet  # noqa: E402
from spl_tf.utils import cli, image_io  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# LR width x height: one default tile (the floor), then up to 24 megapixels (x4).
SIZES = ["384x384", "500x375", "1000x750", "2000x1500", "3000x2000"]
MB = 2**20


def define_flags(flag_values: flags.FlagValues) -> None:
    fv = {"flag_values": flag_values}
    flags.DEFINE_list("sizes", SIZES, "LR sizes, WIDTHxHEIGHT.", **fv)
    flags.DEFINE_list("untiled_sizes", ["500x375", "1000x750"], "LR sizes also run untiled.",
                      **fv)
    flags.DEFINE_integer("scale", 4, "Upscaling factor of the model.", **fv)
    flags.DEFINE_integer("num_blocks", 4, "Residual blocks of the model.", **fv)
    flags.DEFINE_integer("filters", 16, "Filters of the model.", **fv)
    flags.DEFINE_integer("tile_size", DEFAULT_TILE_SIZE, "Tile side (LR pixels).", **fv)
    flags.DEFINE_integer("tile_overlap", DEFAULT_TILE_OVERLAP, "Tile overlap (LR pixels).",
                         **fv)


def run_command(args: list[str], log: Path, timeout: float = 3600) -> dict:
    """`python -m args...` in a fresh process from the repository root: its peak
    resident memory in MB (its own, from wait4: RUSAGE_CHILDREN would be the maximum
    over every child ever waited for), wall-clock and CPU seconds, exit code."""
    start = time.perf_counter()
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "-m", *args], cwd=ROOT, stdout=out,
                                   stderr=subprocess.STDOUT,
                                   env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        _, status, usage = os.wait4(process.pid, 0)
        timer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
    return {"returncode": process.returncode, "peak_mb": usage.ru_maxrss / 1024,  # KB
            "seconds": time.perf_counter() - start,
            "cpu_seconds": usage.ru_utime + usage.ru_stime}


def predict_args(checkpoint: Path, lr_dir: Path, output_dir: Path, hr_dir: Path | None,
                 tile_size: int, overlap: int) -> list[str]:
    """The SR predict command's module and flags."""
    return ["applications.srresnet.predict", f"--checkpoint={checkpoint}",
            f"--input_dir={lr_dir}", f"--output_dir={output_dir}", "--overwrite",
            f"--tile_size={tile_size}", f"--tile_overlap={overlap}",
            *([f"--hr_dir={hr_dir}"] if hr_dir else [])]


def write_photo_pair(folder: Path, lr_size: tuple[int, int], scale: int) -> None:
    """`folder/{lr,hr}/photo.png`: a photo at `scale` x `lr_size` and its area downscale."""
    width, height = lr_size
    hr = cv2.resize(skimage.data.astronaut(), (scale * width, scale * height),
                    interpolation=cv2.INTER_CUBIC)
    image_io.write_rgb(folder / "hr" / "photo.png", hr)
    image_io.write_rgb(folder / "lr" / "photo.png",
                       cv2.resize(hr, lr_size, interpolation=cv2.INTER_AREA))


def _parse_size(size: str) -> tuple[int, int]:
    width, height = (int(v) for v in size.lower().split("x"))
    return width, height


def _row(size: str, output_mb: float, mode: str, hr: bool, case: dict, log: Path) -> str:
    start = f"{size:>10} {output_mb:>9.0f}  {mode:<10} {'yes' if hr else 'no':<7}"
    code = case["returncode"]
    if code < 0:
        return f"{start} died: {signal.Signals(-code).name}"
    if code > 0:
        return f"{start} failed: {(log.read_text().strip().splitlines() or ['?'])[-1]}"
    return (f"{start} {case['peak_mb'] / 1024:>8.2f} {case['seconds']:>8.1f} "
            f"{case['cpu_seconds']:>8.1f}")


def benchmark(values: flags.FlagValues) -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        checkpoint = folder / "model.keras"
        keras.utils.set_random_seed(0)
        model = build_srresnet(values.scale, values.num_blocks, values.filters)
        model.save(checkpoint)
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        print(f"{os.cpu_count()} CPU cores; x{values.scale} SRResNet, {values.num_blocks} "
              f"blocks, {values.filters} filters ({trainable:,} trainable parameters), random "
              f"weights; tiles {values.tile_size} LR pixels, overlap {values.tile_overlap}; "
              "the whole predict command on one photo, one fresh process per row\n")
        print(f"{'LR size':>10} {'output MB':>9}  {'inference':<10} {'--hr_dir':<7} "
              f"{'peak GB':>8} {'wall s':>8} {'CPU s':>8}")
        for size in values.sizes:
            lr_size = _parse_size(size)
            write_photo_pair(folder / size, lr_size, values.scale)
            output_mb = values.scale**2 * lr_size[0] * lr_size[1] * 3 / MB
            modes = [(f"tiled {values.tile_size}", values.tile_size, values.tile_overlap)]
            if size in values.untiled_sizes:
                modes.append(("untiled", 0, 0))
            for mode, tile_size, overlap in modes:
                for hr in (False, True):
                    log = folder / "predict.log"
                    args = predict_args(checkpoint, folder / size / "lr", folder / "out",
                                        folder / size / "hr" if hr else None, tile_size,
                                        overlap)
                    case = run_command(args, log)
                    print(_row(size, output_mb, mode, hr, case, log), flush=True)


def main() -> None:
    benchmark(flags.FLAGS)


if __name__ == "__main__":
    cli.run(main, define_flags)
