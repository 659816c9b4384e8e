"""Train the ResNet-9 generator on a pix2pix-layout dataset with SPL alone.

    python -m applications.pix2pix.train --data_dir=DATA --model_dir=RUN

As the paper: no discriminator, loss `SPL()(target, output)`, Adam 2e-4 with
beta_1 0.9, learning rate x0.96 per epoch. Rerunning the same command after an
interruption resumes where it stopped; `RUN/` gets `model.keras`, `export/`
(SavedModel), `checkpoints/`, `logs/` (TensorBoard), `samples/` and
`training_log.csv`.
"""

from __future__ import annotations

import keras

from applications.common import errors, pairs, training
from applications.common.errors import InputError
from applications.common.flags import TrainConfig
from applications.pix2pix.flags import FLAGS
from applications.pix2pix.model import build_generator
from spl_tf import SPL


def run(
    config: TrainConfig,
    direction: str = "AtoB",
    ngf: int = 64,
    batch_stats_at_inference: bool = True,
    verbose: int | str = "auto",
) -> keras.Model:
    train_data = pairs.training_data(config, pairs.PairFormat(direction))
    return training.train(
        lambda: build_generator(ngf=ngf, batch_stats_at_inference=batch_stats_at_inference),
        SPL(),
        config,
        train_data,
        size_multiple=4,
        verbose=verbose,
    )


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise InputError(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    run(TrainConfig.from_flags(), FLAGS.direction, FLAGS.ngf, FLAGS.batch_stats_at_inference)


def entry_point() -> None:
    errors.run(main)


if __name__ == "__main__":
    entry_point()
