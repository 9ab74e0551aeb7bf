"""Module-scope recording (debug/scopes.py): every Module call is noted by clock numbers only, so the
record never keeps a graph alive, and `explain` still groups the nodes of each call by module."""

import gc
import weakref

import numpy as np

import chainrule as cr
from chainrule.debug import scopes
from chainrule.viz import explain


def _net():
    return cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 2))


def test_the_call_record_holds_no_node_and_no_array():
    net = _net()
    out = net(cr.tensor(np.ones((2, 3))))
    node, arr = weakref.ref(out._node), weakref.ref(out._data)
    outs, module, ins = scopes._calls[-1]
    assert module is net and outs == out._node.seq
    assert all(type(s) is int for s in ins)
    del out
    gc.collect()
    assert node() is None and arr() is None


def test_calls_of_a_dropped_graph_do_not_group_a_later_one():
    """Clock numbers are unique: the nodes of a graph built after a model's graph was dropped are in
    no module, even with the model's calls still in the ring buffer."""
    net = _net()
    net(cr.tensor(np.ones((2, 3))))
    gc.collect()
    x = cr.tensor(np.ones(3), requires_grad=True)
    tr = explain((x * 2.0).tanh().sum())
    assert tr.groups == {} and all(s.group == "" for s in tr.steps)


def test_groups_by_module_with_a_call_returning_a_tuple():
    """Both results of one call belong to that call; each inner call to its own module."""
    class Pair(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = cr.nn.Linear(3, 2), cr.nn.Linear(3, 2)

        def forward(self, x):
            return self.a(x), self.b(x).tanh()

    class Model(cr.nn.Module):
        def __init__(self):
            super().__init__()
            self.pair = Pair()

        def forward(self, x):
            u, v = self.pair(x)
            return (u * v).sum()

    tr = explain(Model()(cr.tensor(np.ones((2, 3)))))
    assert tr.groups == {"pair": "Pair", "pair.a": "Linear", "pair.b": "Linear"}
    assert [(s.group, s.op) for s in tr.steps] == [("", "sum"), ("", "mul"), ("pair", "tanh"),
                                                   ("pair.b", "linear"), ("pair.a", "linear")]
