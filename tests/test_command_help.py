"""The front door of every command: `--help` shows its own flags by section, fast and
without TensorFlow; predict commands refuse training's flags; `--config` repeats a run."""

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import tiny_configs
from applications.common import config, training
from applications.pix2pix.application import Pix2Pix
from command_utils import run_in_process
from pix2pix_data import write_pairs

ROOT = Path(__file__).resolve().parents[1]

TRAIN = ("run", "data", "model", "training", "runtime")
# module: (section headings in order, a flag and its default, the required flags)
COMMANDS = {
    "applications.pix2pix.train": (("run", "data", "model", "objective", "training", "runtime"),
                                   ("--adversarial", "'none'"), ("model_dir", "data_dir")),
    "applications.srresnet.train": (("run", "data", "model", "objective", "training", "runtime"),
                                    ("--scale", "'4'"), ("model_dir",)),
    "applications.makeup.train": (TRAIN, ("--val_fraction", "'0.1'"), ("model_dir", "data_dir")),
    "applications.pix2pix.predict": (("prediction", "data", "evaluation"),
                                     ("--image_size", "'256'"), ()),
    "applications.srresnet.predict": (("prediction", "data", "targets", "inference",
                                       "evaluation"), ("--tile_size", "'384'"), ()),
    "applications.makeup.predict": (("prediction", "data"), ("--batch_size", "'16'"), ()),
    "applications.pix2pix.demo": (("demo",), ("--epochs", "'8'"), ()),
    "applications.makeup.transfer": (("transfer",), ("--seed", "'0'"),
                                     ("model", "source", "reference", "output")),
    "applications.datasets.command": (("fetch",), ("--mirror", "''"), ()),
    "applications.evaluation.command": (("folders", "evaluation"), ("--metrics", "'psnr,ssim'"),
                                        ("pred_dir", "target_dir")),
    "applications.experiments.command": (("experiment", "evaluation"),
                                         ("--metrics", "'psnr,ssim,lpips,fid,kid'"),
                                         ("experiment_dir",)),
    "fcc_dataset.build": (("build",), ("--jobs", "'1'"), ("output_dir",)),
    "fcc_dataset.pairs": (("pairs",), ("--pairs", "'5'"), ("sources", "references", "output_dir")),
    "fcc_dataset.sample": (("video",), ("--fps", "'20'"), ("path",)),
}
# Runs a command as `python -m` does, then says whether it imported TensorFlow.
WRAPPER = """
import atexit, runpy, sys
atexit.register(lambda: print("imported tensorflow:", "tensorflow" in sys.modules))
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
"""
ABSL_FLAGS = ("--logtostderr", "--verbosity", "--only_check_args", "--flagfile", "--helpxml")


def _command(module: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-c", WRAPPER, module, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env={**clean, **env})


@pytest.mark.parametrize("module", sorted(COMMANDS))
def test_help_lists_the_commands_own_flags_by_section_without_tensorflow(module):
    sections, (flag, default), required = COMMANDS[module]
    result = _command(module, "--help")
    text = result.stdout
    assert result.returncode == 0 and result.stderr == "", result.stderr[-2000:]
    assert text.rstrip().endswith("imported tensorflow: False")
    headings = [line[:-1] for line in text.splitlines() if re.fullmatch(r"[a-z_]+:", line)]
    assert headings == list(sections)
    lines = text.splitlines()
    flag_line = next(i for i, line in enumerate(lines) if line.startswith(f"  {flag}:"))
    assert f"(default: {default})" in "\n".join(lines[flag_line:flag_line + 5])
    marked = {line.split(":")[0].strip()[2:] for line in lines if ": (required)" in line}
    assert marked == set(required)
    assert not [name for name in ABSL_FLAGS if name in text]


@pytest.mark.parametrize("module", [m for m in COMMANDS if m.endswith(("train", "predict"))])
def test_the_flags_are_the_fields_of_the_applications_config(module):
    # The entry module names its config class for the flags, and its application
    # (imported only when it runs) the config class it works with: the two agree.
    app = importlib.import_module(module).application()
    config_class = app.train_config if module.endswith("train") else app.predict_config
    listed = re.findall(r"^  --(?:\[no\])?(\w+):", run_in_process(module, "--help").stdout,
                        re.MULTILINE)
    own = ["model_dir", "config", "overwrite"] if module.endswith("train") else []
    assert listed == own + [field.name for _, field, _ in config.leaves(config_class)]


def test_helpfull_keeps_absls_flags():
    result = _command("fcc_dataset.sample", "--helpfull")
    assert "only_check_args" in result.stdout and "--fps" in result.stdout


@pytest.mark.parametrize("module, flag", [
    ("applications.srresnet.predict", "--augment"),
    ("applications.srresnet.predict", "--val_images=3"),
    ("applications.srresnet.predict", "--lr_crop_size=48"),
    ("applications.makeup.predict", "--val_fraction=0.2"),
    ("applications.pix2pix.predict", "--epochs=2"),
])
def test_predict_commands_refuse_training_flags_in_one_line(module, flag):
    result = _command(module, "--model_dir=run", flag)
    name = flag.lstrip("-").split("=")[0]
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: Unknown command line flag '{name}'"], result.stderr


def test_a_run_started_from_a_saved_config_equals_it_but_for_the_flags_given(tmp_path):
    data = write_pairs(tmp_path / "data")
    first, second = tmp_path / "first", tmp_path / "second"
    training.train(Pix2Pix(), tiny_configs.pix2pix(data, epochs=1), first)
    result = run_in_process("applications.pix2pix.train", f"--config={first}/config.json",
                            f"--model_dir={second}", "--epochs=2", "--verbose=0")
    assert result.returncode == 0, result.stderr[-3000:]
    expected = json.loads((first / "config.json").read_text())["config"]
    expected["training"].update(epochs=2)
    assert json.loads((second / "config.json").read_text())["config"] == expected


@pytest.mark.parametrize("change, message", [
    (lambda record: record["config"]["model"].update(ngf=0), "--ngf=0: must be >= 1"),
    (lambda record: record.update(application="srresnet"), "not of a pix2pix run"),
])
def test_a_saved_config_is_checked_as_flags_are(tmp_path, change, message):
    record = {"application": "pix2pix", "config": {"model": {}}}
    change(record)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(record))
    result = run_in_process("applications.pix2pix.train", f"--config={path}",
                            f"--model_dir={tmp_path / 'run'}")
    errors = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: {path}") and message in errors[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("make, message", [
    (lambda path: path.mkdir(), "a folder"),
    (lambda path: path.write_text("[1, 2]"), "not a run config this program wrote"),
    (lambda path: path.write_bytes(b"\x00\xff\xfe"), "not a run config this program wrote"),
])
def test_an_unusable_config_file_is_one_line(tmp_path, make, message):
    path = tmp_path / "config.json"
    make(path)
    result = run_in_process("applications.pix2pix.train", f"--config={path}",
                            f"--model_dir={tmp_path / 'run'}")
    errors = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    assert errors[0].startswith(f"error: {path}") and message in errors[0], errors
    assert not (tmp_path / "run").exists()


def test_a_command_that_imports_tensorflow_prints_none_of_its_start_up_lines(tmp_path):
    # No TF_CPP_MIN_LOG_LEVEL of the user's: the command's own setting holds.
    result = _command("applications.pix2pix.train", f"--model_dir={tmp_path / 'run'}")
    assert "imported tensorflow: True" in result.stdout
    assert result.stderr.splitlines() == [
        "error: --data_dir is required (the folder of pair images)"], result.stderr


def test_tensorflows_info_lines_are_held_back_within_the_block_not_its_warnings(caplog):
    """As a SavedModel export logs them: through TensorFlow's logger and absl's. The
    records are caught on the two loggers themselves: whether absl's reaches the root
    logger depends on what ran before in the process (absl's handler, its level)."""
    import logging

    from absl import logging as absl_logging

    from spl_tf.utils import cli

    loggers = (logging.getLogger("tensorflow"), absl_logging.get_absl_logger())
    caught: list[str] = []

    class Catch(logging.Handler):
        def emit(self, record):
            caught.append(record.getMessage())

    def log_each(text: str) -> None:
        for logger in loggers:
            logger.info(f"{text} info")
            logger.warning(f"{text} warning")

    catch, saved = Catch(logging.DEBUG), [(lg.level, lg.disabled) for lg in loggers]
    try:
        for logger in loggers:
            logger.addHandler(catch)
            logger.setLevel(logging.INFO)
            logger.disabled = False
        caplog.set_level(logging.INFO)  # the root's level: INFO, as absl's app.run sets
        with cli.quiet_tensorflow_info():
            log_each("within")
        log_each("after")
        assert caught == ["within warning", "within warning", "after info", "after warning",
                          "after info", "after warning"]
        caught.clear()
        caplog.set_level(logging.DEBUG)  # --verbosity=1: everything, as asked
        with cli.quiet_tensorflow_info():
            log_each("debug")
        assert len(caught) == 4
    finally:
        for logger, (level, disabled) in zip(loggers, saved):
            logger.removeHandler(catch)
            logger.setLevel(level)
            logger.disabled = disabled
