"""Train the ResNet-9 generator on a pix2pix-layout dataset with SPL alone.

    python -m applications.pix2pix.train --data_dir=DATA --model_dir=RUN

As the paper: no discriminator, loss `SPL()(target, output)`, Adam 2e-4 with
beta_1 0.9, learning rate x0.96 per epoch; `--adversarial=patchgan|multiscale` trains
against a conditional discriminator instead (pix2pix: `--loss=l1 --loss_weight=100
--adversarial=patchgan --beta_1=0.5`). Rerunning the same command after an
interruption resumes where it stopped; `RUN/` gets `config.json`, `model.keras`,
`export/` (SavedModel), `checkpoints/`, `logs/` (TensorBoard), `samples/` and
`training_log.csv`. `--help` lists its flags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from applications.common.commands import train_command
from applications.pix2pix.config import Pix2PixConfig

if TYPE_CHECKING:
    from applications.common.application import Application


def application() -> Application:
    """The application, imported only when the command runs (--help needs no TensorFlow)."""
    from applications.pix2pix.application import Pix2Pix
    return Pix2Pix()


entry_point = train_command(Pix2PixConfig, application, doc=__doc__, required=("data_dir",))

if __name__ == "__main__":
    entry_point()
