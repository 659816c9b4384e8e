"""Figures for people: loss curves and tables of images with titled columns.

Drawn with matplotlib's object-oriented API on an Agg canvas (no display, no
global pyplot state, safe beside training) and written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from spl_tf.utils import files

DPI = 100
# Long side of the images a figure shows: panels are at most 3 inches (300 pixels),
# and matplotlib holds float RGBA copies of what it is given.
THUMBNAIL_SIDE = 512


def loss_curves(log_csv: Path, path: Path, loss_name: str = "loss") -> None:
    """Training (and validation) loss per epoch from a run's `training_log.csv`."""
    from applications.common import callbacks  # Keras: not for commands that only draw

    rows = callbacks.read_log(log_csv)
    epochs = [int(r["epoch"]) + 1 for r in rows]
    figure = Figure(figsize=(6.4, 3.6), dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    for key, label in (("loss", "training"), ("val_loss", "validation")):
        points = [(e, float(r[key])) for e, r in zip(epochs, rows) if r.get(key)]
        if points:
            axes.plot(*zip(*points), marker="o", markersize=3, label=label)
    axes.set_xlabel("epoch")
    axes.set_ylabel(f"{loss_name} per image")
    axes.set_title(f"{loss_name}, epochs 1-{max(epochs, default=0)}")
    axes.grid(alpha=0.3)
    axes.legend()
    _save(figure, path)


def metric_curves(series: dict[str, dict[str, list[tuple[float, float]]]], path: Path,
                  xlabel: str = "training step") -> None:
    """One panel per metric (`series`' keys), one line per label in it, of its
    `(x, value)` points: spl-experiment's metrics against steps."""
    figure = Figure(figsize=(4.2 * max(1, len(series)), 3.4), dpi=DPI, layout="constrained")
    panels = figure.subplots(1, max(1, len(series)), squeeze=False)[0]
    for axes, (metric, lines) in zip(panels, series.items()):
        for label, points in lines.items():
            if points:
                axes.plot(*zip(*sorted(points)), marker="o", markersize=3, label=label)
        axes.set_xlabel(xlabel)
        axes.set_title(metric)
        axes.grid(alpha=0.3)
    if series:
        panels[0].legend(fontsize=7)
    _save(figure, path)


def image_table(rows: Sequence[Sequence[np.ndarray]], titles: Sequence[str], path: Path,
                row_labels: Sequence[str] | None = None) -> None:
    """uint8 RGB images in rows, one titled column per `titles`.

    Every panel has the same size on the page, about the largest image's pixels
    (at most 3 inches), so a small SR input shows enlarged beside its output.
    """
    columns = len(titles)
    largest = max(max(image.shape[:2]) for row in rows for image in row)
    panel_inches = min(max(largest / DPI, 1.0), 3.0)
    figure = Figure(figsize=(panel_inches * columns, panel_inches * len(rows) + 0.3), dpi=DPI,
                    layout="constrained")
    grid = figure.subplots(len(rows), columns, squeeze=False)
    for i, row in enumerate(rows):
        for j, axes in enumerate(grid[i]):
            axes.set_xticks([])
            axes.set_yticks([])
            if j < len(row):
                axes.imshow(row[j], interpolation="nearest")
            else:
                axes.set_axis_off()
            if i == 0:
                axes.set_title(titles[j], fontsize=10)
        if row_labels is not None:
            grid[i][0].set_ylabel(row_labels[i], fontsize=8)
    _save(figure, path)


def thumbnail(image: np.ndarray, side: int = THUMBNAIL_SIDE) -> np.ndarray:
    """`image` itself if its long side is at most `side` pixels, else scaled down
    (area average) to that long side: what a figure of large images keeps."""
    height, width = image.shape[:2]
    if max(height, width) <= side:
        return image
    factor = side / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _save(figure: Figure, path: Path) -> None:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure)
    figure.savefig(buffer, format=path.suffix.lstrip(".") or "png")
    files.write_bytes(path, buffer.getvalue())
