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
an error naming it; in folders it is skipped with a warning.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np
from absl import logging

from applications.common import errors, image_io, prediction
from applications.common.errors import InputError
from applications.makeup import model  # noqa: F401  (registers the loss and layers)
from applications.makeup.flags import FLAGS
from fcc_dataset import align, faces


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


def transfer(predict: prediction.Predictor, source: align.Face,
             reference: align.Face) -> Transfer:
    """Apply the reference face's makeup to the source face."""
    aligned = align.align_faces(source, reference)
    x = np.concatenate([image_io.to_float(aligned.source), image_io.to_float(aligned.warped)],
                       axis=-1)[None]
    result = image_io.to_uint8(predict(x))[0]
    return Transfer(aligned.source, reference.image, result)


def figure(t: Transfer) -> np.ndarray:
    return image_io.image_grid([[t.source, t.reference, t.result]])


def run_files(predict, source: Path, reference: Path, output: Path, image_size: int) -> Path:
    """Two photos -> `output` and `<output stem>_figure.png`; returns the figure's path."""
    result = transfer(predict, face(source, image_size), face(reference, image_size))
    image_io.write_rgb(output, result.result)
    figure_path = output.with_name(f"{output.stem}_figure{output.suffix or '.png'}")
    image_io.write_rgb(figure_path, figure(result))
    return figure_path


def run_folders(predict, sources: Path, references: Path, output: Path, image_size: int,
                pairs: int | None = None, seed: int = 0) -> int:
    """Every (source, reference) pair, or `pairs` random ones; returns the count written.

    Each photo's face and landmarks are found once, however many pairs it is in.
    """
    source_faces = _faces_in(sources, image_size)
    reference_faces = _faces_in(references, image_size)
    combos = list(itertools.product(source_faces, reference_faces))
    if pairs is not None and pairs < len(combos):
        chosen = np.random.default_rng(seed).choice(len(combos), pairs, replace=False)
        combos = [combos[i] for i in sorted(chosen)]
    for (source_name, source), (reference_name, reference) in combos:
        result = transfer(predict, source, reference)
        name = f"{source_name}_{reference_name}.png"
        image_io.write_rgb(output / name, result.result)
        image_io.write_rgb(output / "figures" / name, figure(result))
    return len(combos)


def _faces_in(folder: Path, image_size: int) -> list[tuple[str, align.Face]]:
    found = []
    for path in image_io.list_images(folder):
        try:
            found.append((path.stem, face(path, image_size)))
        except InputError as error:
            logging.warning("skipping %s", error)
    if not found:
        raise InputError(f"{folder}: no photo with a detectable face")
    return found


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise InputError(f"unexpected arguments {argv[1:]}; flags look like --name=value")
    for name in ("model", "source", "reference", "output"):
        if not getattr(FLAGS, name):
            raise InputError(f"--{name} is required")
    if FLAGS.image_size % 4:
        raise InputError(f"--image_size={FLAGS.image_size} must be divisible by 4")
    source, reference, output = Path(FLAGS.source), Path(FLAGS.reference), Path(FLAGS.output)
    for flag, path in (("--source", source), ("--reference", reference)):
        if not path.exists():
            raise InputError(f"{flag}={path}: no such file or folder")
    if source.is_dir() != reference.is_dir():
        raise InputError("--source and --reference must both be photos or both be folders")
    predict = prediction.load_predictor(Path(FLAGS.model))
    if source.is_dir():
        count = run_folders(predict, source, reference, output, FLAGS.image_size,
                            FLAGS.pairs, FLAGS.seed)
        print(f"wrote {count} results to {output} (figures in {output / 'figures'})")
    else:
        figure_path = run_files(predict, source, reference, output, FLAGS.image_size)
        print(f"wrote {output} and {figure_path}")


def entry_point() -> None:
    errors.run(main)


if __name__ == "__main__":
    entry_point()
