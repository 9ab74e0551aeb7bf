"""Checkpoints: `save(state_dict, path)` and `load(path)` in the safetensors format. Nothing is unpickled.

A flat `{name: array}` dict (a Module's state_dict) is written as plain tensors, so PyTorch's
`safetensors.torch.load_file` opens it. Nested dicts, lists and numbers (an optimizer's state_dict)
are kept too: their arrays become tensors named by their path, and the layout is stored as JSON in
the file's metadata, from which `load` rebuilds the same structure.

The format is small enough to read and write here, which is what makes `load` safe on any file: it
opens only regular files (never a FIFO, device or directory), reads the 8-byte header length and
the header first, and checks everything the header claims (JSON nesting, names, dtypes, shapes,
offsets that tile the data exactly, the file's real size) before it allocates a single tensor, so
the memory it takes is bounded by the file's size. Whatever is wrong with a file's contents is a
`CheckpointError` naming the file; the operating system's own errors (no such file, permission
denied) stay `OSError`. `save` writes a temporary file next to `path`, syncs it and renames it over
`path`: a crash keeps the old checkpoint, and the new one gets the mode that `open` gives any file
(the umask applies), not the 0600 of a `mkstemp` file.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import struct

import numpy as np

from .core import CheckpointError, TensorBase, unwrap

__all__ = ["save", "load", "CheckpointError"]

_LAYOUT_KEY = "chainrule.layout"
_ORDER_KEY = "chainrule.order"
_METADATA = "__metadata__"  # the header's reserved name: no tensor may have it

#: safetensors dtype code -> NumPy dtype (the file is little-endian); BF16 and FP8 have no NumPy dtype
_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
           "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}
_CODES = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}

MAX_HEADER_BYTES = 100_000_000  # as the safetensors package
MAX_NDIM = 64                   # dimensions of one tensor
MAX_LEVELS = 64                 # nesting of the dicts and lists that `save` stores around the arrays
_JSON_DEPTH = 3 * MAX_LEVELS + 2  # the layout JSON of MAX_LEVELS nested containers is this deep


def _array(v, where):
    a = np.asarray(unwrap(v))
    if a.dtype.newbyteorder("=") not in _CODES:
        raise TypeError(f"save: {where} has dtype {a.dtype}; only bool, int, uint and float16/32/64 arrays "
                        "can be saved")
    return np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<"))  # (it makes 0-d arrays 1-d)


def _is_flat(obj):
    return all(isinstance(k, str) and isinstance(v, (np.ndarray, TensorBase)) for k, v in obj.items())


def save(obj, path):
    """Write a state dict (name -> array/Tensor), or a nested dict of arrays and numbers, to `path`."""
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise TypeError(f"save: expected a dict (e.g. model.state_dict()), got {type(obj).__name__}")
    tensors = {}
    if _is_flat(obj):
        for k, v in obj.items():
            if k == _METADATA:
                raise CheckpointError(f"save: '{_METADATA}' is reserved by the safetensors format; rename "
                                      "that entry")
            shape = np.shape(unwrap(v))
            tensors[k] = _array(v, f"entry '{k}'").reshape(shape)
        metadata = {_ORDER_KEY: json.dumps(list(tensors))}
    else:
        metadata = {_LAYOUT_KEY: json.dumps(_encode(obj, (), tensors))}
    _write(os.fspath(path), tensors, metadata)


def _write(path, tensors, metadata):
    """The safetensors file: 8-byte header length, JSON header (space-padded to 8 bytes), the data."""
    header, offset = {_METADATA: metadata}, 0
    for name, a in tensors.items():
        header[name] = {"dtype": _CODES[a.dtype.newbyteorder("=")], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with atomic_write(path) as f:
        f.write(struct.pack("<Q", len(text)) + text)
        for a in tensors.values():
            f.write(a.reshape(-1).view(np.uint8).data)


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Write `path` all or nothing: into `path + ".tmp"` (made by plain `open`, so the umask applies),
    synced to disk, then renamed over `path`. On any error the temporary file is removed and `path`
    keeps its old contents."""
    tmp = os.fspath(path) + ".tmp"
    try:
        with open(tmp, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def _encode(v, path, tensors):
    where = "/".join(str(p) for p in path) or "<root>"
    if len(path) > MAX_LEVELS:
        raise ValueError(f"save: {where[:60]}...: more than {MAX_LEVELS} levels of nested dicts and lists")
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
        if name == _METADATA:
            raise CheckpointError(f"save: '{_METADATA}' is reserved by the safetensors format; rename that entry")
        if name in tensors:
            raise ValueError(f"save: two entries map to the tensor name '{name}'")
        tensors[name] = _array(v, f"entry '{name}'").reshape(np.shape(unwrap(v)))
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


# -- reading: every claim of the header is checked before anything is allocated -------------------------

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def read_json(text, what, max_depth):
    """`json.loads(text)` for untrusted text: ValueError (naming `what`) when it is not JSON, nested
    deeper than `max_depth` (measured before parsing, so a deep text cannot exhaust the stack), or
    has a repeated key."""
    brackets = np.frombuffer(_STRING.sub("", text).encode("utf-8", "replace"), np.uint8)
    depth = np.cumsum(np.isin(brackets, (91, 123)).astype(np.int64) - np.isin(brackets, (93, 125)))
    if depth.size and depth.max() > max_depth:
        raise ValueError(f"{what} is nested {int(depth.max())} levels deep (at most {max_depth})")

    def pairs(items):
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{what} repeats the key {next(k for k in keys if keys.count(k) > 1)!r:.60}")
        return dict(items)

    try:
        return json.loads(text, object_pairs_hook=pairs)
    except RecursionError:  # (cannot happen below max_depth; kept as the last line of defence)
        raise ValueError(f"{what} is nested too deeply") from None
    except ValueError as e:
        raise ValueError(f"{what} is not valid JSON ({str(e)[:100]})") from None


def _open_regular(path):
    """A file object for `path`, only if it is a regular file: a FIFO, a device (a link to /dev/zero)
    or a directory would block or never end. O_NONBLOCK: opening a FIFO must not wait for a writer."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO" if stat.S_ISFIFO(mode)
                    else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket")
            raise CheckpointError(f"load: '{path}' is {kind}, not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_header(f, path):
    """The header of the open file `f`, checked: (header dict, metadata dict, data offset)."""
    n = os.fstat(f.fileno()).st_size
    head = f.read(8)
    if head[:4] == b"PK\x03\x04":
        raise CheckpointError(f"load: '{path}' is a zip archive (a PyTorch .pt/.pth checkpoint?), not safetensors; "
                              "chainrule never unpickles. Convert it with safetensors.torch.save_file.")
    if n < 8:
        raise CheckpointError(f"load: '{path}' is not a safetensors file: only {n} bytes (truncated or empty)")
    (hlen,) = struct.unpack("<Q", head)
    if hlen > n - 8 and head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        # (a safetensors file may start with 0x80 too: its header length is little-endian)
        raise CheckpointError(f"load: '{path}' looks like a pickle file, not safetensors; chainrule never "
                              "unpickles.")
    if hlen > n - 8:
        raise CheckpointError(f"load: '{path}' is not a valid safetensors file: its header claims {hlen} bytes "
                              f"but the file has {n} (truncated, or another format)")
    if hlen > MAX_HEADER_BYTES:
        raise CheckpointError(f"load: '{path}': its header claims {hlen:,} bytes (at most {MAX_HEADER_BYTES:,})")
    try:
        header = read_json(f.read(hlen).decode("utf-8"), "the header", 4)
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
    except (UnicodeDecodeError, ValueError) as e:
        raise CheckpointError(f"load: '{path}' is not a safetensors file: cannot read its header ({e})") from None
    meta = header.pop(_METADATA, None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise CheckpointError(f"load: '{path}': the header's {_METADATA} must map names to strings")
    _check_entries(header, n - 8 - hlen, path)
    return header, meta, 8 + hlen


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _check_entries(header, have, path):
    """Every tensor has a known dtype, a shape of sizes >= 0, and offsets that hold exactly its bytes;
    together the tensors tile the `have` data bytes with no gap or overlap."""
    spans = []
    for name, e in header.items():
        bad = f"load: '{path}': malformed header entry for tensor '{name:.60}'"
        if not isinstance(e, dict) or not {"dtype", "shape", "data_offsets"} <= e.keys():
            raise CheckpointError(f"{bad}: it needs dtype, shape and data_offsets")
        dtype, shape, offsets = e["dtype"], e["shape"], e["data_offsets"]
        if not isinstance(dtype, str) or dtype not in _DTYPES:
            raise CheckpointError(f"{bad}: dtype {str(dtype)[:20]!r} is not one of {', '.join(_DTYPES)}")
        if (not isinstance(shape, list) or len(shape) > MAX_NDIM
                or not all(_is_int(d) and 0 <= d < 2**63 for d in shape)):
            raise CheckpointError(f"{bad}: shape must be a list of at most {MAX_NDIM} sizes >= 0, "
                                  f"got {str(shape)[:60]}")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_int(o) for o in offsets)
                or not 0 <= offsets[0] <= offsets[1]):
            raise CheckpointError(f"{bad}: data_offsets must be [begin, end] with 0 <= begin <= end, "
                                  f"got {str(offsets)[:60]}")
        itemsize = np.dtype(_DTYPES[dtype]).itemsize
        if math.prod(d for d in shape if d) * itemsize >= 2**63:  # (NumPy's limit, even with a size 0)
            raise CheckpointError(f"{bad}: shape {str(shape)[:60]} is too large for an array")
        nbytes = math.prod(shape) * itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise CheckpointError(f"{bad}: {dtype} of shape {tuple(shape)} is {nbytes} bytes, its data_offsets "
                                  f"{offsets} hold {offsets[1] - offsets[0]}")
        spans.append((offsets[0], offsets[1], name))
    end = 0
    for begin, stop, name in sorted(spans):
        if begin != end:
            what = "overlaps the tensor before it" if begin < end else f"leaves a gap of {begin - end} bytes"
            raise CheckpointError(f"load: '{path}': the data of tensor '{name:.60}' {what}")
        end = stop
    if end > have:
        raise CheckpointError(f"load: '{path}' is truncated: its tensors need {end} bytes of data, the file has "
                              f"{have}")
    if end < have:
        raise CheckpointError(f"load: '{path}' is not a valid safetensors file: {have - end} bytes after the "
                              "last tensor")


def _read_tensor(f, base, entry, path, name):
    try:
        a = np.empty(entry["shape"], dtype=_DTYPES[entry["dtype"]])
    except MemoryError:
        raise CheckpointError(f"load: '{path}': no memory for tensor '{name:.60}' "
                              f"({entry['data_offsets'][1] - entry['data_offsets'][0]:,} bytes)") from None
    f.seek(base + entry["data_offsets"][0])
    if f.readinto(a.reshape(-1).view(np.uint8).data) != a.nbytes:  # the file shrank while we read it
        raise CheckpointError(f"load: '{path}' is truncated: tensor '{name:.60}' is incomplete")
    return a


def load(path):
    """Read a safetensors file: a dict name -> numpy array (or the nested structure `save` wrote)."""
    path = os.fspath(path)
    with _open_regular(path) as f:
        header, meta, base = _read_header(f, path)
        order = sorted(header, key=lambda k: header[k]["data_offsets"])
        tensors = {k: _read_tensor(f, base, header[k], path, k) for k in order}
    if _LAYOUT_KEY in meta:
        try:
            return _decode(read_json(meta[_LAYOUT_KEY], "the layout metadata", _JSON_DEPTH), tensors)
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"load: '{path}': corrupt chainrule layout metadata ({e})") from None
    try:
        saved = read_json(meta.get(_ORDER_KEY, "[]"), "the order metadata", 1)
    except ValueError:
        saved = None
    if isinstance(saved, list) and all(isinstance(k, str) for k in saved) and sorted(saved) == sorted(order):
        order = saved
    return {k: tensors[k] for k in order}
