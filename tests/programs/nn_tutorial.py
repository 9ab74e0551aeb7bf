"""'What is torch.nn really?', stage by stage, on 8x8 digits instead of 28x28 MNIST: logistic
regression from scratch (manual log_softmax and nll, updates under no_grad, .grad.zero_()), then
F.cross_entropy, nn.Module with Parameters (`p -= p.grad * lr` over model.parameters()), nn.Linear,
optim, TensorDataset, DataLoader, validation and fit(), a CNN with F.avg_pool2d, nn.Sequential
with Lambda, and the device-agnostic version with nn.AdaptiveAvgPool2d."""
# ruff: noqa: B007  (the tutorial's loops name their unused epoch variable)
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.utils.data import DataLoader, TensorDataset

SIDE = 8  # the image side (28 in the tutorial)
PIX = SIDE * SIDE


def init_from_numpy(model, rng):
    with torch.no_grad():
        for p in model.parameters():
            bound = 1 / math.sqrt(p[0].numel()) if p.dim() > 1 else 0.1
            p.copy_(torch.from_numpy(rng.uniform(-bound, bound, size=tuple(p.shape))))


def accuracy(out, yb):
    preds = torch.argmax(out, dim=1)
    return (preds == yb).float().mean()


def from_scratch(x_train, y_train, n, rng, lr=0.5, epochs=2, bs=64):
    weights = torch.tensor(rng.standard_normal((PIX, 10)), dtype=torch.float32) / math.sqrt(PIX)
    weights.requires_grad_()
    bias = torch.zeros(10, requires_grad=True)

    def log_softmax(x):
        return x - x.exp().sum(-1).log().unsqueeze(-1)

    def model(xb):
        return log_softmax(xb @ weights + bias)

    def nll(input, target):
        return -input[range(target.shape[0]), target].mean()

    loss_func = nll
    for epoch in range(epochs):
        for i in range((n - 1) // bs + 1):
            start_i = i * bs
            end_i = start_i + bs
            xb = x_train[start_i:end_i]
            yb = y_train[start_i:end_i]
            pred = model(xb)
            loss = loss_func(pred, yb)

            loss.backward()
            with torch.no_grad():
                weights -= weights.grad * lr
                bias -= bias.grad * lr
                weights.grad.zero_()
                bias.grad.zero_()
    xb, yb = x_train[0:bs], y_train[0:bs]
    first = loss_func(model(xb), yb).item(), accuracy(model(xb), yb).item()
    # the same model, with the loss from torch.nn.functional
    loss_func = F.cross_entropy

    def model2(xb):
        return xb @ weights + bias

    return first + (loss_func(model2(xb), yb).item(), accuracy(model2(xb), yb).item())


class Mnist_Logistic(nn.Module):
    def __init__(self):
        super().__init__()
        self.weights = nn.Parameter(torch.randn(PIX, 10) / math.sqrt(PIX))
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, xb):
        return xb @ self.weights + self.bias


class Mnist_Linear(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(PIX, 10)

    def forward(self, xb):
        return self.lin(xb)


def with_modules(x_train, y_train, n, rng, lr=0.5, epochs=2, bs=64):
    loss_func = F.cross_entropy
    results = []
    for cls in (Mnist_Logistic, Mnist_Linear):
        model = cls()
        init_from_numpy(model, rng)
        for epoch in range(epochs):
            for i in range((n - 1) // bs + 1):
                start_i = i * bs
                end_i = start_i + bs
                xb = x_train[start_i:end_i]
                yb = y_train[start_i:end_i]
                pred = model(xb)
                loss = loss_func(pred, yb)

                loss.backward()
                with torch.no_grad():
                    for p in model.parameters():
                        p -= p.grad * lr
                    model.zero_grad()
        results.append(loss_func(model(x_train[0:bs]), y_train[0:bs]).item())
    # optim, then Dataset, then DataLoader
    model = Mnist_Linear()
    init_from_numpy(model, rng)
    opt = optim.SGD(model.parameters(), lr=lr)
    train_ds = TensorDataset(x_train, y_train)
    for epoch in range(epochs):
        for i in range((n - 1) // bs + 1):
            xb, yb = train_ds[i * bs: i * bs + bs]
            loss = loss_func(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
    results.append(loss_func(model(x_train[0:bs]), y_train[0:bs]).item())
    train_dl = DataLoader(train_ds, batch_size=bs)
    for epoch in range(epochs):
        for xb, yb in train_dl:
            loss = loss_func(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
    results.append(loss_func(model(x_train[0:bs]), y_train[0:bs]).item())
    return results


def loss_batch(model, loss_func, xb, yb, opt=None):
    loss = loss_func(model(xb), yb)

    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()

    return loss.item(), len(xb)


def fit(epochs, model, loss_func, opt, train_dl, valid_dl):
    history = []
    for epoch in range(epochs):
        model.train()
        for xb, yb in train_dl:
            loss_batch(model, loss_func, xb, yb, opt)

        model.eval()
        with torch.no_grad():
            losses, nums = zip(
                *[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl]
            )
        val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)

        print(epoch, val_loss)
        history.append(float(val_loss))
    return history


def get_data(train_ds, valid_ds, bs, shuffle):
    return (
        DataLoader(train_ds, batch_size=bs, shuffle=shuffle),
        DataLoader(valid_ds, batch_size=bs * 2),
    )


class Mnist_CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1)

    def forward(self, xb):
        xb = xb.view(-1, 1, SIDE, SIDE)
        xb = F.relu(self.conv1(xb))
        xb = F.relu(self.conv2(xb))
        xb = F.avg_pool2d(xb, 2)
        return xb.view(-1, xb.size(1))


class Lambda(nn.Module):
    def __init__(self, func):
        super().__init__()
        self.func = func

    def forward(self, x):
        return self.func(x)


def main(x_train, y_train, x_valid, y_valid, seed=0, shuffle=False, epochs=2):
    rng = np.random.default_rng(seed)
    x_train, y_train, x_valid, y_valid = map(
        torch.tensor, (x_train, y_train, x_valid, y_valid)
    )
    n, c = x_train.shape
    out = {"scratch": list(from_scratch(x_train, y_train, n, rng)),
           "modules": with_modules(x_train, y_train, n, rng)}

    train_ds = TensorDataset(x_train, y_train)
    valid_ds = TensorDataset(x_valid, y_valid)
    bs, lr = 64, 0.5
    loss_func = F.cross_entropy
    train_dl, valid_dl = get_data(train_ds, valid_ds, bs, shuffle)
    model = Mnist_Linear()
    init_from_numpy(model, rng)
    out["fit_linear"] = fit(epochs, model, loss_func, optim.SGD(model.parameters(), lr=lr), train_dl, valid_dl)

    lr = 0.1
    model = Mnist_CNN()
    init_from_numpy(model, rng)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    out["fit_cnn"] = fit(epochs, model, loss_func, opt, train_dl, valid_dl)

    def preprocess(x):
        return x.view(-1, 1, SIDE, SIDE)

    model = nn.Sequential(
        Lambda(preprocess),
        nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.AvgPool2d(2),
        Lambda(lambda x: x.view(x.size(0), -1)),
    )
    init_from_numpy(model, rng)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    out["fit_sequential"] = fit(epochs, model, loss_func, opt, train_dl, valid_dl)

    # device-agnostic, wrapped DataLoader, AdaptiveAvgPool2d
    dev = torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")

    def preprocess_dev(x, y):
        return x.view(-1, 1, SIDE, SIDE).to(dev), y.to(dev)

    class WrappedDataLoader:
        def __init__(self, dl, func):
            self.dl = dl
            self.func = func

        def __len__(self):
            return len(self.dl)

        def __iter__(self):
            for b in self.dl:
                yield (self.func(*b))

    train_dl, valid_dl = get_data(train_ds, valid_ds, bs, shuffle)
    train_dl = WrappedDataLoader(train_dl, preprocess_dev)
    valid_dl = WrappedDataLoader(valid_dl, preprocess_dev)
    model = nn.Sequential(
        nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        Lambda(lambda x: x.view(x.size(0), -1)),
    )
    model.to(dev)
    init_from_numpy(model, rng)
    opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    out["fit_adaptive"] = fit(epochs, model, loss_func, opt, train_dl, valid_dl)
    return out
