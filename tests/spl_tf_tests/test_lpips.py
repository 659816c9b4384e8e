"""LPIPS against the reference `lpips` package, and as a Keras loss.

Golden values: tests/data/metrics_reference.json (tests/golden_metrics/make_golden.py ran
lpips 0.1.4 with seeded weights). The weights are rebuilt here with NumPy
(`golden_metrics.seeded`), the heads read from the file PyTorch wrote, and the whole state
written as a PyTorch file (`torch_files`) that LPIPS reads as it would the published ones.
Backend-agnostic: test_jax_backend.py reruns this file under JAX.
"""

import dataclasses
import hashlib
import json
import os
import re
from pathlib import Path

import keras
import numpy as np
import pytest

import spl_tf
from backend_utils import value_and_grads, xla_compiled
from golden_metrics import seeded
from http_server import NOWHERE, serving
from spl_tf import lpips as lpips_module
from spl_tf.lpips import LPIPSDistance
from spl_tf.metrics import lpips
from spl_tf.utils.errors import InputError
from spl_tf.utils.torch_weights import load_torch_weights
from torch_files import write_state_dict

DATA = Path(__file__).parents[1] / "data"
GOLDEN = json.loads((DATA / "metrics_reference.json").read_text())
CASES = [(net, case) for net in ("alex", "vgg") for case in GOLDEN["lpips"][net]["cases"]]


def _state(net: str) -> dict[str, np.ndarray]:
    golden = GOLDEN["lpips"][net]
    return seeded.state_dict(golden["shapes"], GOLDEN["seed"])


@pytest.fixture(scope="module")
def weight_files(tmp_path_factory) -> dict[str, str]:
    """{net: the seeded state (lpips.LPIPS's names) as a PyTorch file}."""
    folder = tmp_path_factory.mktemp("lpips_weights")
    return {net: str(write_state_dict(folder / f"{net}.pth", _state(net)))
            for net in ("alex", "vgg")}


def _images(case: dict, key: int) -> np.ndarray:
    """The case's uint8 images as float32 in its value range, as make_golden.py made them."""
    low, high = case["value_range"]
    u8 = seeded.images(case["image_seeds"][key], case["pairs"], case["height"], case["width"])
    return (u8.astype(np.float32) / 255.0 * (high - low) + low).astype(np.float32)


def test_the_heads_pytorch_wrote_are_the_seeded_ones():
    for net in ("alex", "vgg"):
        heads = load_torch_weights(DATA / "torch_weights" / GOLDEN["lpips"][net]["heads_file"])
        state = _state(net)
        assert heads.keys() == {k for k in state if k.startswith("lin")}
        for name, value in heads.items():
            np.testing.assert_array_equal(value, state[name])


@pytest.mark.parametrize("net,case", CASES)
def test_golden_values(weight_files, net, case):
    golden = GOLDEN["lpips"][net]["cases"][case]
    value = lpips(_images(golden, 0), _images(golden, 1), net, weights=weight_files[net],
                  value_range=golden["value_range"])
    assert tuple(value.shape) == (golden["pairs"],)
    assert keras.backend.standardize_dtype(value.dtype) == "float32"
    np.testing.assert_allclose(value, golden["values"], rtol=golden["rtol"], atol=0)


def test_weights_as_arrays_in_torchvision_and_lpips_names(weight_files):
    # torchvision's names for the backbone (features.3.weight), lpips's for the heads, as
    # the published files hold them.
    state = {name.replace(f"net.slice{name[9:10]}.", "features.")
             if name.startswith("net.") else name: value
             for name, value in _state("alex").items()}
    assert "features.3.weight" in state
    golden = GOLDEN["lpips"]["alex"]["cases"]["pm1_64"]
    value = lpips(_images(golden, 0), _images(golden, 1), "alex", weights=state)
    np.testing.assert_allclose(value, golden["values"], rtol=golden["rtol"], atol=0)


def test_value_range_maps_to_the_references_range(weight_files):
    golden = GOLDEN["lpips"]["alex"]["cases"]["pm1_64"]
    x0, x1 = _images(golden, 0), _images(golden, 1)
    as_255 = [np.round((x + 1) * 127.5) for x in (x0, x1)]
    value = lpips(*as_255, "alex", weights=weight_files["alex"], value_range=(0, 255))
    np.testing.assert_allclose(value, golden["values"], rtol=1e-5)


def test_compiled_equals_eager(weight_files):
    golden = GOLDEN["lpips"]["alex"]["cases"]["pm1_64"]
    x0, x1 = _images(golden, 0), _images(golden, 1)

    def distance(a, b):
        return lpips(a, b, "alex", weights=weight_files["alex"])

    np.testing.assert_allclose(xla_compiled(distance)(x0, x1), golden["values"],
                               rtol=golden["rtol"])


def test_identical_images_are_0_with_a_finite_gradient(weight_files):
    # Flat images: many feature vectors are all zero after the ReLUs, where the reference's
    # sqrt would give a NaN gradient.
    flat = np.full((2, 32, 32, 3), -1.0, np.float32)
    noisy = np.random.RandomState(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    distance = LPIPSDistance("alex", _state("alex"))
    for a, b in ((flat, flat), (noisy, noisy), (flat, noisy)):
        value, grads = value_and_grads(lambda t, p: distance(t, p), a, b)
        assert all(np.isfinite(g).all() for g in grads)
        if a is b:
            assert value == 0 and not any(np.any(g) for g in grads)
        else:
            assert value > 0 and np.any(grads[1])


# ---------------------------------------------------------------- the Keras loss


def test_loss_is_the_metric_reduced(weight_files):
    golden = GOLDEN["lpips"]["vgg"]["cases"]["unit_48x72"]
    loss = spl_tf.LPIPS("vgg", weights=weight_files["vgg"], value_range=(0, 1),
                        reduction="sum")
    value = loss(_images(golden, 0), _images(golden, 1))
    np.testing.assert_allclose(value, np.sum(golden["values"]), rtol=golden["rtol"])
    per_image = spl_tf.LPIPS("vgg", weights=[weight_files["vgg"]], value_range=(0, 1),
                             reduction=None)
    np.testing.assert_allclose(per_image(_images(golden, 0), _images(golden, 1)),
                               golden["values"], rtol=golden["rtol"])


def test_loss_saves_and_loads_with_its_model(tmp_path, weight_files):
    inputs = keras.Input((32, 32, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 3, padding="same")(inputs))
    model.compile(loss=spl_tf.LPIPS("alex", weights=weight_files["alex"], name="lpips_alex"))
    model.optimizer.build(model.trainable_variables)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras")
    assert isinstance(loaded.loss, spl_tf.LPIPS)
    assert loaded.loss.get_config() == model.loss.get_config()
    assert loaded.loss.get_config()["weights"] == [weight_files["alex"]]
    x = np.random.RandomState(1).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    y = np.random.RandomState(2).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(loaded.loss(x, y), model.loss(x, y), rtol=1e-6)


def test_loss_trains_under_fit(weight_files):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    outputs = keras.layers.Conv2D(3, 3, padding="same", activation="tanh")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=spl_tf.LPIPS("alex", weights=weight_files["alex"]))
    rng = np.random.RandomState(3)
    x = rng.uniform(-1, 1, (4, 32, 32, 3)).astype(np.float32)
    y = np.clip(x[:, :, ::-1] * 0.5, -1, 1).astype(np.float32)
    history = model.fit(x, y, batch_size=2, epochs=3, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0], losses


def test_empty_batch():
    loss = spl_tf.LPIPS("alex", weights=None)
    empty = np.zeros((0, 32, 32, 3), np.float32)
    assert float(loss(empty, empty)) == 0.0
    assert spl_tf.LPIPS("alex", weights=None, reduction=None)(empty, empty).shape == (0,)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("kwargs,shape,dtype,message", [
    ({}, (1, 30, 40, 3), "float32",
     r"lpips with network='alex' needs images of at least 31x31 pixels; got 30x40"),
    ({"network": "vgg"}, (1, 15, 40, 3), "float32",
     r"needs images of at least 16x16 pixels; got 15x40"),
    ({}, (1, 32, 32, 1), "float32",
     r"lpips expects y_true as RGB images \(batch, height, width, 3\); got 1 channels"),
    ({}, (1, 32, 32, 3), "uint8", r"integer dtype uint8 with value_range=\(-1, 1\)"),
    ({"network": "squeeze"}, (1, 32, 32, 3), "float32", r"network must be one of \['alex', "),
    ({"weights": 3}, (1, 32, 32, 3), "float32",
     r"weights must be 'lpips', the path of a PyTorch weight file"),
])
def test_bad_input_is_named(kwargs, shape, dtype, message):
    images = np.zeros(shape, dtype)
    with pytest.raises(ValueError, match=message):
        lpips(images, images, **{"weights": None, **kwargs})


def test_values_outside_the_range_are_refused():
    images = np.full((1, 32, 32, 3), 2.0, np.float32)
    with pytest.raises(ValueError, match=r"lpips expects y_true in value_range=\(-1, 1\); "
                                         r"got values from 2 to 2"):
        lpips(images, images, weights=None)


def test_incomplete_weights_are_named():
    heads_only = {k: v for k, v in _state("alex").items() if k.startswith("lin")}
    with pytest.raises(ValueError, match=r"LPIPS\('alex'\) weights lack features\.0\.weight, "
                                         r".*torchvision's alexnet.*weights/v0.1/alex.pth"):
        LPIPSDistance("alex", heads_only)
    wrong = {**_state("alex"), "lin0.model.1.weight": np.zeros((1, 65, 1, 1), np.float32)}
    with pytest.raises(ValueError, match=r"lin0.weight has shape \(1, 65, 1, 1\), expected "
                                         r"\(1, 64, 1, 1\)"):
        LPIPSDistance("alex", wrong)


def _published_files(folder: Path, net: str) -> dict[str, bytes]:
    """The seeded state as its publishers split it, {published file name: bytes}: the
    backbone with torchvision's names, the heads as lpips ships them."""
    state = _state(net)
    backbone = {re.sub(r"^net\.slice\d+\.", "features.", name): value
                for name, value in state.items() if name.startswith("net.")}
    heads = {name: value for name, value in state.items() if name.startswith("lin")}
    return {file.name: write_state_dict(folder / file.name, part).read_bytes()
            for file, part in zip(lpips_module.PUBLISHED[net], (backbone, heads))}


def test_published_weights_are_downloaded_on_first_use(tmp_path, monkeypatch, weight_files):
    # A local server serves seeded files under the published names; the digests checked
    # are theirs, computed here (a prefix where the publisher gives one), not the real ones.
    monkeypatch.setenv("SPL_TF_CACHE", str(tmp_path / "cache"))
    served = _published_files(tmp_path, "alex")
    published = tuple(
        dataclasses.replace(file, sha256=hashlib.sha256(served[file.name]).hexdigest()[
            :len(file.sha256)]) for file in lpips_module.PUBLISHED["alex"])
    monkeypatch.setitem(lpips_module.PUBLISHED, "alex", published)
    with serving() as server:
        server.files.update({f"/{name}": data for name, data in served.items()})
        monkeypatch.setenv("SPL_TF_WEIGHTS_MIRROR", server.url)
        loss = spl_tf.LPIPS("alex", reduction=None)
        assert sorted(r.path for r in server.requests) == sorted(f"/{n}" for n in served)
    assert sorted(os.listdir(tmp_path / "cache" / "weights")) == sorted(served)
    x = np.random.RandomState(1).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    y = np.random.RandomState(2).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    expected = spl_tf.LPIPS("alex", weights=weight_files["alex"], reduction=None)(x, y)
    np.testing.assert_array_equal(loss(x, y), expected)
    # Then from the cache, with no server to ask.
    monkeypatch.setenv("SPL_TF_WEIGHTS_MIRROR", NOWHERE)
    np.testing.assert_array_equal(spl_tf.LPIPS("alex", reduction=None)(x, y), expected)


def test_published_weights_missing_or_wrong_stop_the_loss_when_made(tmp_path, monkeypatch):
    monkeypatch.setenv("SPL_TF_CACHE", str(tmp_path))
    with pytest.raises(InputError, match=(
            rf"^the weights alexnet-owt-7be5be79.pth \(torchvision, .*\) are not at "
            rf"{tmp_path}/weights/alexnet-owt-7be5be79.pth, and cannot download "
            rf"{NOWHERE}alexnet-owt-7be5be79.pth: Connection refused: download "
            rf"https://download.pytorch.org/models/alexnet-owt-7be5be79.pth there .*or pass "
            rf"the path of a copy as weights=$")):
        spl_tf.LPIPS("alex")
    # A file of that name that is not the published one: its digest says so.
    (tmp_path / "weights").mkdir()
    write_state_dict(tmp_path / "weights" / "alexnet-owt-7be5be79.pth", _state("alex"))
    with pytest.raises(InputError, match=r"alexnet-owt-7be5be79.pth: SHA-256 [0-9a-f]{64} does "
                                         r"not match the expected 7be5be79"):
        spl_tf.LPIPS("alex")


def test_loss_refuses_weights_it_cannot_save():
    with pytest.raises(ValueError, match="weights must be 'lpips', the path of a PyTorch "
                                         "weight file or a list of them or None"):
        spl_tf.LPIPS("alex", weights=_state("alex"))


def test_environment_backend():
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")
