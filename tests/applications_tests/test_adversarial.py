"""Conditional-GAN training in the pix2pix trainer (applications/common/adversarial.py):
tiny runs of each discriminator and GAN mode (here on TensorFlow, and the same tests
rerun on JAX), what such a run leaves and how it resumes; `--adversarial=none` is the
plain trainer, and a run folder made before the adversarial settings existed resumes."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

import spl_tf  # noqa: F401  (registers what the run's model needs)
import tiny_configs
from applications.common import adversarial, callbacks, discriminators, gan_objectives
from applications.common import prediction, runtime, training
from applications.common.config import ObjectiveConfig, RuntimeConfig, TrainingConfig
from applications.common.resnet_generator import build_generator
from applications.pix2pix.application import Pix2Pix
from backend_utils import check_all_passed, rerun_under_jax
from pix2pix_data import write_pairs
from spl_tf.utils import image_io
from spl_tf.utils.errors import InputError

PIX2PIX = Pix2Pix()
ON_JAX = keras.backend.backend() == "jax"
# Tiny programs: TensorFlow traces faster than it XLA-compiles; JAX without jit dispatches
# every op alone, minutes for a run.
JIT = "auto" if ON_JAX else "false"
STEPS = 4  # 16 training pairs, batch 4


def _striped_pairs(root: Path, count: int = 16, seed: int = 0) -> Path:
    """`train/` pairs of [noise | black and white stripes]: real targets that no
    untrained generator makes, so a discriminator learns quickly to tell them apart."""
    rng = np.random.default_rng(seed)
    stripes = np.zeros((32, 32, 3), np.uint8)
    stripes[:, (np.arange(32) // 2) % 2 == 0] = 255
    for i in range(count):
        noise = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        image_io.write_rgb(root / "train" / f"{i:02d}.png", np.concatenate([noise, stripes], 1))
    return root


def _config(data: Path, adversarial: str = "patchgan", gan_mode: str = "vanilla",
            epochs: int = 4, learning_rate: float = 2e-3, **objective):
    """A tiny pix2pix config (ngf 4, one residual block, ndf 8), the learning rate high
    and Adam's beta_1 pix2pix's 0.5: a discriminator that learns in a few steps."""
    config = tiny_configs.pix2pix(data, epochs=epochs, jit_compile=JIT)
    return dataclasses.replace(
        config,
        objective=ObjectiveConfig(adversarial=adversarial, gan_mode=gan_mode, ndf=8,
                                  **objective),
        training=TrainingConfig(batch_size=4, epochs=epochs, learning_rate=learning_rate,
                                fixed_learning_rate=True, beta_1=0.5, verbose=0))


def _log(run: Path) -> list[dict[str, float]]:
    return [{k: float(v) for k, v in row.items()}
            for row in callbacks.read_log(run / callbacks.LOG_FILE)]


@pytest.fixture(scope="module")
def striped(tmp_path_factory) -> Path:
    return _striped_pairs(tmp_path_factory.mktemp("striped"))


@pytest.mark.parametrize("gan_mode", gan_objectives.GAN_MODES)
@pytest.mark.parametrize("kind", discriminators.KINDS)
def test_tiny_adversarial_run(striped, tmp_path, kind, gan_mode):
    run = tmp_path / "run"
    model = training.train(PIX2PIX, _config(striped, kind, gan_mode), run)
    assert isinstance(model, adversarial.ConditionalGAN)
    rows = _log(run)
    terms = {"loss", "reconstruction_loss", "adversarial_loss", "discriminator_loss",
             "discriminator_accuracy"} | ({"feature_matching_loss"} if kind == "multiscale"
                                          else set())
    assert set(rows[0]) == {"epoch", "learning_rate", *terms}
    assert all(math.isfinite(v) for row in rows for v in row.values())
    # Real stripes against an untrained generator's output: the discriminator beats
    # chance (0.5) within 16 steps, 0.7 to 1 in the last 4. With the labels of real and
    # fake swapped it learns the opposite: 0 to 0.1.
    accuracy = [row["discriminator_accuracy"] for row in rows]
    assert accuracy[-1] > max(0.6, accuracy[0]), accuracy
    # The loss is the generator's objective: its weighted terms.
    last = rows[-1]
    matching = 10 * last.get("feature_matching_loss", 0.0)
    assert last["loss"] == pytest.approx(
        last["reconstruction_loss"] + last["adversarial_loss"] + matching, rel=1e-4, abs=1e-4)
    # Both networks stepped every step; the run's model is the generator alone.
    assert int(model.optimizer.iterations) == int(model.discriminator_optimizer.iterations) \
        == 4 * STEPS
    saved = keras.models.load_model(run / "model.keras")
    assert saved.count_params() == model.generator.count_params()
    assert (run / "export" / "saved_model.pb").is_file()


@rerun_under_jax(__file__, "-k", "test_tiny_adversarial_run and not under_jax", timeout=900)
def test_tiny_adversarial_runs_under_jax(jax_rerun):
    check_all_passed(jax_rerun, 6)


@pytest.fixture(scope="module")
def patchgan_run(striped, tmp_path_factory) -> Path:
    """A finished 2-epoch patchgan run."""
    run = tmp_path_factory.mktemp("patchgan") / "run"
    training.train(PIX2PIX, _config(striped, epochs=2), run)
    return run


def test_tensorboard_has_a_scalar_for_each_loss_term(patchgan_run):
    import tensorflow as tf

    tags = set()
    for path in (patchgan_run / "logs" / "train").glob("events.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags |= {value.tag for value in event.summary.value}
    assert {"epoch_loss", "epoch_reconstruction_loss", "epoch_adversarial_loss",
            "epoch_discriminator_loss", "epoch_discriminator_accuracy"} <= tags, tags


def test_checkpoints_hold_both_networks_and_predict_as_the_model(patchgan_run, tmp_path):
    checkpoint = keras.models.load_model(patchgan_run / "checkpoints" / "epoch_002.keras")
    assert isinstance(checkpoint, adversarial.ConditionalGAN)
    generator = keras.models.load_model(patchgan_run / "model.keras")
    for a, b in zip(checkpoint.generator.get_weights(), generator.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # The predictor takes either: a checkpoint's call is its generator's.
    images = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype("float32")
    np.testing.assert_array_equal(prediction.load_predictor(patchgan_run / "model.keras")(images),
                                  prediction.load_predictor(
                                      patchgan_run / "checkpoints" / "epoch_002.keras")(images))


def test_resumes_from_its_checkpoints_only(striped, patchgan_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(patchgan_run, run)
    more = training.train(PIX2PIX, _config(striped, epochs=3), run)
    assert [int(r["epoch"]) for r in _log(run)] == [0, 1, 2]
    assert int(more.discriminator_optimizer.iterations) == 3 * STEPS
    # model.keras holds the generator alone: without checkpoints there is nothing to
    # resume the discriminator from, and the refusal says so.
    shutil.rmtree(run / "checkpoints")
    with pytest.raises(InputError, match="holds the generator alone, not the discriminator"):
        training.train(PIX2PIX, _config(striped, epochs=4), run)


def test_adversarial_none_is_the_plain_trainer(tmp_path):
    """The default objective trains exactly as the trainer did before it existed: the
    generator compiled with SPL and Adam, `fit` on the same pipeline."""
    data = write_pairs(tmp_path / "data", {"train": 8})
    config = tiny_configs.pix2pix(data, epochs=2, jit_compile=JIT)
    assert config.objective == ObjectiveConfig(adversarial="none", loss="spl", loss_weight=1.0)
    trained = training.train(PIX2PIX, config, tmp_path / "run")
    assert not isinstance(trained, adversarial.ConditionalGAN)

    keras.utils.set_random_seed(config.training.seed)  # as `train`: the pipeline, then
    train_data = PIX2PIX.training_data(config)         # the model, each after seeding
    with runtime.set_up(config.runtime, config.training):
        plain = build_generator(4, num_blocks=1)
        plain.compile(optimizer=runtime.optimizer(config.training, train_data.steps_per_epoch),
                      loss=spl_tf.SPL(), jit_compile=runtime.jit_compile(config.runtime))
    plain.fit(train_data.train(0), epochs=2, steps_per_epoch=train_data.steps_per_epoch,
              verbose=0)
    for a, b in zip(trained.get_weights(), plain.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_l1_with_its_weight_trains_the_plain_generator(tmp_path):
    data = write_pairs(tmp_path / "data", {"train": 8})
    config = dataclasses.replace(tiny_configs.pix2pix(data, jit_compile=JIT),
                                 objective=ObjectiveConfig(loss="l1", loss_weight=100.0))
    model = training.train(PIX2PIX, config, tmp_path / "run")
    assert isinstance(model.loss, keras.losses.MeanAbsoluteError)
    loss = _log(tmp_path / "run")[0]["loss"]
    assert 0 < loss <= 100 * 2  # L1 x 100 of images in [-1, 1]


def test_a_run_folder_made_before_the_objective_settings_resumes(tmp_path):
    data = write_pairs(tmp_path / "data", {"train": 8})
    run = tmp_path / "run"
    training.train(PIX2PIX, tiny_configs.pix2pix(data, epochs=1, jit_compile=JIT), run)
    # As an earlier version wrote it: no objective section.
    record = json.loads((run / "config.json").read_text())
    del record["config"]["objective"]
    (run / "config.json").write_text(json.dumps(record))
    training.train(PIX2PIX, tiny_configs.pix2pix(data, epochs=2, jit_compile=JIT), run)
    assert [int(r["epoch"]) for r in _log(run)] == [0, 1]
    # ... but another objective is another run.
    with pytest.raises(InputError, match="--adversarial=none \\(now patchgan\\)"):
        training.train(PIX2PIX, _config(data, epochs=3), run)


def test_float16_scales_both_networks_losses(striped, tmp_path):
    config = _config(striped, "multiscale", "lsgan", epochs=1)
    config = dataclasses.replace(config, runtime=RuntimeConfig(jit_compile=JIT,
                                                               mixed_precision="float16"))
    model = training.train(PIX2PIX, config, tmp_path / "run")
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.discriminator_optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.discriminator.layers[2].compute_dtype == "float16"
    assert all(math.isfinite(v) for v in _log(tmp_path / "run")[0].values())
