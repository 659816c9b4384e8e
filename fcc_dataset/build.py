r"""Rebuild the FCC makeup dataset (Sarfraz et al., BMVC 2019) from YouTube.

    python -m fcc_dataset.build --output_dir=data/FacialCosmeticContent --jobs=4
    python -m fcc_dataset.build --output_dir=OUT --frames_csv=yt_frames_.csv \
        --videos_dir=videos --keep_videos --only=ra-kM6GtgA4,XlawWD3UA0o
    python -m fcc_dataset.build --output_dir=OUT --videos_dir=videos --nodownload

For each video of the frame list (`--frames_csv`, by default the original authors'
file, fetched now): download it with yt-dlp (or take `--videos_dir/<id>.mp4`), extract
every 20th frame of its first 2 min 30 s and of its last 3 min with ffmpeg, and crop
dlib's face from the listed frames into `LR/` (256x256) and, for faces larger than
`--hr_min_size`, `HR/` (512x512), each with `NoMakeup/`, `AnyMakeup/`, `StrongMakeup/`.

Interrupt it at any time: `OUTPUT_DIR/manifest.json` records each finished video, and a
rerun skips those (and the ones YouTube no longer serves), retries the failed ones, and
redoes the ones that were in progress. A table of files per folder, next to the paper's
counts, and the videos that could not be had, ends the run.
"""

from __future__ import annotations

from pathlib import Path

from absl import flags

from fcc_dataset import frames_csv, pipeline
from spl_tf.utils import cli
from spl_tf.utils.errors import InputError



def define_flags(flag_values: flags.FlagValues) -> None:
    """The flags of this command, defined when it runs (importing defines none)."""
    fv = {"flag_values": flag_values, "module_name": "build"}
    flags.DEFINE_string("output_dir", None, f"{cli.REQUIRED} Root of the dataset, e.g. "
                        ".../FacialCosmeticContent: "
                        "gets LR/ and HR/, each with NoMakeup/, AnyMakeup/, StrongMakeup/.", **fv)
    flags.DEFINE_string("frames_csv", frames_csv.DEFAULT_URL,
                        "The frame list (yt_frames_.csv): a local path or an http(s) URL.", **fv)
    flags.DEFINE_string("videos_dir", None, "Folder of already downloaded <id>.mp4 files, used "
                        "instead of downloading; downloads are kept there with --keep_videos.",
                        **fv)
    flags.DEFINE_boolean("keep_videos", False, "Keep downloaded videos in --videos_dir.", **fv)
    flags.DEFINE_boolean("download", True, "Download videos missing from --videos_dir; with "
                         "--nodownload they are recorded as failed.", **fv)
    flags.DEFINE_integer("jobs", 1, "Videos processed in parallel (processes).", lower_bound=1,
                         **fv)
    flags.DEFINE_list("only", [], "Comma-separated video ids: build only these.", **fv)
    flags.DEFINE_integer("hr_min_size", 400, "A face crop larger than this (height and width) "
                         "also goes to HR/.", lower_bound=0, **fv)
    flags.DEFINE_boolean("retry_unavailable", False,
                         "Retry the videos an earlier run found unavailable.", **fv)


def select(rows: list[frames_csv.VideoRow], only: list[str], csv_name: str
           ) -> list[frames_csv.VideoRow]:
    """The rows named by `--only` (all when empty); unknown or malformed ids are errors."""
    if not only:
        return rows
    for video_id in only:
        if not frames_csv.VIDEO_ID.fullmatch(video_id):
            raise InputError(f"--only: {video_id!r} is not a YouTube video id (11 characters "
                             "of A-Z a-z 0-9 _ -)")
    known = {row.video_id for row in rows}
    unknown = [video_id for video_id in only if video_id not in known]
    if unknown:
        raise InputError(f"--only: {', '.join(unknown)} not in {csv_name}")
    wanted = set(only)
    return [row for row in rows if row.video_id in wanted]


def main() -> None:
    values = flags.FLAGS
    if not values.output_dir:
        raise InputError("give --output_dir, e.g. --output_dir=data/FacialCosmeticContent")
    pipeline.check_tools(values.download)  # before the frame list is downloaded
    rows = select(frames_csv.read_rows(values.frames_csv), values.only, values.frames_csv)
    summary = pipeline.build(
        rows, Path(values.output_dir),
        videos_dir=Path(values.videos_dir) if values.videos_dir else None,
        download=values.download, keep_videos=values.keep_videos, jobs=values.jobs,
        hr_min_size=values.hr_min_size, retry_unavailable=values.retry_unavailable,
        progress=True,
    )
    print(pipeline.format_summary(summary))


def entry_point() -> None:
    cli.run(main, define_flags)


if __name__ == "__main__":
    entry_point()
