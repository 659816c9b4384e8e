r"""Super-resolve images with a trained SRResNet and score them as SR papers do.

    python -m applications.srresnet.predict --model_dir=RUN [--split=valid]
    python -m applications.srresnet.predict --input_dir=LR --checkpoint=RUN/export \
        --output_dir=OUT [--hr_dir=HR]

Writes `input/` (LR), `prediction/` (SR) and, with high-resolution images,
`target/` PNGs, `grid.png` and `metrics.json`: PSNR and SSIM on the Y channel
(BT.601), border shaved by the scale, for the outputs and for bicubic
upscaling as the baseline; `--metrics=psnr,ssim,lpips,fid,kid` adds the others
(LPIPS on whole RGB images, FID and KID of the written folders, as spl-eval). From a run folder, the run's data settings
(`--data_dir`, `--scale`, ...) are the defaults.

Images larger than `--tile_size` LR pixels (384 by default) run as tiles with
`--tile_overlap` (48) pixels of context on each side, rounded into a uint8 output,
and outputs equal the untiled ones (see `applications.srresnet.tiling`);
`--tile_size=0` runs every image whole. Nothing of the output's size is float (the
bicubic baseline runs tiled, PSNR / SSIM strip by strip, the grid from thumbnails),
so memory is bounded by the tile plus the uint8 output and HR target.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from applications.common.commands import predict_command
from applications.srresnet.config import SRPredictConfig

if TYPE_CHECKING:
    from applications.common.application import Application


def application() -> Application:
    """The application, imported only when the command runs (--help needs no TensorFlow)."""
    from applications.srresnet.application import SuperResolution
    return SuperResolution()


entry_point = predict_command(SRPredictConfig, application, doc=__doc__)

if __name__ == "__main__":
    entry_point()
