"""The optional dependencies: which extra of setup.py installs each, and a check naming it.

`pip install spl_tf` leaves out what only the face tools need (`[makeup]`: dlib and its
landmark model) and what only rebuilding FCC needs (`[fcc]`: yt-dlp and the ffmpeg wheel,
plus `[makeup]`). The commands and functions that need them call `require` before any
work starts, so a missing package is one `error:` line saying what to install instead of
an ImportError from deep inside a run, or from a worker process. The modules themselves
import those packages only where they use them, so every other command works without.
"""

from __future__ import annotations

import importlib.util

from spl_tf.utils.errors import InputError

# The module a package is imported as -> the package pip installs it from.
PACKAGES = {
    "dlib": "dlib-bin",
    "face_recognition_models": "face-recognition-models",
    "tqdm": "tqdm",
    "yt_dlp": "yt-dlp",
    "imageio_ffmpeg": "imageio-ffmpeg",
}


class MissingExtra(InputError, ImportError):
    """An optional package is not installed. An InputError, so that a command shows it as
    one line; an ImportError too, for callers that catch what a failed import raises."""


def require(extra: str, *modules: str) -> None:
    """Raise MissingExtra, naming `pip install "spl_tf[<extra>]"`, unless every one of
    `modules` is installed.

    Looked up, not imported: importing yt-dlp costs half a second, and
    face_recognition_models' `__init__` needs `pkg_resources`, which its data does not.
    """
    missing = [module for module in modules if not _installed(module)]
    if missing:
        packages = ", ".join(PACKAGES[module] for module in missing)
        raise MissingExtra(f"{packages} not installed; this needs the [{extra}] extra: "
                           f'pip install "spl_tf[{extra}]"', name=missing[0])


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install is no install
        return False
