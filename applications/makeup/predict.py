r"""Apply a trained makeup generator to `[source | warped reference]` pairs.

    python -m applications.makeup.predict --data_dir=PAIRS --model_dir=RUN [--split=test]
    python -m applications.makeup.predict --input_dir=PAIRS --checkpoint=RUN/export \
        --output_dir=OUT

Writes `input/` (the source faces), `reference/` (the warped references),
`prediction/` PNGs named like the pair files, and `grid.png` (source | output
| reference). There is no ground truth to score. For two arbitrary photos use
`applications.makeup.transfer`.
"""

from __future__ import annotations

from pathlib import Path

from applications.common import errors, pairs, prediction
from applications.common.errors import InputError
from applications.makeup import data
from applications.makeup import model  # noqa: F401  (registers the loss and layers)
from applications.makeup.flags import FLAGS


def run(checkpoint: Path, output_dir: Path, image_size: int, batch_size: int,
        files: list[Path]) -> None:
    predict = prediction.load_predictor(checkpoint)
    prediction.write_predictions(predict, data.named_batches(files, image_size, batch_size),
                                 output_dir, target_name="reference", score=False)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise InputError(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    checkpoint, output_dir, split = prediction.paths_from_flags(default_split="test")
    if FLAGS.input_dir:
        folder = Path(FLAGS.input_dir)
        files = pairs.scan_split(folder.parent, folder.name)
    elif FLAGS.data_dir:
        files = pairs.scan_split(Path(FLAGS.data_dir), split)
    else:
        raise InputError("give --data_dir (with --split) or --input_dir")
    run(checkpoint, output_dir, FLAGS.image_size, FLAGS.batch_size, files)
    prediction.print_summary(output_dir, None)


def entry_point() -> None:
    errors.run(main)


if __name__ == "__main__":
    entry_point()
