r"""Aligned makeup pairs: each source face beside makeup references warped onto it.

    python -m fcc_dataset.pairs --sources=FacialCosmeticContent/LR/NoMakeup \
        --references=FacialCosmeticContent/LR/AnyMakeup --output_dir=PAIRS \
        [--pairs=5] [--image_size=256] [--seed=0] [--jobs=1]

For every source image, `--pairs` distinct references are drawn at random (never one
with the source's own name); both are resized to `--image_size`, the reference is warped
onto the source through their 68 dlib landmarks (`fcc_dataset.align`), and
`[source | warped reference]` is saved as `<source stem><reference stem>.jpg`.
The draw depends only on `--seed` and the file names, not on `--jobs`. Outputs that exist
are skipped (they are written atomically), so an interrupted run resumes; one run at a
time writes to a folder (`OUTPUT_DIR/.lock`), and it deletes the temp files of a killed
one. Worker processes end with the run, however it ends. Faces dlib
does not find are fitted to the whole image, as in the original, and listed at the end.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import zlib
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from absl import flags, logging

from fcc_dataset import align, faces, processes
from spl_tf.utils import cli, extras, image_io, locks
from spl_tf.utils.errors import InputError
from spl_tf.utils.faults import fault_point

# Smaller, a face crop's face is too small for dlib's detector even upsampled once.
MIN_IMAGE_SIZE = 64
# How many file names the summary shows per list.
NAMES_SHOWN = 10


@dataclasses.dataclass
class PairsReport:
    """What a run did. File lists hold paths as strings, sorted; counts are their lengths."""

    written: int = 0
    skipped_existing: int = 0
    failed: list[str] = dataclasses.field(default_factory=list)
    unreadable: list[str] = dataclasses.field(default_factory=list)
    sources_without_face: list[str] = dataclasses.field(default_factory=list)
    references_without_face: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.written} pairs written, {self.skipped_existing} already there"]
        for label, names in (
            ("pairs failed", self.failed),
            ("unreadable images (skipped)", self.unreadable),
            ("sources where dlib found no face (whole image used)", self.sources_without_face),
            ("references where dlib found no face (whole image used)",
             self.references_without_face),
        ):
            if names:
                shown = ", ".join(names[:NAMES_SHOWN])
                hidden = len(names) - NAMES_SHOWN
                more = f", ... ({hidden} more)" if hidden > 0 else ""
                lines.append(f"{len(names)} {label}: {shown}{more}")
        return "\n".join(lines)


@dataclasses.dataclass(frozen=True)
class _Task:
    """One source and the pairs still to write for it."""

    source: Path
    references: tuple[Path, ...]
    outputs: tuple[Path, ...]


@dataclasses.dataclass
class _Outcome:
    """What a worker did for one task; `attempted` counts the task's planned pairs."""

    attempted: int = 0
    written: int = 0
    failed: list[str] = dataclasses.field(default_factory=list)
    unreadable: set[Path] = dataclasses.field(default_factory=set)
    sources_without_face: set[Path] = dataclasses.field(default_factory=set)
    references_without_face: set[Path] = dataclasses.field(default_factory=set)


def make_pairs(
    sources: Path,
    references: Path,
    output_dir: Path,
    pairs: int,
    image_size: int = 256,
    seed: int = 0,
    jobs: int = 1,
) -> PairsReport:
    """Write up to `pairs` aligned pairs per image of `sources` into `output_dir`.

    The work runs in `jobs` spawned worker processes, so a calling script needs the
    `if __name__ == "__main__":` guard. Raises InputError for unusable folders or
    settings, and its subclass MissingExtra without the [makeup] extra; unreadable
    images and failed warps are skipped, logged and reported.
    """
    extras.require("makeup", *faces.MODULES, "tqdm")
    sources, references, output_dir = Path(sources), Path(references), Path(output_dir)
    _check_settings(pairs, image_size, seed, jobs)
    source_files = _images(sources, "sources")
    reference_files = _images(references, "references")
    _check_output_dir(output_dir, sources, references)
    # One run per folder, so that the temp files a killed run left can be deleted
    # (another live run's would be in use).
    with locks.hold(output_dir, "--output_dir", "pairs run"):
        _remove_temp_files(output_dir)
        return _write_pairs(source_files, reference_files, output_dir, pairs, image_size,
                            seed, jobs)


def _remove_temp_files(output_dir: Path) -> None:
    """Delete the `.*.tmp` files of writes a kill interrupted (see `spl_tf.utils.files`)."""
    for stale in output_dir.glob(".*.tmp"):
        stale.unlink(missing_ok=True)


def _write_pairs(source_files: list[Path], reference_files: list[Path], output_dir: Path,
                 pairs: int, image_size: int, seed: int, jobs: int) -> PairsReport:
    report = PairsReport()
    tasks = []
    for task, existing in _plan(source_files, reference_files, output_dir, pairs, seed):
        report.skipped_existing += existing
        if task.outputs:
            tasks.append(task)

    from tqdm import tqdm  # an optional dependency (see extras)

    totals = _Outcome()
    bar = tqdm(total=sum(len(t.outputs) for t in tasks), unit="pair", desc="pairs", disable=None)
    with bar:
        for outcome in _run(tasks, image_size, jobs):
            for path in outcome.unreadable - totals.unreadable:
                logging.warning("%s: not a readable image; its pairs are skipped", path)
            for line in outcome.failed:
                logging.warning("%s", line)
            _merge(totals, outcome)
            bar.update(outcome.attempted)
            fault_point("pairs:source")  # between sources, in the parent
    report.written = totals.written
    report.failed = sorted(totals.failed)
    report.unreadable = sorted(map(str, totals.unreadable))
    report.sources_without_face = sorted(map(str, totals.sources_without_face))
    report.references_without_face = sorted(map(str, totals.references_without_face))
    return report


def choose_references(source: Path, references: list[Path], pairs: int, seed: int) -> list[Path]:
    """`min(pairs, available)` distinct references for `source`, never one with its stem.

    Seeded by `seed` and a CRC of the source's file name, so the draw does not depend on
    the order sources are processed in or on how many workers there are.
    """
    candidates = [r for r in references if r.stem != source.stem]
    rng = np.random.default_rng([seed, zlib.crc32(source.name.encode())])
    picks = rng.choice(len(candidates), size=min(pairs, len(candidates)), replace=False)
    return [candidates[i] for i in picks]


def output_name(source: Path, reference: Path) -> str:
    """The original's pair name: the two stems run together, as JPEG."""
    return f"{source.stem}{reference.stem}.jpg"


def _check_settings(pairs: int, image_size: int, seed: int, jobs: int) -> None:
    if pairs < 1:
        raise InputError(f"--pairs must be at least 1 (pairs per source), got {pairs}")
    if image_size < MIN_IMAGE_SIZE:
        raise InputError(
            f"--image_size must be at least {MIN_IMAGE_SIZE} for dlib to find faces, "
            f"got {image_size}"
        )
    if seed < 0:
        raise InputError(f"--seed must be non-negative, got {seed}")
    if jobs < 1:
        raise InputError(f"--jobs must be at least 1 (worker processes), got {jobs}")


def _images(folder: Path, flag: str) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"--{flag}={folder}: no such folder")
    files = image_io.list_images(folder)
    if not files:
        raise InputError(f"--{flag}={folder}: no PNG or JPEG images in the folder")
    return files


def _check_output_dir(output_dir: Path, sources: Path, references: Path) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError(f"--output_dir={output_dir} exists and is not a folder")
    for flag, folder in (("sources", sources), ("references", references)):
        # Pairs written among the inputs would be read as inputs by the next run.
        if output_dir.resolve() == folder.resolve():
            raise InputError(
                f"--output_dir={output_dir} is the --{flag} folder; write the pairs elsewhere"
            )


def _plan(
    source_files: list[Path], reference_files: list[Path], output_dir: Path, pairs: int, seed: int
) -> Iterator[tuple[_Task, int]]:
    """Per source: the pairs still to write, and how many already exist."""
    names_taken: set[str] = set()
    for source in source_files:
        chosen, outputs, existing = [], [], 0
        for reference in choose_references(source, reference_files, pairs, seed):
            name = output_name(source, reference)
            if name.casefold() in names_taken:
                # Stems can run together ambiguously ("a"+"bc", "ab"+"c"), or differ in case
                # only (one file on macOS and Windows): the first one wins.
                logging.warning("%s + %s: the name %s is taken by another pair; skipped",
                                source, reference, name)
                continue
            names_taken.add(name.casefold())
            if (output_dir / name).exists():
                existing += 1
                continue
            chosen.append(reference)
            outputs.append(output_dir / name)
        yield _Task(source, tuple(chosen), tuple(outputs)), existing


def _run(tasks: list[_Task], image_size: int, jobs: int) -> Iterator[_Outcome]:
    """The outcomes of `tasks` from `jobs` worker processes, as they finish.

    Workers even for one job: they start with one-thread BLAS (see below), which the
    calling process may not have, so `--jobs` changes only the number of processes.
    """
    if not tasks:
        return
    # Spawned (the caller may hold threads a fork breaks), and ending with this process
    # even when it is SIGKILLed: made, used and terminated here, in one thread that
    # outlives them (see processes).
    with _single_threaded_children():
        pool = processes.pool(min(jobs, len(tasks)), _init_worker, (image_size,))
    with pool:
        yield from pool.imap_unordered(_run_in_worker, tasks)


@contextlib.contextmanager
def _single_threaded_children() -> Iterator[None]:
    """Processes started inside inherit one-thread BLAS and OpenMP, unless set otherwise.

    The processes are the parallelism; and OpenBLAS threads make scipy's Delaunay
    barycentric transforms (inside every piecewise-affine warp) several times slower
    on a busy machine (scipy/scipy#23854). The variables are read when BLAS loads, so
    they must be in the environment the workers start with.
    """
    added = [n for n in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
             if n not in os.environ]
    os.environ.update(dict.fromkeys(added, "1"))
    try:
        yield
    finally:
        for name in added:
            del os.environ[name]


_WORKER_ALIGNER: _Aligner | None = None


def _init_worker(image_size: int) -> None:
    global _WORKER_ALIGNER
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which ends the pool
    cv2.setNumThreads(1)  # the processes are the parallelism
    _WORKER_ALIGNER = _Aligner(image_size)


def _run_in_worker(task: _Task) -> _Outcome:
    return _WORKER_ALIGNER.run(task)


class _Aligner:
    """Aligns one source with its references, remembering every reference's landmarks:
    a reference serves many sources, and finding the face costs more than reading it."""

    def __init__(self, image_size: int) -> None:
        self.image_size = image_size
        self._landmarks: dict[Path, tuple[np.ndarray, bool]] = {}

    def run(self, task: _Task) -> _Outcome:
        outcome = _Outcome(attempted=len(task.outputs))
        source = self._face(task.source, outcome, cache=False)
        if source is None:
            return outcome
        if not source.found:
            outcome.sources_without_face.add(task.source)
        for path, output in zip(task.references, task.outputs):
            reference = self._face(path, outcome, cache=True)
            if reference is None:
                continue
            if not reference.found:
                outcome.references_without_face.add(path)
            try:
                alignment = align.align_faces(source, reference)
            except align.AlignmentError as error:
                outcome.failed.append(f"{task.source} + {path}: {error}")
                continue
            image_io.write_rgb(output, align.pair_image(alignment))
            outcome.written += 1
            fault_point("pairs:pair")  # a kill here leaves a source's pairs half written
        return outcome

    def _face(self, path: Path, outcome: _Outcome, cache: bool) -> align.Face | None:
        image = image_io.read_rgb(path)
        if image is None:
            outcome.unreadable.add(path)
            return None
        if path in self._landmarks:
            return align.Face(align.resize(image, self.image_size), *self._landmarks[path])
        face = align.prepare(image, self.image_size, str(path))
        if cache:
            self._landmarks[path] = (face.points, face.found)
        return face


def _merge(totals: _Outcome, outcome: _Outcome) -> None:
    totals.written += outcome.written
    totals.failed += outcome.failed
    totals.unreadable |= outcome.unreadable
    totals.sources_without_face |= outcome.sources_without_face
    totals.references_without_face |= outcome.references_without_face


def define_flags(flag_values: flags.FlagValues) -> None:
    """The flags of this command, defined when it runs (importing defines none)."""
    fv = {"flag_values": flag_values, "module_name": "pairs"}
    flags.DEFINE_string("sources", None,
                        f"{cli.REQUIRED} Folder of source faces, e.g. LR/NoMakeup.", **fv)
    flags.DEFINE_string("references", None,
                        f"{cli.REQUIRED} Folder of makeup references, e.g. LR/AnyMakeup.", **fv)
    flags.DEFINE_string("output_dir", None, f"{cli.REQUIRED} Where the pair images go.", **fv)
    flags.DEFINE_integer("pairs", 5, "References per source.", **fv)
    flags.DEFINE_integer("image_size", 256, "Side of each half of a pair, in pixels.", **fv)
    flags.DEFINE_integer("seed", 0, "Seed of the reference draw.", **fv)
    flags.DEFINE_integer("jobs", 1, "Worker processes.", **fv)


def main() -> None:
    values = flags.FLAGS
    for name in ("sources", "references", "output_dir"):
        if not values[name].value:
            raise InputError(f"--{name} is required")
    report = make_pairs(
        Path(values.sources), Path(values.references), Path(values.output_dir),
        values.pairs, values.image_size, values.seed, values.jobs,
    )
    print(report.summary())
    print(f"pairs in {values.output_dir}")


def entry_point() -> None:
    cli.run(main, define_flags)


if __name__ == "__main__":
    entry_point()
