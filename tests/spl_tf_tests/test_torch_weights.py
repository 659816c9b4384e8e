"""spl_tf.utils.torch_weights: PyTorch files read without PyTorch, and never run.

The files under tests/data/torch_weights/ were written by `torch.save` (PyTorch 2.14, by
tests/golden_metrics/make_golden.py) in both layouts: zip, and the legacy one of the
published LPIPS, AlexNet, VGG16 and FID Inception weights. The files that would run code
are written here, with Python's pickle.
"""

import os
import pickle
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from golden_metrics import seeded
from torch_files import Tensor, write_state_dict
from spl_tf.utils import torch_weights
from spl_tf.utils.errors import FileError, InputError
from spl_tf.utils.torch_weights import (
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
    import hashlib

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


def test_published_path_names_both_ways_out(tmp_path, monkeypatch):
    monkeypatch.setenv("SPL_TF_CACHE", str(tmp_path))
    file = PublishedFile("https://example.org/models/net-0123abcd.pth", "0123abcd", "a zoo")
    with pytest.raises(InputError) as error:
        published_path(file, "weights")
    assert str(error.value) == (
        f"the weights net-0123abcd.pth (a zoo) are not at {tmp_path}/weights/net-0123abcd.pth: "
        f"download https://example.org/models/net-0123abcd.pth there (or set SPL_TF_CACHE to "
        f"a folder whose weights/ holds it), or pass the path of a copy as weights=")
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "net-0123abcd.pth").write_bytes(b"x")
    assert published_path(file) == tmp_path / "weights" / "net-0123abcd.pth"


def test_reading_imports_no_torch_and_no_keras():
    import subprocess
    import sys

    code = ("import sys; from spl_tf.utils.torch_weights import load_torch_weights; "
            f"s = load_torch_weights({str(FILES / 'zip.pth')!r}); "
            "print(sorted(m for m in ('torch', 'keras', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"
