"""Arbitrary output, fully visible belief network: MADE on binarized digits.

The seed's last table row lists FVBNs: models that write p(x) = prod_d p(x_d | x_<d) exactly,
one pixel at a time. MADE (Germain et al., 2015) gets all 64 conditionals from one pass of an
autoencoder whose weights are masked so that output d only sees inputs before d. Its training
loss is the exact negative log-likelihood: binary cross-entropy of each pixel given the earlier
ones, summed over pixels. The script reports the test NLL in nats per image against the
independent-pixel Bernoulli baseline (each pixel its own coin, no dependencies) and draws
samples pixel by pixel.

    python examples/made_digits.py
    python examples/made_digits.py --quick
"""

import os

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.train import example_parser, seed_everything


class MaskedLinear(nn.Linear):
    """A Linear layer whose weight is multiplied by a fixed 0/1 mask of the same shape."""

    def __init__(self, in_features, out_features, mask):
        super().__init__(in_features, out_features)
        self.mask = mask.astype(np.float32)

    def forward(self, x):
        return F.linear(x, self.weight * self.mask, self.bias)


class MADE(nn.Module):
    def __init__(self, d, hidden=(256, 256), rng=None):
        super().__init__()
        rng = rng or np.random.default_rng(0)
        order = np.arange(1, d + 1)  # pixel d may depend on pixels 1..d-1 (raster order)
        degrees = [order] + [rng.integers(1, d, h) for h in hidden]  # each hidden unit sees inputs <= degree
        layers = []
        for a, b in zip(degrees[:-1], degrees[1:]):
            layers += [MaskedLinear(len(a), len(b), b[:, None] >= a[None, :]), nn.ReLU()]
        layers.append(MaskedLinear(len(degrees[-1]), d, order[:, None] > degrees[-1][None, :]))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)  # logits of p(x_d = 1 | x_<d), for every d at once


def nll(model, x):
    """Mean negative log-likelihood in nats per image."""
    with cr.no_grad():
        return float(F.binary_cross_entropy_with_logits(model(x), x, reduction="sum").item()) / len(x)


def main(argv=None):
    ap = example_parser(__doc__)
    args = ap.parse_args(argv)
    epochs = args.epochs or (2 if args.quick else 100)

    split = cr.data.digits(seed=args.seed)
    xtr = (split.train.arrays[0] > 0.5).astype(np.float32)  # binarize: a pixel is on above half ink
    xte = (split.test.arrays[0] > 0.5).astype(np.float32)
    d = xtr.shape[1]

    p = (xtr.sum(0) + 1) / (len(xtr) + 2)  # independent pixels, Laplace-smoothed frequencies
    baseline = float(-(xte * np.log(p) + (1 - xte) * np.log(1 - p)).sum(1).mean())

    seed_everything(args.seed)
    model = MADE(d, rng=np.random.default_rng(args.seed))
    opt = cr.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loader = cr.data.DataLoader(cr.data.TensorDataset(xtr), batch_size=32, shuffle=True, seed=args.seed)
    xt = cr.tensor(xte)
    history = [nll(model, xt)]
    for _ in range(epochs):
        for (xb,) in loader:
            loss = F.binary_cross_entropy_with_logits(model(xb), xb, reduction="sum") / len(xb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        history.append(nll(model, xt))
    print(f"binarized digits, MADE: test NLL {history[-1]:.2f} nats per image (before training {history[0]:.2f}); "
          f"independent-pixel Bernoulli baseline {baseline:.2f}")

    # sampling is sequential: pixel d is drawn from p(x_d | x_<d), which needs the pixels before it
    rng = np.random.default_rng(args.seed)
    samples = np.zeros((32, d), dtype=np.float32)
    with cr.no_grad():
        for i in range(d):
            prob = 1.0 / (1.0 + np.exp(-model(cr.tensor(samples)).data[:, i]))
            samples[:, i] = rng.random(32) < prob

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "made_digits.png")
    fig = plt.figure(figsize=(12, 4.5))
    ax = fig.add_subplot(1, 3, 1)
    ax.plot(history, "-o", ms=3, label="MADE")
    ax.axhline(baseline, color="r", ls="--", label="independent pixels")
    ax.set(xlabel="epoch", ylabel="test NLL (nats / image)", title="negative log-likelihood")
    ax.legend()
    for j, (imgs, title) in enumerate(((xte[:32], "test images (binarized)"), (samples, "MADE samples"))):
        ax = fig.add_subplot(1, 3, j + 2)
        tiles = imgs.reshape(4, 8, 8, 8).transpose(0, 2, 1, 3)
        tiles = np.pad(tiles, ((0, 0), (0, 1), (0, 0), (0, 1)), constant_values=0.5).reshape(36, 72)
        ax.imshow(tiles, cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")
    return {"test_nll": history[-1], "initial_nll": history[0], "baseline_nll": baseline, "figure": path}


if __name__ == "__main__":
    main()
