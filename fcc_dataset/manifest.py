"""`manifest.json`: what each video of a build came to, so a rerun picks up where it stopped.

Only the parent process writes it, atomically, after each video: a kill loses at most
the videos in progress, which a rerun redoes from scratch.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from spl_tf.utils import files
from spl_tf.utils.errors import InputError

DONE, UNAVAILABLE, FAILED = "done", "unavailable", "failed"
NAME = "manifest.json"
VERSION = 1


@dataclasses.dataclass
class VideoRecord:
    """One video's outcome. `written`: faces written per folder (`LR/NoMakeup`: 12);
    `no_face`: listed frames where dlib found no face; `missing`: listed frames the
    video does not have (it is shorter than when the CSV was made)."""

    status: str
    reason: str = ""
    written: dict[str, int] = dataclasses.field(default_factory=dict)
    no_face: int = 0
    missing: int = 0

    @property
    def faces(self) -> int:
        return sum(self.written.values())


class Manifest:
    """The records of `output_dir/manifest.json`, by video id."""

    def __init__(self, path: Path, records: dict[str, VideoRecord]):
        self.path = path
        self.records = records

    @classmethod
    def load(cls, output_dir: Path) -> Manifest:
        path = output_dir / NAME
        if not path.exists():
            return cls(path, {})
        try:
            videos = json.loads(path.read_text())["videos"]
            records = {video_id: VideoRecord(**fields) for video_id, fields in videos.items()}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(f"{path}: not a manifest this program wrote ({error}); move it "
                             "away to start over") from error
        return cls(path, records)

    def needs_work(self, video_id: str, retry_unavailable: bool = False) -> bool:
        """False for done videos, and for unavailable ones unless they are to be retried."""
        record = self.records.get(video_id)
        if record is None or record.status == FAILED:
            return True
        return record.status == UNAVAILABLE and retry_unavailable

    def set(self, video_id: str, record: VideoRecord) -> None:
        """Record `video_id`'s outcome and save at once."""
        self.records[video_id] = record
        videos = {k: dataclasses.asdict(v) for k, v in sorted(self.records.items())}
        text = json.dumps({"version": VERSION, "videos": videos}, indent=1)
        files.write_bytes(self.path, text.encode() + b"\n")
