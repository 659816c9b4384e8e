"""Loss expressions: the trainers' `--loss` and spl-experiment's `--add` (parsed, never
executed), and the Keras loss they make."""

import keras
import numpy as np
import pytest

import spl_tf
from applications.common import loss_expressions
from applications.common.config import ObjectiveConfig
from applications.srresnet.config import SRConfig
from command_utils import run_in_process
from spl_tf.utils.errors import InputError


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32"),
            rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32"))


def test_expression_is_the_weighted_sum_of_its_losses_per_image_averaged_over_the_batch():
    y_true, y_pred = _batch()
    loss = loss_expressions.keras_loss("SPL - 0.5 * GPL + 2*L1")
    per_image = (spl_tf.SPL(reduction=None)(y_true, y_pred)
                 - 0.5 * spl_tf.GPL(reduction=None)(y_true, y_pred)
                 + 2 * np.abs(y_true - y_pred).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(loss(y_true, y_pred), np.mean(per_image), rtol=1e-5)


def test_expression_arguments_reach_the_loss():
    (term,) = loss_expressions.parse("CPL(rgb=False, value_range=(0, 1)) * 3")
    assert term.weight == 3.0 and dict(term.kwargs) == {"rgb": False, "value_range": (0, 1)}
    ((weight, loss),) = loss_expressions.keras_loss(
        "CPL(rgb=False, value_range=(0, 1)) * 3").terms
    assert weight == 3.0 and isinstance(loss, spl_tf.CPL)
    assert not loss.rgb and tuple(loss.value_range) == (0.0, 1.0)


def test_the_names_of_before_are_the_losses_they_were():
    # Runs made with --loss=spl or --loss=l1 resume with the same loss.
    assert type(loss_expressions.keras_loss("spl")) is spl_tf.SPL
    assert type(loss_expressions.keras_loss("l1")) is keras.losses.MeanAbsoluteError
    # A run of SR made before --loss has no objective section: SPL.
    assert SRConfig().objective.loss == "spl"


def test_expression_loss_saves_as_its_expression():
    loss = loss_expressions.keras_loss("SPL + 0.5 * L1")
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert again.expression == "SPL + 0.5 * L1"
    y_true, y_pred = _batch(1)
    np.testing.assert_allclose(again(y_true, y_pred), loss(y_true, y_pred), rtol=1e-6)


@pytest.mark.parametrize("expression,match", [
    ("SPL +", "not an expression"),
    ("MSE", "unknown loss 'MSE'"),
    ("SPL * GPL", "multiplied by numbers"),
    ("__import__('os')", "cannot read"),
    ("SPL(gp_weight=abs(-1))", "keyword=constant"),
    ("2", "names no loss"),
])
def test_expression_errors(expression, match):
    with pytest.raises(InputError, match=match):
        loss_expressions.parse(expression)
    with pytest.raises(InputError, match=r"^--loss="):
        ObjectiveConfig(loss=expression)  # a config is checked as its flags are


def test_a_loss_that_refuses_its_arguments_names_it():
    with pytest.raises(InputError, match=r"--loss='SPL\(gamma=1\)': SPL:"):
        loss_expressions.keras_loss("SPL(gamma=1)")


def test_trainer_refuses_a_bad_loss_in_one_line(tmp_path):
    result = run_in_process("applications.pix2pix.train", f"--data_dir={tmp_path}",
                            f"--model_dir={tmp_path / 'run'}", "--loss=SPL + foo")
    assert result.returncode == 2
    assert result.stderr.strip() == ("error: --loss='SPL + foo': unknown loss 'foo'; known: "
                                     + ", ".join(loss_expressions.FUNCTIONS
                                                 + loss_expressions.CLASSES))
    assert not (tmp_path / "run").exists()


def test_a_run_trained_with_an_expression_predicts_and_resumes(tmp_path):
    import dataclasses

    import tiny_configs
    from applications.common import prediction, training
    from applications.pix2pix.application import Pix2Pix
    from applications.pix2pix.config import Pix2PixPredictConfig
    from pix2pix_data import write_pairs

    config = tiny_configs.pix2pix(write_pairs(tmp_path / "data", {"train": 4, "test": 2}))
    config = dataclasses.replace(config, objective=ObjectiveConfig(loss="SPL + 0.5 * L1"))
    run = tmp_path / "run"
    training.train(Pix2Pix(), config, run)
    _, result = prediction.predict(Pix2Pix(), tiny_configs.predict(
        Pix2PixPredictConfig, config.data, model_dir=str(run)))
    assert np.isfinite(result["psnr"])
    # The same expression resumes it; another is refused.
    training.train(Pix2Pix(), dataclasses.replace(
        config, training=dataclasses.replace(config.training, epochs=2)), run)
    with pytest.raises(InputError, match="--loss=SPL \\+ 0.5 \\* L1 \\(now SPL\\)"):
        training.train(Pix2Pix(), dataclasses.replace(
            config, objective=ObjectiveConfig(loss="SPL")), run)
