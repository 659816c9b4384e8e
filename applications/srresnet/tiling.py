"""Tiled super-resolution inference: bounded memory for any input size.

A fully convolutional SR model's activations grow with the image (an x4 SRResNet
holds several HR-sized tensors of `filters` channels), so a large image does not fit
in memory whole. `tiled` runs the model on fixed-size LR tiles instead and keeps, of
each tile's output, only its *core*: the tile less `overlap` LR pixels on every side
that lies inside the image. When `overlap` covers the model's receptive radius (see
`receptive_radius`), every kept output pixel saw exactly the inputs it sees untiled,
so the result equals the untiled one (to float rounding; rounded to uint8, as
prediction writes it, a value within float rounding of a half may differ by one).
The output takes the tiles' dtype: prediction runs tiles to uint8, so nothing of
an image's output size is ever float.

Every tile has the same shape: tiles at the right and bottom are shifted inward
rather than padded, because padding would replace the real border the model sees
(its zero padding of SAME convolutions) and change border outputs, and one shape
means one trace / XLA compile. Images no larger than a tile run whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from applications.common.application import Predictor

# A function of NHWC batches of LR images (or tiles) to their outputs, any dtypes:
# the model (float -> float) or what prediction runs (-> uint8).
TileFunction = Callable[[np.ndarray], np.ndarray]


def tiled(predict: TileFunction, tile_size: int, overlap: int) -> TileFunction:
    """`predict` run on `tile_size` x `tile_size` LR tiles of images larger than that,
    each tile's core written into one output array of the tiles' output dtype.

    tile_size: side of the LR tiles, including the overlap; 0 runs every image whole.
    overlap: LR pixels of context on each side of a tile's core, dropped from its
        output; must be < tile_size / 2 so that every tile keeps a core.
    """
    if tile_size < 0 or overlap < 0 or (tile_size and tile_size <= 2 * overlap):
        raise ValueError(f"need tile_size = 0 or > 2 * overlap >= 0, got {tile_size}, {overlap}")
    if tile_size == 0:
        return predict

    def run(images: np.ndarray) -> np.ndarray:
        height, width = images.shape[1:3]
        if height <= tile_size and width <= tile_size:
            return predict(images)
        return _run_tiles(predict, images, tile_size, overlap)

    return run


def spans(length: int, tile: int, overlap: int) -> list[tuple[int, int, int]]:
    """(tile start, core start, core end) along one axis of `length` pixels.

    The cores partition [0, length). A core ends `overlap` before its tile does,
    except at the image's end, where the last tile is shifted inward to end there.
    """
    if length <= tile:
        return [(0, 0, length)]
    result, core_start = [], 0
    start = 0
    while True:
        if start + tile >= length:  # the last tile: shifted to end at the border
            start = length - tile
            result.append((start, core_start, length))
            return result
        core_end = start + tile - overlap
        result.append((start, core_start, core_end))
        core_start, start = core_end, core_end - overlap


def _tiles(height: int, width: int, tile: int,
           overlap: int) -> Iterator[tuple[slice, slice, slice, slice]]:
    """(tile rows, tile cols, core rows, core cols) of every tile, as LR slices."""
    for y, core_y0, core_y1 in spans(height, tile, overlap):
        for x, core_x0, core_x1 in spans(width, tile, overlap):
            yield (slice(y, y + min(tile, height)), slice(x, x + min(tile, width)),
                   slice(core_y0, core_y1), slice(core_x0, core_x1))


def _run_tiles(predict: TileFunction, images: np.ndarray, tile: int, overlap: int) -> np.ndarray:
    height, width = images.shape[1:3]
    output, scale = None, 0
    for rows, cols, core_rows, core_cols in _tiles(height, width, tile, overlap):
        result = np.asarray(predict(images[:, rows, cols]))
        if output is None:  # the scale is the model's, whatever --scale says
            scale = result.shape[1] // (rows.stop - rows.start)
            output = np.empty((images.shape[0], height * scale, width * scale,
                               result.shape[3]), result.dtype)
        # The core, in the tile's own output coordinates, times the scale.
        y0, x0 = core_rows.start - rows.start, core_cols.start - cols.start
        y1, x1 = core_rows.stop - rows.start, core_cols.stop - cols.start
        output[:, core_rows.start * scale:core_rows.stop * scale,
               core_cols.start * scale:core_cols.stop * scale] = (
            result[:, y0 * scale:y1 * scale, x0 * scale:x1 * scale])
    return output


def receptive_radius(predict: Predictor, size: int = 121, seed: int = 0) -> int:
    """How far, in LR pixels, one LR pixel's change reaches in `predict`'s output.

    An impulse test: a random image, and the same with its centre pixel changed;
    the radius is the largest LR distance (HR pixel // scale) from the centre to an
    output pixel that differs. `size` must exceed twice the radius.
    """
    rng = np.random.default_rng(seed)
    image = rng.uniform(-1, 1, (1, size, size, 3)).astype("float32")
    moved = image.copy()
    centre = size // 2
    moved[0, centre, centre] = -image[0, centre, centre]
    before, after = np.asarray(predict(image)), np.asarray(predict(moved))
    scale = before.shape[1] // size
    rows, cols = np.nonzero(np.any(before[0] != after[0], axis=-1))
    distance = np.maximum(np.abs(rows // scale - centre), np.abs(cols // scale - centre))
    radius = int(distance.max())
    if radius >= centre:
        raise ValueError(f"the change reaches the border of the {size}x{size} probe; "
                         "give a larger size")
    return radius
