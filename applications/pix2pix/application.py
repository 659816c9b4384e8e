"""Image-to-image translation as the paper trains it: ResNet-9, SPL alone."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import keras

from applications.common import pairs, resnet_generator
from applications.common.application import (Application, Batch, Inference, TrainData,
                                             as_uint8)
from applications.pix2pix.config import Pix2PixConfig, Pix2PixPredictConfig
from spl_tf import SPL


class Pix2Pix(Application):
    """`[input | target]` pairs -> the ResNet-9 generator, loss `SPL()(target, output)`."""

    name = "pix2pix"
    train_config = Pix2PixConfig
    predict_config = Pix2PixPredictConfig
    size_multiple = resnet_generator.SIZE_MULTIPLE
    min_size = resnet_generator.MIN_SIZE

    def build_model(self, config: Pix2PixConfig) -> keras.Model:
        model = config.model
        return resnet_generator.build_generator(
            model.ngf, batch_stats_at_inference=model.batch_stats_at_inference,
            num_blocks=model.num_blocks)

    def loss(self, config: Pix2PixConfig) -> keras.losses.Loss:
        return SPL()

    def training_data(self, config: Pix2PixConfig) -> TrainData:
        self.check_sizes({"image_size": config.data.image_size})
        return pairs.training_data(config.data, config.training, self._format(config),
                                   pairs.default_splits(config.data))

    def prediction_batches(self, config: Pix2PixPredictConfig) -> Iterable[Batch]:
        self.check_sizes({"image_size": config.data.image_size})
        settings = config.prediction
        if settings.input_dir:
            return pairs.named_image_batches(Path(settings.input_dir), config.data.image_size,
                                             settings.batch_size)
        files = pairs.scan_split(config.data.folder(), settings.split)
        return pairs.named_pair_batches(files, config.data.image_size, settings.batch_size,
                                        self._format(config))

    def baseline(self, config: Pix2PixPredictConfig) -> tuple[str, Inference]:
        return "input", lambda x: as_uint8(x[..., :3])

    @staticmethod
    def _format(config) -> pairs.PairFormat:
        return pairs.PairFormat(direction=config.data.direction)
