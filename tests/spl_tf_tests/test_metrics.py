"""PSNR / SSIM / Y conversion against scikit-image, on real photos.

References are computed by scikit-image in float64 from the uint8 pictures;
our functions get the same pictures as float32 in [-1, 1]. Backend-agnostic:
under TensorFlow the file also reruns itself under JAX (a subprocess, since
the backend is fixed when Keras is first imported).
"""

import functools

import keras
import numpy as np
import pytest
from skimage import data, filters
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.transform import resize

from backend_utils import check_all_passed, rerun_under_jax
from spl_tf.metrics import psnr, rgb_to_y, ssim

H, W = 64, 80
PHOTOS = ("astronaut", "coffee", "chelsea")


def _u8(x01):
    return (np.clip(x01, 0, 1) * 255).round().astype(np.uint8)


@functools.cache
def _pair(name):
    """(reference, degraded) uint8 RGB pictures, H x W, one degradation each."""
    ref = resize(getattr(data, name)(), (H, W), anti_aliasing=True)
    if name == "astronaut":  # x4 bicubic down-up, the SR setting
        low = resize(ref, (H // 4, W // 4), order=3, anti_aliasing=True)
        out = resize(low, (H, W), order=3)
    elif name == "coffee":
        out = ref + np.random.default_rng(0).normal(0, 0.04, ref.shape)
    else:
        out = filters.gaussian(ref, sigma=1.2, channel_axis=-1)
    return _u8(ref), _u8(out)


def _signed(u8):
    """uint8 pictures -> float32 batch in [-1, 1]."""
    x = u8.astype(np.float32) / 127.5 - 1.0
    return x[None] if x.ndim == 3 else x


def _y64(u8):
    """The BT.601 Y formula, in float64 numpy, on 0..255."""
    rgb = u8.astype(np.float64)
    return 16.0 + (65.481 * rgb[..., 0] + 128.553 * rgb[..., 1]
                   + 24.966 * rgb[..., 2]) / 255.0


def _crop(img, shave):
    return img[shave:img.shape[0] - shave, shave:img.shape[1] - shave]


def _sk_ssim(a, b, **kwargs):
    return structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=255, **kwargs,
    )


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


# ---------------------------------------------------------------- rgb_to_y


@pytest.mark.parametrize("name", PHOTOS)
def test_rgb_to_y_matches_the_formula(name):
    ref, out = _pair(name)
    batch = np.stack([ref, out])
    y = _np(rgb_to_y(_signed(batch)))
    assert y.shape == (2, H, W, 1) and y.dtype == np.float32
    # float32 on values up to 235: a few ulps of 1.5e-5.
    np.testing.assert_allclose(y[..., 0], _y64(batch), rtol=0, atol=1e-4)


@pytest.mark.parametrize("name", PHOTOS)
def test_rgb_to_y_matches_skimage_rgb2ycbcr(name):
    ref, _ = _pair(name)
    y = _np(rgb_to_y(_signed(ref)))[0, ..., 0]
    np.testing.assert_allclose(y, rgb2ycbcr(ref)[..., 0], rtol=0, atol=1e-3)


def test_rgb_to_y_value_range():
    ref, _ = _pair("coffee")
    expected = _y64(ref)
    for images, value_range in (
        (ref.astype(np.float32) / 255, (0, 1)),
        (ref.astype(np.float32), (0, 255)),
    ):
        y = _np(rgb_to_y(images[None], value_range=value_range))[0, ..., 0]
        np.testing.assert_allclose(y, expected, rtol=0, atol=1e-4)


# ---------------------------------------------------------------- vs skimage


@pytest.mark.parametrize("shave", [0, 4])
@pytest.mark.parametrize("name", PHOTOS)
def test_psnr_y_matches_skimage(name, shave):
    ref, out = _pair(name)
    expected = peak_signal_noise_ratio(
        _crop(_y64(ref), shave), _crop(_y64(out), shave), data_range=255
    )
    got = _np(psnr(_signed(ref), _signed(out), shave=shave))
    assert got.shape == (1,) and got.dtype == np.float32
    # Observed ~1e-7 relative: the float32 input and Y add that much.
    np.testing.assert_allclose(got[0], expected, rtol=1e-5)


@pytest.mark.parametrize("shave", [0, 4])
@pytest.mark.parametrize("name", PHOTOS)
def test_psnr_rgb_matches_skimage(name, shave):
    ref, out = _pair(name)
    expected = peak_signal_noise_ratio(
        _crop(ref, shave).astype(np.float64), _crop(out, shave).astype(np.float64),
        data_range=255,
    )
    got = _np(psnr(_signed(ref), _signed(out), shave=shave, y_channel=False))
    np.testing.assert_allclose(got[0], expected, rtol=1e-5)


@pytest.mark.parametrize("shave", [0, 4])
@pytest.mark.parametrize("name", PHOTOS)
def test_ssim_y_matches_skimage(name, shave):
    ref, out = _pair(name)
    expected = _sk_ssim(_crop(_y64(ref), shave), _crop(_y64(out), shave))
    got = _np(ssim(_signed(ref), _signed(out), shave=shave))
    assert got.shape == (1,) and got.dtype == np.float32
    np.testing.assert_allclose(got[0], expected, rtol=0, atol=1e-4)


@pytest.mark.parametrize("shave", [0, 4])
@pytest.mark.parametrize("name", PHOTOS)
def test_ssim_rgb_matches_skimage(name, shave):
    ref, out = _pair(name)
    expected = _sk_ssim(
        _crop(ref, shave).astype(np.float64), _crop(out, shave).astype(np.float64),
        channel_axis=-1,
    )
    got = _np(ssim(_signed(ref), _signed(out), shave=shave, y_channel=False))
    np.testing.assert_allclose(got[0], expected, rtol=0, atol=1e-4)


def test_shave_changes_the_result():
    # Guards the shave=4 comparisons above against a no-op shave.
    ref, out = _pair("astronaut")
    a, b = _signed(ref), _signed(out)
    assert abs(_np(ssim(a, b))[0] - _np(ssim(a, b, shave=4))[0]) > 1e-3
    assert abs(_np(psnr(a, b))[0] - _np(psnr(a, b, shave=4))[0]) > 1e-2


# ---------------------------------------------------------------- batches


@pytest.mark.parametrize("y_channel", [True, False])
def test_batch_gives_per_image_values_in_order(y_channel):
    refs, outs = zip(*(_pair(name) for name in PHOTOS))
    a, b = _signed(np.stack(refs)), _signed(np.stack(outs))
    if y_channel:
        pairs = [(_y64(r), _y64(o), {}) for r, o in zip(refs, outs, strict=True)]
    else:
        pairs = [(r.astype(float), o.astype(float), {"channel_axis": -1})
                 for r, o in zip(refs, outs, strict=True)]
    want_psnr = [peak_signal_noise_ratio(r, o, data_range=255) for r, o, _ in pairs]
    want_ssim = [_sk_ssim(r, o, **kw) for r, o, kw in pairs]
    got_psnr = _np(psnr(a, b, y_channel=y_channel))
    got_ssim = _np(ssim(a, b, y_channel=y_channel))
    assert got_psnr.shape == got_ssim.shape == (3,)
    np.testing.assert_allclose(got_psnr, want_psnr, rtol=1e-5)
    np.testing.assert_allclose(got_ssim, want_ssim, rtol=0, atol=1e-4)
    # The pictures score differently, so a permutation could not pass.
    assert min(np.diff(np.sort(want_ssim))) > 1e-3


# ---------------------------------------------------------------- edge cases


@pytest.mark.parametrize("y_channel", [True, False])
def test_identical_images(y_channel):
    refs = np.stack([_pair(name)[0] for name in PHOTOS])
    a = _signed(refs)
    p = _np(psnr(a, a, y_channel=y_channel))
    assert np.all(np.isposinf(p)), p
    s = _np(ssim(a, a, y_channel=y_channel))
    assert not np.any(np.isnan(s))
    np.testing.assert_allclose(s, 1.0, rtol=0, atol=1e-5)


def test_identical_image_next_to_a_different_one():
    ref, out = _pair("chelsea")
    a, b = _signed(np.stack([ref, ref])), _signed(np.stack([ref, out]))
    p = _np(psnr(a, b))
    assert np.isposinf(p[0]) and np.isfinite(p[1])


@pytest.mark.parametrize("y_channel", [True, False])
def test_value_ranges_agree(y_channel):
    ref, out = _pair("astronaut")
    batches = {
        (-1.0, 1.0): (_signed(ref), _signed(out)),
        (0, 1): (ref[None] / np.float32(255), out[None] / np.float32(255)),
        (0, 255): (ref[None].astype(np.float32), out[None].astype(np.float32)),
    }
    results = {
        vr: (_np(psnr(a, b, value_range=vr, shave=4, y_channel=y_channel)),
             _np(ssim(a, b, value_range=vr, shave=4, y_channel=y_channel)))
        for vr, (a, b) in batches.items()
    }
    p0, s0 = results[(-1.0, 1.0)]
    for p, s in results.values():
        np.testing.assert_allclose(p, p0, rtol=1e-5)
        np.testing.assert_allclose(s, s0, rtol=0, atol=1e-5)


def test_uint8_input_with_its_range():
    ref, out = _pair("coffee")
    got = _np(psnr(ref[None], out[None], value_range=(0, 255)))
    want = _np(psnr(_signed(ref), _signed(out)))
    np.testing.assert_allclose(got, want, rtol=1e-5)


# ---------------------------------------------------------------- errors


def _small():
    return np.zeros((2, 16, 20, 3), np.float32)


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_rank_error(metric):
    with pytest.raises(ValueError, match=r"y_true must be a rank-4.*\(16, 20, 3\)"):
        metric(_small()[0], _small()[0])


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_shape_mismatch_error(metric):
    pattern = r"same shape.*\(2, 16, 20, 3\).*\(2, 16, 18, 3\)"
    with pytest.raises(ValueError, match=pattern):
        metric(_small(), _small()[:, :, :18])


@pytest.mark.parametrize("metric", [psnr, ssim])
def test_y_channel_needs_rgb(metric):
    grey = _small()[..., :1]
    with pytest.raises(ValueError, match=r"y_channel=True needs RGB.*got 1"):
        metric(grey, grey)
    assert _np(metric(grey, grey + 0.1, y_channel=False)).shape == (2,)


def test_ssim_shave_too_large():
    with pytest.raises(
        ValueError, match=r"shave=3 leaves 10x14 pixels of the 16x20 images.*11x11"
    ):
        ssim(_small(), _small(), shave=3)
    assert _np(ssim(_small(), _small(), shave=2)).shape == (2,)


def test_ssim_image_smaller_than_window():
    tiny = np.zeros((1, 10, 30, 3), np.float32)
    with pytest.raises(ValueError, match=r"shave=0 leaves 10x30 .*11x11"):
        ssim(tiny, tiny)


def test_psnr_shave_too_large():
    with pytest.raises(ValueError, match=r"shave=8 leaves 0x4 pixels of the 16x20"):
        psnr(_small(), _small(), shave=8)


@pytest.mark.parametrize("shave", [-1, 1.5, True])
def test_bad_shave(shave):
    with pytest.raises(ValueError, match="shave"):
        psnr(_small(), _small(), shave=shave)


@pytest.mark.parametrize("value_range", [(1, 1), (1, 0), (0, 1, 2)])
def test_bad_value_range(value_range):
    with pytest.raises(ValueError, match="value_range"):
        ssim(_small(), _small(), value_range=value_range)


def test_rgb_to_y_needs_rgb():
    with pytest.raises(ValueError, match=r"rgb_to_y needs RGB.*\(2, 16, 20, 1\)"):
        rgb_to_y(_small()[..., :1])


# ---------------------------------------------------------------- compiled


def _compiled(fn):
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(fn, jit_compile=True)
    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(fn)
    pytest.skip(f"no compiler for backend {keras.backend.backend()!r}")


@pytest.mark.parametrize("y_channel", [True, False])
def test_compiled_gives_the_same_values(y_channel):
    refs, outs = zip(*(_pair(name) for name in PHOTOS))
    a, b = _signed(np.stack(refs)), _signed(np.stack(outs))

    def both(x, y):
        return (psnr(x, y, shave=4, y_channel=y_channel),
                ssim(x, y, shave=4, y_channel=y_channel))

    eager_p, eager_s = (_np(v) for v in both(a, b))
    jit_p, jit_s = (_np(v) for v in _compiled(both)(a, b))
    # XLA may fuse and reorder the float32 sums, hence not bit-exact.
    np.testing.assert_allclose(jit_p, eager_p, rtol=1e-5)
    np.testing.assert_allclose(jit_s, eager_s, rtol=0, atol=1e-5)
    jit_same = _np(_compiled(lambda x: psnr(x, x, y_channel=y_channel))(a))
    assert np.all(np.isposinf(jit_same))


if keras.backend.backend() == "tensorflow":

    # One photo of the per-photo cases keeps it fast: JAX compiles every
    # op for every new shape when run eagerly.
    @rerun_under_jax("-p", "no:xdist", "-k", "not coffee and not chelsea", __file__, timeout=300)
    def test_this_file_under_jax(jax_rerun):
        check_all_passed(jax_rerun, 38)
