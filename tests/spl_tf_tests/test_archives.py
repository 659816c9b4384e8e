"""spl_tf.utils.archives: zip and tar archives unpacked whole or not at all, and never
outside their folder."""

import os
import stat
import tarfile
import zipfile

import pytest

from dataset_archives import tar_bytes
from spl_tf.utils import archives
from spl_tf.utils.archives import BadArchive, UnsafeArchive


def write_tar(path, members: dict, mode="w:gz"):
    """`members`: name -> bytes (a file), None (a folder) or a TarInfo (anything else)."""
    path.write_bytes(tar_bytes(members, mode))
    return path


def write_zip(path, members: dict):
    """`members`: name -> bytes, or a ZipInfo and bytes (a symbolic link's target)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, content in members.items():
            if isinstance(content, tuple):
                zf.writestr(*content)
            else:
                zf.writestr(name, content)
    return path


def _link(name, target, kind=tarfile.SYMTYPE):
    member = tarfile.TarInfo(name)
    member.type, member.linkname = kind, target
    return member


def _device(name):
    member = tarfile.TarInfo(name)
    member.type = tarfile.CHRTYPE
    return member


def _zip_symlink(name, target):
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target


GOOD = {"set/train/1.jpg": b"one", "set/test/": None, "set/test/2.jpg": b"two"}


@pytest.mark.parametrize("writer, name", [(write_tar, "set.tar.gz"), (write_zip, "set.zip")])
def test_an_archive_is_unpacked_whole_into_its_folder(tmp_path, writer, name):
    members = GOOD if writer is write_tar else {k: v or b"" for k, v in GOOD.items()
                                               if not k.endswith("/")}
    archive = writer(tmp_path / name, members)
    folder = archives.unpack(archive, tmp_path / "out" / "data")
    assert (folder / "set" / "train" / "1.jpg").read_bytes() == b"one"
    assert (folder / "set" / "test" / "2.jpg").read_bytes() == b"two"
    assert os.listdir(tmp_path / "out") == ["data"]  # no staging folder left


@pytest.mark.parametrize("member", [
    ("../escaped.txt", b"x"), ("/tmp/absolute.txt", b"x"), ("set/../../escaped.txt", b"x"),
    ("set/link", _link("set/link", "/etc/passwd")),
    ("set/link", _link("set/link", "../../outside")),
    ("set/hard", _link("set/hard", "/etc/passwd", tarfile.LNKTYPE)),
    ("set/dev", _device("set/dev")),
], ids=lambda m: m[0])
def test_a_tar_member_outside_the_folder_or_not_a_file_refuses_the_archive(tmp_path, member):
    name, content = member
    archive = write_tar(tmp_path / "bad.tar.gz", {**GOOD, name: content})
    with pytest.raises(UnsafeArchive, match=r"bad.tar.gz: refusing the member") as refused:
        archives.unpack(archive, tmp_path / "out" / "data")
    assert repr(name) in str(refused.value)
    assert not (tmp_path / "out").exists(), "nothing is left, not even the staging folder"
    assert not (tmp_path / "escaped.txt").exists()


@pytest.mark.parametrize("member", [
    ("../escaped.txt", b"x"), ("/abs.txt", b"x"),
    ("set/link", _zip_symlink("set/link", "/etc/passwd")),
], ids=lambda m: m[0])
def test_a_zip_member_outside_the_folder_or_a_link_refuses_the_archive(tmp_path, member):
    name, content = member
    archive = write_zip(tmp_path / "bad.zip", {"set/1.png": b"one", name: content})
    with pytest.raises(UnsafeArchive, match=rf"refusing the member {name!r}"):
        archives.unpack(archive, tmp_path / "out" / "data")
    assert not (tmp_path / "out").exists()


def test_a_damaged_archive_is_one_line_and_leaves_nothing(tmp_path):
    archive = write_tar(tmp_path / "set.tar.gz", GOOD)
    archive.write_bytes(archive.read_bytes()[:40])
    with pytest.raises(BadArchive, match=r"set.tar.gz: cannot unpack it"):
        archives.unpack(archive, tmp_path / "data")
    assert os.listdir(tmp_path) == ["set.tar.gz"]


def test_the_staging_folder_a_kill_left_is_replaced(tmp_path):
    archive = write_tar(tmp_path / "set.tar", GOOD, mode="w")
    stale = tmp_path / archives.STAGING.format(name="data")
    (stale / "set" / "train").mkdir(parents=True)
    (stale / "set" / "train" / "half.jpg").write_bytes(b"half")
    folder = archives.unpack(archive, tmp_path / "data")
    assert sorted(p.name for p in (folder / "set" / "train").iterdir()) == ["1.jpg"]
    assert sorted(os.listdir(tmp_path)) == ["data", "set.tar"]


def test_a_folder_that_exists_is_not_unpacked_into(tmp_path):
    archive = write_tar(tmp_path / "set.tar", GOOD, mode="w")
    (tmp_path / "data").mkdir()
    with pytest.raises(archives.FileError, match="already exists"):
        archives.unpack(archive, tmp_path / "data")
    assert os.listdir(tmp_path / "data") == []
