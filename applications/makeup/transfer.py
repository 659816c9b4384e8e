r"""Makeup transfer between any two face photos with a trained generator.

    python -m applications.makeup.transfer --model=RUN/model.keras \
        --source=me.jpg --reference=look.jpg --output=result.png
    python -m applications.makeup.transfer --model=RUN/export \
        --source=FACES/ --reference=LOOKS/ --output=OUT/ [--pairs=20 --seed=0]

Each photo's face is found and cropped as FCC does (dlib's frontal detector,
the first face, its box clipped to the photo), the reference face is warped
onto the source face (`fcc_dataset.align`, at `--image_size`), and the
generator turns [source, warped reference] into the source face wearing the
reference's makeup. Writes the result and a figure source | reference |
result (`result_figure.png` beside `result.png`; `OUT/figures/` for folders,
where results are named `<source>_<reference>.png`). A photo without a face is
an error naming it; in folders it is skipped with a warning. No input is ever
written over, and an output that exists is replaced only with `--overwrite` (a rerun
of the same folders and model finishes its folder: see `transfer.json` there).
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from absl import flags, logging

from applications.common import config as config_lib
from applications.common import outputs, plots
from applications.common.config import absolute_paths, check, option
from fcc_dataset import align, faces
from spl_tf.utils import cli, image_io, locks
from spl_tf.utils.errors import InputError

if TYPE_CHECKING:
    from applications.common.application import Predictor
    from applications.makeup.application import MakeupTransfer

FIGURE_TITLES = ("source", "reference", "result")


@dataclasses.dataclass(frozen=True)
class TransferSettings:
    model: str | None = option(None, "A .keras checkpoint or an exported SavedModel.", path=True)
    source: str | None = option(None, "A face photo without makeup, or a folder.", path=True)
    reference: str | None = option(None, "A face photo with makeup, or a folder.", path=True)
    output: str | None = option(None, "The result image (for two photos) or a folder.",
                                path=True)
    image_size: int | None = option(None, "Side of the faces the model sees (default: the "
                                    "run's --image_size when the model is in a run folder, "
                                    "else 256).")
    pairs: int | None = option(None, "With folders: this many random (source, reference) "
                               "pairs instead of every pair.")
    seed: int = option(0, "Seed of the random pairs.")
    overwrite: bool = option(False, "Replace an --output that exists (a result of other "
                             "photos or another model, or a file this command did not "
                             "write). An input is never replaced.")

    def __post_init__(self):
        absolute_paths(self)
        for name in ("model", "source", "reference", "output"):
            if not getattr(self, name):
                raise InputError(f"--{name} is required")
        if self.image_size is not None:
            check(self.image_size >= 1, "image_size", self.image_size, "must be >= 1")
            _application().check_sizes({"image_size": self.image_size})
        check(self.pairs is None or self.pairs >= 1, "pairs", self.pairs, "must be >= 1")
        check(0 <= self.seed < 2**32, "seed", self.seed, "must be in [0, 2**32 - 1]")


@dataclasses.dataclass(frozen=True)
class TransferConfig:
    transfer: TransferSettings


@dataclasses.dataclass(frozen=True)
class Transfer:
    """One result: the source face, the reference face, the output (uint8, S x S)."""

    source: np.ndarray
    reference: np.ndarray
    result: np.ndarray


def face(path: Path, image_size: int) -> align.Face:
    """The first face of the photo at `path`, cropped as FCC crops, resized to
    `image_size` and with its landmarks, ready to align."""
    image = image_io.read_rgb(path)
    if image is None:
        raise InputError(f"{path}: not a readable image")
    box = faces.detect_face(image)
    if box is None:
        raise InputError(f"{path}: no face found (dlib's frontal face detector); "
                         "use a photo with a frontal face")
    return align.prepare(faces.crop(image, box), image_size, str(path))


def transfer(predict: Predictor, source: align.Face,
             reference: align.Face) -> Transfer:
    """Apply the reference face's makeup to the source face."""
    aligned = align.align_faces(source, reference)
    x = np.concatenate([image_io.to_float(aligned.source), image_io.to_float(aligned.warped)],
                       axis=-1)[None]
    result = image_io.to_uint8(predict(x))[0]
    return Transfer(aligned.source, reference.image, result)


def write_figure(t: Transfer, path: Path) -> None:
    """source | reference | result, titled."""
    plots.image_table([[t.source, t.reference, t.result]], FIGURE_TITLES, path)


def run_files(predict, source: Path, reference: Path, output: Path, image_size: int,
              overwrite: bool = False) -> Path:
    """Two photos -> `output` and `<output stem>_figure.png`; returns the figure's path.

    Files that exist there are replaced only with `overwrite`."""
    figure_path = output.with_name(f"{output.stem}_figure.png")
    existing = [p for p in (output, figure_path) if p.exists()]
    if existing and not overwrite:
        raise InputError(f"{existing[0]} exists; give another --output, or --overwrite to "
                         "replace it")
    try:
        result = transfer(predict, face(source, image_size), face(reference, image_size))
    except align.AlignmentError as error:
        raise InputError(f"{source} + {reference}: {error}; try a larger --image_size") \
            from None
    image_io.write_rgb(output, result.result)
    write_figure(result, figure_path)
    return figure_path


RECORD = "transfer.json"


def run_folders(predict, sources: Path, references: Path, output: Path, image_size: int,
                pairs: int | None = None, seed: int = 0, provenance: dict | None = None,
                overwrite: bool = False) -> int:
    """Every (source, reference) pair, or `pairs` random ones; returns the count written.

    Each photo's face and landmarks are found once, however many pairs it is in. The
    results are named `<source>_<reference>.png`, distinct for every pair of names
    (`image_io.pair_names`). The output folder is claimed with `provenance`
    (`outputs.claim`, record `transfer.json`) once the faces are found.
    """
    source_faces = _faces_in(sources, image_size)
    reference_faces = _faces_in(references, image_size)
    combos = list(itertools.product(source_faces, reference_faces))
    if pairs is not None and pairs < len(combos):
        chosen = np.random.default_rng(seed).choice(len(combos), pairs, replace=False)
        combos = [combos[i] for i in sorted(chosen)]
    names = image_io.pair_names([(s, r) for (s, _), (r, _) in combos])
    with locks.hold(output, "--output", "transfer"):
        outputs.claim(output, RECORD, provenance or {}, [f"{n}.png" for n in names] + ["figures"],
                      overwrite, flag="--output", noun="results")
        written = 0
        for name, ((source_path, source), (reference_path, reference)) in zip(names, combos):
            try:
                result = transfer(predict, source, reference)
            except align.AlignmentError as error:
                logging.warning("skipping %s + %s: %s", source_path, reference_path, error)
                continue
            image_io.write_rgb(output / f"{name}.png", result.result)
            write_figure(result, output / "figures" / f"{name}.png")
            written += 1
    return written


def _faces_in(folder: Path, image_size: int) -> list[tuple[Path, align.Face]]:
    found = []
    for path in image_io.list_images(folder):
        try:
            found.append((path, face(path, image_size)))
        except InputError as error:
            logging.warning("skipping %s", error)
    if not found:
        raise InputError(f"{folder}: no photo with a detectable face")
    return found


def image_size_for(settings: TransferSettings) -> int:
    """The faces' side: given, else the run's, else the training default."""
    if settings.image_size is not None:
        return settings.image_size
    from applications.common import run_record

    record = run_record.for_prediction(Path(settings.model), None)
    if record is not None and record.get("application") == _application().name:
        return record["config"]["data"]["image_size"]
    return _application().train_config().data.image_size


def run(settings: TransferSettings) -> str:
    """Transfer as the settings say; returns what was written, in words."""
    from applications.common import prediction  # TensorFlow: only now

    source, reference, output = (Path(settings.source), Path(settings.reference),
                                 Path(settings.output))
    for flag, path in (("--source", source), ("--reference", reference)):
        if not path.exists():
            raise InputError(f"{flag}={path}: no such file or folder")
    if source.is_dir() != reference.is_dir():
        raise InputError("--source and --reference must both be photos or both be folders")
    reads = {"--model": Path(settings.model), "--source": source, "--reference": reference}
    image_size = image_size_for(settings)
    if source.is_dir():
        outputs.check_apart([output / RECORD, output / "figures"], reads,
                            image_folders=("--source", "--reference"))
        predict = prediction.load_predictor(Path(settings.model))
        provenance = {"model": settings.model, "images": f"{source} x {reference}",
                      "image_size": image_size, "pairs": settings.pairs, "seed": settings.seed}
        count = run_folders(predict, source, reference, output, image_size, settings.pairs,
                            settings.seed, provenance, settings.overwrite)
        return f"wrote {count} results to {output} (figures in {output / 'figures'})"
    outputs.check_apart([output, output.with_name(f"{output.stem}_figure.png")], reads)
    predict = prediction.load_predictor(Path(settings.model))
    figure_path = run_files(predict, source, reference, output, image_size, settings.overwrite)
    return f"wrote {output} and {figure_path}"


def _application() -> MakeupTransfer:
    """The makeup application, imported when used: --help needs no TensorFlow."""
    from applications.makeup.application import MakeupTransfer
    return MakeupTransfer()


def define_flags(flag_values: flags.FlagValues) -> None:
    config_lib.define_flags(TransferConfig, flag_values,
                            required=("model", "source", "reference", "output"))


def main() -> None:
    faces.require()  # before TensorFlow is imported: a missing extra in a second
    cli.import_quietly("tensorflow")
    print(run(config_lib.from_flags(TransferConfig, flags.FLAGS).transfer))


def entry_point() -> None:
    cli.run(main, define_flags)


if __name__ == "__main__":
    entry_point()
