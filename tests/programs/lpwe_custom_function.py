"""'Learning PyTorch with Examples': y = a + b P3(c + d x) with the Legendre polynomial P3 as a custom
autograd Function; the older tutorial's `.grad.zero_()` after each update."""
import math

import numpy as np
import torch


class LegendrePolynomial3(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input):
        ctx.save_for_backward(input)
        return 0.5 * (5 * input ** 3 - 3 * input)

    @staticmethod
    def backward(ctx, grad_output):
        input, = ctx.saved_tensors
        return grad_output * 1.5 * (5 * input ** 2 - 1)


def main(steps=2000, seed=0, log_every=100):
    dtype = torch.float
    device = torch.device("cpu")
    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    y = torch.sin(x)
    # the tutorial's initial values: a = 0, b = -1, c = 0, d = 0.3 (the random draw picks a jitter)
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-0.01, 0.01, size=4)
    a = torch.full((), 0.0 + jitter[0], device=device, dtype=dtype, requires_grad=True)
    b = torch.full((), -1.0 + jitter[1], device=device, dtype=dtype, requires_grad=True)
    c = torch.full((), 0.0 + jitter[2], device=device, dtype=dtype, requires_grad=True)
    d = torch.full((), 0.3 + jitter[3], device=device, dtype=dtype, requires_grad=True)

    learning_rate = 5e-6
    losses = []
    for t in range(steps):
        P3 = LegendrePolynomial3.apply
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        if t % log_every == log_every - 1:
            losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad.zero_()
            b.grad.zero_()
            c.grad.zero_()
            d.grad.zero_()
    print(f"Result: y = {a.item()} + {b.item()} * P3({c.item()} + {d.item()} x)")
    return {"losses": losses, "coefficients": [a.item(), b.item(), c.item(), d.item()]}


if __name__ == "__main__":
    main()
