"""The discriminators of applications/common/discriminators.py against the facts of their
references (pytorch-CycleGAN-and-pix2pix's NLayerDiscriminator, pix2pixHD's
MultiscaleDiscriminator), and the GAN objectives of gan_objectives.py against their
formulas, written out here in NumPy."""

import keras
import numpy as np
import pytest

from applications.common import discriminators, gan_objectives
from applications.common.discriminators import (AveragePoolExcludingPadding,
                                                build_discriminator, min_image_size, scales)
from backend_utils import value_and_grads


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _trainable(model) -> int:
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _conv(c_in, c_out, bias):
    return c_in * c_out * 4 * 4 + (c_out if bias else 0)


# --- the PatchGAN of pix2pix ----------------------------------------------------------


def test_patchgan_has_the_parameters_of_pix2pix_netD_basic():
    # 6 -> 64 (bias, no norm), 64 -> 128 -> 256 (stride 2) and 256 -> 512 (stride 1),
    # each without bias and with batch norm (scale and offset), 512 -> 1 (bias).
    expected = (_conv(6, 64, True) + _conv(64, 128, False) + 2 * 128
                + _conv(128, 256, False) + 2 * 256 + _conv(256, 512, False) + 2 * 512
                + _conv(512, 1, True))
    assert expected == 2_768_705  # pix2pix prints "Total number of parameters : 2.769 M"
    assert _trainable(build_discriminator("patchgan", 6)) == expected
    # Unconditional (3 channels), as CycleGAN's: 3 x 64 x 16 fewer.
    assert _trainable(build_discriminator("patchgan", 3)) == 2_765_633
    # The filters stop doubling at 8 x ndf: a 4th stride-2 layer is 512 -> 512.
    # The filters stop doubling at 8 x ndf: a 4th stride-2 layer (256 -> 512) leaves the
    # stride-1 one 512 -> 512.
    four = build_discriminator("patchgan", 6, num_layers=4)
    assert _trainable(four) == expected + _conv(512, 512, False) + 2 * 512


def test_patchgan_layers_are_those_of_pix2pix():
    model = build_discriminator("patchgan", 6)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [64, 128, 256, 512, 1]
    assert [c.strides for c in convs] == [(2, 2)] * 3 + [(1, 1)] * 2
    assert [c.use_bias for c in convs] == [True, False, False, False, True]
    assert all(c.kernel_size == (4, 4) and c.padding == "valid" for c in convs)
    pads = [layer.padding for layer in model.layers
            if isinstance(layer, keras.layers.ZeroPadding2D)]
    assert pads == [((1, 1), (1, 1))] * 5
    norms = [layer for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 3 and all(n.epsilon == 1e-5 and n.momentum == 0.9 for n in norms)
    slopes = [layer.negative_slope for layer in model.layers
              if isinstance(layer, keras.layers.LeakyReLU)]
    assert slopes == [0.2] * 4


def test_patchgan_sees_70_by_70_patches_and_gives_30_by_30_logits_for_256():
    model = build_discriminator("patchgan", 6, ndf=4)  # the width changes neither
    logits = model(np.zeros((1, 256, 256, 6), "float32"))
    assert tuple(logits.shape) == (1, 30, 30, 1)
    # The input pixels one logit depends on: a 70x70 square.
    x = np.random.default_rng(0).normal(size=(1, 128, 128, 6)).astype("float32")
    # In inference (batch norm with its moving statistics): in training, the batch's
    # statistics make every logit depend on every pixel.
    _, (grad, _) = value_and_grads(
        lambda x, y: model(x, training=False)[0, 7, 7, 0] + 0 * keras.ops.sum(y), x, x[:, :1, :1])
    rows, cols = np.nonzero(np.abs(grad[0]).sum(-1))
    assert rows.max() - rows.min() + 1 == 70 and cols.max() - cols.min() + 1 == 70


def test_smallest_image_a_discriminator_takes():
    assert min_image_size("patchgan") == 24  # 24 -> 12 -> 6 -> 3 -> 2 -> 1 logit
    model = build_discriminator("patchgan", 6, ndf=2)
    assert tuple(model(np.zeros((1, 24, 24, 6), "float32")).shape) == (1, 1, 1, 1)
    assert min_image_size("patchgan", num_layers=2) == 12
    assert min_image_size("multiscale") == 1  # padding 2: every size grows back


# --- the multi-scale discriminator of pix2pixHD ----------------------------------------


def test_multiscale_has_the_parameters_of_pix2pixHD():
    # Each scale: every conv with a bias, instance norm without parameters.
    per_scale = (_conv(6, 64, True) + _conv(64, 128, True) + _conv(128, 256, True)
                 + _conv(256, 512, True) + _conv(512, 1, True))
    assert per_scale == 2_767_809
    assert _trainable(build_discriminator("multiscale", 6)) == 2 * per_scale  # num_D 2
    assert _trainable(build_discriminator("multiscale", 6, num_scales=3)) == 3 * per_scale
    model = build_discriminator("multiscale", 6)
    assert not model.non_trainable_weights  # InstanceNorm2d(affine=False) keeps nothing


def test_multiscale_outputs_every_layer_of_every_scale():
    model = build_discriminator("multiscale", 6, ndf=4, num_scales=3)
    outputs = scales(model(np.zeros((2, 64, 64, 6), "float32")), 3)
    # Padding 2: a stride-2 4x4 conv maps s to s // 2 + 1, a stride-1 one s to s + 1.
    sizes = [[tuple(f.shape[1:]) for f in scale] for scale in outputs]
    assert sizes == [
        [(33, 33, 4), (17, 17, 8), (9, 9, 16), (10, 10, 32), (11, 11, 1)],
        [(17, 17, 4), (9, 9, 8), (5, 5, 16), (6, 6, 32), (7, 7, 1)],   # 32x32 input
        [(9, 9, 4), (5, 5, 8), (3, 3, 16), (4, 4, 32), (5, 5, 1)],     # 16x16 input
    ]
    assert all(scale[-1].dtype == "float32" for scale in outputs)
    # A PatchGAN's output is one scale of logits alone.
    patch = scales(build_discriminator("patchgan", 6, ndf=2)(np.zeros((1, 32, 32, 6))), 1)
    assert len(patch) == 1 and len(patch[0]) == 1 and tuple(patch[0][0].shape) == (1, 2, 2, 1)


def _torch_average_pool(x: np.ndarray) -> np.ndarray:
    """AvgPool2d(3, stride=2, padding=1, count_include_pad=False), written out."""
    n, h, w, c = x.shape
    out = np.zeros((n, (h + 1) // 2, (w + 1) // 2, c))
    for i in range(out.shape[1]):
        for j in range(out.shape[2]):
            rows = slice(max(2 * i - 1, 0), min(2 * i + 2, h))
            cols = slice(max(2 * j - 1, 0), min(2 * j + 2, w))
            out[:, i, j] = x[:, rows, cols].mean(axis=(1, 2))
    return out


@pytest.mark.parametrize("shape", [(2, 8, 8, 3), (1, 7, 10, 2), (1, 1, 5, 1)])
def test_downsampling_is_pytorchs_average_pool_without_the_padding(shape):
    x = np.random.default_rng(1).normal(size=shape).astype("float32")
    pooled = _np(AveragePoolExcludingPadding()(x))
    np.testing.assert_allclose(pooled, _torch_average_pool(x), rtol=1e-5, atol=1e-6)
    # Keras's "same" padding centres the windows elsewhere for even sizes.
    same = _np(keras.layers.AveragePooling2D(3, 2, padding="same")(x))
    if shape[1] % 2 == 0:
        assert not np.allclose(same, pooled)


def test_initial_weights_follow_the_references():
    keras.utils.set_random_seed(0)
    patch = build_discriminator("patchgan", 6)
    kernel = _np(patch.get_layer("conv3").kernel)
    assert abs(kernel.std() - 0.02) < 0.001 and abs(kernel.mean()) < 0.001
    gamma = _np(patch.get_layer("norm3").gamma)
    assert abs(gamma.mean() - 1) < 0.005 and 0.015 < gamma.std() < 0.025
    assert not _np(patch.get_layer("conv0").bias).any()
    multi = build_discriminator("multiscale", 6)
    bias = _np(multi.get_layer("scale0_conv1").bias)  # PyTorch's default: U(+-1/sqrt(fan_in))
    bound = 1 / np.sqrt(64 * 16)
    assert np.abs(bias).max() <= bound and np.abs(bias).max() > bound / 2


def test_logits_are_float32_under_mixed_precision():
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_discriminator("multiscale", 6, ndf=2, num_scales=2)
        outputs = scales(model(np.zeros((1, 16, 16, 6), "float32")), 2)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    assert [s[-1].dtype for s in outputs] == ["float32", "float32"]
    assert outputs[0][0].dtype == "bfloat16"


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="kind must be one of"):
        build_discriminator("pixel")
    with pytest.raises(ValueError, match="ndf must be an integer >= 1"):
        build_discriminator("patchgan", ndf=0)
    with pytest.raises(ValueError, match="do not split into 2 scales"):
        scales([np.zeros(1)] * 3, 2)


# --- the objectives ----------------------------------------------------------------------


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _logit_scales(seed, sizes=((2, 4, 4, 1), (2, 2, 2, 1))):
    rng = np.random.default_rng(seed)
    return [[rng.normal(size=(2, 5, 5, 3)).astype("float32"),
             rng.normal(size=size).astype("float32") * 2] for size in sizes]


def _reference(mode, real, fake):
    """(discriminator loss, generator loss) of the modes' formulas, summed over scales."""
    d, g = 0.0, 0.0
    for real_scale, fake_scale in zip(real, fake):
        r, f = real_scale[-1].astype("float64"), fake_scale[-1].astype("float64")
        if mode == "vanilla":  # BCE(sigmoid(x), label)
            d += 0.5 * (-np.log(_sigmoid(r)).mean() - np.log(1 - _sigmoid(f)).mean())
            g += -np.log(_sigmoid(f)).mean()
        elif mode == "lsgan":  # MSE(x, label)
            d += 0.5 * (((r - 1) ** 2).mean() + (f ** 2).mean())
            g += ((f - 1) ** 2).mean()
        else:  # hinge
            d += 0.5 * (np.maximum(0, 1 - r).mean() + np.maximum(0, 1 + f).mean())
            g += -f.mean()
    return d, g


@pytest.mark.parametrize("mode", gan_objectives.GAN_MODES)
def test_objectives_are_their_formulas(mode):
    real, fake = _logit_scales(2), _logit_scales(3)
    d, g = _reference(mode, real, fake)
    assert float(gan_objectives.discriminator_loss(mode, real, fake)) == pytest.approx(d, rel=1e-5)
    assert float(gan_objectives.generator_loss(mode, fake)) == pytest.approx(g, rel=1e-5)
    # One scale, as the PatchGAN gives.
    real, fake = real[:1], fake[:1]
    d, g = _reference(mode, real, fake)
    assert float(gan_objectives.discriminator_loss(mode, real, fake)) == pytest.approx(d, rel=1e-5)
    assert float(gan_objectives.generator_loss(mode, fake)) == pytest.approx(g, rel=1e-5)


def test_vanilla_is_stable_where_the_sigmoid_saturates():
    big = [[np.full((1, 2, 2, 1), 200.0, "float32")]]
    assert float(gan_objectives.discriminator_loss("vanilla", big, big)) == pytest.approx(100.0)
    assert float(gan_objectives.generator_loss("vanilla", [[-big[0][0]]])) == pytest.approx(200.0)


def test_feature_matching_is_pix2pixHDs():
    real, fake = _logit_scales(4, ((1, 3, 3, 1),) * 3), _logit_scales(5, ((1, 3, 3, 1),) * 3)
    for scale in (*real, *fake):  # 2 features and the logits per scale: 4 / 2 per feature
        scale.insert(1, scale[0] * 0.5)
    expected = sum((4 / 2) / 3 * np.abs(f - r).mean()
                   for rs, fs in zip(real, fake) for r, f in zip(rs[:-1], fs[:-1]))
    got = gan_objectives.feature_matching_loss(real, fake)
    assert float(got) == pytest.approx(expected, rel=1e-5)
    assert float(gan_objectives.feature_matching_loss(real, real)) == 0.0


def test_accuracy_counts_the_patch_decisions():
    ones = np.ones((1, 2, 2, 1), "float32")
    for mode, real_logit in (("vanilla", 3.0), ("lsgan", 0.9), ("hinge", 1.0)):
        real, fake = [[ones * real_logit]], [[ones * -real_logit]]
        assert float(gan_objectives.discriminator_accuracy(mode, real, fake)) == 1.0
        assert float(gan_objectives.discriminator_accuracy(mode, fake, real)) == 0.0
    # lsgan's boundary is 0.5, halfway between its targets: 0.4 says "fake".
    below = [[ones * 0.4]]
    assert float(gan_objectives.discriminator_accuracy("lsgan", below, below)) == 0.5
    assert discriminators.KINDS == ("patchgan", "multiscale")
