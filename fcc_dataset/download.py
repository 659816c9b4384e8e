"""YouTube downloads with yt-dlp's Python API, and what their failures mean.

A video that YouTube no longer serves (private, removed, blocked, age-gated...) is
`Unavailable`: retrying will not help. Anything else (network, throttling, a bot
check, a yt-dlp that YouTube has outpaced) is `DownloadFailed`: a rerun retries it.
"""

from __future__ import annotations

import re
from pathlib import Path

from spl_tf.utils.errors import disk_error
from spl_tf.utils.faults import fault_point

# The original took pytube's best progressive mp4, 720p in 2019. YouTube now serves
# progressive streams at 360p only, where no face crop reaches the 400 px of HR: so a
# 720p mp4, progressive if offered, else merged; anything else as a last resort. Frame
# numbers depend on the frame rate only, not on which of these is taken.
FORMAT = ("best[ext=mp4][height=720]/bv*[ext=mp4][height<=720]+ba[ext=m4a]"
          "/best[ext=mp4]/bv*+ba/best")
# Checked first: YouTube words some throttling as "isn't available, try again later".
PASSING = re.compile(r"try again later|not a bot|\b429\b|too many requests|requested format",
                     re.IGNORECASE)
UNAVAILABLE = re.compile(
    r"video unavailable|private video|video is private|removed|terminated|copyright"
    r"|no longer available|is not available|isn't available|available in your country"
    r"|members[- ]only|confirm your age|age[- ]restricted|inappropriate|does not exist"
    r"|has been deleted",
    re.IGNORECASE,
)


class Unavailable(Exception):
    """YouTube does not serve this video any more; the message is yt-dlp's reason."""


class DownloadFailed(Exception):
    """The download failed for another reason, maybe a passing one."""


class _Silent:
    """A yt-dlp logger that prints nothing: the errors come back as exceptions."""

    def debug(self, message: str) -> None:
        pass

    info = warning = error = debug


def download(video_id: str, folder: Path) -> Path:
    """Download `video_id` to `folder/<id>.mp4` (via a temporary name) and return it."""
    import imageio_ffmpeg
    import yt_dlp

    folder.mkdir(parents=True, exist_ok=True)
    stem = f".{video_id}.download"
    options = {
        "format": FORMAT,
        "merge_output_format": "mp4",
        "outtmpl": str(folder / f"{stem}.%(ext)s"),
        "ffmpeg_location": imageio_ffmpeg.get_ffmpeg_exe(),
        "quiet": True,
        "noprogress": True,
        "noplaylist": True,
        "logger": _Silent(),
    }
    try:
        try:
            with yt_dlp.YoutubeDL(options) as ydl:
                info = ydl.extract_info(f"https://www.youtube.com/watch?v={video_id}")
        except Exception as error:  # DownloadError mostly; yt-dlp can raise others
            raise disk_error(folder, reason_of(error)) or classify(error) from error
        fault_point("download:file")  # a kill here leaves the whole file, not yet renamed
        try:
            # Named .mp4 whatever the last-resort format was: ffmpeg reads the content.
            return Path(info["requested_downloads"][0]["filepath"]).replace(
                folder / f"{video_id}.mp4")
        except (KeyError, IndexError, TypeError, OSError) as error:
            raise DownloadFailed(f"yt-dlp reported no downloaded file ({error!r})") from error
    finally:
        for leftover in folder.glob(f"{stem}*"):
            leftover.unlink(missing_ok=True)


def classify(error: Exception) -> Unavailable | DownloadFailed:
    """`Unavailable` or `DownloadFailed`, with yt-dlp's message made short."""
    reason = reason_of(error)
    if UNAVAILABLE.search(reason) and not PASSING.search(reason):
        return Unavailable(reason)
    return DownloadFailed(reason)


def reason_of(error: Exception) -> str:
    """yt-dlp's message without colours, `ERROR:` and the `[youtube] ID:` prefix."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip() or type(error).__name__
    text = re.sub(r"^ERROR:\s*", "", text)
    text = re.sub(r"^\[[\w:]+\]\s*[\w-]+:\s*", "", text)
    return text.splitlines()[0] if text else type(error).__name__
