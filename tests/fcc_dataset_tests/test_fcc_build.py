"""FCC rebuild (`python -m fcc_dataset.build`), offline: sample videos the tests write
with the bundled ffmpeg stand in for YouTube (`--videos_dir`, `--nodownload`)."""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fake_youtube import serving
from fcc_dataset import download, frames, frames_csv, pipeline, sample, video
from spl_tf.utils.errors import InputError


REPO = Path(__file__).resolve().parents[2]
SHARED_CSV = Path(__file__).resolve().parents[3] / "shared/fcc/yt_frames_.csv"
SECONDS, FPS = 5, 20  # sampled frames 00001..00005 and eof_00001..00005; 00003 has no face
IDS = ["vidA_______", "vid-B-45678", "vidC0123456"]
CSV_TEXT = "\n".join([
    # 00001 is also listed as any: no-makeup wins. 00003 has no face.
    f"{IDS[0]},00001;00003;00001,eof_00002;00001,eof_00004",
    # 00099 is beyond the end; strong 00002 and 00004 are also AnyMakeup.
    f"{IDS[1]},,00002;00099,00004;00002;00004",
    f"{IDS[2]},eof_00005,,",
]) + "\n"
EXPECTED = {
    "NoMakeup": [f"{IDS[0]}_00001", f"{IDS[2]}_eof_00005"],
    "AnyMakeup": [f"{IDS[0]}_eof_00002", f"{IDS[0]}_eof_00004", f"{IDS[1]}_00002",
                  f"{IDS[1]}_00004"],
    "StrongMakeup": [f"{IDS[0]}_eof_00004", f"{IDS[1]}_00002", f"{IDS[1]}_00004"],
}


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "fcc_dataset.build", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


def tree(root: Path) -> dict[str, str]:
    """Every file under `root` (but the lock) -> hash of its bytes."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".lock"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return sample.write_sample_video(tmp_path_factory.mktemp("clip") / "clip.mp4", SECONDS, FPS)


def videos_dir(root: Path, clip: Path, ids: list[str]) -> Path:
    folder = root / "videos"
    folder.mkdir(exist_ok=True)
    for video_id in ids:
        (folder / f"{video_id}.mp4").symlink_to(clip)
    return folder


@pytest.fixture(scope="module")
def built(tmp_path_factory, clip) -> tuple[Path, pipeline.Summary]:
    root = tmp_path_factory.mktemp("built")
    rows = frames_csv.parse(CSV_TEXT, "test.csv")
    summary = pipeline.build(rows, root / "FCC", videos_dir=videos_dir(root, clip, IDS),
                             download=False, hr_min_size=64)
    return root / "FCC", summary


# Frames ------------------------------------------------------------------------------


def test_three_seconds_at_20_fps_give_three_head_and_three_tail_frames(tmp_path):
    clip = sample.write_sample_video(tmp_path / "v.mp4", seconds=3, fps=20)
    extracted = frames.extract(clip, "abcdefghijk", tmp_path / "frames")
    assert list(extracted) == ["00001", "00002", "00003", "eof_00001", "eof_00002", "eof_00003"]
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [
        "abcdefghijk_00001.jpg", "abcdefghijk_00002.jpg", "abcdefghijk_00003.jpg",
        "abcdefghijk_eof_00001.jpg", "abcdefghijk_eof_00002.jpg", "abcdefghijk_eof_00003.jpg"]


def test_a_face_crop_goes_to_hr_only_when_larger_than_hr_min_size(tmp_path, clip):
    first = frames.extract(clip, "abcdefghijk", tmp_path)["00001"]  # a 90x90 face box
    assert {k: v.shape for k, v in video.face_crops(first, 89).items()} == {
        ("LR", 256): (256, 256, 3), ("HR", 512): (512, 512, 3)}
    assert list(video.face_crops(first, 90)) == [("LR", 256)]


# Build -------------------------------------------------------------------------------


def test_build_writes_each_face_into_its_class_folders(built):
    output, summary = built
    for resolution, size in (("LR", 256), ("HR", 512)):
        for folder, stems in EXPECTED.items():
            files = sorted((output / resolution / folder).iterdir())
            assert [p.name for p in files] == [f"{s}_{size}_cropped.jpg" for s in sorted(stems)]
            assert all(cv2.imread(str(p)).shape == (size, size, 3) for p in files)
    assert summary.files == {f"{r}/{c}": len(EXPECTED[c]) for r in ("LR", "HR")
                             for c in EXPECTED}
    assert sorted(p.name for p in output.iterdir()) == [".lock", "HR", "LR", "manifest.json"]


def test_manifest_counts_faces_frames_without_face_and_missing_frames(built):
    output, summary = built
    records = json.loads((output / "manifest.json").read_text())["videos"]
    assert records[IDS[0]] == {
        "status": "done", "reason": "", "no_face": 1, "missing": 0,
        "written": {"LR/NoMakeup": 1, "HR/NoMakeup": 1, "LR/AnyMakeup": 2, "HR/AnyMakeup": 2,
                    "LR/StrongMakeup": 1, "HR/StrongMakeup": 1}}
    assert records[IDS[1]]["missing"] == 1 and records[IDS[1]]["no_face"] == 0
    assert records[IDS[1]]["written"]["LR/StrongMakeup"] == 2
    assert summary.ids("done") == IDS and summary.processed == IDS


def test_a_rerun_does_no_work(built, clip):
    output, _ = built

    def times() -> dict[Path, int]:  # but the lock's: each run writes its PID there
        return {p: p.stat().st_mtime_ns for p in output.rglob("*") if p.name != ".lock"}

    before = times()
    rows = frames_csv.parse(CSV_TEXT, "test.csv")
    summary = pipeline.build(rows, output, videos_dir=output.parent / "videos",
                             download=False, hr_min_size=64)
    assert summary.processed == []
    assert times() == before


def test_the_summary_table_shows_paper_counts_and_reasons(built):
    _, summary = built
    failed = {"xxxxxxxxxxx": video.VideoRecord("failed", "ffmpeg: broken")}
    table = pipeline.format_summary(
        dataclasses.replace(summary, videos={**summary.videos, **failed}))
    assert "LR/AnyMakeup             4  13,036" in table
    assert "3 done, 0 unavailable, 1 failed (of 4 videos)" in table
    assert "Failed:\n  xxxxxxxxxxx  ffmpeg: broken" in table


def test_a_corrupt_video_fails_and_the_others_finish(tmp_path, clip):
    folder = videos_dir(tmp_path, clip, [IDS[2]])
    (folder / "corruptvid0.mp4").write_bytes(np.random.default_rng(0).bytes(20_000))
    rows = frames_csv.parse(f"corruptvid0,00001,,\nmissingvid0,00001,,\n{IDS[2]},eof_00005,,",
                            "t.csv")
    summary = pipeline.build(rows, tmp_path / "out", videos_dir=folder, download=False,
                             jobs=2)
    assert summary.ids("done") == [IDS[2]]
    assert summary.videos["corruptvid0"].reason.startswith("ffmpeg: ")
    assert summary.videos["missingvid0"].reason.startswith("not in --videos_dir")
    assert summary.files["LR/NoMakeup"] == 1 and summary.files["HR/NoMakeup"] == 0
    assert not (tmp_path / "out" / ".work").exists()
    # Failed videos are retried, done ones are not.
    again = pipeline.build(rows, tmp_path / "out", videos_dir=folder, download=False)
    assert sorted(again.processed) == ["corruptvid0", "missingvid0"]


def test_cut_ids_are_unavailable_and_skipped_unless_retried(tmp_path):
    rows = frames_csv.parse("RDQMvUS8ziP,T2I_00078,,\n", "t.csv")
    summary = pipeline.build(rows, tmp_path, videos_dir=tmp_path, download=False)
    assert summary.ids("unavailable") == ["RDQMvUS8ziP"]
    assert "first 11 characters" in summary.videos["RDQMvUS8ziP"].reason
    assert pipeline.build(rows, tmp_path, videos_dir=tmp_path, download=False).processed == []
    retried = pipeline.build(rows, tmp_path, videos_dir=tmp_path, download=False,
                             retry_unavailable=True)
    assert retried.processed == ["RDQMvUS8ziP"]


def test_leftovers_of_a_killed_run_are_removed_at_start(tmp_path):
    stale = [tmp_path / ".work/abcdefghijk/frames/abcdefghijk_00001.jpg",
             tmp_path / "LR/NoMakeup/.abcdefghijk_00001_256_cropped.jpg.x1y2.tmp",
             tmp_path / ".manifest.json.x1y2.tmp"]
    for path in stale:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    pipeline.build([], tmp_path, videos_dir=tmp_path, download=False)
    assert not any(p.exists() for p in stale) and not (tmp_path / ".work").exists()


def test_a_second_build_into_the_same_folder_is_refused(tmp_path):
    with (tmp_path / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        with pytest.raises(InputError, match=rf"another build \(pid {os.getpid()}\) is writing"):
            pipeline.build([], tmp_path, videos_dir=tmp_path, download=False)


# Frame list --------------------------------------------------------------------------


def test_rows_are_deduplicated_and_classed_by_the_original_rule():
    (row,) = frames_csv.parse("video_id,no,any,strong\n"
                              "abcdefghijk, 00001;00002;00001 ,00002;00003;eof_00004;00005,"
                              "00003;eof_00004;00003,,\n", "t.csv")
    assert row.no_makeup == ("00001", "00002") and row.strong_makeup == ("00003", "eof_00004")
    assert row.classes() == {
        "00001": ("NoMakeup",), "00002": ("NoMakeup",),
        "00003": ("StrongMakeup", "AnyMakeup"), "00005": ("AnyMakeup",),
        "eof_00004": ("StrongMakeup", "AnyMakeup")}


@pytest.mark.parametrize("text, message", [
    ("abcdefghijk,00001,,\nabcdefghijk,00001\n", "t.csv line 2: expected 4 columns"),
    ("abcdefghijk,00001,,,x\n", "t.csv line 1: expected 4 columns"),
    ("abcdefghijk,00001,,\nabcdefghij,00001,,\n", "t.csv line 2: video id 'abcdefghij'"),
    ("abcdefghijk,00001,,\nabc defghij,00001,,\n", "t.csv line 2: video id"),
    ("abcdefghijk,0001,,\n", "t.csv line 1: NoMakeup frame '0001' is not like 00023"),
    ("abcdefghijk,,eof_1x,\n", "t.csv line 1: AnyMakeup frame 'eof_1x'"),
    ("abcdefghijk,00001,,\n\nabcdefghijk,,00002,\n", "t.csv line 3: video abcdefghijk is "
                                                     "already on line 1"),
    ("\n", "t.csv: no video rows"),
])
def test_a_bad_row_is_an_error_naming_file_and_line(text, message):
    with pytest.raises(InputError) as error:
        frames_csv.parse(text, "t.csv")
    assert str(error.value).startswith(message)


def test_the_original_frame_list_parses_with_its_known_counts():
    if not SHARED_CSV.exists():
        pytest.skip(f"{SHARED_CSV} is not here (the original authors' file, not shipped)")
    rows = frames_csv.read_rows(str(SHARED_CSV))
    assert len(rows) == 331
    counts = [sum(len(getattr(r, c)) for r in rows)
              for c in ("no_makeup", "any_makeup", "strong_makeup")]
    assert counts == [5383, 16536, 5750]
    assert [r.video_id for r in rows if r.id_was_cut] == ["RDQMvUS8ziP", "RDQM0fpRIoz"]


def test_an_unreachable_url_is_a_clear_error():
    with pytest.raises(InputError, match=r"--frames_csv http://127\.0\.0\.1:9/f\.csv: cannot "
                                         r"fetch it"):
        frames_csv.read_rows("http://127.0.0.1:9/f.csv")


# Command line ------------------------------------------------------------------------


def test_the_command_line_builds(tmp_path, clip):
    csv_path = tmp_path / "f.csv"
    csv_path.write_text(CSV_TEXT)
    folder = videos_dir(tmp_path, clip, IDS)
    result = cli(f"--output_dir={tmp_path / 'out'}", f"--frames_csv={csv_path}",
                 f"--videos_dir={folder}", "--nodownload", f"--only={IDS[2]}")
    assert result.returncode == 0, result.stderr
    assert "LR/NoMakeup              1   5,389" in result.stdout
    assert "1 done, 0 unavailable, 0 failed (of 1 videos)" in result.stdout
    assert sorted(p.name for p in (tmp_path / "out/LR/NoMakeup").iterdir()) == [
        f"{IDS[2]}_eof_00005_256_cropped.jpg"]


@pytest.mark.parametrize("args, message", [
    (["--only=abc"], "error: --only: 'abc' is not a YouTube video id"),
    (["--only=zzzzzzzzzzz"], "error: --only: zzzzzzzzzzz not in {csv}"),
    (["--frames_csv={tmp}/nothing.csv"], "error: --frames_csv {tmp}/nothing.csv: cannot read"),
    (["--frames_csv={tmp}/bad.csv"], "error: {tmp}/bad.csv line 2: video id 'bad'"),
    (["--output_dir={csv}/sub"], "error: --output_dir={csv}/sub: cannot write there"),
    (["stray"], "error: unexpected arguments ['stray']"),
])
def test_bad_input_is_a_one_line_error(tmp_path, args, message):
    csv_path = tmp_path / "f.csv"
    csv_path.write_text(CSV_TEXT)
    (tmp_path / "bad.csv").write_text(f"{CSV_TEXT.splitlines()[0]}\nbad,00001,,\n")
    fill = {"tmp": tmp_path, "csv": csv_path}
    result = cli(f"--output_dir={tmp_path / 'out'}", f"--frames_csv={csv_path}",
                 f"--videos_dir={tmp_path}", "--nodownload", *(a.format(**fill) for a in args))
    assert result.returncode == 2
    assert result.stderr.startswith(message.format(**fill))
    assert result.stderr.count("\n") == 1


# Downloads (yt-dlp faked: no network) ------------------------------------------------


@pytest.mark.parametrize("message, kind", [
    ("ERROR: [youtube] abcdefghijk: Private video. Sign in if you've been granted access",
     download.Unavailable),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. This video has been removed by the "
     "uploader", download.Unavailable),
    ("ERROR: [youtube] abcdefghijk: Video unavailable. This video is no longer available "
     "due to a copyright claim by X", download.Unavailable),
    ("ERROR: [youtube] abcdefghijk: Sign in to confirm your age. This video may be "
     "inappropriate for some users.", download.Unavailable),
    ("\x1b[0;31mERROR:\x1b[0m [youtube] abcdefghijk: Video unavailable", download.Unavailable),
    ("ERROR: [youtube] abcdefghijk: Sign in to confirm you're not a bot.",
     download.DownloadFailed),
    ("ERROR: [youtube] abcdefghijk: This content isn't available, try again later.",
     download.DownloadFailed),
    ("ERROR: Unable to download webpage: <urlopen error [Errno -3] Temporary failure in "
     "name resolution>", download.DownloadFailed),
    ("ERROR: unable to download video data: HTTP Error 403: Forbidden",
     download.DownloadFailed),
])
def test_ytdlp_errors_are_classified(message, kind):
    import yt_dlp

    error = download.classify(yt_dlp.utils.DownloadError(message))
    assert type(error) is kind
    assert not str(error).startswith(("ERROR", "[youtube]", "\x1b"))


def test_download_renames_the_finished_file_and_cleans_up(tmp_path, monkeypatch):
    import yt_dlp

    youtube, folder = tmp_path / "youtube", tmp_path / "downloads"
    youtube.mkdir()
    for video_id in ("abcdefghijk", "zzzzzzzzzzz"):
        (youtube / f"{video_id}.mp4").write_bytes(b"an mp4 of " + video_id.encode())
    fake = serving(youtube)
    monkeypatch.setattr(yt_dlp, "YoutubeDL", fake)
    assert download.download("abcdefghijk", folder) == folder / "abcdefghijk.mp4"
    assert [p.name for p in folder.iterdir()] == ["abcdefghijk.mp4"]
    assert (folder / "abcdefghijk.mp4").read_bytes() == b"an mp4 of abcdefghijk"

    # Failing once its part file is written: the part is removed.
    monkeypatch.setattr(fake, "fail", yt_dlp.utils.DownloadError("Private video"))
    with pytest.raises(download.Unavailable, match="Private video"):
        download.download("zzzzzzzzzzz", folder)
    assert [p.name for p in folder.iterdir()] == ["abcdefghijk.mp4"]
