"""The datasets of the field, fetched and unpacked as the trainers read them.

    spl-data list
    spl-data fetch facades --output_dir=data
    spl-pix2pix-train --data_dir=data/facades --direction=BtoA --model_dir=runs/facades

`list` describes every set: what it holds, its source and size, how it is verified,
its layout and the command that reads it. `fetch NAME` downloads it into
OUTPUT_DIR/NAME: resumed after an interruption, verified (a published digest, else the
one recorded at the first download), unpacked whole or not at all. A second fetch of a
complete set does nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from absl import flags

from applications.common import config
from applications.datasets import catalogue, fetching
from applications.datasets.config import MIRROR_VARIABLE, DataConfig, FetchConfig
from spl_tf.utils import cli, downloads
from spl_tf.utils.errors import InputError

USAGE = "spl-data list, or spl-data fetch NAME --output_dir=DIR"
MIRROR_SCHEMES = ("http://", "https://", "file://")


def define_flags(flag_values: flags.FlagValues) -> None:
    """The flags of this command, defined when it runs (importing defines none)."""
    config.define_flags(DataConfig, flag_values)


def listing(mirror: str = "") -> str:
    """What `spl-data list` prints."""
    lines = ["spl-data fetch NAME --output_dir=DIR unpacks a set into DIR/NAME.", ""]
    for dataset in catalogue.DATASETS:
        sources = [downloads.mirrored(url, mirror) for url in dataset.urls]
        lines += [f"{dataset.name}: {dataset.description}; {dataset.size}",
                  f"  source:   {dataset.source}",
                  *(f"            {url}" for url in sources),
                  f"  verified: {dataset.verification}",
                  f"  layout:   DIR/{dataset.name}/{dataset.layout}",
                  f"  use:      {dataset.usage}", ""]
    lines.append("Not fetched here (no stable public archive):")
    lines += [f"  {name}: {what}" for name, what in catalogue.ELSEWHERE]
    if mirror:
        lines += ["", f"From the mirror {mirror} (--mirror or ${MIRROR_VARIABLE}), checked "
                      "against the same digests."]
    return "\n".join(lines)


def main(arguments: list[str]) -> None:
    settings = config.from_flags(DataConfig, flags.FLAGS).fetch
    mirror = _mirror(settings)
    match arguments:
        case ["list"]:
            print(listing(mirror))
        case ["fetch", name]:
            fetch(name, settings, mirror)
        case ["fetch"]:
            raise InputError("name the set to fetch: spl-data fetch NAME --output_dir=DIR "
                             "(spl-data list describes them)")
        case ["fetch", *names]:
            raise InputError(f"fetch takes one set, not {len(names)}: {' '.join(names)}")
        case _:
            given = " ".join(arguments) or "nothing"
            raise InputError(f"expected {USAGE} (given: {given})")


def fetch(name: str, settings: FetchConfig, mirror: str) -> None:
    """`spl-data fetch NAME`: the set, then the command that reads it."""
    dataset = catalogue.get(name)  # an unknown name before a missing folder
    if not settings.output_dir:
        raise InputError(f"give --output_dir: spl-data fetch {name} --output_dir=DIR")
    fetched = fetching.fetch(name, Path(settings.output_dir), mirror=mirror or None,
                             overwrite=settings.overwrite, progress=settings.progress)
    done = "fetched into" if fetched.downloaded else "complete already in"
    print(f"{name}: {done} {fetched.folder}")
    print(f"use: {dataset.usage.replace('DIR/', f'{fetched.folder.parent}/')}")


def _mirror(settings: FetchConfig) -> str:
    """The mirror asked for, by flag or else by environment; "" for none."""
    mirror = settings.mirror or os.environ.get(MIRROR_VARIABLE, "")
    if mirror and not mirror.startswith(MIRROR_SCHEMES):
        given = "--mirror" if settings.mirror else f"${MIRROR_VARIABLE}"
        raise InputError(f"{given}={mirror}: expected a base URL starting with "
                         f"{', '.join(MIRROR_SCHEMES)}")
    return mirror


def entry_point() -> None:
    cli.run(main, define_flags, arguments=True)


if __name__ == "__main__":
    entry_point()
