"""cr.load on hostile files and cr.save's file handling (issue 12, items 6 and 8).

Every claim a header makes is checked before anything is allocated; only regular files are opened;
whatever is wrong with a file's contents is a CheckpointError naming the file, never an
OverflowError, RecursionError, TypeError, MemoryError or a read that never ends. Saved files get the
mode the umask gives any new file. `chainrule evaluate` checks a checkpoint's architecture before it
builds a model, and every failure is one line with exit status 2.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import struct
import subprocess
import sys
import tempfile
import tracemalloc
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule import CheckpointError, cli
from chainrule.io import atomic_write
from chainrule.train import build_model, load_checkpoint, save_checkpoint, train

GOOD_ENTRY = {"dtype": "F64", "shape": [1], "data_offsets": [0, 8]}


def _file(tmp_path, header, data=b"\0" * 8, name="h.safetensors"):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    p = tmp_path / name
    p.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return p


def _refused(path, *parts):
    with pytest.raises(CheckpointError) as ei:
        cr.load(path)
    msg = str(ei.value)
    assert str(path) in msg and "\n" not in msg, msg
    for part in parts:
        assert part in msg, msg
    return msg


# -- header claims -------------------------------------------------------------------------------------

def test_offsets_beyond_the_float_range(tmp_path):
    # (json reads 1e400 as inf; int(inf) was an OverflowError)
    text = b'{"w": {"dtype": "F64", "shape": [1], "data_offsets": [0, 1e400]}}'
    _refused(_file(tmp_path, text), "tensor 'w'", "data_offsets")


ENTRY_CASES = [
    ({"dtype": "F64", "shape": [1], "data_offsets": [0, 8.0]}, "data_offsets"),
    ({"dtype": "F64", "shape": [1], "data_offsets": [False, 8]}, "data_offsets"),
    ({"dtype": "F64", "shape": [1], "data_offsets": [8, 0]}, "data_offsets"),
    ({"dtype": "F64", "shape": [1], "data_offsets": [-8, 0]}, "data_offsets"),
    ({"dtype": "F64", "shape": [1], "data_offsets": [0, 8, 16]}, "data_offsets"),
    ({"dtype": "F64", "shape": [-1], "data_offsets": [0, 8]}, "shape"),
    ({"dtype": "F64", "shape": [2**40, 2**40], "data_offsets": [0, 8]}, "is too large for an array"),
    ({"dtype": "F64", "shape": [1] * 65, "data_offsets": [0, 8]}, "shape"),
    ({"dtype": "F64", "shape": [2**62, 0], "data_offsets": [0, 0]}, "is too large for an array"),
    ({"dtype": "F64", "shape": "1", "data_offsets": [0, 8]}, "shape"),
    ({"dtype": "O", "shape": [1], "data_offsets": [0, 8]}, "dtype 'O'"),
    ({"dtype": ["F64"], "shape": [1], "data_offsets": [0, 8]}, "dtype"),
    ({"shape": [1], "data_offsets": [0, 8]}, "needs dtype, shape and data_offsets"),
    ({"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}, "F64 of shape (2,) is 16 bytes"),
]


@pytest.mark.parametrize("entry, part", ENTRY_CASES)
def test_entries_whose_dtype_shape_and_offsets_disagree(tmp_path, entry, part):
    _refused(_file(tmp_path, {"w": entry}), "tensor 'w'", part)


TILING_CASES = [
    ({"a": GOOD_ENTRY, "b": GOOD_ENTRY}, b"\0" * 8, "tensor 'b' overlaps"),
    ({"a": {"dtype": "F64", "shape": [1], "data_offsets": [8, 16]}}, b"\0" * 16, "gap of 8 bytes"),
    ({"a": GOOD_ENTRY}, b"\0" * 9, "1 bytes after the last tensor"),
    ({"a": GOOD_ENTRY}, b"\0" * 4, "truncated"),
    ({"a": GOOD_ENTRY, "__metadata__": ["x"]}, b"\0" * 8, "__metadata__ must map names to strings"),
    ({"a": GOOD_ENTRY, "__metadata__": {"k": 1}}, b"\0" * 8, "__metadata__ must map names to strings"),
]


@pytest.mark.parametrize("header, data, part", TILING_CASES)
def test_offsets_must_tile_the_data_exactly(tmp_path, header, data, part):
    _refused(_file(tmp_path, header, data), part)


def test_repeated_names_in_the_header(tmp_path):
    text = b'{"w": {"dtype":"F64","shape":[1],"data_offsets":[0,8]}, "w": {"dtype":"F64","shape":[0],' \
           b'"data_offsets":[0,0]}}'
    _refused(_file(tmp_path, text), "repeats the key 'w'")


def test_an_oversized_header_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(cr.io, "MAX_HEADER_BYTES", 64)
    _refused(_file(tmp_path, {"a" * 100: GOOD_ENTRY}), "at most 64")


# -- nesting: measured before parsing, so no RecursionError --------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000


@pytest.mark.parametrize("where", ["header", "layout", "order"])
def test_deeply_nested_json(tmp_path, where):
    if where == "header":
        p = _file(tmp_path, DEEP.encode(), b"")
        _refused(p, "nested 100000 levels deep")
        return
    key = {"layout": "chainrule.layout", "order": "chainrule.order"}[where]
    p = _file(tmp_path, {"__metadata__": {key: DEEP}, "a": GOOD_ENTRY})
    if where == "layout":
        _refused(p, "layout metadata is nested 100000 levels deep")
    else:  # the order is a hint: a bad one falls back to the file's order
        assert list(cr.load(p)) == ["a"]


def test_a_layout_nested_just_within_the_limit_loads_and_one_level_more_is_refused(tmp_path):
    deep = np.ones(2)
    for _ in range(cr.io.MAX_LEVELS - 1):
        deep = [deep]
    cr.save({"x": deep}, tmp_path / "ok.safetensors")
    back = cr.load(tmp_path / "ok.safetensors")["x"]
    for _ in range(cr.io.MAX_LEVELS - 1):
        back = back[0]
    np.testing.assert_array_equal(back, np.ones(2))
    with pytest.raises(ValueError, match="more than 64 levels"):
        cr.save({"x": [deep]}, tmp_path / "deep.safetensors")
    assert not (tmp_path / "deep.safetensors").exists()


@pytest.mark.parametrize("order", ['[1, "a"]', '{"a": 1}', '[["a"]]', "not json"])
def test_order_metadata_of_the_wrong_type_is_ignored(tmp_path, order):
    p = _file(tmp_path, {"__metadata__": {"chainrule.order": order}, "a": GOOD_ENTRY})
    assert list(cr.load(p)) == ["a"]


LAYOUTS = ['{"tensor": "zz"}', "[1]", '{"dict": [[[1], {"value": 1}]]}', '{"dict": [[1, 2, 3]]}', '{"list": 5}',
           '"dict"']


@pytest.mark.parametrize("layout", LAYOUTS)
def test_corrupt_layouts(tmp_path, layout):
    p = _file(tmp_path, {"__metadata__": {"chainrule.layout": layout}, "a": GOOD_ENTRY})
    _refused(p, "corrupt chainrule layout metadata")


# -- only regular files; nothing is read before the header is checked ----------------------------------

_CHILD = r"""
import sys, chainrule as cr
for p in sys.argv[1:]:
    try:
        cr.load(p)
        print(p, "loaded")
    except cr.CheckpointError as e:
        print(p, "CheckpointError", str(e))
    except BaseException as e:
        print(p, type(e).__name__)
"""


def _limit_memory():
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def test_fifos_devices_directories_and_sparse_files(tmp_path):
    """In a child process with a memory limit and a timeout: before the fix a FIFO blocked forever,
    /dev/zero and a sparse file were read until MemoryError, a directory was an IsADirectoryError."""
    fifo = tmp_path / "fifo.safetensors"
    os.mkfifo(fifo)
    zero = tmp_path / "zero.safetensors"
    zero.symlink_to("/dev/zero")
    sparse = tmp_path / "sparse.safetensors"
    with open(sparse, "wb") as f:
        f.truncate(20 << 30)  # 20 GB of holes: the header length reads 0
    folder = tmp_path / "folder.safetensors"
    folder.mkdir()
    paths = [fifo, zero, sparse, folder]
    r = subprocess.run([sys.executable, "-c", _CHILD, *map(str, paths)], capture_output=True, text=True,
                       timeout=120, preexec_fn=_limit_memory if sys.platform == "linux" else None)
    lines = dict(ln.split(" ", 1) for ln in r.stdout.splitlines())
    assert lines == {str(p): lines.get(str(p)) for p in paths} and all(
        v.startswith("CheckpointError") for v in lines.values()), (r.stdout, r.stderr)
    assert "is a FIFO, not a regular file" in lines[str(fifo)]
    assert "is a device, not a regular file" in lines[str(zero)]
    assert "is a directory, not a regular file" in lines[str(folder)]
    assert "cannot read its header" in lines[str(sparse)]


def test_a_tensor_is_read_into_its_own_array_not_through_a_copy_of_the_file(tmp_path):
    cr.save({"w": np.ones(1_000_000)}, tmp_path / "big.safetensors")  # 8 MB
    tracemalloc.start()
    try:
        w = cr.load(tmp_path / "big.safetensors")["w"]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert w.flags.writeable and w.sum() == 1_000_000
    assert peak < 9_000_000, peak  # the array itself, not array + whole file


# -- saving ------------------------------------------------------------------------------------------

def test_the_reserved_metadata_name_is_refused_when_saving(tmp_path):
    for obj in ({"__metadata__": np.ones(2)}, {"__metadata__": np.ones(2), "opt": {"lr": 0.1}}):
        with pytest.raises(CheckpointError, match="'__metadata__' is reserved"):
            cr.save(obj, tmp_path / "m.safetensors")
        assert os.listdir(tmp_path) == []
    cr.save({"a": {"__metadata__": np.ones(2)}}, tmp_path / "nested.safetensors")  # the name is a/__metadata__
    np.testing.assert_array_equal(cr.load(tmp_path / "nested.safetensors")["a"]["__metadata__"], np.ones(2))


def test_a_failed_save_leaves_no_temporary_file(tmp_path):
    (tmp_path / "taken").mkdir()
    with pytest.raises(OSError):
        cr.save({"w": np.ones(2)}, tmp_path / "taken")  # a directory is in the way
    assert sorted(os.listdir(tmp_path)) == ["taken"]


_FULL_DISK = r"""
import os, resource, signal, sys, numpy as np, chainrule as cr
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit a write fails with EFBIG, like ENOSPC
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
try:
    cr.save({"w": np.ones(50_000)}, sys.argv[1])
    print("saved")
except OSError as e:
    print("OSError", e.errno)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_FSIZE and SIGXFSZ are Linux's")
def test_a_full_disk_keeps_the_old_checkpoint_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "model.safetensors"
    cr.save({"w": np.arange(3.0)}, path)
    r = subprocess.run([sys.executable, "-c", _FULL_DISK, str(path)], capture_output=True, text=True, timeout=120)
    assert r.stdout.split()[:1] == ["OSError"], (r.stdout, r.stderr)  # (the package raised its own error)
    np.testing.assert_array_equal(cr.load(path)["w"], np.arange(3.0))
    assert os.listdir(tmp_path) == ["model.safetensors"]


def test_an_interrupted_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "summary.json"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_write(target, "w") as f:
        f.write("half of the new")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["summary.json"]
    with atomic_write(target, "w") as f:
        f.write("new")
    assert target.read_text() == "new" and os.listdir(tmp_path) == ["summary.json"]


@contextlib.contextmanager
def _umask(mask):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o002])
def test_checkpoints_follow_the_umask(tmp_path, mask):
    with _umask(mask):
        cr.save({"w": np.ones(2)}, tmp_path / "m.safetensors")
        cr.save({"w": np.ones(2), "opt": {"step": 3}}, tmp_path / "n.safetensors")
    for name in ("m.safetensors", "n.safetensors"):
        assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o666 & ~mask, name


def test_files_written_by_train_follow_the_umask(tmp_path):
    with _umask(0o022):
        train("iris", "mlp", "4", epochs=1, batch_size=256, out=str(tmp_path / "run"), progress=False,
              log=lambda *a, **k: None)
    modes = {f: stat.S_IMODE(os.stat(tmp_path / "run" / f).st_mode) for f in os.listdir(tmp_path / "run")}
    assert modes == {"model.safetensors": 0o644, "summary.json": 0o644, "history.png": 0o644}


# -- a fuzzer: whatever the header says, load returns or raises CheckpointError -----------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12)
_entries = st.fixed_dictionaries(
    {}, optional={"dtype": st.sampled_from(["F64", "F32", "I8", "U8", "BOOL", "BF16", "x"]) | _json_values,
                  "shape": st.lists(st.integers(-1, 4) | st.sampled_from([0, 2**62, 2**63]), max_size=3)
                  | _json_values,
                  "data_offsets": st.lists(st.integers(-1, 40), min_size=2, max_size=2) | _json_values})


FUZZ_EXAMPLES = 150


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(header=st.dictionaries(st.sampled_from(["a", "b", "__metadata__"]), _entries | _json_values, max_size=3),
       size=st.integers(0, 48))
def test_fuzzed_headers_load_or_raise_checkpoint_error(tmp_path, header, size):
    p = _file(tmp_path, header, bytes(range(size)), name="fuzz.safetensors")
    try:
        got = cr.load(p)
    except CheckpointError as e:
        assert "fuzz.safetensors" in str(e)
        return
    for k, v in got.items():  # what loads is what the header described
        e = header[k]
        assert v.shape == tuple(e["shape"]) and v.nbytes == e["data_offsets"][1] - e["data_offsets"][0]


# -- chainrule evaluate: the architecture is checked before a model is built ---------------------------

def _checkpoint(tmp_path, arch, weights=None, name="crafted.safetensors"):
    state = dict(weights if weights is not None else {"0.weight": np.zeros((2, 3)), "0.bias": np.zeros(2)})
    text = arch if isinstance(arch, str) else json.dumps(arch)
    state["_chainrule.arch_json"] = np.frombuffer(text.encode(), dtype=np.uint8).copy()
    p = tmp_path / name
    cr.save(state, p)
    return p


ARCH = dict(model="mlp", input_shape=[64], num_outputs=10, hidden=[16], image_shape=None,
            task="classification", dataset="digits", target_stats=None)


def _bad(**change):
    arch = dict(ARCH, **change)
    return {k: v for k, v in arch.items() if v is not _DROP}


_DROP = object()
BAD_ARCHS = {
    "huge hidden layers": (_bad(hidden=[4096, 4096]), "'0.weight' should have shape (4096, 64)"),
    "not an object": ([1, 2], "must be a JSON object"),
    "input_shape a string": (_bad(input_shape="abc"), "'input_shape' must be"),
    "input_shape too big": (_bad(input_shape=[2**30]), "'input_shape' must be"),
    "negative width": (_bad(hidden=[-5]), "'hidden' must be"),
    "bool outputs": (_bad(num_outputs=True), "'num_outputs' must be"),
    "float width": (_bad(hidden=[1.5]), "'hidden' must be"),
    "unknown model": (_bad(model="transformer-xl"), "'model' must be"),
    "unknown dataset": (_bad(dataset="../../etc/passwd"), "'dataset' must be"),
    "missing field": (_bad(task=_DROP), "'task' must be"),
    "task not a name": (_bad(task=["classification"]), "'task' must be"),
    "nan target stats": (_bad(target_stats=[0.0, float("nan")]), "'target_stats' must be"),
    "cnn without image": (_bad(model="cnn", image_shape=None), "needs an image_shape"),
    "image not matching": (_bad(model="cnn", image_shape=[1, 4, 4]), "'image_shape' must be"),
    "deep json": ("[" * 5000 + "]" * 5000, "nested 5000 levels deep"),
    "not json": ("{model: mlp", "not valid JSON"),
}


@pytest.mark.parametrize("case", list(BAD_ARCHS))
def test_crafted_architectures_are_refused_before_a_model_is_built(tmp_path, case):
    arch, part = BAD_ARCHS[case]
    p = _checkpoint(tmp_path, arch)
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as ei:
            load_checkpoint(str(p))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert part in str(ei.value), str(ei.value)
    assert peak < 2_000_000, f"{peak:,} bytes allocated before refusing"


def test_a_checkpoint_train_wrote_passes_the_architecture_check(tmp_path):
    for arch in (dict(ARCH, hidden=[16, 8]), dict(ARCH, model="cnn", input_shape=[1, 8, 8],
                                                     image_shape=[1, 8, 8], hidden=[8])):
        net = build_model(arch["model"], tuple(arch["input_shape"]), 10, arch["hidden"],
                          tuple(arch["image_shape"]) if arch["image_shape"] else None)
        save_checkpoint(tmp_path / "ok.safetensors", net, arch)
        model, back = load_checkpoint(str(tmp_path / "ok.safetensors"))
        assert back == arch
        assert {k: v.shape for k, v in model.state_dict().items()} == \
               {k: v.shape for k, v in net.state_dict().items()}


def _run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


def _one_line(rc, out, err, *parts):
    assert rc == 2, (rc, out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for part in parts:
        assert part in lines[0], lines[0]


def test_evaluate_a_crafted_checkpoint_is_one_line(tmp_path):
    p = _checkpoint(tmp_path, _bad(hidden=[4096, 4096]))
    _one_line(*_run_cli(["evaluate", str(p)]), "chainrule evaluate: error:", "should have shape")
    p = _checkpoint(tmp_path, _bad(input_shape="abc"), name="types.safetensors")
    _one_line(*_run_cli(["evaluate", str(p)]), "'input_shape' must be")


def test_evaluate_a_fifo_or_a_directory_is_one_line(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    _one_line(*_run_cli(["evaluate", str(tmp_path / "fifo")]), "is a FIFO, not a regular file")
    _one_line(*_run_cli(["evaluate", str(tmp_path)]), "is a directory, not a regular file")


def test_evaluate_an_unreadable_checkpoint_is_one_line(tmp_path):
    with tempfile.TemporaryDirectory() as d:  # (tmp_path's parents are private to root)
        os.chmod(d, 0o755)
        p = _checkpoint(tmp_path, ARCH, name="m.safetensors")
        secret = os.path.join(d, "secret.safetensors")
        os.replace(p, secret)
        os.chmod(secret, 0)
        root = os.geteuid() == 0
        if root:  # root reads anything: drop to nobody's effective uid for the call
            os.seteuid(65534)
        try:
            result = _run_cli(["evaluate", secret])
        finally:
            if root:
                os.seteuid(0)
    _one_line(*result, "cannot read", "Permission denied")
