"""Tiny archives modelled on the member lists of the real ones `spl-data` fetches, as a
local server serves them to the tests: the same names and folders, a few small images.

    facades.tar.gz                   facades/{train,val,test}/N.jpg          [A | B]
    edges2shoes.tar.gz ...           edges2shoes/{train,val}/N_AB.jpg
    DIV2K_train_HR.zip               DIV2K_train_HR/0001.png
    DIV2K_train_LR_bicubic_X4.zip    DIV2K_train_LR_bicubic/X4/0001x4.png
    benchmark.tar                    benchmark/{Set5,Set14,B100,Urban100}/HR/NAME.png,
                                     .../LR_bicubic/X{2,3,4}/NAMEx{2,3,4}.png
"""

from __future__ import annotations

import io
import tarfile
import zipfile

import cv2
import numpy as np

from applications.datasets import catalogue
from div2k_data import downscale, hr_photo
from spl_tf.utils import downloads

PIX2PIX_SPLITS = {"facades": ("train", "val", "test"), "cityscapes": ("train", "val"),
                  "maps": ("train", "val"), "edges2shoes": ("train", "val"),
                  "edges2handbags": ("train", "val"), "night2day": ("train", "val", "test")}
PAIRS_PER_SPLIT = 2
# DIV2K's numbering: 0001-0800 train, 0801-0900 valid; two images each here.
DIV2K_NAMES = {"train": ("0001", "0002"), "valid": ("0801", "0802")}
DIV2K_HR_SIZE = (48, 40)  # width, height: a multiple of 4
# Sizes that are not multiples of 3 or 4, as some of the real HR images: cut on fetching.
BENCHMARK_IMAGES = {"Set5": {"baby": (26, 25)}, "Set14": {"comic": (25, 26)},
                    "B100": {"3096": (26, 26)}, "Urban100": {"img001": (24, 24)}}


def archives() -> dict[str, bytes]:
    """{file name: content} of every archive of the catalogue."""
    made = {}
    for name, splits in PIX2PIX_SPLITS.items():
        made[f"{name}.tar.gz"] = pix2pix_archive(name, splits)
    made.update(div2k_archives())
    made["benchmark.tar"] = benchmark_archive()
    expected = {downloads.file_name(url) for d in catalogue.DATASETS for url in d.urls}
    assert set(made) == expected, "one tiny archive per archive of the catalogue"
    return made


def pix2pix_archive(name: str, splits=("train", "val", "test"), extra: dict | None = None
                    ) -> bytes:
    """`name/<split>/<i>.jpg` [A | B] pairs (`<i>_AB.jpg` for the edges2* sets); `extra`:
    more members, name -> bytes or TarInfo (a hostile one)."""
    rng = np.random.default_rng(len(name))
    members: dict = {f"{name}/": None}
    for split in splits:
        members[f"{name}/{split}/"] = None
        for i in range(1, PAIRS_PER_SPLIT + 1):
            stem = f"{i}_AB" if name.startswith("edges2") else str(i)
            members[f"{name}/{split}/{stem}.jpg"] = _encode(
                rng.integers(0, 256, (16, 32, 3), np.uint8), ".jpg")
    return tar_bytes({**members, **(extra or {})}, "w:gz")


def div2k_archives() -> dict[str, bytes]:
    """DIV2K's six x4 zips: HR, and LR by bicubic and 'unknown' degradation."""
    made = {}
    photos = ("astronaut", "coffee", "chelsea", "rocket")
    for split, names in DIV2K_NAMES.items():
        hrs = {n: hr_photo(photo, DIV2K_HR_SIZE) for n, photo in zip(names, photos)}
        made[f"DIV2K_{split}_HR.zip"] = zip_bytes(
            {f"DIV2K_{split}_HR/{n}.png": _encode(hr[..., ::-1], ".png")
             for n, hr in hrs.items()})
        for degradation, interpolation in (("bicubic", cv2.INTER_CUBIC),
                                           ("unknown", cv2.INTER_AREA)):
            folder = f"DIV2K_{split}_LR_{degradation}/X4"
            made[f"DIV2K_{split}_LR_{degradation}_X4.zip"] = zip_bytes(
                {f"{folder}/{n}x4.png": _encode(downscale(hr, 4, interpolation)[..., ::-1], ".png")
                 for n, hr in hrs.items()})
    return made


def benchmark_archive() -> bytes:
    """EDSR's benchmark.tar: HR images and their bicubic LR at x2, x3, x4 per set."""
    rng = np.random.default_rng(1)
    members: dict = {"benchmark/": None}
    for name, images in BENCHMARK_IMAGES.items():
        for stem, (width, height) in images.items():
            hr = rng.integers(0, 256, (height, width, 3), np.uint8)
            members[f"benchmark/{name}/HR/{stem}.png"] = _encode(hr, ".png")
            for scale in (2, 3, 4):
                lr = cv2.resize(hr[:height - height % scale, :width - width % scale],
                                (width // scale, height // scale), interpolation=cv2.INTER_CUBIC)
                members[f"benchmark/{name}/LR_bicubic/X{scale}/{stem}x{scale}.png"] = _encode(
                    lr, ".png")
    return tar_bytes(members, "w")


def tar_bytes(members: dict, mode: str) -> bytes:
    """A tar of `members`: name -> bytes (a file), None (a folder) or a TarInfo."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:
        for name, content in members.items():
            if isinstance(content, tarfile.TarInfo):
                tar.addfile(content)
                continue
            member = tarfile.TarInfo(name)
            if content is None:
                member.type = tarfile.DIRTYPE
                tar.addfile(member)
            else:
                member.size = len(content)
                tar.addfile(member, io.BytesIO(content))
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    """A zip with each member's folders listed before it, as DIV2K's zips have them."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        folders = sorted({name.rsplit("/", i)[0] + "/" for name in members
                          for i in range(1, name.count("/") + 1)})
        for folder in folders:
            zf.writestr(folder, b"")
        for name, content in members.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def _encode(image: np.ndarray, suffix: str) -> bytes:
    ok, data = cv2.imencode(suffix, image)
    assert ok
    return data.tobytes()
