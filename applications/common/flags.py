"""The command-line flags every trainer shares, defined here once.

Applications add their own flags in their package's `flags.py` and read the
shared ones through `TrainConfig.from_flags()`.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from absl import flags

from applications.common.errors import InputError

flags.DEFINE_string("data_dir", None, "Dataset folder.")
flags.DEFINE_string("model_dir", None, "Where checkpoints, logs and the exported model go.")
flags.DEFINE_integer("batch_size", 16, "Global batch size.", lower_bound=1)
flags.DEFINE_integer("epochs", 50, "Epochs to train (in all, counting resumed ones).", lower_bound=1)
flags.DEFINE_float("learning_rate", 2e-4, "Adam learning rate.", lower_bound=0)
flags.DEFINE_float("beta_1", 0.9, "Adam beta_1.", lower_bound=0, upper_bound=1)
flags.DEFINE_float("lr_decay_rate", 0.96, "Learning-rate factor per epoch (staircase).")
flags.DEFINE_boolean("fixed_learning_rate", False, "Do not decay the learning rate.")
flags.DEFINE_integer("image_size", 256, "Height and width of the training images.", lower_bound=4)
flags.DEFINE_integer("seed", 0, "Random seed (weights, shuffling, augmentation).")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "tpu"], "Distribution strategy.")
flags.DEFINE_string("tpu", "", "TPU address, or 'local' on a TPU VM (with --strategy=tpu).")
flags.DEFINE_enum("mixed_precision", "none", ["none", "bfloat16", "float16"], "Mixed precision.")
flags.DEFINE_enum("jit_compile", "auto", ["auto", "true", "false"], "XLA-compile the train step.")
flags.DEFINE_integer("steps_per_execution", 1, "Train steps per compiled call.", lower_bound=1)

# The ResNet-9 generator (pix2pix and makeup transfer).
flags.DEFINE_integer("ngf", 64, "Generator width (filters of the first layer).", lower_bound=1)
flags.DEFINE_boolean(
    "batch_stats_at_inference", True,
    "Normalise with the current batch's statistics at inference too, as the original "
    "did (its batch norms never received a training flag). --nobatch_stats_at_inference "
    "uses the moving averages, the standard inference mode.")

# Prediction.
flags.DEFINE_string("checkpoint", None,
                    "predict: a .keras checkpoint or an exported SavedModel folder "
                    "(default: MODEL_DIR/model.keras).")
flags.DEFINE_string("split", None, "predict: the split of --data_dir to predict.")
flags.DEFINE_string("input_dir", None, "predict: a folder of plain input images to predict "
                    "instead of a split.")
flags.DEFINE_string("output_dir", None,
                    "predict: where to write (default: MODEL_DIR/predictions/SPLIT).")

FLAGS = flags.FLAGS


@dataclasses.dataclass
class TrainConfig:
    """The shared training settings, independent of absl (tests build it directly)."""

    data_dir: Path
    model_dir: Path
    batch_size: int = 16
    epochs: int = 50
    learning_rate: float = 2e-4
    beta_1: float = 0.9
    lr_decay_rate: float = 0.96
    fixed_learning_rate: bool = False
    image_size: int = 256
    seed: int = 0
    strategy: str = "default"
    tpu: str = ""
    mixed_precision: str = "none"
    jit_compile: str = "auto"
    steps_per_execution: int = 1

    def __post_init__(self):
        if self.jit_compile == "true" and self.strategy == "mirrored":
            # Keras 3 on TensorFlow cannot XLA-compile a MirroredStrategy step.
            raise InputError("--jit_compile=true does not work with --strategy=mirrored; use auto")

    @classmethod
    def from_flags(cls, require_data_dir: bool = True) -> TrainConfig:
        required = ("data_dir", "model_dir") if require_data_dir else ("model_dir",)
        for name in required:
            if not FLAGS[name].value:
                raise InputError(f"--{name} is required")
        values = {f.name: FLAGS[f.name].value for f in dataclasses.fields(cls)}
        values["data_dir"] = Path(values["data_dir"] or ".").expanduser()
        values["model_dir"] = Path(values["model_dir"]).expanduser()
        return cls(**values)
