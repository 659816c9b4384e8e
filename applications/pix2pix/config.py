"""The settings of a pix2pix run: data, generator, training, runtime."""

from __future__ import annotations

import dataclasses

from applications.common.config import (EvaluationConfig, GeneratorConfig, ObjectiveConfig,
                                        PairData, PredictionConfig, RuntimeConfig,
                                        TrainingConfig, check_choice, option)


@dataclasses.dataclass(frozen=True)
class Pix2PixData(PairData):
    """Pairs `[input | target]`, as pix2pix's datasets."""

    direction: str = option("AtoB", "AtoB: the left half is the input, the right half the "
                            "target; BtoA the other way round.", choices=("AtoB", "BtoA"))

    def __post_init__(self):
        super().__post_init__()
        check_choice(self, "direction")


@dataclasses.dataclass(frozen=True)
class Pix2PixConfig:
    data: Pix2PixData = Pix2PixData()
    model: GeneratorConfig = GeneratorConfig()
    objective: ObjectiveConfig = ObjectiveConfig()
    training: TrainingConfig = TrainingConfig()
    runtime: RuntimeConfig = RuntimeConfig()


@dataclasses.dataclass(frozen=True)
class Pix2PixPredictConfig:
    prediction: PredictionConfig
    data: Pix2PixData = Pix2PixData()
    evaluation: EvaluationConfig = EvaluationConfig()
