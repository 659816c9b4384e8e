"""Zip and tar archives unpacked safely: files and folders only, all inside the target,
whole or not at all.

A member whose path is absolute or climbs out with `..`, and any member that is not a
plain file or folder (a symbolic or hard link, a device, a pipe), refuses the whole
archive: `UnsafeArchive` names the archive and the member. tarfile's `"data"` filter
stands behind that check where this Python has it.

`unpack(archive, folder)` makes `folder` whole or not at all: it unpacks into a sibling
temporary folder and renames that to `folder` at the end, so a kill, a full disk or a
refused member never leaves a half-unpacked folder under the final name (the next call
removes the leftover). `extract` unpacks into a folder that exists (a staging folder the
caller renames when it is done).
"""

from __future__ import annotations

import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from spl_tf.utils import files
from spl_tf.utils.errors import FileError, InputError
from spl_tf.utils.faults import fault_point

STAGING = ".{name}.unpacking"  # the sibling folder `unpack` fills, named for the target
# The "data" filter's refusals (Python >= 3.10.12); none where there is no filter.
_FILTER_ERRORS = getattr(tarfile, "FilterError", ())


class UnsafeArchive(InputError):
    """A member would land outside the target folder, or is not a plain file or folder."""


class BadArchive(InputError):
    """The archive cannot be read: truncated, damaged, or not a zip or tar file."""


def unpack(archive: Path, folder: Path) -> Path:
    """Unpack `archive` into `folder`, which must not exist yet; return `folder`.

    The caller makes sure that one process unpacks into `folder` at a time (a lock).
    """
    folder = Path(folder)
    if folder.exists():
        raise FileError(folder, FileExistsError(17, "already exists"))
    staging = folder.with_name(STAGING.format(name=folder.name))
    remove(staging)  # left by a call that was killed
    made: list[Path] = []
    try:
        files.make_folders(staging, made)
        extract(archive, staging)
        staging.rename(folder)
        files.sync_folder(folder.parent)
    except OSError as error:
        remove(staging)
        files.remove_empty(made[1:])
        raise FileError(error.filename or folder, error) from None
    except BaseException:
        remove(staging)
        files.remove_empty(made[1:])
        raise
    return folder


def extract(archive: Path, folder: Path) -> None:
    """Unpack every member of a zip or tar `archive` into the existing `folder`.

    Refused or damaged archives raise before or while members are written: `folder` may
    then hold part of the archive, so it should be a staging folder (as in `unpack`).
    """
    archive = Path(archive)
    if zipfile.is_zipfile(archive):
        _extract_zip(archive, folder)
    else:
        _extract_tar(archive, folder)


def remove(folder: Path) -> None:
    """Remove a folder tree if it is there (a staging folder a kill left)."""
    if folder.is_dir() and not folder.is_symlink():
        shutil.rmtree(folder)
    elif folder.exists() or folder.is_symlink():
        folder.unlink()


def check_name(archive: Path, name: str) -> None:
    """UnsafeArchive unless `name` is a relative path that stays inside its folder."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts:
        raise UnsafeArchive(f"{archive}: refusing the member {name!r}: it would be written "
                            "outside the folder unpacked into (an absolute path or '..'); "
                            "the archive is not the expected one, so nothing was unpacked")


def _refuse_kind(archive: Path, name: str, kind: str) -> UnsafeArchive:
    return UnsafeArchive(f"{archive}: refusing the member {name!r}: a {kind}, where only "
                         "files and folders are expected; the archive is not the expected "
                         "one, so nothing was unpacked")


# ------------------------------------------------------------------------------ zip


def _extract_zip(archive: Path, folder: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            for info in members:  # the central directory: every name before any write
                check_name(archive, info.filename)
                kind = _zip_kind(info)
                if kind:
                    raise _refuse_kind(archive, info.filename, kind)
            for info in members:
                zf.extract(info, folder)
                fault_point(f"unpack:{archive.name}")
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as error:
        raise BadArchive(f"{archive}: cannot unpack it ({error}); delete it to download "
                         "it again") from None


def _zip_kind(info: zipfile.ZipInfo) -> str | None:
    """What a zip member is, if not a plain file or folder (from its Unix mode bits)."""
    mode = info.external_attr >> 16
    if not stat.S_IFMT(mode) or stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None  # no file type recorded (made on Windows): a file or, ending in /, a folder
    return "symbolic link" if stat.S_ISLNK(mode) else "special file"


# ------------------------------------------------------------------------------ tar


def _extract_tar(archive: Path, folder: Path) -> None:
    # One pass over the (compressed) stream: each member is checked as it comes, before it
    # is written; a refusal leaves the members before it in `folder` (see `extract`).
    try:
        with tarfile.open(archive) as tar:
            for member in _checked(archive, tar):
                if hasattr(tarfile, "data_filter"):
                    tar.extract(member, folder, filter="data")
                else:  # Python < 3.10.12: the check above is the whole of it
                    tar.extract(member, folder)
                fault_point(f"unpack:{archive.name}")
    except (tarfile.ReadError, tarfile.CompressionError, EOFError) as error:
        raise BadArchive(f"{archive}: cannot unpack it ({error}); delete it to download "
                         "it again") from None
    except _FILTER_ERRORS as error:  # the "data" filter's own refusal
        raise UnsafeArchive(f"{archive}: refusing a member ({error}); nothing was "
                            "unpacked") from None


def _checked(archive: Path, tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    for member in tar:
        check_name(archive, member.name)
        if member.issym():
            raise _refuse_kind(archive, member.name, "symbolic link")
        if member.islnk():
            raise _refuse_kind(archive, member.name, "hard link")
        if not (member.isfile() or member.isdir()):
            raise _refuse_kind(archive, member.name, "special file")
        yield member
