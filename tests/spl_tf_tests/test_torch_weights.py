"""spl_tf.utils.torch_weights: PyTorch files read without PyTorch, and never run.

The files under tests/data/torch_weights/ were written by `torch.save` (PyTorch 2.14, by
tests/golden_metrics/make_golden.py) in both layouts: zip, and the legacy one of the
published LPIPS, AlexNet, VGG16 and FID Inception weights. The files that would run code
are written here, with Python's pickle. Published files are downloaded from a local HTTP
server (http_server.py) whose files' digests the tests compute: never the real ones.
"""

import dataclasses
import hashlib
import os
import pickle
import socket
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from golden_metrics import seeded
from http_server import serving
from torch_files import Tensor, write_state_dict
from spl_tf.utils import torch_weights
from spl_tf.utils.downloads import DigestMismatch
from spl_tf.utils.errors import FileError, InputError
from spl_tf.utils.torch_weights import (
    MIRROR_VARIABLE,
    PublishedFile,
    check_sha256,
    load_torch_weights,
    published_path,
)

FILES = Path(__file__).parents[1] / "data" / "torch_weights"


def _expected() -> dict[str, np.ndarray]:
    tensors = seeded.reader_tensors()
    conv = tensors["conv"]
    # bfloat16 keeps the top 16 bits of a float32 (rounded to nearest even).
    bits = conv.view(np.uint32)
    rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16 << 16).astype(np.uint32)
    return {**tensors, "bfloat16": rounded.view(np.float32),
            "transposed": conv.transpose(3, 2, 1, 0), "slice": conv[1, :, 2]}


@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_reads_what_torch_saved(layout):
    state = load_torch_weights(FILES / f"{layout}.pth")
    expected = _expected()
    assert sorted(state) == sorted(expected)
    for name, value in expected.items():
        assert state[name].dtype == value.dtype, name
        np.testing.assert_array_equal(state[name], value, err_msg=name)
        assert state[name].flags.c_contiguous and state[name].flags.owndata, name


def test_reads_the_lpips_heads_in_the_published_layout():
    state = load_torch_weights(FILES / "lpips_alex_heads_seeded.pth")
    assert {name: value.shape for name, value in state.items()} == {
        f"lin{k}.model.1.weight": (1, c, 1, 1) for k, c in enumerate((64, 192, 384, 256, 256))}


def test_digest_is_checked_before_parsing(tmp_path):
    path = FILES / "zip.pth"
    digest = check_sha256(path, _sha256(path)[:8])
    assert digest == _sha256(path)
    assert load_torch_weights(path, sha256=digest.upper())  # hex, any case
    # A file that is no pickle at all, with the wrong digest: the digest is what is
    # reported, so it was checked first.
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a pickle")
    with pytest.raises(InputError, match=r"junk\.pth: SHA-256 [0-9a-f]{64} does not match "
                                         r"the expected 12345678: .*fetch it again$"):
        load_torch_weights(junk, sha256="12345678")
    with pytest.raises(InputError, match="sha256 must be a SHA-256 digest in hex"):
        load_torch_weights(path, sha256="xyz")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class _RunsCode:
    """A pickle of this runs `touch <marker>` when it is loaded by a plain unpickler."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _zip_file(path: Path, state) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps(state, protocol=2))
    return path


def _legacy_file(path: Path, state) -> Path:
    parts = [torch_weights.LEGACY_MAGIC, torch_weights.LEGACY_PROTOCOL,
             {"protocol_version": 1001, "little_endian": True}, state, []]
    path.write_bytes(b"".join(pickle.dumps(part, protocol=2) for part in parts))
    return path


@pytest.mark.parametrize("write", [_zip_file, _legacy_file], ids=["zip", "legacy"])
def test_a_pickle_that_would_run_code_is_refused_and_not_run(tmp_path, write):
    marker = tmp_path / "ran"
    evil = write(tmp_path / "evil.pth", OrderedDict(weight=_RunsCode(marker)))
    with pytest.raises(InputError) as error:
        load_torch_weights(evil)
    message = str(error.value)
    assert message == (f"{evil}: refused: it asks for posix.system, which a file of tensor "
                       f"weights does not hold; nothing in it was run")
    assert "\n" not in message
    assert not marker.exists()
    # The same pickle does run code when loaded plainly: the test would notice.
    with zipfile.ZipFile(_zip_file(tmp_path / "plain.pth", _RunsCode(marker))) as archive:
        pickle.loads(archive.read("archive/data.pkl"))
    assert marker.exists()


@pytest.mark.parametrize("global_name", ["builtins.eval", "numpy.load", "torch.load",
                                         "torch.nn.modules.conv.Conv2d"])
def test_every_other_global_is_refused(tmp_path, global_name):
    module, name = global_name.rsplit(".", 1)
    # GLOBAL module name, an empty tuple, REDUCE: what a pickle of a call is made of.
    payload = (b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n)R.")
    path = tmp_path / "global.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", payload)
    with pytest.raises(InputError, match=rf"refused: it asks for {global_name}, which"):
        load_torch_weights(path)


def test_files_written_without_torch_round_trip(tmp_path):
    # tests/torch_files.py, which the metrics' tests use, writes what the reader reads.
    state = {"w": np.arange(24, dtype=np.float32).reshape(2, 3, 4), "b": np.ones(3, np.int64)}
    loaded = load_torch_weights(write_state_dict(tmp_path / "w.pth", state))
    assert loaded.keys() == state.keys()
    for name in state:
        np.testing.assert_array_equal(loaded[name], state[name])


@pytest.mark.parametrize("offset,size,stride,reason", [
    (0, (100,), (1,), "a tensor that reaches past the end of its storage"),
    (3, (2, 2), (1, 1), "a tensor that reaches past the end of its storage"),
    (0, (2,), (-1,), "a tensor record with a malformed shape or stride"),
])
def test_a_tensor_outside_its_storage_is_refused(tmp_path, offset, size, stride, reason):
    # as_strided would read memory outside the array.
    tensor = Tensor("0", np.float32, 4, offset, size, stride)
    path = write_state_dict(tmp_path / "bad.pth", {"w": tensor},
                            storages={"0": struct.pack("<4f", 1, 2, 3, 4)})
    with pytest.raises(InputError, match=f"bad.pth: refused: {reason}; nothing in it was run"):
        load_torch_weights(path)


@pytest.mark.parametrize("content,reason", [
    (b"", "neither a zip archive nor a pickle"),
    (b"plain text", "neither a zip archive nor a pickle"),
    (pickle.dumps(3, protocol=2), "a pickle, but not one that torch.save wrote"),
])
def test_other_files_are_one_line(tmp_path, content, reason):
    path = tmp_path / "other.pth"
    path.write_bytes(content)
    with pytest.raises(InputError) as error:
        load_torch_weights(path)
    assert str(error.value) == (f"{path}: not a PyTorch weight file that can be read "
                                f"({reason})")


def test_a_truncated_file_is_one_line(tmp_path):
    path = tmp_path / "cut.pth"
    path.write_bytes((FILES / "legacy.pth").read_bytes()[:-10])
    with pytest.raises(InputError, match=r"cut\.pth: not a PyTorch weight file that can be "
                                         r"read \(the file ends before its last tensor\)"):
        load_torch_weights(path)


def test_a_missing_file_is_a_file_error(tmp_path):
    with pytest.raises(FileError, match="cannot read .*absent.pth: No such file"):
        load_torch_weights(tmp_path / "absent.pth")


def test_a_state_that_is_not_tensors_is_refused(tmp_path):
    path = _zip_file(tmp_path / "list.pth", [1, 2])
    with pytest.raises(InputError, match=r"list\.pth: holds a list, not a state dict"):
        load_torch_weights(path)
    path = _zip_file(tmp_path / "int.pth", OrderedDict(epoch=3))
    with pytest.raises(InputError, match=r"int\.pth: epoch is a int, not a tensor"):
        load_torch_weights(path)


# ---------------------------------------------------------------- published files


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("SPL_TF_CACHE", str(tmp_path))
    return tmp_path / "weights"


@pytest.fixture
def server():
    with serving() as server:
        yield server


def _served(server, name: str, data: bytes, digits: int = 8, url: str | None = None
            ) -> PublishedFile:
    """`data` served as `name`, and a PublishedFile of that name with its digest (the first
    `digits` hex digits, as a model zoo's file name gives them), computed here."""
    server.files[f"/{name}"] = data
    return PublishedFile(url or f"https://example.org/models/{name}",
                         hashlib.sha256(data).hexdigest()[:digits], "a zoo")


@pytest.mark.parametrize("digits", [8, 64])
def test_published_weights_are_downloaded_on_first_use_then_found(cache, server, monkeypatch,
                                                                  digits):
    monkeypatch.setenv(MIRROR_VARIABLE, server.url)
    data = (FILES / "zip.pth").read_bytes()
    file = _served(server, "net-0123abcd.pth", data, digits)
    path = published_path(file)
    assert path == cache / "net-0123abcd.pth" and path.read_bytes() == data
    assert os.listdir(cache) == ["net-0123abcd.pth"]  # no part file, no digest file left
    assert [r.path for r in server.requests] == ["/net-0123abcd.pth"]
    assert load_torch_weights(path).keys() == _expected().keys()
    # Found the next time, its digest checked: nothing is asked of the server.
    assert published_path(file) == path and len(server.requests) == 1
    # Another folder (a command's --weights_dir) gets its own copy.
    assert published_path(file, folder=cache.parent / "mine").read_bytes() == data


def test_without_a_mirror_the_publishers_url_is_fetched(cache, server, monkeypatch):
    monkeypatch.delenv(MIRROR_VARIABLE)
    data = (FILES / "legacy.pth").read_bytes()
    file = _served(server, "legacy-1.pth", data, url=f"{server.url}legacy-1.pth")
    assert published_path(file).read_bytes() == data


def test_a_download_with_another_digest_is_refused_and_not_kept(cache, server, monkeypatch):
    monkeypatch.setenv(MIRROR_VARIABLE, server.url)
    file = dataclasses.replace(_served(server, "net-0123abcd.pth", b"not the weights"),
                               sha256="0123abcd")
    with pytest.raises(DigestMismatch, match=(
            rf"^{cache}/net-0123abcd.pth from {server.url}net-0123abcd.pth has SHA-256 "
            rf"[0-9a-f]{{64}}, not the 0123abcd\.\.\. published for it; the download was "
            rf"deleted$")):
        published_path(file)
    assert not cache.exists()


def test_a_copy_with_another_digest_is_refused_and_left_for_its_owner(cache, server,
                                                                      monkeypatch):
    monkeypatch.setenv(MIRROR_VARIABLE, server.url)
    file = _served(server, "net-0123abcd.pth", (FILES / "zip.pth").read_bytes())
    cache.mkdir()
    (cache / file.name).write_bytes(b"a damaged copy")
    with pytest.raises(DigestMismatch, match=rf"net-0123abcd.pth: SHA-256 [0-9a-f]{{64}} does "
                                             rf"not match the expected {file.sha256}: .*"
                                             rf"delete it and fetch it again$"):
        published_path(file)
    assert (cache / file.name).read_bytes() == b"a damaged copy" and not server.requests


def test_weights_neither_there_nor_downloadable_are_one_line_naming_both_ways_out(
        cache, monkeypatch):
    with socket.socket() as s:  # a port where nothing listens: offline, as far as a test can
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv(MIRROR_VARIABLE, f"http://127.0.0.1:{closed}/")
    file = PublishedFile("https://example.org/models/net-0123abcd.pth", "0123abcd", "a zoo")
    with pytest.raises(InputError) as error:
        published_path(file, "--lpips_weights")
    assert str(error.value) == (
        f"the weights net-0123abcd.pth (a zoo) are not at {cache}/net-0123abcd.pth, and "
        f"cannot download http://127.0.0.1:{closed}/net-0123abcd.pth: Connection refused: "
        f"download https://example.org/models/net-0123abcd.pth there (or set "
        f"SPL_TF_WEIGHTS_MIRROR to a base URL that serves net-0123abcd.pth), or pass the path "
        f"of a copy as --lpips_weights=")
    assert not cache.exists(), "a refused download leaves no folder behind"


def test_reading_imports_no_torch_and_no_keras():
    import subprocess
    import sys

    code = ("import sys; from spl_tf.utils.torch_weights import load_torch_weights; "
            f"s = load_torch_weights({str(FILES / 'zip.pth')!r}); "
            "print(sorted(m for m in ('torch', 'keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"
