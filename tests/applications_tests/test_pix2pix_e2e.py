"""The pix2pix application end to end: train, resume, predict, export, CLI."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tiny_configs
from applications.common import prediction, training
from applications.pix2pix.application import Pix2Pix
from backend_utils import jax_env
from command_utils import run_in_process
from pix2pix_data import write_pairs

PIX2PIX = Pix2Pix()

ROOT = Path(__file__).resolve().parents[2]


def _epochs_logged(model_dir: Path) -> list[int]:
    path = model_dir / "training_log.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _predict(checkpoint, output_dir, data_dir=None, input_dir=None, **data):
    config = tiny_configs.predict(
        tiny_configs.Pix2PixPredictConfig, tiny_configs.pix2pix(data_dir, **data).data,
        checkpoint=checkpoint, output_dir=output_dir, input_dir=input_dir, batch_size=2)
    return prediction.predict(PIX2PIX, config)[1]


def _cli(module, *args, env=None, timeout=600):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_train_resume_predict_export(tmp_path):
    root = write_pairs(tmp_path / "data")
    run = tmp_path / "run"
    training.train(PIX2PIX, tiny_configs.pix2pix(root, epochs=1, ngf=8), run)
    for produced in ("config.json", "model.keras", "export/saved_model.pb", "checkpoints/epoch_001.keras",
                     "samples/epoch_001.png"):
        assert (run / produced).is_file(), produced
    assert any((run / "logs" / "train").iterdir())  # TensorBoard events
    assert any((run / "logs" / "images").iterdir())
    assert _epochs_logged(run) == [0]

    # The same command with more epochs goes on from where it stopped.
    training.train(PIX2PIX, tiny_configs.pix2pix(root, epochs=2, ngf=8), run)
    assert _epochs_logged(run) == [0, 1]
    # And a finished command run again trains nothing more.
    training.train(PIX2PIX, tiny_configs.pix2pix(root, epochs=2, ngf=8), run)
    assert _epochs_logged(run) == [0, 1]
    assert json.loads((run / "config.json").read_text())["config"]["training"]["epochs"] == 2

    out = tmp_path / "pred_keras"
    result = _predict(run / "model.keras", out, data_dir=root)
    names = sorted(p.stem for p in (root / "test").iterdir())
    for folder in ("input", "prediction", "target"):
        assert sorted(p.stem for p in (out / folder).iterdir()) == names
    assert (out / "grid.png").is_file()
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["images"] == 2 and set(saved["baseline"]) == {"name", "psnr", "ssim"}
    assert saved["psnr"] == pytest.approx(result["psnr"]) and 0 < saved["ssim"] <= 1

    out_export = tmp_path / "pred_export"
    _predict(run / "export", out_export, data_dir=root)
    for name in names:
        a = (out / "prediction" / f"{name}.png").read_bytes()
        b = (out_export / "prediction" / f"{name}.png").read_bytes()
        assert a == b, "the exported model predicts what the checkpoint predicts"

    plain = tmp_path / "plain"
    plain.mkdir()
    for path in (root / "val").iterdir():
        (plain / path.name).write_bytes(path.read_bytes())  # 64x32: resized to 32x32
    out_plain = tmp_path / "pred_plain"
    assert _predict(run / "export", out_plain, input_dir=plain) is None
    assert sorted(p.stem for p in (out_plain / "prediction").iterdir()) == sorted(
        p.stem for p in plain.iterdir())
    assert not (out_plain / "metrics.json").exists()


def test_exported_model_takes_any_size(tmp_path):
    import tensorflow as tf

    root = write_pairs(tmp_path / "data")
    run = tmp_path / "run"
    training.train(PIX2PIX, tiny_configs.pix2pix(root), run)
    exported = tf.saved_model.load(str(run / "export"))
    for shape in ((1, 32, 32, 3), (3, 48, 64, 3)):
        out = exported.serve(tf.zeros(shape))
        assert tuple(out.shape) == shape


@pytest.mark.parametrize("args,message", [
    (["--data_dir={tmp}/nowhere", "--model_dir={tmp}/run"], r"nowhere/train: no such folder"),
    (["--model_dir={tmp}/run"], r"--data_dir is required"),
    (["--data_dir={data}", "--model_dir={tmp}/run", "--image_size=30"],
     r"--image_size=30: must be a multiple of 4"),
    (["--data_dir={data}", "--model_dir={tmp}/run", "--learning_rate=nan"],
     r"--learning_rate=nan: must be a finite number > 0"),
    (["--data_dir={data}", "--model_dir={tmp}/run", "--lr_decay_rate=1.5"],
     r"--lr_decay_rate=1.5: must be in \(0, 1\]"),
    (["--data_dir={data}", "--model_dir={tmp}/run", "--scale=2"],
     r"Unknown command line flag 'scale'"),
    (["--data_dir={data}", "--model_dir={tmp}/run", "stray"], r"unexpected arguments \['stray'\]"),
    (["--data_dir={data}", "--model_dir={tmp}/run", "--strategy=mirrored", "--jit_compile=true"],
     r"--jit_compile=true: does not work with --strategy=mirrored"),
    (["--data_dir={data}", "--model_dir={tmp}/run", "--image_size=16", "--adversarial=patchgan"],
     r"--image_size=16: must be at least 24 for the patchgan discriminator of 3 layers"),
    (["--data_dir={data}", "--model_dir={tmp}/run", "--loss_weight=-1"],
     r"--loss_weight=-1.0: must be a finite number >= 0"),
    (["--data_dir={data}", "--model_dir={tmp}/run", "--loss_weight=0"],
     r"--loss_weight=0.0: must be > 0 with --adversarial=none"),
    (["--data_dir={data}", "--model_dir={tmp}/run", "--gan_mode=wgan"],
     r"--gan_mode=wgan: value should be one of <vanilla\|lsgan\|hinge>"),
    (["--data_dir={data}", "--model_dir={tmp}/run", "--num_discriminators=0"],
     r"--num_discriminators=0: must be >= 1"),
])
def test_train_cli_errors_are_one_line(tmp_path, args, message):
    data = write_pairs(tmp_path / "data", {"train": 4})
    args = [a.format(tmp=tmp_path, data=data) for a in args]
    result = run_in_process("applications.pix2pix.train", *args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and __import__("re").search(message, error_lines[0]), result.stderr


def test_predict_cli_errors(tmp_path):
    result = run_in_process("applications.pix2pix.predict",
                            f"--checkpoint={tmp_path}/missing.keras",
                            f"--output_dir={tmp_path}/out", f"--input_dir={tmp_path}")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "missing.keras: expected a .keras checkpoint or an exported SavedModel" in result.stderr


def test_console_scripts_are_declared():
    from importlib.metadata import entry_points

    scripts = {e.name: e for e in entry_points(group="console_scripts")}
    for name in ("spl-pix2pix-train", "spl-pix2pix-predict", "spl-pix2pix-demo",
                 "spl-srresnet-train", "spl-srresnet-predict"):
        assert callable(scripts[name].load())


def test_tiny_run_on_jax(tmp_path):
    data = write_pairs(tmp_path / "data")
    run = tmp_path / "run"
    env = jax_env(legacy_emitters=True)  # checked for its files and finite metrics only
    trained = _cli("applications.pix2pix.train", f"--data_dir={data}", f"--model_dir={run}",
                   "--batch_size=4", "--epochs=1", "--image_size=32", "--ngf=4", "--num_blocks=1", env=env)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert (run / "model.keras").is_file() and _epochs_logged(run) == [0]
    # The run's data settings (folder, image size) are the predictor's defaults.
    predicted = _cli("applications.pix2pix.predict", f"--model_dir={run}", "--batch_size=2",
                     env=env)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert (run / "predictions" / "test" / "metrics.json").is_file()


MIRRORED_BFLOAT16 = """
import sys
from pathlib import Path
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import tiny_configs
from applications.common import training
from applications.pix2pix.application import Pix2Pix
root, run = Path(sys.argv[1]), Path(sys.argv[2])
config = tiny_configs.pix2pix(root, jit_compile="auto", strategy="mirrored",
                              mixed_precision="bfloat16")
model = training.train(Pix2Pix(), config, run)
print("replicas", model.distribute_strategy.num_replicas_in_sync)
print("dtypes", model.layers[2].compute_dtype, model.output.dtype)
"""


@pytest.mark.slow  # a long end-to-end run: make test-slow
def test_mirrored_strategy_and_bfloat16(tmp_path):
    """In its own process: TF collectives of two MirroredStrategy objects in one
    process can collide, and the logical CPUs must be set before TF starts."""
    root = write_pairs(tmp_path / "data")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", MIRRORED_BFLOAT16, str(root),
                             str(tmp_path / "run")], cwd=ROOT / "tests", env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "replicas 2" in result.stdout
    assert "dtypes bfloat16 float32" in result.stdout
    assert _epochs_logged(tmp_path / "run") == [0]
    log = (tmp_path / "run" / "training_log.csv").read_text().splitlines()[1].split(",")
    assert all(np.isfinite(float(v)) for v in log[1:])
