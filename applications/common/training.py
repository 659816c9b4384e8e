"""One way through for every application: check, build in scope, compile, fit, save.

`train(app, config, model_dir)` trains an application's model (or resumes its
run) and leaves `model.keras` (compiled, with its loss) and `export/` (a
SavedModel) in `model_dir`, beside `config.json` and what the callbacks write.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import keras

from applications.common import callbacks, run_record, runtime
from applications.common.application import Application
from fcc_dataset.errors import InputError


def train(app: Application, config: Any, model_dir: Path) -> keras.Model:
    """Train (or resume) `app` with `config` in `model_dir`; returns the model."""
    model_dir = Path(model_dir).expanduser().absolute()
    if model_dir.exists() and not model_dir.is_dir():
        raise InputError(f"--model_dir={model_dir} exists and is not a folder")
    run_record.check_resume(model_dir, app.name, config)
    data = app.training_data(config)
    model_dir.mkdir(parents=True, exist_ok=True)
    run_record.write(model_dir, app.name, config)
    with runtime.set_up(config.runtime, config.training.seed):
        model = app.build_model(config)
        model.compile(
            optimizer=runtime.optimizer(config.training, data.steps_per_epoch),
            loss=app.loss(config),
            jit_compile=runtime.jit_compile(config.runtime),
            steps_per_execution=config.runtime.steps_per_execution,
        )
    model.fit(
        data.train,
        validation_data=data.validation,
        epochs=config.training.epochs,
        steps_per_epoch=data.steps_per_epoch,
        callbacks=callbacks.standard(model_dir, data.sample, app.panels, app.panel_titles),
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=config.training.verbose,
    )
    callbacks.save_model(model, model_dir / "model.keras")
    export(model, model_dir / "export", app.size_multiple)
    return model


def export(model: keras.Model, path: Path, size_multiple: int = 1) -> None:
    """A SavedModel for serving, `serve(images)` with any batch, height and width."""
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    options = {}
    if keras.backend.backend() == "jax":
        # jax2tf must be told what the symbolic sizes can be (reflect padding
        # needs them >= the pad width); serving needs no gradient.
        channels = model.input_shape[-1]
        k = size_multiple
        options["jax2tf_kwargs"] = {
            "polymorphic_shapes": [f"(b, {k}*h, {k}*w, {channels})"],
            "polymorphic_constraints": ("h >= 2", "w >= 2"),
            "with_gradient": False,
        }
    model.export(str(tmp), format="tf_saved_model", verbose=False, **options)
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)
