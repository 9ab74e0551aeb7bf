"""The lecture's worked examples, with their exact numbers."""

import subprocess
import sys

import numpy as np
import pytest

import chainrule as cr
from chainrule import lecture
from chainrule.core import walk


def test_chain_rule_z_equals_t_squared():
    z, g = lecture.chain_rule(-2.0, 5.0)
    assert z.item() == 9.0
    assert g["x"] == 6.0 and g["y"] == 6.0  # dz/dt * dt/dx = 2t * 1


def test_example1_add_distributes_mul_swaps():
    f, g = lecture.example1()
    assert f.item() == -12.0
    assert (g["x"], g["y"], g["z"]) == (-4.0, -4.0, 3.0)


def test_example1_as_in_the_readme():
    x = cr.tensor(-2.0, requires_grad=True)
    f = (x + 5.0) * -4.0
    f.backward()
    assert isinstance(x.grad, np.ndarray) and x.grad.shape == () and x.grad == -4.0


@pytest.mark.parametrize("fused", [True, False])
def test_example2_sigmoid_neuron(fused):
    f, g = lecture.example2(fused=fused)
    np.testing.assert_allclose(f.item(), 1 / (1 + np.exp(-1.0)))
    got = [round(float(g[k]), 2) for k in ("w0", "x0", "w1", "x1", "w2")]
    assert got == [-0.20, 0.39, -0.39, -0.59, 0.20]
    s = 1 / (1 + np.exp(-1.0))
    local = (1 - s) * s  # the fused node's local gradient
    np.testing.assert_allclose([g["w0"], g["x0"], g["w1"], g["x1"], g["w2"]],
                               [-1 * local, 2 * local, -2 * local, -3 * local, local], rtol=1e-12)


def test_fused_and_composite_sigmoid_agree_and_differ_in_node_count():
    x = cr.tensor(np.linspace(-30, 30, 7), requires_grad=True)
    a = cr.sigmoid(x)
    b = cr.ops.sigmoid_composite(x)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)
    a.sum().backward()
    ga = x.grad
    x.grad = None
    b.sum().backward()
    # σ(1-σ) from the output loses relative precision where σ rounds towards 1 (PyTorch's rule too)
    np.testing.assert_allclose(ga, x.grad, rtol=1e-8, atol=1e-15)
    assert len(walk([a._node])) == 1 and len(walk([b._node])) == 4


def test_max_gate_routes():
    f, g = lecture.max_gate()
    assert f.item() == -20.0
    assert (g["x"], g["y"], g["z"], g["w"]) == (-8.0, 6.0, 2.0, 0.0)


def test_affine_example():
    f, g = lecture.affine()
    W = np.array(lecture.AFFINE_W)
    x = np.array(lecture.AFFINE_X)
    q = W @ x
    np.testing.assert_allclose(f.item(), 0.116, rtol=1e-12)
    np.testing.assert_allclose(g["W"], 2 * np.outer(q, x), rtol=1e-12)
    np.testing.assert_allclose(g["x"], 2 * W.T @ q, rtol=1e-12)
    np.testing.assert_allclose(g["W"], [[0.088, 0.176], [0.104, 0.208]], rtol=1e-12)
    np.testing.assert_allclose(g["x"], [-0.112, 0.636], rtol=1e-12)


def test_python_m_chainrule_prints_the_examples():
    out = subprocess.run([sys.executable, "-m", "chainrule"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "df/dx = -4." in out.stdout and "df/dz = 3." in out.stdout
    assert "f = 0.116" in out.stdout
    assert "numerical check of example 1: [-4.0, -4.0, 3.0]" in out.stdout
