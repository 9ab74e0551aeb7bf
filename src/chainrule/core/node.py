"""The recorded graph: one `Node` per application of a primitive, and the one walker over it.

A node holds its primitive, its parents (per input: the parent Node, the leaf Tensor that wants
a gradient, or None for an input that needs none), what its rules read from the forward pass
(`saved`: per input the array or None, then the residuals; `ans`: the output or None), the op's
parameters and the input shapes. Nodes point at their parents, never back: a graph is freed by
reference counting alone when its output tensor is dropped.
"""

from __future__ import annotations

import itertools

#: One clock numbers nodes in creation order and stamps tensor versions, so "written after this
#: node saved it" is a comparison of two numbers. A node is created after its inputs: decreasing
#: `seq` is a topological order, which is how the backward pass visits nodes.
clock = itertools.count()

FREED = "freed"  # `Node.saved` once backward(retain_graph=False) has released it


class Node:
    """One recorded primitive application. Nodes are made by `primitive.emit` alone, which fills
    the slots (and numbers the node with `clock`)."""

    # Parents of unary and binary ops sit in two slots rather than a tuple: one object per node for
    # the cycle collector to track instead of two, which halves its cost on big graphs.
    __slots__ = ("prim", "p0", "p1", "pn", "saved", "ans", "params", "shapes", "seq", "__weakref__")

    @property
    def parents(self):
        """Per input: the parent Node, the leaf Tensor that wants a gradient, or None."""
        pn = self.pn
        if pn is not None:
            return pn
        return (self.p0, self.p1) if len(self.shapes) == 2 else (self.p0,)

    def __repr__(self):
        return f"<Node {self.prim.name} #{self.seq} in={list(self.shapes)}>"


def walk(roots, stop=()):
    """The nodes upstream of `roots` (inclusive), not going past the nodes in `stop`, oldest first."""
    seen = set(roots)
    todo = list(seen)
    while todo:
        node = todo.pop()
        if node in stop:
            continue
        for p in node.parents:
            if type(p) is Node and p not in seen:
                seen.add(p)
                todo.append(p)
    return sorted(seen, key=_seq)


def _seq(node):
    return node.seq
