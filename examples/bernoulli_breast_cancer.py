"""Bernoulli output: a sigmoid unit and binary cross-entropy on the Wisconsin breast-cancer data.

The seed's first table row: a yes/no target is a Bernoulli variable, the output layer is a
sigmoid, the loss its negative log-likelihood (binary cross-entropy). The model is logistic
regression (one Linear layer); `F.binary_cross_entropy_with_logits` fuses sigmoid and loss so
that it stays finite for any logit.

    python examples/bernoulli_breast_cancer.py            # prints the test accuracy (>= 95%)
    python examples/bernoulli_breast_cancer.py --quick    # two epochs, for the tests
"""

import os

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.train import example_parser, seed_everything


def accuracy(model, ds):
    x, y = ds.tensors
    with cr.no_grad():
        p = cr.sigmoid(model(x)).data.reshape(-1)
    return float(((p > 0.5) == (y.data == 1)).mean()), p


def main(argv=None):
    ap = example_parser(__doc__)
    args = ap.parse_args(argv)
    epochs = args.epochs or (2 if args.quick else 60)

    seed_everything(args.seed)
    train, test = cr.data.breast_cancer(seed=args.seed)
    model = nn.Linear(train.arrays[0].shape[1], 1)
    opt = cr.optim.Adam(model.parameters(), lr=1e-2)
    loader = cr.data.DataLoader(train, batch_size=32, shuffle=True, seed=args.seed)

    def test_loss():
        x, y = test.tensors
        with cr.no_grad():
            return F.binary_cross_entropy_with_logits(model(x).reshape(-1), y.data.astype(np.float32)).item()

    history = [test_loss()]
    acc0, _ = accuracy(model, test)
    for _ in range(epochs):
        for x, y in loader:
            loss = F.binary_cross_entropy_with_logits(model(x).reshape(-1), y.data.astype(np.float32))
            opt.zero_grad()
            loss.backward()
            opt.step()
        history.append(test_loss())
    acc, p = accuracy(model, test)
    print(f"breast_cancer, logistic regression (sigmoid + BCE): test accuracy {acc:.2%} "
          f"(before training {acc0:.2%}), test BCE {history[0]:.4f} -> {history[-1]:.4f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "bernoulli_breast_cancer.png")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(range(len(history)), history, "-o", ms=3)
    a1.set(xlabel="epoch", ylabel="test binary cross-entropy", title="loss")
    y = test.arrays[1]
    bins = np.linspace(0, 1, 21)
    a2.hist(p[y == 0], bins, alpha=0.6, label="malignant (y=0)")
    a2.hist(p[y == 1], bins, alpha=0.6, label="benign (y=1)")
    a2.axvline(0.5, color="k", lw=1)
    a2.set(xlabel="sigmoid output P(benign)", ylabel="test examples", title=f"test accuracy {acc:.1%}")
    a2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")
    return {"test_accuracy": acc, "initial_accuracy": acc0, "initial_loss": history[0], "final_loss": history[-1],
            "figure": path}


if __name__ == "__main__":
    main()
