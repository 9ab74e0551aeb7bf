"""A character-level transformer language model on Debian's fortunes, against unigram and bigram
baselines.

The text is what Debian's `fortunes-min` package installs in /usr/share/games/fortunes: the
`fortunes`, `literature` and `riddles` collections (~98 KB of short sayings, quotations and riddles,
plain ASCII, available offline), cut into their sayings; 90% of them (drawn with the seed) train,
10% test. The model is `nn.TransformerLM` (token + position embeddings, two pre-norm encoder
layers under a causal mask, d_model 64, 4 heads, context 64, dropout 0.1), trained with Adam on
batches of 32 random 64-character windows (600 steps; --quick: 40 steps of 16). Reported: test-set
bits per character (each test window predicts every character from the ones before it in the
window) against the add-one unigram and bigram models of the training text, and a sample
generated from a newline.

    python examples/char_transformer.py
    python examples/char_transformer.py --quick
"""

import os
import time

import numpy as np

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.train import example_parser, seed_everything

FORTUNES = [f"/usr/share/games/fortunes/{name}" for name in ("fortunes", "literature", "riddles")]
CONTEXT = 64


def load_sayings(paths=FORTUNES):
    out = []
    for path in paths:
        with open(path, encoding="ascii", errors="replace") as f:
            out += [s.strip("\n") + "\n" for s in f.read().split("%\n") if s.strip()]
    return out


def ngram_bits(train, test, V):
    """Test bits per character of the add-one unigram and bigram models of `train` (int arrays)."""
    uni = np.bincount(train, minlength=V) + 1.0
    uni_bits = -np.log2(uni[test] / uni.sum()).mean()
    big = np.ones((V, V))
    np.add.at(big, (train[:-1], train[1:]), 1)
    big /= big.sum(axis=1, keepdims=True)
    big_bits = -np.log2(big[test[:-1], test[1:]]).mean()
    return float(uni_bits), float(big_bits)


def test_bits(lm, ids, V):
    """Mean bits per predicted character over the non-overlapping CONTEXT + 1 windows of `ids` (in
    eval mode: no dropout)."""
    n = (len(ids) - 1) // CONTEXT
    x = ids[:n * CONTEXT].reshape(n, CONTEXT)
    y = ids[1:n * CONTEXT + 1].reshape(n, CONTEXT)
    lm.eval()
    with cr.no_grad():
        nats = [F.cross_entropy(lm(x[i:i + 64]).reshape(-1, V), y[i:i + 64].reshape(-1), reduction="sum").item()
                for i in range(0, n, 64)]
    lm.train()
    return float(sum(nats) / (n * CONTEXT) / np.log(2))


def main(argv=None):
    ap = example_parser(__doc__, quick="few steps (for the tests)", length="--steps")
    args = ap.parse_args(argv)
    steps = args.steps or (40 if args.quick else 600)
    batch = 16 if args.quick else 32
    sayings = load_sayings()
    rng = np.random.default_rng(args.seed)
    order = rng.permutation(len(sayings))
    n_test = max(1, len(sayings) // 10)
    test_text = "".join(sayings[i] for i in order[:n_test])
    train_text = "".join(sayings[i] for i in order[n_test:])
    chars = sorted(set(train_text) | set(test_text))
    V = len(chars)
    code = {c: i for i, c in enumerate(chars)}
    train_ids = np.array([code[c] for c in train_text])
    test_ids = np.array([code[c] for c in test_text])
    uni_bits, big_bits = ngram_bits(train_ids, test_ids, V)

    seed_everything(args.seed)
    lm = nn.TransformerLM(V, d_model=64, nhead=4, num_layers=2, max_len=CONTEXT, dropout=0.1)
    opt = cr.optim.Adam(lm.parameters(), lr=3e-3)
    bits0 = test_bits(lm, test_ids, V)
    losses, t0 = [], time.perf_counter()
    for step in range(steps):
        starts = rng.integers(0, len(train_ids) - CONTEXT - 1, size=batch)
        x = np.stack([train_ids[s:s + CONTEXT] for s in starts])
        y = np.stack([train_ids[s + 1:s + CONTEXT + 1] for s in starts])
        loss = F.cross_entropy(lm(x).reshape(-1, V), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item() / np.log(2))
        if step % 250 == 0 or step == steps - 1:
            print(f"step {step:5d}  train {losses[-1]:.3f} bits/char")
    seconds = time.perf_counter() - t0
    bits = test_bits(lm, test_ids, V)
    sample = "".join(chars[i] for i in lm.generate([[code["\n"]]], 300, temperature=0.8, rng=rng)[0, 1:])
    print(f"fortunes ({len(train_text)} training / {len(test_text)} test characters, {V} symbols), test bits "
          f"per character: unigram {uni_bits:.3f}, bigram {big_bits:.3f}, transformer {bits:.3f} (untrained "
          f"{bits0:.3f}; {steps} steps of {batch} x {CONTEXT} characters in {seconds:.1f} s)")
    print("sample:\n" + sample)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "char_transformer.png")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(losses, lw=0.8, label="training batch")
    for value, name, style in ((uni_bits, "unigram (test)", ":"), (big_bits, "bigram (test)", "--"),
                               (bits, "transformer (test)", "-")):
        ax.axhline(value, ls=style, color="k" if name.startswith("transformer") else "gray", label=name)
    ax.set(xlabel="step", ylabel="bits per character", title="character transformer on Debian's fortunes")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")
    return {"test_bits": bits, "initial_bits": bits0, "unigram_bits": uni_bits, "bigram_bits": big_bits,
            "sample": sample, "seconds": seconds, "figure": path}


if __name__ == "__main__":
    main()
