"""Where a rerun of the train command goes on from, decided before anything is written.

`RunFolder(model_dir)` reads what a run folder holds (config.json, the checkpoints and
whether they read back whole, model.keras, training_log.csv, the sample strips) and
changes nothing. `check` refuses, in one line, a folder that cannot be resumed as it
is; `start` loads the newest good state into the model and says which epoch that is.
Only then, once the command is sure to train, `commit` moves damaged files aside.
The rules (the README's table):

* a new or empty folder, or one with only `config.json` (no epoch finished): a new run;
* checkpoints: the newest one that reads back whole; damaged ones are moved to
  `checkpoints/damaged/` with one warning;
* no checkpoint left but `model.keras` (a finished run whose `checkpoints/` was
  deleted): `model.keras`, when it holds the optimizer state of the last epoch the
  log records (of a whole number of epochs, without a log);
* no `training_log.csv`: resumed, with a warning; a damaged one: its readable rows are
  kept and the file as it was is moved to `training_log.csv.damaged`;
* finished epochs (checkpoints, model.keras, log rows, strips) but no `config.json`, or
  nothing left to resume them from: refused. `--overwrite` discards such a run.
"""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path
from typing import Any

import keras
from absl import logging

from applications.common import callbacks, run_record
from applications.common.checkpoints import (DAMAGED, Checkpoints, Survey, check_readable,
                                             recorded_epochs)
from spl_tf.utils.errors import FileError, InputError

MODEL_FILE = "model.keras"
EXPORT = "export"
_STRIP = re.compile(r"epoch_(\d+)\.png")  # samples/, one per epoch
# Everything a training run writes in its folder (and prediction, into `predictions/`):
# what `--overwrite` discards. Other files there are the user's and stay.
RUN_FILES = (run_record.CONFIG_FILE, "checkpoints", "logs", "samples", callbacks.LOG_FILE,
             callbacks.LOG_FILE + ".damaged", MODEL_FILE, EXPORT, "predictions")


@dataclasses.dataclass(frozen=True)
class Start:
    """The epoch a run goes on from (0: the start), and what the rerun will set right."""

    epoch: int
    source: str  # the file it was loaded from, or "" for none
    detail: str = ""  # said after the source in the warnings
    notes: tuple[str, ...] = ()  # warnings to give when the run commits to starting


class RunFolder:
    """What a run folder holds, read once, changing nothing."""

    def __init__(self, model_dir: Path):
        self.model_dir = model_dir
        self.checkpoints = Checkpoints(model_dir / "checkpoints")
        self.survey: Survey = self.checkpoints.survey()
        self.log = callbacks.LogFile(model_dir / callbacks.LOG_FILE)
        self.model_file = model_dir / MODEL_FILE
        self._model_file_problem = ""  # why model.keras could not be resumed from

    def has_config(self) -> bool:
        return (self.model_dir / run_record.CONFIG_FILE).exists()

    def trained_epochs(self) -> int:
        """The most epochs anything in the folder says were finished (0: none).

        The log and the strips are written before an epoch's checkpoint commits it, so
        they may run one epoch ahead of what finished.
        """
        strips = [int(m[1]) for p in (self.model_dir / "samples").glob("epoch_*.png")
                  if (m := _STRIP.fullmatch(p.name))]
        evidence = [*self.survey.good, *self.survey.damaged, self.log.epochs - 1,
                    max(strips, default=0) - 1]
        if self.model_file.exists() or (self.model_dir / EXPORT).exists():
            evidence.append(1)
        return max([0, *evidence])

    def check(self, application: str, config: Any) -> None:
        """Refuse a folder that cannot be resumed with `config` (InputError, one line)."""
        trained = self.trained_epochs()
        if not self.has_config():
            if trained:
                raise InputError(
                    f"{self.model_dir} holds a training run ({self._described()}) but no "
                    f"{run_record.CONFIG_FILE} saying how it was trained, so it cannot be "
                    f"resumed; {run_record.WAYS_OUT}")
            return
        if trained:
            run_record.check_resume(self.model_dir, application, config)
        else:
            # Nothing finished: only the settings are there, and they may change. Still
            # refuse another application's folder, or a config.json that does not read.
            run_record.saved_config(self.model_dir, application, type(config))

    def start(self, model: keras.Model, steps_per_epoch: int, final_model: bool = True
              ) -> Start:
        """Load the newest good state into `model` (compiled, its optimizer built);
        InputError if finished epochs have nothing left to resume them from.

        `final_model=False`: model.keras does not hold what the run resumes with (an
        adversarial run's holds the generator alone), so only checkpoints count.
        """
        trained = self.trained_epochs()
        newest = self.survey.good[0] if self.survey.good else 0
        start = None
        if self.model_file.exists() and newest < trained:
            if final_model:
                start = self._from_model_file(model, steps_per_epoch, newest)
            else:
                self._model_file_problem = (
                    f"{self.model_file} holds the generator alone, not the discriminator "
                    "and the optimizers' state an adversarial run resumes with")
        if start is None and newest:
            self._load(model, self.checkpoints.path(newest))
            start = Start(newest, self.checkpoints.path(newest).name)
        if start is None:
            start = Start(0, "")
        if trained and not start.epoch:
            raise InputError(
                f"{self.model_dir}: {trained} finished epochs ({self._described()}) but "
                f"nothing to resume them from{self._why_not()}; {run_record.WAYS_OUT}")
        notes = list(self.log.problems)
        if self.survey.damaged:  # then `trained`, and so `start.epoch`, is not 0
            notes.append("; ".join(self.survey.damaged.values())
                         + f" (moved to {self.checkpoints.folder / DAMAGED}); resuming from "
                         f"{start.source}{start.detail} instead")
        elif start.source == str(self.model_file):
            notes.append(f"{self.checkpoints.folder}: no checkpoint of epoch {start.epoch}; "
                         f"resuming from {start.source}{start.detail}")
        if self.log.missing and start.epoch:
            notes.append(f"{self.log.path} is missing: the rows of epochs 1-{start.epoch} "
                         "are lost; the log goes on from the next epoch")
        return dataclasses.replace(start, notes=tuple(notes))

    def commit(self, start: Start) -> None:
        """The command is going to train: set damaged files aside, drop checkpoints a kill
        left beyond the newest two, say what was set right."""
        self.checkpoints.set_aside(self.survey.damaged)
        self.checkpoints.prune()
        self.log.set_aside_if_damaged()
        for note in start.notes:
            logging.warning("%s", note)

    def discard(self) -> None:
        """`--overwrite`: remove what an earlier run wrote here (config.json first: a kill
        midway leaves a folder the next command refuses, not one it resumes)."""
        for name in RUN_FILES:
            path = self.model_dir / name
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                elif path.exists() or path.is_symlink():
                    path.unlink()
            except OSError as error:
                raise FileError(path, error, "remove") from None
        logging.warning("--overwrite: discarded the earlier run in %s", self.model_dir)

    def _from_model_file(self, model: keras.Model, steps_per_epoch: int,
                         newest: int) -> Start | None:
        """Resume from model.keras if it is newer than every checkpoint and holds the
        state at the end of an epoch (the log's last, when there is one): the epochs it
        records (`save_model`), or for a file without a record, those its optimizer's
        step count makes."""
        try:
            check_readable(self.model_file)
        except InputError as error:
            self._model_file_problem = str(error)
            return None
        self._load(model, self.model_file)
        steps = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
        epoch, rest = recorded_epochs(self.model_file), 0
        if epoch is None:  # written by an earlier version: an epoch of whole steps
            epoch, rest = divmod(steps, max(steps_per_epoch, 1))
        logged = self.log.epochs
        # The log may run one epoch ahead of the last commit; a model.keras behind it
        # would lose finished epochs.
        if rest or epoch <= newest or epoch < logged - 1:
            self._model_file_problem = (
                f"{self.model_file} holds step {steps}, " + (
                    f"not the end of an epoch of {steps_per_epoch} steps" if rest else
                    f"epoch {epoch}, behind the {logged} epochs of {self.log.path.name}"
                    if epoch < logged - 1 else f"epoch {epoch}, no newer than the checkpoints"))
            if newest:
                self._load(model, self.checkpoints.path(newest))
            return None
        return Start(epoch, str(self.model_file), f" (epoch {epoch}, optimizer step {steps})")

    def _load(self, model: keras.Model, path: Path) -> None:
        """The weights and optimizer state of `path` into `model`; InputError if they do
        not fit (the run's config.json no longer describes the model that was trained)."""
        try:
            model.load_weights(path)
        except OSError as error:
            raise FileError(path, error, "read") from None
        except ValueError as error:
            raise InputError(
                f"{path} does not fit the model {self.model_dir / run_record.CONFIG_FILE} "
                f"describes ({str(error).splitlines()[0]}); {run_record.WAYS_OUT}") from None

    def _why_not(self) -> str:
        reasons = list(self.survey.damaged.values())
        if self._model_file_problem:
            reasons.append(self._model_file_problem)
        return f" ({'; '.join(reasons)})" if reasons else ""

    def _described(self) -> str:
        present = [name for name in ("checkpoints", MODEL_FILE, EXPORT, callbacks.LOG_FILE,
                                     "samples")
                   if (self.model_dir / name).exists()]
        return ", ".join(present)

