"""One video from the CSV to face crops: get the mp4, extract frames, crop the faces.

Runs in a worker process; returns a `VideoRecord` and never raises for a bad video, so
one broken download does not stop the build (a full disk does: `FileError`). Frames
live in a work folder that is deleted afterwards, whatever happens.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import cv2
import numpy as np

from fcc_dataset import download, faces, frames
from fcc_dataset.frames_csv import VideoRow
from fcc_dataset.manifest import DONE, FAILED, UNAVAILABLE, VideoRecord
from spl_tf.utils import image_io
from spl_tf.utils.errors import FileError
from spl_tf.utils.faults import fault_point

WORK = ".work"
SIZES = {"LR": 256, "HR": 512}


@dataclasses.dataclass(frozen=True)
class Task:
    """Everything a worker needs for one video (picklable)."""

    row: VideoRow
    output_dir: Path
    videos_dir: Path | None = None
    download: bool = True
    keep_videos: bool = False
    hr_min_size: int = 400


def process(task: Task) -> VideoRecord:
    """Build one video's face crops; the outcome as a manifest record."""
    row = task.row
    if row.id_was_cut:
        return VideoRecord(UNAVAILABLE, "the CSV holds only the first 11 characters of a "
                                        "longer id (a playlist); its frame names hold the rest")
    work = task.output_dir / WORK / row.video_id
    try:
        extracted = frames.extract(_video(task, work), row.video_id, work / "frames")
        return save_faces(row, extracted, task.output_dir, task.hr_min_size)
    except download.Unavailable as error:
        return VideoRecord(UNAVAILABLE, str(error))
    except (download.DownloadFailed, frames.ExtractionError) as error:
        return VideoRecord(FAILED, str(error))
    except FileError:
        raise  # a full disk stops every video alike: it ends the build
    except Exception as error:  # anything unforeseen fails this video, not the build
        return VideoRecord(FAILED, f"{type(error).__name__}: {error}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _video(task: Task, work: Path) -> Path:
    video_id = task.row.video_id
    if task.videos_dir is not None and (task.videos_dir / f"{video_id}.mp4").is_file():
        return task.videos_dir / f"{video_id}.mp4"
    if not task.download:
        raise download.DownloadFailed("not in --videos_dir (and --nodownload)")
    return download.download(video_id, task.videos_dir if task.keep_videos else work)


def save_faces(row: VideoRow, extracted: dict[str, Path], output_dir: Path,
               hr_min_size: int) -> VideoRecord:
    """Crop the face of every listed frame into its class folders, LR and maybe HR."""
    record = VideoRecord(DONE)
    for frame, classes in row.classes().items():
        if frame not in extracted:
            record.missing += 1
            continue
        crops = face_crops(extracted[frame], hr_min_size)
        if not crops:
            record.no_face += 1
        for (resolution, size), image in crops.items():
            for folder in classes:
                name = f"{row.video_id}_{frame}_{size}_cropped.jpg"
                image_io.write_rgb(output_dir / resolution / folder / name, image)
                key = f"{resolution}/{folder}"
                record.written[key] = record.written.get(key, 0) + 1
                fault_point("build:crops")  # a kill here leaves a video half written
    return record


def face_crops(frame: Path, hr_min_size: int) -> dict[tuple[str, int], np.ndarray]:
    """The first face's crop resized to 256 (LR) and, if larger than `hr_min_size` both
    ways, to 512 (HR); empty when there is no face."""
    image = image_io.read_rgb(frame)
    box = None if image is None else faces.detect_face(image)
    if box is None:
        return {}
    face = faces.crop(image, box)
    # cv2.resize's default (bilinear) interpolation, as the original.
    crops = {("LR", SIZES["LR"]): cv2.resize(face, (SIZES["LR"], SIZES["LR"]))}
    if box.height > hr_min_size and box.width > hr_min_size:
        crops[("HR", SIZES["HR"])] = cv2.resize(face, (SIZES["HR"], SIZES["HR"]))
    return crops
