"""Train the makeup generator on `[source | warped reference]` pairs.

    python -m applications.makeup.train --data_dir=PAIRS --model_dir=RUN

As the paper: the ResNet-9 generator with the reference skip, no
discriminator, loss `GP(source, output) + CP(reference, output)`, Adam 2e-4,
learning rate x0.96 per epoch. `PAIRS` is what `fcc_dataset.pairs` wrote (one
folder, split by `--val_fraction`) or `train/` + `val/` folders of such pairs.
Rerunning the command resumes; `RUN/` gets what every trainer writes
(`config.json`, `model.keras`, `export/`, `checkpoints/`, `logs/`, `samples/` of
source | reference | output, `training_log.csv`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from applications.common.commands import train_command
from applications.makeup.config import MakeupConfig

if TYPE_CHECKING:
    from applications.common.application import Application


def application() -> Application:
    """The application, imported only when the command runs (--help needs no TensorFlow)."""
    from applications.makeup.application import MakeupTransfer
    return MakeupTransfer()


entry_point = train_command(MakeupConfig, application, doc=__doc__, required=("data_dir",))

if __name__ == "__main__":
    entry_point()
