"""FID and KID, as `pytorch-fid` and `torch-fidelity` compute them, on the 2048-d pool
features of pytorch-fid's Inception-v3 (`spl_tf.inception`).

**FID** (Heusel et al., 2017), pytorch-fid's `calculate_frechet_distance`::

    FID = |mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr(sqrtm(S_a S_b))

with the features' mean `mu` and covariance `S` (unbiased, N - 1) in float64. `sqrtm` is
SciPy's; where it is not finite, `eps` (1e-6) is added to both diagonals and it is taken
again; an imaginary part of its diagonal above 1e-3 is an error, a smaller one is dropped.
The statistics are running sums in float64 (batch means and centred cross-products
combined exactly), so a folder streams through in batches with memory that does not grow
with its number of images.

**KID** (Binkowski et al., 2018), torch-fidelity's `kid_features_to_metric`: for each of
`subsets` subsets, `subset_size` features drawn without replacement from each set by
`numpy.random.RandomState(seed).choice` (first from `a`, then from `b`, subset after
subset: torch-fidelity's draws, number for number), the unbiased MMD^2 with the polynomial
kernel `k(x, y) = (gamma x.y + coef0)^degree` (degree 3, gamma 1/2048, coef0 1); the
result is the mean and the (population) standard deviation of the subsets' values.
torch-fidelity's defaults: 100 subsets of 1000, seed 2020. Here the kernel is computed in
float64 (torch-fidelity: in the features' float32). KID keeps every feature (8 kB an
image), as it must to draw its subsets.

Images: NHWC RGB in `value_range` ([-1, 1] by default; uint8 with `value_range=(0, 255)`),
of any size (each is resized to 299x299 as pytorch-fid does). Folders: the files
pytorch-fid takes (`*.png`, `*.jpg`, ... with a lower-case extension, not in subfolders,
in sorted order), decoded by Pillow and converted to RGB as pytorch-fid does.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from spl_tf.utils.errors import FileError, InputError
from spl_tf.validation import check_image_values, check_positive_int, check_value_range

IMAGE_EXTENSIONS = ("bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp")
"""The files a folder's images are taken from (pytorch-fid's list, lower case)."""
FID_EPS = 1e-6
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_SEED = 2020
DEFAULT_RANGE = (-1.0, 1.0)


class FeatureStatistics:
    """Mean and covariance of feature vectors seen batch by batch, in float64.

    Each batch's mean and centred cross-product are combined with the running ones
    (Chan et al.'s pairwise update): no sum of squares that cancels, and memory of one
    d x d matrix whatever the number of vectors.
    """

    def __init__(self, dims: int | None = None):
        self.count = 0
        self._mean = None if dims is None else np.zeros(dims)
        self._scatter = None if dims is None else np.zeros((dims, dims))

    def update(self, features) -> None:
        """Add a batch of feature vectors, (n, d)."""
        batch = np.asarray(features, np.float64)
        if batch.ndim != 2 or (self._mean is not None and batch.shape[1] != self._mean.size):
            raise ValueError(f"features must be (n, {self.dims or 'd'}), got {batch.shape}")
        n = batch.shape[0]
        if n == 0:
            return
        mean = batch.mean(axis=0)
        centred = batch - mean
        scatter = centred.T @ centred
        if not self.count:
            self.count, self._mean, self._scatter = n, mean, scatter
            return
        total = self.count + n
        delta = mean - self._mean
        self._scatter = self._scatter + scatter + np.outer(delta, delta) * (self.count * n / total)
        self._mean = self._mean + delta * (n / total)
        self.count = total

    @property
    def dims(self) -> int | None:
        return None if self._mean is None else self._mean.size

    @property
    def mean(self) -> np.ndarray:
        return self._mean

    @property
    def covariance(self) -> np.ndarray:
        """The unbiased covariance (divided by N - 1), as `np.cov(features, rowvar=False)`."""
        if self.count < 2:
            raise InputError(f"a covariance needs at least 2 images, got {self.count}")
        return self._scatter / (self.count - 1)


def frechet_distance(mu_a, sigma_a, mu_b, sigma_b, eps: float = FID_EPS) -> float:
    """The Frechet distance of two Gaussians, as pytorch-fid computes it (module doc)."""
    from scipy import linalg

    mu_a, mu_b = np.atleast_1d(mu_a).astype(np.float64), np.atleast_1d(mu_b).astype(np.float64)
    sigma_a = np.atleast_2d(sigma_a).astype(np.float64)
    sigma_b = np.atleast_2d(sigma_b).astype(np.float64)
    if mu_a.shape != mu_b.shape or sigma_a.shape != sigma_b.shape:
        raise ValueError(f"the two sets' statistics differ in size: means {mu_a.shape} and "
                         f"{mu_b.shape}, covariances {sigma_a.shape} and {sigma_b.shape}")
    diff = mu_a - mu_b
    covmean = linalg.sqrtm(sigma_a.dot(sigma_b))
    if not np.isfinite(covmean).all():
        # A singular product: pytorch-fid's fallback.
        offset = np.eye(sigma_a.shape[0]) * eps
        covmean = linalg.sqrtm((sigma_a + offset).dot(sigma_b + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"the square root of the covariances' product has an imaginary "
                             f"part of {np.max(np.abs(covmean.imag)):g} (pytorch-fid stops "
                             f"here too): the statistics are not those of real features")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma_a) + np.trace(sigma_b)
                 - 2 * np.trace(covmean))


def kid_from_features(
    features_a,
    features_b,
    subset_size: int = KID_SUBSET_SIZE,
    subsets: int = KID_SUBSETS,
    seed: int = KID_SEED,
    degree: int = 3,
    gamma: float | None = None,
    coef0: float = 1.0,
) -> tuple[float, float]:
    """KID's mean and standard deviation over `subsets`, as torch-fidelity (module doc)."""
    a = np.asarray(features_a, np.float64)
    b = np.asarray(features_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be two (n, d) arrays of the same d, got {a.shape} "
                         f"and {b.shape}")
    subset_size = check_positive_int(subset_size, "subset_size")
    subsets = check_positive_int(subsets, "subsets")
    if subset_size < 2:
        raise ValueError(f"subset_size must be at least 2 (the unbiased MMD divides by "
                         f"m (m - 1)), got {subset_size}")
    if min(len(a), len(b)) < subset_size:
        raise InputError(f"KID subset_size={subset_size} needs at least that many images in "
                         f"each set, got {len(a)} and {len(b)}: pass a smaller subset_size")
    gamma = 1.0 / a.shape[1] if gamma is None else float(gamma)
    rng = np.random.RandomState(seed)
    values = np.zeros(subsets)
    for i in range(subsets):
        x = a[rng.choice(len(a), subset_size, replace=False)]
        y = b[rng.choice(len(b), subset_size, replace=False)]
        values[i] = _unbiased_mmd2(x, y, degree, gamma, coef0)
    return float(np.mean(values)), float(np.std(values))


def _unbiased_mmd2(x, y, degree: int, gamma: float, coef0: float) -> float:
    def kernel(p, q):
        return (p @ q.T * gamma + coef0) ** degree

    k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
    m = x.shape[0]
    within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
    return float(within - 2 * k_xy.sum() / (m * m))


# ---------------------------------------------------------------- features of images


class InceptionFeatures:
    """pytorch-fid's pool features of image batches: `features(images) -> (n, 2048)`.

    Holds the network (`spl_tf.inception.fid_inception_v3(weights)`), built once.
    """

    def __init__(self, weights="pt_inception"):
        from spl_tf.inception import fid_inception_v3

        self.weights = weights
        self.model = fid_inception_v3(weights)

    def __call__(self, images, value_range: Sequence[float] = DEFAULT_RANGE) -> np.ndarray:
        """(n, 2048) float32 features of NHWC RGB images in `value_range`."""
        value_range = check_value_range(value_range)
        check_image_values("fid", "images", images, value_range)
        unit = _to_unit(images, value_range)
        if unit.shape[0] == 0:
            return np.zeros((0, 2048), np.float32)
        return np.asarray(self.model.predict_on_batch(unit), np.float32)


def image_features(images, value_range: Sequence[float] = DEFAULT_RANGE,
                   weights="pt_inception", batch_size: int = 50) -> np.ndarray:
    """The pool features of an (N, H, W, 3) array (or a sequence of same-size images),
    computed `batch_size` at a time: (N, 2048) float32.

    The network of `weights` named by text ("pt_inception", a path) is kept for later
    calls (the last one named: see `inception_network`); a dict of arrays builds it anew.
    """
    network = inception_network(weights)
    batch_size = check_positive_int(batch_size, "batch_size")
    images = _image_batch(images, "images")
    return np.concatenate([network(images[i:i + batch_size], value_range)
                           for i in range(0, max(len(images), 1), batch_size)])


def fid(images_a, images_b, value_range: Sequence[float] = DEFAULT_RANGE,
        weights="pt_inception", batch_size: int = 50) -> float:
    """FID between two sets of images (arrays (N, H, W, 3), each set its own size)."""
    stats = []
    for name, images in (("images_a", images_a), ("images_b", images_b)):
        statistics = FeatureStatistics()
        statistics.update(image_features(_image_batch(images, name), value_range, weights,
                                         batch_size))
        stats.append(statistics)
    return frechet_distance(stats[0].mean, stats[0].covariance, stats[1].mean,
                            stats[1].covariance)


def kid(images_a, images_b, value_range: Sequence[float] = DEFAULT_RANGE,
        weights="pt_inception", batch_size: int = 50, subset_size: int = KID_SUBSET_SIZE,
        subsets: int = KID_SUBSETS, seed: int = KID_SEED) -> tuple[float, float]:
    """KID (mean, std) between two sets of images, as `kid_from_features`."""
    features = [image_features(_image_batch(images, name), value_range, weights, batch_size)
                for name, images in (("images_a", images_a), ("images_b", images_b))]
    return kid_from_features(*features, subset_size=subset_size, subsets=subsets, seed=seed)


# ---------------------------------------------------------------- folders


def folder_images(folder: str | os.PathLike) -> list[Path]:
    """The images of a folder as pytorch-fid lists them: its files with a lower-case
    extension of `IMAGE_EXTENSIONS`, sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: not a folder of images")
    files = sorted(path for ext in IMAGE_EXTENSIONS for path in folder.glob(f"*.{ext}"))
    if not files:
        raise InputError(f"{folder}: no images ({', '.join(IMAGE_EXTENSIONS)})")
    return files


def folder_feature_batches(folder: str | os.PathLike, weights="pt_inception",
                           batch_size: int = 50) -> Iterator[np.ndarray]:
    """The pool features of a folder's images, `batch_size` images at a time; images of
    different sizes are fine (each is resized alone). Only one batch is in memory.

    `weights`: as `fid`'s, or an `InceptionFeatures` built already."""
    files = folder_images(folder)
    return feature_batches((_read_rgb(path) for path in files), weights, batch_size)


def feature_batches(images: Iterable[np.ndarray], weights="pt_inception",
                    batch_size: int = 50) -> Iterator[np.ndarray]:
    """The pool features of uint8 (H, W, 3) RGB images, `batch_size` images at a time,
    as `folder_feature_batches` takes a folder's: sizes may differ, and `images` may be
    a generator (only one batch of them is in memory)."""
    batch_size = check_positive_int(batch_size, "batch_size")
    network = inception_network(weights)
    batch: list[np.ndarray] = []
    for image in images:
        batch.append(np.asarray(image))
        if len(batch) == batch_size:
            yield _mixed_size_features(network, batch)
            batch = []
    if batch:
        yield _mixed_size_features(network, batch)


def _mixed_size_features(network: InceptionFeatures, images: list[np.ndarray]) -> np.ndarray:
    """The features of uint8 images of any sizes: same-size ones go through together."""
    by_size: dict[tuple, list[int]] = {}
    for i, image in enumerate(images):
        by_size.setdefault(image.shape, []).append(i)
    features: list = [None] * len(images)
    for indices in by_size.values():
        batch = network(np.stack([images[i] for i in indices]), (0, 255))
        for i, vector in zip(indices, batch):
            features[i] = vector
    return np.stack(features)


def fid_from_folders(folder_a: str | os.PathLike, folder_b: str | os.PathLike,
                     weights="pt_inception", batch_size: int = 50) -> float:
    """FID between the images of two folders (pytorch-fid's `--path A B`), streamed."""
    for folder in (folder_a, folder_b):  # both, before the first image is computed
        folder_images(folder)
    stats = [folder_statistics(folder, weights, batch_size) for folder in (folder_a, folder_b)]
    return frechet_distance(stats[0].mean, stats[0].covariance, stats[1].mean,
                            stats[1].covariance)


def folder_statistics(folder: str | os.PathLike, weights="pt_inception",
                      batch_size: int = 50) -> FeatureStatistics:
    """The features' running statistics over a folder's images."""
    statistics = FeatureStatistics()
    for features in folder_feature_batches(folder, weights, batch_size):
        statistics.update(features)
    return statistics


def kid_from_folders(folder_a: str | os.PathLike, folder_b: str | os.PathLike,
                     weights="pt_inception", batch_size: int = 50,
                     subset_size: int = KID_SUBSET_SIZE, subsets: int = KID_SUBSETS,
                     seed: int = KID_SEED) -> tuple[float, float]:
    """KID (mean, std) between the images of two folders."""
    for folder in (folder_a, folder_b):
        folder_images(folder)
    features = [np.concatenate(list(folder_feature_batches(folder, weights, batch_size)))
                for folder in (folder_a, folder_b)]
    return kid_from_features(*features, subset_size=subset_size, subsets=subsets, seed=seed)


# ---------------------------------------------------------------- helpers


_NETWORKS: dict = {}  # the last network named by text: one Inception in memory at most


def inception_network(weights) -> InceptionFeatures:
    """The feature network for `weights`, kept when they are named by text: every
    `Metrics` of a command and every call here share it (and the functions Keras traces
    for it) until other weights are named, which replace it. An `InceptionFeatures` is
    taken as it is; a dict of arrays builds one anew."""
    if isinstance(weights, InceptionFeatures):
        return weights
    if isinstance(weights, Mapping) or weights is None:
        return InceptionFeatures(weights)
    key = os.fspath(weights)
    if key not in _NETWORKS:
        _NETWORKS.clear()
        _NETWORKS[key] = InceptionFeatures(weights)
    return _NETWORKS[key]


def _to_unit(images, value_range) -> np.ndarray:
    """Images in `value_range` -> float32 in [0, 1], pytorch-fid's input (uint8 / 255 when
    the range is (0, 255), as `ToTensor` makes it)."""
    low, high = value_range
    x = np.asarray(images)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"images must be (batch, height, width, 3) RGB, got {x.shape}")
    if np.issubdtype(x.dtype, np.integer) and high <= 1:
        raise ValueError(f"images of integer dtype {x.dtype} with value_range=({low:g}, "
                         f"{high:g}): pass value_range=(0, 255)")
    x = x.astype(np.float32)
    if (low, high) != (0.0, 1.0):
        x = (x - np.float32(low)) / np.float32(high - low)
    return x


def _image_batch(images, name: str):
    if isinstance(images, np.ndarray) or hasattr(images, "shape"):
        return np.asarray(images)
    if isinstance(images, Iterable):
        return np.stack([np.asarray(image) for image in images])
    raise ValueError(f"{name} must be an (N, H, W, 3) array of images, got {type(images)}")


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"))
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image that can be decoded") from None
    except OSError as error:
        raise FileError(path, error, "read") from None
