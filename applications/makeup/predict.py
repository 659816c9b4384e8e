r"""Apply a trained makeup generator to `[source | warped reference]` pairs.

    python -m applications.makeup.predict --model_dir=RUN [--split=test]
    python -m applications.makeup.predict --input_dir=PAIRS --checkpoint=RUN/export \
        --output_dir=OUT

Writes `input/` (the source faces), `reference/` (the warped references),
`prediction/` PNGs named like the pair files, and `grid.png` (source | output
| reference). There is no ground truth to score. For two arbitrary photos use
`applications.makeup.transfer`.
"""

from applications.common.commands import predict_command
from applications.makeup.application import MakeupTransfer

entry_point = predict_command(MakeupTransfer())

if __name__ == "__main__":
    entry_point()
