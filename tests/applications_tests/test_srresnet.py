"""Super-resolution: DIV2K pairing, crops, tfds, training, resume, prediction."""

import csv
import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import tiny_configs
from applications.common import prediction, training
from applications.common.config import PredictionConfig, TrainingConfig
from applications.srresnet import data
from applications.srresnet.application import SuperResolution
from applications.srresnet.config import SRData, SRImages, SRPredictConfig, SRTargets
from applications.srresnet.model import build_srresnet
from command_utils import run_in_process
from div2k_data import hr_photo, write_div2k
from exif_data import write_oriented
from spl_tf import SPL
from spl_tf.utils import files, image_io
from spl_tf.utils.errors import InputError

SR = SuperResolution()


def _data(root, degradation="bicubic", scale=4, **fields):
    return SRData(data_dir=str(root), degradation=degradation, scale=scale, **fields)


def _training(batch_size=2):
    return TrainingConfig(batch_size=batch_size, epochs=1, verbose=0)


# --- pairing ----------------------------------------------------------------

def test_pairs_by_name_not_by_order(tmp_path):
    root = write_div2k(tmp_path, scale=4)
    pairs = data.folder_pairs(_data(root), "train")
    assert [(p.lr.name, p.hr.name) for p in pairs] == [
        (f"{i:04d}x4.png", f"{i:04d}.png") for i in range(1, 5)]


@pytest.mark.parametrize("scale", [2, 3])
def test_other_scales(tmp_path, scale):
    root = write_div2k(tmp_path, scale=scale, degradation="unknown")
    pairs = data.folder_pairs(_data(root, "unknown", scale), "valid")
    assert len(pairs) == 2
    assert [p.lr_size for p in pairs] == [(120 // scale, 96 // scale)] * 2


def test_missing_extra_and_mismatched_files(tmp_path):
    root = write_div2k(tmp_path)
    lr_dir = root / "DIV2K_train_LR_bicubic" / "X4"
    hr_dir = root / "DIV2K_train_HR"
    (lr_dir / "0002x4.png").rename(tmp_path / "aside.png")
    with pytest.raises(InputError, match=r"DIV2K_train_HR/0002.png has no low-resolution "
                                         r"partner .* \(expected 0002x4.png; 1 missing\)"):
        data.folder_pairs(_data(root), "train")
    (tmp_path / "aside.png").rename(lr_dir / "0002x4.png")
    (lr_dir / "0009x4.png").write_bytes((lr_dir / "0001x4.png").read_bytes())
    with pytest.raises(InputError, match=r"X4/0009x4.png has no high-resolution partner"):
        data.folder_pairs(_data(root), "train")
    (lr_dir / "0009x4.png").unlink()
    (hr_dir / "0003.png").write_bytes((lr_dir / "0003x4.png").read_bytes())  # LR-sized "HR"
    with pytest.raises(InputError, match=r"0003.png is 30x24 but .*0003x4.png is 30x24: "
                                         r"HR must be x4 the LR size"):
        data.folder_pairs(_data(root), "train")
    (hr_dir / "0003.jpg").write_bytes((hr_dir / "0001.png").read_bytes())
    with pytest.raises(InputError, match=r"0003.jpg and .*0003.png would pair with the same"):
        data.folder_pairs(_data(root), "train")
    (hr_dir / "0003.jpg").unlink()
    with pytest.raises(InputError, match=r"DIV2K_train_LR_unknown/X4: no such folder"):
        data.folder_pairs(_data(root, "unknown"), "train")
    with pytest.raises(InputError, match=r"give --data_dir \(DIV2K folders\) or --tfds_name"):
        data.folder_pairs(SRData(), "train")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_a_truncated_image_skips_its_pair_in_training_and_prediction(tmp_path, caplog):
    root = write_div2k(tmp_path / "data", degradation="unknown")
    bad_hr = root / "DIV2K_train_HR" / "0002.png"
    _truncate(bad_hr)
    assert image_io.read_rgb(bad_hr) is None  # what the pipeline's decoder refuses
    with caplog.at_level("WARNING"):
        pairs = data.folder_pairs(_data(root, "unknown"), "train")
    assert [p.hr.name for p in pairs] == ["0001.png", "0003.png", "0004.png"]
    assert any(f"skipping the pair 0002: {bad_hr} unreadable" in r.getMessage()
               for r in caplog.records)

    run = tmp_path / "run"
    training.train(SuperResolution(), tiny_configs.srresnet(root), run)
    assert len((run / "training_log.csv").read_text().splitlines()) == 2

    _truncate(root / "DIV2K_valid_LR_unknown" / "X4" / "0802x4.png")
    out = tmp_path / "pred"
    prediction.predict(SuperResolution(), tiny_configs.predict(
        SRPredictConfig, SRData(data_dir=str(root)), checkpoint=run / "model.keras",
        output_dir=out))
    assert [p.name for p in (out / "prediction").iterdir()] == ["0801x4.png"]
    for bad in (root / "DIV2K_train_HR").iterdir():
        _truncate(bad)
    with pytest.raises(InputError, match="no readable LR/HR pairs"):
        data.folder_pairs(_data(root, "unknown"), "train")


def test_image_size_is_what_the_pipeline_decodes(tmp_path):
    grey = tmp_path / "grey.png"
    files.write_bytes(grey, tf.io.encode_png(np.zeros((5, 7, 1), np.uint8)).numpy())
    assert data.decoded_size(grey) == (7, 5)  # (width, height)
    assert image_io.read_rgb(grey).shape == (5, 7, 3)  # grey decodes as RGB


def test_photos_stored_turned_are_paired_and_read_upright(tmp_path):
    root = write_div2k(tmp_path, degradation="unknown")
    upright = {}
    # Each side turned its own way, some turns changing width and height on disk
    # (read as stored, 0801's HR would not be x4 its LR).
    for split, stem, lr_code, hr_code in (("train", "0001", 6, 8), ("valid", "0801", 3, 5)):
        for path, code in ((root / f"DIV2K_{split}_LR_unknown" / "X4" / f"{stem}x4.png", lr_code),
                           (root / f"DIV2K_{split}_HR" / f"{stem}.png", hr_code)):
            upright[split, path.parent.name] = image_io.read_rgb(path)
            write_oriented(path, upright[split, path.parent.name], code)
    source = _data(root, "unknown", lr_crop_size=24, augment=False, val_images=2)
    assert data.folder_pairs(source, "train")[0].lr_size == (30, 24)
    lr, hr = upright["train", "X4"], upright["train", "DIV2K_train_HR"]

    # Training: some crop of the epoch is an aligned window of the upright pair.
    train_data = data.training_data(source, _training())
    windows = []
    for lr_crops, hr_crops in train_data.train(0).take(train_data.steps_per_epoch):
        for lr_crop, hr_crop in zip(image_io.to_uint8(lr_crops), image_io.to_uint8(hr_crops),
                                    strict=True):
            windows += [(y, x) for y in range(lr.shape[0] - 23) for x in range(lr.shape[1] - 23)
                        if np.array_equal(lr[y:y + 24, x:x + 24], lr_crop)
                        and np.array_equal(hr[4 * y:4 * y + 96, 4 * x:4 * x + 96], hr_crop)]
    assert len(windows) == 1

    # Validation in training (float) and evaluation (uint8): the whole upright images.
    expected = [upright["valid", folder] for folder in ("X4", "DIV2K_valid_HR")]
    validation = next(iter(train_data.validation))
    evaluation = next(data.evaluation_batches(source))
    for image, want in zip(validation, expected, strict=True):
        np.testing.assert_array_equal(np.asarray(image)[0], image_io.to_float(want))
    for image, want in zip(evaluation[:2], expected, strict=True):  # (lr, hr, names)
        np.testing.assert_array_equal(image[0], want)


def test_sr_settings_are_checked():
    with pytest.raises(InputError, match=r"--scale=5: must be 2, 3 or 4"):
        SRData(scale=5)
    with pytest.raises(InputError, match=r"--degradation=mild: must be one of unknown, bicubic"):
        SRData(degradation="mild")
    with pytest.raises(InputError, match=r"--lr_crop_size=3: must be >= 4"):
        SRData(lr_crop_size=3)
    assert Path(SRData(data_dir="relative").data_dir).is_absolute()


def test_crop_larger_than_images_is_an_error(tmp_path):
    root = write_div2k(tmp_path)
    with pytest.raises(InputError, match=r"0001x4.png is 30x24, smaller than the 98x98 "
                                         r"training crop \(--lr_crop_size\)"):
        data.training_data(_data(root, lr_crop_size=98, val_images=1), _training())


# --- crops and augmentation -------------------------------------------------

def _block_mean_pair(scale=4, lr_size=(12, 10)):
    rng = np.random.default_rng(0)
    hr = rng.uniform(0, 1, (lr_size[0] * scale, lr_size[1] * scale, 3)).astype("float32")
    lr = hr.reshape(lr_size[0], scale, lr_size[1], scale, 3).mean(axis=(1, 3))
    return tf.constant(lr), tf.constant(hr)


def _block_mean(hr, scale):
    h, w = hr.shape[0] // scale, hr.shape[1] // scale
    return hr.reshape(h, scale, w, scale, 3).mean(axis=(1, 3))


def test_random_crops_are_aligned():
    lr, hr = _block_mean_pair()
    positions = set()
    for i in range(20):
        lr_crop, hr_crop = data.random_crop_pair(lr, hr, 4, 4, tf.constant([i, 7], tf.int64))
        assert lr_crop.shape == (4, 4, 3) and hr_crop.shape == (16, 16, 3)
        np.testing.assert_allclose(_block_mean(hr_crop.numpy(), 4), lr_crop.numpy(), atol=1e-6)
        positions.add(lr_crop.numpy().tobytes())
    assert len(positions) > 5  # the crops do move


def test_flip_rotate_keeps_pairs_aligned():
    lr, hr = _block_mean_pair(lr_size=(6, 6))
    outcomes = set()
    for i in range(30):
        lr_aug, hr_aug = data.flip_rotate(lr, hr, tf.constant([i, 3], tf.int64))
        np.testing.assert_allclose(_block_mean(hr_aug.numpy(), 4), lr_aug.numpy(), atol=1e-6)
        outcomes.add(lr_aug.numpy().tobytes())
    assert len(outcomes) >= 4


# --- tensorflow-datasets ----------------------------------------------------

def test_tfds_source_with_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    def as_dataset(self, split, *args, **kwargs):
        def examples():
            for name in ("astronaut", "coffee", "chelsea", "rocket"):
                hr = hr_photo(name, (64, 48))
                yield {"hr": hr, "lr": hr[::4, ::4]}
        ds = tf.data.Dataset.from_generator(
            examples, output_signature={"hr": tf.TensorSpec((None, None, 3), tf.uint8),
                                        "lr": tf.TensorSpec((None, None, 3), tf.uint8)})
        return ds.apply(tf.data.experimental.assert_cardinality(4))

    source = SRData(scale=4, tfds_name="div2k/bicubic_x4", lr_crop_size=8, augment=True,
                    val_images=2)
    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        train_data = data.training_data(source, _training())
        lr, hr = next(iter(train_data.train(0)))
        batches = list(data.evaluation_batches(source, "valid"))
        with pytest.raises(InputError, match=r"--split=test: div2k/bicubic_x4 has the splits "
                                             r"train, valid"):
            next(data.evaluation_batches(source, "test"))
    assert train_data.steps_per_epoch == 2
    assert lr.shape == (2, 8, 8, 3) and hr.shape == (2, 32, 32, 3)
    assert -1 <= float(tf.reduce_min(hr)) and float(tf.reduce_max(hr)) <= 1
    assert len(batches) == 4 and batches[0][0].shape == (1, 12, 16, 3)
    assert batches[0][1].shape == (1, 48, 64, 3)


# --- training and prediction ------------------------------------------------

def _epochs_logged(model_dir):
    with open(model_dir / "training_log.csv", newline="") as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def _predict(checkpoint, output_dir, source, **prediction_fields):
    config = tiny_configs.predict(SRPredictConfig, source, checkpoint=checkpoint,
                                  output_dir=output_dir, **prediction_fields)
    written, result = prediction.predict(SR, config)
    assert written == Path(output_dir)
    return result


def test_train_resume_predict_with_metrics(tmp_path):
    root = write_div2k(tmp_path / "div2k", degradation="unknown")
    run = tmp_path / "run"
    config = tiny_configs.srresnet(root, epochs=1, lr_crop_size=12, val_images=1)
    training.train(SR, config, run)  # two steps
    assert _epochs_logged(run) == [0]
    record = json.loads((run / "config.json").read_text())
    assert record["application"] == "srresnet"
    assert record["config"]["data"]["data_dir"] == str(root)
    more = dataclasses.replace(config, training=dataclasses.replace(config.training, epochs=2))
    training.train(SR, more, run)
    assert _epochs_logged(run) == [0, 1]
    assert (run / "samples" / "epoch_002.png").is_file()

    out = tmp_path / "pred"
    result = _predict(run / "model.keras", out, config.data, split="valid")
    assert sorted(p.name for p in (out / "prediction").iterdir()) == ["0801x4.png", "0802x4.png"]
    sr = cv2_read(out / "prediction" / "0801x4.png")
    assert sr.shape == (96, 120, 3)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["images"] == 2 and saved["baseline"]["name"] == "bicubic"
    assert 10 < saved["baseline"]["psnr"] < 60 and saved["psnr"] == pytest.approx(result["psnr"])

    # From the run folder alone: its data settings (those prediction reads) are the
    # defaults, its valid split the default split, RUN/predictions/valid the default output.
    from_run = SRPredictConfig(prediction=PredictionConfig(model_dir=str(run)))
    from_run = prediction.with_run_settings(SR, from_run, given=set())
    assert from_run.data == SRImages(data_dir=config.data.data_dir, scale=config.data.scale,
                                     degradation=config.data.degradation)
    written, again = prediction.predict(SR, from_run)
    assert written == run / "predictions" / "valid"
    assert again["psnr"] == pytest.approx(result["psnr"], abs=1e-4)

    lr_only = tmp_path / "pred_lr"
    lr_dir = root / "DIV2K_valid_LR_unknown" / "X4"
    assert _predict(run / "export", lr_only, SRData(scale=4), input_dir=lr_dir) is None
    assert cv2_read(lr_only / "prediction" / "0802x4.png").shape == (96, 120, 3)
    assert not (lr_only / "metrics.json").exists()
    scored_config = dataclasses.replace(
        tiny_configs.predict(SRPredictConfig, SRData(scale=4), checkpoint=run / "export",
                             output_dir=tmp_path / "pred_hr", input_dir=lr_dir),
        targets=SRTargets(hr_dir=str(root / "DIV2K_valid_HR")))
    _, scored = prediction.predict(SR, scored_config)
    assert scored["psnr"] == pytest.approx(result["psnr"], abs=1e-4)
    no_hr = dataclasses.replace(scored_config, targets=SRTargets(hr_dir=str(tmp_path / "none")))
    with pytest.raises(InputError, match=r"none: no such folder \(--hr_dir\)"):
        prediction.predict(SR, no_hr)


def cv2_read(path):
    return image_io.read_rgb(path)


def test_spl_training_reduces_the_loss_on_one_photo():
    """A small SRResNet on crops of one photo: the SPL must close a quarter of the gap.

    SPL has its minimum M at a perfect match (the value of SPL(hr, hr)). With S0
    the untrained model's loss and S the loss after 60 Adam steps on the same
    fixed crops, we require S <= S0 - 0.25 * (S0 - M).
    """
    import keras

    keras.utils.set_random_seed(0)
    hr = hr_photo("astronaut", (256, 256)).astype("float32") / 127.5 - 1
    lr = tf.image.resize(hr[None], (64, 64), method="area")[0].numpy()
    crops = [(lr[y:y + 16, x:x + 16], hr[4 * y:4 * y + 64, 4 * x:4 * x + 64])
             for y in (0, 24, 48) for x in (0, 24, 48)]
    x = np.stack([c[0] for c in crops])
    y = np.stack([c[1] for c in crops])
    model = build_srresnet(num_blocks=2, filters=16)
    loss = SPL()
    model.compile(keras.optimizers.Adam(1e-3), loss=loss)
    start = float(loss(y, model(x, training=False)))
    perfect = float(loss(y, y))
    model.fit(x, y, batch_size=9, epochs=60, verbose=0)
    final = float(loss(y, model(x, training=False)))
    assert final <= start - 0.25 * (start - perfect), (start, final, perfect)


@pytest.mark.parametrize("args,message", [
    (["--model_dir={tmp}/run"], r"give --data_dir \(DIV2K folders\) or --tfds_name"),
    (["--data_dir={tmp}/none", "--model_dir={tmp}/run"], r"DIV2K_train_HR: no such folder"),
    (["--data_dir={data}", "--model_dir={tmp}/run", "--scale=3"],
     r"DIV2K_train_LR_unknown/X3: no such folder"),
    (["--data_dir={data}", "--model_dir={tmp}/run", "--scale=5"],
     r"--scale=5: must be 2, 3 or 4"),
    (["--data_dir={data}", "--model_dir={tmp}/run", "--ngf=8"],
     r"Unknown command line flag 'ngf'"),
    (["predict", "--output_dir={tmp}/out"],
     r"give --checkpoint \(a .keras file or an exported SavedModel\) or --model_dir"),
])
def test_cli_errors_are_one_line(tmp_path, args, message):
    write_div2k(tmp_path / "div2k", degradation="unknown")
    command = "predict" if args[0] == "predict" else "train"
    args = [a.format(tmp=tmp_path, data=tmp_path / "div2k") for a in args if a != "predict"]
    result = run_in_process(f"applications.srresnet.{command}", *args)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.search(message, errors[0]), result.stderr
