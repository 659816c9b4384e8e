"""The train and predict commands of every application, from its contract.

    entry_point = commands.train_command(Pix2Pix())

gives the console script / `python -m` entry point of a command whose flags are
exactly the fields of the application's config (plus `--model_dir` and `--overwrite`
for training), defined when it starts, with the config's defaults; any other flag, a
stray argument or a value that cannot work stops with one `error:` line. Rerunning a
train command in a run folder takes the run's settings for the flags it does not
give (`--model_dir=RUN --epochs=100` goes on training RUN); `--overwrite` discards the
run there and starts a new one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from absl import flags

from applications.common import config, prediction, run_record, training
from applications.common.application import Application
from fcc_dataset import cli
from fcc_dataset.errors import InputError


def define_train_flags(app: Application, flag_values: flags.FlagValues) -> None:
    """The flags of `app`'s train command: `--model_dir` and its train config's fields."""
    flags.DEFINE_string("model_dir", None, "The run's folder: config.json, checkpoints, logs, "
                        "model.keras, export/. Rerun to resume.", flag_values=flag_values)
    flags.DEFINE_boolean("overwrite", False, "Discard the run in --model_dir (its config.json, "
                         "checkpoints, logs, samples, model and export) and start a new one "
                         "with the flags given.", flag_values=flag_values)
    config.define_flags(app.train_config, flag_values)


def define_predict_flags(app: Application, flag_values: flags.FlagValues) -> None:
    """The flags of `app`'s predict command: its predict config's fields."""
    config.define_flags(app.predict_config, flag_values)


def train_command(app: Application) -> Callable[[], None]:
    """The entry point of `app`'s train command."""

    def main() -> None:
        values = flags.FLAGS
        if not values.model_dir:
            raise InputError("--model_dir is required (the run's folder)")
        model_dir = Path(values.model_dir)
        settings = config.from_flags(app.train_config, values)
        saved = None if values.overwrite else run_record.saved_config(
            model_dir, app.name, app.train_config)
        if saved is not None:
            # A rerun names only what it changes; the rest is the run's.
            settings = config.merge(saved, settings, config.given(app.train_config, values))
        training.train(app, settings, model_dir, overwrite=values.overwrite)

    return functools.partial(cli.run, main, functools.partial(define_train_flags, app))


def predict_command(app: Application) -> Callable[[], None]:
    """The entry point of `app`'s predict command."""

    def main() -> None:
        values = flags.FLAGS
        settings = config.from_flags(app.predict_config, values)
        settings = prediction.with_run_settings(
            app, settings, config.given(app.predict_config, values))
        prediction.print_summary(*prediction.predict(app, settings))

    return functools.partial(cli.run, main, functools.partial(define_predict_flags, app))
