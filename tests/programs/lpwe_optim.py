"""'Learning PyTorch with Examples': the nn cubic trained by optim.RMSprop."""
import math

import numpy as np
import torch


def main(steps=2000, seed=0, log_every=100):
    x = torch.linspace(-math.pi, math.pi, 2000)
    y = torch.sin(x)
    p = torch.tensor([1, 2, 3])
    xx = x.unsqueeze(-1).pow(p)

    model = torch.nn.Sequential(
        torch.nn.Linear(3, 1),
        torch.nn.Flatten(0, 1)
    )
    rng = np.random.default_rng(seed)
    model.load_state_dict({k: torch.tensor(rng.uniform(-0.5, 0.5, size=tuple(v.shape)), dtype=torch.float32)
                           for k, v in model.state_dict().items()})
    loss_fn = torch.nn.MSELoss(reduction='sum')

    learning_rate = 1e-3
    optimizer = torch.optim.RMSprop(model.parameters(), lr=learning_rate)
    losses = []
    for t in range(steps):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        if t % log_every == log_every - 1:
            losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    linear_layer = model[0]
    print(f"Result: y = {linear_layer.bias.item()} + {linear_layer.weight[:, 0].item()} x + "
          f"{linear_layer.weight[:, 1].item()} x^2 + {linear_layer.weight[:, 2].item()} x^3")
    return {"losses": losses, "coefficients": [linear_layer.bias.item()] + linear_layer.weight[0].tolist()}


if __name__ == "__main__":
    main()
