"""Optimizers given hyper-parameters an unlucky user or a crafted checkpoint could pass (issue 12):
every one outside its range is refused by name, at construction, in a parameter group, from a
state_dict, and when set by hand before a step; nothing reaches the parameters."""

import math

import numpy as np
import pytest

import chainrule as cr

NAN, INF = float("nan"), float("inf")

CASES = [
    ("SGD", "weight_decay", NAN), ("SGD", "momentum", NAN), ("SGD", "dampening", NAN), ("SGD", "dampening", 2.0),
    ("Adam", "weight_decay", NAN), ("Adam", "weight_decay", -1.0), ("Adam", "eps", -1e-8), ("Adam", "eps", NAN),
    ("Adam", "betas", (0.9,)), ("Adam", "betas", 0.9), ("Adam", "betas", (0.9, NAN)), ("Adam", "betas", (1.0, 0.9)),
    ("AdamW", "weight_decay", INF), ("AdamW", "eps", -1.0), ("AdamW", "betas", ("a", 0.9)),
    ("RMSprop", "alpha", -1.0), ("RMSprop", "alpha", 2.0), ("RMSprop", "eps", -1.0), ("RMSprop", "weight_decay", NAN),
    ("RMSprop", "momentum", -0.5), ("Adagrad", "weight_decay", NAN), ("Adagrad", "lr", "a"), ("Adagrad", "lr", None),
    ("Adagrad", "lr_decay", INF), ("Adadelta", "eps", NAN), ("Adadelta", "weight_decay", NAN), ("Adadelta", "rho", 1.5),
    ("SGD", "lr", True),
]


def _param():
    return cr.nn.Parameter(cr.tensor(np.ones(3)))


@pytest.mark.parametrize("name,key,value", CASES)
def test_a_hyper_parameter_outside_its_range_is_refused_by_name(name, key, value):
    kw = {"lr": 0.1, key: value}
    with pytest.raises(ValueError, match=rf"{name}: invalid (learning rate|{key})|{name}: betas must be a pair"):
        getattr(cr.optim, name)([_param()], **kw)


@pytest.mark.parametrize("name,key,value", CASES[:6])
def test_a_parameter_group_is_checked_like_the_defaults(name, key, value):
    with pytest.raises(ValueError, match=rf"{name}: invalid"):
        getattr(cr.optim, name)([{"params": [_param()], key: value}], lr=0.1)


def test_a_state_dict_with_a_bad_hyper_parameter_is_refused_and_changes_nothing():
    p = _param()
    opt = cr.optim.Adam([p], lr=0.1)
    state = opt.state_dict()
    state["param_groups"][0]["eps"] = NAN
    with pytest.raises(ValueError, match="Adam: invalid eps nan"):
        opt.load_state_dict(state)
    assert opt.param_groups[0]["eps"] == 1e-8
    state["param_groups"][0]["eps"], state["param_groups"][0]["betas"] = 1e-6, [0.5, 0.6]
    opt.load_state_dict(state)  # a JSON list is a pair too
    assert opt.param_groups[0]["betas"] == (0.5, 0.6) and opt.param_groups[0]["eps"] == 1e-6


@pytest.mark.parametrize("lr", [NAN, -1.0, INF, "0.1"])
def test_a_learning_rate_set_by_hand_is_checked_before_the_step_touches_a_parameter(lr):
    p = _param()
    opt = cr.optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    opt.param_groups[0]["lr"] = lr
    with pytest.raises(ValueError, match="SGD: invalid learning rate"):
        opt.step()
    np.testing.assert_array_equal(p.data, np.ones(3))


def test_params_that_are_not_an_iterable_or_a_group_without_params_say_what_is_expected():
    with pytest.raises(TypeError, match="SGD: params must be an iterable of Tensors or of parameter groups"):
        cr.optim.SGD(5, lr=0.1)
    with pytest.raises(TypeError, match="SGD: a parameter group is a dict with a 'params' entry"):
        cr.optim.SGD([{"lr": 0.1}], lr=0.1)


def test_valid_edge_values_are_accepted():
    cr.optim.SGD([_param()], lr=0, momentum=0.9, dampening=1, weight_decay=0)
    cr.optim.RMSprop([_param()], alpha=0, eps=0)
    cr.optim.Adam([_param()], betas=(0, 0.999999), eps=0)
    cr.optim.Adadelta([_param()], rho=1)
    assert math.isfinite(cr.optim.Adagrad([_param()], lr=np.float32(0.5)).param_groups[0]["lr"])
