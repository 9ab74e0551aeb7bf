"""Character-level language models on Debian's fortunes: RNN vs LSTM vs GRU, in bits per character.

Each model reads 64-character windows of real quotations (Debian's `fortunes` package, offline) and
learns to predict the next character: Embedding(96, 64) -> RNN / LSTM / GRU (hidden 128) ->
Linear(128, 96), trained with Adam on the same batches. The test set is fortunes the models never
saw (split by fortune). A model beats the unigram baseline once it learns the letter frequencies and
the bigram baseline once it uses more than the previous character; the figure plots each model's
test bits per character against both, and each model writes a sample after training.

    python examples/char_lm.py                      # rnn, lstm and gru, 600 steps each
    python examples/char_lm.py --model lstm --steps 2000
    python examples/char_lm.py --quick              # a few steps (for the tests)
"""

import os
import time

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.train import example_parser, sample_text, seed_everything


def test_bits(model, xs, ys):
    """Mean bits per character of a model on windows (xs, ys)."""
    model.eval()
    with cr.no_grad():
        total = 0.0
        for i in range(0, len(xs), 256):
            logits = model(xs[i:i + 256])
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ys[i:i + 256].reshape(-1),
                                           reduction="sum").item())
    model.train()
    return total / ys.size / np.log(2)


def train_one(kind, split, steps, hidden, batch, lr, seed, every, test_windows):
    seed_everything(seed)
    vocab = split.info["vocab"]
    model = nn.RecurrentLM(len(vocab), hidden, kind)
    opt = cr.optim.Adam(model.parameters(), lr=lr)
    xtr, ytr = split.train.arrays
    xte, yte = (a[:test_windows] for a in split.test.arrays)
    order = np.random.default_rng(seed).permutation(len(xtr))
    curve = [(0, test_bits(model, xte, yte))]
    t0 = time.perf_counter()
    for step in range(1, steps + 1):
        idx = order[(step - 1) * batch % len(order):][:batch]
        if len(idx) < batch:  # wrap around the shuffled windows
            idx = np.concatenate([idx, order[:batch - len(idx)]])
        logits = model(xtr[idx])
        loss = F.cross_entropy(logits.reshape(-1, len(vocab)), ytr[idx].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if step % every == 0 or step == steps:
            curve.append((step, test_bits(model, xte, yte)))
    seconds = time.perf_counter() - t0
    text = sample_text(model, vocab, 300, prompt="%\n", temperature=0.8, seed=seed)
    return {"curve": curve, "seconds": seconds, "sample": text, "test_bits": curve[-1][1]}


def main(argv=None):
    ap = example_parser(__doc__, quick="a few steps on a small part of the text (for the tests)", length="--steps")
    ap.add_argument("--model", default="all", choices=("all", "rnn", "lstm", "gru"))
    ap.add_argument("--hidden", type=int, default=128)
    args = ap.parse_args(argv)
    quick = args.quick
    steps = args.steps or (12 if quick else 600)
    hidden = 32 if quick else args.hidden
    split = cr.data.fortunes(seq_len=64, max_chars=40_000 if quick else None)
    base = split.info["baselines"]
    kinds = ("rnn", "lstm", "gru") if args.model == "all" else (args.model,)
    print(f"fortunes: {split.info['train_chars']:,} train / {split.info['test_chars']:,} test characters, "
          f"{len(split.info['vocab'])} symbols; baselines: unigram {base['unigram']:.3f}, "
          f"bigram {base['bigram']:.3f} bits/char")
    results = {}
    for kind in kinds:
        r = train_one(kind, split, steps, hidden, 32, 3e-3, args.seed, max(1, steps // 10),
                      64 if quick else 1000)
        results[kind] = r
        print(f"{kind}: test {r['test_bits']:.3f} bits/char after {steps} steps ({r['seconds']:.0f} s)")
        print("  sample: " + r["sample"][:240].replace("\n", "\n          "))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for kind, r in results.items():
        s, b = zip(*r["curve"])
        ax.plot(s, b, "-o", ms=3, label=f"{kind} (hidden {hidden})")
    ax.axhline(base["unigram"], color="grey", ls=":", label="unigram")
    ax.axhline(base["bigram"], color="k", ls="--", label="bigram")
    ax.set_xlabel("training step (batch 32 x 64 characters)")
    ax.set_ylabel("test bits per character")
    ax.set_title("character-level language models on Debian's fortunes")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    os.makedirs(args.out, exist_ok=True)
    figure = os.path.join(args.out, "char_lm.png")
    fig.savefig(figure, dpi=100)
    plt.close(fig)
    with open(os.path.join(args.out, "char_lm_samples.txt"), "w") as f:
        for kind, r in results.items():
            f.write(f"== {kind}: {r['test_bits']:.3f} bits/char ==\n{r['sample']}\n\n")
    print(f"wrote {figure}")
    return {"figure": figure, "baselines": base, **{f"{k}_initial_bits": r["curve"][0][1] for k, r in results.items()},
            **{f"{k}_bits": r["test_bits"] for k, r in results.items()},
            **{f"{k}_sample": r["sample"] for k, r in results.items()}}


if __name__ == "__main__":
    main()
