"""Translate images with a trained generator and score the results.

    python -m applications.pix2pix.predict --data_dir=DATA --model_dir=RUN [--split=test]
    python -m applications.pix2pix.predict --input_dir=PHOTOS --checkpoint=RUN/export \
        --output_dir=OUT

Writes `input/`, `prediction/`, `target/` PNGs named like the source files,
`grid.png` and, when targets exist, `metrics.json` (PSNR / SSIM of the
predictions and of the input itself as a baseline). `--checkpoint` takes a
`.keras` file or an exported SavedModel folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from applications.common import errors, prediction
from applications.common.errors import InputError
from applications.pix2pix import data
from applications.pix2pix import model  # noqa: F401  (registers the generator's layers)
from applications.pix2pix.flags import FLAGS


def run(
    checkpoint: Path,
    output_dir: Path,
    image_size: int,
    batch_size: int,
    data_dir: Path | None = None,
    split: str = "test",
    input_dir: Path | None = None,
    direction: str = "AtoB",
) -> dict | None:
    predict = prediction.load_predictor(checkpoint)
    if input_dir is not None:
        batches = data.named_image_batches(input_dir, image_size, batch_size)
    elif data_dir is not None:
        files = data.scan_split(data_dir, split)
        batches = data.named_pair_batches(files, image_size, direction, batch_size)
    else:
        raise InputError("give --data_dir (with --split) or --input_dir")
    return prediction.write_predictions(
        predict, batches, output_dir, baseline=("input", lambda x: x[..., :3])
    )


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise InputError(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    model_dir = Path(FLAGS.model_dir) if FLAGS.model_dir else None
    if FLAGS.checkpoint:
        checkpoint = Path(FLAGS.checkpoint)
    elif model_dir is not None:
        checkpoint = model_dir / "model.keras"
    else:
        raise InputError("give --checkpoint or --model_dir")
    name = "images" if FLAGS.input_dir else FLAGS.split
    if FLAGS.output_dir:
        output_dir = Path(FLAGS.output_dir)
    elif model_dir is not None:
        output_dir = model_dir / "predictions" / name
    else:
        raise InputError("give --output_dir (or --model_dir)")
    result = run(
        checkpoint, output_dir, FLAGS.image_size, FLAGS.batch_size,
        Path(FLAGS.data_dir) if FLAGS.data_dir else None, FLAGS.split,
        Path(FLAGS.input_dir) if FLAGS.input_dir else None, FLAGS.direction,
    )
    print(f"wrote {output_dir}")
    if result:
        summary = {k: v for k, v in result.items() if k != "per_image"}
        print(json.dumps(summary, indent=2))


def entry_point() -> None:
    errors.run(main)


if __name__ == "__main__":
    entry_point()
