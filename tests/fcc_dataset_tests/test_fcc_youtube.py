"""FCC rebuilt as from YouTube: real-length videos, served by a fake yt-dlp
(`fake_youtube`), through the build's default path (download, extract, delete).

Each frame shows its own index on the face (`numbered_video`), so every face crop says
which frame of the video its CSV name picked: what makes the rebuilt dataset the
paper's. The paper's windows are written out here (not taken from `frames`), so a
change to either is caught.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from fake_youtube import serving
from fcc_dataset import frames_csv, pipeline, sample
from fcc_dataset.frames_csv import VideoRow
from spl_tf.utils import image_io
from numbered_video import read_index, write_numbered_video

# The original's ffmpeg calls (REFERENCE.md, FCC): every 20th frame of the first
# 2 min 30 s (`-t 00:02:30`) and of the last 3 min (`-sseof -180`).
STEP, HEAD_SECONDS, TAIL_SECONDS = 20, 150, 180
FPS = 30  # YouTube's usual rate: 225 head frames, 270 tail frames
HEAD_NAMES = HEAD_SECONDS * FPS // STEP  # 225: 00226, frame 4500 at 150 s exactly, is not
# id -> seconds. The long video's windows are apart; the short one is shorter than the
# tail window, which then starts at its first frame (the head's frames again).
VIDEOS = {"longvideo07": 420, "shortvid160": 160}
UNSERVED = "removedvid0"


def source_frame(name: str, frame_count: int) -> int:
    """The index of the frame of the video that a CSV frame name names (0 is the first).

    `NNNNN` is frame 20 (N - 1): every 20th frame from the first, of those before 150 s.
    `eof_NNNNN` is frame 20 (N - 1) counted from the first frame of the last 180 s,
    the one at (frame count - 180 fps), or from frame 0 in a video shorter than 180 s.
    """
    number = int(name[-5:])
    first = max(frame_count - TAIL_SECONDS * FPS, 0) if name.startswith("eof_") else 0
    return first + STEP * (number - 1)


def sampled(seconds: int) -> tuple[int, int]:
    """How many frames the head and the tail window give a video of `seconds`."""
    frame_count = seconds * FPS
    window = min(frame_count, TAIL_SECONDS * FPS)
    return min(HEAD_NAMES, -(-frame_count // STEP)), -(-window // STEP)


def listed(seconds: int) -> tuple[list[str], list[str]]:
    """(head names, tail names) to list for a video: each window's first two, middle and
    last two frames, and the name after its last, which must be missing."""
    def names(count: int, prefix: str) -> list[str]:
        numbers = (1, 2, count // 2, count - 1, count, count + 1)
        return [f"{prefix}{n:05d}" for n in numbers]

    head, tail = sampled(seconds)
    return names(head, ""), names(tail, "eof_")


def rows() -> list[VideoRow]:
    """Head frames listed as no-makeup, tail frames as strong makeup (also AnyMakeup)."""
    lines = [f"{video_id},{';'.join(head)},,{';'.join(tail)}"
             for video_id, (head, tail) in ((v, listed(s)) for v, s in VIDEOS.items())]
    return frames_csv.parse("\n".join([*lines, f"{UNSERVED},00001,,"]), "youtube.csv")


@pytest.fixture(scope="module")
def youtube(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("youtube")
    for video_id, seconds in VIDEOS.items():
        write_numbered_video(folder / f"{video_id}.mp4", seconds, FPS)
    return folder


@pytest.fixture(scope="module")
def built(youtube, tmp_path_factory) -> tuple[Path, pipeline.Summary, list[Path]]:
    """The build with its defaults: each video downloaded, extracted and deleted."""
    import yt_dlp

    output = tmp_path_factory.mktemp("built") / "FCC"
    fake = serving(youtube)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(yt_dlp, "YoutubeDL", fake)
        summary = pipeline.build(rows(), output)
    return output, summary, fake.downloads


def crops(output: Path, folder: str) -> dict[tuple[str, str], Path]:
    """(video id, frame name) -> the LR crop of that frame in `folder`."""
    found = {}
    for path in (output / "LR" / folder).glob("*.jpg"):
        match = re.fullmatch(r"(.{11})_((?:eof_)?\d{5})_256_cropped", path.stem)
        found[match.groups()] = path
    return found


# Frame windows ----------------------------------------------------------------------


@pytest.mark.parametrize("video_id", VIDEOS)
def test_each_frame_name_gives_the_frame_the_original_extraction_gives(built, video_id):
    output, _, _ = built
    frame_count = VIDEOS[video_id] * FPS
    head, tail = listed(VIDEOS[video_id])
    for names, folders in ((head, ["NoMakeup"]), (tail, ["StrongMakeup", "AnyMakeup"])):
        present = names[:-1]  # the last is beyond its window: not extracted
        for folder in folders:
            found = {name: path for (v, name), path in crops(output, folder).items()
                     if v == video_id}
            assert sorted(found) == sorted(present), folder
            shown = {name: read_index(image_io.read_rgb(found[name])) for name in present}
            assert shown == {name: source_frame(name, frame_count) for name in present}


def test_frames_beyond_a_window_are_counted_missing(built):
    output, summary, _ = built
    records = json.loads((output / "manifest.json").read_text())["videos"]
    for video_id in VIDEOS:
        assert records[video_id]["status"] == "done"
        assert records[video_id]["missing"] == 2 and records[video_id]["no_face"] == 0
        assert records[video_id]["written"] == {"LR/NoMakeup": 5, "LR/StrongMakeup": 5,
                                                "LR/AnyMakeup": 5}
    assert summary.files == {"LR/NoMakeup": 10, "LR/AnyMakeup": 10, "LR/StrongMakeup": 10,
                             "HR/NoMakeup": 0, "HR/AnyMakeup": 0, "HR/StrongMakeup": 0}


# The download path -----------------------------------------------------------------


def test_each_video_is_downloaded_into_the_work_folder_and_deleted_after(built):
    output, summary, downloads = built
    assert downloads == [output / ".work" / v / f".{v}.download.mp4" for v in VIDEOS]
    assert not (output / ".work").exists()
    assert sorted(p.name for p in output.iterdir()) == [".lock", "HR", "LR", "manifest.json"]
    assert summary.processed == [*VIDEOS, UNSERVED]


def test_a_video_youtube_does_not_serve_is_unavailable(built):
    _, summary, _ = built
    assert summary.ids("unavailable") == [UNSERVED]
    assert summary.videos[UNSERVED].reason.startswith("Video unavailable")


def test_kept_videos_are_used_instead_of_downloading(tmp_path, monkeypatch):
    import yt_dlp

    youtube, videos = tmp_path / "youtube", tmp_path / "videos"
    clip = sample.write_sample_video(youtube / "abcdefghijk.mp4", seconds=2)
    csv_rows = frames_csv.parse("abcdefghijk,00001,,eof_00002\n", "t.csv")
    monkeypatch.setattr(yt_dlp, "YoutubeDL", serving(youtube))
    kept = pipeline.build(csv_rows, tmp_path / "kept", videos_dir=videos, keep_videos=True)
    assert [p.name for p in videos.iterdir()] == ["abcdefghijk.mp4"]
    assert (videos / "abcdefghijk.mp4").read_bytes() == clip.read_bytes()

    # YouTube no longer serves it: the kept copy is used, for the same faces.
    monkeypatch.setattr(yt_dlp, "YoutubeDL", serving(tmp_path / "nothing"))
    again = pipeline.build(csv_rows, tmp_path / "again", videos_dir=videos)
    assert again.ids("done") == kept.ids("done") == ["abcdefghijk"]
    assert again.files == kept.files and kept.files["LR/StrongMakeup"] == 1
    assert (videos / "abcdefghijk.mp4").exists()  # --videos_dir's files are never deleted
