"""The settings of `spl-experiment`: its flags, one field each."""

from __future__ import annotations

import dataclasses

from applications.common.config import EvaluationConfig, absolute_paths, check, check_choice, option

PRESETS = ("smoke", "translation", "super_resolution")
ALL_METRICS = "psnr,ssim,lpips,fid,kid"


@dataclasses.dataclass(frozen=True)
class ExperimentSettings:
    experiment_dir: str | None = option(
        None, "The experiment's folder: experiment.json, runs/ENTRY-seedK/ (ordinary run "
        "folders of the trainers), results.md, results.csv, grid.png, metrics_vs_steps.png. "
        "Rerun the same command to resume.", path=True)
    preset: str = option(
        "smoke", "The set of entries: smoke (the whole pipeline on built-in data, minutes on "
        "a CPU), translation (L1, L1 + cGAN, SPL, SPL + cGAN, SPL + multi-scale + feature "
        "matching on a pix2pix dataset) or super_resolution (L1 and SPL on DIV2K, scored on "
        "the SR test sets).", choices=PRESETS)
    add: str = option(
        "", "More entries, trained like the preset's discriminator-free ones: loss "
        "expressions separated by ';', e.g. 'SPL + 0.5 * GPL; CPL'.")
    entries: str = option("", "Run only these entries, comma-separated names (default: "
                          "all of the preset and --add).")
    seeds: int = option(1, "Runs per entry, seeds 0..N-1 (the same for every entry): the "
                        "tables give the mean and the spread over them.")
    data_dir: str | None = option(
        None, "translation: a pix2pix dataset (train/, val/, test/ of [input | target] "
        "images, e.g. DIR/facades of `spl-data fetch facades --output_dir=DIR`); "
        "super_resolution: the DIV2K folder (`spl-data fetch div2k`). smoke: none (its "
        "data is built in EXPERIMENT_DIR/data).", path=True)
    sr_test_dir: str | None = option(
        None, "super_resolution: the SR test sets (`spl-data fetch sr_benchmarks`): "
        "SET/X4/{LR,HR}/ for Set5, Set14, BSD100, Urban100 (those present are used).",
        path=True)
    epochs: int = option(0, "Epochs of every run; 0: the preset's.")
    eval_points: int = option(4, "Times each run is scored on the test images during "
                              "training (evenly spaced epochs, the last included), for the "
                              "metric-vs-steps plot; 0: never.")
    grid_images: int = option(4, "Test images in grid.png (spread over the test split).")
    overwrite: bool = option(False, "Discard the experiment in --experiment_dir (its runs "
                             "and results) when its settings differ, and start anew.")

    def __post_init__(self):
        absolute_paths(self)
        check_choice(self, "preset")
        check(self.seeds >= 1, "seeds", self.seeds, "must be >= 1")
        check(self.epochs >= 0, "epochs", self.epochs, "must be >= 0 (0: the preset's)")
        check(self.eval_points >= 0, "eval_points", self.eval_points, "must be >= 0")
        check(self.grid_images >= 1, "grid_images", self.grid_images, "must be >= 1")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    experiment: ExperimentSettings = ExperimentSettings()
    evaluation: EvaluationConfig = EvaluationConfig(metrics=ALL_METRICS)


# Settings a rerun may change without being another experiment: what is shown and how
# the finished runs are scored (each run's scores are taken again when they change).
FREE = frozenset({"overwrite", "grid_images"} | {
    f.name for f in dataclasses.fields(EvaluationConfig)})
