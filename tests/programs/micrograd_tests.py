"""micrograd's test_engine.py, the PyTorch side of each test: the same scalar expression graphs,
written on one-element tensors (`torch.Tensor([-4.0]).double()`, `x.requires_grad = True`), and the
micrograd side's in-place form (`c += c + 1` on results that require grad)."""
import torch


def sanity_check():
    x = torch.Tensor([-4.0]).double()
    x.requires_grad = True
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    xpt, ypt = x, y
    return ypt.data.item(), xpt.grad.item()


def more_ops(in_place):
    a = torch.Tensor([-4.0]).double()
    b = torch.Tensor([2.0]).double()
    a.requires_grad = True
    b.requires_grad = True
    c = a + b
    d = a * b + b**3
    if in_place:  # micrograd's own test writes these lines with +=
        c += c + 1
        c += 1 + c + (-a)
        d += d * 2 + (b + a).relu()
        d += 3 * d + (b - a).relu()
    else:
        c = c + c + 1
        c = c + 1 + c + (-a)
        d = d + d * 2 + (b + a).relu()
        d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    g.backward()
    apt, bpt, gpt = a, b, g
    return gpt.data.item(), apt.grad.item(), bpt.grad.item()


def main():
    return {"sanity": sanity_check(), "more_ops": more_ops(False), "more_ops_in_place": more_ops(True)}
