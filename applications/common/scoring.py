"""PSNR and SSIM of images of any size, strip by strip: memory bounded by a strip.

`spl_tf.metrics` computes on whole float32 batches, which for a 12000x8000 SR output
means several float copies of it. `image_scores` takes the uint8 target and output
and runs the same metrics on horizontal strips of them, accumulating means over rows:

* PSNR comes from the mean squared error (`metrics.mse`), a mean over the rows of
  the shaved image: each strip's MSE counts by its rows.
* SSIM is the mean of the SSIM map over its valid region, the rows and columns of
  the shaved image where the 11x11 window fits. A strip carries 5 rows of context
  above and below its *core*, so the valid region of the strip is exactly its core
  rows, and its mean SSIM counts by them.

Each strip's statistics are centred on the strip's own means rather than the
image's; SSIM does not change under such a shift, so results equal `metrics.psnr` /
`metrics.ssim` of the whole image to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import keras
import numpy as np

from applications.common.application import Scoring
from spl_tf import metrics
from spl_tf.utils import image_io

# Pixels of a strip's core: scoring then works in about 170 MB on Y, 360 MB on RGB
# (measured), whatever the image's size; smaller strips recompute more margin rows.
STRIP_PIXELS = 1 << 20
SSIM_MARGIN = metrics.SSIM_WINDOW // 2


def image_scores(target: np.ndarray, output: np.ndarray, scoring: Scoring,
                 strip_rows: int | None = None) -> tuple[float, float]:
    """(PSNR, SSIM) of a uint8 (H, W, C) `output` against its `target`, as `scoring`
    asks (see `spl_tf.metrics`), computed over strips of `strip_rows` rows (by
    default as many as make `STRIP_PIXELS`). ValueError where the metrics refuse the
    image's size."""
    rows = strip_rows or max(1, STRIP_PIXELS // target.shape[1])
    mse = _strip_mean(metrics.mse, target, output, scoring, rows, margin=0)
    ssim = _strip_mean(metrics.ssim, target, output, scoring, rows, margin=SSIM_MARGIN)
    return float(keras.ops.convert_to_numpy(metrics.psnr_from_mse(mse))), ssim


def _strip_mean(metric: Callable, target: np.ndarray, output: np.ndarray, scoring: Scoring,
                rows: int, margin: int) -> float:
    """`metric`, a mean over rows, of the whole image from its values on strips."""
    total, count = 0.0, 0
    for strip, core_rows in strips(target.shape[0], scoring.shave, margin, rows):
        # In [-1, 1] as the metrics take it by default: an image within one strip
        # gets exactly the numbers of `metric` on the whole image.
        value = metric(image_io.to_float(target[None, strip]),
                       image_io.to_float(output[None, strip]),
                       shave=scoring.shave, y_channel=scoring.y_channel)
        total += float(keras.ops.convert_to_numpy(value)[0]) * core_rows
        count += core_rows
    return total / count


def strips(height: int, shave: int, margin: int, rows: int) -> Iterator[tuple[slice, int]]:
    """(rows of the image to pass a metric with `shave`, how many core rows it scores).

    The metric leaves out `shave` rows at each end of a strip and its window
    `margin` more; the cores, `rows` each (the last one fewer), partition the rows
    the metric scores on the whole image. An image too short to leave a core is
    passed whole, so that the metric names the sizes it refuses.
    """
    first, end = margin, height - 2 * shave - margin  # cores, in shaved rows
    if end <= first:
        yield slice(None), 1
        return
    for start in range(first, end, rows):
        stop = min(start + rows, end)
        # Shaved row r is image row r + shave; the strip keeps `shave` more rows
        # at each end for the metric to leave out, as it does on the whole image.
        yield slice(start - margin, stop + margin + 2 * shave), stop - start
