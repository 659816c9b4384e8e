"""Image-quality metrics as the super-resolution literature reports them.

PSNR and SSIM are defined here; `lpips` (`spl_tf.lpips`) and FID and KID (`spl_tf.fid`,
on the Inception-v3 of `spl_tf.inception`) are re-exported.

Conventions (those of the SR / image-translation papers and their MATLAB code):

* **Y channel.** By default both metrics are computed on the luma Y of
  BT.601 YCbCr, on the 0..255 scale ("studio swing", 16..235)::

      x255 = (x - low) / (high - low) * 255          # value_range = (low, high)
      Y    = 16 + (65.481 R + 128.553 G + 24.966 B) / 255

  which is MATLAB's `rgb2ycbcr` and `skimage.color.rgb2ycbcr(...)[..., 0]`.
  With `y_channel=False` every channel (mapped to 0..255) is used instead.
* **Shave.** `shave` pixels are removed from each border before computing;
  papers shave by the super-resolution scale factor (e.g. 4 for x4).
* **Data range 255**, whatever `value_range` the images come in.

Formulas, per image::

    PSNR = 10 log10(255^2 / MSE)      MSE over all pixels (and channels)

    SSIM = mean over the valid region of
               (2 mu_x mu_y + C1) (2 s_xy + C2)
           -----------------------------------------------
           (mu_x^2 + mu_y^2 + C1) (s_x^2 + s_y^2 + C2)

with local statistics from an 11x11 Gaussian window (sigma 1.5), population
(co)variances, C1 = (0.01 * 255)^2, C2 = (0.03 * 255)^2 (Wang et al. 2004).
"Valid region" means the maps are averaged without the 5 pixels at each
border, where the window does not fit: exactly the value of
`skimage.metrics.structural_similarity(a, b, gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=255)`. With
`y_channel=False` the per-channel SSIMs are averaged, as skimage's
`channel_axis=-1` does.

Identical images have an MSE of 0 and so a PSNR of +inf (never NaN).

Inputs are checked before computing (`spl_tf.validation`). Integer images
(uint8) need their own `value_range`, `(0, 255)`: with the default `(-1, 1)`
they would give numbers that mean nothing (-2.95 dB for a PSNR of 39.16).
Images whose values are known (NumPy arrays, eager tensors; not traced ones)
must lie in `value_range`, to float rounding
(`spl_tf.validation.RANGE_TOLERANCE`).

Written with `keras.ops` only: runs on the TensorFlow and JAX backends,
eagerly or compiled (`tf.function(jit_compile=True)`, `jax.jit`). Inputs are
NHWC batches; results are float32 of shape (N,), one value per image.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from keras import ops

# The field's learned metrics live in modules of their own (networks, weight files) and
# are re-exported here.
from spl_tf.fid import (  # noqa: F401
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
from spl_tf.lpips import lpips  # noqa: F401
from spl_tf.validation import (
    check_bool,
    check_image_dtype,
    check_image_values,
    check_last_axis,
    check_non_negative_int,
    check_pair,
    check_value_range,
    static_shape,
)

DATA_RANGE = 255.0
YCBCR_Y_WEIGHTS = (65.481, 128.553, 24.966)
"""BT.601 Y weights for R, G, B on 0..1 (scaled to 16..235), as in MATLAB."""
Y_OFFSET = 16.0

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

ValueRange = Sequence[float]


def _gaussian_taps(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> np.ndarray:
    """The normalised 1-D Gaussian of `scipy.ndimage.gaussian_filter`.

    skimage filters with truncate=3.5, i.e. radius int(3.5 * 1.5 + 0.5) = 5,
    which is the 11 taps here.
    """
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return taps / taps.sum()


# ---------------------------------------------------------------- validation


def _check_pair(
    fn_name: str, y_true, y_pred, value_range: ValueRange, y_channel: bool, shave: int,
    min_size: int, known: tuple[str, ...] = (),
):
    """Raise ValueError on anything the metrics cannot compute, before computing; the
    pair to compute with (see `spl_tf.validation.check_same_shape`) and the checked
    `value_range`.

    Rank, dtype, shape and channels go through `spl_tf.validation`: unknown
    (None) dimensions, as in a `tf.function` traced without full shapes, are
    checked one by one where known, except that `y_channel=True` needs the
    channel count known (3), as do the axes in `known`. Integer images need
    their own range (`value_range=(0, 255)`), and images whose values are known
    (NumPy, eager) must lie in `value_range` (`check_image_values`).
    """
    value_range = check_value_range(value_range)
    y_channel = check_bool(y_channel, "y_channel")
    channels = 3 if y_channel else None
    hint = (" (y_channel=True needs RGB: pass y_channel=False to use the channels "
            "as they are)")
    pair = check_pair(fn_name, ("y_true", y_true), ("y_pred", y_pred), channels=channels,
                      description="RGB images" if y_channel else "images", hint=hint,
                      known=known)
    shave = check_non_negative_int(shave, "shave")
    true_shape, pred_shape = static_shape(y_true), static_shape(y_pred)
    height = true_shape[1] if true_shape[1] is not None else pred_shape[1]
    width = true_shape[2] if true_shape[2] is not None else pred_shape[2]
    for size in (height, width):
        if size is not None and size - 2 * shave < min_size:
            raise ValueError(
                f"{fn_name}: shave={shave} leaves {_left(height, shave)}x"
                f"{_left(width, shave)} pixels of the {height}x{width} images; "
                f"at least {min_size}x{min_size} are needed"
            )
    for name, images in (("y_true", y_true), ("y_pred", y_pred)):
        check_image_values(fn_name, name, images, value_range)
    return (*pair, value_range)


def _as_arrays(*xs):
    """Tensors or arrays as they are; anything without a shape (lists) as a tensor."""
    return [x if hasattr(x, "shape") and hasattr(x, "dtype") else ops.convert_to_tensor(x)
            for x in xs]


def _left(size: int | None, shave: int) -> str:
    return "?" if size is None else str(size - 2 * shave)


# ---------------------------------------------------------------- conversion


def _to_255(images, value_range: ValueRange):
    low, high = check_value_range(value_range)
    images = ops.cast(images, "float32")
    return (images - low) / (high - low) * DATA_RANGE


def _rgb255_to_y(rgb):
    r, g, b = rgb[..., 0:1], rgb[..., 1:2], rgb[..., 2:3]
    wr, wg, wb = YCBCR_Y_WEIGHTS
    return Y_OFFSET + (wr * r + wg * g + wb * b) / DATA_RANGE


def rgb_to_y(images, value_range: ValueRange = (-1.0, 1.0)):
    """BT.601 luma Y of RGB images (..., 3), on the 0..255 scale: (..., 1) float32.

    `images` are first mapped from `value_range` to 0..255. Equals
    `skimage.color.rgb2ycbcr(img)[..., 0]` and MATLAB's `rgb2ycbcr`.
    """
    images = _as_arrays(images)[0]
    check_last_axis("rgb_to_y", "images", images, 3, "RGB images")
    value_range = check_value_range(value_range)
    check_image_dtype("rgb_to_y", "images", images, value_range)
    return _rgb255_to_y(_to_255(images, value_range))


def _prepare(images, value_range: ValueRange, shave: int, y_channel: bool):
    """Images on 0..255 (Y or all channels), without their `shave` border."""
    images = _to_255(images, value_range)
    if y_channel:
        images = _rgb255_to_y(images)
    if shave:
        images = images[:, shave:-shave, shave:-shave, :]
    return images


# ---------------------------------------------------------------- metrics


def psnr(
    y_true,
    y_pred,
    value_range: ValueRange = (-1.0, 1.0),
    shave: int = 0,
    y_channel: bool = True,
):
    """Per-image PSNR in dB, shape (N,) float32; +inf for identical images.

    `10 log10(255^2 / MSE)` on the Y channel (`y_channel=True`, needs RGB) or
    on all channels, after removing `shave` pixels at each border.
    """
    return psnr_from_mse(_mse("psnr", y_true, y_pred, value_range, shave, y_channel))


def mse(
    y_true,
    y_pred,
    value_range: ValueRange = (-1.0, 1.0),
    shave: int = 0,
    y_channel: bool = True,
):
    """Per-image mean squared error on the 0..255 scale, shape (N,) float32: the
    MSE that `psnr` takes, over the same pixels (and channels).

    A mean over rows, so the MSE of a large image can be accumulated strip by strip
    and turned into its PSNR by `psnr_from_mse`.
    """
    return _mse("mse", y_true, y_pred, value_range, shave, y_channel)


def psnr_from_mse(mse):
    """PSNR in dB of mean squared errors on the 0..255 scale; +inf where MSE is 0."""
    mse = ops.convert_to_tensor(mse, "float32")
    # MSE = 0 divides to +inf and log10(inf) = inf: no NaN, no epsilon bias.
    return 10.0 * ops.log10(DATA_RANGE**2 / mse)


def _mse(fn_name: str, y_true, y_pred, value_range: ValueRange, shave: int, y_channel: bool):
    y_true, y_pred = _as_arrays(y_true, y_pred)
    y_true, y_pred, value_range = _check_pair(fn_name, y_true, y_pred, value_range, y_channel,
                                              shave, min_size=1)
    a = _prepare(y_true, value_range, shave, y_channel)
    b = _prepare(y_pred, value_range, shave, y_channel)
    return ops.mean(ops.square(a - b), axis=(1, 2, 3))


def _blur_valid(maps):
    """Gaussian window over NHWC maps, only where the window fits ('valid').

    Separable: two 1-D depthwise passes, 22 taps a pixel instead of 121.
    """
    channels = maps.shape[-1]  # known: `ssim` checks it first
    taps = _gaussian_taps().astype(np.float32)
    rows = np.tile(taps.reshape(SSIM_WINDOW, 1, 1, 1), (1, 1, channels, 1))
    cols = np.tile(taps.reshape(1, SSIM_WINDOW, 1, 1), (1, 1, channels, 1))
    for kernel in (rows, cols):
        maps = ops.depthwise_conv(
            maps, ops.convert_to_tensor(kernel), strides=1, padding="valid",
            data_format="channels_last",
        )
    return maps


def _ssim_per_channel(x, y):
    """Mean SSIM over the valid region, (N, C), for images on 0..255."""
    # Var = E[x^2] - E[x]^2 cancels catastrophically in float32 at values
    # near 255; (co)variances do not change under a shift, so take them from
    # images centred on their own means and add the means back for mu.
    x_mean = ops.mean(x, axis=(1, 2), keepdims=True)
    y_mean = ops.mean(y, axis=(1, 2), keepdims=True)
    xc, yc = x - x_mean, y - y_mean
    channels = x.shape[-1]
    stats = _blur_valid(ops.concatenate([xc, yc, xc * xc, yc * yc, xc * yc], axis=-1))
    mx, my, mxx, myy, mxy = (
        stats[..., i * channels:(i + 1) * channels] for i in range(5)
    )
    var_x, var_y, cov = mxx - mx * mx, myy - my * my, mxy - mx * my
    mu_x, mu_y = mx + x_mean, my + y_mean
    c1 = (SSIM_K1 * DATA_RANGE) ** 2
    c2 = (SSIM_K2 * DATA_RANGE) ** 2
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / (
        (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    )
    return ops.mean(ssim_map, axis=(1, 2))


def ssim(
    y_true,
    y_pred,
    value_range: ValueRange = (-1.0, 1.0),
    shave: int = 0,
    y_channel: bool = True,
):
    """Per-image SSIM, shape (N,) float32, as skimage computes it (see module doc).

    On the Y channel (`y_channel=True`, needs RGB) or averaged over all
    channels. After the `shave` border is removed at least 11x11 pixels must
    remain.
    """
    y_true, y_pred = _as_arrays(y_true, y_pred)
    # The Gaussian window is built per channel: their number must be known.
    y_true, y_pred, value_range = _check_pair("ssim", y_true, y_pred, value_range, y_channel,
                                              shave, min_size=SSIM_WINDOW, known=("channels",))
    a = _prepare(y_true, value_range, shave, y_channel)
    b = _prepare(y_pred, value_range, shave, y_channel)
    return ops.mean(_ssim_per_channel(a, b), axis=-1)
