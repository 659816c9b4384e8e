"""The adversarial objectives, on discriminator logits, and pix2pixHD's feature matching.

Every function takes the outputs of a discriminator grouped by scale (see
`discriminators.scales`: per scale its layers' outputs, the logits last) and returns a
float32 scalar. As pix2pixHD's `GANLoss`, a loss is the sum over the scales of the mean
over each scale's logits; the discriminator's loss is half the sum of its loss on real
pairs and on generated ones (both references' `loss_D = (real + fake) * 0.5`).

* `vanilla`: binary cross-entropy on the logits (pix2pix's `BCEWithLogitsLoss`;
  pix2pixHD's sigmoid + `BCELoss`): real -> 1, fake -> 0; the generator's fake -> 1.
* `lsgan`: least squares on the logits (`MSELoss`): the same targets.
* `hinge`: the discriminator's `relu(1 - real)` and `relu(1 + fake)`, the generator's
  `-fake` (SAGAN, SPADE), combined as the other two.
"""

from __future__ import annotations

from collections.abc import Sequence

from keras import ops

__all__ = ["GAN_MODES", "decision_threshold", "discriminator_accuracy", "discriminator_loss",
           "feature_matching_loss", "generator_loss"]

GAN_MODES = ("vanilla", "lsgan", "hinge")

Scales = Sequence[Sequence]  # per scale: its layers' outputs, the logits last


def discriminator_loss(mode: str, real: Scales, fake: Scales):
    """0.5 x (the loss of calling `real` real + that of calling `fake` fake)."""
    return 0.5 * (_sum_over_scales(mode, real, is_real=True)
                  + _sum_over_scales(mode, fake, is_real=False))


def generator_loss(mode: str, fake: Scales):
    """The generator's adversarial loss: that of the discriminator calling `fake` real
    (hinge: minus its mean logit)."""
    if mode == "hinge":
        return sum(-ops.mean(_logits(scale)) for scale in fake)
    return _sum_over_scales(mode, fake, is_real=True)


def feature_matching_loss(real: Scales, fake: Scales):
    """pix2pixHD's discriminator feature matching: the mean absolute difference of every
    intermediate output (all but the logits) of every scale, weighted 4 / (layers + 1)
    per layer and 1 / scales per scale. `real` holds no gradient (pix2pixHD detaches it).
    Multiply by `--feature_matching_weight` (its lambda_feat, 10)."""
    total = 0.0
    for real_scale, fake_scale in zip(real, fake, strict=True):
        features = len(fake_scale) - 1  # layers + 1 of them: the convs before the logits
        for r, f in zip(real_scale[:-1], fake_scale[:-1], strict=True):
            r = ops.stop_gradient(ops.cast(r, "float32"))
            total += (4.0 / features) / len(fake) * ops.mean(ops.abs(ops.cast(f, "float32") - r))
    return total


def decision_threshold(mode: str) -> float:
    """The logit above which the discriminator says "real": halfway between the targets
    (lsgan: 0.5), or 0 (vanilla: probability 0.5; hinge: the margins' centre)."""
    return 0.5 if mode == "lsgan" else 0.0


def discriminator_accuracy(mode: str, real: Scales, fake: Scales):
    """The share of the patch decisions, over both kinds of pairs and every scale, that
    are right (chance: 0.5)."""
    threshold = decision_threshold(mode)
    right = [ops.mean(ops.cast(_logits(s) > threshold, "float32")) for s in real]
    right += [ops.mean(ops.cast(_logits(s) <= threshold, "float32")) for s in fake]
    return sum(right) / len(right)


def _sum_over_scales(mode: str, scales: Scales, is_real: bool):
    return sum(_patch_loss(mode, _logits(scale), is_real) for scale in scales)


def _patch_loss(mode: str, logits, is_real: bool):
    """The mean loss of the patch `logits` for the label real (`is_real`) or fake."""
    if mode == "vanilla":
        # -log(sigmoid(x)) = softplus(-x); -log(1 - sigmoid(x)) = softplus(x).
        return ops.mean(ops.softplus(-logits if is_real else logits))
    if mode == "lsgan":
        return ops.mean(ops.square(logits - (1.0 if is_real else 0.0)))
    if mode == "hinge":
        return ops.mean(ops.relu(1.0 - logits if is_real else 1.0 + logits))
    raise ValueError(f"gan mode must be one of {GAN_MODES}, got {mode!r}")


def _logits(scale: Sequence):
    return ops.cast(scale[-1], "float32")
