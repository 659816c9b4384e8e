r"""Super-resolve images with a trained SRResNet and score them as SR papers do.

    python -m applications.srresnet.predict --data_dir=DIV2K --model_dir=RUN [--split=valid]
    python -m applications.srresnet.predict --input_dir=LR --checkpoint=RUN/export \
        --output_dir=OUT [--hr_dir=HR]

Writes `input/` (LR), `prediction/` (SR) and, with high-resolution images,
`target/` PNGs, `grid.png` and `metrics.json`: PSNR and SSIM on the Y channel
(BT.601), border shaved by the scale, for the outputs and for bicubic
upscaling as the baseline.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from applications.common import errors, prediction
from applications.common.errors import InputError
from applications.srresnet import data
from applications.srresnet import model  # noqa: F401  (registers the model's layers)
from applications.srresnet.flags import FLAGS
from applications.srresnet.train import source_from_flags


def bicubic(scale: int):
    def upscale(lr: np.ndarray) -> np.ndarray:
        size = [lr.shape[1] * scale, lr.shape[2] * scale]
        return np.clip(tf.image.resize(lr, size, method="bicubic").numpy(), -1.0, 1.0)

    return upscale


def run(checkpoint: Path, output_dir: Path, scale: int, source: data.Source | None = None,
        split: str = "valid", input_dir: Path | None = None, hr_dir: Path | None = None):
    predict = prediction.load_predictor(checkpoint)
    if input_dir is not None:
        batches = data.folder_batches(input_dir, hr_dir, scale)
    elif source is not None:
        batches = data.evaluation_batches(source, split)
    else:
        raise InputError("give --data_dir / --tfds_name (with --split) or --input_dir")
    return prediction.write_predictions(predict, batches, output_dir,
                                        baseline=("bicubic", bicubic(scale)),
                                        y_channel=True, shave=scale)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise InputError(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    checkpoint, output_dir, split = prediction.paths_from_flags(default_split="valid")
    input_dir = Path(FLAGS.input_dir) if FLAGS.input_dir else None
    source = None if input_dir else source_from_flags()
    result = run(checkpoint, output_dir, FLAGS.scale, source, split, input_dir,
                 Path(FLAGS.hr_dir) if FLAGS.hr_dir else None)
    prediction.print_summary(output_dir, result)


def entry_point() -> None:
    errors.run(main)


if __name__ == "__main__":
    entry_point()
