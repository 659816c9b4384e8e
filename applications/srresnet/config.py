"""The settings of a super-resolution run: data, SRResNet, training, runtime."""

from __future__ import annotations

import dataclasses

from applications.common.config import (PredictionConfig, RuntimeConfig, TrainingConfig,
                                        absolute_paths, check, check_choice, option)

SCALES = (2, 3, 4)


@dataclasses.dataclass(frozen=True)
class SRData:
    """DIV2K folders or a tensorflow-datasets name, and the training crops."""

    data_dir: str | None = option(None, "Folder with DIV2K's DIV2K_{train,valid}_HR/ and "
                                  "DIV2K_{train,valid}_LR_<degradation>/X<scale>/.", path=True)
    tfds_name: str | None = option(None, "Read DIV2K through tensorflow-datasets instead, "
                                   "e.g. div2k/unknown_x4.")
    tfds_data_dir: str | None = option(None, "tensorflow-datasets data folder.", path=True)
    scale: int = option(4, "Upscaling factor: 2, 3 or 4.")
    degradation: str = option("unknown", "Which DIV2K low-resolution set: "
                              "DIV2K_*_LR_unknown or DIV2K_*_LR_bicubic.",
                              choices=("unknown", "bicubic"))
    lr_crop_size: int = option(98, "Side of the low-resolution training crops (the "
                               "high-resolution crop is scale times larger).")
    augment: bool = option(False, "Random flips and quarter turns of training crops "
                           "(the same for LR and HR).")
    val_images: int = option(10, "Validation images evaluated whole after each epoch; 0 "
                             "for none.")

    def __post_init__(self):
        absolute_paths(self)
        check(self.scale in SCALES, "scale", self.scale, "must be 2, 3 or 4")
        check_choice(self, "degradation")
        check(self.lr_crop_size >= 4, "lr_crop_size", self.lr_crop_size, "must be >= 4")
        check(self.val_images >= 0, "val_images", self.val_images, "must be >= 0")


@dataclasses.dataclass(frozen=True)
class SRResNetConfig:
    num_blocks: int = option(16, "Residual blocks of the SRResNet.")
    filters: int = option(64, "Filters of the SRResNet.")

    def __post_init__(self):
        check(self.num_blocks >= 1, "num_blocks", self.num_blocks, "must be >= 1")
        check(self.filters >= 1, "filters", self.filters, "must be >= 1")


@dataclasses.dataclass(frozen=True)
class SRConfig:
    data: SRData = SRData()
    model: SRResNetConfig = SRResNetConfig()
    training: TrainingConfig = TrainingConfig()
    runtime: RuntimeConfig = RuntimeConfig()


@dataclasses.dataclass(frozen=True)
class SRTargets:
    hr_dir: str | None = option(None, "High-resolution images matching --input_dir (same "
                                "names, or NAME.png for NAMExS.png), to score the outputs.",
                                path=True)

    def __post_init__(self):
        absolute_paths(self)


@dataclasses.dataclass(frozen=True)
class SRPredictConfig:
    prediction: PredictionConfig
    data: SRData = SRData()
    targets: SRTargets = SRTargets()
