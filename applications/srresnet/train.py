"""Train SRResNet for x4 (x2, x3) super-resolution with SPL alone.

    python -m applications.srresnet.train --data_dir=DIV2K --model_dir=RUN
    python -m applications.srresnet.train --tfds_name=div2k/unknown_x4 --model_dir=RUN

As the paper: loss `SPL()(hr, output)`, Adam 2e-4 with beta_1 0.9, learning
rate x0.96 per epoch, 98x98 LR crops with their 392x392 HR regions. The
outputs in RUN/ and the resume behaviour are those of every trainer here
(see applications/common/training.py).
"""

from __future__ import annotations

import keras
import numpy as np

from applications.common import errors, training
from applications.common.errors import InputError
from applications.common.flags import TrainConfig
from applications.srresnet import data
from applications.srresnet.flags import FLAGS
from applications.srresnet.model import build_srresnet
from spl_tf import SPL


def show_upscaled(inputs, outputs, targets):
    """LR inputs enlarged (nearest) beside output and target, for the image strip."""
    scale = outputs.shape[1] // inputs.shape[1]
    return [np.repeat(np.repeat(inputs, scale, axis=1), scale, axis=2), outputs, targets]


def run(
    config: TrainConfig,
    source: data.Source,
    lr_crop: int = 98,
    augment: bool = False,
    val_images: int = 10,
    num_blocks: int = 16,
    filters: int = 64,
    verbose: int | str = "auto",
) -> keras.Model:
    train_data = data.training_data(config, source, lr_crop, augment, val_images)
    return training.train(
        lambda: build_srresnet(scale=source.scale, num_blocks=num_blocks, filters=filters),
        SPL(),
        config,
        train_data,
        panels=show_upscaled,
        verbose=verbose,
    )


def source_from_flags() -> data.Source:
    if not FLAGS.tfds_name and not FLAGS.data_dir:
        raise InputError("give --data_dir (DIV2K folders) or --tfds_name (e.g. div2k/unknown_x4)")
    return data.Source(scale=FLAGS.scale, degradation=FLAGS.degradation,
                       data_dir=None if FLAGS.tfds_name else TrainConfig.from_flags().data_dir,
                       tfds_name=FLAGS.tfds_name, tfds_data_dir=FLAGS.tfds_data_dir)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise InputError(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    source = source_from_flags()
    config = TrainConfig.from_flags(require_data_dir=not FLAGS.tfds_name)
    run(config, source, FLAGS.lr_crop_size, FLAGS.augment, FLAGS.val_images,
        FLAGS.num_blocks, FLAGS.filters)


def entry_point() -> None:
    errors.run(main)


if __name__ == "__main__":
    entry_point()
