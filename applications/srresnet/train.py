"""Train SRResNet for x4 (x2, x3) super-resolution with SPL alone.

    python -m applications.srresnet.train --data_dir=DIV2K --model_dir=RUN
    python -m applications.srresnet.train --tfds_name=div2k/unknown_x4 --model_dir=RUN

As the paper: loss `SPL()(hr, output)`, Adam 2e-4 with beta_1 0.9, learning
rate x0.96 per epoch, 98x98 LR crops with their 392x392 HR regions. The run
folder and resuming are those of every trainer here (`applications.common.training`);
`--help` lists its flags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from applications.common.commands import train_command
from applications.srresnet.config import SRConfig

if TYPE_CHECKING:
    from applications.common.application import Application


def application() -> Application:
    """The application, imported only when the command runs (--help needs no TensorFlow)."""
    from applications.srresnet.application import SuperResolution
    return SuperResolution()


entry_point = train_command(SRConfig, application, doc=__doc__)

if __name__ == "__main__":
    entry_point()
