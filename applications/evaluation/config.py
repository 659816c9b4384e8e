"""The settings of `spl-eval`: its flags, one field each."""

from __future__ import annotations

import dataclasses

from applications.common.config import EvaluationConfig, absolute_paths, check, option


@dataclasses.dataclass(frozen=True)
class FoldersConfig:
    pred_dir: str | None = option(None, "The predictions: a folder of PNG or JPEG images.",
                                  path=True)
    target_dir: str | None = option(None, "The targets: a folder of images named as the "
                                    "predictions are (any extension).", path=True)
    output: str | None = option(None, "Also write the report, with every image's scores, to "
                                "this JSON file.", path=True)
    overwrite: bool = option(False, "Replace --output when it exists.")
    batch_size: int = option(16, "Image pairs per LPIPS batch, images per Inception batch.")
    y_channel: bool = option(False, "PSNR and SSIM on the Y of YCbCr (BT.601), as SR papers "
                             "report them, instead of on RGB.")
    shave: int = option(0, "Border pixels left out of PSNR and SSIM (SR papers shave the "
                        "scale).")

    def __post_init__(self):
        absolute_paths(self)
        check(self.batch_size >= 1, "batch_size", self.batch_size, "must be >= 1")
        check(self.shave >= 0, "shave", self.shave, "must be >= 0")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    folders: FoldersConfig = FoldersConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
