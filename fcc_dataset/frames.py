"""Frame extraction as the original does it, with the ffmpeg shipped in imageio-ffmpeg.

Every 20th frame of the first 2 min 30 s is saved as `ID_00001.jpg`, `ID_00002.jpg`, ...
and every 20th frame of the last 180 s as `ID_eof_00001.jpg`, ...; the CSV's frame names
are these names without `ID_`. So `NNNNN` is frame 20 (N - 1) of the video (frame 0 the
first; none from 150 s on), and `eof_NNNNN` is frame 20 (N - 1) counted from the one at
180 s before the end, or from frame 0 in a shorter video
(tests/fcc_dataset_tests/test_fcc_youtube.py).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from fcc_dataset import processes
from spl_tf.utils.errors import FileError, disk_error

STEP = 20
HEAD_SECONDS = 150
TAIL_SECONDS = 180
# The backslash escapes the comma for ffmpeg's filtergraph parser (no shell is involved).
SELECT = rf"select=not(mod(n\,{STEP}))"


class ExtractionError(Exception):
    """ffmpeg could not read the video; the message is ffmpeg's last line of complaint."""


def ffmpeg_exe() -> str:
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def extract(video: Path, video_id: str, folder: Path) -> dict[str, Path]:
    """Write the sampled frames of `video` into `folder`; frame name -> JPEG path."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FileError(folder, error) from None
    # `-fps_mode vfr` is ffmpeg 5+'s name for the original's `-vsync vfr`: one output
    # file per selected frame, none duplicated or dropped.
    common = ["-vf", SELECT, "-fps_mode", "vfr", "-q:v", "2"]
    _run(["-i", str(video), "-t", str(HEAD_SECONDS), *common,
          str(folder / f"{video_id}_%05d.jpg")])
    _run(["-sseof", f"-{TAIL_SECONDS}", "-i", str(video), *common,
          str(folder / f"{video_id}_eof_%05d.jpg")])
    prefix = f"{video_id}_"
    return {p.stem[len(prefix):]: p for p in sorted(folder.glob(f"{prefix}*.jpg"))}


def _run(arguments: list[str]) -> None:
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *arguments]
    # ffmpeg dies with the process that waits for it, so a killed worker leaves none.
    result = subprocess.run(command, capture_output=True, text=True, errors="replace",
                            preexec_fn=processes.end_with_parent())
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        message = f"ffmpeg: {lines[-1] if lines else f'exit code {result.returncode}'}"
        raise disk_error(arguments[-1], message) or ExtractionError(message)
