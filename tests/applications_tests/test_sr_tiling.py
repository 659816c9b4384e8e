"""Tiled super-resolution inference: equal to the untiled output, checked flags."""

import os
import re
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

import tiny_configs
from applications.common import prediction
from applications.common.config import PredictionConfig
from applications.srresnet import tiling
from applications.srresnet.application import SuperResolution
from applications.srresnet.config import (DEFAULT_TILE_OVERLAP, DEFAULT_TILE_SIZE, SRData,
                                          SRInference, SRPredictConfig)
from applications.srresnet.model import build_srresnet
from command_utils import run_in_process
from div2k_data import hr_photo
from spl_tf.utils import image_io
from spl_tf.utils.errors import InputError

ROOT = Path(__file__).resolve().parents[2]
SR = SuperResolution()
BLOCKS = 2
RADIUS = 2 * BLOCKS + 8  # of a 2-block SRResNet, as test_receptive_radius measures


def _predictor(scale, num_blocks=BLOCKS, filters=8):
    keras.utils.set_random_seed(scale)
    model = build_srresnet(scale, num_blocks, filters)
    return lambda x: keras.ops.convert_to_numpy(model(x, training=False))


def _recording(predict):
    """`predict`, and the list of the input shapes it is called with."""
    shapes = []

    def run(x):
        shapes.append(x.shape)
        return predict(x)

    return run, shapes


def _images(height, width, batch=1):
    rng = np.random.default_rng(height * width)
    return rng.uniform(-1, 1, (batch, height, width, 3)).astype("float32")


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("tile_size,height,width", [
    (28, 50, 37),   # 4-pixel cores; neither side a multiple of the core
    (32, 50, 37),   # tiles that do not divide the image
    (40, 77, 45),
    (48, 30, 70),   # taller than the image: one tile row, the width tiled
    (64, 50, 37),   # the whole image fits one tile: run whole
    (64, 64, 64),   # exactly one tile
])
def test_tiled_equals_untiled(scale, tile_size, height, width):
    predict = _predictor(scale)
    images = _images(height, width, batch=2)
    whole = predict(images)
    run, shapes = _recording(predict)
    tiled = tiling.tiled(run, tile_size, RADIUS)(images)
    assert tiled.shape == whole.shape == (2, height * scale, width * scale, 3)
    np.testing.assert_allclose(tiled, whole, atol=1e-5, rtol=0)
    # Every tile has one shape (no padding, one compile), within the image.
    assert len(set(shapes)) == 1
    assert shapes[0] == (2, min(tile_size, height), min(tile_size, width), 3)
    assert len(shapes) == (1 if height <= tile_size and width <= tile_size else
                           len(tiling.spans(height, tile_size, RADIUS)) *
                           len(tiling.spans(width, tile_size, RADIUS)))


def _inference(predict, scale, **tiles):
    config = SRPredictConfig(prediction=PredictionConfig(model_dir="run"),
                             data=SRData(scale=scale), inference=SRInference(**tiles))
    return SR.inference(config, predict)


@pytest.mark.parametrize("scale", [2, 4])
def test_prediction_tiles_uint8_images_into_uint8_outputs_as_untiled(scale):
    """What predict runs: uint8 LR in (as files hold it), each tile converted to
    float, its core rounded into a uint8 output; equal to the whole image's."""
    predict = _predictor(scale)
    images = image_io.to_uint8(_images(77, 45, batch=2))
    run, shapes = _recording(predict)
    tiled = _inference(run, scale, tile_size=40, tile_overlap=RADIUS)(images)
    whole = _inference(predict, scale, tile_size=0)(images)
    assert tiled.dtype == whole.dtype == np.uint8 and len(shapes) > 1
    np.testing.assert_array_equal(tiled, whole)
    # Float batches in [-1, 1] are the same images to the hook.
    np.testing.assert_array_equal(_inference(predict, scale, tile_size=40, tile_overlap=RADIUS)(
        image_io.to_float(images)), tiled)


def test_overlap_below_the_radius_is_not_exact():
    """The overlap is what makes tiles exact: without it, tile seams show."""
    predict = _predictor(2)
    images = _images(50, 50)
    whole = predict(images)
    assert np.abs(tiling.tiled(predict, 32, 0)(images) - whole).max() > 1e-3
    np.testing.assert_allclose(tiling.tiled(predict, 32, RADIUS)(images), whole, atol=1e-5)


@pytest.mark.parametrize("length,tile,overlap", [
    (10, 10, 2), (11, 10, 2), (100, 10, 4), (97, 32, 12), (1000, 384, 48), (385, 384, 48)])
def test_spans_cores_partition_the_axis(length, tile, overlap):
    spans = tiling.spans(length, tile, overlap)
    assert spans[0][1] == 0 and spans[-1][2] == length
    for (start, core_start, core_end), following in zip(spans, spans[1:] + [None]):
        assert 0 <= start and start + min(tile, length) <= length
        # The core keeps `overlap` pixels of context inside the tile, but at the borders.
        assert core_start == 0 or core_start >= start + overlap
        assert core_end == length or core_end <= start + tile - overlap
        if following is not None:
            assert following[1] == core_end


def test_tiling_off_and_bad_arguments():
    predict = _predictor(2)
    assert tiling.tiled(predict, 0, 0) is predict
    for tile_size, overlap in [(-1, 0), (10, -1), (10, 5)]:
        with pytest.raises(ValueError, match="tile_size = 0 or > 2 \\* overlap"):
            tiling.tiled(predict, tile_size, overlap)


@pytest.mark.parametrize("num_blocks,scale", [(1, 4), (2, 2), (3, 3)])
def test_receptive_radius_of_small_models(num_blocks, scale):
    assert tiling.receptive_radius(_predictor(scale, num_blocks), size=41) == 2 * num_blocks + 8


def test_default_overlap_covers_the_default_srresnet():
    """16 blocks, 64 filters: radius 40 LR pixels, within the default overlap of 48."""
    keras.utils.set_random_seed(0)
    model = build_srresnet(4)
    radius = tiling.receptive_radius(
        lambda x: keras.ops.convert_to_numpy(model(x, training=False)), size=97)
    assert radius == 40 <= DEFAULT_TILE_OVERLAP
    assert SRInference() == SRInference(tile_size=384, tile_overlap=48)
    assert DEFAULT_TILE_SIZE > 2 * DEFAULT_TILE_OVERLAP


@pytest.mark.parametrize("fields,message", [
    ({"tile_size": -1}, r"--tile_size=-1: must be >= 0 \(0: no tiling\)"),
    ({"tile_overlap": -2}, r"--tile_overlap=-2: must be >= 0"),
    ({"tile_size": 64, "tile_overlap": 32},
     r"--tile_overlap=32: must be less than half of --tile_size=64"),
])
def test_bad_settings_are_refused(fields, message):
    with pytest.raises(InputError, match=message):
        SRInference(**fields)
    SRInference(tile_size=0, tile_overlap=1000)  # no tiling: any overlap


# --- through predict and the command line ---------------------------------------

@pytest.fixture(scope="module")
def lr_folder(tmp_path_factory):
    """A 1-block x2 SRResNet checkpoint and two LR photos, 60x45 and 30x22."""
    root = tmp_path_factory.mktemp("tiles")
    keras.utils.set_random_seed(0)
    build_srresnet(2, 1, 8).save(root / "model.keras")
    for name, size in (("astronaut", (60, 45)), ("coffee", (30, 22))):
        image_io.write_rgb(root / "lr" / f"{name}.png", hr_photo(name, size))
    return root


def _predict(root, output, **inference):
    config = tiny_configs.predict(SRPredictConfig, SRData(scale=2),
                                  checkpoint=root / "model.keras", output_dir=output,
                                  input_dir=root / "lr")
    config = SRPredictConfig(prediction=config.prediction, data=config.data,
                             inference=SRInference(**inference))
    prediction.predict(SR, config)
    return {p.name: image_io.read_rgb(p) for p in sorted((output / "prediction").iterdir())}


def test_predict_tiles_as_asked(lr_folder, tmp_path):
    whole = _predict(lr_folder, tmp_path / "whole", tile_size=0)
    tiled = _predict(lr_folder, tmp_path / "tiled", tile_size=24, tile_overlap=10)
    assert whole.keys() == tiled.keys() == {"astronaut.png", "coffee.png"}
    assert tiled["astronaut.png"].shape == (90, 120, 3)
    for name in whole:
        np.testing.assert_array_equal(tiled[name], whole[name])


def _cli(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "applications.srresnet.predict", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_cli_tile_flags(lr_folder, tmp_path):
    out = tmp_path / "cli"
    result = _cli(f"--checkpoint={lr_folder / 'model.keras'}", f"--input_dir={lr_folder / 'lr'}",
                  f"--output_dir={out}", "--scale=2", "--tile_size=24", "--tile_overlap=10")
    assert result.returncode == 0, result.stderr
    whole = _predict(lr_folder, tmp_path / "whole", tile_size=0)
    for name, image in whole.items():
        np.testing.assert_array_equal(image_io.read_rgb(out / "prediction" / name), image)


@pytest.mark.parametrize("flags,message", [
    (["--tile_size=-8"], r"--tile_size=-8: must be >= 0"),
    (["--tile_overlap=-1"], r"--tile_overlap=-1: must be >= 0"),
    (["--tile_size=64", "--tile_overlap=40"], r"--tile_overlap=40: must be less than half"),
])
def test_cli_bad_tile_flags_are_one_line(tmp_path, flags, message):
    result = run_in_process("applications.srresnet.predict",
                            f"--checkpoint={tmp_path / 'model.keras'}",
                            f"--output_dir={tmp_path}", *flags)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.search(message, errors[0]), result.stderr
