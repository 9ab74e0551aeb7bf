"""Arbitrary output, GAN: a small generative adversarial network on a 2-D mixture of Gaussians.

The seed's last table row lists GANs: a generator turns noise z ~ N(0, I) into points, a
discriminator scores real against generated points, and the two are trained against each other
with binary cross-entropy (the discriminator's Bernoulli output; the generator uses the
non-saturating loss, i.e. it is trained to make the discriminator say "real"). The data are eight
Gaussians on a circle of radius 2 (standard deviation 0.05), the classic test of whether a GAN
covers every mode. The script reports how many of the 8 modes the generated points cover and the
share of generated points within 4 standard deviations of a mode.

    python examples/gan_mixture.py
    python examples/gan_mixture.py --quick
"""

import os

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.train import example_parser, seed_everything

MODES = 2.0 * np.c_[np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)]
STD = 0.05


def real_batch(n, rng):
    return (MODES[rng.integers(0, 8, n)] + STD * rng.standard_normal((n, 2))).astype(np.float32)


def quality(points):
    """(modes covered, share of points within 4 std of a mode, mean distance to the nearest mode)."""
    dist = np.linalg.norm(points[:, None, :] - MODES[None], axis=2)
    nearest, which = dist.min(1), dist.argmin(1)
    good = nearest < 4 * STD
    counts = np.bincount(which[good], minlength=8)
    return int((counts >= 0.02 * len(points)).sum()), float(good.mean()), float(nearest.mean())


def main(argv=None):
    ap = example_parser(__doc__, quick="300 steps (for the tests)", length="--steps")
    args = ap.parse_args(argv)
    steps = args.steps or (300 if args.quick else 5000)
    batch = 256

    seed_everything(args.seed)
    rng = np.random.default_rng(args.seed)
    gen = nn.Sequential(nn.Linear(2, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))
    disc = nn.Sequential(nn.Linear(2, 128), nn.LeakyReLU(0.2), nn.Linear(128, 128), nn.LeakyReLU(0.2),
                         nn.Linear(128, 1))
    opt_g = cr.optim.Adam(gen.parameters(), lr=1e-3, betas=(0.5, 0.999))
    opt_d = cr.optim.Adam(disc.parameters(), lr=1e-3, betas=(0.5, 0.999))
    ones, zeros = np.ones((batch, 1), np.float32), np.zeros((batch, 1), np.float32)
    z_eval = rng.standard_normal((2000, 2)).astype(np.float32)

    def generated(z=z_eval):
        with cr.no_grad():
            return gen(cr.tensor(z)).data

    q0 = quality(generated())
    for _ in range(steps):
        # discriminator: real -> 1, generated -> 0 (the generator's output is a constant here)
        fake = generated(rng.standard_normal((batch, 2)).astype(np.float32))
        d_loss = (F.binary_cross_entropy_with_logits(disc(cr.tensor(real_batch(batch, rng))), ones)
                  + F.binary_cross_entropy_with_logits(disc(cr.tensor(fake)), zeros))
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        # generator: make the discriminator call its points real (gradients flow through disc)
        g_loss = F.binary_cross_entropy_with_logits(disc(gen(cr.tensor(rng.standard_normal((batch, 2)).astype(
            np.float32)))), ones)
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    pts = generated()
    modes, share, mean_dist = quality(pts)
    print(f"8-Gaussian ring, GAN after {steps} steps: {modes}/8 modes covered, {share:.1%} of generated points "
          f"within 4 std of a mode, mean distance to the nearest mode {mean_dist:.3f} "
          f"(before training: {q0[0]}/8, {q0[1]:.1%}, {q0[2]:.3f})")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    real = real_batch(2000, rng)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "gan_mixture.png")
    fig, axes = plt.subplots(1, 2, figsize=(10, 5))
    for ax, p, title, color in ((axes[0], real, "real: 8 Gaussians", "tab:blue"),
                                (axes[1], pts, f"generated: {modes}/8 modes, {share:.0%} near a mode", "tab:red")):
        ax.scatter(real[:, 0], real[:, 1], s=2, color="lightgray")
        ax.scatter(p[:, 0], p[:, 1], s=2, color=color, alpha=0.5)
        ax.set(title=title, xlim=(-3, 3), ylim=(-3, 3))
        ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")
    return {"modes": modes, "share_near_mode": share, "mean_distance": mean_dist, "initial_modes": q0[0],
            "initial_share": q0[1], "initial_mean_distance": q0[2], "figure": path}


if __name__ == "__main__":
    main()
