"""Real PyTorch programs, run unchanged but for their import lines, under PyTorch and chainrule.

`tests/programs/` holds transcriptions (written here from what the programs do) of the programs
issue 13 cites: the tutorial "Learning PyTorch with Examples" (cubic fits by hand, by autograd, with a
custom autograd Function, nn, optim, a Module, a dynamic net), "What is torch.nn really?" stage by
stage, pytorch/examples' MNIST script (on the digits), the d2l book's linear regression from scratch,
micrograd's tests and demo. Each is a PyTorch program; `chainrule_source` rewrites its import lines
(`import torch` -> `import chainrule as torch`, ...) and nothing else, and the test compares the
numbers both runs produce. Randomness is identical by construction: data and initial weights are
drawn with NumPy inside the programs (or copied from the PyTorch run's state_dict), and Python's
`random` is seeded the same for both.

Both libraries run with the same default dtype (float32, PyTorch's, through `cr.set_default_dtype`),
so both compute in the same precision; a second run of two programs keeps chainrule's float64
default against PyTorch in float64.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import re
import types

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

PROGRAMS = pathlib.Path(__file__).parent / "programs"


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """Small programs: PyTorch's thread pool only contends with the other test worker."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

_IMPORTS = [
    (re.compile(r"^import torch$"), "import chainrule as torch"),
    (re.compile(r"^import torch\.([\w.]+) as (\w+)$"), r"import chainrule.\1 as \2"),
    (re.compile(r"^from torch(\.[\w.]+)? import (.+)$"), r"from chainrule\1 import \2"),
]


def chainrule_source(source):
    """The program with its torch imports pointed at chainrule: only import lines change."""
    out = []
    for line in source.splitlines():
        for pat, rep in _IMPORTS:
            line = pat.sub(rep, line)
        out.append(line)
    return "\n".join(out) + "\n"


def load(name, lib):
    path = PROGRAMS / f"{name}.py"
    src = path.read_text(encoding="utf-8")
    if lib == "chainrule":
        src = chainrule_source(src)
    mod = types.ModuleType(f"program_{name}_{lib}")
    mod.__file__ = str(path)
    exec(compile(src, str(path), "exec"), mod.__dict__)
    return mod


@contextlib.contextmanager
def default_dtype(lib, dtype):
    if lib == "torch":
        old = torch.get_default_dtype()
        torch.set_default_dtype(getattr(torch, dtype))
    else:
        old_t, old_p = cr.ops.dtypes.defaults.dtype, cr.ops.dtypes.defaults.param
        cr.set_default_dtype(dtype)
    try:
        yield
    finally:
        if lib == "torch":
            torch.set_default_dtype(old)
        else:
            cr.ops.dtypes.defaults.dtype, cr.ops.dtypes.defaults.param = old_t, old_p


def run(name, lib, dtype="float32", **kwargs):
    with default_dtype(lib, dtype), contextlib.redirect_stdout(io.StringIO()) as out:
        result = load(name, lib).main(**kwargs)
    return result, out.getvalue()


def _flat(x):
    if isinstance(x, dict):
        return [v for k in sorted(x) for v in _flat(x[k])]
    if isinstance(x, (list, tuple)):
        return [v for item in x for v in _flat(item)]
    return [float(x)]


def assert_same(a, b, rtol, atol=0.0, what=""):
    fa, fb = _flat(a), _flat(b)
    assert len(fa) == len(fb), f"{what}: {len(fa)} numbers vs {len(fb)}"
    np.testing.assert_allclose(fa, fb, rtol=rtol, atol=atol, err_msg=what)


ALL = ["lpwe_tensor", "lpwe_autograd", "lpwe_custom_function", "lpwe_nn", "lpwe_optim", "lpwe_module",
       "lpwe_dynamic", "nn_tutorial", "mnist_digits", "d2l_linreg", "micrograd_tests", "micrograd_demo"]


@pytest.mark.parametrize("name", ALL)
def test_only_the_import_lines_differ(name):
    src = (PROGRAMS / f"{name}.py").read_text(encoding="utf-8")
    new = chainrule_source(src)
    a, b = src.splitlines(), new.splitlines()
    assert len(a) == len(b)
    changed = [(x, y) for x, y in zip(a, b) if x != y]
    assert changed, f"{name} imports nothing from torch"
    for x, y in changed:
        assert x.startswith(("import torch", "from torch")) and y.startswith(("import chainrule", "from chainrule")), \
            (x, y)
    assert "chainrule" not in src and "torch" in src


LPWE = {  # program: arguments (RMSprop settles, after ~1300 steps, into steps of size ~lr that rounding
    # decides the signs of: lpwe_optim is compared over the steps before)
    "lpwe_tensor": {}, "lpwe_autograd": {}, "lpwe_custom_function": {}, "lpwe_nn": {}, "lpwe_module": {},
    "lpwe_dynamic": {}, "lpwe_optim": {"steps": 1200},
}


@pytest.mark.parametrize("name", sorted(LPWE))
def test_learning_pytorch_with_examples(name):
    got, text = run(name, "chainrule", **LPWE[name])
    want, _ = run(name, "torch", **LPWE[name])
    assert_same(got, want, 2e-4, atol=1e-5, what=name)
    assert got["losses"][-1] < 0.2 * got["losses"][0], f"{name} did not train: {got['losses']}"
    assert text.startswith("Result: y = ")


@pytest.mark.parametrize("name", ["lpwe_autograd", "lpwe_nn"])
def test_in_float64_the_numbers_agree_to_many_digits(name):
    got, _ = run(name, "chainrule", "float64", steps=300)
    want, _ = run(name, "torch", "float64", steps=300)
    if name == "lpwe_autograd":  # (its tensors are float32 by the program's own dtype=)
        assert_same(got, want, 2e-4, what=name)
    else:
        assert_same(got, want, 1e-10, what=name)


@pytest.fixture(scope="module")
def digits():
    d = cr.data.digits()
    xtr, ytr = d.train.arrays
    xte, yte = d.test.arrays
    return xtr, ytr, xte, yte  # (pixels scaled to [0, 1])


def test_what_is_torch_nn_really(digits):
    xtr, ytr, xte, yte = digits
    got, text = run("nn_tutorial", "chainrule", x_train=xtr, y_train=ytr, x_valid=xte, y_valid=yte)
    want, _ = run("nn_tutorial", "torch", x_train=xtr, y_train=ytr, x_valid=xte, y_valid=yte)
    for stage in want:
        assert_same(got[stage], want[stage], 2e-3, atol=1e-4, what=stage)
    assert got["scratch"][0] < 0.8 and got["scratch"][1] > 0.85
    assert got["modules"][0] < 0.8, "the nn.Module stage (p -= p.grad * lr over model.parameters()) trains"
    assert got["fit_linear"][-1] < 0.8
    for stage in ("fit_linear", "fit_cnn", "fit_sequential", "fit_adaptive"):
        assert got[stage][1] < got[stage][0], f"{stage} did not train: {got[stage]}"


def test_what_is_torch_nn_really_with_shuffling_repeats_under_manual_seed(digits):
    xtr, ytr, xte, yte = digits

    def once():
        cr.manual_seed(3)
        return run("nn_tutorial", "chainrule", x_train=xtr, y_train=ytr, x_valid=xte, y_valid=yte, shuffle=True,
                   epochs=1)[0]

    a, b = once(), once()
    assert _flat(a) == _flat(b)
    unshuffled = run("nn_tutorial", "chainrule", x_train=xtr, y_train=ytr, x_valid=xte, y_valid=yte, epochs=1)[0]
    assert a["fit_linear"] != unshuffled["fit_linear"]


def test_pytorch_examples_mnist_on_digits(digits):
    xtr, ytr, xte, yte = digits
    torch.manual_seed(0)
    tmod = load("mnist_digits", "torch")
    state = {k: v.detach().numpy().copy() for k, v in tmod.Net().state_dict().items()}
    argv = ["--epochs", "2", "--no-dropout", "--log-interval", "5"]
    got, text = run("mnist_digits", "chainrule", argv=argv, data=(xtr, ytr, xte, yte), initial_state=state)
    want, _ = run("mnist_digits", "torch", argv=argv, data=(xtr, ytr, xte, yte), initial_state=state)
    assert_same(got, want, 2e-3, atol=2e-4, what="mnist")
    assert "Train Epoch: 1 [0/1438 (0%)]" in text and "Test set: Average loss" in text
    (loss1, correct1), (loss2, correct2) = got["tests"]
    assert loss2 < loss1 < 1.0 and correct2 > 0.85 * len(yte)
    assert got["lr"] == pytest.approx([0.49])


def test_pytorch_examples_mnist_with_dropout_trains_and_repeats(digits):
    xtr, ytr, xte, yte = digits
    argv = ["--epochs", "1", "--dry-run"]
    a, _ = run("mnist_digits", "chainrule", argv=argv, data=(xtr, ytr, xte, yte))
    b, _ = run("mnist_digits", "chainrule", argv=argv, data=(xtr, ytr, xte, yte))
    assert _flat(a) == _flat(b), "torch.manual_seed(args.seed) makes the run repeat"
    argv = ["--epochs", "1"]
    c, _ = run("mnist_digits", "chainrule", argv=argv, data=(xtr, ytr, xte, yte))
    assert c["tests"][0][1] > 0.8 * len(yte)


def test_d2l_linear_regression_from_scratch():
    got, _ = run("d2l_linreg", "chainrule")
    want, _ = run("d2l_linreg", "torch")
    assert_same(got, want, 1e-4, atol=1e-6, what="d2l")
    assert got["losses"][-1] < 1e-4
    np.testing.assert_allclose(got["w"], [2, -3.4], atol=2e-3)


def test_micrograd_tests():
    got, _ = run("micrograd_tests", "chainrule", "float64")
    want, _ = run("micrograd_tests", "torch", "float64")
    assert_same(got, want, 1e-12, what="micrograd")
    assert got["more_ops_in_place"] == got["more_ops"]


def test_micrograd_demo():
    X, y = cr.data.make_moons(n=100, noise=0.1, seed=1)
    got, _ = run("micrograd_demo", "chainrule", "float64", X=X, y=y)
    want, _ = run("micrograd_demo", "torch", "float64", X=X, y=y)
    assert_same(got, want, 1e-8, atol=1e-12, what="micrograd demo")
    assert got["history"][-1][0] < 0.5 * got["history"][0][0] and got["history"][-1][1] > 0.8


def _page_blocks():
    text = (pathlib.Path(__file__).parents[1] / "docs" / "from-pytorch.md").read_text(encoding="utf-8")
    side = text[text.index("## Side by side"):text.index("## What carries over")]
    return re.findall(r"```python\n(.*?)```", side, flags=re.S)


def test_the_from_pytorch_pages_side_by_side_example_runs_under_both():
    torch_src, numpy_first = _page_blocks()
    outputs = {}
    for lib, src in (("torch", torch_src), ("chainrule", chainrule_source(torch_src))):
        torch.manual_seed(0)
        cr.manual_seed(0)
        with default_dtype(lib, "float32"), contextlib.redirect_stdout(io.StringIO()) as out:
            exec(compile(src, "docs/from-pytorch.md", "exec"), {})
        outputs[lib] = out.getvalue()
    assert chainrule_source(torch_src).splitlines()[1:] == torch_src.splitlines()[1:]
    for text in outputs.values():  # (different random starts: each fits the cubic)
        coef = [float(v) for v in re.findall(r"-?\d+\.\d+", text)]
        np.testing.assert_allclose(coef, [0.0, 0.85, 0.0, -0.09], atol=0.06)
    ns = {}
    exec(compile(numpy_first, "docs/from-pytorch.md", "exec"), ns)
    assert ns["loss"].item() < 20
