r"""Translate images with a trained generator and score the results.

    python -m applications.pix2pix.predict --data_dir=DATA --model_dir=RUN [--split=test]
    python -m applications.pix2pix.predict --input_dir=PHOTOS --checkpoint=RUN/export \
        --output_dir=OUT

Writes `input/`, `prediction/`, `target/` PNGs named like the source files,
`grid.png` and, when targets exist, `metrics.json` (PSNR / SSIM of the
predictions and of the input itself as a baseline). `--checkpoint` takes a
`.keras` file or an exported SavedModel folder.
"""

from __future__ import annotations

from pathlib import Path

from applications.common import errors, pairs, prediction
from applications.common.errors import InputError
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
        batches = pairs.named_image_batches(input_dir, image_size, batch_size)
    elif data_dir is not None:
        files = pairs.scan_split(data_dir, split)
        batches = pairs.named_pair_batches(files, image_size, batch_size,
                                           pairs.PairFormat(direction))
    else:
        raise InputError("give --data_dir (with --split) or --input_dir")
    return prediction.write_predictions(
        predict, batches, output_dir, baseline=("input", lambda x: x[..., :3])
    )


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise InputError(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    checkpoint, output_dir, split = prediction.paths_from_flags(default_split="test")
    result = run(
        checkpoint, output_dir, FLAGS.image_size, FLAGS.batch_size,
        Path(FLAGS.data_dir) if FLAGS.data_dir else None, split,
        Path(FLAGS.input_dir) if FLAGS.input_dir else None, FLAGS.direction,
    )
    prediction.print_summary(output_dir, result)


def entry_point() -> None:
    errors.run(main)


if __name__ == "__main__":
    entry_point()
