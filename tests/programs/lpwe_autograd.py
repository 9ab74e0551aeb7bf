"""'Learning PyTorch with Examples': the cubic fit with autograd; the update in place under no_grad."""
import math

import numpy as np
import torch


def main(steps=2000, seed=0, log_every=100):
    dtype = torch.float
    device = torch.device("cpu")
    x = torch.linspace(-math.pi, math.pi, 2000, device=device, dtype=dtype)
    y = torch.sin(x)
    rng = np.random.default_rng(seed)
    a, b, c, d = (torch.tensor(v, device=device, dtype=dtype, requires_grad=True) for v in rng.standard_normal(4))

    learning_rate = 1e-6
    losses = []
    for t in range(steps):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum()
        if t % log_every == log_every - 1:
            losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            a -= learning_rate * a.grad
            b -= learning_rate * b.grad
            c -= learning_rate * c.grad
            d -= learning_rate * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    print(f"Result: y = {a.item()} + {b.item()} x + {c.item()} x^2 + {d.item()} x^3")
    return {"losses": losses, "coefficients": [a.item(), b.item(), c.item(), d.item()]}


if __name__ == "__main__":
    main()
