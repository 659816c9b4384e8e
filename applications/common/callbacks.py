"""Callbacks shared by the trainers: resume, checkpoints, logs, image strips."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np

from fcc_dataset import image_io

# panels(inputs, outputs, targets) -> images to show side by side, each (N, H, W, 3).
Panels = Callable[[np.ndarray, np.ndarray, np.ndarray], Sequence[np.ndarray]]


def standard(
    model_dir: Path, sample: tuple[np.ndarray, np.ndarray], panels: Panels,
    titles: Sequence[str],
) -> list[keras.callbacks.Callback]:
    """Resume state, latest checkpoint, TensorBoard, image strips, CSV log."""
    return [
        # Kept after training ends, so that rerunning a finished command
        # resumes at its last epoch instead of training again from scratch.
        keras.callbacks.BackupAndRestore(
            str(model_dir / "backup"), double_checkpoint=True, delete_checkpoint=False
        ),
        AtomicCheckpoint(model_dir / "checkpoints" / "latest.keras"),
        keras.callbacks.TensorBoard(str(model_dir / "logs")),
        ImageStrip(model_dir, sample, panels, titles),
        keras.callbacks.CSVLogger(str(model_dir / "training_log.csv"), append=True),
    ]


class AtomicCheckpoint(keras.callbacks.Callback):
    """Save the whole model (`.keras`) each epoch; a kill never leaves half a file."""

    def __init__(self, path: Path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        save_model(self.model, self.path)


def save_model(model: keras.Model, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)


class ImageStrip(keras.callbacks.Callback):
    """Each epoch, the panels (e.g. input | output | target) of fixed validation samples.

    Written to TensorBoard (`logs/images`, titled by the panels' titles) and as
    `samples/epoch_NNN.png`.
    """

    def __init__(self, model_dir: Path, sample: tuple[np.ndarray, np.ndarray], panels: Panels,
                 titles: Sequence[str]):
        super().__init__()
        self.model_dir = model_dir
        self.inputs, self.targets = sample
        self.panels = panels
        self.title = " | ".join(titles)

    def on_epoch_end(self, epoch, logs=None):
        outputs = keras.ops.convert_to_numpy(self.model(self.inputs, training=False))
        panels = [image_io.to_uint8(p) for p in self.panels(self.inputs, outputs, self.targets)]
        strip = image_io.image_grid([list(row) for row in zip(*panels)])
        image_io.write_rgb(self.model_dir / "samples" / f"epoch_{epoch + 1:03d}.png", strip)
        self._to_tensorboard(strip, epoch)

    def _to_tensorboard(self, strip: np.ndarray, epoch: int) -> None:
        import tensorflow as tf

        if not hasattr(self, "_writer"):
            self._writer = tf.summary.create_file_writer(str(self.model_dir / "logs" / "images"))
        with self._writer.as_default():
            tf.summary.image(self.title, strip[None], step=epoch + 1)
        self._writer.flush()
