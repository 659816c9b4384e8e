"""What each finished epoch leaves in the run folder, in an order a kill cannot break.

`EpochEnd` writes, after each epoch: the sample strip (`samples/epoch_NNN.png`, also
to TensorBoard), then the log (`training_log.csv`, rewritten whole), then the
checkpoint (`checkpoints/epoch_NNN.keras`), each atomically. The checkpoint is the
commit point: a kill before its rename costs that epoch alone, and the rerun
redoes it, rewriting its strip and its log row. A loss that is not finite stops
training before anything of that epoch is written.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np

from applications.common.checkpoints import Checkpoints
from fcc_dataset import image_io
from fcc_dataset.faults import pause_point

# panels(inputs, outputs, targets) -> images to show side by side, each (N, H, W, 3).
Panels = Callable[[np.ndarray, np.ndarray, np.ndarray], Sequence[np.ndarray]]

LOG_FILE = "training_log.csv"


class SampleStrip:
    """The panels (e.g. input | output | target) of fixed validation samples.

    Written as `samples/epoch_NNN.png` and to TensorBoard (`logs/images`, titled by
    the panels' titles).
    """

    def __init__(self, model_dir: Path, sample: tuple[np.ndarray, np.ndarray], panels: Panels,
                 titles: Sequence[str]):
        self.model_dir = model_dir
        self.inputs, self.targets = sample
        self.panels = panels
        self.title = " | ".join(titles)
        self._writer = None

    def write(self, model: keras.Model, epoch: int) -> None:
        outputs = keras.ops.convert_to_numpy(model(self.inputs, training=False))
        panels = [image_io.to_uint8(p) for p in self.panels(self.inputs, outputs, self.targets)]
        strip = image_io.image_grid([list(row) for row in zip(*panels)])
        image_io.write_rgb(self.model_dir / "samples" / f"epoch_{epoch:03d}.png", strip)
        self._to_tensorboard(strip, epoch)

    def _to_tensorboard(self, strip: np.ndarray, epoch: int) -> None:
        import tensorflow as tf

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(str(self.model_dir / "logs" / "images"))
        with self._writer.as_default():
            tf.summary.image(self.title, strip[None], step=epoch)
        self._writer.flush()


class TrainingLog:
    """`training_log.csv`: a row per finished epoch (0-based `epoch`, as Keras's
    CSVLogger), the learning rate it ended with and its logs. Rewritten whole each
    epoch, so a kill never leaves half a row; rows of epochs not checkpointed are
    dropped when a run resumes."""

    def __init__(self, path: Path, epochs_done: int):
        self.path = path
        self.rows = [r for r in read_log(path) if int(r["epoch"]) < epochs_done]

    def append(self, epoch: int, values: dict[str, float]) -> None:
        self.rows.append({"epoch": epoch, **values})
        columns = ["epoch"] + sorted({k for r in self.rows for k in r} - {"epoch"})
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        image_io.write_bytes(self.path, text.getvalue().encode())


def read_log(path: Path) -> list[dict[str, str]]:
    """The rows of a training log, [] if there is none yet."""
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


class EpochEnd(keras.callbacks.Callback):
    """Strip, log row, checkpoint after every epoch (see the module); stops on NaN/Inf.

    After `fit`, `diverged` says why training stopped early, or is None. Every
    process of a multi-host run stops alike: they all see the same loss.
    """

    def __init__(self, strip: SampleStrip, log: TrainingLog, checkpoints: Checkpoints):
        super().__init__()
        self.strip, self.log, self.checkpoints = strip, log, checkpoints
        self.diverged: str | None = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        pause_point("train:batch")
        loss = float((logs or {}).get("loss", 0.0))
        if not math.isfinite(loss):
            self.diverged = f"the loss became {loss} in epoch {self._epoch + 1}, step {batch + 1}"
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        values = {k: float(v) for k, v in (logs or {}).items()}
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if self.diverged or bad:
            self.diverged = self.diverged or f"{bad} at the end of epoch {epoch + 1}"
            self.model.stop_training = True
            return
        values["learning_rate"] = float(keras.ops.convert_to_numpy(
            self.model.optimizer.learning_rate))
        self.strip.write(self.model, epoch + 1)
        self.log.append(epoch, values)
        self.checkpoints.save(self.model, epoch + 1)
        pause_point("epoch:committed")
