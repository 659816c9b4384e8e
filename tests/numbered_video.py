"""Videos whose frames show their own index on the face, so that a face crop tells which
frame of the video it was cut from.

Every frame is the astronaut's face (`face_data.face_photo`, SIZE pixels square, dlib's
box about 75 pixels) with a band of CELLS coloured cells painted across the top of the
face box (the forehead, where dlib still finds the face): each cell's red, green and
blue are dark or bright, three bits of the index. Cells are about 14 pixels (50 in an
LR crop), so H.264, the frame's JPEG, the crop's resize and its JPEG do not change a
bit.
"""

from __future__ import annotations

import functools
from pathlib import Path

import cv2
import numpy as np

from face_data import face_photo
from fcc_dataset import faces, sample

SIZE = 192
CELLS = 5  # 15 bits: 32,768 frames, 18 minutes at 30 fps
BAND = 0.2  # of the face box's height
DARK, BRIGHT = 40, 215
# A cell's mean must stay this far from the middle (127.5) to count as read.
MARGIN = 50


@functools.cache
def _layout() -> tuple[np.ndarray, faces.Box]:
    """The face photo (read-only) and dlib's box on it, where the cells go."""
    photo = face_photo(size=SIZE)
    photo.flags.writeable = False
    box = faces.detect_face(photo)
    assert box is not None, "dlib finds no face on the face photo"
    return photo, box


@functools.cache
def _photo_grey() -> np.ndarray:
    return cv2.cvtColor(_layout()[0], cv2.COLOR_RGB2GRAY).astype(np.float32)


def numbered_frame(index: int) -> np.ndarray:
    """The face photo with `index` painted on, RGB uint8 (SIZE, SIZE, 3)."""
    if not 0 <= index < 2 ** (3 * CELLS):
        raise ValueError(f"{index} does not fit in {CELLS} cells")
    photo, box = _layout()
    frame = photo.copy()
    height, width = round(box.height * BAND), box.width // CELLS
    for cell in range(CELLS):
        bits = [(index >> (3 * cell + channel)) & 1 for channel in range(3)]
        left = box.left + cell * width
        frame[box.top:box.top + height, left:left + width] = [BRIGHT if b else DARK
                                                              for b in bits]
    return frame


def read_index(crop: np.ndarray) -> int:
    """The index painted on the face of `crop`, a face crop (RGB, any size) as FCC cuts it.

    dlib's box is not always the one it finds on the photo: on some frames, the cells
    and the compression tip it to the next scale of its pyramid (90 pixels, not 75).
    So the box is found first, then the cells are read where it puts them. Raises
    ValueError where a cell is neither dark nor bright: not a numbered frame's face.
    """
    top, left, scale = _locate(crop)
    photo_box = _layout()[1]
    height, width = round(photo_box.height * BAND), photo_box.width // CELLS
    y = round((photo_box.top + height / 2 - top) * scale)
    half = max(1, round(width * scale / 4))  # the middle half of each cell
    index = 0
    for cell in range(CELLS):
        x = round((photo_box.left + (cell + 0.5) * width - left) * scale)
        means = crop[y - half:y + half, x - half:x + half].reshape(-1, 3).mean(axis=0)
        if np.any(np.abs(means - 127.5) < MARGIN):
            raise ValueError(f"cell {cell} reads {means.round()}, neither dark nor bright")
        for channel, mean in enumerate(means):
            index |= int(mean > 127.5) << (3 * cell + channel)
    return index


def _locate(crop: np.ndarray) -> tuple[int, int, float]:
    """(top, left) of the box `crop` was cut from in the photo, and crop pixels per photo
    pixel: the crop, scaled to each size the box may have, is matched against the photo,
    without its top third (where the band differs from the photo)."""
    box = _layout()[1]
    crop_grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY).astype(np.float32)
    best = (np.inf, 0, 0, 0)
    for size in range(round(box.height * 0.75), round(box.height * 1.35)):
        below = cv2.resize(crop_grey, (size, size), interpolation=cv2.INTER_AREA)[size // 3:]
        errors = cv2.matchTemplate(_photo_grey(), below, cv2.TM_SQDIFF)
        error, _, (x, y), _ = cv2.minMaxLoc(errors)
        best = min(best, (error / below.size, y - size // 3, x, size))
    _, top, left, size = best
    return top, left, crop.shape[0] / size


def write_numbered_video(path: Path, seconds: int, fps: int) -> Path:
    """An H.264 mp4 of `seconds * fps` numbered frames (0, 1, ...) at `path`."""
    return sample.write_video(path, map(numbered_frame, range(seconds * fps)), fps)
