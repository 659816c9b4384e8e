"""spl_tf: the Spatial Profile Loss (Sarfraz et al., BMVC 2019) for Keras 3.

    import spl_tf
    model.compile(optimizer="adam", loss=spl_tf.SPL())

Beside SPL, the losses it is compared with, with the same conventions:
Contextual (`ContextualLoss`), Spatially-Correlative (`FSeSimLoss`, `LSeSim`),
perceptual and style losses on VGG features. `spl_tf.layers` holds the layers
of the paper's generators: importing `spl_tf` registers them (and every loss), so
`keras.models.load_model(path)` loads any run's model. `spl_tf.metrics` (PSNR,
SSIM, LPIPS, FID, KID) is there too, imported on first use; `LPIPS` is also a loss.
`spl_tf.config` holds the switches, as
`keras.config` does (`spl_tf.config.set_profile_kernel("auto")`: the fused kernel on a
GPU or TPU under JAX).

Everything loads on first use (PEP 562): `import spl_tf` imports no Keras, so that
`spl_tf.utils`, what the project's commands share (errors, the command wrapper, files,
images, locks), costs no TensorFlow start-up. Importing Keras, before or after spl_tf,
registers spl_tf's losses and layers with it (`spl_tf.registration`).
"""

import importlib
import sys
from typing import TYPE_CHECKING

from spl_tf import registration
from spl_tf.version import __version__

if TYPE_CHECKING:  # the names' origins, for type checkers and the API reference
    from spl_tf.contextual import ContextualLoss, contextual_loss
    from spl_tf.features import VGGFeatures
    from spl_tf.lpips import LPIPS
    from spl_tf.losses import (
        CPL,
        GPL,
        SPL,
        MakeupLoss,
        colour_profile_loss,
        gradient_profile_loss,
        makeup_loss,
        spatial_profile_loss,
    )
    from spl_tf.perceptual import PerceptualLoss, StyleLoss
    from spl_tf.profiles import profile_similarity
    from spl_tf.sesim import FSeSimLoss, LSeSim, LSeSimHead, spatial_correlative_loss

__all__ = [
    "CPL",
    "ContextualLoss",
    "FSeSimLoss",
    "GPL",
    "LPIPS",
    "LSeSim",
    "LSeSimHead",
    "MakeupLoss",
    "PerceptualLoss",
    "SPL",
    "StyleLoss",
    "VGGFeatures",
    "colour_profile_loss",
    "contextual_loss",
    "gradient_profile_loss",
    "makeup_loss",
    "profile_similarity",
    "spatial_correlative_loss",
    "spatial_profile_loss",
]

# The public submodules: attributes after a plain `import spl_tf` (as the README
# writes `spl_tf.metrics.psnr`), imported on first use.
_SUBMODULES = frozenset({
    "config", "constants", "contextual", "features", "fid", "inception", "kernels", "layers",
    "losses", "lpips", "metrics", "perceptual", "profiles", "registration", "sesim", "utils",
    "validation",
})


def __getattr__(name: str):
    if name in _SUBMODULES:
        # Importing a submodule also sets it as an attribute: asked for once only.
        return importlib.import_module(f"{__name__}.{name}")
    if name in __all__:
        registration.register_keras_objects()
        for module in registration.KERAS_MODULES:
            if name in vars(sys.modules[module]):
                value = globals()[name] = vars(sys.modules[module])[name]
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _SUBMODULES | set(__all__))


registration.register_when_keras_is_imported()
