"""Flags of the super-resolution application (train and predict), beside the shared ones."""

from absl import flags

import applications.common.flags  # noqa: F401  (the shared flags)

flags.DEFINE_integer("scale", 4, "Upscaling factor: 2, 3 or 4.", lower_bound=2, upper_bound=4)
flags.DEFINE_enum("degradation", "unknown", ["unknown", "bicubic"],
                  "Which DIV2K low-resolution set: DIV2K_*_LR_unknown or DIV2K_*_LR_bicubic.")
flags.DEFINE_integer("lr_crop_size", 98, "Side of the low-resolution training crops "
                     "(the high-resolution crop is scale times larger).", lower_bound=4)
flags.DEFINE_boolean("augment", False, "Random flips and 90-degree rotations of training "
                     "crops (the same for LR and HR).")
flags.DEFINE_string("tfds_name", None, "Read DIV2K through tensorflow-datasets instead of "
                    "folders, e.g. div2k/unknown_x4.")
flags.DEFINE_string("tfds_data_dir", None, "tensorflow-datasets data folder.")
flags.DEFINE_integer("num_blocks", 16, "Residual blocks of the SRResNet.", lower_bound=1)
flags.DEFINE_integer("filters", 64, "Filters of the SRResNet.", lower_bound=1)
flags.DEFINE_integer("val_images", 10, "Validation images evaluated (whole) after each "
                     "epoch; 0 for none.", lower_bound=0)
flags.DEFINE_string("hr_dir", None, "predict: high-resolution images matching --input_dir "
                    "(same names, or NAME.png for NAMExS.png), to score the outputs.")

FLAGS = flags.FLAGS
