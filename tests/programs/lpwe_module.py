"""'Learning PyTorch with Examples': the cubic as a custom nn.Module with four Parameters, trained by SGD."""
import math

import numpy as np
import torch


class Polynomial3(torch.nn.Module):
    def __init__(self, init):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(init[0]))
        self.b = torch.nn.Parameter(torch.tensor(init[1]))
        self.c = torch.nn.Parameter(torch.tensor(init[2]))
        self.d = torch.nn.Parameter(torch.tensor(init[3]))

    def forward(self, x):
        return self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3

    def string(self):
        return f'y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3'


def main(steps=2000, seed=0, log_every=100):
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)
    model = Polynomial3(np.random.default_rng(seed).standard_normal(4).astype(np.float32))

    criterion = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)
    losses = []
    for t in range(steps):
        y_pred = model(x)
        loss = criterion(y_pred, y)
        if t % log_every == log_every - 1:
            losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    print(f'Result: {model.string()}')
    return {"losses": losses, "coefficients": [p.item() for p in model.parameters()]}


if __name__ == "__main__":
    main()
