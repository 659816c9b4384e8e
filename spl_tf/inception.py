"""The Inception-v3 of FID: `pytorch-fid`'s network, whose 2048-d pool features FID and
KID compare, in Keras.

It is torchvision's Inception-v3 with the blocks `pytorch-fid` patches to match the
TensorFlow graph the FID authors used (`pt_inception-2015-12-05`):

- the average pools inside Mixed_5b-5d, Mixed_6b-6e and Mixed_7b (3x3, stride 1, padding
  1) leave the padding out of their count (TensorFlow's "SAME" pooling, Keras's
  `AveragePooling2D(padding="same")`);
- Mixed_7c pools its `branch_pool` with a 3x3 *max* pool;
- every convolution is followed by batch norm (eps 1e-3) and a ReLU.

Input handling is `pytorch-fid`'s: images in [0, 1] are resized to 299x299 (bilinear,
half-pixel centres, no antialiasing: PyTorch's `interpolate(..., align_corners=False)`),
then mapped to [-1, 1]. The output is the global average of the last block, (N, 2048).

Weights: `"pt_inception"`, the published `pt_inception-2015-12-05-6726825d.pth` from the
weights folder (`spl_tf.utils.torch_weights.weights_folder()`; downloaded there on first
use), checked against the digest in its name; a path of a PyTorch file with those tensors (torchvision's names,
`Mixed_5b.branch1x1.conv.weight`; read without PyTorch); a dict of arrays; or None
(random; tests only).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping

import keras
import numpy as np
from keras import layers

from spl_tf.utils.torch_weights import PublishedFile, load_torch_weights, published_path

INPUT_SIZE = 299
FEATURES = 2048
BN_EPSILON = 1e-3
PUBLISHED = PublishedFile(
    "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
    "pt_inception-2015-12-05-6726825d.pth",
    "6726825d", "pytorch-fid's FID_WEIGHTS_URL")
"""The FID weights as pytorch-fid downloads them (the digest prefix is in the name)."""


def fid_inception_v3(weights="pt_inception") -> keras.Model:
    """The frozen FID network: [0, 1] NHWC RGB images of any size -> (N, 2048) float32.

    Its layers are named after the PyTorch modules they hold (`Mixed_6b.branch7x7_2.conv`).
    """
    # Weights to be loaded need no random start: drawing 22M numbers costs JAX a compiled
    # kernel per shape (half a minute on a laptop CPU).
    init = "glorot_uniform" if weights is None else "zeros"
    inputs = keras.Input((None, None, 3), name="images")
    # pytorch-fid: resize in [0, 1], then 2x - 1.
    x = layers.Resizing(INPUT_SIZE, INPUT_SIZE, interpolation="bilinear", antialias=False,
                        dtype="float32", name="resize_299")(inputs)
    x = layers.Rescaling(2.0, -1.0, dtype="float32", name="to_pm1")(x)
    conv = functools.partial(_conv, kernel_initializer=init)
    x = conv(x, "Conv2d_1a_3x3", 32, 3, stride=2)
    x = conv(x, "Conv2d_2a_3x3", 32, 3)
    x = conv(x, "Conv2d_2b_3x3", 64, 3, padding=1)
    x = _max_pool(x, "maxpool1")
    x = conv(x, "Conv2d_3b_1x1", 80, 1)
    x = conv(x, "Conv2d_4a_3x3", 192, 3)
    x = _max_pool(x, "maxpool2")
    x = _inception_a(x, conv, "Mixed_5b", 32)
    x = _inception_a(x, conv, "Mixed_5c", 64)
    x = _inception_a(x, conv, "Mixed_5d", 64)
    x = _inception_b(x, conv, "Mixed_6a")
    for name, channels_7x7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160),
                               ("Mixed_6e", 192)):
        x = _inception_c(x, conv, name, channels_7x7)
    x = _inception_d(x, conv, "Mixed_7a")
    x = _inception_e(x, conv, "Mixed_7b", max_pool=False)
    x = _inception_e(x, conv, "Mixed_7c", max_pool=True)
    outputs = layers.GlobalAveragePooling2D(dtype="float32", name="avgpool")(x)
    model = keras.Model(inputs, outputs, name="fid_inception_v3")
    model.trainable = False  # batch norm in inference mode, always
    if weights is not None:
        load_state_dict(model, state_dict(weights))
    return model


def state_dict(weights) -> Mapping[str, np.ndarray]:
    """The tensors `weights` names: "pt_inception", a path, or a dict of arrays."""
    if isinstance(weights, Mapping):
        return weights
    if weights == "pt_inception":
        return load_torch_weights(published_path(PUBLISHED))  # its digest checked there
    if isinstance(weights, (str, os.PathLike)):
        return load_torch_weights(weights)
    raise ValueError(f"weights must be 'pt_inception', the path of a PyTorch weight file, a "
                     f"dict of arrays or None, got {weights!r}")


def load_state_dict(model: keras.Model, state: Mapping[str, np.ndarray]) -> None:
    """Set the network's weights from pytorch-fid's tensors (PyTorch layout and names).

    The classifier (`fc.*`) and `num_batches_tracked` are not used; every other tensor of
    the network must be there, with its shape.
    """
    missing, wrong = [], []
    for layer in model.layers:
        name = layer.name
        if isinstance(layer, layers.Conv2D):
            tensors = [f"{name}.weight"]
        elif isinstance(layer, layers.BatchNormalization):
            tensors = [f"{name}.{t}" for t in ("weight", "bias", "running_mean", "running_var")]
        else:
            continue
        if any(t not in state for t in tensors):
            missing += [t for t in tensors if t not in state]
            continue
        values = [np.asarray(state[t], np.float32) for t in tensors]
        if isinstance(layer, layers.Conv2D):
            values = [np.transpose(values[0], (2, 3, 1, 0))]  # (out, in, h, w) -> (h, w, in, out)
        expected = [tuple(w.shape) for w in layer.get_weights()]
        if [v.shape for v in values] != expected:
            wrong.append(f"{tensors[0]} {values[0].shape} (expected {expected[0]})")
            continue
        layer.set_weights(values)
    if missing or wrong:
        problems = ([f"lack {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"]
                    if missing else []) + ([f"have {'; '.join(wrong[:2])}"] if wrong else [])
        raise ValueError(f"FID Inception weights {' and '.join(problems)}: they must be "
                         f"pytorch-fid's pt_inception-2015-12-05 tensors")


# ---------------------------------------------------------------- blocks


def _conv(x, name: str, filters: int, kernel, stride: int = 1, padding=0,
          kernel_initializer="glorot_uniform"):
    """torchvision's BasicConv2d: convolution without bias, batch norm, ReLU."""
    kernel = (kernel, kernel) if isinstance(kernel, int) else kernel
    padding = (padding, padding) if isinstance(padding, int) else padding
    if padding == (0, 0):
        mode = "valid"
    elif stride == 1 and all(2 * p == k - 1 for p, k in zip(padding, kernel)):
        mode = "same"  # the same zeros on every side as PyTorch's padding
    else:
        raise ValueError(f"{name}: no Keras padding for {kernel}, {stride}, {padding}")
    x = layers.Conv2D(filters, kernel, stride, padding=mode, use_bias=False, dtype="float32",
                      kernel_initializer=kernel_initializer, name=f"{name}.conv")(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, dtype="float32", name=f"{name}.bn")(x)
    return layers.ReLU(dtype="float32", name=f"{name}.relu")(x)


def _max_pool(x, name: str, stride: int = 2, padding: str = "valid"):
    return layers.MaxPooling2D(3, stride, padding=padding, dtype="float32", name=name)(x)


def _avg_pool_3x3(x, name: str):
    # PyTorch's avg_pool2d(3, 1, padding=1, count_include_pad=False): "same" in Keras
    # divides by the pixels inside the image only.
    return layers.AveragePooling2D(3, 1, padding="same", dtype="float32", name=name)(x)


def _concat(name: str, branches):
    return layers.Concatenate(axis=-1, dtype="float32", name=f"{name}.concat")(branches)


def _inception_a(x, conv, name: str, pool_features: int):
    branch1x1 = conv(x, f"{name}.branch1x1", 64, 1)
    branch5x5 = conv(x, f"{name}.branch5x5_1", 48, 1)
    branch5x5 = conv(branch5x5, f"{name}.branch5x5_2", 64, 5, padding=2)
    branch3x3dbl = conv(x, f"{name}.branch3x3dbl_1", 64, 1)
    branch3x3dbl = conv(branch3x3dbl, f"{name}.branch3x3dbl_2", 96, 3, padding=1)
    branch3x3dbl = conv(branch3x3dbl, f"{name}.branch3x3dbl_3", 96, 3, padding=1)
    branch_pool = _avg_pool_3x3(x, f"{name}.avg_pool")
    branch_pool = conv(branch_pool, f"{name}.branch_pool", pool_features, 1)
    return _concat(name, [branch1x1, branch5x5, branch3x3dbl, branch_pool])


def _inception_b(x, conv, name: str):
    branch3x3 = conv(x, f"{name}.branch3x3", 384, 3, stride=2)
    branch3x3dbl = conv(x, f"{name}.branch3x3dbl_1", 64, 1)
    branch3x3dbl = conv(branch3x3dbl, f"{name}.branch3x3dbl_2", 96, 3, padding=1)
    branch3x3dbl = conv(branch3x3dbl, f"{name}.branch3x3dbl_3", 96, 3, stride=2)
    branch_pool = _max_pool(x, f"{name}.max_pool")
    return _concat(name, [branch3x3, branch3x3dbl, branch_pool])


def _inception_c(x, conv, name: str, c7: int):
    branch1x1 = conv(x, f"{name}.branch1x1", 192, 1)
    branch7x7 = conv(x, f"{name}.branch7x7_1", c7, 1)
    branch7x7 = conv(branch7x7, f"{name}.branch7x7_2", c7, (1, 7), padding=(0, 3))
    branch7x7 = conv(branch7x7, f"{name}.branch7x7_3", 192, (7, 1), padding=(3, 0))
    dbl = conv(x, f"{name}.branch7x7dbl_1", c7, 1)
    dbl = conv(dbl, f"{name}.branch7x7dbl_2", c7, (7, 1), padding=(3, 0))
    dbl = conv(dbl, f"{name}.branch7x7dbl_3", c7, (1, 7), padding=(0, 3))
    dbl = conv(dbl, f"{name}.branch7x7dbl_4", c7, (7, 1), padding=(3, 0))
    dbl = conv(dbl, f"{name}.branch7x7dbl_5", 192, (1, 7), padding=(0, 3))
    branch_pool = _avg_pool_3x3(x, f"{name}.avg_pool")
    branch_pool = conv(branch_pool, f"{name}.branch_pool", 192, 1)
    return _concat(name, [branch1x1, branch7x7, dbl, branch_pool])


def _inception_d(x, conv, name: str):
    branch3x3 = conv(x, f"{name}.branch3x3_1", 192, 1)
    branch3x3 = conv(branch3x3, f"{name}.branch3x3_2", 320, 3, stride=2)
    branch7x7x3 = conv(x, f"{name}.branch7x7x3_1", 192, 1)
    branch7x7x3 = conv(branch7x7x3, f"{name}.branch7x7x3_2", 192, (1, 7), padding=(0, 3))
    branch7x7x3 = conv(branch7x7x3, f"{name}.branch7x7x3_3", 192, (7, 1), padding=(3, 0))
    branch7x7x3 = conv(branch7x7x3, f"{name}.branch7x7x3_4", 192, 3, stride=2)
    branch_pool = _max_pool(x, f"{name}.max_pool")
    return _concat(name, [branch3x3, branch7x7x3, branch_pool])


def _inception_e(x, conv, name: str, max_pool: bool):
    branch1x1 = conv(x, f"{name}.branch1x1", 320, 1)
    branch3x3 = conv(x, f"{name}.branch3x3_1", 384, 1)
    branch3x3 = _concat(f"{name}.branch3x3", [
        conv(branch3x3, f"{name}.branch3x3_2a", 384, (1, 3), padding=(0, 1)),
        conv(branch3x3, f"{name}.branch3x3_2b", 384, (3, 1), padding=(1, 0))])
    dbl = conv(x, f"{name}.branch3x3dbl_1", 448, 1)
    dbl = conv(dbl, f"{name}.branch3x3dbl_2", 384, 3, padding=1)
    dbl = _concat(f"{name}.branch3x3dbl", [
        conv(dbl, f"{name}.branch3x3dbl_3a", 384, (1, 3), padding=(0, 1)),
        conv(dbl, f"{name}.branch3x3dbl_3b", 384, (3, 1), padding=(1, 0))])
    if max_pool:  # pytorch-fid's FIDInceptionE_2 (Mixed_7c): the TF graph max-pools here
        branch_pool = _max_pool(x, f"{name}.max_pool", stride=1, padding="same")
    else:
        branch_pool = _avg_pool_3x3(x, f"{name}.avg_pool")
    branch_pool = conv(branch_pool, f"{name}.branch_pool", 192, 1)
    return _concat(name, [branch1x1, branch3x3, dbl, branch_pool])
