"""The named sets of entries and the run config of each: what `--preset` means.

Every entry of an experiment trains the same generator from the same initial weights on
the same batches for the same steps (one seed per seed index, the trainers' seeding);
entries differ only in their objective (`ObjectiveConfig`: the reconstruction loss, a
discriminator). The configs are ordinary trainer configs: a run folder of an entry
resumes alone with `spl-pix2pix-train --model_dir=RUN` (or `spl-srresnet-train`).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

from applications.common.config import (GeneratorConfig, LossConfig, ObjectiveConfig,
                                        RuntimeConfig, TrainingConfig)
from applications.experiments.config import ExperimentSettings
from applications.pix2pix.config import Pix2PixConfig, Pix2PixData
from applications.srresnet.config import SRConfig, SRData
from spl_tf.utils.errors import InputError

# The SR test sets `spl-data fetch sr_benchmarks` lays out, in the order papers give them.
SR_TEST_SETS = ("Set5", "Set14", "BSD100", "Urban100")
SR_SCALE = 4


@dataclasses.dataclass(frozen=True)
class Entry:
    """One run of the comparison: `name` (its folder), `label` (the tables'), the
    objective settings it changes, and its discriminator (`none` for the loss alone)."""

    name: str
    label: str
    objective: tuple[tuple[str, Any], ...]

    @property
    def discriminator(self) -> str:
        return dict(self.objective).get("adversarial", "none")


def _entry(name: str, label: str, **objective: Any) -> Entry:
    return Entry(name, label, tuple(objective.items()))


TRANSLATION = (
    _entry("l1", "L1", loss="l1"),
    # pix2pix: L1 x 100 against the 70x70 PatchGAN.
    _entry("l1_cgan", "L1 + cGAN (pix2pix)", loss="l1", loss_weight=100.0,
           adversarial="patchgan"),
    _entry("spl", "SPL (the paper)", loss="spl"),
    _entry("spl_cgan", "SPL + cGAN", loss="spl", adversarial="patchgan"),
    # pix2pixHD's discriminators, least squares, feature matching x 10.
    _entry("spl_multiscale_fm", "SPL + multi-scale D + feature matching", loss="spl",
           adversarial="multiscale", gan_mode="lsgan", feature_matching_weight=10.0),
)
SUPER_RESOLUTION = (_entry("l1", "L1", loss="l1"), _entry("spl", "SPL (the paper)", loss="spl"))
ENTRIES = {"smoke": TRANSLATION, "translation": TRANSLATION,
           "super_resolution": SUPER_RESOLUTION}
APPLICATION = {"smoke": "pix2pix", "translation": "pix2pix", "super_resolution": "srresnet"}

# The smoke preset: the demo's sketch -> photo task cut small, a narrow generator, a few
# epochs; every entry, discriminators included, in seconds on a CPU core.
SMOKE_CROPS = {"train": 16, "val": 1, "test": 4}
SMOKE_IMAGE_SIZE = 32
SMOKE_EPOCHS = 10
# Adam's beta_1 of the entries with a discriminator (pix2pix and pix2pixHD: Adam(2e-4, 0.5)).
GAN_BETA_1 = 0.5


def entries(settings: ExperimentSettings) -> list[Entry]:
    """The preset's entries and those of `--add`, less those `--entries` leaves out;
    InputError for an expression that is not one or a name that is no entry."""
    from applications.common import loss_expressions

    found = list(ENTRIES[settings.preset])
    for expression in [e.strip() for e in settings.add.split(";") if e.strip()]:
        loss_expressions.check(expression, "--add")
        name = slug(expression)
        while name in {entry.name for entry in found}:
            name += "_"
        found.append(_entry(name, expression, loss=expression))
    if settings.entries:
        wanted = [name.strip() for name in settings.entries.split(",") if name.strip()]
        known = {entry.name for entry in found}
        unknown = [name for name in wanted if name not in known]
        if unknown:
            raise InputError(f"--entries={settings.entries}: no entry {', '.join(unknown)}; "
                             f"the entries are {', '.join(sorted(known))}")
        found = [entry for entry in found if entry.name in wanted]
    return found


def slug(expression: str) -> str:
    """A folder name for a loss expression: `SPL + 0.5 * GPL` -> `SPL_plus_0.5_x_GPL`."""
    words = expression.replace("+", " plus ").replace("-", " minus ").replace("*", " x ")
    return re.sub(r"[^A-Za-z0-9.]+", "_", words).strip("_")[:80] or "loss"


def _beta_1(entry: Entry) -> float:
    """Adam's beta_1 for both networks of an entry: pix2pix's and pix2pixHD's 0.5 with a
    discriminator, else TrainingConfig's 0.9 (the paper's SPL runs)."""
    return GAN_BETA_1 if entry.discriminator != "none" else TrainingConfig().beta_1


def data_dir(settings: ExperimentSettings, experiment_dir: Path) -> Path:
    """Where the training data is (smoke: built in the experiment's folder)."""
    if settings.preset == "smoke":
        return experiment_dir / "data"
    if not settings.data_dir:
        what = ("a pix2pix dataset (train/, val/, test/)" if settings.preset == "translation"
                else "the DIV2K folder")
        raise InputError(f"--preset={settings.preset} needs --data_dir: {what}")
    return Path(settings.data_dir)


def run_config(settings: ExperimentSettings, entry: Entry, seed: int,
               experiment_dir: Path) -> Any:
    """The trainer's config of `entry` at `seed` (checked as flags are)."""
    where = str(data_dir(settings, experiment_dir))
    if settings.preset == "super_resolution":
        config = SRConfig(data=SRData(data_dir=where, scale=SR_SCALE),
                          objective=LossConfig(loss=dict(entry.objective)["loss"]),
                          training=TrainingConfig(seed=seed, verbose=2))
        if entry.discriminator != "none":
            raise InputError(f"entry {entry.name}: super-resolution trains without a "
                             "discriminator")
    elif settings.preset == "smoke":
        config = Pix2PixConfig(
            data=Pix2PixData(data_dir=where, image_size=SMOKE_IMAGE_SIZE),
            model=GeneratorConfig(ngf=8, num_blocks=2, batch_stats_at_inference=False),
            objective=ObjectiveConfig(**dict(entry.objective), ndf=8, discriminator_layers=2),
            training=TrainingConfig(batch_size=4, epochs=SMOKE_EPOCHS, learning_rate=1e-3,
                                    beta_1=_beta_1(entry), fixed_learning_rate=True,
                                    seed=seed, verbose=0),
            # A few hundred small steps: XLA would take longer to compile them than to run.
            runtime=RuntimeConfig(jit_compile="false"))
    else:
        # The paper's settings (TrainingConfig's defaults): Adam 2e-4, batch 16, 50 epochs
        # (Adam's beta_1: `_beta_1`).
        config = Pix2PixConfig(data=Pix2PixData(data_dir=where),
                               objective=ObjectiveConfig(**dict(entry.objective)),
                               training=TrainingConfig(beta_1=_beta_1(entry), seed=seed,
                                                       verbose=2))
    if settings.epochs:
        config = dataclasses.replace(
            config, training=dataclasses.replace(config.training, epochs=settings.epochs))
    return config


@dataclasses.dataclass(frozen=True)
class TestSet:
    """Images an entry is scored on: a split of the pairs, or SR LR/HR folders."""

    name: str
    split: str | None = None
    lr_dir: str | None = None
    hr_dir: str | None = None


def test_sets(settings: ExperimentSettings, experiment_dir: Path) -> list[TestSet]:
    """The test sets of the preset; InputError naming what is missing."""
    if settings.preset != "super_resolution":
        folder = data_dir(settings, experiment_dir)
        if settings.preset != "smoke" and not (folder / "test").is_dir():
            raise InputError(f"--data_dir={folder}: no test/ folder (a pix2pix dataset has "
                             "train/, val/ and test/)")
        return [TestSet("test", split="test")]
    if not settings.sr_test_dir:
        raise InputError("--preset=super_resolution needs --sr_test_dir: the SR test sets "
                         "(spl-data fetch sr_benchmarks)")
    root = Path(settings.sr_test_dir)
    found = [TestSet(name, lr_dir=str(root / name / f"X{SR_SCALE}" / "LR"),
                     hr_dir=str(root / name / f"X{SR_SCALE}" / "HR"))
             for name in SR_TEST_SETS if (root / name / f"X{SR_SCALE}" / "LR").is_dir()]
    if not found:
        raise InputError(f"--sr_test_dir={root}: none of {', '.join(SR_TEST_SETS)} with "
                         f"X{SR_SCALE}/LR and X{SR_SCALE}/HR (spl-data fetch sr_benchmarks)")
    return found


def prepare_data(settings: ExperimentSettings, experiment_dir: Path) -> None:
    """The smoke preset's pairs, built once (into a scratch folder renamed whole, so a
    kill leaves none or all of them)."""
    if settings.preset != "smoke":
        return
    from applications.pix2pix import demo

    folder = data_dir(settings, experiment_dir)
    if folder.is_dir():
        return
    import shutil

    scratch = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    demo.build_pairs(scratch, crops=SMOKE_CROPS)
    scratch.rename(folder)
