"""Makeup transfer as the paper trains it: structure from the source, colour from the reference."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import keras

from applications.common import pairs, resnet_generator
from applications.common.application import Application, Batch, TrainData
from applications.makeup import data
from applications.makeup.config import MakeupConfig, MakeupPredictConfig
from applications.makeup.model import build_makeup_generator
from spl_tf import MakeupLoss
from spl_tf.utils.errors import InputError


class MakeupTransfer(Application):
    """[source, warped reference] -> ResNet-9 with the reference skip, loss `MakeupLoss()`.

    Each pair is its own target (`fit(x, x)`): the loss takes the source's
    gradient profile and the reference's colour profile from it.
    """

    name = "makeup"
    train_config = MakeupConfig
    predict_config = MakeupPredictConfig
    size_multiple = resnet_generator.SIZE_MULTIPLE
    min_size = resnet_generator.MIN_SIZE
    panel_titles = ("source", "reference", "output")
    target_folder = "reference"

    def build_model(self, config: MakeupConfig) -> keras.Model:
        model = config.model
        return build_makeup_generator(model.ngf, model.batch_stats_at_inference, model.num_blocks)

    def loss(self, config: MakeupConfig) -> keras.losses.Loss:
        return MakeupLoss()

    def training_data(self, config: MakeupConfig) -> TrainData:
        self.check_sizes({"image_size": config.data.image_size})
        return pairs.training_data(config.data, config.training, data.MAKEUP,
                                   data.splits(config.data))

    def prediction_batches(self, config: MakeupPredictConfig) -> Iterable[Batch]:
        self.check_sizes({"image_size": config.data.image_size})
        settings = config.prediction
        if settings.input_dir:
            folder = Path(settings.input_dir)
            if not folder.is_dir():
                raise InputError(f"{folder}: no such folder (--input_dir)")
            files = pairs.scan_split(folder.parent, folder.name)
        else:
            files = pairs.scan_split(config.data.folder(), settings.split)
        return data.named_batches(files, config.data.image_size, settings.batch_size)

    def panels(self, inputs, outputs, targets):
        del targets  # the inputs themselves
        return [inputs[..., :3], inputs[..., 3:], outputs]

    def scoring(self, config: MakeupPredictConfig) -> None:
        return None  # no ground truth: a face wearing another's makeup
