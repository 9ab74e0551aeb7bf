"""Checkpoints: `save(state_dict, path)` and `load(path)` in the safetensors format. Nothing is unpickled.

A flat `{name: array}` dict (a Module's state_dict) is written as plain tensors, so PyTorch's
`safetensors.torch.load_file` opens it. Nested dicts, lists and numbers (an optimizer's state_dict)
are kept too: their arrays become tensors named by their path, and the layout is stored as JSON in
the file's metadata, from which `load` rebuilds the same structure.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np

from . import backend
from .core import CheckpointError, TensorBase, unwrap

__all__ = ["save", "load", "CheckpointError"]

_LAYOUT_KEY = "chainrule.layout"
_ORDER_KEY = "chainrule.order"


def _safetensors():
    try:
        import safetensors.numpy as st
    except ImportError:
        raise ImportError("save/load need the 'safetensors' package: pip install safetensors "
                          "(or chainrule[train])") from None
    return st


def _array(v, where):
    a = np.asarray(unwrap(v))
    if a.dtype == object or a.dtype.kind not in "biuf":
        raise TypeError(f"save: {where} has dtype {a.dtype}; only numeric arrays can be saved")
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)  # (ascontiguousarray makes 0-d 1-d)


def _is_flat(obj):
    return all(isinstance(k, str) and isinstance(v, (np.ndarray, TensorBase)) for k, v in obj.items())


def save(obj, path):
    """Write a state dict (name -> array/Tensor), or a nested dict of arrays and numbers, to `path`."""
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise TypeError(f"save: expected a dict (e.g. model.state_dict()), got {type(obj).__name__}")
    obj = host_copy(obj)
    tensors = {}
    metadata = None
    if _is_flat(obj):
        for k, v in obj.items():
            tensors[k] = _array(v, f"entry '{k}'")
        metadata = {_ORDER_KEY: json.dumps(list(tensors))}
    else:
        layout = _encode(obj, (), tensors)
        metadata = {_LAYOUT_KEY: json.dumps(layout)}
    path = os.fspath(path)
    tmp = path + ".tmp"
    _safetensors().save_file(tensors, tmp, metadata=metadata)
    os.replace(tmp, path)


def _encode(v, path, tensors):
    where = "/".join(str(p) for p in path) or "<root>"
    if isinstance(v, dict):
        items = []
        for k, x in v.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save: keys must be str or int, got {k!r} at {where}")
            items.append([k, _encode(x, path + (k,), tensors)])
        return {"dict": items}
    if isinstance(v, (list, tuple)):
        return {"list" if isinstance(v, list) else "tuple": [_encode(x, path + (i,), tensors)
                                                            for i, x in enumerate(v)]}
    if isinstance(v, (np.ndarray, TensorBase)):
        name = where
        if name in tensors:
            raise ValueError(f"save: two entries map to the tensor name '{name}'")
        tensors[name] = _array(v, f"entry '{name}'")
        return {"tensor": name}
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return {"value": v}
    raise TypeError(f"save: cannot store a {type(v).__name__} at {where} (arrays, numbers, strings, "
                    "lists and dicts only; nothing is pickled)")


def _decode(node, tensors):
    if "dict" in node:
        return {k: _decode(x, tensors) for k, x in node["dict"]}
    if "list" in node:
        return [_decode(x, tensors) for x in node["list"]]
    if "tuple" in node:
        return tuple(_decode(x, tensors) for x in node["tuple"])
    if "tensor" in node:
        return tensors[node["tensor"]]
    return node["value"]


def _check_file(data, path):
    """Raise CheckpointError unless `data` is a complete safetensors file; return its header."""
    n = len(data)
    if data[:4] == b"PK\x03\x04":
        raise CheckpointError(f"load: '{path}' is a zip archive (a PyTorch .pt/.pth checkpoint?), not safetensors; "
                              "chainrule never unpickles. Convert it with safetensors.torch.save_file.")
    if n < 8:
        raise CheckpointError(f"load: '{path}' is not a safetensors file: only {n} bytes (truncated or empty)")
    (hlen,) = struct.unpack("<Q", data[:8])
    if hlen > n - 8 and data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        # (a safetensors file may start with 0x80 too: its header length is little-endian)
        raise CheckpointError(f"load: '{path}' looks like a pickle file, not safetensors; chainrule never "
                              "unpickles.")
    if hlen > n - 8:
        raise CheckpointError(f"load: '{path}' is not a valid safetensors file: its header claims {hlen} bytes "
                              f"but the file has {n} (truncated, or another format)")
    try:
        header = json.loads(data[8:8 + hlen].decode("utf-8"))
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"load: '{path}' is not a safetensors file: cannot read its header ({e})") from None
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        try:
            end = max(end, int(entry["data_offsets"][1]))
        except (TypeError, KeyError, IndexError, ValueError):
            raise CheckpointError(f"load: '{path}': malformed header entry for tensor '{name}'") from None
    have = n - 8 - hlen
    if end > have:
        raise CheckpointError(f"load: '{path}' is truncated: its tensors need {end} bytes of data, the file has "
                              f"{have}")
    return header


def load(path, map_location=None):
    """Read a safetensors file: a dict name -> numpy array (or the nested structure `save` wrote);
    with `map_location` (a device, or a function of each array), the arrays are placed there."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    header = _check_file(data, path)
    try:
        tensors = _safetensors().load(data)
    except ImportError:
        raise
    except Exception as e:  # the package's own error type differs between versions
        raise CheckpointError(f"load: '{path}' is not a valid safetensors file: {e}") from None
    meta = header.get("__metadata__") or {}
    if _LAYOUT_KEY in meta:
        try:
            return placed(_decode(json.loads(meta[_LAYOUT_KEY]), tensors), map_location)
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"load: '{path}': corrupt chainrule layout metadata ({e})") from None
    order = sorted(tensors, key=lambda k: header[k]["data_offsets"][0])
    try:
        saved = json.loads(meta.get(_ORDER_KEY, "[]"))
        if sorted(saved) == sorted(order):
            order = saved
    except ValueError:
        pass
    return placed({k: tensors[k] for k in order}, map_location)


# -- devices (issue 17): files hold host arrays; `save` copies to the host, `load` places on a device ----

def host_copy(obj):
    """`obj` (a dict, possibly nested) with every array or Tensor on another device than the CPU
    replaced by a NumPy copy: what `save` writes."""
    if isinstance(obj, dict):
        return {k: host_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(host_copy(v) for v in obj)
    d = unwrap(obj)
    return backend.to_host(d) if backend.backend_of(d) is not None else obj


def placed(obj, map_location):
    """The arrays of a loaded `obj` on `map_location`: None or "cpu" leaves them NumPy arrays; a device
    ("cuda", "cuda:1", "array_api_strict", a cr.device) copies them there; a function is applied to each."""
    if map_location is None:
        return obj
    if callable(map_location) and not isinstance(map_location, (str, backend.device)):
        move = map_location
    else:
        dev = backend.check_device(map_location, "load(map_location=)")
        if dev.type == "cpu":
            return obj

        def move(a):
            return backend.to_device(a, dev)
    if isinstance(obj, dict):
        return {k: placed(v, move) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(placed(v, move) for v in obj)
    return move(obj) if isinstance(obj, np.ndarray) else obj
