r"""Apply a trained makeup generator to `[source | warped reference]` pairs.

    python -m applications.makeup.predict --model_dir=RUN [--split=test]
    python -m applications.makeup.predict --input_dir=PAIRS --checkpoint=RUN/export \
        --output_dir=OUT

Writes `input/` (the source faces), `reference/` (the warped references),
`prediction/` PNGs named like the pair files, and `grid.png` (source | output
| reference). There is no ground truth to score. For two arbitrary photos use
`applications.makeup.transfer`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from applications.common.commands import predict_command
from applications.makeup.config import MakeupPredictConfig

if TYPE_CHECKING:
    from applications.common.application import Application


def application() -> Application:
    """The application, imported only when the command runs (--help needs no TensorFlow)."""
    from applications.makeup.application import MakeupTransfer
    return MakeupTransfer()


entry_point = predict_command(MakeupPredictConfig, application, doc=__doc__)

if __name__ == "__main__":
    entry_point()
