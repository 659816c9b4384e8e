"""The FCC frame list (`yt_frames_.csv`): read, validate, and assign frames to classes.

One row per YouTube video, no header: `video_id, no_makeup, any_makeup, strong_makeup`,
each a `;`-separated list of frame names (`00023`, `eof_00186`) as `frames.extract`
names them. Every row is checked before any work starts, so a typo costs seconds, not
a half-built dataset.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import urllib.error
import urllib.request
from pathlib import Path

from spl_tf.utils.errors import InputError

DEFAULT_URL = ("https://raw.githubusercontent.com/ssarfraz/SPL/master/"
               "FCC_dataset/util/yt_frames_.csv")
CLASSES = ("NoMakeup", "AnyMakeup", "StrongMakeup")
VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{11}")
FRAME = re.compile(r"(eof_)?\d{5}")
# The original wrote this file from crop names, as name[:11] for the id and name[12:]
# for the frame. Two 15-character ids (starting "RDQM", like YouTube mix playlists) lost
# their 12th character and left their last three in the frame names ("T2I_00078"): those
# rows are kept, so the counts match the original's, but they cannot be rebuilt.
CUT_ID_FRAME = re.compile(r"[A-Za-z0-9_-]{3}_(eof_)?\d{5}")


@dataclasses.dataclass(frozen=True)
class VideoRow:
    """One video's listed frames, duplicates removed, in the order first listed."""

    video_id: str
    no_makeup: tuple[str, ...]
    any_makeup: tuple[str, ...]
    strong_makeup: tuple[str, ...]

    @property
    def id_was_cut(self) -> bool:
        """True for the rows whose real id the original's CSV writer truncated."""
        frames = self.no_makeup + self.any_makeup + self.strong_makeup
        return any(not FRAME.fullmatch(f) for f in frames)

    def classes(self) -> dict[str, tuple[str, ...]]:
        """Frame name -> class folders, by the original's rule.

        Listed no-makeup wins; else listed strong goes to StrongMakeup and AnyMakeup;
        else listed any goes to AnyMakeup. Frames not listed are not wanted.
        """
        result: dict[str, tuple[str, ...]] = {}
        for frame in self.any_makeup:
            result[frame] = ("AnyMakeup",)
        for frame in self.strong_makeup:
            result[frame] = ("StrongMakeup", "AnyMakeup")
        for frame in self.no_makeup:
            result[frame] = ("NoMakeup",)
        return dict(sorted(result.items()))


def read_rows(source: str) -> list[VideoRow]:
    """The validated rows of a local CSV or of an http(s) URL (fetched now)."""
    if re.match(r"https?://", source):
        return parse(_fetch(source), source)
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"--frames_csv {path}: cannot read it ({error})") from error
    return parse(text, str(path))


def _fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            return response.read().decode("utf-8-sig")
    except (urllib.error.URLError, OSError, UnicodeDecodeError) as error:
        raise InputError(
            f"--frames_csv {url}: cannot fetch it ({error}); download it by hand and "
            "pass its local path"
        ) from error


def parse(text: str, name: str) -> list[VideoRow]:
    """Rows of `text`; `name` (file or URL) is quoted in errors with the line number."""
    rows: list[VideoRow] = []
    first_line: dict[str, int] = {}
    reader = csv.reader(io.StringIO(text))
    for fields in reader:
        line = reader.line_num
        if not any(f.strip() for f in fields) or (line == 1 and _is_header(fields)):
            continue
        row = _parse_row(fields, f"{name} line {line}")
        if row.video_id in first_line:
            raise InputError(f"{name} line {line}: video {row.video_id} is already on line "
                             f"{first_line[row.video_id]}")
        first_line[row.video_id] = line
        rows.append(row)
    if not rows:
        raise InputError(f"{name}: no video rows")
    return rows


def _is_header(fields: list[str]) -> bool:
    # A data row has a video id first and frame numbers after; a header has neither.
    return not VIDEO_ID.fullmatch(fields[0].strip()) and not re.search(r"\d", ",".join(fields[1:]))


def _parse_row(fields: list[str], where: str) -> VideoRow:
    fields = [f.strip() for f in fields]
    if len(fields) < 4 or any(fields[4:]):
        raise InputError(f"{where}: expected 4 columns (video_id, no_makeup, any_makeup, "
                         f"strong_makeup), got {len(fields)}")
    video_id = fields[0]
    if not VIDEO_ID.fullmatch(video_id):
        raise InputError(f"{where}: video id {video_id!r} is not 11 characters of "
                         "A-Z a-z 0-9 _ -")
    lists = [_frames(field, where, column) for column, field in zip(CLASSES, fields[1:4])]
    return VideoRow(video_id, *lists)


def _frames(field: str, where: str, column: str) -> tuple[str, ...]:
    names = [f.strip() for f in field.split(";") if f.strip()]
    for frame in names:
        if not (FRAME.fullmatch(frame) or CUT_ID_FRAME.fullmatch(frame)):
            raise InputError(f"{where}: {column} frame {frame!r} is not like 00023 or eof_00186")
    return tuple(dict.fromkeys(names))
