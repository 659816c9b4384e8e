"""One way through for every trainer: build in scope, compile, fit, save, export."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from applications.common import callbacks, runtime
from applications.common.flags import TrainConfig


@dataclasses.dataclass
class TrainData:
    """What a trainer's data module hands to `train`."""

    train: object  # tf.data.Dataset of (inputs, targets) batches
    steps_per_epoch: int
    sample: tuple[np.ndarray, np.ndarray]  # a few fixed validation pairs to show
    validation: object | None = None


def train(
    build_model: Callable[[], keras.Model],
    loss: keras.losses.Loss,
    config: TrainConfig,
    data: TrainData,
    panels: callbacks.Panels = callbacks.default_panels,
    size_multiple: int = 1,
    verbose: int | str = "auto",
) -> keras.Model:
    """Train (or resume) and leave `model.keras` and `export/` in `config.model_dir`.

    `size_multiple`: what the model's input height and width must be a
    multiple of (4 for a generator that downsamples twice by 2).
    """
    config.model_dir.mkdir(parents=True, exist_ok=True)
    with runtime.set_up(config):
        model = build_model()
        model.compile(
            optimizer=runtime.optimizer(config, data.steps_per_epoch),
            loss=loss,
            jit_compile=runtime.jit_compile(config),
            steps_per_execution=config.steps_per_execution,
        )
    model.fit(
        data.train,
        validation_data=data.validation,
        epochs=config.epochs,
        steps_per_epoch=data.steps_per_epoch,
        callbacks=callbacks.standard(config.model_dir, data.sample, panels),
        shuffle=False,  # the tf.data pipeline shuffles
        verbose=verbose,
    )
    callbacks.save_model(model, config.model_dir / "model.keras")
    export(model, config.model_dir / "export", size_multiple)
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
