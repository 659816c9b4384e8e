"""One way through for every application: check, build in scope, compile, fit, save.

`train(app, config, model_dir)` trains an application's model (or resumes its
run) and leaves `model.keras` (compiled, with its loss) and `export/` (a
SavedModel) in `model_dir`, beside `config.json` and what each epoch writes
(see `callbacks`). The run folder is locked while it trains. A run killed at any
instant loses at most the epoch in progress: rerun the same command.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
from absl import logging

from applications.common import callbacks, discriminators, resume, run_record, runtime
from applications.common.adversarial import ConditionalGAN
from applications.common.application import Application
from applications.common.checkpoints import Checkpoints, save_model
from spl_tf.utils import cli, locks
from spl_tf.utils.errors import FileError, InputError
from spl_tf.utils.faults import fault_point


class DivergedError(InputError):
    """Training produced a loss that is not finite (shown as one `error:` line: the
    usual cause is a setting, such as the learning rate or the precision)."""


def train(app: Application, config: Any, model_dir: Path,
          overwrite: bool = False, extra_callbacks: Sequence[keras.callbacks.Callback] = ()
          ) -> keras.Model:
    """Train (or resume) `app` with `config` in `model_dir`; returns the model.

    `extra_callbacks` run in `fit` before the one that commits each epoch (its
    checkpoint), so what they write at an epoch's end is redone by a rerun that redoes
    the epoch (spl-experiment scores the model so during training).

    What a rerun does with what the folder holds is `resume`'s (its module says the
    rules); `overwrite` discards an earlier run there instead. Everything is checked
    and the model built before the first write, so a refused command changes nothing.

    In a multi-host run (`--coordinator_address`) every process calls this alike and
    resumes from `model_dir`; process 0 locks it and writes there. The others write
    the same files to a scratch folder they delete: saving a model reads its
    replicated variables, which JAX checks across processes, so every process must
    save when process 0 does.
    """
    model_dir = Path(model_dir).expanduser().absolute()
    if model_dir.exists() and not model_dir.is_dir():
        raise InputError(f"--model_dir={model_dir} exists and is not a folder")
    runtime.connect(config.runtime, config.training.seed)
    if runtime.process_index() == 0:
        with locks.hold(model_dir, "--model_dir", "training run"):
            return _train(app, config, model_dir, model_dir, overwrite, extra_callbacks)
    with tempfile.TemporaryDirectory(prefix="spl_tf_worker_") as scratch:
        return _train(app, config, model_dir, Path(scratch), overwrite, extra_callbacks)


def _train(app: Application, config: Any, model_dir: Path, out_dir: Path,
           overwrite: bool, extra_callbacks: Sequence[keras.callbacks.Callback] = ()
           ) -> keras.Model:
    """Resume from `model_dir`, write to `out_dir` (the same folder, but on workers)."""
    run = resume.RunFolder(model_dir)
    if not overwrite:
        run.check(app.name, config)
    data = app.training_data(config)
    with runtime.set_up(config.runtime, config.training):
        model = _compiled_model(app, config, data.steps_per_epoch)
        adversarial = isinstance(model, ConditionalGAN)
        start = resume.Start(0, "") if overwrite else run.start(
            model, data.steps_per_epoch, final_model=not adversarial)
    # Checked and built: from here on the command writes.
    writes = out_dir == model_dir
    if writes:
        run.discard() if overwrite else run.commit(start)
    checkpoints = run.checkpoints if writes and not overwrite else Checkpoints(
        out_dir / "checkpoints")
    run_record.write(out_dir, app.name, config)
    _remove_leftovers(out_dir)
    checkpoints.remove_leftovers()
    done = start.epoch
    epoch_end = callbacks.EpochEnd(
        callbacks.SampleStrip(out_dir, data.sample, app.panels, app.panel_titles),
        callbacks.TrainingLog(out_dir / callbacks.LOG_FILE, done), checkpoints)
    if done < config.training.epochs:
        model.fit(
            data.train(done * data.steps_per_epoch),
            validation_data=_whole_batches(data.validation, config.training.batch_size),
            initial_epoch=done,
            epochs=config.training.epochs,
            steps_per_epoch=data.steps_per_epoch,
            callbacks=[callbacks.TensorBoard(str(out_dir / "logs")), *extra_callbacks,
                       epoch_end],
            shuffle=False,  # the tf.data pipeline shuffles
            verbose=config.training.verbose if writes else 0,
        )
    if epoch_end.diverged:
        kept = checkpoints.newest()
        # With no epoch finished, the run's settings may still change (see `resume`).
        raise DivergedError(
            f"training stopped: {epoch_end.diverged}; nothing of that epoch was saved "
            + (f"(the last checkpoint is epoch {kept}). Lower --learning_rate or change "
               f"the precision, and {run_record.WAYS_OUT}" if kept else
               "(no checkpoint yet). Lower --learning_rate or change the precision and "
               "rerun"))
    # The model a run leaves is the generator, whatever it was trained against.
    generator = model.trained_generator() if adversarial else model
    save_model(generator, out_dir / resume.MODEL_FILE, max(done, config.training.epochs))
    export(generator, out_dir / resume.EXPORT, app.size_multiple)
    return model


def _compiled_model(app: Application, config: Any, steps_per_epoch: int) -> keras.Model:
    """The application's generator compiled with its loss, or, with an adversarial
    objective, the `ConditionalGAN` that trains it; the optimizers built, so that a
    checkpoint restores their state too."""
    generator = app.build_model(config)
    objective = app.objective(config)
    compile_args = {"jit_compile": runtime.jit_compile(config.runtime),
                    "steps_per_execution": config.runtime.steps_per_execution}

    def optimizer() -> keras.optimizers.Optimizer:
        return runtime.optimizer(config.training, steps_per_epoch)

    if objective is None or objective.adversarial == "none":
        weight = None if objective is None or objective.loss_weight == 1 else objective.loss_weight
        generator.compile(optimizer=optimizer(), loss=app.loss(config), loss_weights=weight,
                          **compile_args)
        generator.optimizer.build(generator.trainable_variables)
        return generator
    multiscale = objective.adversarial == "multiscale"
    num_scales = objective.num_discriminators if multiscale else 1
    channels = generator.input_shape[-1] + generator.output_shape[-1]
    model = ConditionalGAN(
        generator,
        discriminators.build_discriminator(
            objective.adversarial, channels, objective.ndf, objective.discriminator_layers,
            num_scales),
        gan_mode=objective.gan_mode, num_scales=num_scales,
        reconstruction_weight=objective.loss_weight,
        adversarial_weight=objective.adversarial_weight,
        feature_matching_weight=objective.feature_matching_weight if multiscale else 0.0,
        sequential=not multiscale)  # pix2pix's order; pix2pixHD steps both at once
    model.compile(optimizer(), optimizer(), app.loss(config), **compile_args)
    return model


def _whole_batches(validation: Any, batch_size: int) -> Any:
    """Validation batches that split over the devices of a JAX data-parallel run.

    Every batch must divide over the devices there: the last, partial batch is
    left out, and whole images of different sizes (SR) cannot be batched at all.
    """
    devices = runtime.data_parallel_devices()
    if validation is None or devices == 1:
        return validation
    import tensorflow as tf

    if not all(spec.shape[1:].is_fully_defined()
               for spec in tf.nest.flatten(validation.element_spec)):
        logging.warning("no validation during training: images of different sizes cannot "
                        "be split over %d devices (score them with the predict command)",
                        devices)
        return None
    whole = validation.unbatch().batch(batch_size, drop_remainder=True)
    if next(iter(whole.take(1)), None) is None:
        logging.warning("no validation during training: fewer validation images than one "
                        "batch of %d (--batch_size) to split over %d devices",
                        batch_size, devices)
        return None
    logging.info("validating on whole batches of %d only (split over %d devices)",
                 batch_size, devices)
    return whole


def export(model: keras.Model, path: Path, size_multiple: int = 1) -> None:
    """A SavedModel for serving, `serve(images)` with any batch, height and width.

    Written beside `path` and swapped in: a kill leaves either the old export or
    the new one (or, between the two renames, neither, and the rerun exports again).
    A failed write (a full disk) is a FileError naming `path`, which stays as it was.
    """
    tmp, old = path.with_name(f".{path.name}.tmp"), path.with_name(f".{path.name}.old")
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
    try:
        with cli.quiet_tensorflow_info():
            model.export(str(tmp), format="tf_saved_model", verbose=False, **options)
        _sync_tree(tmp)
        fault_point(f"write:{path.name}")
    except Exception as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(error, OSError):
            raise FileError(path, error) from None
        import tensorflow as tf

        if isinstance(error, tf.errors.OpError):
            raise FileError(path, error.message) from None
        raise
    shutil.rmtree(old, ignore_errors=True)
    if path.exists():
        path.rename(old)
    fault_point("export:swap")  # a kill here leaves neither: the rerun exports again
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)


def _remove_leftovers(model_dir: Path) -> None:
    """The temporary files of writes a kill interrupted (see `spl_tf.utils.files`)."""
    for folder in (model_dir, model_dir / "samples"):
        for stale in folder.glob(".*.tmp"):
            if stale.is_file():
                stale.unlink()


def _sync_tree(folder: Path) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            with open(Path(root) / name, "rb") as f:
                os.fsync(f.fileno())
