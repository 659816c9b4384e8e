"""Flags of the pix2pix application (train and predict), on top of the shared ones."""

from absl import flags

import applications.common.flags  # noqa: F401  (the shared flags)

flags.DEFINE_enum("direction", "AtoB", ["AtoB", "BtoA"],
                  "AtoB: the left half is the input, the right half the target.")
flags.DEFINE_integer("ngf", 64, "Generator width (filters of the first layer).", lower_bound=1)
flags.DEFINE_boolean(
    "batch_stats_at_inference", True,
    "Normalise with the current batch's statistics at inference too, as the original "
    "did (its batch norms never received a training flag). --nobatch_stats_at_inference "
    "uses the moving averages, the standard inference mode.")
FLAGS = flags.FLAGS
