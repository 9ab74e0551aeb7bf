"""Which module computed which node: the grouping a drawing of a real model needs.

`Module.__call__` reports each call here (`note_call`): the module, and the clock numbers (`seq`)
of its result's node and of its tensor arguments' nodes. Nothing is stored on the nodes and no
node is referenced: the last CALLS calls wait in a ring buffer of numbers (it never keeps a graph
alive, and a call costs a few attribute reads and one tuple, about 0.3 µs: no weak reference is
made per call). The numbers are unique (one clock numbers every node), so a number that names no
node of the graph asked about is simply not found. `module_of(nodes)` answers, after the fact,
which module (by its `named_modules()` path) each node belongs to: the nodes a call computed are
those upstream of its result and not upstream of (or equal to) its arguments; a node inside
nested calls belongs to the innermost; the outermost module (the model itself) is not a group.
"""

from __future__ import annotations

import collections

from ..core import TensorBase, walk

__all__ = ["note_call", "module_of"]

CALLS = 16384  # calls remembered; a forward pass with more module calls loses the oldest's grouping
_calls = collections.deque(maxlen=CALLS)  # (result node's seq or a tuple of them, module, arguments' seqs)


def note_call(module, args, out):
    """Record one call of `module` (called by Module.__call__ after forward): its result, a tuple
    of results (an LSTM cell's (h, c)) or nothing that has a graph."""
    if isinstance(out, TensorBase):
        node = out._node
        if node is None:
            return
        outs = node.seq
    elif isinstance(out, (tuple, list)):
        outs = tuple(o._node.seq for o in out if isinstance(o, TensorBase) and o._node is not None)
        if not outs:
            return
    else:
        return
    ins = ()
    for a in args:
        if isinstance(a, TensorBase) and a._node is not None:
            ins += (a._node.seq,)
    _calls.append((outs, module, ins))


def _found(nodes):
    """[(result node, module, call number, newest argument's seq, [argument nodes])] for the remembered
    calls whose result is in `nodes` (a call with several results: one entry per result, one number)."""
    by_seq = {n.seq: n for n in nodes}
    out = []
    for k, (outs, module, ins) in enumerate(list(_calls)):
        for seq in (outs,) if type(outs) is int else outs:
            node = by_seq.get(seq)
            if node is not None:
                out.append((node, module, k, max(ins, default=-1), [by_seq[s] for s in ins if s in by_seq]))
    return out


def _names(modules):
    """{id(module): (path, depth, class name)} from named_modules() of the outermost modules seen.
    One outermost module (the model) is not a group itself (depth 0); several (a cell and a head
    used side by side) are, each named by its class."""
    inner = set()
    for m in modules:
        for _, sub in m.named_modules():
            if sub is not m:
                inner.add(id(sub))
    roots = [m for m in modules if id(m) not in inner]
    names, used = {}, set()
    for r in roots:
        prefix = ""
        if len(roots) > 1:
            base = prefix = type(r).__name__.lower()
            k = 1
            while prefix in used:
                k += 1
                prefix = f"{base}{k}"
            used.add(prefix)
        for path, sub in r.named_modules():
            full = ".".join(p for p in (prefix, path) if p)
            depth = 0 if not full else full.count(".") + 1
            names.setdefault(id(sub), (full or type(r).__name__.lower(), depth, type(sub).__name__))
    return names


def module_of(nodes):
    """({node: group path}, {group path: class name}) for the given nodes, the innermost call winning.

    A call's nodes are those upstream of its result, created after its arguments (node numbers
    grow in creation order) and not upstream of them. A module called more than once (an RNN cell
    over time steps) gives one group per call, `cell#1`, `cell#2`, and the calls inside each call
    go with it."""
    nodes = set(nodes)
    found = _found(nodes)
    if not found:
        return {}, {}
    names = _names(list({id(m): m for _, m, _, _, _ in found}.values()))
    calls = {}  # call number -> one call: [path, depth, kind, after, last seq, outputs, argument nodes]
    for out, m, key, after, ins in found:
        if id(m) not in names:
            continue
        path, d, kind = names[id(m)]
        c = calls.setdefault(key, [path, d, kind, after, -1, [], ins])
        c[4] = max(c[4], out.seq)
        c[5].append(out)
    by_path = {}
    for c in sorted(calls.values(), key=lambda c: (c[3], c[4])):
        by_path.setdefault(c[0], []).append(c)

    def instance(path, seq):
        """The group path of a call of `path` whose last result is `seq`: #k for repeated calls."""
        parts, out = path.split("."), []
        for j in range(len(parts)):
            prefix = ".".join(parts[:j + 1])
            seg = parts[j]
            same = by_path.get(prefix, [])
            if len(same) > 1:
                k = next((i for i, c in enumerate(same, 1) if c[3] < seq <= c[4]), None)
                if k is not None:
                    seg = f"{seg}#{k}"
            out.append(seg)
        return ".".join(out)

    owner, depth, kinds = {}, {}, {}
    for path, d, kind, after, last, outs, ins in calls.values():
        if d == 0:
            continue  # the whole model: its own nodes stay at the top of the drawing
        gpath = instance(path, last)
        kinds[gpath] = kind
        for n in walk(outs, stop=set(ins)):
            if n.seq <= after or n not in nodes:
                continue
            if d >= depth.get(n, -1):
                owner[n], depth[n] = gpath, d
    used = set(owner.values())
    return owner, {p: k for p, k in kinds.items() if p in used}
