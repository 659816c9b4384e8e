"""Flags of the makeup application (train, predict, transfer), on top of the shared ones."""

from absl import flags

import applications.common.flags  # noqa: F401  (the shared flags, --ngf included)

flags.DEFINE_float("val_fraction", 0.1,
                   "With a --data_dir of pair images and no train/ folder: the share of "
                   "source faces held out for validation.", lower_bound=0, upper_bound=0.9)

# transfer
flags.DEFINE_string("model", None, "transfer: a .keras checkpoint or an exported SavedModel.")
flags.DEFINE_string("source", None, "transfer: a face photo without makeup, or a folder.")
flags.DEFINE_string("reference", None, "transfer: a face photo with makeup, or a folder.")
flags.DEFINE_string("output", None, "transfer: the result image (for two photos) or a folder.")
flags.DEFINE_integer("pairs", None, "transfer with folders: this many random (source, "
                     "reference) pairs instead of every pair.", lower_bound=1)
FLAGS = flags.FLAGS
