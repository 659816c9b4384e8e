"""Aligned makeup pairs (`fcc_dataset.align`, `fcc_dataset.pairs`) on astronaut faces."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from spl_tf.utils import image_io
from spl_tf.utils.errors import InputError
from exif_data import write_oriented
from face_data import face_photo, no_face_photo, write_rgb
from fcc_dataset import align, faces, pairs

ROOT = Path(__file__).resolve().parents[2]
SIZE = 128  # pairs at this size keep the runs quick; dlib still finds the face

SOURCE = dict(shift=(8, -12), scale=0.9)
REFERENCE = dict(shift=(-15, 10), scale=1.2, angle=-10, colour=(1.15, 0.8, 0.85))


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    """Sources: three faces (one not square), one photo without a face, one corrupt file.
    References: four "makeup" faces, one of them named like a source."""
    root = tmp_path_factory.mktemp("fcc")
    sources, references = root / "NoMakeup", root / "AnyMakeup"
    write_rgb(sources / "a.jpg", face_photo(**SOURCE, size=200))
    write_rgb(sources / "b.png", face_photo(scale=1.1, angle=6, size=160))
    write_rgb(sources / "c.jpg", face_photo(shift=(5, 5), size=240)[:, 10:230])
    write_rgb(sources / "noface.jpg", no_face_photo(SIZE))
    (sources / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    for i, (dy, dx) in enumerate([(0, 0), (-10, 6), (12, -4), (4, 14)]):
        gains = (1.1 + 0.05 * i, 0.9 - 0.05 * i, 0.9)
        write_rgb(references / f"r{i}.jpg", face_photo((dy, dx), 1 + 0.08 * i, gains, 256))
    write_rgb(references / "a.jpg", face_photo(colour=(1.2, 0.8, 0.8)))
    return sources, references


def mean_distance(points: np.ndarray, other: np.ndarray) -> float:
    return float(np.linalg.norm(points - other, axis=1).mean())


def hull_mask(points: np.ndarray, shape: tuple[int, int], grow: int) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.rint(points).astype(np.int32)), 1)
    return cv2.dilate(mask, np.ones((2 * grow + 1,) * 2, np.uint8)).astype(bool)


# --- align -----------------------------------------------------------------------------


def test_warped_landmarks_land_on_the_source_landmarks():
    source = align.prepare(face_photo(**SOURCE))
    reference = align.prepare(face_photo(**REFERENCE))
    alignment = align.align_faces(source, reference)

    assert alignment.source_found and alignment.reference_found
    assert alignment.warped.shape == alignment.source.shape == (256, 256, 3)
    assert alignment.warped.dtype == np.uint8
    warped = alignment.warped
    after = mean_distance(faces.landmarks(warped, faces.detect_face(warped)), source.points)
    before = mean_distance(reference.points, source.points)
    assert before > 20
    assert after < 3.0 and after < before / 8


def test_align_resizes_any_photo_and_pairs_side_by_side():
    source = face_photo(**SOURCE, size=300)[:, 20:280]
    alignment = align.align(source, face_photo(**REFERENCE, size=180), image_size=SIZE)

    resized = cv2.resize(source, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_array_equal(alignment.source, resized)
    pair = align.pair_image(alignment)
    assert pair.shape == (SIZE, 2 * SIZE, 3) and pair.dtype == np.uint8
    np.testing.assert_array_equal(pair[:, :SIZE], alignment.source)
    np.testing.assert_array_equal(pair[:, SIZE:], alignment.warped)


def test_outside_the_landmarks_the_source_shows_and_black_inside_stays():
    source = align.prepare(face_photo(**SOURCE))
    reference = align.prepare(face_photo(**REFERENCE))
    x, y = np.rint(reference.points[30]).astype(int)  # the tip of the nose
    image = reference.image.copy()
    image[y - 6:y + 7, x - 6:x + 7] = 0  # a black patch, the landmarks as before
    alignment = align.align_faces(source, align.Face(image, reference.points, True))

    outside = ~hull_mask(source.points, (256, 256), grow=2)
    assert outside.mean() > 0.5
    np.testing.assert_array_equal(alignment.warped[outside], alignment.source[outside])
    inside = hull_mask(source.points, (256, 256), grow=0) & ~hull_mask(
        source.points[30:31], (256, 256), grow=10)
    assert np.abs(alignment.warped[inside].astype(int) - alignment.source[inside]).mean() > 5
    x, y = np.rint(source.points[30]).astype(int)
    assert alignment.warped[y - 2:y + 3, x - 2:x + 3].max() < 40  # kept, not filled
    assert alignment.source[y - 2:y + 3, x - 2:x + 3].min() > 80


def test_no_face_fits_the_whole_image():
    alignment = align.align(face_photo(**SOURCE), no_face_photo(), image_size=SIZE)
    assert alignment.source_found and not alignment.reference_found
    assert alignment.warped.shape == (SIZE, SIZE, 3)


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros((64, 64), np.uint8), "reference: expected an RGB image"),
        (np.zeros((64, 64, 4), np.uint8), "reference: expected an RGB image"),
        (np.zeros((64, 64, 3), np.float32), "reference: expected uint8"),
        ([[0, 0, 0]], "reference: expected a numpy array"),
    ],
)
def test_align_names_a_bad_input(image, message):
    with pytest.raises(ValueError, match=message):
        align.align(face_photo(size=SIZE), image, image_size=SIZE)


def test_degenerate_landmarks_raise_a_clear_error():
    image = face_photo(size=SIZE)
    line = np.stack([np.arange(68.0), np.arange(68.0)], axis=1)
    face = align.Face(image, line, found=False)
    with pytest.raises(align.AlignmentError, match="landmarks"):
        align.align_faces(face, face)


# --- choosing references ----------------------------------------------------------------


def test_reference_choice_is_seeded_by_name_distinct_and_never_the_source():
    references = [Path(f"refs/r{i:02d}.jpg") for i in range(12)] + [Path("refs/s3.jpg")]
    sources = [Path(f"src/s{i}.jpg") for i in range(6)]

    def draw(seed, order=sources):
        return {s.name: pairs.choose_references(s, references, 4, seed) for s in order}

    first = draw(0)
    assert first == draw(0, order=sources[::-1])
    assert draw(1) != first
    for source, chosen in first.items():
        assert len(chosen) == len(set(chosen)) == 4
        assert all(r.stem != Path(source).stem for r in chosen)
    assert len(pairs.choose_references(sources[3], references, 50, 0)) == 12


# --- make_pairs ---------------------------------------------------------------------------
# One run serves several checks: every run costs worker start-up and dlib on each image.


def test_make_pairs_names_reports_resumes_and_matches_across_jobs(folders, tmp_path):
    sources, references = folders
    output = tmp_path / "pairs"
    report = pairs.make_pairs(sources, references, output, pairs=2, image_size=SIZE, seed=0)

    files = sorted(output.glob("*.jpg"))
    assert report.written == len(files) == 8  # 4 readable sources x 2
    reference_stems = {p.stem for p in references.iterdir()}
    for file in files:
        stem = next(s for s in ("a", "b", "c", "noface") if file.stem.startswith(s))
        assert file.suffix == ".jpg" and file.stem[len(stem):] in reference_stems - {stem}
        pair = image_io.read_rgb(file)
        assert pair.shape == (SIZE, 2 * SIZE, 3)
        source = image_io.read_rgb(next(sources.glob(f"{stem}.*")))
        resized = cv2.resize(source, (SIZE, SIZE), interpolation=cv2.INTER_CUBIC)
        assert np.abs(pair[:, :SIZE].astype(int) - resized).mean() < 3  # JPEG error only

    # A corrupt file and a faceless photo are reported, not fatal.
    assert report.unreadable == [str(sources / "corrupt.jpg")]
    assert report.sources_without_face == [str(sources / "noface.jpg")]
    assert report.references_without_face == [] and report.failed == []
    summary = report.summary()
    assert "corrupt.jpg" in summary and "noface.jpg" in summary and "8 pairs written" in summary

    # A rerun writes nothing.
    times = {p: p.stat().st_mtime_ns for p in files}
    again = pairs.make_pairs(sources, references, output, pairs=2, image_size=SIZE, seed=0)
    assert again.written == 0 and again.skipped_existing == 8
    assert {p: p.stat().st_mtime_ns for p in output.glob("*.jpg")} == times

    # Two workers choose and draw the same.
    parallel = pairs.make_pairs(sources, references, tmp_path / "jobs2", 2, SIZE, seed=0, jobs=2)
    assert parallel.written == 8
    assert sorted(p.name for p in (tmp_path / "jobs2").glob("*.jpg")) == [p.name for p in files]
    for file in files:
        two = image_io.read_rgb(tmp_path / "jobs2" / file.name)
        assert np.abs(image_io.read_rgb(file).astype(int) - two).max() <= 2


def test_seeds_choose_different_references_among_the_folders(folders):
    sources, references = map(image_io.list_images, folders)
    plans = {
        seed: [r for s in sources for r in pairs.choose_references(s, references, 2, seed)]
        for seed in (0, 1)
    }
    assert plans[0] != plans[1]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(pairs=0), "--pairs must be at least 1"),
        (dict(image_size=32), "--image_size must be at least"),
        (dict(jobs=0), "--jobs must be at least 1"),
        (dict(seed=-1), "--seed must be non-negative"),
        (dict(references="EMPTY"), "--references=.*EMPTY: no PNG or JPEG images"),
        (dict(output_dir="R"), "is the --references folder"),
    ],
)
def test_bad_settings_are_input_errors(folders, tmp_path, change, message):
    (tmp_path / "EMPTY").mkdir()
    folder = {"EMPTY": tmp_path / "EMPTY", "R": folders[1]}
    settings = dict(sources=folders[0], references=folders[1], output_dir=tmp_path / "out",
                    pairs=2, image_size=SIZE, seed=0, jobs=1)
    settings |= {key: folder.get(value, value) for key, value in change.items()}
    with pytest.raises(InputError, match=message):
        pairs.make_pairs(**settings)
    assert not (tmp_path / "out").exists()


# --- command line -------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "fcc_dataset.pairs", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


def test_cli_writes_upright_pairs_and_a_summary(tmp_path):
    sources, references = tmp_path / "src", tmp_path / "ref"
    source, reference = face_photo(**SOURCE, size=SIZE), face_photo(**REFERENCE, size=SIZE)
    # Stored as cameras store them: sideways and upside down, where dlib finds no face.
    write_oriented(sources / "s.png", source, 6)
    write_oriented(references / "r.png", reference, 3)
    stale = tmp_path / "out" / ".sr.jpg.x1y2.tmp"  # what a killed run's write leaves
    stale.parent.mkdir()
    stale.write_bytes(b"half")
    result = run_cli(f"--sources={sources}", f"--references={references}",
                     f"--output_dir={tmp_path / 'out'}", f"--image_size={SIZE}")
    assert result.returncode == 0, result.stderr
    assert "1 pairs written" in result.stdout and "no face" not in result.stdout
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".lock", "sr.jpg"]
    # The pair of the upright photos, written the same way.
    image_io.write_rgb(tmp_path / "upright.jpg",
                       align.pair_image(align.align(source, reference, image_size=SIZE)))
    np.testing.assert_array_equal(image_io.read_rgb(tmp_path / "out" / "sr.jpg"),
                                  image_io.read_rgb(tmp_path / "upright.jpg"))


def test_a_second_run_into_the_same_folder_is_refused(folders, tmp_path):
    with (tmp_path / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        with pytest.raises(InputError, match=rf"another pairs run \(pid {os.getpid()}\)"):
            pairs.make_pairs(*folders, tmp_path, pairs=1, image_size=SIZE)
    assert [p.name for p in tmp_path.iterdir()] == [".lock"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--references=R", "--output_dir=O"], "error: --sources is required"),
        (["--sources=MISSING", "--references=R", "--output_dir=O"],
         "error: --sources=MISSING: no such folder"),
        (["--sources=S", "--references=R", "--output_dir=S"], "is the --sources folder"),
        (["--sources=S", "--references=R", "--output_dir=O", "--pairs=0"], "error: --pairs"),
    ],
)
def test_cli_errors_are_one_line(folders, tmp_path, args, message):
    names = {"S": str(folders[0]), "R": str(folders[1]), "MISSING": str(tmp_path / "MISSING"),
             "O": str(tmp_path / "O")}
    for placeholder, path in names.items():
        args = [a.replace(f"={placeholder}", f"={path}") for a in args]
        message = message.replace(f"={placeholder}", f"={path}")
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0]
    assert not (tmp_path / "O").exists()
