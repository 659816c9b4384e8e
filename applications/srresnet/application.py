"""Super-resolution as the paper trains it: SRResNet, SPL alone, DIV2K."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import keras
import numpy as np

from applications.common.application import (Application, Batch, Inference, Predictor,
                                             Scoring, TrainData, as_float)
from applications.srresnet import data, tiling
from applications.srresnet.config import DEFAULT_TILE_SIZE, SRConfig, SRPredictConfig
from applications.srresnet.model import build_srresnet
from applications.common import loss_expressions
from spl_tf.utils import image_io

# LR pixels one bicubic output pixel reads on each side of its own (Keys' kernel
# spans 4 input pixels): the overlap that makes bicubic tiles exact.
BICUBIC_REACH = 2


class SuperResolution(Application):
    """LR crops -> SRResNet -> HR crops, loss `SPL()(hr, output)` (or `--loss`); scored on Y
    as SR papers."""

    name = "srresnet"
    train_config = SRConfig
    predict_config = SRPredictConfig
    default_split = "valid"
    panel_titles = ("input (enlarged)", "output", "target")

    def build_model(self, config: SRConfig) -> keras.Model:
        return build_srresnet(config.data.scale, config.model.num_blocks, config.model.filters)

    def loss(self, config: SRConfig) -> keras.losses.Loss:
        return loss_expressions.keras_loss(config.objective.loss)

    def training_data(self, config: SRConfig) -> TrainData:
        return data.training_data(config.data, config.training)

    def prediction_batches(self, config: SRPredictConfig) -> Iterable[Batch]:
        settings = config.prediction
        if settings.input_dir:
            hr_dir = config.targets.hr_dir
            return data.folder_batches(Path(settings.input_dir), Path(hr_dir) if hr_dir else None,
                                       config.data.scale)
        return data.evaluation_batches(config.data, settings.split)

    def panels(self, inputs, outputs, targets):
        """LR inputs enlarged (nearest) beside output and target."""
        scale = outputs.shape[1] // inputs.shape[1]
        return [np.repeat(np.repeat(inputs, scale, axis=1), scale, axis=2), outputs, targets]

    def inference(self, config: SRPredictConfig, predict: Predictor) -> Inference:
        """The model on tiles of images larger than `--tile_size`, each tile's core
        rounded into a uint8 output (see `tiling`)."""
        settings = config.inference
        return tiling.tiled(super().inference(config, predict), settings.tile_size,
                            settings.tile_overlap)

    def baseline(self, config: SRPredictConfig) -> tuple[str, Inference]:
        """Bicubic upscaling, always tiled (whatever `--tile_size` says of the model):
        a float image of the output's size is what must not be made."""
        return "bicubic", tiling.tiled(bicubic(config.data.scale), DEFAULT_TILE_SIZE,
                                       BICUBIC_REACH)

    def scoring(self, config: SRPredictConfig) -> Scoring:
        """PSNR / SSIM on the Y channel, border shaved by the scale."""
        return Scoring(y_channel=True, shave=config.data.scale)


def bicubic(scale: int) -> Inference:
    """Bicubic upscaling by `scale`, the SR baseline: LR batches -> uint8 (rounded and
    clipped, as a model's outputs are)."""
    import tensorflow as tf

    def upscale(lr: np.ndarray) -> np.ndarray:
        size = [lr.shape[1] * scale, lr.shape[2] * scale]
        return image_io.to_uint8(tf.image.resize(as_float(lr), size, method="bicubic"))

    return upscale
