"""The makeup generator and its loss.

The generator is pix2pix's ResNet-9 with 6 input channels (source face, then
the reference face warped onto it) and the reference skip
`output = tanh(reference + last_conv)`: 11,398,083 trainable parameters at
ngf 64, as the original.

The loss takes structure from the source and colour from the reference:
`GP(source, output) + CP(reference, output)`, with `y_true` the 6-channel input
itself (`model.fit(x, x)`).
"""

from __future__ import annotations

import keras

from applications.pix2pix.model import build_generator
from spl_tf import colour_profile_loss, gradient_profile_loss


def build_makeup_generator(ngf: int = 64, batch_stats_at_inference: bool = True) -> keras.Model:
    """(N, H, W, 6) [source, warped reference] in [-1, 1] -> (N, H, W, 3) result."""
    return build_generator(ngf=ngf, input_channels=6, reference_skip=True,
                           batch_stats_at_inference=batch_stats_at_inference,
                           name="makeup_generator")


@keras.saving.register_keras_serializable(package="spl_tf_makeup")
class MakeupLoss(keras.losses.Loss):
    """`GPL()(source, y_pred) + CPL()(reference, y_pred)`, one value per image.

    `y_true`: (N, H, W, 6), the source face's RGB then the warped reference's,
    in [-1, 1] (the generator's input); `y_pred`: (N, H, W, 3).
    """

    def __init__(self, reduction: str | None = "sum_over_batch_size",
                 name: str | None = "makeup_loss"):
        super().__init__(name=name, reduction=reduction, dtype="float32")

    def call(self, y_true, y_pred):
        if y_true.shape[-1] != 6:
            raise ValueError("MakeupLoss expects y_true = [source, reference] with 6 channels "
                             f"(the generator's input); got shape {tuple(y_true.shape)}")
        source, reference = y_true[..., :3], y_true[..., 3:]
        return gradient_profile_loss(source, y_pred) + colour_profile_loss(reference, y_pred)
