"""SPL, GPL and CPL written straight from the formula (REFERENCE.md) in float64 NumPy,
with their analytic gradients: the independent reference of test_near_grey.py and of the
golden cases whose original values are rounding noise (test_golden.py).

l2_normalize with TensorFlow's 1e-12 floor on the squared norms, forward differences
padded with zero, TensorFlow's rgb_to_yuv kernel, row and column sums divided by H. The
conversion to [0, 1] is rounded in float32, as the original does it; everything after
it is float64.
"""

import numpy as np

EPSILON = 1e-12
RGB_TO_YUV = np.array([[0.299, -0.14714119, 0.61497538],
                       [0.587, -0.28886916, -0.51496512],
                       [0.114, 0.43601035, -0.10001026]])


def _rgb_to_yuv(rgb):
    """`rgb @ RGB_TO_YUV`, with U and V as k_r (R - B) + k_g (G - B).

    The same map (the U and V columns sum to zero), but exactly grey gives exactly
    zero chroma: with `rgb @ RGB_TO_YUV` even float64 leaves 1e-17 residues, which
    the 1e-12 norm floor amplifies to 1e-4 of the gradient.
    """
    red_blue, green_blue = rgb[..., :1] - rgb[..., 2:], rgb[..., 1:2] - rgb[..., 2:]
    return np.concatenate([rgb @ RGB_TO_YUV[:, :1],
                           red_blue * RGB_TO_YUV[0, 1:] + green_blue * RGB_TO_YUV[1, 1:]], -1)


def _dx(x):
    d = np.zeros_like(x)
    d[:, :, :-1] = x[:, :, 1:] - x[:, :, :-1]
    return d


def _dy(x):
    d = np.zeros_like(x)
    d[:, :-1] = x[:, 1:] - x[:, :-1]
    return d


def _dx_adjoint(g):
    """The transpose of `_dx`: what a gradient w.r.t. dx(x) gives w.r.t. x."""
    out = np.zeros_like(g)
    out[:, :, 1:] += g[:, :, :-1]
    out[:, :, :-1] -= g[:, :, :-1]
    return out


def _dy_adjoint(g):
    out = np.zeros_like(g)
    out[:, 1:] += g[:, :-1]
    out[:, :-1] -= g[:, :-1]
    return out


def _sim_and_grad(a, b):
    """sim(a, b) per image and d sim / d b, float64 NHWC."""
    height = a.shape[1]
    value, grad = np.zeros(a.shape[0]), np.zeros_like(b)
    for axis in (1, 2):  # column profiles (along H), row profiles (along W)
        na = np.maximum(np.sum(a * a, axis, keepdims=True), EPSILON)
        nb = np.maximum(np.sum(b * b, axis, keepdims=True), EPSILON)
        cos = np.sum(a * b, axis, keepdims=True) / np.sqrt(na * nb)
        value -= np.sum(cos, axis=(1, 2, 3)) / height
        # d cos/d b = a/(|a||b|) - cos b/|b|^2; the second term is 0 where the floor holds.
        floored = np.sum(b * b, axis, keepdims=True) < EPSILON
        grad -= (a / np.sqrt(na * nb) - np.where(floored, 0.0, cos / nb) * b) / height
    return value, grad


def reference(kind: str, y_true: np.ndarray, y_pred: np.ndarray,
              value_range: tuple[float, float] = (-1.0, 1.0)):
    """The loss per image and its gradient w.r.t. y_pred, float64; images in
    `value_range`, (-1, 1) or (0, 1) as the original's `use_conversion` takes them."""
    low, high = value_range
    # The [-1, 1] -> [0, 1] conversion is rounded in float32, as the original does it
    # (bit for bit): at chroma 1e-4 that rounding alone moves the chroma by 1e-3 of itself.
    real, fake = (((y - np.float32(low)) / np.float32(high - low)).astype("float64")
                  for y in (y_true, y_pred))
    yuv_real, yuv_fake = _rgb_to_yuv(real), _rgb_to_yuv(fake)
    value, grad_fake, grad_yuv = np.zeros(len(real)), np.zeros_like(fake), np.zeros_like(fake)
    terms = []
    if kind in ("SPL", "GPL"):
        terms += [(real, fake, _dx, _dx_adjoint, False), (real, fake, _dy, _dy_adjoint, False)]
    if kind in ("SPL", "CPL"):
        identity = lambda x: x  # noqa: E731
        terms += [(real, fake, identity, identity, False),
                  (yuv_real, yuv_fake, identity, identity, True),
                  (yuv_real, yuv_fake, _dx, _dx_adjoint, True),
                  (yuv_real, yuv_fake, _dy, _dy_adjoint, True)]
    for a, b, view, adjoint, yuv in terms:
        v, g = _sim_and_grad(view(a), view(b))
        value += v
        if yuv:
            grad_yuv += adjoint(g)
        else:
            grad_fake += adjoint(g)
    grad_fake += grad_yuv @ RGB_TO_YUV.T
    return value, grad_fake / (high - low)  # d fake / d y_pred
