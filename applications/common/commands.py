"""The train and predict commands of every application, from its config and contract.

    def application() -> Application:
        from applications.pix2pix.application import Pix2Pix
        return Pix2Pix()

    entry_point = commands.train_command(Pix2PixConfig, application, doc=__doc__,
                                         required=("data_dir",))

gives the console script / `python -m` entry point of a command whose flags are
exactly the fields of the config class (plus `--model_dir`, `--config` and
`--overwrite` for training), defined when it starts, with the config's defaults; any
other flag, a stray argument or a value that cannot work stops with one `error:` line.
The application (its model, data and TensorFlow) is imported only once the flags are
parsed, so `--help` answers at once. Rerunning a train command in a run folder takes
the run's settings for the flags it does not give (`--model_dir=RUN --epochs=100` goes
on training RUN); `--config=RUN/config.json` starts from a saved run's settings, the
flags given beside it overriding them; `--overwrite` discards the run in `--model_dir`
and starts a new one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING

from absl import flags

from applications.common import config
from spl_tf.utils import cli
from spl_tf.utils.errors import InputError

if TYPE_CHECKING:
    from applications.common.application import Application

RUN_SECTION = "run"  # the --help heading of the train flags that are not settings


def define_train_flags(config_class: type, flag_values: flags.FlagValues,
                       required: Collection[str] = ()) -> None:
    """The flags of a train command: `--model_dir`, `--config`, `--overwrite` and the
    fields of its config class."""
    where = {"flag_values": flag_values, "module_name": RUN_SECTION}
    flags.DEFINE_string("model_dir", None, f"{cli.REQUIRED} The run's folder: config.json, "
                        "checkpoints, logs, model.keras, export/. Rerun to resume.", **where)
    flags.DEFINE_string("config", None, "A run's config.json to start from (RUN/config.json); "
                        "the flags given beside it override its settings.", **where)
    flags.DEFINE_boolean("overwrite", False, "Discard the run in --model_dir (its config.json, "
                         "checkpoints, logs, samples, model and export) and start a new one "
                         "with the flags given.", **where)
    config.define_flags(config_class, flag_values, required=required)


def define_predict_flags(config_class: type, flag_values: flags.FlagValues) -> None:
    """The flags of a predict command: the fields of its config class."""
    config.define_flags(config_class, flag_values)


def train_command(config_class: type, application: Callable[[], Application], *, doc: str,
                  required: Collection[str] = ()) -> Callable[[], None]:
    """The entry point of a train command; `application()` imports and makes the app."""

    def main() -> None:
        cli.import_quietly("tensorflow")  # only now: --help needs none
        from applications.common import run_record, training

        values = flags.FLAGS
        if not values.model_dir:
            raise InputError("--model_dir is required (the run's folder)")
        model_dir = Path(values.model_dir)
        app = application()
        settings = config.from_flags(config_class, values)
        given = config.given(config_class, values)
        if values.config:
            settings = config.merge(run_record.config_file(Path(values.config), app.name,
                                                           config_class), settings, given)
            given = set(config.flat(settings))  # asked for, all: a resume compares them all
        saved = None if values.overwrite else run_record.saved_config(
            model_dir, app.name, config_class)
        if saved is not None:
            # A rerun names only what it changes; the rest is the run's.
            settings = config.merge(saved, settings, given)
        training.train(app, settings, model_dir, overwrite=values.overwrite)

    define = functools.partial(define_train_flags, config_class, required=required)
    return functools.partial(cli.run, main, define, doc=doc)


def predict_command(config_class: type, application: Callable[[], Application], *,
                    doc: str) -> Callable[[], None]:
    """The entry point of a predict command; `application()` imports and makes the app."""

    def main() -> None:
        cli.import_quietly("tensorflow")  # only now: --help needs none
        from applications.common import prediction

        values = flags.FLAGS
        app = application()
        settings = prediction.with_run_settings(app, config.from_flags(config_class, values),
                                                config.given(config_class, values))
        prediction.print_summary(*prediction.predict(app, settings))

    define = functools.partial(define_predict_flags, config_class)
    return functools.partial(cli.run, main, define, doc=doc)
