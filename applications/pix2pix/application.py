"""Image-to-image translation as the paper trains it (ResNet-9, SPL alone), and against
the GAN baselines: L1 or SPL with a conditional discriminator (`--adversarial`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import keras

from applications.common import discriminators, loss_expressions, pairs, resnet_generator
from applications.common.application import (Application, Batch, Inference, TrainData,
                                             as_uint8)
from applications.common.config import ObjectiveConfig, check
from applications.pix2pix.config import Pix2PixConfig, Pix2PixPredictConfig


class Pix2Pix(Application):
    """`[input | target]` pairs -> the ResNet-9 generator, loss `SPL()(target, output)`
    (or `--loss=l1`, or an expression of losses), opt in against a discriminator."""

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
        return loss_expressions.keras_loss(config.objective.loss)

    def objective(self, config: Pix2PixConfig) -> ObjectiveConfig:
        return config.objective

    def training_data(self, config: Pix2PixConfig) -> TrainData:
        self.check_sizes({"image_size": config.data.image_size})
        objective = config.objective
        if objective.adversarial == "patchgan":
            smallest = discriminators.min_image_size("patchgan", objective.discriminator_layers)
            check(config.data.image_size >= smallest, "image_size", config.data.image_size,
                  f"must be at least {smallest} for the patchgan discriminator of "
                  f"{objective.discriminator_layers} layers (--discriminator_layers)")
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
