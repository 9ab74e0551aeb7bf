"""The d2l book's 'Linear Regression Implementation from Scratch': synthetic data, a shuffling
data iterator, linreg, squared_loss, and minibatch SGD written as in-place updates under no_grad
followed by param.grad.zero_(). The data's noise and the initial w are drawn with NumPy (the book
uses torch.normal) so that both libraries see the same numbers."""
import random

import numpy as np
import torch


def synthetic_data(w, b, num_examples, rng):
    """Generate y = Xw + b + noise."""
    X = torch.tensor(rng.normal(0, 1, (num_examples, len(w))), dtype=torch.float32)
    y = torch.matmul(X, w) + b
    y += torch.tensor(rng.normal(0, 0.01, tuple(y.shape)), dtype=torch.float32)
    return X, y.reshape((-1, 1))


def data_iter(batch_size, features, labels):
    num_examples = len(features)
    indices = list(range(num_examples))
    # The examples are read at random, in no particular order
    random.shuffle(indices)
    for i in range(0, num_examples, batch_size):
        batch_indices = torch.tensor(
            indices[i: min(i + batch_size, num_examples)])
        yield features[batch_indices], labels[batch_indices]


def linreg(X, w, b):
    """The linear regression model."""
    return torch.matmul(X, w) + b


def squared_loss(y_hat, y):
    """Squared loss."""
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def sgd(params, lr, batch_size):
    """Minibatch stochastic gradient descent."""
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


def main(seed=0, num_epochs=3):
    random.seed(seed)
    rng = np.random.default_rng(seed)
    true_w = torch.tensor([2, -3.4], dtype=torch.float32)
    true_b = 4.2
    features, labels = synthetic_data(true_w, true_b, 1000, rng)

    batch_size = 10
    w = torch.tensor(rng.normal(0, 0.01, size=(2, 1)), dtype=torch.float32, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)

    lr = 0.03
    net = linreg
    loss = squared_loss
    history = []
    for epoch in range(num_epochs):
        for X, y in data_iter(batch_size, features, labels):
            l = loss(net(X, w, b), y)  # noqa: E741  (the book's name) Minibatch loss in X and y
            # Compute gradient on l with respect to [w, b]
            l.sum().backward()
            sgd([w, b], lr, batch_size)  # Update parameters using their gradient
        with torch.no_grad():
            train_l = loss(net(features, w, b), labels)
            print(f'epoch {epoch + 1}, loss {float(train_l.mean()):f}')
            history.append(float(train_l.mean()))
    print(f'error in estimating w: {true_w - w.reshape(true_w.shape)}')
    print(f'error in estimating b: {true_b - b}')
    return {"losses": history, "w": w.detach().reshape(-1).tolist(), "b": b.item()}
