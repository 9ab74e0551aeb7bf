"""Which module computed which node: the grouping a drawing of a real model needs.

`Module.__call__` reports each call here (`note_call`): the module, the graph nodes of its
tensor arguments and the node of its result. Nothing is stored on the nodes; the table holds
the result nodes weakly, so it never keeps a graph alive. `module_of(nodes)` answers, after the
fact, which module (by its `named_modules()` path) each node belongs to: the nodes a call
computed are those upstream of its result and not upstream of (or equal to) its arguments; a
node inside nested calls belongs to the innermost; the outermost module (the model itself) is
not a group.
"""

from __future__ import annotations

import weakref

from ..core import TensorBase, walk

__all__ = ["note_call", "module_of"]

_calls = weakref.WeakKeyDictionary()  # result Node -> [(module, argument nodes)]


def note_call(module, args, out):
    """Record one call of `module` (called by Module.__call__ after forward)."""
    node = getattr(out, "_node", None) if isinstance(out, TensorBase) else None
    if node is None:
        return
    ins = tuple(a._node for a in args if isinstance(a, TensorBase) and a._node is not None)
    _calls.setdefault(node, []).append((module, ins))


def _names(modules):
    """{id(module): (path, depth, class name)} from named_modules() of the outermost modules seen."""
    inner = set()
    for m in modules:
        for _, sub in m.named_modules():
            if sub is not m:
                inner.add(id(sub))
    names = {}
    for r in (m for m in modules if id(m) not in inner):
        for path, sub in r.named_modules():
            depth = 0 if not path else path.count(".") + 1
            names.setdefault(id(sub), (path or type(r).__name__.lower(), depth, type(sub).__name__))
    return names


def module_of(nodes):
    """({node: module path}, {path: class name}) for the given nodes, the innermost module winning.

    A call's nodes are those upstream of its result, created after its arguments (node numbers
    grow in creation order) and not upstream of them."""
    nodes = set(nodes)
    found = [(n, m, ins) for n in nodes if n in _calls for m, ins in _calls[n]]
    if not found:
        return {}, {}
    names = _names(list({id(m): m for _, m, _ in found}.values()))
    owner, depth = {}, {}
    for out, m, ins in found:
        if id(m) not in names:
            continue
        path, d, _ = names[id(m)]
        if d == 0:
            continue  # the whole model: its own nodes stay at the top of the drawing
        after = max((n.seq for n in ins), default=-1)
        for n in walk([out], stop=set(ins)):
            if n.seq <= after or n not in nodes:
                continue
            if d >= depth.get(n, -1):
                owner[n], depth[n] = path, d
    used = set(owner.values())
    groups = {path: kind for path, _, kind in names.values() if path in used}
    return owner, groups
