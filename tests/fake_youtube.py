"""YouTube without the network: yt-dlp's `YoutubeDL` replaced by one that "downloads"
the `<id>.mp4` files of a folder, so that the build's default path (download, extract,
delete) runs as it does against YouTube.

In a test, in-process:

    monkeypatch.setattr(yt_dlp, "YoutubeDL", fake_youtube.serving(folder))

As a command, the build served by FOLDER, for tests that must SIGKILL a build (its
worker processes are spawned and would not be patched: give it `--jobs=1`):

    python tests/fake_youtube.py FOLDER --output_dir=... (the flags of fcc_dataset.build)
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

UNAVAILABLE = "Video unavailable. This video has been removed by the uploader"


class FakeYoutubeDL:
    """What `download.download` uses of yt-dlp's `YoutubeDL`. Writes `videos/<id>.mp4`
    as yt-dlp does (to `<name>.part`, renamed when whole) at the output template, or
    raises `fail` once the part is written; a video not in `videos` is unavailable.
    `downloads` lists the files written, in order (shared by every instance)."""

    videos: Path
    fail: Exception | None = None
    downloads: list[Path]

    def __init__(self, options):
        self.options = options

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def extract_info(self, url: str) -> dict:
        from yt_dlp.utils import DownloadError

        video_id = url.rpartition("v=")[2]
        source = self.videos / f"{video_id}.mp4"
        if not source.is_file():
            raise DownloadError(f"ERROR: [youtube] {video_id}: {UNAVAILABLE}")
        path = Path(self.options["outtmpl"].replace("%(ext)s", "mp4"))
        part = Path(f"{path}.part")
        shutil.copyfile(source, part)
        if self.fail:
            raise self.fail
        part.rename(path)
        self.downloads.append(path)
        return {"requested_downloads": [{"filepath": str(path)}]}


def serving(videos: Path) -> type[FakeYoutubeDL]:
    """A `FakeYoutubeDL` class serving the `<id>.mp4` files of `videos`."""
    return type("FakeYoutubeDL", (FakeYoutubeDL,), {"videos": videos, "downloads": []})


def main() -> None:
    """`fcc_dataset.build`'s command, served by the folder of the first argument."""
    import yt_dlp

    from fcc_dataset import build

    yt_dlp.YoutubeDL = serving(Path(sys.argv.pop(1)))
    build.entry_point()


if __name__ == "__main__":
    # Run as a script, sys.path starts with tests/: put this checkout's root first, as
    # `python -m fcc_dataset.build` run from there does, so its code is the one tested.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
