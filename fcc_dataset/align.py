"""Warp a makeup reference onto a source face, as FCC's aligned pairs are made.

Both faces are resized (bicubic) to a square, their 68 dlib landmarks are found (the
whole image stands in for the face box when dlib finds no face), and the reference is
warped onto the source with a piecewise-affine map through the landmark triangles.
Where the warp has no reference pixels (outside the landmarks' hull) the source shows.

No flags and no global state beyond dlib's models, so applications can align any photos.
"""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
from scipy.spatial import QhullError
from skimage.transform import PiecewiseAffineTransform, warp

from fcc_dataset import faces


class AlignmentError(ValueError):
    """The landmarks cannot define a warp (e.g. they collapse onto a line)."""


@dataclasses.dataclass(frozen=True)
class Face:
    """A face resized for alignment: the image, its landmarks (68, 2) (x, y), and
    whether dlib found the face (False: the landmarks were fitted to the whole image)."""

    image: np.ndarray
    points: np.ndarray
    found: bool


@dataclasses.dataclass(frozen=True)
class Alignment:
    """The resized source and the reference warped onto it (both uint8 (S, S, 3))."""

    source: np.ndarray
    warped: np.ndarray
    source_found: bool
    reference_found: bool


def check_rgb(image: np.ndarray, name: str) -> None:
    """Raise ValueError unless `image` is an RGB uint8 (H, W, 3) array."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name}: expected uint8 pixels, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError(f"{name}: expected an RGB image (H, W, 3), got shape {image.shape}")


def resize(image: np.ndarray, image_size: int, name: str = "image") -> np.ndarray:
    """`image` (RGB uint8) resized to `image_size` square, bicubic as the original."""
    check_rgb(image, name)
    if image_size < 1:
        raise ValueError(f"image_size must be positive, got {image_size}")
    return cv2.resize(image, (image_size, image_size), interpolation=cv2.INTER_CUBIC)


def prepare(image: np.ndarray, image_size: int = 256, name: str = "image") -> Face:
    """Resize `image` (RGB uint8) to `image_size` square (bicubic) and find its landmarks."""
    resized = resize(image, image_size, name)
    box = faces.detect_face(resized)
    return Face(resized, faces.landmarks(resized, box), found=box is not None)


def align(source: np.ndarray, reference: np.ndarray, image_size: int = 256) -> Alignment:
    """Warp `reference` onto `source` (both RGB uint8, any size) at `image_size` square."""
    return align_faces(
        prepare(source, image_size, "source"), prepare(reference, image_size, "reference")
    )


def align_faces(source: Face, reference: Face) -> Alignment:
    """Warp the prepared `reference` onto the prepared `source`."""
    transform = _estimate(source.points, reference.points)
    # An opaque alpha channel warped with the same map measures how much of each output
    # pixel came from the reference. Filling the rest from the source (rather than
    # testing for black) keeps dark pixels inside the face and blends the hull's edge.
    rgba = np.dstack([reference.image, np.full(reference.image.shape[:2], 255, np.uint8)])
    warped = warp(
        rgba, transform, output_shape=source.image.shape[:2], order=1, cval=0,
        preserve_range=True,
    )
    coverage = warped[..., 3:] / 255.0
    blended = warped[..., :3] + (1.0 - coverage) * source.image
    return Alignment(
        source=source.image,
        warped=np.clip(np.rint(blended), 0, 255).astype(np.uint8),
        source_found=source.found,
        reference_found=reference.found,
    )


def pair_image(alignment: Alignment) -> np.ndarray:
    """`[source | warped reference]` side by side: uint8 (S, 2S, 3), FCC's pair layout."""
    return np.concatenate([alignment.source, alignment.warped], axis=1)


def _estimate(source_points: np.ndarray, reference_points: np.ndarray) -> PiecewiseAffineTransform:
    """The map from source to reference coordinates (what `warp` wants: output to input)."""
    try:
        if hasattr(PiecewiseAffineTransform, "from_estimate"):  # scikit-image >= 0.26
            transform = PiecewiseAffineTransform.from_estimate(source_points, reference_points)
            ok = bool(transform)
        else:
            transform = PiecewiseAffineTransform()
            ok = transform.estimate(source_points, reference_points)
    except QhullError as error:
        first_line = str(error).strip().splitlines()[0]
        raise AlignmentError(f"the landmarks cannot be triangulated ({first_line})") from error
    if not ok:
        raise AlignmentError("the landmarks give degenerate triangles; no piecewise-affine warp")
    return transform
