"""cr.compile: record once per signature, replay forward and backward; equal to eager."""

import json
import threading
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli, nn
from chainrule.nn import functional as F
from chainrule.transforms.compile import CompileError, CompileWarning


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return (cr.tensor(rng.normal(size=(5, 4))), cr.tensor(rng.normal(size=(4, 3)), requires_grad=True),
            cr.tensor(rng.normal(size=3), requires_grad=True))


def _loss(x, W, b):
    h = cr.tanh(x @ W + b)
    return (h * h).sum() / 3.0 + cr.exp(-h).mean()


def _run(f, x, W, b):
    W.grad = b.grad = None
    out = f(x, W, b)
    out.backward()
    return out.data.copy(), W.grad.copy(), b.grad.copy()


def test_replay_equals_eager_bitwise_and_counts_recordings():
    x, W, b = _params()
    eager = _run(_loss, x, W, b)
    calls = []

    def traced(*a):
        calls.append(1)
        return _loss(*a)

    cf = cr.compile(traced)
    for _ in range(3):
        got = _run(cf, x, W, b)
        for e, g in zip(eager, got):
            assert np.array_equal(e, g)
    assert cf.recordings == 1 and len(calls) == 1  # replays do not run the Python function


def test_replay_reads_new_argument_values():
    x, W, b = _params()
    cf = cr.compile(_loss)
    _run(cf, x, W, b)
    x2, W2, b2 = _params(seed=1)
    assert all(np.array_equal(e, g) for e, g in zip(_run(_loss, x2, W2, b2), _run(cf, x2, W2, b2)))


def test_new_signature_records_again():
    x, W, b = _params()
    cf = cr.compile(_loss)
    _run(cf, x, W, b)
    x7 = cr.tensor(np.ones((7, 4)))
    assert np.array_equal(_run(cf, x7, W, b)[1], _run(_loss, x7, W, b)[1])
    assert cf.recordings == 2
    W.requires_grad = False  # requires_grad is part of the signature
    cf(x, W, b)
    assert cf.recordings == 3


def test_outputs_of_earlier_calls_are_not_overwritten():
    x, W, b = _params()
    cf = cr.compile(lambda x, W, b: cr.tanh(x @ W + b))
    cf(x, W, b)
    first = cf(x, W, b)
    keep = first.data.copy()
    cf(cr.tensor(np.zeros((5, 4))), W, b)
    assert np.array_equal(first.data, keep)


def test_broadcast_gradients_are_reduced_like_eager():
    x, W, b = _params()
    f = lambda x, W, b: ((x @ W) * b + b).sum()  # noqa: E731
    cf = cr.compile(f)
    _run(cf, x, W, b)
    assert np.array_equal(_run(cf, x, W, b)[2], _run(f, x, W, b)[2])


def test_create_graph_through_replay_raises_clearly():
    x, W, b = _params()
    cf = cr.compile(_loss)
    cf(x, W, b)
    out = cf(x, W, b)
    with pytest.raises(CompileError, match="create_graph"):
        out.backward(create_graph=True)


def test_non_tensor_argument_is_refused():
    with pytest.raises(TypeError, match="Tensors only"):
        cr.compile(lambda a: a)(3.0)



# -- Tensors read from outside the arguments ----------------------------------------------------------
def test_outside_tensors_are_read_afresh_and_receive_gradients():
    x, W, b = _params()
    scale = cr.tensor(np.full(3, 2.0))  # a constant held in a Tensor: no gradient, still read afresh
    loss = lambda x: (cr.tanh(x @ W + b) * scale).sum()  # noqa: E731
    cf = cr.compile(loss)
    opt = cr.optim.SGD([W, b], lr=0.1)
    for _ in range(4):
        for f in (loss, cf):
            W.grad = b.grad = None
            out = f(x)
            out.backward()
            if f is loss:
                want = out.data.copy(), W.grad.copy(), b.grad.copy()
        assert np.array_equal(out.data, want[0]) and np.array_equal(W.grad, want[1])
        assert np.array_equal(b.grad, want[2])
        opt.step()  # in place, outside the compiled function: the next replay reads the new values
        scale.data = scale.data + 1.0  # a new array: read afresh too
    assert cf.recordings == 1


def test_outside_tensor_of_another_shape_records_again():
    holder = {"W": cr.tensor(np.ones((4, 3)), requires_grad=True)}
    x = cr.tensor(np.ones((2, 4)))
    cf = cr.compile(lambda x: (x @ holder["W"]).sum())
    cf(x), cf(x)
    holder["W"] = cr.tensor(np.ones((4, 5)), requires_grad=True)
    out = cf(x)
    out.backward()
    assert cf.recordings == 2 and out.item() == 40.0 and holder["W"].grad.shape == (4, 5)


def test_tensor_needing_grad_made_inside_the_function_raises():
    def f(x):
        w = cr.tensor(np.ones(4), requires_grad=True)  # a new leaf every call: no place to read it from
        return (x * w).sum()

    with pytest.raises(CompileError, match="needs a gradient"):
        cr.compile(f)(cr.tensor(np.ones(4)))


def test_non_leaf_argument_passes_its_gradient_on():
    x = cr.tensor(np.arange(3.0), requires_grad=True)
    cf = cr.compile(lambda h: (h * h).sum())
    for _ in range(2):
        x.grad = None
        cf(x * 2.0).backward()
        assert np.array_equal(x.grad, 8.0 * x.data)


def test_no_grad_and_detach_inside_the_function_stop_the_gradient_as_eager():
    def f(x):
        with cr.no_grad():
            s = (x * x).sum()
        return (x * s + x.detach() * x).sum()

    x = cr.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    f(x).backward()
    want = x.grad.copy()
    cf = cr.compile(f)
    for _ in range(2):
        x.grad = None
        cf(x).backward()
        assert np.array_equal(x.grad, want)


def test_grad_mode_is_part_of_the_signature():
    x, W, b = _params()
    cf = cr.compile(_loss)
    with cr.no_grad():
        cf(x, W, b)
    assert np.array_equal(_run(cf, x, W, b)[1], _run(_loss, x, W, b)[1])
    assert cf.recordings == 2


# -- methods and modules -------------------------------------------------------------------------------
class _Affine:
    def __init__(self, seed):
        self.W = cr.tensor(np.random.default_rng(seed).normal(size=(4, 2)), requires_grad=True)

    @cr.compile
    def loss(self, x):
        return (x @ self.W).sum()


def test_compiled_methods_of_two_instances_have_recordings_of_their_own():
    a, b = _Affine(0), _Affine(1)
    x = cr.tensor(np.ones((3, 4)))
    for _ in range(3):
        for m in (a, b):
            m.W.grad = None
            out = m.loss(x)
            out.backward()
            assert np.isclose(out.item(), 3 * m.W.data.sum()) and np.array_equal(m.W.grad, np.full((4, 2), 3.0))
    assert a.loss.recordings == 1 and b.loss.recordings == 1 and a.loss is not b.loss


def test_compiled_module_records_again_when_its_mode_changes():
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5), nn.Linear(8, 2))
    cf = cr.compile(model)
    x = cr.tensor(np.ones((3, 4)))
    cf(x), cf(x)
    model.eval()
    assert np.array_equal(cf(x).data, model(x).data)  # eval: no dropout
    assert cf.recordings == 2


# -- the traps ------------------------------------------------------------------------------------------
def test_dropout_draws_a_fresh_mask_on_every_replay():
    x, W, b = _params()
    f = lambda x, W, b: F.dropout(x @ W + b, p=0.5).sum()  # noqa: E731
    cf = cr.compile(f)
    seen = set()
    for seed in range(5):
        cr.manual_seed(seed)
        want = _run(f, x, W, b)
        cr.manual_seed(seed)
        got = _run(cf, x, W, b)
        assert all(np.array_equal(w, g) for w, g in zip(want, got))
        seen.add(got[0].item())
    assert len(seen) == 5 and cf.recordings == 1  # five replays, five different masks


def test_batch_norm_running_statistics_move_on_every_replay():
    rng = np.random.default_rng(0)
    eager, comp = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    cf = cr.compile(lambda x: comp(x).sum())
    for _ in range(4):
        x = cr.tensor(rng.normal(size=(6, 3)), requires_grad=True)
        eager(x).sum(), cf(x)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        assert np.array_equal(getattr(comp, name), getattr(eager, name)), name
    assert int(comp.num_batches_tracked) == 4 and cf.recordings == 1


@pytest.mark.parametrize("read", [
    lambda h: h * (2.0 if h.sum().item() > 0 else -1.0),
    lambda h: h * 2.0 if h.sum() > 0 else h * -1.0,  # bool() of a comparison: a branch
    lambda h: h * float(h.max()),
    lambda h: h + h.data.sum(),
    lambda h: h * len(h.tolist()),
])
def test_value_read_while_recording_falls_back_to_eager_with_a_warning(read):
    calls = []

    def f(x):
        calls.append(1)
        return read(x * 1.0).sum()

    cf = cr.compile(f)
    for sign in (1.0, -1.0, 1.0):
        x = cr.tensor(sign * np.arange(1.0, 4.0), requires_grad=True)
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            out = cf(x)
        out.backward()
        want_x = cr.tensor(x.data.copy(), requires_grad=True)
        want = f(want_x)
        want.backward()
        assert np.array_equal(out.data, want.data) and np.array_equal(x.grad, want_x.grad)
    assert cf.recordings == 0 and len(calls) == 6 and "reads" in cf.fallbacks[0]
    assert any(issubclass(i.category, CompileWarning) for i in w) or len(cf.fallbacks) == 1


def test_value_read_warning_names_the_read():
    cf = cr.compile(lambda x: x * x.sum().item())
    with pytest.warns(CompileWarning, match=r"\.item\(\).*runs eagerly"):
        cf(cr.tensor(np.ones(2)))


def test_optimizer_step_inside_the_compiled_function_falls_back_to_eager():
    x, W, b = _params()
    W2, b2 = cr.tensor(W.data.copy(), requires_grad=True), cr.tensor(b.data.copy(), requires_grad=True)

    def train_step(opt, W, b):
        def step(x):
            opt.zero_grad()
            loss = _loss(x, W, b)
            loss.backward()
            opt.step()
            return loss
        return step

    eager = train_step(cr.optim.SGD([W2, b2], lr=0.1), W2, b2)
    cf = cr.compile(train_step(cr.optim.SGD([W, b], lr=0.1), W, b))
    with pytest.warns(CompileWarning, match="backward"):
        cf(x)
    eager(x)
    for _ in range(3):
        cf(x), eager(x)
    assert np.array_equal(W.data, W2.data) and np.array_equal(b.data, b2.data) and cf.recordings == 0


def test_in_place_write_to_an_outside_tensor_inside_falls_back_to_eager():
    counter = cr.tensor(np.zeros(2))

    def f(x):
        counter.add_(1.0)  # in place, not through the tape
        return (x * 2.0).sum()

    cf = cr.compile(f)
    with pytest.warns(CompileWarning, match="in place"):
        cf(cr.tensor(np.ones(2)))
    cf(cr.tensor(np.ones(2)))
    assert np.array_equal(counter.data, [2.0, 2.0])


# -- nn training loops: compiled equal to eager ---------------------------------------------------------
def _train(model_fn, x, y, compiled, steps=10):
    cr.manual_seed(0)
    model = model_fn()
    opt = cr.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = lambda x: F.cross_entropy(model(x), y)  # noqa: E731
    step = cr.compile(loss_fn) if compiled else loss_fn
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = step(x)
        loss.backward()
        opt.step()
        losses.append(float(loss.data))
    return model, losses, step


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_ten_training_steps_compiled_equal_eager(kind):
    rng = np.random.default_rng(0)
    if kind == "mlp":
        x = cr.tensor(rng.normal(size=(16, 8)))
        model_fn = lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))  # noqa: E731
    else:
        x = cr.tensor(rng.normal(size=(4, 1, 8, 8)))
        model_fn = lambda: nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # noqa: E731
                                         nn.Flatten(), nn.Linear(48, 3))
    y = rng.integers(0, 3, size=x.shape[0])
    eager, want, _ = _train(model_fn, x, y, False)
    comp, got, step = _train(model_fn, x, y, True)
    assert step.recordings == 1 and got == want and want[-1] < want[0]
    for (name, p), q in zip(eager.named_parameters(), comp.parameters()):
        assert np.array_equal(p.data, q.data), name


# -- threads --------------------------------------------------------------------------------------------
def test_a_recording_sees_only_its_own_thread():
    """Thread A records while thread B runs eager operations and reads values: B's work is not on
    A's tape and does not make A fall back; A's replays equal eager."""
    x, W, b = _params()
    inside, resume = threading.Event(), threading.Event()

    def f(x, W, b):
        h = x @ W
        inside.set()
        assert resume.wait(10)
        return cr.tanh(h + b).sum()

    cf = cr.compile(f)
    errors = []

    def record():
        try:
            cf(x, W, b)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    a = threading.Thread(target=record)
    a.start()
    assert inside.wait(10)
    other = cr.tensor(np.ones(3), requires_grad=True)
    for _ in range(5):
        (cr.exp(other) * 2.0).sum().item()
    resume.set()
    a.join(10)
    assert not errors and cf.recordings == 1 and not cf.fallbacks
    (rec,) = cf._cache[next(iter(cf._cache))]
    assert len(rec.fwd) == 4  # matmul, add, tanh, sum: nothing of thread B
    inside.clear()
    resume.set()
    assert all(np.array_equal(e, g) for e, g in zip(_run(lambda *a: cr.tanh(a[0] @ a[1] + a[2]).sum(), x, W, b),
                                                    _run(cf, x, W, b)))


def test_threads_replay_one_recording_concurrently():
    x, W, b = _params()
    cf = cr.compile(_loss)
    want = _loss(x, W, b).item()
    cf(x, W, b)
    results = []

    def work():
        for _ in range(50):
            results.append(cf(x, W, b).item())

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [want] * 200 and cf.recordings == 1


# -- chainrule train --compile --------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_train_compile_gives_the_eager_numbers_and_reports_recordings(tmp_path, model):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    pytest.importorskip("safetensors")
    runs = {}
    for flag in ([], ["--compile"]):
        out = tmp_path / f"run{len(flag)}"
        opts = ["--hidden", "32"] if model == "mlp" else ["--batch-size", "128"]
        assert cli.main(["train", "--model", model, "--epochs", "1", "--no-progress", "--out", str(out),
                         *opts, *flag]) == 0
        with open(out / "summary.json") as f:
            runs[len(flag)] = json.load(f)
        runs[len(flag), "w"] = cr.load(out / "model.safetensors")
    strip = lambda s: [{k: v for k, v in r.items() if k != "seconds"} for r in s["epochs"]]  # noqa: E731
    assert strip(runs[0]) == strip(runs[1]) and "compile" not in runs[0]
    for k, w in runs[0, "w"].items():
        assert np.array_equal(w, runs[1, "w"][k]), k
    # train: full and last partial batch; evaluation (no_grad, eval mode): full and last batch
    assert runs[1]["compile"] == {"recordings": 4, "fallbacks": []} and runs[1]["options"]["compile"] is True


def test_in_place_write_to_a_local_tensor_outside_the_graph_falls_back_to_eager():
    def f(x):
        h = x.detach() * 2.0  # no gradient: `h += 1` writes its array in place, which no tape step does
        h += 1.0
        return (x * h).sum()

    cf = cr.compile(f)
    x = cr.tensor(np.arange(3.0), requires_grad=True)
    with pytest.warns(CompileWarning, match="outside the graph"):
        cf(x)
    x2 = cr.tensor(np.arange(3.0) + 1.0, requires_grad=True)
    cf(x2).backward()
    assert np.array_equal(x2.grad, 2.0 * x2.data + 1.0) and cf.recordings == 0


def test_parameters_of_deeply_nested_modules_are_found():
    cr.manual_seed(0)
    model = nn.Linear(3, 2)
    for _ in range(7):
        model = nn.Sequential(model)
    cf = cr.compile(model)
    x = cr.tensor(np.ones((2, 3)))
    for _ in range(2):
        model.zero_grad()
        cf(x).sum().backward()
        assert np.array_equal(next(model.parameters()).grad, np.full((2, 3), 2.0))
    assert cf.recordings == 1


def test_a_boolean_attention_mask_is_read_afresh_on_every_call():
    """A boolean mask Tensor's values become a constant bias of the graph: replaying a recording would
    keep the first call's mask, so the compiled function runs eagerly for it and sees each new mask.
    (A float mask is a graph input like any Tensor and is replayed.)"""
    rng = np.random.default_rng(0)
    q = cr.tensor(rng.normal(size=(1, 4, 3)), requires_grad=True)

    def f(q, m):
        return cr.nn.functional.scaled_dot_product_attention(q, q, q, attn_mask=m).sum()

    cf = cr.compile(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompileWarning)
        for _ in range(3):
            m = rng.random((4, 4)) > 0.3
            m[:, 0] = True
            assert cf(q, cr.tensor(m)).item() == f(q, cr.tensor(m)).item()
    assert "boolean mask" in cf.fallbacks[0]
    float_mask = cr.compile(f)
    for _ in range(3):
        bias = cr.tensor(rng.normal(size=(4, 4)))
        assert float_mask(q, bias).item() == f(q, bias).item()
    assert float_mask.recordings == 1 and not float_mask.fallbacks


def _source(cf):
    (rec,) = cf._cache[next(iter(cf._cache))]
    return rec.source


def test_a_replay_is_straight_line_source_without_work_nothing_reads():
    class Triple(cr.Function):  # its forward's own multiplication is seen by the recording, and read by nothing
        @staticmethod
        def forward(ctx, x):
            return x * 3.0

        @staticmethod
        def backward(ctx, g):
            return g * 3.0

    def f(x):
        h = x
        for _ in range(50):
            h = cr.tanh(h * 1.5 + 0.25)
        return (Triple.apply(h) * h).sum()

    x = cr.tensor(np.linspace(-1, 1, 7), requires_grad=True)
    want = f(x)
    want.backward()
    want_g, x.grad = x.grad.copy(), None
    cf = cr.compile(f)
    for _ in range(3):
        x.grad = None
        out = cf(x)
        out.backward()
        assert np.array_equal(out.data, want.data) and np.array_equal(x.grad, want_g)
    src = _source(cf)
    assert "def forward(" in src and "def backward(" in src and " for " not in src and "while" not in src
    assert "(3.0)" not in src  # the Function's inner step: its value is read by nothing, so it is not replayed
    assert src.count("(1.5)") == 100 and src.count("(0.25)") == 50  # constants as literals (1.5: forward and backward)


def test_a_rule_returning_none_for_a_needed_input_leaves_the_other_gradient_parts():
    class Blocked(cr.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 3.0

        @staticmethod
        def backward(ctx, g):
            return None

    def f(x, y):
        b = Blocked.apply(x * y)  # no gradient comes back through here, to x nor y
        return (b * x + cr.exp(y) - x).sum()

    rng = np.random.default_rng(3)
    x, y = (cr.tensor(rng.normal(size=4), requires_grad=True) for _ in range(2))
    eager = f(x, y)
    eager.backward()
    want = x.grad.copy(), y.grad.copy()
    cf = cr.compile(f)
    for _ in range(3):
        x.grad = y.grad = None
        out = cf(x, y)
        out.backward()
        assert np.array_equal(out.data, eager.data)
        assert np.array_equal(x.grad, want[0]) and np.array_equal(y.grad, want[1])


@pytest.mark.parametrize("shapes", [((3, 1), (4,)), ((2, 3, 4), (3, 1)), ((), (5,)), ((1, 4), (3, 1)), ((), ())])
def test_written_out_rules_reduce_broadcast_gradients_as_eager(shapes):
    rng = np.random.default_rng(len(shapes[0]) + 3 * len(shapes[1]))

    def f(a, b):
        s = a + b
        d = b - a
        m = cr.tanh(s) * d - (-a) * cr.exp(b * 0.5)
        return (m * m).sum()

    args = [cr.tensor(rng.normal(size=s), requires_grad=True) for s in shapes]
    eager = f(*args)
    eager.backward()
    want = [a.grad.copy() for a in args]
    cf = cr.compile(f)
    for _ in range(3):
        for a in args:
            a.grad = None
        out = cf(*args)
        out.backward()
        assert np.array_equal(out.data, eager.data)
        for a, w in zip(args, want):
            assert a.grad.shape == w.shape and np.array_equal(a.grad, w)


@pytest.mark.parametrize("axis, keepdims", [(None, False), (1, False), ((0, 2), True), (-1, True)])
def test_written_out_sum_and_mean_rules_match_eager(axis, keepdims):
    x = cr.tensor(np.random.default_rng(7).normal(size=(3, 4, 5)), requires_grad=True)

    def f(x):
        return (cr.sum(cr.tanh(x), axis=axis, keepdims=keepdims) * cr.mean(x * x, axis=axis, keepdims=keepdims)).sum()

    eager = f(x)
    eager.backward()
    want, x.grad = x.grad.copy(), None
    cf = cr.compile(f)
    for _ in range(3):
        x.grad = None
        out = cf(x)
        out.backward()
        assert np.array_equal(out.data, eager.data) and np.array_equal(x.grad, want)
    assert "is not None" not in _source(cf)  # every rule here is written out: no gradient can be missing
