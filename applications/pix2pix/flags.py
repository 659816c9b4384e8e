"""Flags of the pix2pix application (train and predict), on top of the shared ones."""

from absl import flags

import applications.common.flags  # noqa: F401  (the shared flags)

flags.DEFINE_enum("direction", "AtoB", ["AtoB", "BtoA"],
                  "AtoB: the left half is the input, the right half the target.")
FLAGS = flags.FLAGS
