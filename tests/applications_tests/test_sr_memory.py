"""SR prediction in flat memory: the pieces that keep large images uint8 (strip
scoring, tiled bicubic, thumbnails, copy-free writing), and the command's peak."""

from pathlib import Path

import cv2
import keras
import numpy as np
import pytest
import skimage.data
import sr_memory  # benchmarks/ is on pytest's pythonpath (pytest.ini)

from applications.common import plots
from applications.common.application import Scoring
from applications.common.config import PredictionConfig
from applications.common.scoring import image_scores, strips
from applications.srresnet.application import SuperResolution
from applications.srresnet.config import DEFAULT_TILE_SIZE, SRData, SRPredictConfig
from applications.srresnet.model import build_srresnet
from spl_tf import metrics
from spl_tf.utils import image_io

MB = 2**20


def _noisy_pair(height, width, seed=0):
    """A photo and a noisy copy of it, uint8: scores well inside their ranges."""
    rng = np.random.default_rng(seed)
    target = cv2.resize(skimage.data.astronaut(), (width, height), interpolation=cv2.INTER_AREA)
    noise = rng.normal(0, 12, target.shape)
    return target, np.clip(target + noise, 0, 255).astype(np.uint8)


# --- PSNR / SSIM strip by strip -------------------------------------------------

@pytest.mark.parametrize("y_channel", [True, False])
@pytest.mark.parametrize("height,width,shave,strip_rows", [
    (97, 60, 0, 10),    # height not a multiple of the strip: a short last strip
    (97, 60, 4, 10),    # SR's shave at x4
    (64, 50, 3, 1),     # one-row cores
    (40, 33, 2, 1000),  # one strip: the whole image
    (21, 30, 5, 4),     # shave and window leave a single row of SSIM
])
def test_strip_scores_equal_the_metrics_on_the_whole_image(height, width, shave, strip_rows,
                                                           y_channel):
    target, output = _noisy_pair(height, width)
    scoring = Scoring(y_channel=y_channel, shave=shave)
    psnr, ssim = image_scores(target, output, scoring, strip_rows=strip_rows)
    options = {"shave": shave, "y_channel": y_channel}
    whole = [image_io.to_float(target[None]), image_io.to_float(output[None])]
    assert psnr == pytest.approx(float(metrics.psnr(*whole, **options)[0]), rel=1e-6)
    assert ssim == pytest.approx(float(metrics.ssim(*whole, **options)[0]), rel=1e-5)
    assert 20 < psnr < 40 and 0.2 < ssim < 0.99


def test_strips_partition_the_rows_the_metric_scores():
    for height, shave, margin, rows in [(97, 4, 5, 10), (50, 0, 0, 7), (30, 2, 5, 100)]:
        cores = []
        for strip, core in strips(height, shave, margin, rows):
            first = strip.start + shave + margin  # what the metric's shave and window leave
            assert strip.stop - shave - margin - first == core and strip.stop <= height
            cores += range(first, first + core)
        assert cores == list(range(shave + margin, height - shave - margin))


def test_identical_images_and_sizes_the_metrics_refuse():
    target, _ = _noisy_pair(40, 40)
    psnr, ssim = image_scores(target, target.copy(), Scoring(shave=2), strip_rows=7)
    assert psnr == float("inf") and ssim == pytest.approx(1.0)
    # 20 rows less 2 x 5 shaved leave 10 < 11 for the SSIM window: the metric's own error.
    with pytest.raises(ValueError, match=r"ssim: shave=5 leaves 10x30 pixels of the 20x40"):
        image_scores(target[:20], target[:20], Scoring(shave=5), strip_rows=3)


# --- bicubic, thumbnails, writing ------------------------------------------------

def test_bicubic_baseline_runs_tiled_into_uint8_as_whole():
    import tensorflow as tf

    lr = cv2.resize(skimage.data.coffee(), (DEFAULT_TILE_SIZE + 150, 60))[None]
    name, upscale = SuperResolution().baseline(SRPredictConfig(
        prediction=PredictionConfig(model_dir="run"), data=SRData(scale=3)))
    tiled = upscale(lr)
    whole = tf.image.resize(image_io.to_float(lr), (180, 3 * lr.shape[2]), method="bicubic")
    assert name == "bicubic" and tiled.dtype == np.uint8
    np.testing.assert_array_equal(tiled, image_io.to_uint8(whole))


def test_thumbnails_bound_large_images_and_leave_small_ones_as_they_are():
    small = skimage.data.astronaut()  # 512x512: the bound itself
    assert plots.thumbnail(small) is small
    large = cv2.resize(small, (1500, 1000))
    thumbnail = plots.thumbnail(large)
    assert thumbnail.shape == (341, 512, 3) and thumbnail.dtype == np.uint8
    np.testing.assert_allclose(thumbnail.mean(axis=(0, 1)), large.mean(axis=(0, 1)), atol=1)


def test_write_rgb_writes_rgb_and_leaves_the_image_as_it_was(tmp_path, monkeypatch):
    monkeypatch.setattr(image_io, "SWAP_BYTES", 1000)  # many chunks of rows
    image = skimage.data.astronaut()[:100, :90]
    original = image.copy()
    contiguous = np.ascontiguousarray(image)
    image_io.write_rgb(tmp_path / "a.png", contiguous)
    np.testing.assert_array_equal(contiguous, original)
    read_only = original.copy()
    read_only.flags.writeable = False
    for name, array in [("b.png", image), ("c.png", read_only)]:  # a view; read-only
        image_io.write_rgb(tmp_path / name, array)
    for name in ("a.png", "b.png", "c.png"):
        np.testing.assert_array_equal(image_io.read_rgb(tmp_path / name), original)
    with pytest.raises(ValueError, match=r"x.png: expected an RGB image \(H, W, 3\)"):
        image_io.write_rgb(tmp_path / "x.png", original[..., 0])


def test_write_rgb_restores_the_image_when_encoding_fails(tmp_path):
    image = skimage.data.astronaut()[:20, :20].copy()
    original = image.copy()
    with pytest.raises(cv2.error):
        image_io.write_rgb(tmp_path / "a.unknown", image)
    np.testing.assert_array_equal(image, original)


# --- the command's peak memory ------------------------------------------------------

TILE = {"tile_size": 128, "overlap": 12}  # covers the 1-block model's radius, 10
SMALL_LR, LARGE_LR = (384, 288), (800, 500)  # (width, height); x4: 3200x2000 HR
# What the two runs' peaks may differ by beyond the large images' own bytes: the
# spread of one process's peak from run to run (up to 45 MB measured: TensorFlow's
# allocator and glibc's arenas) and the large LR input (1 MB).
SLACK_MB = 64


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """A 1-block x4 SRResNet, and LR/HR photo pairs of a small and a large size."""
    root = tmp_path_factory.mktemp("memory")
    keras.utils.set_random_seed(0)
    build_srresnet(4, 1, 8).save(root / "model.keras")
    for size in (SMALL_LR, LARGE_LR):
        sr_memory.write_photo_pair(root / f"{size[0]}", size, 4)
    return root


def _peak_mb(root: Path, width: int, output: Path) -> float:
    """The peak resident memory of the predict command on one pair, run alone."""
    folder = root / f"{width}"
    args = sr_memory.predict_args(root / "model.keras", folder / "lr", output, folder / "hr",
                                  **TILE)
    log = output.with_suffix(".log")
    case = sr_memory.run_command(args, log, timeout=300)
    assert case["returncode"] == 0, log.read_text()[-3000:]
    return case["peak_mb"]


@pytest.mark.slow  # a long end-to-end run: make test-slow
def test_predict_peak_grows_by_the_uint8_images_only(photos, tmp_path):
    """The large run's peak over the small one's is what a large image must hold:
    its uint8 output and HR target (SR's size x4 each), and the encoded PNG being
    written, twice (OpenCV's encoder returns a NumPy copy of its buffer). The tile
    working sets (model, bicubic baseline, scoring strips, grid thumbnails) do not
    grow with the image. The float copies the code before this test made (of the
    output, target and bicubic baseline, for scoring and for the grid) put its peak
    0.7 GB over the bound here (2.1 GB against 1.4)."""
    small = _peak_mb(photos, SMALL_LR[0], tmp_path / "small")
    large = _peak_mb(photos, LARGE_LR[0], tmp_path / "large")
    width, height = LARGE_LR
    image_mb = 16 * width * height * 3 / MB  # the uint8 HR output; the target the same
    encoded_mb = max((tmp_path / "large" / folder / "photo.png").stat().st_size
                     for folder in ("prediction", "target")) / MB
    bound = small + 2 * image_mb + 2 * encoded_mb + SLACK_MB
    assert large <= bound, (f"peak {large:.0f} MB on {width}x{height} LR, over {bound:.0f} MB "
                            f"(tile-sized image: {small:.0f} MB)")
