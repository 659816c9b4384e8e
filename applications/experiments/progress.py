"""Scores of a run on the test images during training, for the metric-vs-steps plot.

Checkpoint retention keeps only the newest epochs, so nothing can be scored after the
fact: `ScoreDuringTraining` scores the model at chosen epochs while it trains, with the
paired metrics (PSNR, SSIM and, where its weights are there, LPIPS) and, where
Inception's weights are there, FID and KID of the outputs against the targets as sets
(the targets' features taken once, at the first point a process scores), and rewrites
`RUN/scores_during_training.json` whole (atomically) after each. It runs before the
epoch's checkpoint commits it: a kill in between costs that epoch, whose rerun drops
the point and scores it again, so a resumed run keeps its earlier points, once each.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from applications.common.application import Batch, Inference, as_uint8
from applications.common.evaluation import FeatureSet, Metrics, mean_scores
from spl_tf.utils import files

SCORES_FILE = "scores_during_training.json"


def epochs_to_score(epochs: int, points: int) -> list[int]:
    """`points` epochs spread evenly over 1..`epochs`, the last included."""
    if points <= 0:
        return []
    return sorted({max(1, round(epochs * (i + 1) / points)) for i in range(points)})


def read_points(run_dir: Path) -> list[dict[str, Any]]:
    """The points a run has recorded ([] if none, or the file does not read)."""
    try:
        points = json.loads((run_dir / SCORES_FILE).read_text())["points"]
        return [p for p in points if isinstance(p, dict) and "epoch" in p]
    except (OSError, ValueError, KeyError, TypeError):
        return []


class ScoreDuringTraining(keras.callbacks.Callback):
    """Scores the model on `batches` after each epoch of `epochs` (see the module).

    Args:
        run_dir: the run folder, where the points are written.
        epochs: the epochs (1-based, as the checkpoints count them) to score after.
        batches: the test images, (inputs, targets, names) numpy batches.
        inference: `inference(predict)` -> batch inputs to uint8 outputs, as the
            application's prediction runs the model (`Application.inference`).
        metrics: the metrics to take: paired ones, and FID and KID (`Metrics.of_sets`).
    """

    def __init__(self, run_dir: Path, epochs: Collection[int], batches: Sequence[Batch],
                 inference: Callable[[Callable[[np.ndarray], np.ndarray]], Inference],
                 metrics: Metrics):
        super().__init__()
        self.path = run_dir / SCORES_FILE
        self.epochs, self.batches = set(epochs), list(batches)
        self.inference, self.metrics = inference, metrics
        self._points: list[dict[str, Any]] | None = None
        self._target_features: FeatureSet | None = None

    def on_epoch_begin(self, epoch, logs=None):
        if self._points is None:  # the first epoch of this process: what went before stays
            self._points = [p for p in read_points(self.path.parent) if p["epoch"] <= epoch]

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done not in self.epochs:
            return
        predict = self.inference(
            lambda x: keras.ops.convert_to_numpy(self.model(x, training=False)))
        scores, outputs = [], []
        for inputs, targets, names in self.batches:
            batch = predict(inputs)
            scores += self.metrics.score(as_uint8(targets), batch, names)
            outputs += list(batch)
        point = {"epoch": done, "step": done * self.params["steps"], **mean_scores(scores)}
        if self.metrics.of_sets:
            if self._target_features is None:
                self._target_features = self.metrics.set_features(
                    image for _, targets, _ in self.batches for image in as_uint8(targets))
            of_sets = self.metrics.of_feature_sets(self.metrics.set_features(outputs),
                                                   self._target_features)
            point.update({name: result["value"] for name, result in of_sets.items()})
        self._points = [p for p in self._points or [] if p["epoch"] < done] + [point]
        files.write_bytes(self.path, json.dumps({"points": self._points}, indent=2).encode())
