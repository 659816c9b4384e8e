"""The application layer's contract: flags only at the door, typed configs that a run
remembers, models that load anywhere, and the layers of the house."""

import ast
import dataclasses
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from absl import flags

import tiny_configs
from applications.common import commands, config, run_record, training
from applications.common.config import GeneratorConfig, RuntimeConfig, TrainingConfig
from applications.datasets import command as datasets_command
from applications.evaluation import command as evaluation_command
from applications.makeup import transfer
from applications.makeup.application import MakeupTransfer
from applications.pix2pix import demo
from applications.pix2pix.application import Pix2Pix
from applications.srresnet.application import SuperResolution
from backend_utils import jax_env
from div2k_data import write_div2k
from fcc_dataset import build, pairs, sample
from spl_tf.utils.errors import InputError
from pix2pix_data import write_pairs

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("spl_tf.utils", "spl_tf", "fcc_dataset", "applications")
APPS = {"pix2pix": Pix2Pix(), "srresnet": SuperResolution(), "makeup": MakeupTransfer()}


def _modules(package: str) -> list[str]:
    return [package] + [m.name for m in pkgutil.walk_packages([str(ROOT / package)],
                                                                f"{package}.")]


# --- flags only at the door -------------------------------------------------------------


def test_importing_any_module_defines_no_flag():
    # In a fresh process: other tests define command flags in this one.
    modules = [m for p in PACKAGES for m in _modules(p)]
    code = ("import keras, tensorflow; from absl import flags; import importlib; "
            "before = set(flags.FLAGS); "
            f"[importlib.import_module(m) for m in {modules!r}]; "
            "extra = set(flags.FLAGS) - before; "
            "assert not extra, sorted(extra)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(modules) > 40  # every module of the three packages was imported


SIMPLE_COMMANDS = {"fcc-build": build.define_flags, "fcc-pairs": pairs.define_flags,
                   "fcc-sample": sample.define_flags, "spl-pix2pix-demo": demo.define_flags,
                   "spl-makeup-transfer": transfer.define_flags,
                   "spl-data": datasets_command.define_flags,
                   "spl-eval": evaluation_command.define_flags}
COMMANDS = sorted([*SIMPLE_COMMANDS, *(f"spl-{a}-{k}" for a in APPS for k in ("train", "predict"))])


def _flags_of(command: str) -> flags.FlagValues:
    """A fresh FlagValues holding just `command`'s flags."""
    flag_values = flags.FlagValues()
    if command in SIMPLE_COMMANDS:
        SIMPLE_COMMANDS[command](flag_values)
    else:
        _, app, kind = command.split("-")
        if kind == "train":
            commands.define_train_flags(APPS[app].train_config, flag_values)
        else:
            commands.define_predict_flags(APPS[app].predict_config, flag_values)
    return flag_values


COMMAND_FLAGS = {command: set(_flags_of(command)) for command in COMMANDS}


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_refuses_the_flags_of_the_others(command):
    foreign = set().union(*COMMAND_FLAGS.values()) - COMMAND_FLAGS[command]
    assert foreign, command
    for name in sorted(foreign):
        with pytest.raises(flags.UnrecognizedFlagError, match=name):
            _flags_of(command)(["prog", f"--{name}=1"])


def test_flags_are_the_config_fields_with_their_defaults():
    flag_values = flags.FlagValues()
    commands.define_train_flags(APPS["srresnet"].train_config, flag_values)
    assert set(flag_values) == {"model_dir", "config", "overwrite"} | {
        f.name for _, f, _ in config.leaves(APPS["srresnet"].train_config)}
    assert flag_values["num_blocks"].default == 16 and flag_values["scale"].default == 4
    assert flag_values["learning_rate"].default == 2e-4
    assert "ngf" not in flag_values and "direction" not in flag_values


def test_help_lists_the_flags_with_their_defaults():
    result = subprocess.run([sys.executable, "-m", "applications.srresnet.train", "--helpfull"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    text = result.stdout + result.stderr
    assert "--num_blocks: Residual blocks of the SRResNet." in text, text[-2000:]
    assert "(default: '16')" in text and "--lr_crop_size" in text and "--ngf" not in text


# --- typed configs --------------------------------------------------------------------


@pytest.mark.parametrize("section, values, message", [
    (TrainingConfig, {"learning_rate": 0.0}, r"--learning_rate=0.0: must be a finite number > 0"),
    (TrainingConfig, {"learning_rate": float("inf")}, r"--learning_rate=inf"),
    (TrainingConfig, {"lr_decay_rate": 0.0}, r"--lr_decay_rate=0.0: must be in \(0, 1\]"),
    (TrainingConfig, {"lr_decay_rate": 1.01}, r"--lr_decay_rate=1.01"),
    (TrainingConfig, {"batch_size": 0}, r"--batch_size=0: must be >= 1"),
    (TrainingConfig, {"beta_1": 1.0}, r"--beta_1=1.0: must be in \[0, 1\)"),
    (RuntimeConfig, {"strategy": "mirrored", "jit_compile": "true"}, r"--jit_compile=true"),
    (RuntimeConfig, {"strategy": "tpu"}, r"--strategy=tpu needs --tpu"),
    (RuntimeConfig, {"mixed_precision": "float8"}, r"--mixed_precision=float8: must be one of"),
    (GeneratorConfig, {"ngf": 0}, r"--ngf=0: must be >= 1"),
    (GeneratorConfig, {"num_blocks": 0}, r"--num_blocks=0: must be >= 1"),
])
def test_values_that_cannot_work_are_refused(section, values, message):
    with pytest.raises(InputError, match=message):
        section(**values)


@pytest.mark.parametrize("name", sorted(APPS))
def test_config_round_trip_through_json(name, tmp_path):
    app = APPS[name]
    original = dataclasses.replace(
        app.train_config(), training=TrainingConfig(batch_size=3, learning_rate=1e-3, seed=7))
    run_record.write(tmp_path, app.name, original)
    record = json.loads((tmp_path / "config.json").read_text())
    assert record["application"] == name
    assert set(record["versions"]) >= {"spl_tf", "keras", "backend"}
    assert config.from_dict(app.train_config, record["config"]) == original


def test_a_run_refuses_a_changed_setting_and_takes_a_resumable_one(tmp_path):
    data = write_pairs(tmp_path / "data")
    run = tmp_path / "run"
    first = tiny_configs.pix2pix(data, epochs=1)
    training.train(Pix2Pix(), first, run)
    changed = dataclasses.replace(first, model=GeneratorConfig(ngf=8),
                                  training=dataclasses.replace(first.training, batch_size=2))
    with pytest.raises(InputError) as error:
        training.train(Pix2Pix(), changed, run)
    message = str(error.value)
    assert "--ngf=4 (now 8)" in message and "--batch_size=4 (now 2)" in message
    assert "new --model_dir" in message and "\n" not in message
    assert json.loads((run / "config.json").read_text())["config"]["model"]["ngf"] == 4

    # --epochs and where the steps run may change; config.json follows.
    more = dataclasses.replace(first, training=dataclasses.replace(first.training, epochs=2),
                               runtime=RuntimeConfig(jit_compile="auto"))
    training.train(Pix2Pix(), more, run)
    saved = json.loads((run / "config.json").read_text())["config"]
    assert saved["training"]["epochs"] == 2 and saved["runtime"]["jit_compile"] == "auto"


def test_cli_rerun_takes_the_runs_settings_for_flags_it_does_not_give(tmp_path):
    data = write_pairs(tmp_path / "data")
    run = tmp_path / "run"
    training.train(Pix2Pix(), tiny_configs.pix2pix(data, epochs=1), run)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-m", "applications.pix2pix.train",
                             f"--model_dir={run}", "--epochs=2", "--verbose=0"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((run / "config.json").read_text())["config"]
    assert saved["training"]["epochs"] == 2 and saved["model"]["ngf"] == 4
    assert len((run / "training_log.csv").read_text().splitlines()) == 3  # header + 2 epochs


# --- models that load anywhere ---------------------------------------------------------


def _tiny_run(name: str, root: Path):
    if name == "pix2pix":
        return tiny_configs.pix2pix(write_pairs(root / "data"))
    if name == "makeup":
        data = write_pairs(root / "data", {"train": 4, "val": 2})
        return tiny_configs.makeup(data)
    return tiny_configs.srresnet(write_div2k(root / "data", degradation="unknown"))


LOAD = """
import sys
from pathlib import Path
import numpy as np
import keras
import spl_tf
for run in sys.argv[1:]:
    model = keras.models.load_model(Path(run) / "model.keras")
    x = np.load(Path(run) / "x.npy")
    print(run, "loss", type(model.loss).__name__, type(model.loss).__module__)
    print(run, "optimizer", type(model.optimizer).__name__)
    np.save(Path(run) / f"out_{keras.backend.backend()}.npy",
            keras.ops.convert_to_numpy(model(x, training=False)))
"""


def test_models_load_in_a_fresh_process_with_only_spl_tf(tmp_path):
    # One fresh process per backend loads the three applications' models.
    expected = {}
    for name, app in sorted(APPS.items()):
        run = tmp_path / name / "run"
        model = training.train(app, _tiny_run(name, tmp_path / name), run)
        channels = model.input_shape[-1]
        x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, channels)).astype("float32")
        np.save(run / "x.npy", x)
        expected[run] = (keras.ops.convert_to_numpy(model(x, training=False)),
                         type(app.loss(app.train_config())).__name__)
    for backend in ("tensorflow", "jax"):
        env = jax_env() if backend == "jax" else {
            **os.environ, "KERAS_BACKEND": backend, "JAX_PLATFORMS": "cpu",
            "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run([sys.executable, "-c", LOAD, *map(str, expected)],
                                cwd=tmp_path, env=env, capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        for run, (outputs, loss_class) in expected.items():
            assert f"{run} loss {loss_class} spl_tf.losses" in result.stdout
            assert f"{run} optimizer Adam" in result.stdout
            np.testing.assert_allclose(np.load(run / f"out_{backend}.npy"), outputs, atol=2e-5,
                                       err_msg=f"{run} on {backend}")


# --- layers of the house -----------------------------------------------------------------


# Each layer and what it may import of the others, bottom first. `spl_tf.utils` is a layer
# of its own below `spl_tf`, as `keras.utils` is below Keras; the library uses it only for
# weight files (`spl_tf.lpips` reads PyTorch files with `spl_tf.utils.torch_weights`).
# `import spl_tf` loads neither it nor Keras (test_registration.py), so the commands'
# help, which imports `spl_tf.utils.cli`, stays free of Keras and TensorFlow.
LAYERS = {
    "spl_tf.utils": set(),
    "spl_tf": {"spl_tf.utils"},
    "fcc_dataset": {"spl_tf.utils", "spl_tf"},
    "applications": {"spl_tf.utils", "spl_tf", "fcc_dataset"},
}


def _layer(module: str) -> str | None:
    """The layer a dotted name belongs to (the longest layer name it starts with)."""
    owners = [layer for layer in LAYERS if module == layer or module.startswith(layer + ".")]
    return max(owners, key=len, default=None)


# Outside fcc_dataset, the modules where FCC data is meant, and the FCC modules each uses:
# makeup transfer aligns a reference face onto the source as the aligned pairs are made;
# the FCC benchmark times the tools. Anything else goes through spl_tf.utils.
FCC_USERS = {
    "applications.makeup.transfer": {"fcc_dataset.align", "fcc_dataset.faces"},
    "benchmarks.fcc": {"fcc_dataset.frames", "fcc_dataset.frames_csv", "fcc_dataset.pairs",
                       "fcc_dataset.pipeline", "fcc_dataset.sample"},
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The dotted names a module imports anywhere (inside functions too), relative imports
    resolved; `from a.b import c` counts as `a.b.c`, a submodule or a name of `a.b`."""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def _sources(*packages: str) -> list[Path]:
    """The modules of these layers (of `spl_tf`, not those of `spl_tf.utils`)."""
    return sorted(path for package in packages
                  for path in (ROOT / package.replace(".", "/")).rglob("*.py")
                  if _layer(_module_name(path)) in (package, None))


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_no_module_imports_a_higher_layer(package):
    forbidden = set(LAYERS) - LAYERS[package] - {package}
    modules = _sources(package)
    assert len(modules) > 5
    offenders = {_module_name(path): sorted(name for name in _imports(path)
                                            if _layer(name) in forbidden)
                 for path in modules}
    assert {module: names for module, names in offenders.items() if names} == {}


def test_fcc_dataset_is_imported_only_where_fcc_data_is_meant():
    modules = _sources("spl_tf.utils", "spl_tf", "applications", "benchmarks", "examples")
    assert len(modules) > 60
    used = {_module_name(path): {".".join(name.split(".")[:2]) for name in _imports(path)
                                 if name.split(".")[0] == "fcc_dataset"}
            for path in modules}
    assert {module: names for module, names in used.items() if names} == FCC_USERS


def test_predict_never_imports_train():
    for app in APPS:
        imported = ast.walk(ast.parse((ROOT / "applications" / app / "predict.py").read_text()))
        names = {n.module for n in imported if isinstance(n, ast.ImportFrom)}
        assert not any(n.endswith(".train") or n.endswith("training") for n in names), names
