"""`spl-data fetch`: a dataset of the catalogue into `DIR/NAME`, whole or not at all.

Under the lock of `DIR` (one fetch at a time), each archive is downloaded into
`DIR/.downloads/` (resumed after an interruption, see `spl_tf.utils.downloads`) and
verified: against tensorflow-datasets' registered digest where there is one, else
against the digest recorded at its first download (`DIR/NAME.sha256`). The archives are
then unpacked into `DIR/.NAME.unpacking/` (members outside it refused), arranged into
the layout our commands read, marked with `.spl-data.json` and renamed to `DIR/NAME`;
the archives are deleted. So `DIR/NAME` is either absent or complete: a rerun after a
kill goes on from what is there, and a rerun on a complete set does nothing.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import shutil
from pathlib import Path

from applications.datasets import catalogue, registry
from applications.datasets.catalogue import Dataset
from spl_tf.utils import archives, downloads, files, locks
from spl_tf.utils.errors import FileError, InputError

DOWNLOADS = ".downloads"
MARKER = ".spl-data.json"  # in a complete set: what it was made from
STAGING = ".{name}.unpacking"
REPLACED = ".{name}.replaced"  # the set that --overwrite replaces, until the new one is in


@dataclasses.dataclass(frozen=True)
class Fetched:
    folder: Path
    downloaded: bool  # False: the set was complete already


def fetch(name: str, output_dir: Path, *, mirror: str | None = None, overwrite: bool = False,
          progress: bool = True) -> Fetched:
    """Fetch the set `name` into `output_dir/name` (see the module); where it is."""
    dataset = catalogue.get(name)
    output_dir = Path(output_dir).absolute()
    target = output_dir / dataset.name
    with locks.hold(output_dir, "--output_dir", "spl-data fetch"):
        if _complete(target, dataset) and not overwrite:
            return Fetched(target, downloaded=False)
        if target.exists() and not overwrite:
            raise InputError(f"{target} exists and was not made by spl-data; move it away, "
                             "use another --output_dir, or --overwrite to replace it")
        published = _published_digests(dataset)
        paths = _download(dataset, output_dir, mirror, published, progress)
        _install(dataset, paths, target, {"name": dataset.name, "sources": list(dataset.urls),
                                          "mirror": mirror or None,
                                          "verified": dataset.verification})
        for path in paths:
            path.unlink()
        files.remove_empty([output_dir / DOWNLOADS])
    return Fetched(target, downloaded=True)


def _complete(target: Path, dataset: Dataset) -> bool:
    try:
        marker = json.loads((target / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(marker, dict) and marker.get("name") == dataset.name


def _published_digests(dataset: Dataset) -> dict[str, tuple[int, str]]:
    """{url: (size, sha256)} of the archives, where a digest is published."""
    if not dataset.registered_by:
        return {}
    registered = registry.checksums(dataset.registered_by)
    missing = [url for url in dataset.urls if url not in registered]
    if missing:
        raise InputError(f"tensorflow-datasets registers no checksum for {missing[0]} "
                         f"({dataset.registered_by}); its version may name other files")
    return {url: registered[url] for url in dataset.urls}


def _download(dataset: Dataset, output_dir: Path, mirror: str | None,
              published: dict[str, tuple[int, str]], progress: bool) -> list[Path]:
    """The archives, whole and verified, in `output_dir/.downloads/`."""
    folder = output_dir / DOWNLOADS
    paths = []
    try:
        for url in dataset.urls:
            size, sha256 = published.get(url, (None, None))
            paths.append(downloads.fetch(
                downloads.mirrored(url, mirror), folder / downloads.file_name(url),
                sha256=sha256, size=size, progress=progress,
                digest_file=None if sha256 else output_dir / f"{dataset.name}.sha256"))
    finally:
        files.remove_empty([folder])  # a refused first download leaves nothing
    return paths


def _install(dataset: Dataset, paths: list[Path], target: Path, marker: dict) -> None:
    """Unpack and arrange the archives beside `target`, then rename the result to it."""
    staging = target.with_name(STAGING.format(name=dataset.name))
    archives.remove(staging)  # what a killed fetch left
    try:
        staging.mkdir()
        for path in paths:
            try:
                archives.extract(path, staging)
            except archives.BadArchive:
                path.unlink()  # damaged on disk: the rerun downloads it again
                raise
        folder = dataset.arrange(staging)
        marker["fetched"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds")
        files.write_bytes(folder / MARKER, json.dumps(marker, indent=1).encode())
        _replace(folder, target)
    except OSError as error:
        raise FileError(error.filename or staging, error) from None
    finally:
        archives.remove(staging)


def _replace(folder: Path, target: Path) -> None:
    """Rename `folder` to `target`; a `target` there already (--overwrite) goes only once
    the new set is in its place."""
    replaced = target.with_name(REPLACED.format(name=target.name))
    archives.remove(replaced)
    if target.exists():
        target.rename(replaced)
    folder.rename(target)
    files.sync_folder(target.parent)
    if replaced.exists():
        shutil.rmtree(replaced)
