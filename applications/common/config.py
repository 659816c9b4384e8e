"""Typed settings of a run: dataclasses are the single source of every default.

An application's config is a frozen dataclass of sections (`data`, `model`,
`training`, `runtime`; `prediction` and `data` for predict). Each leaf field of a
section is one command-line flag of the same name, defined by `define_flags` when a
command starts, never on import, and listed under its section by `--help` (this module
imports no TensorFlow, so that help needs none). A field's metadata (see `option`)
carries its help text, its choices, whether it may change when a run resumes, and
whether it names a path. Values are checked in `__post_init__`, so a config built in
Python is checked exactly as one built from flags, before anything is built or read.
"""

from __future__ import annotations

import dataclasses
import json
import math
import typing
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from absl import flags

from applications.common import loss_expressions
from spl_tf.utils.cli import REQUIRED
from spl_tf.utils.errors import InputError


def option(default: Any, help: str, *, choices: tuple[str, ...] | None = None,
           resumable: bool = False, path: bool = False) -> Any:
    """A config field that is also a flag.

    resumable: the setting may change when a run is resumed (epochs, logging,
        where it runs); any other change is refused (see `run_record`).
    path: a file or folder; stored absolute, so a run compares the same place.
    """
    return dataclasses.field(default=default, metadata={
        "help": help, "choices": choices, "resumable": resumable, "path": path})


def check(ok: bool, name: str, value: Any, expected: str) -> None:
    """InputError `--name=value: expected` unless `ok`."""
    if not ok:
        raise InputError(f"--{name}={value}: {expected}")


def check_choice(config: Any, name: str) -> None:
    value = getattr(config, name)
    choices = _metadata(config, name)["choices"]
    check(value in choices, name, value, f"must be one of {', '.join(choices)}")


def absolute_paths(section: Any) -> None:
    """Make the path fields of a (frozen) section absolute, in `__post_init__`."""
    for field in dataclasses.fields(section):
        value = getattr(section, field.name)
        if field.metadata.get("path") and value:
            object.__setattr__(section, field.name, str(Path(value).expanduser().absolute()))


# ---------------------------------------------------------------- shared sections


@dataclasses.dataclass(frozen=True)
class TrainingConfig:
    """Optimiser, schedule and loop: the original's Adam 2e-4, x0.96 per epoch."""

    batch_size: int = option(16, "Global batch size (split over the devices).")
    epochs: int = option(50, "Epochs to train in all, counting resumed ones.", resumable=True)
    learning_rate: float = option(2e-4, "Adam learning rate.")
    beta_1: float = option(0.9, "Adam beta_1.")
    lr_decay_rate: float = option(0.96, "Learning-rate factor per epoch (staircase), in (0, 1].")
    fixed_learning_rate: bool = option(False, "Do not decay the learning rate.")
    seed: int = option(0, "Random seed: weights, shuffling, augmentation.")
    deterministic: bool = option(
        False, "Bit-identical runs for the same command on the same machine (TensorFlow "
        "op determinism, in-order tf.data); slower.", resumable=True)
    verbose: int = option(1, "Progress output: 0 none, 1 a progress bar, 2 a line per epoch.",
                          resumable=True)

    def __post_init__(self):
        check(self.batch_size >= 1, "batch_size", self.batch_size, "must be >= 1")
        check(self.epochs >= 1, "epochs", self.epochs, "must be >= 1")
        check(math.isfinite(self.learning_rate) and self.learning_rate > 0, "learning_rate",
              self.learning_rate, "must be a finite number > 0")
        check(0 <= self.beta_1 < 1, "beta_1", self.beta_1, "must be in [0, 1)")
        check(0 < self.lr_decay_rate <= 1, "lr_decay_rate", self.lr_decay_rate,
              "must be in (0, 1]")
        check(0 <= self.seed < 2**32, "seed", self.seed, "must be in [0, 2**32 - 1]")
        check(self.verbose in (0, 1, 2), "verbose", self.verbose, "must be 0, 1 or 2")


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """Where and how the steps run; free to change when a run resumes (but precision)."""

    strategy: str = option("default", "Distribution strategy.",
                           choices=("default", "data_parallel", "mirrored", "tpu"),
                           resumable=True)
    tpu: str = option("", "TPU address, or 'local' on a TPU VM (with --strategy=tpu).",
                      resumable=True)
    mixed_precision: str = option("none", "Mixed precision policy.",
                                  choices=("none", "bfloat16", "float16"))
    jit_compile: str = option("auto", "XLA-compile the train step.",
                              choices=("auto", "true", "false"), resumable=True)
    steps_per_execution: int = option(1, "Train steps per compiled call.", resumable=True)
    coordinator_address: str = option(
        "", "Multi-host data parallel (JAX): HOST:PORT of process 0, the same for every "
        "process; 'auto' lets JAX find the cluster (TPU pods, SLURM). Empty: one process.",
        resumable=True)
    num_processes: int = option(0, "Processes in all (with --coordinator_address=HOST:PORT).",
                                resumable=True)
    process_id: int = option(0, "This process's index, 0 to --num_processes - 1; process 0 "
                             "writes the run folder.", resumable=True)

    def __post_init__(self):
        for name in ("strategy", "mixed_precision", "jit_compile"):
            check_choice(self, name)
        check(self.steps_per_execution >= 1, "steps_per_execution", self.steps_per_execution,
              "must be >= 1")
        # Keras 3 on TensorFlow cannot XLA-compile a MirroredStrategy step.
        check(not (self.jit_compile == "true" and self.strategy == "mirrored"), "jit_compile",
              self.jit_compile, "does not work with --strategy=mirrored; use auto")
        check(self.strategy != "tpu" or bool(self.tpu), "tpu", self.tpu,
              "--strategy=tpu needs --tpu (an address, or 'local' on a TPU VM)")
        if self.coordinator_address:
            check(self.strategy == "data_parallel", "coordinator_address",
                  self.coordinator_address, "needs --strategy=data_parallel")
        if self.coordinator_address not in ("", "auto"):
            check(self.num_processes >= 1, "num_processes", self.num_processes,
                  "must be >= 1 with --coordinator_address=HOST:PORT")
            check(0 <= self.process_id < self.num_processes, "process_id", self.process_id,
                  f"must be in [0, {self.num_processes - 1}] (--num_processes="
                  f"{self.num_processes})")


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """The ResNet-9 generator of pix2pix and makeup transfer."""

    ngf: int = option(64, "Generator width (filters of the first layer).")
    num_blocks: int = option(9, "Residual blocks of the generator: 9 is the original's "
                             "ResNet-9; fewer make a smaller, faster model (6 is the other "
                             "common choice).")
    batch_stats_at_inference: bool = option(
        True, "Normalise with the current batch's statistics at inference too, as the "
        "original did (its batch norms never received a training flag). "
        "--nobatch_stats_at_inference uses the moving averages, the standard mode.")

    def __post_init__(self):
        check(self.ngf >= 1, "ngf", self.ngf, "must be >= 1")
        check(self.num_blocks >= 1, "num_blocks", self.num_blocks, "must be >= 1")


@dataclasses.dataclass(frozen=True)
class LossConfig:
    """The reconstruction loss of the output against the target (SR has it alone)."""

    loss: str = option("spl", "Reconstruction loss of the output against the target: spl "
                       "(the paper's), l1 (pix2pix's) or an expression of losses such as "
                       "'SPL + 0.1 * ContextualLoss(weights=\"imagenet\")' (see "
                       "applications.common.loss_expressions).")

    def __post_init__(self):
        loss_expressions.check(self.loss)


@dataclasses.dataclass(frozen=True)
class ObjectiveConfig(LossConfig):
    """What the generator learns from: a reconstruction loss (the paper: SPL alone) and,
    opt in, a conditional discriminator (see `applications.common.adversarial`).

    pix2pix's baseline is `--loss=l1 --loss_weight=100 --adversarial=patchgan` (with its
    `--beta_1=0.5`); pix2pixHD's discriminators `--adversarial=multiscale --gan_mode=lsgan`.
    A run made before these settings existed has the defaults: SPL alone.
    """

    loss_weight: float = option(1.0, "Weight of the reconstruction loss (pix2pix: L1 x 100).")
    adversarial: str = option(
        "none", "Train against a conditional discriminator: none (the paper: the "
        "reconstruction loss alone), patchgan (pix2pix's 70x70 PatchGAN) or multiscale "
        "(pix2pixHD's multi-scale discriminators, with feature matching).",
        choices=("none", "patchgan", "multiscale"))
    gan_mode: str = option("vanilla", "Adversarial objective: vanilla (cross-entropy, "
                           "pix2pix's), lsgan (least squares, pix2pixHD's) or hinge.",
                           choices=("vanilla", "lsgan", "hinge"))
    adversarial_weight: float = option(1.0, "Weight of the generator's adversarial loss.")
    feature_matching_weight: float = option(
        10.0, "With --adversarial=multiscale: weight of the discriminator feature-matching "
        "loss (pix2pixHD's lambda_feat); 0 leaves it out.")
    num_discriminators: int = option(2, "With --adversarial=multiscale: discriminators, "
                                     "each at half the scale of the one before (num_D).")
    ndf: int = option(64, "Discriminator width (filters of its first layer).")
    discriminator_layers: int = option(3, "Stride-2 convolutions of a discriminator "
                                       "(n_layers_D): 3 sees 70x70-pixel patches.")

    def __post_init__(self):
        super().__post_init__()
        for name in ("adversarial", "gan_mode"):
            check_choice(self, name)
        for name in ("loss_weight", "adversarial_weight", "feature_matching_weight"):
            value = getattr(self, name)
            check(math.isfinite(value) and value >= 0, name, value, "must be a finite number >= 0")
        for name in ("num_discriminators", "ndf", "discriminator_layers"):
            check(getattr(self, name) >= 1, name, getattr(self, name), "must be >= 1")
        check(self.loss_weight > 0 or self.adversarial != "none", "loss_weight",
              self.loss_weight, "must be > 0 with --adversarial=none (nothing to learn from)")


@dataclasses.dataclass(frozen=True)
class PairData:
    """Where `[left | right]` pair images are and the size the model sees them at
    (`applications.common.pairs` reads them)."""

    data_dir: str | None = option(None, "Dataset folder: train/, val/, test/ of pair images.",
                                  path=True)
    image_size: int = option(256, "Height and width of each half, resized to it.")

    def __post_init__(self):
        absolute_paths(self)
        check(self.image_size >= 1, "image_size", self.image_size, "must be >= 1")

    def folder(self) -> Path:
        if not self.data_dir:
            raise InputError("--data_dir is required (the folder of pair images)")
        return Path(self.data_dir)


@dataclasses.dataclass(frozen=True)
class PredictionConfig:
    """What to predict with and where to write: shared by every predict command."""

    model_dir: str | None = option(None, "A training run's folder: its model.keras and "
                                   "config.json (for the data settings) are used.", path=True)
    checkpoint: str | None = option(None, "A .keras checkpoint or an exported SavedModel "
                                    "folder (default: MODEL_DIR/model.keras).", path=True)
    output_dir: str | None = option(None, "Where to write (default: "
                                    "MODEL_DIR/predictions/SPLIT).", path=True)
    split: str | None = option(None, "The split of --data_dir to predict.")
    input_dir: str | None = option(None, "A folder of images to predict instead of a split.",
                                   path=True)
    batch_size: int = option(16, "Images per prediction batch.")
    overwrite: bool = option(False, "Replace the predictions in --output_dir when they come "
                             "from another checkpoint or other images.")

    def __post_init__(self):
        absolute_paths(self)
        check(self.batch_size >= 1, "batch_size", self.batch_size, "must be >= 1")
        if not (self.checkpoint or self.model_dir):
            raise InputError("give --checkpoint (a .keras file or an exported SavedModel) "
                             "or --model_dir (a training run)")
        if not (self.output_dir or self.model_dir):
            raise InputError("give --output_dir (or --model_dir to write into the run)")


METRICS = ("psnr", "ssim", "lpips", "fid", "kid")


@dataclasses.dataclass(frozen=True)
class EvaluationConfig:
    """Which metrics to report and where the learned ones' weights come from: shared by
    spl-eval and the predict commands (`applications.common.evaluation`)."""

    metrics: str = option(
        "psnr,ssim", "Comma-separated, of psnr, ssim, lpips (each prediction against the "
        "target of its name; means over the images), fid, kid (the predictions and the "
        "targets as two sets). lpips, fid and kid need weights (see --weights_dir).")
    lpips_net: str = option("alex", "LPIPS backbone, the reference's net=: alex or vgg.",
                            choices=("alex", "vgg"))
    weights_dir: str | None = option(
        None, "Folder of the published weight files under their own names (torchvision's "
        "backbone and lpips's heads, pytorch-fid's Inception), checked against the published "
        "digests; those missing are downloaded into it. Default: $SPL_TF_CACHE/weights "
        "(~/.cache/spl_tf/weights).", path=True)
    lpips_weights: str = option(
        "", "LPIPS weights instead of the published ones: PyTorch files, comma-separated, "
        "holding the backbone and the v0.1 heads (read without PyTorch; no digest checked).")
    inception_weights: str | None = option(
        None, "FID and KID's Inception-v3 instead of the published one: a PyTorch file of "
        "pytorch-fid's tensors (read without PyTorch; no digest checked).", path=True)
    kid_subset_size: int = option(1000, "KID: images per subset (torch-fidelity's 1000); "
                                  "each set needs at least as many.")
    kid_subsets: int = option(100, "KID: subsets drawn (torch-fidelity's 100).")

    def __post_init__(self):
        absolute_paths(self)
        names = [name.strip().lower() for name in self.metrics.split(",") if name.strip()]
        unknown = [name for name in names if name not in METRICS]
        check(bool(names) and not unknown, "metrics", self.metrics,
              f"expected a comma-separated list of {', '.join(METRICS)}"
              + (f" ({', '.join(unknown)} unknown)" if unknown else ""))
        object.__setattr__(self, "metrics", ",".join(dict.fromkeys(names)))  # once each
        check_choice(self, "lpips_net")
        paths = [path.strip() for path in self.lpips_weights.split(",") if path.strip()]
        object.__setattr__(self, "lpips_weights", ",".join(
            str(Path(path).expanduser().absolute()) for path in paths))
        check(self.kid_subset_size >= 2, "kid_subset_size", self.kid_subset_size,
              "must be >= 2 (the unbiased MMD divides by m (m - 1))")
        check(self.kid_subsets >= 1, "kid_subsets", self.kid_subsets, "must be >= 1")

    @property
    def names(self) -> tuple[str, ...]:
        """The metrics asked for, in the order given."""
        return tuple(self.metrics.split(","))



# ---------------------------------------------------------------- config <-> flags


def sections(config_class: type) -> dict[str, type]:
    """The section classes of a config class, by field name."""
    hints = typing.get_type_hints(config_class)
    return {f.name: hints[f.name] for f in dataclasses.fields(config_class)}


def leaves(config_class: type) -> Iterator[tuple[str, dataclasses.Field, type]]:
    """(section name, field, field type) of every flag of a config class."""
    for section, section_class in sections(config_class).items():
        hints = typing.get_type_hints(section_class)
        for field in dataclasses.fields(section_class):
            yield section, field, hints[field.name]


def define_flags(config_class: type, flag_values: flags.FlagValues,
                 defaults: Any | None = None, required: Collection[str] = ()) -> None:
    """One flag per leaf field, its default the field's (or `defaults`'s, an instance).

    Each flag is registered under its section's name, which `--help` shows as the
    heading of its flags; those in `required` are marked so (the command checks them:
    a field may be required by one command and not by another, `--data_dir` by
    training but not by prediction, which takes the run's).
    """
    seen: dict[str, str] = {}
    for section, field, kind in leaves(config_class):
        if field.name in seen:
            raise TypeError(f"{config_class.__name__}: {field.name} is in both "
                            f"{seen[field.name]} and {section}; flag names must be unique")
        seen[field.name] = section
        default = field.default if defaults is None else getattr(
            getattr(defaults, section), field.name)
        help_text = field.metadata["help"]
        if field.name in required:
            help_text = f"{REQUIRED} {help_text}"
        _define(field.name, kind, default, help_text, field.metadata["choices"],
                {"flag_values": flag_values, "module_name": section})


def _define(name: str, kind: type, default: Any, help_text: str,
            choices: tuple[str, ...] | None, where: dict[str, Any]) -> None:
    base = _base_type(kind)
    if choices:
        flags.DEFINE_enum(name, default, list(choices), help_text, **where)
    elif base is bool:
        flags.DEFINE_boolean(name, default, help_text, **where)
    elif base is int:
        flags.DEFINE_integer(name, default, help_text, **where)
    elif base is float:
        flags.DEFINE_float(name, default, help_text, **where)
    elif base is str:
        flags.DEFINE_string(name, default, help_text, **where)
    else:
        raise TypeError(f"no flag type for {name}: {kind}")


def _base_type(kind: type) -> type:
    """`int` for `int` and `int | None`, and so on."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    return args[0] if args else kind


def from_flags(config_class: type, flag_values: flags.FlagValues) -> Any:
    """The config the parsed flags describe (checked by each section)."""
    return from_dict(config_class, {
        section: {f.name: flag_values[f.name].value for f in dataclasses.fields(cls)}
        for section, cls in sections(config_class).items()})


def given(config_class: type, flag_values: flags.FlagValues) -> set[str]:
    """The names of the flags given on the command line."""
    return {f.name for _, f, _ in leaves(config_class) if flag_values[f.name].present}


def from_dict(config_class: type, values: dict[str, dict[str, Any]]) -> Any:
    """A config from `{section: {field: value}}` (as `to_dict` or config.json has it).

    Every value is checked for its field's type (an integer where an int goes, a number
    for a float, true/false for a bool...), then each section checks its ranges.
    """
    built = {}
    for section, cls in sections(config_class).items():
        given_values = values.get(section, {})
        if not isinstance(given_values, dict):
            raise InputError(f"section {section} is {given_values!r}, not a set of settings")
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(given_values) - known)
        if unknown:
            raise InputError(f"unknown settings in section {section}: {', '.join(unknown)}")
        built[section] = cls(**{name: _typed(name, value, hints[name])
                                for name, value in given_values.items()})
    return config_class(**built)


_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def _typed(name: str, value: Any, kind: type) -> Any:
    """`value` as the field's type; InputError `--name=value: expected ...` if it is not one."""
    optional = type(None) in typing.get_args(kind)
    base = _base_type(kind)
    if value is None and optional:
        return value
    # bool is an int to Python, but `"batch_size": true` is not a batch size.
    ok = (isinstance(value, base) and not (base is int and isinstance(value, bool))
          or base is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        expected = _TYPE_NAMES.get(base, base.__name__) + (" or null" if optional else "")
        raise InputError(f"--{name}={json.dumps(value, default=repr)}: expected {expected}")
    return float(value) if base is float else value


def merge(base: Any, override: Any, names: set[str]) -> Any:
    """`base` with the flags in `names` taken from `override` (same config class)."""
    values = to_dict(base)
    for section, fields in to_dict(override).items():
        values[section].update({k: v for k, v in fields.items() if k in names})
    return from_dict(type(base), values)


def to_dict(config: Any) -> dict[str, dict[str, Any]]:
    return dataclasses.asdict(config)


def flat(config: Any) -> dict[str, Any]:
    """`{flag name: value}` of a config."""
    return {name: value for section in to_dict(config).values() for name, value in section.items()}


def resumable(config_class: type) -> set[str]:
    """The flags that may change when a run resumes."""
    return {f.name for _, f, _ in leaves(config_class) if f.metadata["resumable"]}


def _metadata(config: Any, name: str) -> dict:
    return {f.name: f.metadata for f in dataclasses.fields(config)}[name]
