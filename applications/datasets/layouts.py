"""From what a dataset's archives unpack to, to the folder our commands read.

Each function takes the staging folder that every archive of a set was unpacked into
and returns the folder, in it, that becomes `--output_dir/NAME` (renamed there whole by
`fetching`). An archive that does not hold what its set should is an `InputError`
saying what is missing: the source serves another file than the one described here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from spl_tf.utils.errors import InputError

Arrange = Callable[[Path], Path]

SR_SCALES = (2, 3, 4)
SR_SETS = {"Set5": "Set5", "Set14": "Set14", "B100": "BSD100", "Urban100": "Urban100"}


def pix2pix(name: str, splits: tuple[str, ...]) -> Arrange:
    """The pix2pix archives hold `NAME/{train,val[,test]}/N.jpg`, each `[A | B]`: taken as
    they are, the layout `spl-pix2pix-train --data_dir` reads."""

    def arrange(unpacked: Path) -> Path:
        folder = unpacked / name
        _expect(unpacked, [folder / split for split in splits])
        return folder

    return arrange


def div2k(degradations: tuple[str, ...], scale: int) -> Arrange:
    """DIV2K's zips hold `DIV2K_{train,valid}_HR/` and
    `DIV2K_{train,valid}_LR_<degradation>/X<scale>/`: unpacked side by side, they are the
    layout `spl-srresnet-train --data_dir` reads."""

    def arrange(unpacked: Path) -> Path:
        _expect(unpacked, [unpacked / f"DIV2K_{split}_{part}" for split in ("train", "valid")
                           for part in ("HR", *(f"LR_{d}/X{scale}" for d in degradations))])
        return unpacked

    return arrange


def sr_benchmarks(unpacked: Path) -> Path:
    """EDSR's `benchmark/<set>/{HR,LR_bicubic/X<s>}/` as `<set>/X<s>/{LR,HR}/`: for each
    scale, the LR images (`NAMEx<s>.png`) and their HR images cut to exactly s times the
    LR size, as `spl-srresnet-predict --input_dir=... --hr_dir=...` pairs them.

    The HR images are cut from the top left, as EDSR's evaluation and MATLAB's `modcrop`
    do, where their size is not a multiple of the scale; others are linked, not copied.
    """
    source = unpacked / "benchmark"
    _expect(unpacked, [source / name / part for name in SR_SETS
                       for part in ("HR", *(f"LR_bicubic/X{s}" for s in SR_SCALES))])
    arranged = unpacked / ".arranged"
    for name, ours in SR_SETS.items():
        for scale in SR_SCALES:
            target = arranged / ours / f"X{scale}"
            target.mkdir(parents=True)
            lr_dir = (source / name / "LR_bicubic" / f"X{scale}").rename(target / "LR")
            for lr in sorted(lr_dir.glob("*.png")):
                stem = lr.stem[:-len(f"x{scale}")] if lr.stem.endswith(f"x{scale}") else lr.stem
                hr = source / name / "HR" / f"{stem}.png"
                if not hr.is_file():
                    raise InputError(f"{lr.name} of {name} has no HR image {hr.name} in the "
                                     "archive: not the expected benchmark.tar")
                _cut_to(hr, target / "HR" / hr.name, lr, scale)
    return arranged


def _cut_to(hr: Path, out: Path, lr: Path, scale: int) -> None:
    """`hr` at `out`, cut to `scale` times the size of `lr` from its top left."""
    from PIL import Image

    out.parent.mkdir(exist_ok=True)
    try:
        with Image.open(lr) as small:
            size = (small.width * scale, small.height * scale)
        with Image.open(hr) as image:
            if image.width < size[0] or image.height < size[1]:
                raise InputError(f"{hr.name} is {image.width}x{image.height}, smaller than "
                                 f"{scale} times {lr.name}: not the expected benchmark.tar")
            if image.size == size:
                out.hardlink_to(hr)
            else:
                image.crop((0, 0, *size)).save(out)
    except OSError as error:  # an image that cannot be read, or a full disk
        raise InputError(f"cannot cut {hr.name} to {scale} times {lr.name}: {error}") from None


def _expect(unpacked: Path, folders: list[Path]) -> None:
    missing = [str(folder.relative_to(unpacked)) for folder in folders if not folder.is_dir()]
    if missing:
        raise InputError(f"the archive holds no {', '.join(missing)}: not the archive this "
                         "set is described with (see `spl-data list`)")
