"""PyTorch weight files written without PyTorch, for tests: NumPy arrays saved in the zip
layout that `torch.save` writes (`archive/data.pkl` and `archive/data/<key>`).

`spl_tf.utils.torch_weights` is checked against files that PyTorch itself wrote
(tests/data/torch_weights/); this writer lets the other tests put seeded weights in a file
of the published format, and lets the reader's tests make files PyTorch would not write
(a tensor that reaches past its storage).

The pickle names `torch.FloatStorage` and `torch._utils._rebuild_tensor_v2` as PyTorch's
does; they are stand-ins put in `sys.modules` for the time of the pickling only.
"""

from __future__ import annotations

import contextlib
import io
import pickle
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

_STORAGES = {np.dtype(np.float32): "FloatStorage", np.dtype(np.float64): "DoubleStorage",
             np.dtype(np.float16): "HalfStorage", np.dtype(np.int64): "LongStorage",
             np.dtype(np.int32): "IntStorage", np.dtype(np.uint8): "ByteStorage",
             np.dtype(np.bool_): "BoolStorage"}


class Tensor:
    """A tensor record: `size` and `stride` (in elements) of the storage `key`, from
    `offset`. Any values, also ones PyTorch would never write."""

    def __init__(self, key: str, dtype, numel: int, offset: int, size, stride):
        self.key, self.dtype, self.numel = key, np.dtype(dtype), numel
        self.offset, self.size, self.stride = offset, tuple(size), tuple(stride)


def write_state_dict(path: Path, state: dict, storages: dict[str, bytes] | None = None) -> Path:
    """Write `state` ({name: array or Tensor}) as `torch.save(state_dict)` would (zip
    layout). Arrays get a storage each; `storages` gives the bytes of Tensors' keys."""
    data = dict(storages or {})
    records = OrderedDict()
    for name, value in state.items():
        if isinstance(value, Tensor):
            records[name] = value
            continue
        array = np.ascontiguousarray(value)
        key = str(len(data))
        data[key] = array.astype(array.dtype.newbyteorder("<")).tobytes()
        strides = tuple(s // array.itemsize for s in array.strides)
        records[name] = Tensor(key, array.dtype, array.size, 0, array.shape, strides)
    with _torch_names() as names, zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", _pickle(records, names))
        archive.writestr("archive/byteorder", "little")
        for key, payload in data.items():
            archive.writestr(f"archive/data/{key}", payload)
    return Path(path)


def _pickle(records: OrderedDict, names: types.SimpleNamespace) -> bytes:
    class Storage:
        def __init__(self, tensor: Tensor):
            self.tensor = tensor

    class Record:
        def __init__(self, tensor: Tensor):
            self.tensor = tensor

        def __reduce__(self):
            t = self.tensor
            return names.rebuild, (Storage(t), t.offset, t.size, t.stride, False, OrderedDict())

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, Storage):
                t = obj.tensor
                storage_type = getattr(names.torch, _STORAGES[t.dtype])
                return ("storage", storage_type, t.key, "cpu", t.numel)
            return None

    buffer = io.BytesIO()
    Pickler(buffer, protocol=2).dump(OrderedDict((k, Record(v)) for k, v in records.items()))
    return buffer.getvalue()


@contextlib.contextmanager
def _torch_names():
    """Stand-ins for the PyTorch names the pickle refers to, importable while it is made."""
    if "torch" in sys.modules:
        raise RuntimeError("tests/torch_files.py writes without PyTorch; torch is imported")
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")
    for storage in _STORAGES.values():
        setattr(torch, storage, type(storage, (), {"__module__": "torch",
                                                   "__qualname__": storage}))

    def _rebuild_tensor_v2(*args):
        raise AssertionError("a stand-in")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    torch._utils = utils
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    try:
        yield types.SimpleNamespace(torch=torch, rebuild=_rebuild_tensor_v2)
    finally:
        del sys.modules["torch"], sys.modules["torch._utils"]
