"""The datasets `spl-data` fetches: one typed entry each, with where it comes from, how
big it is, how it is verified and how our commands read it.

Sources are those the field uses: the pix2pix authors' server (the download script of
pytorch-CycleGAN-and-pix2pix), DIV2K's own (ETH Zurich; the URLs tensorflow-datasets
registers), and for the SR test sets EDSR's `benchmark.tar`, a copy by a third party
(EDSR's authors) that most SR papers since evaluate on.
"""

from __future__ import annotations

import dataclasses

from applications.datasets import layouts
from spl_tf.utils.errors import InputError

PIX2PIX_URL = "http://efrosgans.eecs.berkeley.edu/pix2pix/datasets/{name}.tar.gz"
DIV2K_URL = "https://data.vision.ee.ethz.ch/cvl/DIV2K/{name}.zip"
SR_BENCHMARK_URL = "https://cv.snu.ac.kr/research/EDSR/benchmark.tar"


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A set `spl-data fetch NAME --output_dir=DIR` unpacks into `DIR/NAME`."""

    name: str
    description: str  # what it holds, one line
    urls: tuple[str, ...]  # its archives, at their source
    size: str  # of the download
    source: str  # who serves the archives
    layout: str  # what DIR/NAME holds
    usage: str  # the command that reads it
    arrange: layouts.Arrange = dataclasses.field(repr=False)
    # The tensorflow-datasets builder whose registered checksums the archives must match;
    # None: trust on first use.
    registered_by: str | None = None

    @property
    def verification(self) -> str:
        if self.registered_by:
            return (f"SHA-256 and size registered by tensorflow-datasets (its "
                    f"{self.registered_by} checksums, read from the installed package)")
        return (f"trust on first use (no digest is published): the SHA-256 of the first "
                f"download is kept in DIR/{self.name}.sha256, later ones must match it")


def _pix2pix(name: str, description: str, size: str, splits: tuple[str, ...],
             direction: str, task: str) -> Dataset:
    return Dataset(
        name=name, description=description, urls=(PIX2PIX_URL.format(name=name),),
        size=size, source="the pix2pix authors (UC Berkeley)",
        layout=f"{{{','.join(splits)}}}/*.jpg, each image [A | B] side by side",
        usage=(f"spl-pix2pix-train --data_dir=DIR/{name} --direction={direction} "
               f"--model_dir=RUN  ({task})"),
        arrange=layouts.pix2pix(name, splits))


_DIV2K_DEGRADATIONS = ("bicubic", "unknown")

DATASETS = (
    _pix2pix("facades", "CMP Facades: 400 training pairs [photo | label map]", "about 29 MB",
             ("train", "val", "test"), "BtoA", "labels -> photo, as in the pix2pix paper"),
    _pix2pix("cityscapes", "Cityscapes: 2975 training pairs [photo | label map]",
             "about 99 MB", ("train", "val"), "BtoA", "labels -> photo"),
    _pix2pix("maps", "Google Maps: 1096 training pairs [aerial photo | map]", "about 239 MB",
             ("train", "val"), "AtoB", "aerial -> map; BtoA for map -> aerial"),
    _pix2pix("edges2shoes", "UT Zappos50K: 50k training pairs [edges | photo]",
             "about 2.0 GB", ("train", "val"), "AtoB", "edges -> photo"),
    _pix2pix("edges2handbags", "Amazon handbags: 137k training pairs [edges | photo]",
             "about 8.0 GB", ("train", "val"), "AtoB", "edges -> photo"),
    _pix2pix("night2day", "Transient Attributes: 20k training pairs [night | day]",
             "about 1.9 GB", ("train", "val", "test"), "BtoA",
             "day -> night, as in the pix2pix paper; AtoB for night -> day"),
    Dataset(
        name="div2k",
        description=("DIV2K x4: 800 training and 100 validation 2K photos, with low-resolution "
                     "images by bicubic and by unknown degradation"),
        urls=tuple(DIV2K_URL.format(name=f"DIV2K_{split}_{part}")
                   for part in ("HR", *(f"LR_{d}_X4" for d in _DIV2K_DEGRADATIONS))
                   for split in ("train", "valid")),
        size="about 4.5 GB", source="the DIV2K authors (ETH Zurich, NTIRE 2017)",
        layout=("DIV2K_{train,valid}_HR/, "
                "DIV2K_{train,valid}_LR_{bicubic,unknown}/X4/: DIV2K's own folders"),
        usage=("spl-srresnet-train --data_dir=DIR/div2k --degradation=unknown "
               "--model_dir=RUN  (or --degradation=bicubic)"),
        arrange=layouts.div2k(_DIV2K_DEGRADATIONS, 4),
        registered_by="div2k"),
    Dataset(
        name="sr_benchmarks",
        description=("the SR test sets Set5, Set14, BSD100 and Urban100: HR images with "
                     "bicubic LR at x2, x3, x4"),
        urls=(SR_BENCHMARK_URL,), size="about 250 MB",
        source=("EDSR's authors (SNU): a third-party copy, the one SR papers evaluate on; "
                "the sets' own authors publish no archive of these images"),
        layout=("{Set5,Set14,BSD100,Urban100}/X{2,3,4}/{LR,HR}/: LR NAMExS.png, HR NAME.png "
                "cut to S times the LR size"),
        usage=("spl-srresnet-predict --checkpoint=RUN/export "
               "--input_dir=DIR/sr_benchmarks/Set5/X4/LR --hr_dir=DIR/sr_benchmarks/Set5/X4/HR "
               "--output_dir=OUT"),
        arrange=layouts.sr_benchmarks),
)

# Sets of the field with no stable public archive to fetch, and what to do instead.
ELSEWHERE = (
    ("Manga109", "distributed by its authors on request only (no public archive): put its "
                 "images as DIR/Manga109/X4/{LR,HR}/ (NAMEx4.png, NAME.png) and predict as "
                 "for sr_benchmarks"),
    ("FCC", "the makeup application's faces are rebuilt from YouTube by `fcc-build` "
            "(see docs/fcc.md)"),
)


def get(name: str) -> Dataset:
    """The entry named `name`; InputError listing the names otherwise."""
    for dataset in DATASETS:
        if dataset.name == name:
            return dataset
    raise InputError(f"no dataset named {name!r}; `spl-data list` describes "
                     f"{', '.join(d.name for d in DATASETS)}")
