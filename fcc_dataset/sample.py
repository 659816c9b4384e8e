"""A short synthetic "makeup tutorial" to try the pipeline offline, and for the tests.

Frames alternate, in blocks of 20 (the extraction step), between scikit-image's
astronaut photo (a real face that dlib finds, box about 90 px) and a grey gradient
without a face, so the frame names that show a face are known in advance:

    python -m fcc_dataset.sample --path=/tmp/videos/abcdefghijk.mp4 --seconds=10
"""

from __future__ import annotations

import itertools
import subprocess
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from absl import flags

from fcc_dataset import frames, processes
from spl_tf.utils import cli
from spl_tf.utils.errors import InputError

SIZE = 512  # the astronaut photo is 512x512


def has_face(sampled: int, no_face_every: int = 3) -> bool:
    """Whether the `sampled`-th extracted frame (1-based, as in `00003`) shows the face.

    Also true of `eof_` frames while the video is shorter than 180 s, since the tail
    extraction then starts at the first frame too.
    """
    return sampled % no_face_every != 0


def sample_frames(seconds: float, fps: int, no_face_every: int = 3):
    """The video's frames, RGB uint8 (SIZE, SIZE, 3), one 20-frame block per sample."""
    from skimage import data

    face = data.astronaut()
    ramp = np.linspace(40, 200, SIZE, dtype=np.float32)
    blank = np.repeat(np.add.outer(ramp, ramp[::-1])[..., None] / 2, 3, axis=2).astype(np.uint8)
    for n in range(round(seconds * fps)):
        yield face if has_face(n // frames.STEP + 1, no_face_every) else blank


def write_sample_video(path: Path, seconds: float = 3, fps: int = 20,
                       no_face_every: int = 3) -> Path:
    """Encode the sample frames as an H.264 mp4 at `path` with the bundled ffmpeg."""
    return write_video(path, sample_frames(seconds, fps, no_face_every), fps)


def write_video(path: Path, video_frames: Iterable[np.ndarray], fps: int) -> Path:
    """Encode RGB uint8 frames, all of one size, as an H.264 mp4 at `path` with the
    bundled ffmpeg; returns `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    video_frames = iter(video_frames)
    first = next(video_frames)
    height, width = first.shape[:2]
    command = [
        frames.ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-r", str(fps),
        "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast", str(path),
    ]
    with subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                          preexec_fn=processes.end_with_parent()) as ffmpeg:
        for frame in itertools.chain([first], video_frames):
            ffmpeg.stdin.write(frame.tobytes())
        _, stderr = ffmpeg.communicate()
    if ffmpeg.returncode != 0:
        raise RuntimeError(f"ffmpeg could not write {path}: {stderr.decode(errors='replace')}")
    return path


def define_flags(flag_values: flags.FlagValues) -> None:
    """The flags of this command, defined when it runs (importing defines none)."""
    fv = {"flag_values": flag_values, "module_name": "video"}
    flags.DEFINE_string("path", None, f"{cli.REQUIRED} Where to write the mp4 (name it "
                        "<11-char id>.mp4).", **fv)
    flags.DEFINE_float("seconds", 3, "Length in seconds.", lower_bound=0.1, **fv)
    flags.DEFINE_integer("fps", 20, "Frames per second.", lower_bound=1, **fv)


def main() -> None:
    values = flags.FLAGS
    if not values.path:
        raise InputError("--path is required (where to write the mp4)")
    print(f"wrote {write_sample_video(Path(values.path), values.seconds, values.fps)}")


if __name__ == "__main__":
    cli.run(main, define_flags)
