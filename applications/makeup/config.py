"""The settings of a makeup-transfer run: data, generator, training, runtime."""

from __future__ import annotations

import dataclasses

from applications.common.config import (GeneratorConfig, PairData, PredictionConfig,
                                        RuntimeConfig, TrainingConfig, check, option)


@dataclasses.dataclass(frozen=True)
class MakeupData(PairData):
    """`[source | warped reference]` pairs, as `fcc_dataset.pairs` writes them, and how
    training holds some out (prediction reads them as `PairData`)."""

    val_fraction: float = option(0.1, "With a --data_dir of pair images and no train/ "
                                 "folder: the share of source faces held out for validation.")

    def __post_init__(self):
        super().__post_init__()
        check(0 <= self.val_fraction <= 0.9, "val_fraction", self.val_fraction,
              "must be in [0, 0.9]")


@dataclasses.dataclass(frozen=True)
class MakeupConfig:
    data: MakeupData = MakeupData()
    model: GeneratorConfig = GeneratorConfig()
    training: TrainingConfig = TrainingConfig()
    runtime: RuntimeConfig = RuntimeConfig()


@dataclasses.dataclass(frozen=True)
class MakeupPredictConfig:
    prediction: PredictionConfig
    data: PairData = PairData()
