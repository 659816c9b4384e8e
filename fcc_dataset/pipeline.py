r"""The build: every video of the CSV through `video.process`, in parallel, resumably.

`build(rows, output_dir, ...)` is what `python -m fcc_dataset.build` runs; it is a
function so that tests and benchmarks can call it without flags.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterable, Iterator
from concurrent.futures import as_completed
from pathlib import Path

from fcc_dataset import faces, processes, video
from fcc_dataset.frames_csv import CLASSES, VideoRow
from fcc_dataset.manifest import DONE, FAILED, UNAVAILABLE, Manifest, VideoRecord
from spl_tf.utils import extras, locks
from spl_tf.utils.errors import InputError
from spl_tf.utils.faults import fault_point

FOLDERS = tuple(f"{resolution}/{name}" for resolution in ("LR", "HR") for name in CLASSES)
PAPER_COUNTS = {
    "LR/NoMakeup": 5389, "LR/AnyMakeup": 13036, "LR/StrongMakeup": 5281,
    "HR/NoMakeup": 1117, "HR/AnyMakeup": 3283, "HR/StrongMakeup": 1285,
}


@dataclasses.dataclass
class Summary:
    """Where a build stands: files per folder, and each video's record (None: not yet)."""

    files: dict[str, int]
    videos: dict[str, VideoRecord | None]
    processed: list[str]  # the videos this run worked on, in the order they finished

    def ids(self, status: str) -> list[str]:
        return [k for k, v in self.videos.items() if v is not None and v.status == status]


def build(rows: list[VideoRow], output_dir: Path, *, videos_dir: Path | None = None,
          download: bool = True, keep_videos: bool = False, jobs: int = 1,
          hr_min_size: int = 400, retry_unavailable: bool = False,
          progress: bool = False) -> Summary:
    """Build (or finish building) the face crops of `rows` under `output_dir`.

    Videos the manifest marks done are skipped, unavailable ones too unless
    `retry_unavailable`; failed ones are retried.
    """
    check_tools(download)
    _check_videos_dir(videos_dir, download, keep_videos)
    with locks.hold(output_dir, "--output_dir", "build"):
        _prepare(output_dir)
        manifest = Manifest.load(output_dir)
        todo = [r for r in rows if manifest.needs_work(r.video_id, retry_unavailable)]
        tasks = [video.Task(r, output_dir, videos_dir, download, keep_videos, hr_min_size)
                 for r in todo]
        try:
            processed = _run(tasks, jobs, manifest, len(rows), progress)
        finally:
            shutil.rmtree(output_dir / video.WORK, ignore_errors=True)
    return Summary(count_files(output_dir),
                   {r.video_id: manifest.records.get(r.video_id) for r in rows}, processed)


def _run(tasks: list[video.Task], jobs: int, manifest: Manifest, total: int,
         progress: bool) -> list[str]:
    from tqdm import tqdm

    processed, faces = [], 0
    with tqdm(total=total, initial=total - len(tasks), unit="video", disable=not progress,
              dynamic_ncols=True) as bar:
        for video_id, record in _outcomes(tasks, jobs):
            manifest.set(video_id, record)
            processed.append(video_id)
            faces += record.faces
            bar.set_postfix(faces=faces, refresh=False)
            bar.update()
            fault_point("build:video")  # a kill between videos loses none that finished
    return processed


def _outcomes(tasks: list[video.Task], jobs: int) -> Iterator[tuple[str, VideoRecord]]:
    """(video id, record) as videos finish; in this process when jobs is 1."""
    if jobs == 1 or len(tasks) <= 1:
        for task in tasks:
            yield task.row.video_id, video.process(task)
        return
    # Processes, since dlib and ffmpeg's caller are CPU bound. They end with this
    # process even when it is SIGKILLed; they are started by the submits below, in
    # this thread, which waits in the finally until they are gone (see processes).
    pool = processes.executor(jobs)
    try:
        futures = {pool.submit(video.process, task): task.row.video_id for task in tasks}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        # On Ctrl-C, the workers get the signal too and delete their work folders.
        pool.shutdown(wait=True, cancel_futures=True)


def check_tools(download: bool) -> None:
    """Raise MissingExtra, naming the [fcc] extra, unless what a build uses is installed."""
    tools = (*faces.MODULES, "imageio_ffmpeg", "tqdm", *(("yt_dlp",) if download else ()))
    extras.require("fcc", *tools)


def _check_videos_dir(videos_dir: Path | None, download: bool, keep_videos: bool) -> None:
    if keep_videos and videos_dir is None:
        raise InputError("--keep_videos needs --videos_dir, the folder to keep them in")
    if not download and videos_dir is None:
        raise InputError("--nodownload needs --videos_dir, the folder of <id>.mp4 files")
    if videos_dir is not None and not keep_videos and not videos_dir.is_dir():
        raise InputError(f"--videos_dir {videos_dir} is not a folder")


def _prepare(output_dir: Path) -> None:
    """Create the class folders; remove what a killed run left: work folders, temp files."""
    shutil.rmtree(output_dir / video.WORK, ignore_errors=True)
    for folder in (output_dir, *(output_dir / f for f in FOLDERS)):
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob(".*.tmp"):
            stale.unlink(missing_ok=True)


def count_files(output_dir: Path) -> dict[str, int]:
    """Face crops now in each class folder (temp files excluded)."""
    return {f: _count_jpgs(output_dir / f) for f in FOLDERS}


def _count_jpgs(folder: Path) -> int:
    return sum(1 for p in folder.glob("*.jpg") if not p.name.startswith("."))


def format_summary(summary: Summary) -> str:
    """The table printed at the end of a build."""
    lines = [f"{'folder':<18}{'files':>8}{'paper':>8}"]
    lines += [f"{f:<18}{summary.files[f]:>8,}{PAPER_COUNTS[f]:>8,}" for f in FOLDERS]
    pending = sum(1 for v in summary.videos.values() if v is None)
    lines.append("")
    lines.append(", ".join(f"{len(summary.ids(s))} {s}" for s in (DONE, UNAVAILABLE, FAILED))
                 + (f", {pending} not started" if pending else "")
                 + f" (of {len(summary.videos)} videos)")
    for status in (UNAVAILABLE, FAILED):
        lines += _reasons(summary, status)
    return "\n".join(lines)


def _reasons(summary: Summary, status: str) -> Iterable[str]:
    ids = summary.ids(status)
    if ids:
        yield f"\n{status.capitalize()}:"
        yield from (f"  {i}  {summary.videos[i].reason}" for i in ids)
