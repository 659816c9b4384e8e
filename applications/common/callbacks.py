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
from absl import logging

from applications.common.checkpoints import Checkpoints
from spl_tf.utils import files, image_io
from spl_tf.utils.faults import fault_point

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
        if self._writer is False:
            return  # a write failed before: warned then
        folder = self.model_dir / "logs" / "images"
        try:
            import tensorflow as tf

            fault_point("write:tensorboard")
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(str(folder))
            with self._writer.as_default():
                tf.summary.image(self.title, strip[None], step=epoch)
            self._writer.flush()
        except Exception as error:
            if not _is_write_error(error):
                raise
            self._writer = False
            _tensorboard_failed(folder, error)


class TensorBoard(keras.callbacks.TensorBoard):
    """Keras's TensorBoard logs, where a write that fails (a full disk) is one warning and
    no more logs, not the end of the run: the checkpoints are the run, the logs a view."""

    failed = False

    def on_train_begin(self, logs=None):
        self._guarded(super().on_train_begin, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._guarded(super().on_train_batch_begin, batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._guarded(super().on_train_batch_end, batch, logs)

    def on_test_begin(self, logs=None):
        self._guarded(super().on_test_begin, logs)

    def on_test_end(self, logs=None):
        self._guarded(super().on_test_end, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._guarded(super().on_epoch_begin, epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._guarded(self._epoch_end, epoch, logs)

    def on_train_end(self, logs=None):
        self._guarded(super().on_train_end, logs)

    def _epoch_end(self, epoch, logs):
        fault_point("write:tensorboard")
        super().on_epoch_end(epoch, logs)

    def _guarded(self, method, *args) -> None:
        if self.failed:
            return
        try:
            method(*args)
        except Exception as error:
            if not _is_write_error(error):
                raise
            self.failed = True
            _tensorboard_failed(self.log_dir, error)


def _is_write_error(error: Exception) -> bool:
    """An OS error, as Python or TensorFlow's file writers report it."""
    if isinstance(error, OSError):
        return True
    import tensorflow as tf

    return isinstance(error, tf.errors.OpError)


def _tensorboard_failed(folder, error: Exception) -> None:
    reason = getattr(error, "strerror", None) or getattr(error, "message", None) or error
    logging.warning("cannot write the TensorBoard logs in %s (%s); training goes on "
                    "without them", folder, str(reason).splitlines()[0])


class LogFile:
    """`training_log.csv` as a rerun finds it: the rows that read, and what did not.

    A row reads when its `epoch` comes after the row before's (rows can be missing: those
    of a damaged part, or all before a log begun anew) and its values are numbers.
    Reading stops at the first row that does not (a damaged file): `problems` says so,
    naming the file and the line, and `set_aside_if_damaged` keeps the file as it was
    beside the log (`training_log.csv.damaged`) before the log is rewritten.
    """

    def __init__(self, path: Path):
        self.path = path
        self.missing = not path.exists()
        self.rows: list[dict[str, str]] = []
        self.problems: list[str] = []
        if not self.missing:
            self._read()

    def _read(self) -> None:
        try:
            with open(self.path, newline="") as f:
                lines = list(csv.reader(f))
        except (OSError, UnicodeDecodeError, csv.Error) as error:
            self._damaged(f"cannot be read ({error})")
            return
        header, *body = lines or [[]]
        if "epoch" not in header:
            self._damaged("has no header with an epoch column")
            return
        for number, values in enumerate(body, start=2):
            row = dict(zip(header, values))
            after = int(self.rows[-1]["epoch"]) if self.rows else -1
            if len(values) != len(header) or not _is_row(row, after):
                self._damaged(f"line {number} is not a row of this log ({values[:4]})")
                return
            self.rows.append(row)

    def _damaged(self, why: str) -> None:
        self.problems.append(f"{self.path} {why}; keeping the {len(self.rows)} rows before "
                             f"it, the file as it was is in {self.damaged_path.name}")

    @property
    def epochs(self) -> int:
        """How many epochs the log has rows up to (its last row's epoch + 1; 0: none)."""
        return int(self.rows[-1]["epoch"]) + 1 if self.rows else 0

    @property
    def damaged_path(self) -> Path:
        return self.path.with_name(self.path.name + ".damaged")

    def set_aside_if_damaged(self) -> None:
        if self.problems:
            files.write_bytes(self.damaged_path, self.path.read_bytes())


def _is_row(row: dict[str, str], after: int) -> bool:
    """Whether `row` is the row of an epoch after `after`, with numbers for values."""
    try:
        epoch = int(row["epoch"])
        [float(v) for k, v in row.items() if k != "epoch" and v != ""]
    except ValueError:
        return False
    return epoch > after


class TrainingLog:
    """`training_log.csv`: a row per finished epoch (0-based `epoch`, as Keras's
    CSVLogger), the learning rate it ended with and its logs. Rewritten whole each
    epoch, so a kill never leaves half a row; rows of epochs not checkpointed are
    dropped when a run resumes."""

    def __init__(self, path: Path, epochs_done: int):
        self.path = path
        self.rows = [r for r in LogFile(path).rows if int(r["epoch"]) < epochs_done]

    def append(self, epoch: int, values: dict[str, float]) -> None:
        self.rows.append({"epoch": epoch, **values})
        columns = ["epoch"] + sorted({k for r in self.rows for k in r} - {"epoch"})
        text = io.StringIO()
        writer = csv.DictWriter(text, columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        files.write_bytes(self.path, text.getvalue().encode())


def read_log(path: Path) -> list[dict[str, str]]:
    """The rows of a training log that read (see `LogFile`), [] if there is none yet."""
    return LogFile(path).rows


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
        fault_point("train:batch")
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
        fault_point("epoch:committed")
