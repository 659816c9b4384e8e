"""Train the makeup generator on `[source | warped reference]` pairs.

    python -m applications.makeup.train --data_dir=PAIRS --model_dir=RUN

As the paper: the ResNet-9 generator with the reference skip, no
discriminator, loss `GP(source, output) + CP(reference, output)`, Adam 2e-4,
learning rate x0.96 per epoch. `PAIRS` is what `fcc_dataset.pairs` wrote (one
folder, split by `--val_fraction`) or `train/` + `val/` folders of such pairs.
Rerunning the command resumes; `RUN/` gets what every trainer writes
(`model.keras`, `export/`, `checkpoints/`, `logs/`, `samples/` of source |
reference | output, `training_log.csv`).
"""

from __future__ import annotations

import keras

from applications.common import errors, training
from applications.common.errors import InputError
from applications.common.flags import TrainConfig
from applications.makeup import data
from applications.makeup.flags import FLAGS
from applications.makeup.model import MakeupLoss, build_makeup_generator


def panels(inputs, outputs, targets):
    """Sample strips: source | reference | output."""
    del targets  # the inputs themselves
    return [inputs[..., :3], inputs[..., 3:], outputs]


def run(
    config: TrainConfig,
    ngf: int = 64,
    batch_stats_at_inference: bool = True,
    val_fraction: float = 0.1,
    verbose: int | str = "auto",
) -> keras.Model:
    return training.train(
        lambda: build_makeup_generator(ngf, batch_stats_at_inference),
        MakeupLoss(),
        config,
        data.training_data(config, val_fraction),
        panels=panels,
        size_multiple=4,
        verbose=verbose,
    )


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise InputError(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    run(TrainConfig.from_flags(), FLAGS.ngf, FLAGS.batch_stats_at_inference, FLAGS.val_fraction)


def entry_point() -> None:
    errors.run(main)


if __name__ == "__main__":
    entry_point()
