"""Multinoulli output: softmax + cross-entropy on Fashion-MNIST, an MLP and a small CNN.

The seed's second table row: a class label is a Multinoulli (categorical) variable, the output
layer a softmax over 10 scores, the loss its negative log-likelihood (`F.cross_entropy`, fused
with the log-softmax so it stays finite for large scores).

    python examples/multinoulli_fashion_mnist.py --model mlp     # >= 88% test accuracy
    python examples/multinoulli_fashion_mnist.py --model cnn     # >= 90% test accuracy
    python examples/multinoulli_fashion_mnist.py --quick         # small subsets, one epoch

The data are the 60,000 / 10,000 IDX files of Debian's `dataset-fashion-mnist` package.
"""

import os
import time

import numpy as np

import chainrule as cr
from chainrule.train import build_model, evaluate, example_parser, fit, plot_history, seed_everything


def main(argv=None):
    ap = example_parser(__doc__, quick="1,000 training images, one epoch (for the tests)")
    ap.add_argument("--model", choices=("mlp", "cnn"), default="mlp")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    cnn = args.model == "cnn"
    epochs = args.epochs or (1 if args.quick else (10 if cnn else 15))
    sizes = dict(n_train=1000, n_test=300) if args.quick else {}

    split = cr.data.fashion_mnist(flatten=not cnn, **sizes)
    seed_everything(args.seed)
    hidden = (128,) if cnn else (256, 128)
    model = build_model(args.model, split.input_shape, 10, hidden, split.image_shape if cnn else None)
    opt = cr.optim.Adam(model.parameters(), lr=args.lr)
    schedule = cr.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)  # the step size decays to 0 over the run
    before = evaluate(model, split.test, "classification")
    t0 = time.perf_counter()
    history = fit(model, opt, split.train, split.test, "classification", epochs, batch_size=128,
                  seed=args.seed, progress=not args.no_progress, desc=args.model, scheduler=schedule)
    seconds = time.perf_counter() - t0
    acc = history[-1]["test_accuracy"]
    print(f"fashion_mnist, {args.model} (softmax + cross-entropy), {len(split.train)} training images, "
          f"{epochs} epochs in {seconds:.0f} s: test accuracy {acc:.2%} "
          f"(before training {before['accuracy']:.2%})")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    curves = os.path.join(args.out, f"fashion_mnist_{args.model}_history.png")
    plot_history(history, curves, f"{args.model} on Fashion-MNIST")
    # a grid of test images with the predicted class (red where wrong)
    x, y = split.test.tensors
    with cr.no_grad():
        pred = model(x[:32]).data.argmax(axis=1)
    fig, axes = plt.subplots(4, 8, figsize=(12, 6.5))
    for i, ax in enumerate(axes.flat):
        ax.imshow(x.data[i].reshape(28, 28), cmap="gray_r")
        ok = pred[i] == y.data[i]
        ax.set_title(split.classes[pred[i]], fontsize=8, color="k" if ok else "r")
        ax.axis("off")
    fig.suptitle(f"{args.model}: predictions on test images (red = wrong), test accuracy {acc:.1%}")
    fig.tight_layout()
    grid = os.path.join(args.out, f"fashion_mnist_{args.model}.png")
    fig.savefig(grid, dpi=90)
    plt.close(fig)
    print(f"wrote {grid} and {curves}")
    return {"test_accuracy": acc, "initial_accuracy": before["accuracy"], "initial_loss": before["loss"],
            "final_loss": history[-1]["test_loss"], "seconds": seconds, "figure": grid,
            "history_figure": curves, "pred_classes": int(np.unique(pred).size)}


if __name__ == "__main__":
    main()
