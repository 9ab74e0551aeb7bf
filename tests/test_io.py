"""cr.save / cr.load: safetensors files that PyTorch opens; clear errors for anything else; no pickle."""

import json
import pickle
import struct
import zipfile

import numpy as np
import pytest

import chainrule as cr
from chainrule import CheckpointError, nn


def model():
    nn.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 3))


def test_module_round_trip(tmp_path):
    m = model()
    m(cr.tensor(np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)))  # moves running stats
    path = tmp_path / "m.safetensors"
    cr.save(m.state_dict(), path)
    loaded = cr.load(path)
    assert list(loaded) == list(m.state_dict())  # order kept
    for k, v in m.state_dict().items():
        assert loaded[k].dtype == v.dtype and loaded[k].shape == v.shape
        np.testing.assert_array_equal(loaded[k], v)
    fresh = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.BatchNorm1d(8), nn.Linear(8, 3))
    fresh.load_state_dict(loaded)
    x = cr.tensor(np.ones((2, 4), np.float32))
    m.eval()
    fresh.eval()
    np.testing.assert_array_equal(fresh(x).data, m(x).data)
    cr.save(m, tmp_path / "direct.safetensors")  # a Module is saved through its state_dict
    assert set(cr.load(tmp_path / "direct.safetensors")) == set(m.state_dict())


def test_pytorch_opens_the_file_and_chainrule_opens_torchs(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    m = model()
    cr.save(m.state_dict(), tmp_path / "m.safetensors")
    tm = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 3))
    tm.load_state_dict(st_torch.load_file(str(tmp_path / "m.safetensors")))
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    m.eval()
    tm.eval()
    np.testing.assert_allclose(tm(torch.tensor(x)).detach().numpy(), m(cr.tensor(x)).data, rtol=1e-5, atol=1e-6)
    st_torch.save_file(tm.state_dict(), str(tmp_path / "t.safetensors"))
    m2 = model()
    m2.load_state_dict(cr.load(tmp_path / "t.safetensors"))
    m2.eval()
    np.testing.assert_array_equal(m2(cr.tensor(x)).data, m(cr.tensor(x)).data)


def test_nested_structures_and_dtypes(tmp_path):
    obj = {"state": {0: {"step": 3, "exp_avg": np.arange(6, dtype=np.float32).reshape(2, 3)},
                     1: {"step": 3, "exp_avg": np.zeros(())}},
           "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "nesterov": False, "name": None, "params": [0, 1]}],
           "ints": np.arange(3, dtype=np.int64), "flag": np.array([True, False])}
    cr.save(obj, tmp_path / "n.safetensors")
    back = cr.load(tmp_path / "n.safetensors")
    assert back["state"][0]["step"] == 3 and isinstance(back["state"][0]["step"], int)
    np.testing.assert_array_equal(back["state"][0]["exp_avg"], obj["state"][0]["exp_avg"])
    assert back["state"][0]["exp_avg"].dtype == np.float32
    assert back["state"][1]["exp_avg"].shape == ()
    assert back["param_groups"] == obj["param_groups"]
    assert back["ints"].dtype == np.int64 and back["flag"].dtype == bool
    with pytest.raises(TypeError, match="cannot store a set"):
        cr.save({"bad": {1, 2}}, tmp_path / "bad.safetensors")
    with pytest.raises(TypeError, match="dtype"):
        cr.save({"s": np.array(["a"])}, tmp_path / "bad.safetensors")


def test_noncontiguous_and_tensor_values(tmp_path):
    a = np.arange(12.0).reshape(3, 4)
    cr.save({"t": a.T, "x": cr.tensor(a), "p": nn.Parameter(a[:, ::2])}, tmp_path / "c.safetensors")
    back = cr.load(tmp_path / "c.safetensors")
    np.testing.assert_array_equal(back["t"], a.T)
    np.testing.assert_array_equal(back["x"], a)
    np.testing.assert_array_equal(back["p"], a[:, ::2])


def test_foreign_files_raise_clear_errors(tmp_path):
    good = tmp_path / "good.safetensors"
    cr.save({"w": np.arange(100.0)}, good)
    data = good.read_bytes()

    cases = {
        "empty": b"",
        "text": b"hello, this is not a checkpoint at all",
        "truncated": data[:-40],
        "header_only": data[:8 + struct.unpack("<Q", data[:8])[0]],
        "bad_json": struct.pack("<Q", 5) + b"{not}",
    }
    for name, blob in cases.items():
        p = tmp_path / f"{name}.safetensors"
        p.write_bytes(blob)
        with pytest.raises(CheckpointError, match=f"load: '.*{name}.safetensors'"):
            cr.load(p)
    with pytest.raises(CheckpointError, match="truncated"):
        cr.load(tmp_path / "truncated.safetensors")

    pk = tmp_path / "model.pkl"
    pk.write_bytes(pickle.dumps({"w": [1.0, 2.0]}))
    with pytest.raises(CheckpointError, match="pickle.*never unpickles"):
        cr.load(pk)
    pt = tmp_path / "model.pt"
    with zipfile.ZipFile(pt, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"w": 1}))
    with pytest.raises(CheckpointError, match="zip archive.*never unpickles"):
        cr.load(pt)


def test_corrupt_header_entries(tmp_path):
    header = json.dumps({"w": {"dtype": "F64", "shape": [4], "data_offsets": [0, 32]}}).encode()
    p = tmp_path / "h.safetensors"
    p.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 16)
    with pytest.raises(CheckpointError, match="truncated.*32 bytes.*16"):
        cr.load(p)
    header = json.dumps({"w": {"dtype": "F64", "shape": [4]}}).encode()
    p.write_bytes(struct.pack("<Q", len(header)) + header)
    with pytest.raises(CheckpointError, match="malformed header entry for tensor 'w'"):
        cr.load(p)
    header = json.dumps({"w": {"dtype": "F64", "shape": [5], "data_offsets": [0, 32]}}).encode()
    p.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * 32)
    with pytest.raises(CheckpointError, match=r"tensor 'w': F64 of shape \(5,\) is 40 bytes.*hold 32"):
        cr.load(p)


def test_nothing_is_unpickled(tmp_path, monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("something tried to unpickle")

    pk = tmp_path / "evil.safetensors"
    pk.write_bytes(pickle.dumps({"w": [1.0]}))
    good = tmp_path / "good.safetensors"
    cr.save({"w": np.ones(2), "nested": {"a": [1, 2]}}, good)
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    assert cr.load(good)["nested"] == {"a": [1, 2]}
    with pytest.raises(CheckpointError):
        cr.load(pk)


def test_a_safetensors_file_whose_first_byte_is_0x80_loads(tmp_path):
    # the header length is little-endian: a 128-byte (mod 256) header starts the file with 0x80
    for n in range(1, 40):
        p = tmp_path / f"m{n}.safetensors"
        cr.save({"w" * n: np.zeros(3, np.float32)}, p)
        assert np.array_equal(cr.load(p)["w" * n], np.zeros(3, np.float32))
