"""Mixture of Gaussians: a mixture density network on the classic inverse problem.

The seed's fourth table row. Draw y uniformly on (0, 1) and set x = y + 0.3 sin(2πy) + noise
(Bishop's example). Predicting x from y is easy; predicting y from x is not a function: for x
near 0.5 there are three good answers. A network trained with MSE (a single Gaussian) returns
their conditional mean, a curve through none of the branches. A mixture density network outputs,
for each x, the weights, means and widths of K Gaussians and is trained with the mixture's
negative log-likelihood (`F.gaussian_mixture_nll`, computed with logsumexp); it follows every
branch. The script prints both models' test negative log-likelihood in nats per point.

    python examples/mixture_density.py
    python examples/mixture_density.py --quick
"""

import os

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.train import example_parser, seed_everything

K = 3  # mixture components


def inverse_problem(n, rng):
    y = rng.uniform(0.0, 1.0, n)
    x = y + 0.3 * np.sin(2 * np.pi * y) + rng.uniform(-0.1, 0.1, n)
    return x.astype(np.float32)[:, None], y.astype(np.float32)


class MDN(nn.Module):
    def __init__(self, hidden=32, k=K):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(1, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh())
        self.head = nn.Linear(hidden, 3 * k)
        self.k = k

    def forward(self, x):
        h = self.head(self.body(x))
        k = self.k
        return h[:, :k], h[:, k:2 * k], h[:, 2 * k:]  # logits, means, log standard deviations


def main(argv=None):
    ap = example_parser(__doc__, quick="100 steps (for the tests)", length="--steps")
    args = ap.parse_args(argv)
    steps = args.steps or (100 if args.quick else 2000)

    rng = np.random.default_rng(args.seed)
    x, y = inverse_problem(1000, rng)
    xt, yt = inverse_problem(1000, rng)
    seed_everything(args.seed)
    mse_net = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
    mdn = MDN()
    opt_mse = cr.optim.Adam(mse_net.parameters(), lr=5e-3)
    opt_mdn = cr.optim.Adam(mdn.parameters(), lr=5e-3)
    xb, xtb = cr.tensor(x), cr.tensor(xt)

    def nll_mdn(xs, ys):
        with cr.no_grad():
            return F.gaussian_mixture_nll(*mdn(xs), ys).item()

    def nll_gauss(xs, ys, var):  # the MSE fit read as a Gaussian with the training residual variance
        with cr.no_grad():
            r = mse_net(xs).data.reshape(-1) - ys
        return float(np.mean(0.5 * r ** 2 / var + 0.5 * np.log(2 * np.pi * var)))

    mdn0 = nll_mdn(xtb, yt)
    for _ in range(steps):  # full batch
        for opt, loss in ((opt_mse, F.mse_loss(mse_net(xb).reshape(-1), y)),
                          (opt_mdn, F.gaussian_mixture_nll(*mdn(xb), y))):
            opt.zero_grad()
            loss.backward()
            opt.step()
    with cr.no_grad():
        var = float(np.mean((mse_net(xb).data.reshape(-1) - y) ** 2))
    g_nll, m_nll = nll_gauss(xtb, yt, var), nll_mdn(xtb, yt)
    print(f"inverse problem, test NLL (nats per point): MSE fit as one Gaussian {g_nll:.3f}, "
          f"mixture density network (K={K}) {m_nll:.3f} (before training {mdn0:.3f})")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.linspace(x.min(), x.max(), 200, dtype=np.float32)[:, None]
    ys = np.linspace(-0.1, 1.1, 200)
    with cr.no_grad():
        logits, means, log_stds = (t.data.astype(np.float64) for t in mdn(cr.tensor(grid)))
        mse_curve = mse_net(cr.tensor(grid)).data.reshape(-1)
    w = np.exp(logits - logits.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    sd = np.exp(log_stds)
    dens = (w[:, None, :] * np.exp(-0.5 * ((ys[None, :, None] - means[:, None, :]) / sd[:, None, :]) ** 2)
            / (sd[:, None, :] * np.sqrt(2 * np.pi))).sum(-1)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "mixture_density.png")
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4.5))
    a1.scatter(xt[:, 0], yt, s=3, alpha=0.3, color="gray", label="test data")
    a1.plot(grid[:, 0], mse_curve, "r-", lw=2, label=f"MSE fit (NLL {g_nll:.2f})")
    for k in range(K):
        on = w[:, k] > 0.1
        a1.scatter(grid[on, 0], means[on, k], s=4, label=f"MDN mean {k + 1} where weight > 0.1")
    a1.set(xlabel="x", ylabel="y", title="predicting y from x")
    a1.legend(fontsize=7, loc="upper left")
    a2.imshow(dens.T, origin="lower", aspect="auto", cmap="magma",
              extent=[grid[0, 0], grid[-1, 0], ys[0], ys[-1]], vmax=np.quantile(dens, 0.99))
    a2.set(xlabel="x", ylabel="y", title=f"MDN density p(y | x) (test NLL {m_nll:.2f})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")
    return {"mdn_nll": m_nll, "initial_mdn_nll": mdn0, "gaussian_nll": g_nll, "figure": path}


if __name__ == "__main__":
    main()
