"""FID and KID against pytorch-fid and torch-fidelity, on pytorch-fid's Inception-v3.

Golden values: tests/data/metrics_reference.json and .npz (tests/golden_metrics/
make_golden.py ran pytorch-fid 0.3.0 and torch-fidelity 0.4.0 with seeded Inception
weights). The weights are rebuilt here with NumPy and written as a PyTorch file
(`torch_files`), which the network reads as it would the published one.
Backend-agnostic: test_jax_backend.py reruns this file under JAX.
"""

import dataclasses
import hashlib
import json
import os
import tracemalloc
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from golden_metrics import seeded
from http_server import serving
from spl_tf import fid as fid_module
from spl_tf import inception
from spl_tf.metrics import (
    FeatureStatistics,
    fid,
    fid_from_folders,
    folder_statistics,
    frechet_distance,
    image_features,
    kid,
    kid_from_features,
    kid_from_folders,
)
from spl_tf.utils.errors import InputError
from torch_files import write_state_dict

DATA = Path(__file__).parents[1] / "data"
GOLDEN = json.loads((DATA / "metrics_reference.json").read_text())
FID = GOLDEN["fid"]
KID = GOLDEN["kid"]
FEATURES = np.load(DATA / "metrics_reference.npz")

# Fewer than 2048 images make the covariances singular: SciPy says so, as it does to
# pytorch-fid.
pytestmark = pytest.mark.filterwarnings("ignore:Matrix is singular")


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> str:
    """The seeded Inception state, with the published file's names, as a PyTorch file."""
    state = seeded.state_dict(FID["shapes"], GOLDEN["seed"])
    path = tmp_path_factory.mktemp("inception") / "pt_inception_seeded.pth"
    return str(write_state_dict(path, state))


def _images(key: str) -> np.ndarray:
    spec = FID["images"][key]
    return seeded.images(spec["seed"], spec["count"], spec["height"], spec["width"])


@pytest.fixture(scope="module")
def features(weights) -> dict[str, np.ndarray]:
    return {key: image_features(_images(key), (0, 255), weights, batch_size=4)
            for key in ("a", "b")}


def test_features_are_pytorch_fids(features):
    for key in ("a", "b"):
        expected = FEATURES[f"fid_features_{key}"]
        assert features[key].shape == expected.shape == (FID["images"][key]["count"], 2048)
        assert features[key].dtype == np.float32
        np.testing.assert_allclose(features[key], expected, rtol=0, atol=FID["feature_atol"])


def test_fid_of_images(weights):
    value = fid(_images("a"), _images("b"), value_range=(0, 255), weights=weights)
    assert isinstance(value, float)
    np.testing.assert_allclose(value, FID["fid"], rtol=FID["rtol"])


def test_statistics_of_the_references_features_are_numpys():
    for key in ("a", "b"):
        feats = FEATURES[f"fid_features_{key}"]
        statistics = FeatureStatistics()
        for start in range(0, len(feats), 4):  # in batches, as a folder streams
            statistics.update(feats[start:start + 4])
        np.testing.assert_allclose(statistics.mean, np.mean(feats.astype(np.float64), axis=0),
                                   rtol=1e-14)
        np.testing.assert_allclose(statistics.covariance, np.cov(feats, rowvar=False),
                                   rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("case", sorted(GOLDEN["frechet"]))
def test_frechet_distance_is_pytorch_fids(case):
    # pytorch-fid's distance of the same statistics (a few dimensions: SciPy's sqrtm of a
    # 2048 x 2048 product takes up to a minute, which test_fid_of_images pays once).
    golden = GOLDEN["frechet"][case]
    a, b = (seeded.features(seed, count, golden["dims"])
            for seed, count in zip(golden["seeds"], golden["counts"]))
    b = b * golden["scale_b"]
    stats = [(np.mean(f.astype(np.float64), axis=0), np.cov(f, rowvar=False)) for f in (a, b)]
    np.testing.assert_allclose(frechet_distance(*stats[0], *stats[1]), golden["fid"],
                               rtol=1e-10)


def test_frechet_distance_takes_pytorch_fids_way_out_of_a_singular_product(monkeypatch):
    from scipy import linalg

    calls = []
    real_sqrtm = linalg.sqrtm

    def sqrtm(matrix):
        calls.append(matrix.copy())
        return np.full_like(matrix, np.inf) if len(calls) == 1 else real_sqrtm(matrix)

    monkeypatch.setattr(linalg, "sqrtm", sqrtm)
    sigma = np.diag([1.0, 2.0])
    value = frechet_distance(np.zeros(2), sigma, np.ones(2), sigma)
    offset = sigma + 1e-6 * np.eye(2)
    assert len(calls) == 2
    np.testing.assert_allclose(calls[1], offset @ offset)
    np.testing.assert_allclose(value, 2 + 3 + 3 - 2 * (3 + 2e-6), rtol=1e-12)


def test_folders_stream_the_features_of_their_images(tmp_path, weights, features):
    (tmp_path / "a").mkdir()
    for i, image in enumerate(_images("a")):
        Image.fromarray(image).save(tmp_path / "a" / f"{i:03d}.png")
    (tmp_path / "a" / "notes.txt").write_text("not an image")
    (tmp_path / "a" / "upper.PNG").write_bytes(b"pytorch-fid takes lower-case extensions")
    statistics = folder_statistics(tmp_path / "a", weights=weights, batch_size=4)
    assert statistics.count == len(features["a"])
    np.testing.assert_allclose(statistics.mean, features["a"].mean(axis=0, dtype=np.float64),
                               rtol=0, atol=1e-9)


def test_fid_of_folders_is_the_distance_of_their_statistics(tmp_path, monkeypatch):
    # With a small network in Inception's place, so that the distance is cheap.
    def small(images):
        return images.reshape(len(images), -1)[:, :12].astype(np.float32)

    class Features:
        def __call__(self, images, value_range):
            assert value_range == (0, 255)
            return small(images)

    monkeypatch.setattr(fid_module, "inception_network", lambda weights: Features())
    rng = np.random.RandomState(5)
    sets = {"a": rng.randint(0, 256, (7, 2, 2, 3), np.uint8),
            "b": rng.randint(0, 256, (5, 2, 2, 3), np.uint8)}
    for key, images in sets.items():
        (tmp_path / key).mkdir()
        for i, image in enumerate(images):
            Image.fromarray(image).save(tmp_path / key / f"{i}.png")
    stats = [(small(sets[k]).mean(axis=0, dtype=np.float64), np.cov(small(sets[k]),
                                                                     rowvar=False))
             for k in "ab"]
    value = fid_from_folders(tmp_path / "a", tmp_path / "b", weights="any", batch_size=3)
    # 7 and 5 samples of 12 dimensions: singular covariances, whose sqrtm turns the
    # rounding of merged batch sums (1e-16) into 1e-9 of the distance.
    np.testing.assert_allclose(value, frechet_distance(*stats[0], *stats[1]), rtol=1e-7)


def test_folder_statistics_use_memory_flat_in_the_number_of_images(tmp_path, monkeypatch):
    # The network is replaced by a cheap one: what is measured is the streaming (one
    # batch of images and features at a time, running float64 sums), not Inception.
    class Features:
        def __call__(self, images, value_range):
            return np.full((len(images), 2048), images.mean(), np.float32)

    monkeypatch.setattr(fid_module, "inception_network", lambda weights: Features())
    image = np.zeros((16, 16, 3), np.uint8)
    peaks = {}
    for count in (40, 200):
        folder = tmp_path / str(count)
        folder.mkdir()
        for i in range(count):
            image[...] = i % 256
            Image.fromarray(image).save(folder / f"{i:04d}.png")
        tracemalloc.start()
        statistics = folder_statistics(folder, weights="any", batch_size=10)
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert statistics.count == count
    # 5 times the images, about the same peak (the d x d float64 sums: 32 MB each).
    assert peaks[200] < peaks[40] * 1.1, peaks


def test_statistics_of_batches_are_numpys():
    rng = np.random.RandomState(0)
    feats = (rng.standard_normal((57, 16)) * 3 + 100).astype(np.float32)
    statistics = FeatureStatistics()
    for size in (1, 20, 0, 30, 6):
        start = statistics.count
        statistics.update(feats[start:start + size])
    assert statistics.count == 57
    np.testing.assert_allclose(statistics.mean, np.mean(feats.astype(np.float64), axis=0),
                               rtol=1e-14)
    np.testing.assert_allclose(statistics.covariance, np.cov(feats, rowvar=False),
                               rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("case", sorted(KID["cases"]))
def test_kid_of_features_is_torch_fidelitys(case):
    golden = KID["cases"][case]
    feats = [seeded.features(KID["features"][k]["seed"], KID["features"][k]["count"])
             for k in ("a", "b")]
    mean, std = kid_from_features(*feats, subset_size=golden["subset_size"],
                                  subsets=golden["subsets"], seed=golden["rng_seed"])
    # torch-fidelity's value (its kernel in float32), within its measured float32 error;
    # and its value on float64 features, to rounding: the same subsets were drawn.
    np.testing.assert_allclose([mean, std], [golden["mean"], golden["std"]], rtol=0,
                               atol=golden["atol"])
    np.testing.assert_allclose([mean, std], [golden["mean_float64"], golden["std_float64"]],
                               rtol=1e-12)


def test_kid_of_images(weights):
    golden = KID["fid_images"]
    mean, std = kid(_images("a"), _images("b"), value_range=(0, 255), weights=weights,
                    subset_size=golden["subset_size"], subsets=golden["subsets"],
                    seed=golden["rng_seed"])
    scale = abs(golden["mean_float64"])
    np.testing.assert_allclose([mean, std], [golden["mean"], golden["std"]], rtol=0,
                               atol=max(golden["atol"], FID["rtol"] * scale))


def test_kid_of_folders(tmp_path, weights, features):
    # The folders' features go through as the arrays' do (the network is built once per
    # weights file: the fixtures' network).
    for key in ("a", "b"):
        (tmp_path / key).mkdir()
        for i, image in enumerate(_images(key)):
            Image.fromarray(image).save(tmp_path / key / f"{i:03d}.png")
    golden = KID["fid_images"]
    args = dict(subset_size=golden["subset_size"], subsets=golden["subsets"],
                seed=golden["rng_seed"])
    expected = kid_from_features(features["a"], features["b"], **args)
    assert kid_from_folders(tmp_path / "a", tmp_path / "b", weights=weights, batch_size=5,
                            **args) == pytest.approx(expected, rel=1e-6)


# ---------------------------------------------------------------- refusals


def test_kid_needs_subsets_no_larger_than_the_sets():
    feats = np.ones((5, 8), np.float32)
    with pytest.raises(InputError, match=r"KID subset_size=1000 needs at least that many "
                                         r"images in each set, got 5 and 5"):
        kid_from_features(feats, feats)
    with pytest.raises(ValueError, match="subset_size must be at least 2"):
        kid_from_features(feats, feats, subset_size=1)
    with pytest.raises(ValueError, match=r"two \(n, d\) arrays of the same d"):
        kid_from_features(feats, np.ones((5, 9)), subset_size=2)


def test_folders_without_images_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"empty: no images \(bmp, jpg"):
        fid_from_folders(tmp_path / "empty", tmp_path / "empty", weights=None)
    with pytest.raises(InputError, match=r"absent: not a folder of images"):
        fid_from_folders(tmp_path / "absent", tmp_path / "empty", weights=None)


def test_one_image_has_no_covariance():
    statistics = FeatureStatistics()
    statistics.update(np.ones((1, 4)))
    with pytest.raises(InputError, match="a covariance needs at least 2 images, got 1"):
        statistics.covariance


def test_published_weights_missing_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SPL_TF_CACHE", str(tmp_path))
    monkeypatch.setattr(fid_module, "_NETWORKS", {})  # none built from a test's download
    with pytest.raises(InputError, match=(
            r"^the weights pt_inception-2015-12-05-6726825d.pth \(pytorch-fid's FID_WEIGHTS_URL"
            r"\) are not at .*, and cannot download .*: Connection refused: download "
            r"https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
            r"pt_inception-2015-12-05-6726825d.pth there")):
        fid(np.zeros((2, 8, 8, 3)), np.zeros((2, 8, 8, 3)))


def test_published_weights_are_downloaded_on_first_use(tmp_path, monkeypatch, weights):
    # The seeded file served under the published name, its digest prefix computed here.
    data = Path(weights).read_bytes()
    monkeypatch.setenv("SPL_TF_CACHE", str(tmp_path))
    monkeypatch.setattr(inception, "PUBLISHED", dataclasses.replace(
        inception.PUBLISHED, sha256=hashlib.sha256(data).hexdigest()[:8]))
    with serving() as server:
        server.files[f"/{inception.PUBLISHED.name}"] = data
        monkeypatch.setenv("SPL_TF_WEIGHTS_MIRROR", server.url)
        state = inception.state_dict("pt_inception")
    assert (tmp_path / "weights" / inception.PUBLISHED.name).read_bytes() == data
    expected = seeded.state_dict(FID["shapes"], GOLDEN["seed"])
    assert state.keys() == expected.keys()
    np.testing.assert_array_equal(state["Mixed_7c.branch_pool.conv.weight"],
                                  expected["Mixed_7c.branch_pool.conv.weight"])


def test_images_out_of_range_or_integer_are_refused(weights):
    with pytest.raises(ValueError, match=r"fid expects images in value_range=\(-1, 1\)"):
        image_features(np.full((1, 8, 8, 3), 3.0, np.float32), weights=weights)
    with pytest.raises(ValueError, match=r"integer dtype uint8 with value_range=\(-1, 1\)"):
        image_features(np.zeros((1, 8, 8, 3), np.uint8), weights=weights)


def test_environment_backend():
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")
