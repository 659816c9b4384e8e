"""spl_tf: the Spatial Profile Loss (Sarfraz et al., BMVC 2019) for Keras 3.

    import spl_tf
    model.compile(optimizer="adam", loss=spl_tf.SPL())
"""

from spl_tf.losses import (
    CPL,
    GPL,
    SPL,
    colour_profile_loss,
    gradient_profile_loss,
    spatial_profile_loss,
)
from spl_tf.profiles import profile_similarity

__version__ = "0.1.0"

__all__ = [
    "CPL",
    "GPL",
    "SPL",
    "colour_profile_loss",
    "gradient_profile_loss",
    "profile_similarity",
    "spatial_profile_loss",
]
