"""Gradient flow during training: `chainrule train` records each layer's gradient norm at every
epoch (summary.json) and plots it beside the loss curve."""

import json
import struct

import numpy as np
import pytest

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")
pytest.importorskip("safetensors")
pytest.importorskip("tqdm")

import chainrule as cr  # noqa: E402
from chainrule import cli, nn, optim  # noqa: E402
from chainrule import train as tr  # noqa: E402
from chainrule.data import TensorDataset  # noqa: E402


def png_size(path):
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_train_records_every_layers_gradient_norm_and_plots_it(tmp_path):
    out = tmp_path / "run"
    assert cli.main(["train", "--out", str(out), "--no-progress", "--epochs", "2", "--hidden", "32,16"]) == 0
    s = json.loads((out / "summary.json").read_text())
    for row in s["epochs"]:
        assert set(row["grad_norm"]) == {"0", "2", "4"}  # the three Linear layers, by named_modules() path
        assert all(np.isfinite(v) and v > 0 for v in row["grad_norm"].values())
    assert png_size(out / "history.png") == (1500, 400)  # loss, accuracy and the gradient norms side by side


def test_recorded_norm_is_the_norm_of_the_layers_gradients():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(32, 5)), rng.integers(0, 3, 32)
    cr.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 3))
    ds = TensorDataset(cr.tensor(X), cr.tensor(y))
    hist = tr.fit(net, optim.SGD(net.parameters(), lr=0.0), ds, ds, "classification", epochs=2, batch_size=32,
                  progress=False)
    net.zero_grad()
    nn.functional.cross_entropy(net(cr.tensor(X)), y).backward()  # lr 0: the weights never moved
    want = {k: float(np.sqrt(sum(np.sum(np.asarray(p.grad) ** 2) for p in m.parameters())))
            for k, m in (("0", net[0]), ("2", net[2]))}
    for row in hist:
        assert row["grad_norm"].keys() == want.keys()
        for k in want:
            np.testing.assert_allclose(row["grad_norm"][k], want[k], rtol=1e-6)  # (float32 parameters)
    assert tr.layer_grad_norms(net) == pytest.approx(want)
