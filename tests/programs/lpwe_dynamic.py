"""'Learning PyTorch with Examples': a dynamic net that reuses its e parameter for the 4th and 5th
powers a random number of times per step (Python's `random`, seeded: the same draws for both)."""
import math
import random

import numpy as np
import torch


class DynamicNet(torch.nn.Module):
    def __init__(self, init):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(init[0]))
        self.b = torch.nn.Parameter(torch.tensor(init[1]))
        self.c = torch.nn.Parameter(torch.tensor(init[2]))
        self.d = torch.nn.Parameter(torch.tensor(init[3]))
        self.e = torch.nn.Parameter(torch.tensor(init[4]))

    def forward(self, x):
        y = self.a + self.b * x + self.c * x ** 2 + self.d * x ** 3
        for exp in range(4, random.randint(4, 6)):
            y = y + self.e * x ** exp
        return y

    def string(self):
        return (f'y = {self.a.item()} + {self.b.item()} x + {self.c.item()} x^2 + {self.d.item()} x^3 + '
                f'{self.e.item()} x^4 ? + {self.e.item()} x^5 ?')


def main(steps=3000, seed=0, log_every=200):
    random.seed(seed)
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)
    model = DynamicNet(np.random.default_rng(seed).standard_normal(5).astype(np.float32))

    criterion = torch.nn.MSELoss(reduction='sum')
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-8, momentum=0.9)
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
