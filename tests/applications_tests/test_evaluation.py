"""spl-eval and the predict commands' --metrics: PSNR, SSIM, LPIPS, FID and KID over folders
as `spl_tf.metrics` computes them, and the weights of the learned ones refused up front.

The weights are the seeded ones of the golden tests (tests/golden_metrics/seeded.py),
written as PyTorch files and given by path; the published ones are never fetched (the
test cache is empty and its mirror a closed port).
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest

import tiny_configs
from applications.common import prediction
from applications.common.config import EvaluationConfig
from applications.evaluation.command import evaluate
from applications.evaluation.config import EvalConfig, FoldersConfig
from applications.pix2pix.application import Pix2Pix
from command_utils import run_in_process
from golden_metrics import seeded
from pix2pix_data import write_pairs
from spl_tf import fid, metrics
from spl_tf.utils import image_io
from torch_files import write_state_dict

DATA = Path(__file__).parents[1] / "data"
GOLDEN = json.loads((DATA / "metrics_reference.json").read_text())
COMMAND = "applications.evaluation.command"
ALL = "psnr,ssim,lpips,fid,kid"
KID = {"kid_subset_size": 3, "kid_subsets": 4}

# A handful of images make singular covariances: SciPy says so, as it does to pytorch-fid.
pytestmark = pytest.mark.filterwarnings("ignore:Matrix is singular")


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, str]:
    """The seeded LPIPS (AlexNet and heads) and Inception states, as PyTorch files."""
    folder = tmp_path_factory.mktemp("weights")
    states = {"lpips": GOLDEN["lpips"]["alex"]["shapes"], "inception": GOLDEN["fid"]["shapes"]}
    return {name: str(write_state_dict(folder / f"{name}.pth",
                                       seeded.state_dict(shapes, GOLDEN["seed"])))
            for name, shapes in states.items()}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """6 targets of 40x48 (one a JPEG) and their predictions (noisy; one exact), by name."""
    root = tmp_path_factory.mktemp("folders")
    pred_dir, target_dir = root / "prediction", root / "target"
    rng = np.random.RandomState(0)
    for i in range(6):
        target = rng.randint(0, 256, (40, 48, 3)).astype(np.uint8)
        noise = rng.randint(-20, 21, target.shape) * (i != 0)
        image_io.write_rgb(target_dir / f"{i:02d}{'.jpg' if i == 5 else '.png'}", target)
        target = image_io.read_rgb(target_dir / f"{i:02d}{'.jpg' if i == 5 else '.png'}")
        image_io.write_rgb(pred_dir / f"{i:02d}.png",
                           np.clip(target.astype(int) + noise, 0, 255).astype(np.uint8))
    return pred_dir, target_dir


def _settings(pred_dir, target_dir, **evaluation) -> EvalConfig:
    # A batch of all 6 images: Inception is traced once for the size (seconds a size).
    return EvalConfig(FoldersConfig(str(pred_dir), str(target_dir), batch_size=6),
                      EvaluationConfig(**evaluation))


def _pairs(pred_dir: Path, target_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    targets = {p.stem: image_io.read_rgb(p) for p in image_io.list_images(target_dir)}
    preds = [image_io.read_rgb(p) for p in image_io.list_images(pred_dir)]
    return np.stack([targets[p.stem] for p in image_io.list_images(pred_dir)]), np.stack(preds)


@pytest.fixture
def distances(monkeypatch) -> list[tuple]:
    """The statistics FID is taken of, recorded; the distance a cheap stand-in for the
    square root of a 2048 x 2048 matrix (a minute on 2 cores), which test_fid.py checks
    against pytorch-fid's."""
    calls = []

    def frechet_distance(mu_a, sigma_a, mu_b, sigma_b):
        calls.append((mu_a, sigma_a, mu_b, sigma_b))
        return float(np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a) - np.trace(sigma_b))

    monkeypatch.setattr(fid, "frechet_distance", frechet_distance)
    return calls


def test_every_metric_is_the_librarys(folders, weights, distances):
    pred_dir, target_dir = folders
    report = evaluate(_settings(pred_dir, target_dir, metrics=ALL,
                                lpips_weights=weights["lpips"],
                                inception_weights=weights["inception"], **KID))
    got = report["metrics"]
    assert list(got) == ALL.split(",")
    targets, preds = _pairs(pred_dir, target_dir)
    as_float = [image_io.to_float(x) for x in (targets, preds)]
    psnr = np.minimum(np.asarray(metrics.psnr(*as_float, y_channel=False)), 100.0)
    assert psnr[0] == 100.0, "an exact prediction counts 100 dB"
    np.testing.assert_allclose(got["psnr"]["value"], psnr.mean(), rtol=1e-6)
    np.testing.assert_allclose(got["ssim"]["value"],
                               np.mean(metrics.ssim(*as_float, y_channel=False)), rtol=1e-6)
    lpips = metrics.lpips(targets.astype(np.float32), preds.astype(np.float32), "alex",
                          weights=weights["lpips"], value_range=(0, 255))
    np.testing.assert_allclose(got["lpips"]["value"], np.mean(lpips), rtol=1e-5)
    np.testing.assert_allclose([s["lpips"] for s in report["per_image"]], lpips, rtol=1e-5)
    # FID: the distance of the statistics of the folders that the library streams.
    a, b = (fid.folder_statistics(folder, weights["inception"], batch_size=6)
            for folder in folders)
    [used] = distances
    for value, expected in zip(used, (a.mean, a.covariance, b.mean, b.covariance)):
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-9)
    assert got["fid"]["value"] == fid.frechet_distance(*used)
    kid = fid.kid_from_folders(*folders, weights["inception"], batch_size=6, subset_size=3,
                               subsets=4)
    np.testing.assert_allclose([got["kid"]["value"], got["kid"]["std"]], kid, rtol=1e-6)
    # What each used.
    for name in ("psnr", "ssim"):
        assert got[name]["images"] == 6 and got[name]["weights"] is None
        assert (got[name]["y_channel"], got[name]["shave"]) == (False, 0)
    assert got["lpips"]["weights"] == [weights["lpips"]] and got["lpips"]["net"] == "alex"
    for name in ("fid", "kid"):
        assert got[name]["images"] == {"predictions": 6, "targets": 6}
        assert got[name]["weights"] == weights["inception"]
    assert (got["kid"]["subset_size"], got["kid"]["subsets"]) == (3, 4)


def test_the_command_prints_the_report_and_writes_it_whole(folders, tmp_path, monkeypatch):
    # No weights anywhere (an empty cache, no server): PSNR and SSIM need none.
    monkeypatch.setenv("SPL_TF_CACHE", str(tmp_path / "cache"))
    pred_dir, target_dir = folders
    output = tmp_path / "report.json"
    args = [f"--pred_dir={pred_dir}", f"--target_dir={target_dir}", "--metrics=ssim,psnr",
            "--y_channel", "--shave=2", f"--output={output}"]
    result = run_in_process(COMMAND, *args)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    written = json.loads(output.read_text())
    assert printed == {k: v for k, v in written.items() if k != "per_image"}
    assert list(printed["metrics"]) == ["ssim", "psnr"]
    assert printed["metrics"]["psnr"]["y_channel"] is True
    assert [s["name"] for s in written["per_image"]] == [f"{i:02d}.png" for i in range(6)]
    assert os.listdir(tmp_path) == ["report.json"]  # and no temporary file beside it
    # Written once: a second run needs --overwrite.
    again = run_in_process(COMMAND, *args)
    assert again.returncode == 2 and again.stderr.splitlines() == [
        f"error: --output={output} exists; give --overwrite to replace it"]
    assert run_in_process(COMMAND, *args, "--overwrite").returncode == 0


@pytest.mark.parametrize("metric, flag", [("lpips", "--lpips_weights"),
                                          ("fid", "--inception_weights"),
                                          ("kid", "--inception_weights")])
def test_a_metric_without_weights_is_refused_before_any_image_is_read(
        folders, tmp_path, monkeypatch, metric, flag):
    monkeypatch.setenv("SPL_TF_CACHE", str(tmp_path / "cache"))
    pred_dir, target_dir = folders
    # A prediction that cannot be decoded: reading it would be the error.
    broken = tmp_path / "broken"
    broken.mkdir()
    for path in pred_dir.iterdir():
        (broken / path.name).write_bytes(b"not an image")
    output = tmp_path / "report.json"
    result = run_in_process(COMMAND, f"--pred_dir={broken}", f"--target_dir={target_dir}",
                            f"--metrics=psnr,{metric}", "--kid_subset_size=2",
                            f"--output={output}")
    errors = result.stderr.splitlines()
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    assert errors[0].startswith("error: the weights ") and errors[0].endswith(
        f", or pass the path of a copy as {flag}=")
    assert "download https://" in errors[0] and "SPL_TF_WEIGHTS_MIRROR" in errors[0]
    assert result.stdout == "" and not output.exists()


def test_weights_named_by_flag_must_exist_and_hold_the_networks_tensors(folders, tmp_path,
                                                                         weights):
    given = [f"--pred_dir={folders[0]}", f"--target_dir={folders[1]}", "--metrics=lpips"]
    result = run_in_process(COMMAND, *given, f"--lpips_weights={tmp_path}/absent.pth")
    assert result.returncode == 2 and result.stderr.splitlines() == [
        f"error: --lpips_weights={tmp_path}/absent.pth: no such file (a PyTorch weight file)"]
    result = run_in_process(COMMAND, *given, f"--lpips_weights={weights['inception']}")
    [error] = result.stderr.splitlines()
    assert result.returncode == 2 and error.startswith(
        "error: --lpips_weights: LPIPS('alex') weights lack features.0.weight, ")


def _copy(folder: Path, to: Path, skip: str = "") -> Path:
    to.mkdir()
    for path in folder.iterdir():
        if path.name != skip:
            (to / path.name).write_bytes(path.read_bytes())
    return to


@pytest.mark.parametrize("change, message", [
    (lambda pred, target: (pred / "03.png").unlink(),
     "1 target in {target} has no image of the same name in {pred}: 03.png"),
    (lambda pred, target: [(pred / f"x{i}.png").write_bytes(b"") for i in range(5)],
     "5 predictions in {pred} have no image of the same name in {target}: x0.png, x1.png, "
     "x2.png and 2 more"),
    (lambda pred, target: (pred / "00.jpg").write_bytes(b""),
     "{pred}/00.jpg and {pred}/00.png have the same name; keep one of them"),
    (lambda pred, target: image_io.write_rgb(pred / "02.png", np.zeros((8, 8, 3), np.uint8)),
     "{pred}/02.png is 8x8 but {target}/02.png is 48x40: a prediction and its target must "
     "be the same size"),
])
def test_predictions_pair_with_their_targets_by_name(folders, tmp_path, change, message):
    pred, target = _copy(folders[0], tmp_path / "pred"), _copy(folders[1], tmp_path / "target")
    change(pred, target)
    result = run_in_process(COMMAND, f"--pred_dir={pred}", f"--target_dir={target}")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {message.format(pred=pred, target=target)}"]


@pytest.mark.parametrize("args, message", [
    (["--metrics=psnr,lpisp"], "--metrics=psnr,lpisp: expected a comma-separated list of "
                               "psnr, ssim, lpips, fid, kid (lpisp unknown)"),
    (["--metrics=kid"], "--kid_subset_size=1000: KID draws subsets of that many images from "
                        "each set, and there are fewer (6 predictions, 6 targets); give a "
                        "smaller --kid_subset_size"),
    (["--target_dir="], "give --target_dir (a folder of images)"),
])
def test_settings_that_cannot_work_are_one_line(folders, args, message):
    result = run_in_process(COMMAND, f"--pred_dir={folders[0]}", f"--target_dir={folders[1]}",
                            *args)
    assert result.returncode == 2 and result.stderr.splitlines() == [f"error: {message}"]


# ---------------------------------------------------------------- predict --metrics


def _untrained_checkpoint(path: Path) -> Path:
    model = Pix2Pix().build_model(tiny_configs.pix2pix(path.parent, ngf=4))
    model.save(path)
    return path


def test_predict_reports_the_metrics_asked_as_spl_eval_does(tmp_path, weights, distances):
    data = write_pairs(tmp_path / "data", counts={"test": 4})
    config = tiny_configs.predict(
        tiny_configs.Pix2PixPredictConfig, tiny_configs.pix2pix(data).data,
        checkpoint=_untrained_checkpoint(tmp_path / "model.keras"),
        output_dir=tmp_path / "out", batch_size=4)
    evaluation = EvaluationConfig(metrics="psnr,lpips,fid,kid", lpips_weights=weights["lpips"],
                                  inception_weights=weights["inception"], kid_subset_size=3,
                                  kid_subsets=2)
    config = type(config)(prediction=config.prediction, data=config.data, evaluation=evaluation)
    out, result = prediction.predict(Pix2Pix(), config)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved == result and saved["images"] == 4
    assert set(saved["baseline"]) == {"name", "psnr", "lpips"}
    assert all(set(s) == {"name", "psnr", "lpips"} for s in saved["per_image"])
    spl_eval = evaluate(EvalConfig(
        FoldersConfig(str(out / "prediction"), str(out / "target"), batch_size=4), evaluation))
    for name, entry in spl_eval["metrics"].items():
        np.testing.assert_allclose(saved[name], entry["value"], rtol=1e-5, err_msg=name)
        assert saved["metrics"][name]["images"] == entry["images"]
        assert saved["metrics"][name]["weights"] == entry["weights"]


def test_predict_refuses_a_metric_without_weights_before_anything_else(tmp_path, monkeypatch):
    monkeypatch.setenv("SPL_TF_CACHE", str(tmp_path / "cache"))
    data = write_pairs(tmp_path / "data", counts={"test": 2})
    (tmp_path / "model.keras").write_bytes(b"not a model: loading it would be the error")
    result = run_in_process("applications.pix2pix.predict", f"--data_dir={data}",
                            f"--checkpoint={tmp_path / 'model.keras'}",
                            f"--output_dir={tmp_path / 'out'}", "--image_size=32",
                            "--metrics=psnr,lpips")
    errors = result.stderr.splitlines()
    assert result.returncode == 2 and len(errors) == 1, result.stderr
    assert errors[0].startswith("error: the weights alexnet-owt-7be5be79.pth")
    assert errors[0].endswith("or pass the path of a copy as --lpips_weights=")
    assert not (tmp_path / "out").exists()
