"""Gaussian output: a linear output and mean squared error on the diabetes data.

The seed's third table row: a real-valued target with Gaussian noise, a linear output layer,
and the Gaussian's negative log-likelihood, which for a fixed variance is the mean squared error
up to constants. A linear model trained by gradient descent should reach the least-squares
solution: the script prints both.

    python examples/gaussian_diabetes.py          # test R² (>= 0.45)
    python examples/gaussian_diabetes.py --quick  # a few steps, for the tests
"""

import os

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.train import example_parser, seed_everything


def r2(pred, y):
    return 1.0 - float(((pred - y) ** 2).sum() / ((y - y.mean()) ** 2).sum())


def main(argv=None):
    ap = example_parser(__doc__, quick="20 steps (for the tests)", length="--steps")
    args = ap.parse_args(argv)
    steps = args.steps or (20 if args.quick else 500)

    seed_everything(args.seed)
    train, test = cr.data.diabetes(seed=args.seed)
    (x, y), (xt, yt) = train.tensors, test.tensors
    mu, sd = float(y.data.mean()), float(y.data.std())  # fit the standardized target, report the raw one
    target = ((y.data - mu) / sd).astype(np.float32)
    model = nn.Linear(x.shape[1], 1)
    opt = cr.optim.Adam(model.parameters(), lr=0.05)

    def test_r2():
        with cr.no_grad():
            return r2(model(xt).data.reshape(-1) * sd + mu, yt.data)

    r2_0, losses = test_r2(), []
    for _ in range(steps):  # full batch: 354 examples
        loss = F.mse_loss(model(x).reshape(-1), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    r2_test = test_r2()
    a = np.c_[x.data.astype(np.float64), np.ones(len(x))]
    w = np.linalg.lstsq(a, y.data.astype(np.float64), rcond=None)[0]
    r2_ls = r2(np.c_[xt.data, np.ones(len(xt))] @ w, yt.data)
    print(f"diabetes, linear + MSE: test R² {r2_test:.4f} (before training {r2_0:.4f}; "
          f"closed-form least squares {r2_ls:.4f})")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with cr.no_grad():
        pred = model(xt).data.reshape(-1) * sd + mu
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "gaussian_diabetes.png")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.semilogy(losses)
    a1.set(xlabel="step", ylabel="training MSE (standardized target)", title="loss")
    a2.scatter(yt.data, pred, s=12)
    lo, hi = float(yt.data.min()), float(yt.data.max())
    a2.plot([lo, hi], [lo, hi], "k--", lw=1)
    a2.set(xlabel="true progression", ylabel="predicted", title=f"test set, R² = {r2_test:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")
    return {"test_r2": r2_test, "initial_r2": r2_0, "least_squares_r2": r2_ls, "initial_loss": losses[0],
            "final_loss": losses[-1], "figure": path}


if __name__ == "__main__":
    main()
