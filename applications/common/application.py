"""The one contract every application fulfils.

An application is a small object that says what differs between the paper's three
tasks: its configs, how to build the model, the loss, the training data, the
prediction batches, the baseline its predictions are scored against, the panels of
its sample strips and the size multiple its model needs. Everything else (the
run folder, resume, distribution, checkpoints, export, prediction output, the
command line) is shared: `training.train`, `prediction.predict` and the
commands of `applications.common.commands`.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import keras
import numpy as np

from applications.common.config import ObjectiveConfig, check
from spl_tf.utils import image_io

# (inputs, targets or None, names of the source files). Images are NHWC, either uint8
# as their files hold them (SR's whole images: a float copy of a large image is what
# does not fit) or float32 in [-1, 1]; `as_float` and `as_uint8` take either.
Batch = tuple[np.ndarray, np.ndarray | None, list[str]]
# A loaded model as a function: float32 images in [-1, 1] -> float32 images in [-1, 1].
Predictor = Callable[[np.ndarray], np.ndarray]
# What prediction runs on a batch's inputs (uint8 or float32): uint8 images, as written.
Inference = Callable[[np.ndarray], np.ndarray]


def as_float(images: np.ndarray) -> np.ndarray:
    """Batch images as models take them: float32 in [-1, 1] (uint8 ones converted)."""
    return image_io.to_float(images) if images.dtype == np.uint8 else images


def as_uint8(images: np.ndarray) -> np.ndarray:
    """Batch images as files hold them: uint8 (float ones in [-1, 1] rounded)."""
    return images if images.dtype == np.uint8 else image_io.to_uint8(images)


@dataclasses.dataclass
class TrainData:
    """What an application's data hands to training."""

    # first batch -> tf.data.Dataset of (inputs, targets) batches, repeated: the
    # stream from that batch on (a resumed run goes on where the last one stopped)
    train: Callable[[int], Any]
    steps_per_epoch: int
    sample: tuple[np.ndarray, np.ndarray]  # a few fixed validation pairs to show
    validation: Any | None = None  # tf.data.Dataset of batches, or None


@dataclasses.dataclass(frozen=True)
class Scoring:
    """How predictions are scored against their targets (see `spl_tf.metrics`)."""

    y_channel: bool = False  # on the Y of YCbCr (SR convention) instead of RGB
    shave: int = 0  # border pixels left out


class Application(abc.ABC):
    """One of the paper's tasks, as the shared training and prediction see it."""

    name: ClassVar[str]
    # Dataclasses of sections: data, model, training, runtime / prediction, data.
    train_config: ClassVar[type]
    predict_config: ClassVar[type]
    # The split of a data folder that predict reads by default.
    default_split: ClassVar[str] = "test"
    # Model inputs' height and width must be multiples of this, and at least min_size.
    size_multiple: ClassVar[int] = 1
    min_size: ClassVar[int] = 1
    # The sample strips' and prediction grid's columns.
    panel_titles: ClassVar[tuple[str, ...]] = ("input", "output", "target")
    # Folder of the second images of prediction batches.
    target_folder: ClassVar[str] = "target"

    @abc.abstractmethod
    def build_model(self, config: Any) -> keras.Model:
        """The untrained model for a train config."""

    @abc.abstractmethod
    def loss(self, config: Any) -> keras.losses.Loss:
        """The training loss, a registered Keras loss (saved with the model)."""

    def objective(self, config: Any) -> ObjectiveConfig | None:
        """What a train config says the generator learns from beyond `loss` (its weight,
        a discriminator: see `ObjectiveConfig`); None: `loss` alone."""
        return None

    @abc.abstractmethod
    def training_data(self, config: Any) -> TrainData:
        """Checked training and validation data; InputError naming what is wrong."""

    @abc.abstractmethod
    def prediction_batches(self, config: Any) -> Iterable[Batch]:
        """The batches a predict config asks for."""

    def panels(self, inputs: np.ndarray, outputs: np.ndarray,
               targets: np.ndarray) -> Sequence[np.ndarray]:
        """The images of one sample strip, one per `panel_titles`, each (N, H, W, 3)."""
        return [inputs[..., :3], outputs, targets]

    def inference(self, config: Any, predict: Predictor) -> Inference:
        """How prediction runs the loaded model on a batch's inputs, giving uint8
        outputs: the whole batch at once by default; an application may do it in
        pieces (super-resolution tiles large images straight into a uint8 output)."""
        return lambda images: image_io.to_uint8(predict(as_float(images)))

    def baseline(self, config: Any) -> tuple[str, Inference] | None:
        """A trivial predictor the predictions are scored against (batch inputs ->
        uint8 outputs, as `inference` gives), with its name."""
        return None

    def scoring(self, config: Any) -> Scoring | None:
        """How predictions are scored against their targets; None: they are not."""
        return Scoring()

    def check_sizes(self, sizes: dict[str, int]) -> None:
        """InputError unless every `{flag: size}` is a multiple of `size_multiple`, at
        least `min_size`."""
        for flag, size in sizes.items():
            check(size % self.size_multiple == 0 and size >= self.min_size, flag, size,
                  f"must be a multiple of {self.size_multiple}, at least {self.min_size}, "
                  f"for the {self.name} model")
