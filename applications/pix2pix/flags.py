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
flags.DEFINE_string("checkpoint", None,
                    "predict: a .keras checkpoint or an exported SavedModel folder "
                    "(default: MODEL_DIR/model.keras).")
flags.DEFINE_string("split", "test", "predict: the split of --data_dir to predict.")
flags.DEFINE_string("input_dir", None,
                    "predict: a folder of plain input images (not [input | target] pairs) "
                    "to predict instead of a split.")
flags.DEFINE_string("output_dir", None,
                    "predict: where to write (default: MODEL_DIR/predictions/SPLIT).")

FLAGS = flags.FLAGS
