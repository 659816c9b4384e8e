"""Faces as FCC finds them: dlib's frontal HOG detector and its 68-point landmarks.

dlib is imported lazily so that the rest of the project works without the `makeup` extra;
the detector and the predictor are built once per process (worker processes build
their own).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
from pathlib import Path

import numpy as np

from spl_tf.utils import extras

# The original detects with one upsampling step: faces down to about 40 pixels.
UPSAMPLE = 1
LANDMARK_MODEL = "shape_predictor_68_face_landmarks.dat"


@dataclasses.dataclass(frozen=True)
class Box:
    """A face box in pixels, clipped to its image; rows top:bottom, columns left:right."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left


# What finding faces needs: dlib and the package of its landmark model.
MODULES = ("dlib", "face_recognition_models")


def require() -> None:
    """Raise MissingExtra, naming [makeup], unless dlib and its landmark model are installed."""
    extras.require("makeup", *MODULES)


def _dlib():
    extras.require("makeup", "dlib")
    import dlib

    return dlib


@functools.cache
def _detector():
    return _dlib().get_frontal_face_detector()


@functools.cache
def _predictor():
    return _dlib().shape_predictor(str(landmark_model_path()))


def landmark_model_path() -> Path:
    """dlib's 68-point model, as shipped in the `face-recognition-models` package.

    Found without importing that package, whose `__init__` needs `pkg_resources`.
    """
    extras.require("makeup", "face_recognition_models")
    package = Path(importlib.util.find_spec("face_recognition_models").origin).parent
    path = package / "models" / LANDMARK_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; reinstall face-recognition-models")
    return path


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


def detect_face(image: np.ndarray) -> Box | None:
    """The first face dlib's HOG detector finds (upsampling once), clipped to the image.

    `image`: RGB uint8 (H, W, 3). None when there is no face, or when the first one
    lies outside the image (nothing left after clipping). "First" is dlib's order, as
    in the original, not the largest face.
    """
    faces = _detector()(_rgb(image), UPSAMPLE)
    if len(faces) == 0:
        return None
    face = faces[0]
    height, width = image.shape[:2]
    box = Box(
        top=max(face.top(), 0),
        left=max(face.left(), 0),
        bottom=min(face.bottom(), height),
        right=min(face.right(), width),
    )
    return box if box.height > 0 and box.width > 0 else None


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    """The pixels inside `box` (numpy slicing, as the original crops)."""
    return image[box.top:box.bottom, box.left:box.right]


def landmarks(image: np.ndarray, box: Box | None = None) -> np.ndarray:
    """dlib's 68 landmarks as float64 (68, 2) in (x, y) order.

    `box`: the face to fit; None means the whole image, which is what the original
    does when the detector finds no face.
    """
    image = _rgb(image)
    if box is None:
        box = Box(0, 0, image.shape[0], image.shape[1])
    rectangle = _dlib().rectangle(box.left, box.top, box.right, box.bottom)
    shape = _predictor()(image, rectangle)
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
