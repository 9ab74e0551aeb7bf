"""The layout names the architecture, and the imports keep to it (docs/architecture.md).

Layers, bottom to top; a module may import its own layer and the layers below, never above:

    core < ops < (transforms, autograd) < debug < viz < nn < optim < (data, utils) < io < distributed
         < (train, lecture) < chainrule/__init__ (the facade) < cli, __main__

`autograd` and `utils` are PyTorch's places for names that live in `transforms` and `data`
(`from chainrule.autograd import Function`, `from chainrule.utils.data import DataLoader`): import
lines need real modules there, each at the rank of the layer it re-exports.

Within the core: errors < node < engine < tensor < primitive. Every import of a chainrule module
sits at the top of its module (none inside a function: they are not there to dodge a cycle), and
no module looks anything up in sys.modules.
"""

from __future__ import annotations

import ast
import importlib.util
import pathlib
import subprocess
import sys

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src" / "chainrule"
ROOT = SRC.parents[1]

LAYERS = ["core", "backend", "ops", ("transforms", "autograd"), "debug", "viz", "nn", "optim", ("data", "utils"), "io",
          "distributed", ("train", "lecture"), "__init__", ("cli", "__main__")]
RANK = {}
for rank, names in enumerate(LAYERS):
    for name in (names,) if isinstance(names, str) else names:
        RANK[name] = rank
CORE_ORDER = ["__init__", "errors", "node", "engine", "tensor", "primitive"]


def _modules():
    """{dotted module name: path} for every module of the package."""
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_package(name):
    return MODULES[name].name == "__init__.py"


def _imports(name, path):
    """(target module, line, at module level?) for each chainrule import in the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set(map(id, tree.body))
    pkg = name if _is_package(name) else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[:len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            subs = [f"{mod}.{a.name}" for a in node.names if f"{mod}.{a.name}" in MODULES]
            targets = subs if node.module is None else [mod] + subs  # `from . import x` imports x
        else:
            continue
        for t in targets:
            if t == "chainrule" or t.startswith("chainrule."):
                found.append((t, node.lineno, id(node) in top))
    return found


def _layer(name):
    parts = name.split(".")
    if len(parts) == 1:
        return RANK["__init__"]
    return RANK[parts[1]]


def test_every_module_belongs_to_a_layer():
    unknown = sorted(n for n in MODULES if n != "chainrule" and n.split(".")[1] not in RANK)
    assert not unknown, f"modules in no layer of LAYERS: {unknown}"


def test_imports_point_down_the_layers():
    bad = []
    for name, path in MODULES.items():
        for target, line, _ in _imports(name, path):
            if target not in MODULES:
                target = target.rpartition(".")[0]  # `from chainrule.x import name`
            if _layer(target) > _layer(name):
                bad.append(f"{path.relative_to(ROOT)}:{line} ({name}) imports {target}, a layer above")
    assert not bad, "\n".join(bad)


def test_the_library_never_imports_the_cli():
    bad = [f"{name} imports {t}" for name, path in MODULES.items() if _layer(name) < RANK["cli"]
           for t, _, _ in _imports(name, path) if t.split(".")[1:2] == ["cli"]]
    assert not bad, bad


def test_the_core_imports_nothing_above_it_and_keeps_its_own_order():
    bad = []
    for name, path in MODULES.items():
        if not name.startswith("chainrule.core"):
            continue
        me = CORE_ORDER.index(name.split(".")[2] if name.count(".") > 1 else "__init__")
        for target, line, _ in _imports(name, path):
            if not target.startswith("chainrule.core"):
                bad.append(f"{name}:{line} imports {target}, outside the core")
                continue
            parts = target.split(".")
            them = CORE_ORDER.index(parts[2] if len(parts) > 2 else "__init__")
            if me and them >= me:
                bad.append(f"{name}:{line} imports {target}, not below it in {CORE_ORDER[1:]}")
    assert not bad, "\n".join(bad)


def test_no_function_level_imports_of_chainrule_modules():
    bad = [f"{path.relative_to(ROOT)}:{line} imports {t} inside a function or class"
           for name, path in MODULES.items() for t, line, top in _imports(name, path) if not top]
    assert not bad, "\n".join(bad)


def test_no_sys_modules_lookups():
    bad = [str(p.relative_to(ROOT)) for p in MODULES.values() if "sys.modules" in p.read_text(encoding="utf-8")]
    assert not bad, bad


def test_no_import_cycles():
    graph = {name: {t if t in MODULES else t.rpartition(".")[0] for t, _, _ in _imports(name, path)} - {name}
             for name, path in MODULES.items()}
    # a package's __init__ is entered before its submodules: edges from a submodule to its own
    # package are the package's business, not a cycle, when the package does not import it back
    state, cycles = {}, []

    def visit(n, stack):
        state[n] = 1
        for m in graph.get(n, ()):
            if n.startswith(m + "."):
                continue
            if state.get(m) == 1:
                cycles.append(stack[stack.index(m):] + [m])
            elif m not in state:
                visit(m, stack + [m])
        state[n] = 2

    for n in graph:
        if n not in state:
            visit(n, [n])
    assert not cycles, cycles


def test_every_layer_imports_alone_in_order():
    """Each layer can be imported in a fresh interpreter without the ones above it being loaded."""
    code = ("import sys, importlib\n"
            "for layer in sys.argv[1:]:\n"
            "    importlib.import_module('chainrule.' + layer)\n")
    for layer in ["core", "ops", "transforms", "autograd", "debug", "viz", "nn", "optim", "data", "utils", "io",
                  "train", "cli"]:
        if importlib.util.find_spec(f"chainrule.{layer}") is None:
            pytest.fail(f"chainrule.{layer} is missing")
        r = subprocess.run([sys.executable, "-c", code, layer], capture_output=True, text=True, timeout=120,
                           env={"PYTHONPATH": str(SRC.parent), "PATH": "/usr/bin:/bin"})
        assert r.returncode == 0, f"importing chainrule.{layer} alone failed:\n{r.stderr[-1500:]}"


def test_the_core_stays_small():
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import core_lines
    finally:
        sys.path.pop(0)
    counts = core_lines.count()
    engine = sum(n for name, n in counts.items() if name in ("tensor.py", "node.py", "engine.py", "primitive.py"))
    assert engine <= core_lines.LIMIT, f"tensor + node + engine + primitive: {engine} code lines ({counts})"
    assert sum(counts.values()) <= core_lines.LIMIT, counts
