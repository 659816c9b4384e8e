"""PyTorch weight files read without PyTorch: their tensors, by name, as NumPy arrays.

The weights of the field's metrics (LPIPS's linear heads and backbones, the Inception-v3 of
FID) are published as files that `torch.save` wrote from a state dict. Such a file is a
pickle with the tensor data beside it, in one of two layouts:

- **zip** (PyTorch 1.6 and later): an archive holding `<name>/data.pkl`, the pickled
  state dict, and one member `<name>/data/<key>` of raw bytes per storage (`byteorder`
  says the byte order; little-endian when absent);
- **legacy** (before 1.6; the published LPIPS, AlexNet, VGG16 and FID Inception files):
  five pickles one after the other (a magic number, a protocol version, the writer's
  byte order and type sizes, the state dict, the list of storage keys), then each
  storage as its element count (int64) followed by its bytes.

A pickle can run any code as it is read, so the pickles are read by an unpickler that
knows only what a state dict of tensors is made of: dicts (`collections.OrderedDict`),
PyTorch's tensor records (`torch._utils._rebuild_tensor_v2` and its older and parameter
forms, which it builds as NumPy views here), the storage types that name a dtype, and the
references to storages. Anything else the file asks for is refused before it is built,
with one line naming the file and what it asked for (an `InputError`): nothing in the
file is ever called. When a SHA-256 digest is given, it is checked before the file is
parsed at all.

    state = load_torch_weights("alex.pth", sha256="df73285e...")
    state["lin0.model.1.weight"].shape      # (1, 64, 1, 1), float32

`PublishedFile` names a file its publisher serves (URL and digest) and `published_path`
gives its copy in the weights folder (`$SPL_TF_CACHE/weights`, by default
`~/.cache/spl_tf/weights`), downloading it there on first use (`spl_tf.utils.downloads`:
resumed, and verified before it is kept) from its publisher or from the mirror that
`$SPL_TF_WEIGHTS_MIRROR` names (a base URL serving the files under their own names).
Where neither the copy nor the download is to be had, it stops with one line naming the
URL, the mirror variable and the `weights=` argument that takes a local path instead.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import os
import pickle
import re
import struct
import urllib.parse
import zipfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import numpy as np

from spl_tf.utils import downloads
from spl_tf.utils.downloads import check_sha256
from spl_tf.utils.errors import FileError, InputError

# The legacy layout's first two pickles (torch/serialization.py's MAGIC_NUMBER and
# PROTOCOL_VERSION).
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL = 1001

# PyTorch's storage types -> the NumPy dtype of their elements. bfloat16 has no NumPy
# dtype: its 16 bits are the top half of a float32's, read as uint16 and widened.
STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "BFloat16Storage": "bfloat16",
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
# The dtypes PyTorch may name inside a tensor record (`_rebuild_tensor_v3`).
TORCH_DTYPES = {
    "float32": np.float32, "float": np.float32, "float64": np.float64, "double": np.float64,
    "float16": np.float16, "half": np.float16, "bfloat16": "bfloat16", "int64": np.int64,
    "long": np.int64, "int32": np.int32, "int": np.int32, "int16": np.int16,
    "short": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_,
}

MIRROR_VARIABLE = "SPL_TF_WEIGHTS_MIRROR"


class RefusedPickle(pickle.UnpicklingError):
    """The pickle asks for something that is not part of a state dict of tensors."""


def load_torch_weights(path: str | os.PathLike, sha256: str | None = None) -> dict[str, np.ndarray]:
    """The tensors of a PyTorch state-dict file, `{name: array}`, without PyTorch.

    Args:
        path: A file written by `torch.save(state_dict)`, zip or legacy layout.
        sha256: Its expected SHA-256, in hex: all 64 digits, or a prefix of them (at least
            8) as PyTorch's download helpers take from a file name such as
            `pt_inception-2015-12-05-6726825d.pth`. Checked before the file is parsed.

    Nested dicts (a checkpoint holding `{"state_dict": {...}}`) give dotted names. Arrays
    are in PyTorch's layout (a convolution's weight is (out, in, height, width)), in
    native byte order; bfloat16 tensors come as float32.

    Raises:
        InputError: on a digest that does not match, a file that is not a PyTorch weight
            file, or one that holds anything but tensors (whatever that would have run,
            nothing of it runs), each in one line that names the file.
        FileError: when the file cannot be read.
    """
    path = Path(path)
    if sha256 is not None:
        check_sha256(path, sha256)
    try:
        if zipfile.is_zipfile(path):
            state = _load_zip(path)
        else:
            with open(path, "rb") as file:
                state = _load_legacy(file, path)
    except OSError as error:
        raise FileError(path, error, "read") from None
    except RefusedPickle as error:
        raise InputError(f"{path}: refused: {error}; nothing in it was run") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, struct.error, zipfile.BadZipFile, UnicodeDecodeError) as error:
        # A truncated or foreign file: say what it is not, in one line.
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path}: not a PyTorch weight file that can be read ({reason})") from None
    return _flatten(state, path)


@dataclasses.dataclass(frozen=True)
class PublishedFile:
    """A weight file as its publisher serves it.

    Attributes:
        url: Where it is published.
        sha256: Its SHA-256 in hex, or the prefix of it that the publisher gives (PyTorch's
            model zoos put 8 digits in the file name: `alexnet-owt-7be5be79.pth`).
        publisher: Who publishes it, for messages (`"torchvision 0.29"`).
    """

    url: str
    sha256: str
    publisher: str

    @property
    def name(self) -> str:
        return PurePosixPath(urllib.parse.urlparse(self.url).path).name


def weights_folder() -> Path:
    """Where published weight files are kept: `$SPL_TF_CACHE/weights`, by default
    `~/.cache/spl_tf/weights`."""
    return downloads.cache_folder("weights")


def published_path(file: PublishedFile, weights_arg: str = "weights",
                   folder: str | os.PathLike | None = None, progress: bool = True) -> Path:
    """The local copy of a published weight file, its digest checked: `folder/NAME`
    (`weights_folder()` by default), downloaded there first when it is not there.

    The download comes from `file.url`, or from `$SPL_TF_WEIGHTS_MIRROR` (a base URL
    serving the same file names) when that is set, and is kept only once its SHA-256 is
    the published one. The file is not parsed here: `load_torch_weights(path)` reads it.

    Raises:
        InputError: one line, when the file is neither there nor downloadable, naming
            both ways out (the URL or a mirror, and `weights_arg`=PATH, a local copy);
            or when the copy's digest is not the published one (`DigestMismatch`).
    """
    path = Path(folder or weights_folder()) / file.name
    if path.is_file():
        check_sha256(path, file.sha256)
        return path
    url = downloads.mirrored(file.url, os.environ.get(MIRROR_VARIABLE))
    try:
        return downloads.fetch(url, path, sha256=file.sha256, progress=progress)
    except downloads.DownloadError as error:
        raise InputError(
            f"the weights {file.name} ({file.publisher}) are not at {path}, and {error}: "
            f"download {file.url} there (or set {MIRROR_VARIABLE} to a base URL that serves "
            f"{file.name}), or pass the path of a copy as {weights_arg}=") from None


# ---------------------------------------------------------------- the two layouts


def _load_zip(path: Path) -> Any:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        pickles = [name for name in names if re.fullmatch(r"[^/]+/data\.pkl", name)]
        if len(pickles) != 1:
            raise ValueError("a zip archive without exactly one <name>/data.pkl")
        root = pickles[0][:-len("data.pkl")]
        byteorder = "little"
        if f"{root}byteorder" in names:
            byteorder = archive.read(f"{root}byteorder").decode("ascii")
            if byteorder not in ("little", "big"):
                raise ValueError(f"unknown byte order {byteorder!r}")

        def read_storage(key: str, dtype, numel: int) -> np.ndarray:
            data = archive.read(f"{root}data/{key}")
            return _storage_array(data, dtype, numel, byteorder, key)

        unpickler = _StateDictUnpickler(io.BytesIO(archive.read(pickles[0])))
        state = unpickler.load()
        storages = {key: read_storage(key, dtype, numel)
                    for key, (dtype, numel) in unpickler.storages.items()}
    return _materialise(state, storages)


def _load_legacy(file: BinaryIO, path: Path) -> Any:
    header = file.read(2)
    if header[:1] != b"\x80":  # every pickle of protocol 2 and later starts so
        raise ValueError("neither a zip archive nor a pickle")
    file.seek(0)
    if _StateDictUnpickler(file).load() != LEGACY_MAGIC:
        raise ValueError("a pickle, but not one that torch.save wrote")
    if _StateDictUnpickler(file).load() != LEGACY_PROTOCOL:
        raise ValueError("an unknown version of the legacy layout")
    sys_info = _StateDictUnpickler(file).load()
    little = bool(sys_info.get("little_endian", True)) if isinstance(sys_info, dict) else True
    unpickler = _StateDictUnpickler(file)
    state = unpickler.load()
    keys = _StateDictUnpickler(file).load()
    if not isinstance(keys, list) or set(map(str, keys)) != set(unpickler.storages):
        raise ValueError("its list of storages does not match the tensors")
    byteorder = "little" if little else "big"
    storages = {}
    for key in map(str, keys):
        dtype, numel = unpickler.storages[key]
        (count,) = struct.unpack("<q" if little else ">q", _read_exactly(file, 8))
        if count != numel:
            raise ValueError(f"storage {key} holds {count} elements, its tensors say {numel}")
        size = numel * _itemsize(dtype)
        storages[key] = _storage_array(_read_exactly(file, size), dtype, numel, byteorder, key)
    return _materialise(state, storages)


def _read_exactly(file: BinaryIO, size: int) -> bytes:
    data = file.read(size)
    if len(data) != size:
        raise EOFError("the file ends before its last tensor")
    return data


# ---------------------------------------------------------------- the restricted unpickler


class _StorageRef:
    """A storage named in the pickle: its data is read after the pickle."""

    __slots__ = ("key", "dtype", "offset", "numel")

    def __init__(self, key: str, dtype, offset: int, numel: int):
        self.key, self.dtype, self.offset, self.numel = key, dtype, offset, numel


class _TensorRecord:
    """A tensor the pickle describes: a strided view of a storage, built once it is read."""

    __slots__ = ("storage", "offset", "size", "stride")

    def __init__(self, storage, offset, size, stride):
        if not isinstance(storage, _StorageRef):
            raise RefusedPickle("a tensor record without a storage")
        if not (isinstance(offset, int) and all(isinstance(n, int) and n >= 0 for n in size)
                and all(isinstance(s, int) and s >= 0 for s in stride)
                and len(size) == len(stride) and offset >= 0):
            raise RefusedPickle("a tensor record with a malformed shape or stride")
        self.storage, self.offset = storage, storage.offset + offset
        self.size, self.stride = tuple(size), tuple(stride)
        # A view must stay inside its storage: the strides come from the file.
        if 0 not in self.size:
            last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
            if last >= storage.offset + storage.numel:
                raise RefusedPickle("a tensor that reaches past the end of its storage")


class _StorageType:
    """`torch.FloatStorage` and its kind: only their dtype is needed."""

    def __init__(self, name: str, dtype):
        self.name, self.dtype = name, dtype


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    return _TensorRecord(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    return _TensorRecord(storage, storage_offset, size, stride)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks,
                       dtype, metadata=None):
    return _TensorRecord(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None):
    if not isinstance(data, _TensorRecord):
        raise RefusedPickle("a parameter that is not a tensor")
    return data


_TORCH_FUNCTIONS = {
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor_v3"): _rebuild_tensor_v3,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("collections", "OrderedDict"): collections.OrderedDict,
    # Protocol 2 pickles bytes as `_codecs.encode(text, "latin1")`; PyTorch's own
    # `weights_only` loading allows it too. It only encodes a string.
    ("_codecs", "encode"): lambda text, encoding="utf-8": str(text).encode(encoding),
}


class _StateDictUnpickler(pickle.Unpickler):
    """Builds dicts, tensor records and storage references, and nothing else."""

    def __init__(self, file: BinaryIO):
        # Python 2 pickles (the oldest legacy files) hold their strings as bytes.
        super().__init__(file, encoding="utf-8")
        self.storages: dict[str, tuple[Any, int]] = {}

    def find_class(self, module: str, name: str):
        if (module, name) in _TORCH_FUNCTIONS:
            return _TORCH_FUNCTIONS[module, name]
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name, STORAGE_DTYPES[name])
        if module == "torch" and name in TORCH_DTYPES:
            return _StorageType(name, TORCH_DTYPES[name])
        raise RefusedPickle(f"it asks for {module}.{name}, which a file of tensor weights "
                            f"does not hold")

    def persistent_load(self, saved_id):
        if not (isinstance(saved_id, tuple) and len(saved_id) in (5, 6)
                and _text(saved_id[0]) == "storage"):
            raise RefusedPickle(f"it refers to an object of kind "
                                f"{_text(saved_id[0]) if saved_id else '?'!r}, not a storage")
        storage_type, key, _location, numel = saved_id[1:5]
        view = saved_id[5] if len(saved_id) == 6 else None
        if not isinstance(storage_type, _StorageType) or not isinstance(numel, int) or numel < 0:
            raise RefusedPickle("a storage of an unknown type")
        key = _text(key)
        dtype = storage_type.dtype
        known = self.storages.setdefault(key, (dtype, numel))
        if known != (dtype, numel):
            raise RefusedPickle(f"storage {key} named with two types or sizes")
        if view is None:
            return _StorageRef(key, dtype, 0, numel)
        # Legacy files may name a slice of a storage (view key, offset, size).
        _view_key, offset, size = view
        if not (isinstance(offset, int) and isinstance(size, int)
                and 0 <= offset and offset + size <= numel):
            raise RefusedPickle("a storage view outside its storage")
        return _StorageRef(key, dtype, offset, size)


def _text(value) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else str(value)


# ---------------------------------------------------------------- arrays


def _itemsize(dtype) -> int:
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


def _storage_array(data: bytes, dtype, numel: int, byteorder: str, key: str) -> np.ndarray:
    if len(data) != numel * _itemsize(dtype):
        raise ValueError(f"storage {key} holds {len(data)} bytes for {numel} elements")
    order = "<" if byteorder == "little" else ">"
    if dtype == "bfloat16":
        bits = np.frombuffer(data, np.dtype(f"{order}u2")).astype(np.uint32) << 16
        return bits.view(np.float32)
    return np.frombuffer(data, np.dtype(dtype).newbyteorder(order)).astype(dtype)


def _materialise(value, storages: Mapping[str, np.ndarray]):
    """The pickled structure with each tensor record replaced by its array (a copy, so that
    no array keeps a whole storage alive)."""
    if isinstance(value, _TensorRecord):
        data = storages[value.storage.key]
        item = data.itemsize
        view = np.lib.stride_tricks.as_strided(
            data[value.offset:], shape=value.size,
            strides=tuple(s * item for s in value.stride), writeable=False)
        return np.array(view, order="C")
    if isinstance(value, dict):
        return {key: _materialise(item, storages) for key, item in value.items()}
    return value


def _flatten(state, path: Path, prefix: str = "") -> dict[str, np.ndarray]:
    if not isinstance(state, dict):
        raise InputError(f"{path}: holds a {type(state).__name__}, not a state dict of "
                         f"tensors")
    flat = {}
    for key, value in state.items():
        name = f"{prefix}{_text(key)}"
        if isinstance(value, dict):
            flat.update(_flatten(value, path, f"{name}."))
        elif isinstance(value, np.ndarray):
            flat[name] = value
        else:
            raise InputError(f"{path}: {name} is a {type(value).__name__}, not a tensor")
    return flat
