"""Issue 17: the engine on other Array API backends, proven on the CPU with array_api_strict (the
standard's reference namespace: it refuses every NumPy-ism), and on CuPy where a GPU is present.

Every OpSpec of the primitive sweep runs on the backend: its value and its gradients equal NumPy's
(whose rules test_primitives.py checks numerically and against PyTorch), a central-difference VJP
computed with the backend's own forward agrees with the backend's gradients, and gradients stay on the
backend. On NumPy, many primitives run a fast rule; on another backend the differentiable rule runs,
so equality with NumPy here is also the fast-vs-differentiable check across backends.
"""

import importlib.util

import numpy as np
import pytest

import chainrule as cr
import test_numpy_interop as interop_cases
from chainrule import backend, data
from chainrule import train as tr
from chainrule.core import REGISTRY, Primitive
from chainrule.ops.dispatch import UnsupportedOnBackend
from chainrule.ops.recurrent import lstm_scan
from test_primitives import SPECS

pytest.importorskip("array_api_strict")


def _cuda_ok():
    return importlib.util.find_spec("cupy") is not None and backend.available("cuda")


DEVICES = ["array_api_strict",
           pytest.param("cuda", marks=pytest.mark.skipif(not _cuda_ok(), reason="no CuPy or no CUDA GPU here"))]
IDS = [f"{s.name}-{i}" for i, s in enumerate(SPECS)]
H = 1e-6
SECOND_ORDER = [s for s in SPECS if s.second_order]


def _run(spec, xs, wrt, u, device):
    ts = [cr.tensor(x, requires_grad=i in wrt, device=device) for i, x in enumerate(xs)]
    out = spec.call(*ts)
    out.backward(cr.tensor(u, device=device))
    return out, [ts[i].grad for i in wrt]


def _host(a):
    return np.asarray(backend.to_host(a), dtype=np.float64)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spec", SPECS, ids=IDS)
def test_every_spec_matches_numpy_on_the_backend(spec, device):
    rng = np.random.default_rng(17)
    for shapes in spec.shapes:
        xs = spec.sample(rng, shapes)
        wrt = tuple(spec.wrt if spec.wrt is not None else range(len(xs)))
        with cr.no_grad():
            ref = np.asarray(spec.call(*[cr.tensor(x) for x in xs]).data, dtype=np.float64)
        u = rng.standard_normal(ref.shape)
        ref_out, ref_grads = _run(spec, xs, wrt, u, None)
        out, grads = _run(spec, xs, wrt, u, device)
        assert out.device.type == cr.device(device).type
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12, atol=1e-12, err_msg=f"{spec.name} forward")
        for i, g, rg in zip(wrt, grads, ref_grads):
            assert backend.backend_of(g) is backend.get(cr.device(device)), f"{spec.name}: grad left the device"
            assert tuple(g.shape) == xs[i].shape
            np.testing.assert_allclose(_host(g), np.asarray(rg), rtol=1e-10, atol=1e-12,
                                       err_msg=f"{spec.name}: gradient of input {i}")
        # the backend's gradients against central differences of the backend's own forward
        for i, g in zip(wrt, grads):
            d = rng.standard_normal(xs[i].shape)

            def f(x, i=i, xs=xs, u=u):
                args = [cr.tensor(v, device=device) for v in xs]
                args[i] = cr.tensor(x, device=device)
                with cr.no_grad():
                    return float(np.sum(_host(spec.call(*args).numpy()) * u))

            num = (f(xs[i] + H * d) - f(xs[i] - H * d)) / (2 * H)
            assert np.isclose(num, float(np.sum(_host(g) * d)), rtol=1e-4, atol=1e-6), (spec.name, i)


@pytest.mark.parametrize("device", DEVICES)
def test_ops_mixing_devices_name_the_op_and_both_devices(device):
    x = cr.tensor([1.0, 2.0], device=device)
    with pytest.raises(RuntimeError, match=rf"mul: the inputs are on different devices, {device}(:0)? and cpu"):
        x * cr.tensor([3.0, 4.0])
    with pytest.raises(RuntimeError, match=rf"matmul: the inputs are on different devices, cpu and {device}"):
        cr.tensor([[1.0, 2.0]]) @ cr.ones(2, 2, device=device)


def test_a_numpy_only_primitive_refuses_other_backends_by_name():
    double = Primitive("double_np_only", lambda x: np.multiply(x, 2), lambda xp, need, g, ans, x: (2 * g,),
                       register=False)
    assert double(cr.tensor([1.0])).item() == 2.0  # NumPy: fine
    with pytest.raises(UnsupportedOnBackend, match="double_np_only: not supported on the 'array_api_strict' backend"):
        double(cr.tensor([1.0], device="array_api_strict"))


def test_every_registered_primitive_has_a_backend_forward_and_is_swept_on_the_backend():
    """No primitive is NumPy-only and none is left out of the sweeps above: each has a backend forward and
    at least one spec, and every spec runs on the backend (the sweeps exclude nothing), in the first
    derivative and, where its spec asks for it, the second."""
    missing = sorted(name for name, p in REGISTRY.items() if p.xfwd is None)
    assert not missing, f"primitives that run on NumPy only: {missing}"
    assert {s.name for s in SPECS} == set(REGISTRY)
    swept = test_every_spec_matches_numpy_on_the_backend.pytestmark
    assert [m.args[1] for m in swept if m.args[0] == "spec"] == [SPECS]
    second = test_grad_of_grad_matches_numpy_on_the_backend.pytestmark
    assert [m.args[1] for m in second if m.args[0] == "spec"] == [SECOND_ORDER]
    assert SECOND_ORDER == [s for s in SPECS if s.second_order]


def _train_steps(kind, device, steps=4, dtype=None, optimizer="adam"):
    """A few training steps of the digits model on `device`: the final parameters (host copies) and
    the dtypes of every gradient of the last step."""
    split = data.load("digits", flatten=kind != "cnn", seed=0)
    cr.manual_seed(0)
    net = tr.build_model(kind, split.input_shape, 10, (32,), split.image_shape if kind == "cnn" else None, (4, 8))
    if dtype is not None:
        net.to(dtype)
    net.to(device)
    opt = tr.make_optimizer(optimizer, net.parameters(), 1e-2, 1e-4)
    loader = data.DataLoader(split.train, batch_size=32, shuffle=True, seed=0)
    grads, loss = [], None
    for step, (x, y) in enumerate(loader):
        if step == steps:
            break
        x, y = x.to(device), y.to(device)
        if dtype is not None:
            x = x.to(dtype)
        loss = cr.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        grads = [(n, p.grad) for n, p in net.named_parameters()]
        opt.step()
    return {n: np.asarray(p.numpy()) for n, p in net.named_parameters()}, grads, loss


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("kind,optimizer", [("mlp", "adam"), ("mlp", "sgd"), ("cnn", "adam")])
def test_digits_training_steps_give_numpys_parameters(kind, optimizer, device):
    init, _, _ = _train_steps(kind, "cpu", steps=0, optimizer=optimizer)
    ref, _, _ = _train_steps(kind, "cpu", optimizer=optimizer)
    got, grads, loss = _train_steps(kind, device, optimizer=optimizer)
    assert all(not np.allclose(ref[n], init[n]) for n in ref)  # the steps moved every parameter
    assert loss.device.type == cr.device(device).type
    assert all(backend.backend_of(g) is backend.get(cr.device(device)) for _, g in grads)
    assert set(got) == set(ref)
    for n in ref:
        np.testing.assert_allclose(got[n], ref[n], rtol=1e-5, atol=1e-6, err_msg=n)


@pytest.mark.parametrize("device", ["cpu", *DEVICES])
def test_float32_training_keeps_every_gradient_float32(device):
    _, grads, loss = _train_steps("cnn", device, steps=2, dtype=cr.float32)
    assert loss.dtype == cr.float32
    assert grads and all(cr.tensor(g).dtype == cr.float32 for _, g in grads), [(n, g.dtype) for n, g in grads]


# -- the device API -----------------------------------------------------------------------------------

@pytest.mark.parametrize("device", DEVICES)
def test_tensor_device_api(device):
    dev = cr.device(device)
    t = cr.tensor([[1.0, 2.0]], device=device)
    assert t.device.type == dev.type and t.dtype == cr.float64 and t.shape == (1, 2)
    assert backend.backend_of(t._data) is backend.get(dev)
    host = t.numpy()
    assert type(host) is np.ndarray and host.tolist() == [[1.0, 2.0]]
    host[0, 0] = 99.0  # a copy: the device's values do not change
    assert t.tolist() == [[1.0, 2.0]] and t[0, 1].item() == 2.0
    back = t.cpu()
    assert back.device == cr.device("cpu") and type(back.data) is np.ndarray
    assert t.to("cpu").to(device).device.type == dev.type
    assert cr.tensor(t).device.type == dev.type  # a tensor of a device's array stays there
    assert cr.zeros(2, 3, device=device).device.type == dev.type
    cr.manual_seed(3)
    a = cr.randn(4, device=device)
    cr.manual_seed(3)
    assert np.array_equal(a.numpy(), cr.randn(4).numpy())  # the same numbers on every device
    assert cr.zeros_like(a).device.type == dev.type
    assert f"device='{device}" in repr(t)
    assert t.to(cr.float32).dtype == cr.float32
    assert cr.nn.Linear(2, 3, device=device).weight.device.type == dev.type  # layers' device=


@pytest.mark.parametrize("device", DEVICES)
def test_to_device_is_a_node_whose_backward_moves_the_gradient_back(device):
    """t.to(device) is differentiable, as in PyTorch: one backward pass crosses devices and back, and every
    leaf's gradient lives on the leaf's device."""
    xv, wv = np.array([1.0, -2.0, 0.5]), np.array([3.0, 4.0, -1.0])
    x = cr.tensor(xv, requires_grad=True)
    w = cr.tensor(wv, requires_grad=True, device=device)
    y = x.to(device)
    assert y.requires_grad and not y.is_leaf and y._node.prim.name == "to_device" and y.device.type == w.device.type
    dot = (y * w).sum()                 # on the device
    z = dot.to("cpu") * (x * x).sum()   # back on the CPU, with x used there too
    assert z.device == cr.device("cpu")
    z.backward()
    assert backend.backend_of(x.grad) is None and backend.backend_of(w.grad) is backend.get(cr.device(device))
    np.testing.assert_allclose(np.asarray(x.grad), wv * (xv @ xv) + 2 * xv * (xv @ wv), rtol=1e-14)
    np.testing.assert_allclose(_host(w.grad), xv * (xv @ xv), rtol=1e-14)
    # the same through cr.grad with create_graph: second derivatives cross the devices too
    x2 = cr.tensor(xv, requires_grad=True)
    (g,) = cr.autograd.grad((x2.to(device) ** 3).sum(), [x2], create_graph=True)
    assert g.device == cr.device("cpu")
    (gg,) = cr.autograd.grad(g.sum(), [x2])
    np.testing.assert_allclose(np.asarray(backend.to_host(gg)), 6 * xv, rtol=1e-14)
    # under no_grad nothing is recorded
    with cr.no_grad():
        assert not x.to(device).requires_grad


def test_a_tensor_moved_without_grad_becomes_a_leaf_on_the_device():
    x = cr.tensor([1.0], requires_grad=True)
    y = x.detach().to("array_api_strict").requires_grad_()
    (y * 3.0).sum().backward()
    assert backend.to_host(y.grad).tolist() == [3.0] and x.grad is None


@pytest.mark.parametrize("device", DEVICES)
def test_module_to_moves_parameters_and_buffers_in_place(device):
    net = cr.nn.Sequential(cr.nn.Linear(3, 2), cr.nn.BatchNorm1d(2))
    params = list(net.parameters())
    opt = cr.optim.SGD(net.parameters(), lr=0.1)
    assert net.to(device) is net and list(net.parameters()) == params  # the same objects: opt still works
    assert all(p.is_leaf and p.requires_grad and p._node is None for p in net.parameters())  # still leaves
    assert all(p.device.type == cr.device(device).type for p in net.parameters())
    assert all(backend.backend_of(b) is backend.get(cr.device(device)) for _, b in net.named_buffers())
    x = cr.randn(4, 3, device=device)
    before = net[0].weight.numpy().copy()
    (net(x) ** 2).sum().backward()
    opt.step()
    assert not np.allclose(net[0].weight.numpy(), before)
    net.cpu()
    assert all(type(p._data) is np.ndarray for p in net.parameters())


@pytest.mark.parametrize("device", DEVICES)
def test_save_writes_a_host_copy_and_load_places_on_map_location(device, tmp_path):
    net = cr.nn.Linear(3, 2).to(device)
    path = tmp_path / "m.safetensors"
    cr.save(net.state_dict(), path)
    plain = cr.load(path)
    assert all(type(v) is np.ndarray for v in plain.values())
    assert np.array_equal(plain["weight"], net.weight.numpy())
    placed = cr.load(path, map_location=device)
    assert all(backend.backend_of(v) is backend.get(cr.device(device)) for v in placed.values())
    other = cr.nn.Linear(3, 2).to(device)
    other.load_state_dict(placed)
    assert other.weight.device.type == cr.device(device).type
    assert np.array_equal(other.weight.numpy(), net.weight.numpy())
    assert cr.load(path, map_location="cpu")["bias"].tolist() == plain["bias"].tolist()
    with pytest.raises(RuntimeError, match="load\\(map_location=\\): device 'mps' is not available"):
        cr.load(path, map_location="mps")


def test_train_on_a_device_from_the_command_line(tmp_path):
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, "-m", "chainrule", "train", "--dataset", "digits", "--epochs", "1",
                        "--hidden", "16", "--no-progress", "--device", "array_api_strict", "--out", str(tmp_path)],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["final"]["test_accuracy"] > 0.5
    model, _ = tr.load_checkpoint(tmp_path / tr.CHECKPOINT)
    assert all(type(p._data) is np.ndarray for p in model.parameters())  # the checkpoint holds host arrays


def test_in_place_updates_on_a_backend_stay_there():
    x = cr.tensor([1.0, 2.0, 3.0], device="array_api_strict")
    x += 1
    x *= 2
    x[0] = 10.0
    x.clamp_(0, 7)
    assert x.device.type == "array_api_strict" and x.tolist() == [7.0, 6.0, 7.0]
    y = cr.tensor([1.0, 2.0], device="array_api_strict", requires_grad=True)
    z = y * 1.0
    z[0] = 5.0  # recorded, as on NumPy: the overwritten element gets no gradient
    z.sum().backward()
    assert backend.to_host(y.grad).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("spec", SECOND_ORDER, ids=[i for s, i in zip(SPECS, IDS) if s.second_order])
def test_grad_of_grad_matches_numpy_on_the_backend(spec, device):
    """create_graph on a backend: the same rules run on its Tensors (the gradient of sum(g**3), g the
    first gradient, equals NumPy's). Specs whose first gradient is constant have nothing to check."""
    rng = np.random.default_rng(5)
    for shapes in spec.shapes:
        xs = spec.sample(rng, shapes)
        wrt = tuple(spec.wrt if spec.wrt is not None else range(len(xs)))
        u = None
        res = []
        for dev in (None, device):
            ts = [cr.tensor(x, requires_grad=i in wrt, device=dev) for i, x in enumerate(xs)]
            out = spec.call(*ts)
            u = rng.standard_normal(tuple(out.shape)) if u is None else u
            gs = cr.autograd.grad(out, [ts[i] for i in wrt], grad_outputs=cr.tensor(u, device=dev), create_graph=True)
            live = [g for g in gs if g.requires_grad]
            if not live:
                res.append(None)
                continue
            total = sum(((g * g * g).sum() for g in live[1:]), (live[0] * live[0] * live[0]).sum())
            gg = cr.autograd.grad(total, [ts[i] for i in wrt], allow_unused=True, materialize_grads=True)
            res.append([_host(g.numpy()) for g in gg])
        if res[0] is None:
            assert res[1] is None
            continue
        for a, b in zip(*res):
            np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-12, err_msg=spec.name)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("make", [
    lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    lambda ps: cr.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    lambda ps: cr.optim.Adam(ps, lr=0.01, amsgrad=True),
    lambda ps: cr.optim.AdamW(ps, lr=0.01),
    lambda ps: cr.optim.Adadelta(ps, weight_decay=0.1),
    lambda ps: cr.optim.Adagrad(ps, lr=0.1, lr_decay=0.01),
], ids=["SGD", "RMSprop", "Adam", "AdamW", "Adadelta", "Adagrad"])
def test_every_optimizer_steps_on_the_device_as_on_numpy(make, device):
    def run(dev):
        w = cr.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True, device=dev)
        opt = make([w])
        x = cr.tensor(np.arange(6.0).reshape(3, 2) / 6, device=dev)
        for _ in range(3):
            opt.zero_grad()
            ((w @ x) ** 2).sum().backward()
            opt.step()
        assert w.device.type == cr.device(dev or "cpu").type
        return w.numpy()

    np.testing.assert_allclose(run(device), run(None), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [cr.float64, cr.float32])
def test_lstm_on_the_backend_fused_and_composite_match_numpy(device, dtype):
    """nn.LSTM (bidirectional, two layers) on the backend: the fused `lstm_scan` and its composite twin
    (`lstm_step` per step) give NumPy's outputs and gradients, in the tensors' dtype (no float64 upcast)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3, 2)).astype(dtype)
    ref = cr.nn.LSTM(2, 3, num_layers=2, bidirectional=True, dtype=dtype)
    results = []
    for dev, fused in ((None, True), (device, True), (device, False)):
        m = cr.nn.LSTM(2, 3, num_layers=2, bidirectional=True, dtype=dtype)
        m.load_state_dict(ref.state_dict())
        m.fused = fused
        m.to(dev or "cpu")
        xt = cr.tensor(x, requires_grad=True, device=dev)
        y, (h, c) = m(xt)
        (y.sum() + (h * c).sum()).backward()
        grads = [xt.grad] + [p.grad for p in m.parameters()]
        assert all(cr.tensor(g).dtype == dtype for g in grads) and y.dtype == dtype
        if dev is not None:
            assert all(backend.backend_of(g) is backend.get(cr.device(device)) for g in grads)
        results.append([y.numpy(), h.numpy(), c.numpy()] + [_host(g) for g in grads])
    tol = dict(rtol=1e-11, atol=1e-12) if dtype == cr.float64 else dict(rtol=1e-4, atol=1e-5)
    for run in results[1:]:
        for a, b in zip(results[0], run):
            np.testing.assert_allclose(np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64), **tol)


def _kept(node):
    return [s is not None for s in node.saved], node.ans is not None


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("keep", [0, 256])
def test_nodes_on_a_backend_keep_only_what_their_rules_read(device, keep):
    """As on NumPy: with large arrays a node keeps only what the rules of its needed gradients read (x * c
    keeps c, not x; exp keeps its output, not its input), and small values only within keep_values."""
    rng = np.random.default_rng(0)
    big = [rng.standard_normal((30, 40)) for _ in range(3)]
    cases = [
        ("mul", lambda a, b, c: a * b, (True, False)),
        ("exp", lambda a, b, c: cr.exp(a), (True,)),
        ("tanh", lambda a, b, c: cr.tanh(a + b), (True, True)),
        ("matmul", lambda a, b, c: a @ b.T, (False, True)),
        ("lstm_scan", lambda a, b, c: lstm_scan(cr.reshape(a, (3, 10, 40)), b[:10, :10], c[:10, :10], b.T[:, :10]),
         (True, False, True)),
    ]
    for name, f, wants in cases:
        kept = []
        for dev in (None, device):
            ts = [cr.tensor(x, requires_grad=i < len(wants) and wants[i], device=dev) for i, x in enumerate(big)]
            with cr.keep_values(keep):
                out = f(*ts)
            assert out._node.prim.name == name
            kept.append(_kept(out._node))
        if name == "lstm_scan":  # its residuals are for NumPy's fast rule: not even made on another backend
            assert kept[1][0][4:] == [False, False] and kept[0][0][4:] == [True, True]
            kept = [(k[0][:4], k[1]) for k in kept]
        assert kept[1] == kept[0], name
    x = cr.tensor(big[0], requires_grad=True, device=device)
    with cr.keep_values(0):
        node = (x * cr.tensor(big[1], device=device))._node
    assert node.saved[0] is None and node.saved[1] is not None and node.ans is None


# -- the debugging tools, cr.compile and NumPy's protocols on another backend ------------------------------

def _host_tree(out):
    if isinstance(out, (list, tuple)):
        return [_host_tree(o) for o in out]
    return np.asarray(backend.to_host(out._data)) if isinstance(out, cr.Tensor) else np.asarray(backend.to_host(out))


@pytest.mark.parametrize("name", sorted(interop_cases.RECORDED))
def test_numpy_functions_record_on_the_backend_as_on_numpy(name):
    """Every NumPy function and ufunc chainrule records (tests/test_numpy_interop.py) on a tensor of another
    backend: the result stays on its device, with NumPy's values and the CPU's gradient."""
    fn = interop_cases.RECORDED[name]
    res = []
    for dev in (None, "array_api_strict"):
        x = cr.tensor(interop_cases.X.copy(), requires_grad=True, device=dev)
        out = fn(x)
        outs = out if isinstance(out, list) else [out]
        assert all(isinstance(o, cr.Tensor) and o.requires_grad for o in outs), name
        assert all(o.device.type == (dev or "cpu") for o in outs), name
        sum((o * o).sum() for o in outs).backward()
        res.append((_host_tree(outs), _host(x.grad)))
    for a, b in zip(res[0][0], res[1][0]):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12, err_msg=name)
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-12, atol=1e-12, err_msg=name)


@pytest.mark.parametrize("name", sorted(interop_cases.REFUSED))
def test_numpy_functions_chainrule_does_not_record_refuse_on_the_backend_too(name):
    fn = interop_cases.REFUSED[name]
    with pytest.raises(TypeError, match="numpy") as ei:
        fn(cr.tensor(interop_cases.X.copy(), requires_grad=True, device="array_api_strict"))
    assert name in str(ei.value) or "array_api_strict" in str(ei.value), str(ei.value)


@pytest.mark.parametrize("name", sorted(interop_cases.NO_GRADIENT))
def test_numpy_functions_without_gradient_run_on_the_backends_values(name):
    fn = interop_cases.NO_GRADIENT[name]
    got = fn(cr.tensor(interop_cases.X.copy(), requires_grad=True, device="array_api_strict"))
    want = fn(interop_cases.X.copy())
    assert not (isinstance(got, cr.Tensor) and got.requires_grad)
    if isinstance(got, cr.Tensor) and got.ndim:
        assert got.device.type == "array_api_strict"  # (a constant tensor stays on the device)
    for g, w in zip(*([_host_tree(got), want] if isinstance(want, tuple) else [[_host_tree(got)], [want]])):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


@pytest.mark.parametrize("device", DEVICES)
def test_compile_replays_on_the_backend_as_eager(device):
    """cr.compile on a model on another backend: recorded once per mode, replayed on the device, the same
    losses, parameters and BatchNorm statistics as eager training on that device, without falling back."""
    def run(compiled):
        cr.manual_seed(1)
        net = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.BatchNorm1d(8), cr.nn.Tanh(), cr.nn.Linear(8, 3)).to(device)
        fwd = cr.compile(net) if compiled else net
        opt = cr.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        rng = np.random.default_rng(2)
        losses = []
        for _ in range(4):
            x = cr.tensor(rng.standard_normal((6, 4)), device=device)
            y = cr.tensor(rng.integers(0, 3, 6), device=device)
            loss = cr.nn.functional.cross_entropy(fwd(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        assert loss.device.type == cr.device(device).type
        state = {k: np.asarray(backend.to_host(v)) for k, v in net.state_dict().items()}
        return losses, state, fwd

    ref_losses, ref_state, _ = run(False)
    losses, state, fwd = run(True)
    assert fwd.recordings == 1 and fwd.fallbacks == []
    np.testing.assert_array_equal(losses, ref_losses)
    for k in ref_state:
        np.testing.assert_array_equal(state[k], ref_state[k], err_msg=k)


@pytest.mark.parametrize("device", DEVICES)
def test_check_graph_and_explain_on_the_backend(device):
    """check_graph checks each node's rule with the backend's forward and rules (a wrong rule fails there);
    explain's table, steps and leaf gradients equal NumPy's."""
    xv, wv = np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([0.3, -0.7])

    def f(dev):
        x = cr.tensor(xv, requires_grad=True, device=dev, name="x")
        w = cr.tensor(wv, requires_grad=True, device=dev, name="w")
        return (cr.tanh(x * w) + cr.exp(x)).sum()

    report = cr.check_graph(f(device))
    assert report.ok and len(report.rows) == 5 and all(r.status == "pass" for r in report.rows), str(report)
    wrong = Primitive("wrong_double", lambda x: x * 2, lambda xp, need, g, ans, x: (3 * g,),
                      xfwd=lambda xp, x: x * 2, register=False)
    bad = cr.check_graph(wrong(cr.tensor(xv, requires_grad=True, device=device)).sum())
    assert [r.status for r in bad.rows][0] == "FAIL", str(bad)
    cpu, dev = cr.explain(f(None)), cr.explain(f(device))
    assert str(dev) == str(cpu)
    for a, b in zip(cpu.steps, dev.steps):
        assert type(b.upstream) is np.ndarray and np.array_equal(a.upstream, b.upstream)
        assert all(x is None and y is None or np.array_equal(x, y) for x, y in zip(a.downstream, b.downstream))
    assert [np.asarray(leaf.grad).tolist() for leaf in dev.leaves] == [np.asarray(leaf.grad).tolist()
                                                                         for leaf in cpu.leaves]


@pytest.mark.parametrize("device", DEVICES)
def test_detect_anomaly_on_the_backend_names_the_op_and_the_values(device):
    x = cr.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True, device=device)
    with cr.detect_anomaly(), pytest.raises(cr.AnomalyError, match=r"log forward: log\(x\) = nan at x = -2.0"):
        cr.log(x)
    z = cr.tensor([0.0, 4.0], requires_grad=True, device=device)
    with cr.detect_anomaly(), pytest.raises(cr.AnomalyError, match=r"sqrt backward: upstream 1.0 × local inf = inf"):
        cr.sqrt(z).sum().backward()
    y = cr.tensor([1.0, 2.0], requires_grad=True, device=device)
    with cr.detect_anomaly():  # finite: nothing to report, and the gradient is the device's
        (y * y).sum().backward()
    assert backend.backend_of(y.grad) is backend.get(cr.device(device)) and _host(y.grad).tolist() == [2.0, 4.0]
