"""Where prediction and transfer write: never over an input, never mixed with other outputs.

Both commands check, before writing anything, that no input lies where they write
(`check_apart`), and then claim their output folder (`claim`): a record file names
what the outputs there come from, a rerun of the same command finishes the folder,
and a folder holding other outputs, or files of the output names that the command
did not write, is refused unless `--overwrite` is given.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from absl import logging

from spl_tf.utils import files
from spl_tf.utils.errors import FileError, InputError


def check_apart(writes: Iterable[Path], reads: Mapping[str, Path | None],
                image_folders: Iterable[str] = ()) -> None:
    """InputError if the command would write over one of its inputs.

    writes: the files and folders the command writes (or replaces, with --overwrite).
    reads: the inputs by flag (`--input_dir`: a path); an input must not be, nor lie in,
        a path written. Compared through links (symbolic and hard).
    image_folders: the flags of `reads` whose files the command reads: nothing may be
        written directly into those folders either.
    """
    image_folders = set(image_folders)
    for out in writes:
        for flag, given in reads.items():
            if given is None:
                continue
            if _same(given, out) or _inside(given, out):
                where = "is" if _same(given, out) else "is inside"
                raise InputError(f"{flag}={given} {where} {out}, which this command writes; "
                                 "give another output")
            if flag in image_folders and _same(out.parent, given):
                raise InputError(f"{flag}={given} would receive the output {out.name} among "
                                 "its images; write the outputs elsewhere")


def _same(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links too
    except OSError:
        return False  # one of them does not exist (yet)


def _inside(path: Path, folder: Path) -> bool:
    return os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep)


def claim(output_dir: Path, record: str, provenance: dict[str, Any], owned: Iterable[str],
          overwrite: bool, flag: str = "--output_dir", noun: str = "predictions") -> None:
    """Make `output_dir` this command's: refuse to mix new outputs with other ones.

    record: the file naming what the outputs come from (e.g. `predict.json`).
    noun: what the outputs are, in the messages.
    owned: the names, in `output_dir`, of the files and folders the command writes.
    A folder with outputs of the same provenance is finished (the same files, the same
    names). Other outputs, or files of the owned names without a record, stop with an
    error; with `overwrite`, the earlier outputs are removed first. Other files in the
    folder are left alone, and the temporary files of a killed write are removed.
    """
    record_path = output_dir / record
    owned = [*owned, record]
    present = [name for name in owned if (output_dir / name).exists()]
    if present:
        earlier = _read(record_path)
        if earlier != provenance:
            what = (f"{noun} of {earlier.get('checkpoint') or earlier.get('model')} on "
                    f"{earlier.get('images')}" if earlier else
                    f"files this command did not write ({', '.join(present[:3])})")
            if not overwrite or not earlier:
                raise InputError(f"{flag}={output_dir} already holds {what}; give another "
                                 f"{flag}" + (", or --overwrite to replace them"
                                              if earlier else ""))
            logging.warning("--overwrite: removing the %s in %s", what, output_dir)
            for name in owned:
                _remove(output_dir / name)
    _remove_temporary_files(output_dir, owned)
    files.write_bytes(record_path, json.dumps(provenance, indent=2).encode() + b"\n")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    except OSError as error:
        raise FileError(path, error, "remove") from None


def _remove_temporary_files(output_dir: Path, owned: list[str]) -> None:
    """The `.NAME.*.tmp` files of writes a kill interrupted (see `spl_tf.utils.files`)."""
    for folder in [output_dir, *(output_dir / name for name in owned)]:
        if folder.is_dir():
            for stale in folder.glob(".*.tmp"):
                if stale.is_file():
                    stale.unlink()
