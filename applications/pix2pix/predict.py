r"""Translate images with a trained generator and score the results.

    python -m applications.pix2pix.predict --model_dir=RUN [--split=test]
    python -m applications.pix2pix.predict --input_dir=PHOTOS --checkpoint=RUN/export \
        --output_dir=OUT

Writes `input/`, `prediction/`, `target/` PNGs named like the source files,
`grid.png` and, when targets exist, `metrics.json`: the metrics of `--metrics`
(PSNR and SSIM by default; also lpips, fid, kid, as spl-eval computes them) of the
predictions, and the paired ones of the input itself as a baseline. `--checkpoint` takes a
`.keras` file or an exported SavedModel folder; from a run folder, the run's
data settings (`--data_dir`, `--image_size`, `--direction`) are the defaults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from applications.common.commands import predict_command
from applications.pix2pix.config import Pix2PixPredictConfig

if TYPE_CHECKING:
    from applications.common.application import Application


def application() -> Application:
    """The application, imported only when the command runs (--help needs no TensorFlow)."""
    from applications.pix2pix.application import Pix2Pix
    return Pix2Pix()


entry_point = predict_command(Pix2PixPredictConfig, application, doc=__doc__)

if __name__ == "__main__":
    entry_point()
