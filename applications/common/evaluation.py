"""The metrics of predictions against their targets, as spl-eval and the predict commands
report them (`--metrics=psnr,ssim,lpips,fid,kid`).

- **PSNR, SSIM, LPIPS** score each prediction against the target of its name and are
  reported as means over the images. PSNR and SSIM are those of `applications.common.
  scoring` (strip by strip, on Y with a shaved border where the application says so); an
  image equal to its target counts 100 dB, so that the mean stays finite. LPIPS
  (`spl_tf.lpips`) takes the whole RGB images, a batch of same-size pairs at a time.
- **FID, KID** compare the predictions and the targets as two sets of image files,
  paired or not (pytorch-fid's and torch-fidelity's numbers: `spl_tf.fid`); one pass of
  Inception over each folder serves both, its features streamed into float64 statistics
  (KID keeps the features, 8 kB an image, to draw its subsets).

`Metrics(settings, scoring)` finds the weight files of the learned metrics first (the
files given, or the published ones in `--weights_dir` or the cache, downloaded there on
first use and checked against their digests) and builds their networks: a metric whose
weights are missing stops the command in one line, before any image is read. PSNR and
SSIM need no weights.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from applications.common.application import Scoring
from applications.common.config import EvaluationConfig
from applications.common.scoring import image_scores
from spl_tf import fid, inception, lpips
from spl_tf.utils.errors import InputError
from spl_tf.utils.torch_weights import PublishedFile, published_path

PAIRED = ("psnr", "ssim", "lpips")
OF_SETS = ("fid", "kid")
PSNR_CAP = 100.0  # dB: what an image equal to its target counts in the mean


@dataclasses.dataclass(frozen=True)
class Weights:
    """The weight files of the learned metrics asked for (None: not asked for)."""

    lpips: tuple[str, ...] | None = None
    inception: str | None = None


def find_weights(settings: EvaluationConfig) -> Weights:
    """The weight files `settings` asks for, there or downloaded: InputError, one line
    naming the URL and the flag that takes a local copy, where one cannot be had."""
    asked = set(settings.names)
    lpips_files = inception_file = None
    if "lpips" in asked:
        lpips_files = tuple(
            [_given(path, "--lpips_weights") for path in settings.lpips_weights.split(",")]
            if settings.lpips_weights else
            [_published(file, "--lpips_weights", settings)
             for file in lpips.PUBLISHED[settings.lpips_net]])
    if asked & set(OF_SETS):
        inception_file = (_given(settings.inception_weights, "--inception_weights")
                          if settings.inception_weights else
                          _published(inception.PUBLISHED, "--inception_weights", settings))
    return Weights(lpips_files, inception_file)


def _published(file: PublishedFile, flag: str, settings: EvaluationConfig) -> str:
    return str(published_path(file, flag, settings.weights_dir))


@contextlib.contextmanager
def _named(flag: str) -> Iterator[None]:
    """Weights of the wrong tensors (a ValueError naming them) as one line naming the flag
    that gives others."""
    try:
        yield
    except ValueError as error:
        raise InputError(f"{flag}: {error}") from None


def _given(path: str, flag: str) -> str:
    if not Path(path).is_file():
        raise InputError(f"{flag}={path}: no such file (a PyTorch weight file)")
    return path


@dataclasses.dataclass(frozen=True)
class FeatureSet:
    """What FID and KID take of a set of images: the running statistics of its Inception
    features, and the features (kept only where KID is asked for)."""

    statistics: fid.FeatureStatistics
    features: np.ndarray | None = None


class Metrics:
    """The metrics `settings` asks for, their networks built: `score` pairs of images,
    `of_folders` two folders as sets (`of_feature_sets` two sets held in memory, from
    their `set_features`), `report` what they gave.

    Args:
        settings: which metrics, and their weights (see `EvaluationConfig`).
        scoring: how PSNR and SSIM are taken (Y channel, shaved border).
        batch_size: image pairs per LPIPS batch, images per Inception batch.
    """

    def __init__(self, settings: EvaluationConfig, scoring: Scoring = Scoring(),
                 batch_size: int = 16):
        self.settings, self.scoring, self.batch_size = settings, scoring, batch_size
        self.names = settings.names
        self.weights = find_weights(settings)
        # Built now, so that weight files that cannot be used stop the command here too.
        self._lpips = self._inception = None
        if self.weights.lpips:
            with _named("--lpips_weights"):
                self._lpips = lpips.LPIPSDistance(settings.lpips_net, self.weights.lpips)
        if self.weights.inception:
            with _named("--inception_weights"):
                self._inception = fid.inception_network(self.weights.inception)

    @property
    def of_sets(self) -> tuple[str, ...]:
        """The metrics of two sets of images asked for."""
        return tuple(name for name in self.names if name in OF_SETS)

    def score(self, targets: Sequence[np.ndarray], outputs: Sequence[np.ndarray],
              names: Sequence[str]) -> list[dict[str, Any]]:
        """`{"name": name, metric: value}` of each uint8 (H, W, 3) output against its
        target, for the paired metrics asked."""
        scores = [{"name": name} for name in names]
        if {"psnr", "ssim"} & set(self.names):
            for score, target, output in zip(scores, targets, outputs):
                psnr, ssim = image_scores(target, output, self.scoring)
                score.update({k: v for k, v in (("psnr", psnr), ("ssim", ssim))
                              if k in self.names})
        if self._lpips is not None:
            for batch in _same_size_batches(outputs, self.batch_size):
                for i in batch:
                    self._check_lpips_size(names[i], outputs[i])
                values = self._lpips(np.stack([targets[i] for i in batch]),
                                     np.stack([outputs[i] for i in batch]), (0, 255))
                for i, value in zip(batch, keras.ops.convert_to_numpy(values)):
                    scores[i]["lpips"] = float(value)
        return scores

    def _check_lpips_size(self, name: str, image: np.ndarray) -> None:
        minimum = lpips.BACKBONES[self.settings.lpips_net]["min_size"]
        if min(image.shape[:2]) < minimum:
            raise InputError(f"{name}: {image.shape[0]}x{image.shape[1]} pixels; LPIPS with "
                             f"--lpips_net={self.settings.lpips_net} needs at least "
                             f"{minimum}x{minimum}")

    def of_folders(self, predictions: str | os.PathLike, targets: str | os.PathLike
                   ) -> dict[str, dict[str, Any]]:
        """FID and KID (those asked) of two folders of images as sets:
        `{metric: {"value", ...}}`, one pass of Inception over each folder."""
        if not self.of_sets:
            return {}
        folders = {"predictions": Path(predictions), "targets": Path(targets)}
        counts = {what: len(fid.folder_images(folder)) for what, folder in folders.items()}
        check_kid_sizes(self.settings, counts)  # before the first image is read
        return self.of_feature_sets(*[
            self.feature_set(fid.folder_feature_batches(folder, self._inception,
                                                        self.batch_size))
            for folder in folders.values()])

    def set_features(self, images: Iterable[np.ndarray]) -> FeatureSet:
        """What FID and KID (those asked) need of a set of uint8 (H, W, 3) images held in
        memory (sizes may differ), for `of_feature_sets`."""
        return self.feature_set(fid.feature_batches(images, self._inception, self.batch_size))

    def feature_set(self, batches: Iterable[np.ndarray]) -> FeatureSet:
        """The running statistics of a set's Inception features (batch by batch), and the
        features themselves where KID is asked for."""
        running, kept = fid.FeatureStatistics(), []
        for batch in batches:
            running.update(batch)
            if "kid" in self.names:
                kept.append(batch)
        return FeatureSet(running, np.concatenate(kept) if kept else None)

    def of_feature_sets(self, predictions: FeatureSet, targets: FeatureSet
                        ) -> dict[str, dict[str, Any]]:
        """FID and KID (those asked) of two sets of images, from their features
        (`set_features`, `feature_set`): `{metric: {"value", ...}}`."""
        if not self.of_sets:
            return {}
        counts = {"predictions": predictions.statistics.count,
                  "targets": targets.statistics.count}
        check_kid_sizes(self.settings, counts)
        result = {}
        common = {"images": counts, "weights": self.weights.inception}
        if "fid" in self.names:
            a, b = predictions.statistics, targets.statistics
            result["fid"] = {"value": fid.frechet_distance(a.mean, a.covariance, b.mean,
                                                           b.covariance), **common}
        if "kid" in self.names:
            size, subsets = self.settings.kid_subset_size, self.settings.kid_subsets
            mean, std = fid.kid_from_features(predictions.features, targets.features,
                                              subset_size=size, subsets=subsets)
            result["kid"] = {"value": mean, "std": std, **common, "subset_size": size,
                             "subsets": subsets}
        return result

    def report(self, scores: list[dict[str, Any]],
               of_sets: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """`{metric: {"value", "images", "weights", ...}}` for every metric asked, in the
        order asked: the paired ones' means over `scores`, and `of_sets` as they are."""
        means = mean_scores(scores)
        report = {}
        for name in self.names:
            if name in of_sets:
                report[name] = of_sets[name]
            elif name in means:
                report[name] = {"value": means[name], "images": len(scores),
                                **self._used_by(name)}
        return report

    def _used_by(self, name: str) -> dict[str, Any]:
        """The weights and settings of a paired metric."""
        if name == "lpips":
            return {"weights": list(self.weights.lpips), "net": self.settings.lpips_net}
        return {"weights": None, "y_channel": self.scoring.y_channel,
                "shave": self.scoring.shave}


def check_kid_sizes(settings: EvaluationConfig, counts: dict[str, int]) -> None:
    """InputError unless each set (`{what: number of images}`) holds a KID subset, where
    KID is asked for."""
    size = settings.kid_subset_size
    if "kid" in settings.names and min(counts.values()) < size:
        held = ", ".join(f"{count} {what}" for what, count in counts.items())
        raise InputError(f"--kid_subset_size={size}: KID draws subsets of that many images "
                         f"from each set, and there are fewer ({held}); give a smaller "
                         f"--kid_subset_size")


def mean_scores(scores: list[dict[str, Any]]) -> dict[str, float]:
    """The mean of each paired metric over `scores`, PSNR capped at `PSNR_CAP` an image
    (identical images have an infinite PSNR: the JSON stays valid, the mean finite)."""
    means = {}
    for name in PAIRED:
        values = [score[name] for score in scores if name in score]
        if values:
            if name == "psnr":
                values = [min(value, PSNR_CAP) for value in values]
            means[name] = float(np.mean(values))
    return means


def _same_size_batches(images: Sequence[np.ndarray], size: int) -> Iterator[list[int]]:
    """Indices of runs of same-size images, at most `size` a run."""
    batch: list[int] = []
    for i, image in enumerate(images):
        if batch and (len(batch) == size or image.shape != images[batch[0]].shape):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch
