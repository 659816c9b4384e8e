"""spl-experiment: the smoke preset end to end, a kill in the middle and its rerun, the
entries' shared start, the columns of metrics without weights, and its refusals.

The learned metrics' weights are the seeded ones of the golden tests (written as PyTorch
files, given by path); without them the published ones are asked of a closed port
(tests/conftest.py), as on a machine offline.
"""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import tiny_configs
from applications.common import runtime, training
from applications.common.config import RuntimeConfig
from applications.experiments import command, presets, progress, report
from applications.experiments.config import ExperimentSettings
from applications.pix2pix.application import Pix2Pix
from applications.srresnet.config import SRResNetConfig
from command_utils import run_in_process
from div2k_data import downscale, hr_photo, write_div2k
from golden_metrics import seeded
from pix2pix_data import write_pairs
from spl_tf import fid
from spl_tf.utils import image_io
from torch_files import write_state_dict

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parents[1] / "data"
COMMAND = "applications.experiments.command"
ENTRIES = [entry.name for entry in presets.TRANSLATION]

pytestmark = pytest.mark.filterwarnings("ignore:Matrix is singular")


@pytest.fixture
def seeded_weights(tmp_path) -> list[str]:
    """The flags giving seeded LPIPS and Inception weights, as PyTorch files."""
    golden = json.loads((DATA / "metrics_reference.json").read_text())
    lpips_file = write_state_dict(tmp_path / "lpips.pth", seeded.state_dict(
        golden["lpips"]["alex"]["shapes"], golden["seed"]))
    inception_file = write_state_dict(tmp_path / "inception.pth", seeded.state_dict(
        golden["fid"]["shapes"], golden["seed"]))
    return [f"--lpips_weights={lpips_file}", f"--inception_weights={inception_file}"]


def test_smoke_preset_end_to_end(tmp_path, monkeypatch, seeded_weights):
    # Fewer crops than the preset's (a step costs little; Inception on each test image
    # does), and a cheap stand-in for FID's matrix square root (test_fid.py checks it).
    monkeypatch.setattr(presets, "SMOKE_CROPS", {"train": 4, "val": 1, "test": 1})
    monkeypatch.setattr(fid, "frechet_distance", lambda mu_a, sigma_a, mu_b, sigma_b: float(
        np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a) - np.trace(sigma_b)))
    folder = tmp_path / "exp"
    result = run_in_process(COMMAND, *tiny_configs.experiment_flags(folder), *seeded_weights)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "weights not available" not in result.stdout + result.stderr
    for name in ("experiment.json", *command.RESULTS):
        assert (folder / name).is_file(), name
    table = (folder / "results.md").read_text()
    assert "| PSNR (dB) ↑ | SSIM ↑ | LPIPS ↓ | FID ↓ | KID ↓ |" in table
    rows = {line.split(" | ")[0][3:-1]: line.split(" | ") for line in table.splitlines()
            if line.startswith("| `")}
    assert list(rows) == ENTRIES
    assert {row[2] for row in rows.values()} == {"none", "patchgan", "multiscale"}
    for cells in rows.values():
        for value in cells[3:]:
            float(value.strip(" |"))  # every metric a number
    csv_lines = (folder / "results.csv").read_text().splitlines()
    assert len(csv_lines) == 1 + len(ENTRIES) and csv_lines[0].startswith("entry,label,")
    for name in ENTRIES:
        run = folder / "runs" / f"{name}-seed0"
        assert json.loads((run / "config.json").read_text())["application"] == "pix2pix"
        points = progress.read_points(run)
        assert [p["epoch"] for p in points] == [1]
        assert {"psnr", "ssim", "lpips", "fid", "kid"} <= set(points[0])
        assert all(np.isfinite(points[0][m]) for m in ("psnr", "ssim", "lpips", "fid", "kid"))
        evaluation = json.loads((run / report.EVALUATION_FILE).read_text())["sets"]["test"]
        assert evaluation["images"] == 6 and set(evaluation) >= {"fid", "kid", "lpips"}
    import cv2
    grid = cv2.imread(str(folder / "grid.png"))
    assert grid.shape[1] > grid.shape[0] and grid.std() > 10  # 2 rows of 7 columns


def _finished_mtime(run: Path) -> int:
    return (run / "model.keras").stat().st_mtime_ns


def test_killed_experiment_resumes_without_training_finished_runs_again(tmp_path):
    """Killed during its second entry, without the learned metrics' weights: the rerun
    skips the first, finishes the second from its checkpoint, and the table says once
    that LPIPS, FID and KID have no weights."""
    folder = tmp_path / "exp"
    args = [sys.executable, "-m", COMMAND,
            *tiny_configs.experiment_flags(folder, "--entries=l1,spl", epochs=2)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    process = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    second = folder / "runs" / "spl-seed0"
    deadline = time.monotonic() + 300
    while not (second / "checkpoints" / "epoch_001.keras").exists():
        assert process.poll() is None, process.stdout.read()[-3000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    first = folder / "runs" / "l1-seed0"
    finished = _finished_mtime(first)
    assert not (second / "model.keras").exists() and not (folder / "results.md").exists()

    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "l1-seed0: finished before, skipped" in result.stdout
    assert "spl-seed0: training" in result.stdout
    # TensorFlow's info lines of the export (absl's app.run shows INFO) are held back.
    for line in ("Assets written to", "Writing fingerprint to", "in the SavedModel"):
        assert line not in result.stderr
    assert _finished_mtime(first) == finished
    points = progress.read_points(second)
    assert [p["epoch"] for p in points] == [1, 2]
    assert all({"psnr", "ssim"} <= set(p) and not {"lpips", "fid", "kid"} & set(p)
               for p in points)  # the learned metrics need their weights
    log = (second / "training_log.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log[1:]] == ["0", "1"]
    warnings = [line for line in result.stderr.splitlines() if "weights not available" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: LPIPS, FID, KID:")
    table = (folder / "results.md").read_text()
    assert table.count("LPIPS, FID, KID: weights not available") == 1
    for line in [line for line in table.splitlines() if line.startswith("| `")]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        float(cells[3]), float(cells[4])  # PSNR, SSIM
        assert cells[5:] == ["weights not available"] * 3

    # Another experiment in that folder is refused, changing nothing; the same one is not.
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}
    refused = run_in_process(COMMAND, *tiny_configs.experiment_flags(
        folder, "--entries=l1,spl", "--seeds=2", epochs=2))
    assert refused.returncode == 2
    message = refused.stderr.strip()
    assert message.startswith("error: --experiment_dir=") and "\n" not in message
    assert "--seeds=1 (now 2)" in message and "--overwrite" in message
    assert {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()} == before


def test_entries_share_initial_weights_and_batches(tmp_path):
    """Every entry of a seed starts as the trainer starts it: the same generator weights
    and the same first batches, whatever its loss or discriminator; another seed not.
    What differs is the objective, and Adam's beta_1 of the entries with a discriminator
    (0.5, as pix2pix and pix2pixHD train; 0.9, the paper's, for the others)."""
    for preset in ("smoke", "translation"):
        settings = ExperimentSettings(experiment_dir=str(tmp_path), preset=preset,
                                      data_dir=str(tmp_path / "data"))
        assert {entry.name: presets.run_config(settings, entry, 0, tmp_path).training.beta_1
                for entry in presets.entries(settings)} == {
            "l1": 0.9, "l1_cgan": 0.5, "spl": 0.9, "spl_cgan": 0.5, "spl_multiscale_fm": 0.5}
    settings = ExperimentSettings(experiment_dir=str(tmp_path), preset="smoke", seeds=2)
    presets.prepare_data(settings, tmp_path)
    app = Pix2Pix()
    starts = {}
    for entry in presets.entries(settings):
        for seed in range(settings.seeds):
            config = presets.run_config(settings, entry, seed, tmp_path)
            # As training.train does: seeded, data, then the model in the runtime's scope.
            runtime.connect(config.runtime, config.training.seed)
            data = app.training_data(config)
            with runtime.set_up(config.runtime, config.training):
                model = training._compiled_model(app, config, data.steps_per_epoch)
            generator = getattr(model, "generator", model)
            batches = [tuple(np.asarray(t) for t in batch)
                       for batch in data.train(0).take(2)]
            starts[entry.name, seed] = ([np.asarray(w) for w in generator.weights], batches)
    for seed in range(settings.seeds):
        weights, batches = starts["l1", seed]
        for entry in ENTRIES[1:]:
            other_weights, other_batches = starts[entry, seed]
            assert all(np.array_equal(a, b) for a, b in zip(weights, other_weights)), entry
            assert all(np.array_equal(a, b) for one, two in zip(batches, other_batches)
                       for a, b in zip(one, two)), entry
    assert not np.array_equal(starts["l1", 0][0][0], starts["l1", 1][0][0])


@pytest.mark.parametrize("flags,expected", [
    (["--preset=nope"], "error: flag --preset=nope: value should be one of"),
    (["--add=SPL + foo"], "error: --add='SPL + foo': unknown loss 'foo'"),
    (["--entries=l1,gan"], "error: --entries=l1,gan: no entry gan; the entries are"),
    (["--preset=translation"], "error: --preset=translation needs --data_dir"),
])
def test_bad_settings_are_one_line_before_anything_is_written(tmp_path, flags, expected):
    folder = tmp_path / "exp"
    result = run_in_process(COMMAND, f"--experiment_dir={folder}", *flags)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(expected), result.stderr
    assert "\n" not in result.stderr.strip()
    assert not folder.exists()


@pytest.mark.parametrize("inside", ["", "runs/data"])
def test_an_experiment_writing_where_its_data_is_is_refused(tmp_path, inside):
    """The experiment's folder as its dataset's folder, or the dataset inside what the
    experiment writes (and --overwrite removes): one line, the dataset untouched."""
    folder = tmp_path / "exp"
    data = write_pairs(folder / inside, {"train": 1, "test": 1})
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = run_in_process(COMMAND, f"--experiment_dir={folder}", "--preset=translation",
                            f"--data_dir={data}", "--overwrite")
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"error: --data_dir={data}"), result.stderr
    assert "\n" not in result.stderr.strip()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_super_resolution_preset_is_srresnet_runs_scored_on_the_sr_test_sets(tmp_path):
    for name in ("Set5", "Urban100"):
        for part in ("LR", "HR"):
            (tmp_path / "sr" / name / "X4" / part).mkdir(parents=True)
    settings = ExperimentSettings(experiment_dir=str(tmp_path / "exp"),
                                  preset="super_resolution", data_dir=str(tmp_path / "div2k"),
                                  sr_test_dir=str(tmp_path / "sr"), add="SPL + 0.5 * L1")
    entries = presets.entries(settings)
    assert [e.name for e in entries] == ["l1", "spl", "SPL_plus_0.5_x_L1"]
    configs = [presets.run_config(settings, e, 1, tmp_path) for e in entries]
    assert [c.objective.loss for c in configs] == ["l1", "spl", "SPL + 0.5 * L1"]
    assert {(c.data.data_dir, c.data.scale, c.training.seed) for c in configs} == {
        (str(tmp_path / "div2k"), 4, 1)}
    sets = presets.test_sets(settings, tmp_path)
    assert [(s.name, Path(s.lr_dir).parent.name) for s in sets] == [("Set5", "X4"),
                                                                     ("Urban100", "X4")]


def test_super_resolution_preset_end_to_end(tmp_path, monkeypatch):
    """The super_resolution preset on a tiny DIV2K folder and two tiny SR test sets, its
    SRResNet cut small (the preset's configs, less the model's, the crops' and the
    batches' sizes), without the learned metrics' weights."""
    data = write_div2k(tmp_path / "div2k", scale=4, degradation="unknown")
    sets = {"Set5": ("astronaut", "coffee"), "Urban100": ("rocket",)}
    for name, photos in sets.items():
        for part in ("LR", "HR"):
            (tmp_path / "sr" / name / "X4" / part).mkdir(parents=True)
        for photo in photos:  # as spl-data lays them out: NAMEx4.png beside HR's NAME.png
            hr = hr_photo(photo, (64, 48))
            image_io.write_rgb(tmp_path / "sr" / name / "X4" / "HR" / f"{photo}.png", hr)
            image_io.write_rgb(tmp_path / "sr" / name / "X4" / "LR" / f"{photo}x4.png",
                                       downscale(hr, 4))
    preset_config = presets.run_config

    def tiny(*args):
        config = preset_config(*args)
        return dataclasses.replace(
            config, data=dataclasses.replace(config.data, lr_crop_size=8, val_images=1),
            model=SRResNetConfig(num_blocks=1, filters=8),
            training=dataclasses.replace(config.training, batch_size=2, verbose=0),
            runtime=RuntimeConfig(jit_compile="false"))

    monkeypatch.setattr(presets, "run_config", tiny)
    folder = tmp_path / "exp"
    result = run_in_process(COMMAND, f"--experiment_dir={folder}", "--preset=super_resolution",
                            f"--data_dir={data}", f"--sr_test_dir={tmp_path / 'sr'}",
                            "--epochs=1", "--eval_points=1", "--grid_images=2")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("experiment.json", *command.RESULTS):
        assert (folder / name).is_file(), name
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in (folder / "results.md").read_text().splitlines()
            if line.startswith("| `")]
    assert [(row[0], row[3]) for row in rows] == [
        ("`l1`", "Set5"), ("`l1`", "Urban100"), ("`spl`", "Set5"), ("`spl`", "Urban100")]
    csv_rows = [line.split(",") for line in (folder / "results.csv").read_text().splitlines()]
    assert [row[0] for row in csv_rows[1:]] == ["l1", "l1", "spl", "spl"]
    psnr, ssim = csv_rows[0].index("psnr_mean"), csv_rows[0].index("ssim_mean")
    for row in csv_rows[1:]:
        assert 5 < float(row[psnr]) < 100 and 0 < float(row[ssim]) <= 1, row
    for entry in ("l1", "spl"):
        points = progress.read_points(folder / "runs" / f"{entry}-seed0")
        assert [p["epoch"] for p in points] == [1] and {"psnr", "ssim"} <= set(points[0])
