"""Arbitrary output, VAE: a variational autoencoder on binarized digits.

The seed's last table row lists the VAE: the output is a whole image, modelled as
p(x) = ∫ p(x | z) p(z) dz with a latent code z ~ N(0, I). An encoder outputs the mean and log
variance of q(z | x); a sample z = mean + exp(log_var / 2) · ε with ε ~ N(0, I) (the
reparameterization trick, so the gradient flows through the sample) is decoded into 64 Bernoulli
pixel probabilities. The loss is the negative evidence lower bound:
binary cross-entropy of the reconstruction (summed over pixels) + KL(q(z | x) || N(0, I))
(`F.gaussian_kl`). The negative ELBO bounds the negative log-likelihood from above, so it can be
read against examples/made_digits.py's exact NLL on the same data.

    python examples/vae_digits.py
    python examples/vae_digits.py --quick
"""

import os

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.train import example_parser, seed_everything


class VAE(nn.Module):
    def __init__(self, d=64, hidden=256, latent=8):
        super().__init__()
        self.latent = latent
        self.encoder = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
        self.decoder = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, d))

    def encode(self, x):
        h = self.encoder(x)
        return h[:, :self.latent], h[:, self.latent:]  # mean, log variance

    def forward(self, x, rng):
        mean, log_var = self.encode(x)
        eps = rng.standard_normal(mean.shape).astype(np.float32)
        z = mean + cr.exp(0.5 * log_var) * eps  # reparameterization
        return self.decoder(z), mean, log_var


def neg_elbo(model, x, rng):
    """Negative ELBO, mean over images, in nats: reconstruction BCE (sum over pixels) + KL."""
    logits, mean, log_var = model(x, rng)
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    return rec + F.gaussian_kl(mean, log_var, reduction="mean")


def main(argv=None):
    ap = example_parser(__doc__)
    args = ap.parse_args(argv)
    epochs = args.epochs or (2 if args.quick else 100)

    split = cr.data.digits(seed=args.seed)
    xtr = (split.train.arrays[0] > 0.5).astype(np.float32)
    xte = cr.tensor((split.test.arrays[0] > 0.5).astype(np.float32))
    seed_everything(args.seed)
    rng = np.random.default_rng(args.seed)
    model = VAE()
    opt = cr.optim.Adam(model.parameters(), lr=1e-3)
    loader = cr.data.DataLoader(cr.data.TensorDataset(xtr), batch_size=64, shuffle=True, seed=args.seed)

    def test_bound():
        with cr.no_grad():
            return float(np.mean([neg_elbo(model, xte, rng).item() for _ in range(5)]))

    history = [test_bound()]
    for _ in range(epochs):
        for (xb,) in loader:
            loss = neg_elbo(model, xb, rng)
            opt.zero_grad()
            loss.backward()
            opt.step()
        history.append(test_bound())
    print(f"binarized digits, VAE (8-d latent): test negative ELBO {history[-1]:.2f} nats per image "
          f"(before training {history[0]:.2f}); an upper bound on the NLL")

    with cr.no_grad():
        mean, _ = model.encode(xte[:16])
        recon = cr.sigmoid(model.decoder(mean)).data
        samples = cr.sigmoid(model.decoder(cr.tensor(rng.standard_normal((32, 8)).astype(np.float32)))).data

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def tiles(imgs, rows):
        t = imgs.reshape(rows, -1, 8, 8).transpose(0, 2, 1, 3)
        t = np.pad(t, ((0, 0), (0, 1), (0, 0), (0, 1)), constant_values=0.5)
        return t.reshape(rows * 9, -1)

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "vae_digits.png")
    fig = plt.figure(figsize=(13, 4.5))
    ax = fig.add_subplot(1, 3, 1)
    ax.plot(history, "-", label="test negative ELBO")
    ax.set(xlabel="epoch", ylabel="nats / image", title="negative ELBO")
    ax.legend()
    pairs = np.stack([xte.data[:16], recon]).reshape(2, 2, 8, 64).transpose(1, 0, 2, 3).reshape(-1, 64)
    for j, (imgs, rows, title) in enumerate(((pairs, 4, "test images (rows 1, 3) and reconstructions"),
                                             (samples, 4, "samples: decoder(z), z ~ N(0, I)"))):
        ax = fig.add_subplot(1, 3, j + 2)
        ax.imshow(tiles(imgs, rows), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(title, fontsize=10)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")
    return {"test_neg_elbo": history[-1], "initial_neg_elbo": history[0], "figure": path}


if __name__ == "__main__":
    main()
