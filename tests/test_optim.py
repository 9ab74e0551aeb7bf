"""cr.optim against torch.optim, step by step on the same parameters and gradients."""

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (4,), ()]

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.8, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2, eps=1e-6)),
    ("Adagrad", dict(lr=0.05, maximize=True)),
]


def _grads(step, seed=0):
    r = np.random.default_rng(1000 * seed + step)
    return [r.standard_normal(s) * (1 + step % 3) for s in SHAPES]


def _pair(name, kw, dtype=np.float64):
    r = np.random.default_rng(42)
    init = [r.standard_normal(s).astype(dtype) for s in SHAPES]
    ps = [cr.nn.Parameter(a) for a in init]
    tps = [torch.nn.Parameter(torch.tensor(a)) for a in init]
    return ps, tps, getattr(optim, name)(ps, **kw), getattr(torch.optim, name)(tps, **kw)


def _step_both(ps, tps, opt, topt, step, dtype=np.float64):
    for p, tp, g in zip(ps, tps, _grads(step)):
        p.grad = g.astype(dtype)
        tp.grad = torch.tensor(g.astype(dtype))
    opt.step()
    topt.step()


@pytest.mark.parametrize("name, kw", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_matches_torch_step_by_step(name, kw):
    ps, tps, opt, topt = _pair(name, kw)
    for step in range(6):
        _step_both(ps, tps, opt, topt, step)
        for p, tp in zip(ps, tps):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12, atol=1e-14,
                                       err_msg=f"{name} {kw} after step {step + 1}")


@pytest.mark.parametrize("name, kw", [CONFIGS[3], CONFIGS[7], CONFIGS[10], CONFIGS[12]])
def test_float32_stays_float32(name, kw):
    ps, tps, opt, topt = _pair(name, kw, np.float32)
    for step in range(4):
        _step_both(ps, tps, opt, topt, step, np.float32)
    for p, tp in zip(ps, tps):
        assert p.dtype == np.float32
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6)
    for st in opt.state.values():
        assert all(v.dtype == np.float32 for v in st.values() if isinstance(v, np.ndarray))


def test_state_dict_resume_through_a_checkpoint(tmp_path):
    """Train 3 steps, save the optimizer, load it into a fresh one, continue: same as never stopping."""
    name, kw = "Adam", dict(lr=0.01, amsgrad=True)
    ps, tps, opt, topt = _pair(name, kw)
    for step in range(3):
        _step_both(ps, tps, opt, topt, step)
    cr.save(opt.state_dict(), tmp_path / "opt.safetensors")
    params = [cr.nn.Parameter(p.data.copy()) for p in ps]
    fresh = optim.Adam(params, lr=0.5)
    fresh.load_state_dict(cr.load(tmp_path / "opt.safetensors"))
    assert fresh.param_groups[0]["lr"] == 0.01 and fresh.param_groups[0]["amsgrad"] is True
    for step in range(3, 6):
        for q, g in zip(params, _grads(step)):
            q.grad = g
        fresh.step()
        _step_both(ps, tps, opt, topt, step)
    for q, tp in zip(params, tps):
        np.testing.assert_allclose(q.data, tp.detach().numpy(), rtol=1e-12)


def test_load_state_dict_refuses_mismatches():
    ps, _, opt, _ = _pair("SGD", dict(lr=0.1, momentum=0.9))
    for p, g in zip(ps, _grads(0)):
        p.grad = g
    opt.step()
    sd = opt.state_dict()
    other = optim.SGD(ps[:2], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="group 0 has 3 parameters in the checkpoint but 2"):
        other.load_state_dict(sd)
    swapped = optim.SGD([ps[1], ps[0], ps[2]], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="shape"):
        swapped.load_state_dict(sd)


def test_zero_grad_and_param_groups():
    a, b = cr.nn.Parameter(np.ones(2)), cr.nn.Parameter(np.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad, b.grad = np.ones(2), np.ones(2)
    opt.step()
    np.testing.assert_allclose(a.data, 0.9)
    np.testing.assert_allclose(b.data, 0.0)
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    opt.step()  # parameters without gradients are skipped
    np.testing.assert_allclose(a.data, 0.9)
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(a)
    with pytest.raises(ValueError, match="more than one group"):
        optim.SGD([{"params": [a]}, {"params": [a]}], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([a], lr=0.1, nesterov=True)


def test_trains_a_model_with_modules():
    """A loss that goes down through Module + optimizer (gradients from backward, not handed in)."""
    cr.nn.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(2, 8), cr.nn.Tanh(), cr.nn.Linear(8, 1))
    x = np.random.default_rng(0).uniform(-1, 1, (64, 2)).astype(np.float32)
    y = (x[:, :1] * x[:, 1:]).astype(np.float32)
    opt = optim.AdamW(model.parameters(), lr=0.05)
    losses = []
    for _ in range(100):
        loss = cr.nn.functional.mse_loss(model(cr.tensor(x)), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0]


@pytest.mark.parametrize("make, tmake", [
    (lambda o: optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5),
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)),
    (lambda o: optim.lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.01),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=0.01)),
])
def test_schedulers_match_torch(make, tmake):
    ps, tps, opt, topt = _pair("SGD", dict(lr=0.1, momentum=0.9))
    sched, tsched = make(opt), tmake(topt)
    for step in range(8):
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12, abs=1e-15)
        _step_both(ps, tps, opt, topt, step)
        sched.step()
        tsched.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12)
    state = sched.state_dict()
    again = type(sched)(optim.SGD([cr.nn.Parameter(np.ones(1))], lr=0.1), **(
        {"step_size": 2, "gamma": 0.5} if "step_size" in state else {"T_max": 5, "eta_min": 0.01}))
    again.load_state_dict(state)
    assert again.last_epoch == 8


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop"])
@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -1.0, "0.1"])
def test_optimizers_refuse_a_learning_rate_that_is_not_a_finite_number(name, lr):
    p = cr.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match=rf"{name}: invalid learning rate"):
        getattr(cr.optim, name)([p], lr=lr)
