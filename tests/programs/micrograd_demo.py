"""micrograd's demo.ipynb on tensors: the two-moons data, an MLP 2-16-16-1 with ReLU, the SVM
"max-margin" loss with L2 regularization, accuracy, and SGD with a decaying learning rate written as
`p.data -= learning_rate * p.grad`."""
import numpy as np
import torch
import torch.nn as nn


def main(X, y, seed=0, steps=40):
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    rng = np.random.default_rng(seed)
    model.load_state_dict({k: torch.tensor(rng.uniform(-1, 1, size=tuple(v.shape)), dtype=torch.float64)
                           for k, v in model.state_dict().items()})
    model.double()
    X = torch.tensor(X, dtype=torch.float64)
    y = torch.tensor(y * 2 - 1, dtype=torch.float64)  # y in {-1, 1}

    def loss():
        scores = model(X).squeeze(1)
        # svm "max-margin" loss
        losses = (1 + -y * scores).relu()
        data_loss = losses.sum() * (1.0 / len(losses))
        # L2 regularization
        alpha = 1e-4
        reg_loss = alpha * sum((p * p).sum() for p in model.parameters())
        total_loss = data_loss + reg_loss
        # also get accuracy
        accuracy = ((y > 0) == (scores > 0)).float().mean()
        return total_loss, accuracy

    history = []
    for k in range(steps):
        # forward
        total_loss, acc = loss()
        # backward
        model.zero_grad()
        total_loss.backward()
        # update (sgd)
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        if k % 5 == 0:
            print(f"step {k} loss {total_loss.item()}, accuracy {acc.item() * 100}%")
        history.append((total_loss.item(), acc.item()))
    return {"history": history}
