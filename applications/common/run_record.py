"""What a run folder remembers: `RUN/config.json`.

Training writes the resolved config there (with the application's name and the
versions of spl_tf, Keras and the backend) before its first step. Rerunning in the
same folder compares: the settings marked resumable (epochs, logging, where the
steps run) are taken from the new command; any other change is refused in one
line that lists the differences, before anything is built. Prediction reads the file
to take a run's data settings (image size, scale, direction...) as its defaults.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import keras

import spl_tf
from applications.common import config as config_lib
from spl_tf.utils import files
from spl_tf.utils.errors import InputError

CONFIG_FILE = "config.json"
# The two ways out of a run folder that cannot be resumed, as every refusal words them.
WAYS_OUT = "give a new --model_dir, or --overwrite to discard that run and start a new one"


def versions() -> dict[str, str]:
    """The versions a run was made with."""
    backend = keras.backend.backend()
    found = {"spl_tf": spl_tf.__version__, "keras": keras.__version__, "backend": backend,
             "python": platform.python_version()}
    if backend in ("tensorflow", "jax"):
        found[backend] = __import__(backend).__version__
    return found


def write(model_dir: Path, application: str, config: Any) -> None:
    record = {"application": application, "config": config_lib.to_dict(config),
              "versions": versions()}
    files.write_bytes(model_dir / CONFIG_FILE, json.dumps(record, indent=2).encode() + b"\n")


def read(path: Path) -> dict[str, Any]:
    """The record at `path`; InputError naming the file if it is not one."""
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
            raise ValueError("no config section")
    except (OSError, ValueError) as error:
        raise InputError(f"{path}: not a run config this program wrote ({error})") from None
    return record


def saved_config(model_dir: Path, application: str, config_class: type) -> Any | None:
    """The config of the run in `model_dir`, None if there is none yet."""
    path = model_dir / CONFIG_FILE
    if not path.exists():
        return None
    return config_file(path, application, config_class, remedy=f"correct it, or {WAYS_OUT}")


def config_file(path: Path, application: str, config_class: type,
                remedy: str = "correct it, or give its settings as flags") -> Any:
    """The config in the run record at `path` (as `--config` names one), checked as
    flags are; InputError naming the file and what is wrong, then `remedy`."""
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise InputError(f"{path}: {what} (--config takes a run's {CONFIG_FILE})")
    try:
        record = read(path)
        if record.get("application") != application:
            raise InputError(f"{path} is the config of a {record.get('application')} run, "
                             f"not of a {application} run")
        return config_lib.from_dict(config_class, record["config"])
    except InputError as error:
        message = str(error)
        named = message if str(path) in message else f"{path}: {message}"
        raise InputError(f"{named}; {remedy}") from None


def check_resume(model_dir: Path, application: str, config: Any) -> None:
    """Refuse to resume a run in `model_dir` with other settings than it was started with."""
    saved_run = saved_config(model_dir, application, type(config))
    if saved_run is None:
        return
    saved = config_lib.flat(saved_run)
    changeable = config_lib.resumable(type(config))
    changed = [f"--{name}={saved[name]} (now {value})"
               for name, value in config_lib.flat(config).items()
               if name not in changeable and saved[name] != value]
    if changed:
        raise InputError(
            f"{model_dir} was trained with other settings: {', '.join(changed)}. Rerun with "
            "the run's settings to resume it (only --epochs, --verbose and where it runs "
            f"may change), or {WAYS_OUT}")


def for_prediction(checkpoint: Path | None, model_dir: Path | None) -> dict[str, Any] | None:
    """The record of the run a checkpoint comes from, if it is in a run folder.

    Looks in `model_dir`, else beside the checkpoint and one folder up (for
    `RUN/model.keras`, `RUN/export/` and `RUN/checkpoints/epoch_NNN.keras`).
    """
    if model_dir is not None:
        candidates = [model_dir / CONFIG_FILE]
    else:
        candidates = [checkpoint.parent / CONFIG_FILE, checkpoint.parent.parent / CONFIG_FILE]
    for path in candidates:
        if path.is_file():
            try:
                return read(path)
            except InputError as error:
                raise InputError(f"{error}; move it away to predict without the run's "
                                 "settings") from None
    return None
