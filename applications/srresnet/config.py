"""The settings of a super-resolution run: data, SRResNet, training, runtime."""

from __future__ import annotations

import dataclasses

from applications.common.config import (EvaluationConfig, LossConfig, PredictionConfig,
                                        RuntimeConfig,
                                        TrainingConfig, absolute_paths, check, check_choice,
                                        option)

SCALES = (2, 3, 4)


@dataclasses.dataclass(frozen=True)
class SRImages:
    """DIV2K folders or a tensorflow-datasets name, at a scale: what prediction reads."""

    data_dir: str | None = option(None, "Folder with DIV2K's DIV2K_{train,valid}_HR/ and "
                                  "DIV2K_{train,valid}_LR_<degradation>/X<scale>/.", path=True)
    tfds_name: str | None = option(None, "Read DIV2K through tensorflow-datasets instead, "
                                   "e.g. div2k/unknown_x4.")
    tfds_data_dir: str | None = option(None, "tensorflow-datasets data folder.", path=True)
    scale: int = option(4, "Upscaling factor: 2, 3 or 4.")
    degradation: str = option("unknown", "Which DIV2K low-resolution set: "
                              "DIV2K_*_LR_unknown or DIV2K_*_LR_bicubic.",
                              choices=("unknown", "bicubic"))

    def __post_init__(self):
        absolute_paths(self)
        check(self.scale in SCALES, "scale", self.scale, "must be 2, 3 or 4")
        check_choice(self, "degradation")


@dataclasses.dataclass(frozen=True)
class SRData(SRImages):
    """The images, and the crops and validation of training."""

    lr_crop_size: int = option(98, "Side of the low-resolution training crops (the "
                               "high-resolution crop is scale times larger).")
    augment: bool = option(False, "Random flips and quarter turns of training crops "
                           "(the same for LR and HR).")
    val_images: int = option(10, "Validation images evaluated whole after each epoch; 0 "
                             "for none.")

    def __post_init__(self):
        super().__post_init__()
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
    # A run made before --loss existed has no objective section: SPL, as it was trained.
    objective: LossConfig = LossConfig()
    training: TrainingConfig = TrainingConfig()
    runtime: RuntimeConfig = RuntimeConfig()


@dataclasses.dataclass(frozen=True)
class SRTargets:
    hr_dir: str | None = option(None, "High-resolution images matching --input_dir (same "
                                "names, or NAME.png for NAMExS.png), to score the outputs.",
                                path=True)

    def __post_init__(self):
        absolute_paths(self)


# SRResNet's receptive radius, measured with an impulse on random weights
# (`tiling.receptive_radius`), is 2 * num_blocks + 8 LR pixels: 40 for the default 16
# blocks at x2, x3 and x4. The default overlap covers it, and up to 20 blocks.
DEFAULT_TILE_OVERLAP = 48
# The default x4 SRResNet (64 filters) peaks at about 8 GB on CPU for a 384x384 LR
# tile (4 GB at 256, 14 GB at 512); larger images are what made predict run out.
DEFAULT_TILE_SIZE = 384


@dataclasses.dataclass(frozen=True)
class SRInference:
    """Tiled inference: memory bounded by the tile, whatever the image size."""

    tile_size: int = option(DEFAULT_TILE_SIZE, "Run images larger than this many LR pixels "
                            "(height or width) as tiles of tile_size x tile_size LR pixels, "
                            "so memory stays bounded (the default x4 SRResNet peaks at about "
                            "8 GB on CPU at 384); 0 runs every image whole.")
    tile_overlap: int = option(DEFAULT_TILE_OVERLAP, "LR pixels of context on each side of a "
                               "tile, dropped from its output. Outputs equal the untiled ones "
                               "when it is at least the model's receptive radius, "
                               "2 * num_blocks + 8 (40 for the default 16 blocks).")

    def __post_init__(self):
        check(self.tile_size >= 0, "tile_size", self.tile_size, "must be >= 0 (0: no tiling)")
        check(self.tile_overlap >= 0, "tile_overlap", self.tile_overlap, "must be >= 0")
        check(self.tile_size == 0 or self.tile_size > 2 * self.tile_overlap, "tile_overlap",
              self.tile_overlap, f"must be less than half of --tile_size={self.tile_size}, "
              "so every tile keeps a core")


@dataclasses.dataclass(frozen=True)
class SRPredictConfig:
    prediction: PredictionConfig
    data: SRImages = SRImages()
    targets: SRTargets = SRTargets()
    inference: SRInference = SRInference()
    evaluation: EvaluationConfig = EvaluationConfig()
