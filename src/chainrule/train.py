"""Training and evaluation: the loop behind `chainrule train` / `chainrule evaluate`.

    chainrule train                         # MLP + softmax cross-entropy + Adam on digits
    chainrule train --dataset fashion_mnist --model cnn --epochs 3
    chainrule evaluate runs/digits-mlp/model.safetensors --dataset digits
    mpirun -np 2 chainrule train --distributed    # data parallel: same global batch, rank 0 writes

A run writes into its output folder the checkpoint (`model.safetensors`: the model's
parameters plus its architecture, so `evaluate` can rebuild it), a plot of loss and accuracy per
epoch (`history.png`) and a run summary (`summary.json`: options, per-epoch metrics, final
metrics, time, and `status`). The same options and seed give the same numbers.

Checkpoint and summary are rewritten after every completed epoch, so a run that stops early keeps
its last complete epoch: at a non-finite training loss it stops before that step's update
(`TrainingStopped`, status "diverged"); Ctrl-C stops it with status "interrupted"
(`TrainingInterrupted`). summary.json is strict JSON: a non-finite number in it is written as null.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import threading
import time

import numpy as np

from . import data, nn, optim
from . import distributed as dist
from .core import CheckpointError, no_grad, unwrap
from .core.errors import TrainingInterrupted, TrainingStopped
from .io import atomic_write, load, read_json, save
from .nn import functional as F
from .transforms.compile import compile as record_and_replay

OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")
CHECKPOINT, SUMMARY, PLOT, SAMPLES = "model.safetensors", "summary.json", "history.png", "samples.txt"
SAMPLE_CHARS = 500  # characters a language model writes into samples.txt
TEXT_PROMPTS = {"fortunes": "%\n"}  # what a sample starts after: the end of a fortune (else a newline)
_META = "_chainrule."  # prefix of the checkpoint entries that describe the model, not its weights


# -- models ------------------------------------------------------------------------------------------------

def _mlp(input_shape, num_outputs, hidden, **_):
    layers, width = [], int(np.prod(input_shape))
    if len(input_shape) > 1:
        layers.append(nn.Flatten())
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, num_outputs))
    return nn.Sequential(*layers)


def _cnn(input_shape, num_outputs, hidden, image_shape=None, channels=(16, 32), **_):
    if image_shape is None:
        raise ValueError(f"build_model: a CNN needs image data; input shape {tuple(input_shape)} "
                         f"is not an image")
    c, h, w = image_shape
    layers = []
    for out_c in channels:
        layers += [nn.Conv2d(c, out_c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        c, h, w = out_c, h // 2, w // 2
    layers.append(nn.Flatten())
    width = c * h * w
    for hd in hidden:
        layers += [nn.Linear(width, hd), nn.ReLU()]
        width = hd
    layers.append(nn.Linear(width, num_outputs))
    return nn.Sequential(*layers)


def _recurrent(kind):
    def build(input_shape, num_outputs, hidden, **_):
        if len(set(hidden)) != 1:
            raise ValueError(f"build_model: the layers of a {kind} have one width, got --hidden "
                             f"{','.join(map(str, hidden))}")
        return nn.RecurrentLM(num_outputs, hidden[0], kind, num_layers=len(hidden))
    return build


def _heads(d_model):
    return next(h for h in (4, 2, 1) if d_model % h == 0)


def _transformer(input_shape, num_outputs, hidden, **_):
    """`nn.TransformerLM`: one pre-norm layer of width hidden[0] per --hidden entry, 4 heads where the width
    allows (else 2 or 1), positions up to the window length."""
    if len(set(hidden)) != 1:
        raise ValueError(f"build_model: the layers of a transformer have one width, got --hidden "
                         f"{','.join(map(str, hidden))}")
    d = hidden[0]
    return nn.TransformerLM(num_outputs, d, _heads(d), num_layers=len(hidden), max_len=int(input_shape[0]))


# name -> builder(input_shape, num_outputs, hidden, image_shape=, channels=); the language models take
# windows of character ids (task "language_model") and give logits per position
MODEL_BUILDERS = {"mlp": _mlp, "cnn": _cnn, "rnn": _recurrent("rnn"), "lstm": _recurrent("lstm"),
                  "gru": _recurrent("gru"), "transformer": _transformer}
MODELS = tuple(MODEL_BUILDERS)
TEXT_MODELS = ("rnn", "lstm", "gru", "transformer")  # the models of text data sets (the others take features)


def build_model(kind, input_shape, num_outputs, hidden=(128,), image_shape=None, channels=(16, 32)):
    """An MLP (Linear-ReLU ... Linear), a small CNN ((Conv3x3-ReLU-MaxPool2) x 2, Linear-ReLU, Linear),
    or a character-level language model (`nn.RecurrentLM`: Embedding, rnn / lstm / gru, Linear; or
    `nn.TransformerLM`, decoder-only).

    Layer names are PyTorch's (`0.weight`, `rnn.weight_ih_l0`), so a checkpoint's keys look like PyTorch's.
    """
    if kind not in MODEL_BUILDERS:
        raise ValueError(f"build_model: unknown model {kind!r}; choose one of {', '.join(MODELS)}")
    return MODEL_BUILDERS[kind](input_shape, num_outputs, tuple(int(h) for h in hidden), image_shape=image_shape,
                                channels=channels)


def make_optimizer(name, params, lr, weight_decay=0.0):
    params = list(params)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "sgd":
        return optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"make_optimizer: unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def blas_threads(n):
    """Context manager: at most `n` BLAS threads (threadpoolctl, which scikit-learn brings).

    The matrices of small models are too small to split: on a busy 2-core machine two OpenBLAS
    threads made training many times slower than one.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=n, user_api="blas")


def example_parser(doc, quick="two epochs (for the tests)", length="--epochs"):
    """The options the scripts in examples/ share: --quick, --epochs or --steps, --seed, --out."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help=quick)
    if length:
        ap.add_argument(length, type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/examples", help="folder for the figure (default %(default)s)")
    return ap


def seed_everything(seed):
    """Seed NumPy's global generator and chainrule's, so that initialization repeats."""
    np.random.seed(seed)
    nn.manual_seed(seed)


# -- one pass over the data ----------------------------------------------------------------------------------

def _loss(task, out, y, target_stats=None):
    if task == "language_model":  # logits (N, L, vocab), next-character ids (N, L)
        return F.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))
    if task == "regression":
        mu, sd = target_stats
        return F.mse_loss(out.reshape(-1), (y.data - mu) / sd)
    return F.cross_entropy(out, y)


def _batch_stats(task, out, y, target_stats):
    """Per-batch sums that make up the epoch's metrics (accuracy, or squared errors for R²); a language
    model's accuracy counts the characters whose most likely next character is the right one."""
    o, yd = out.numpy(), y.numpy()  # (host copies of a device's arrays)
    if task == "regression":
        mu, sd = target_stats
        pred = o.reshape(-1).astype(np.float64) * sd + mu
        return {"sse": float(((pred - yd) ** 2).sum())}
    return {"correct": int((o.argmax(axis=-1) == yd).sum())}


class _NonFiniteLoss(ArithmeticError):
    def __init__(self, step, loss, where=""):
        super().__init__(step, loss)
        self.step, self.loss, self.where = step, loss, where


class StopFlag:
    """Set by a signal (SIGINT / SIGTERM) in a data-parallel run: the ranks agree on it at their next training
    step (`dist.agree_step`) and stop there together, rather than each where the signal found it (inside a
    collective that the others then wait in forever)."""

    asked = False


class _AgreedStop(KeyboardInterrupt):
    """Every rank stopped at the same step (a signal seen by one of them, agreed through `agree_step`)."""


@contextlib.contextmanager
def _stop_on_signals(flag, distributed):
    """While training: SIGTERM stops the run as Ctrl-C does (mpirun sends it to every rank when it is
    interrupted itself, and kills them a second later); in a data-parallel run SIGINT and SIGTERM only
    set `flag`, for the ranks to agree on. Signal handlers exist in the main thread only."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ask(signum, frame):
        if not distributed:
            raise KeyboardInterrupt
        flag.asked = True

    sigs = (signal.SIGINT, signal.SIGTERM) if distributed else (signal.SIGTERM,)
    old = {s: signal.signal(s, ask) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def layer_grad_norms(model):
    """{layer: L2 norm of the gradients of its own parameters} for every module that has parameters
    (named as in `named_modules()`; the model's own parameters under "(model)"). Vanishing and
    exploding gradients show here first."""
    norms = {}
    for path, m in model.named_modules():
        sq, found = 0.0, False
        for name, p in m.named_parameters():
            if "." in name or p.grad is None:
                continue  # a submodule's parameter: counted with that layer
            g = np.asarray(p.grad)
            sq += float(np.vdot(g, g).real)
            found = True
        if found:
            norms[path or "(model)"] = math.sqrt(sq)
    return norms


def run_epoch(model, loader, task, optimizer=None, target_stats=None, progress=None, grad_norms=None,
              forward=None, comm=None, stop=None):
    """Train for one epoch (when an optimizer is given) or evaluate; returns {"loss", "accuracy" | "r2"}.

    Training stops at the first batch whose loss is not finite, before its update. With a list as
    `grad_norms`, each training step appends its `layer_grad_norms` (after backward, before the update).
    `forward` (default `model`) computes the outputs: `cr.compile(model)` for `train --compile`.
    Data parallel (`comm` of several ranks): each training step's loss check and `stop` (a `StopFlag`)
    are agreed by all ranks (`dist.agree_step`), so they all stop at the same step.
    """
    agree = comm is not None and comm.size > 1
    total, n, sums, ys = 0.0, 0, {}, []
    model.train(optimizer is not None)
    device = next((p.device for p in model.parameters()), None)
    forward = forward or model
    for step, (x, y) in enumerate(loader, 1):
        if device is not None and device.type != "cpu":  # the model is on a device: so is each batch
            x, y = x.to(device), y.to(device)
        if optimizer is not None:
            out = forward(x)
            loss = _loss(task, out, y, target_stats)
            value = float(loss.item())
            if agree:
                bad, worst, halt = dist.agree_step(value, stop is not None and stop.asked, comm)
                if halt:
                    raise _AgreedStop
                if bad:
                    raise _NonFiniteLoss(step, worst, f" (on {bad} of {comm.size} ranks)")
            elif not math.isfinite(value):
                raise _NonFiniteLoss(step, value)
            optimizer.zero_grad()
            loss.backward()
            if grad_norms is not None:
                grad_norms.append(layer_grad_norms(model))
            optimizer.step()
        else:
            if stop is not None and stop.asked:  # (evaluating: no collective to agree in)
                raise KeyboardInterrupt
            with no_grad():
                out = forward(x)
                loss = _loss(task, out, y, target_stats)
            value = float(loss.item())
        b = y.data.size  # examples; characters for a language model
        total += value * b
        n += b
        for k, v in _batch_stats(task, out, y, target_stats).items():
            sums[k] = sums.get(k, 0) + v
        if task == "regression":
            ys.append(np.asarray(y.numpy(), dtype=np.float64))
        if progress is not None:
            progress.update(1)
            progress.set_postfix(_running(task, total, n, sums), refresh=False)
    if n == 0:
        raise ValueError("run_epoch: the loader gave no examples (is batch_size larger than the data set "
                         "with drop_last=True?)")
    metrics = {"loss": total / n}
    if task == "regression":
        yy = np.concatenate(ys)
        metrics["r2"] = 1.0 - sums["sse"] / max(float(((yy - yy.mean()) ** 2).sum()), 1e-300)
    else:
        metrics["accuracy"] = sums["correct"] / n
    return metrics


def _running(task, total, n, sums):
    d = {"loss": f"{total / n:.4f}"}
    if "correct" in sums:
        d["acc"] = f"{sums['correct'] / n:.3f}"
    return d


def evaluate(model, dataset, task, batch_size=256, target_stats=None, forward=None, stop=None):
    """Metrics of `model` on a dataset: {"loss", "accuracy"} (classification) or {"loss", "r2"}."""
    return run_epoch(model, data.DataLoader(dataset, batch_size=batch_size), task, target_stats=target_stats,
                     forward=forward, stop=stop)


def fit(model, optimizer, train_set, test_set, task, epochs, batch_size, seed=0, target_stats=None,
        progress=True, desc="train", scheduler=None, sampler=None, comm=None, on_epoch=None, forward=None,
        stop=None):
    """Train for `epochs`; returns the per-epoch history (train and test metrics, seconds).

    A learning-rate scheduler, if given, steps once after each epoch; then `on_epoch(history)`, if
    given, runs (`train` saves the run there). A non-finite training loss raises `TrainingStopped`
    naming the epoch, step and loss; the exception's `history` holds the epochs completed before it.
    Data parallel: `sampler` (a `dist.DistributedSampler`) gives this rank's share of each epoch, and
    with `comm` the train metrics are averaged across ranks (every rank evaluates the whole test set
    with the same weights). `forward`: what computes the model's outputs (`cr.compile(model)`).
    """
    if sampler is None:
        loader = data.DataLoader(train_set, batch_size=batch_size, shuffle=True, seed=seed)
    else:
        loader = data.DataLoader(train_set, batch_size=batch_size, sampler=sampler)
    bar = _progress_bar(epochs * len(loader), desc) if progress else None
    history = []
    try:
        for epoch in range(1, epochs + 1):
            t0 = time.perf_counter()
            if bar is not None:
                bar.set_description(f"{desc} epoch {epoch}/{epochs}")
            if sampler is not None:
                sampler.set_epoch(epoch)
            norms = []
            try:
                tr = run_epoch(model, loader, task, optimizer, target_stats, bar, grad_norms=norms, forward=forward,
                               comm=comm, stop=stop)
            except _NonFiniteLoss as e:
                stop = TrainingStopped(f"the training loss is {e.loss}{e.where} at epoch {epoch}, step {e.step}")
                stop.history, stop.epoch, stop.step, stop.loss = history, epoch, e.step, e.loss
                raise stop from None
            if comm is not None:
                tr = {k: dist.allreduce_mean(v, comm, weight=len(sampler)) for k, v in tr.items()}
            if scheduler is not None:
                scheduler.step()
            te = evaluate(model, test_set, task, target_stats=target_stats, forward=forward, stop=stop) \
                if len(test_set) else {}
            row = {"epoch": epoch, **{f"train_{k}": v for k, v in tr.items()},
                   **{f"test_{k}": v for k, v in te.items()}, "seconds": time.perf_counter() - t0,
                   "grad_norm": _mean_norms(norms)}
            history.append(row)
            if bar is not None:
                bar.set_postfix({k.replace("accuracy", "acc"): f"{v:.4f}" for k, v in row.items()
                                 if k.startswith(("train_", "test_"))})
            if on_epoch is not None:
                on_epoch(history)
    finally:
        if bar is not None:
            bar.close()
    return history


def _mean_norms(norms):
    """{layer: mean over the epoch's steps} of per-step `layer_grad_norms`."""
    return {k: float(np.mean([n[k] for n in norms if k in n])) for k in (norms[0] if norms else {})}


def _progress_bar(total, desc):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", dynamic_ncols=True, mininterval=0.2)


# -- plots, checkpoints ------------------------------------------------------------------------------------

def plot_history(history, path, title=""):
    """Loss and accuracy (or R²) per epoch, train and test, and beside them each layer's mean gradient
    norm per epoch (log scale), as a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ep = [r["epoch"] for r in history]
    second = "accuracy" if "train_accuracy" in history[0] else "r2"
    layers = list(history[0].get("grad_norm", {}))
    fig, axes = plt.subplots(1, 3 if layers else 2, figsize=(15 if layers else 10, 4))
    if layers:
        ax = axes[2]
        for name in layers:
            ax.plot(ep, [max(r["grad_norm"].get(name, np.nan), 1e-300) for r in history], "-o", ms=3, label=name)
        ax.set_yscale("log")
        ax.set_xlabel("epoch")
        ax.set_ylabel("gradient norm (mean over steps)")
        ax.set_title("gradient flow per layer", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax, metric in zip(axes, ("loss", second)):
        for part, style in (("train", "-o"), ("test", "-s")):
            key = f"{part}_{metric}"
            if key in history[0]:
                ax.plot(ep, [r[key] for r in history], style, ms=3, label=part)
        ax.set_xlabel("epoch")
        ax.set_ylabel({"loss": "loss", "accuracy": "accuracy", "r2": "R²"}[metric])
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_checkpoint(path, model, arch):
    """The model's state_dict plus its architecture (as `_chainrule.*` entries) in one safetensors file."""
    state = dict(model.state_dict())
    state[_META + "arch_json"] = np.frombuffer(json.dumps(arch, sort_keys=True).encode(), dtype=np.uint8).copy()
    save(state, path)


def load_checkpoint(path):
    """(model, arch) from a file written by `save_checkpoint`.

    The architecture is checked (types, ranges, and the weight shapes it implies against the file's)
    before `build_model` runs: a crafted file of a few hundred bytes must not build gigabytes of model.
    """
    state = dict(load(path))
    key = _META + "arch_json"
    found = [k for k in state if k.startswith(key)]
    if not found:
        raise ValueError(f"load_checkpoint: {path} has no '{key}' entry: "
                         f"it was not written by chainrule train")
    raw = np.asarray(unwrap(state.pop(found[0])))
    if raw.dtype != np.uint8 or raw.ndim != 1 or raw.size > MAX_ARCH_BYTES:
        raise CheckpointError(f"load_checkpoint: {path}: '{key}' must be at most {MAX_ARCH_BYTES:,} bytes of "
                              f"JSON text (uint8), got {raw.dtype} of shape {raw.shape}")
    try:
        arch = read_json(bytes(raw).decode("utf-8"), "the architecture", 3)
    except ValueError as e:  # (UnicodeDecodeError is a ValueError)
        raise CheckpointError(f"load_checkpoint: {path}: {e}") from None
    check_architecture(arch, state, path)
    model = build_model(arch["model"], tuple(arch["input_shape"]), arch["num_outputs"], arch["hidden"],
                        tuple(arch["image_shape"]) if arch.get("image_shape") else None,
                        tuple(arch.get("channels", (16, 32))))
    model.load_state_dict(state)
    return model, arch


MAX_ARCH_BYTES, MAX_INPUT_SIZE = 1 << 20, 1 << 24  # a checkpoint's architecture text; a model's input


def _ints(v, least, most, lengths):
    return (isinstance(v, list) and lengths[0] <= len(v) <= lengths[1]
            and all(isinstance(x, int) and not isinstance(x, bool) and least <= x <= most for x in v))


def check_architecture(arch, state, path="the checkpoint"):
    """Raise CheckpointError unless `arch` (a checkpoint's architecture JSON) describes a model that
    `build_model` can build and whose parameters have exactly the shapes of the arrays in `state`."""
    def refuse(msg):
        return CheckpointError(f"load_checkpoint: {path}: {msg}")

    if not isinstance(arch, dict):
        raise refuse(f"the architecture must be a JSON object, got {type(arch).__name__}")
    fields = {  # field -> (check, what it must be)
        "model": (lambda v: v in MODELS, f"one of {', '.join(MODELS)}"),
        "input_shape": (lambda v: _ints(v, 1, MAX_INPUT_SIZE, (1, 3)) and math.prod(v) <= MAX_INPUT_SIZE,
                        f"1 to 3 sizes >= 1 with at most {MAX_INPUT_SIZE:,} elements"),
        "num_outputs": (lambda v: _ints([v], 1, MAX_WIDTH, (1, 1)), f"an integer from 1 to {MAX_WIDTH}"),
        "hidden": (lambda v: _ints(v, 1, MAX_WIDTH, (0, MAX_LAYERS)),
                   f"at most {MAX_LAYERS} widths from 1 to {MAX_WIDTH}"),
        "image_shape": (lambda v: v is None or (_ints(v, 1, MAX_INPUT_SIZE, (3, 3))
                                                and math.prod(v) == math.prod(arch["input_shape"])),
                        "null or [channels, height, width] with as many elements as input_shape"),
        "channels": (lambda v: _ints(v, 1, MAX_WIDTH, (1, MAX_LAYERS)),
                     f"at most {MAX_LAYERS} channel counts from 1 to {MAX_WIDTH}"),
        "task": (lambda v: isinstance(v, str) and 0 < len(v) <= 32, "a task name such as classification"),
        "dataset": (lambda v: v in data.DATASETS, f"one of {', '.join(sorted(data.DATASETS))}"),
        "target_stats": (lambda v: v is None or (isinstance(v, list) and len(v) == 2 and all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)),
                         "null or [mean, std] (finite numbers)"),
    }
    for name, (ok, what) in fields.items():
        if name not in arch and name in ("channels", "target_stats", "image_shape"):
            continue
        if name not in arch or not ok(arch[name]):
            got = repr(arch.get(name))[:40] if name in arch else "nothing"
            raise refuse(f"architecture field '{name}' must be {what}, got {got}")
    if arch["model"] == "cnn" and not arch.get("image_shape"):
        raise refuse("architecture: a cnn needs an image_shape")
    if arch["model"] in TEXT_MODELS and (len(set(arch["hidden"])) != 1 or len(arch["input_shape"]) != 1):
        raise refuse(f"architecture: a {arch['model']} needs layers of one width and a window length")
    expected = PARAMETER_SHAPES[arch["model"]](arch)
    have = {k: tuple(np.shape(unwrap(v))) for k, v in state.items()}
    if expected != have:
        diff = [k for k in expected if k in have and expected[k] != have[k]] or sorted(set(expected) ^ set(have))
        k = diff[0]
        raise refuse(f"its weights do not match its architecture ({arch['model']} {arch['hidden']}): "
                     f"'{k:.40}' should have shape {expected.get(k, 'none')}, the file has {have.get(k, 'none')}")


def _parameter_shapes(arch):
    """{name: shape} of the parameters `build_model` creates for `arch`, computed without creating them
    (the layer indices follow build_model's Sequential)."""
    shapes, index = {}, 0

    def layer(weight, out, skip):
        nonlocal index
        shapes[f"{index}.weight"], shapes[f"{index}.bias"] = weight, (out,)
        index += skip

    width = math.prod(arch["input_shape"])
    if arch["model"] == "cnn":
        c, h, w = arch["image_shape"]
        for out_c in arch.get("channels", (16, 32)):
            layer((out_c, c, 3, 3), out_c, 3)  # Conv2d, ReLU, MaxPool2d
            c, h, w = out_c, h // 2, w // 2
        index += 1  # Flatten
        width = c * h * w
    elif len(arch["input_shape"]) > 1:
        index += 1  # Flatten
    for hd in arch["hidden"]:
        layer((hd, width), hd, 2)  # Linear, ReLU
        width = hd
    layer((arch["num_outputs"], width), arch["num_outputs"], 1)
    return shapes


def _text_parameter_shapes(arch):
    """{name: shape} of a RecurrentLM's or TransformerLM's parameters (their names as PyTorch's)."""
    vocab, layers, d = arch["num_outputs"], len(arch["hidden"]), arch["hidden"][0]
    if arch["model"] != "transformer":
        emb, g = min(d, 64), {"rnn": 1, "lstm": 4, "gru": 3}[arch["model"]] * d
        shapes = {"embedding.weight": (vocab, emb)}
        for k in range(layers):
            shapes.update({f"rnn.weight_ih_l{k}": (g, emb if k == 0 else d), f"rnn.weight_hh_l{k}": (g, d),
                           f"rnn.bias_ih_l{k}": (g,), f"rnn.bias_hh_l{k}": (g,)})
    else:
        shapes = {"tok_emb.weight": (vocab, d), "pos_emb.weight": (arch["input_shape"][0], d)}
        for k in range(layers):
            for name, shape in (("self_attn.in_proj_weight", (3 * d, d)), ("self_attn.in_proj_bias", (3 * d,)),
                                ("self_attn.out_proj.weight", (d, d)), ("self_attn.out_proj.bias", (d,)),
                                ("linear1.weight", (4 * d, d)), ("linear1.bias", (4 * d,)),
                                ("linear2.weight", (d, 4 * d)), ("linear2.bias", (d,)), ("norm1.weight", (d,)),
                                ("norm1.bias", (d,)), ("norm2.weight", (d,)), ("norm2.bias", (d,))):
                shapes[f"layers.{k}.{name}"] = shape
        shapes.update({"norm.weight": (d,), "norm.bias": (d,)})
    return {**shapes, "head.weight": (vocab, d), "head.bias": (vocab,)}


#: model kind -> {parameter name: shape} for an architecture; what check_architecture compares with the file
#: (every kind of MODEL_BUILDERS has one: tests/test_io_hostile.py builds each and compares)
PARAMETER_SHAPES = {"mlp": _parameter_shapes, "cnn": _parameter_shapes,
                    **{k: _text_parameter_shapes for k in ("rnn", "lstm", "gru", "transformer")}}


# -- the run behind `chainrule train` ------------------------------------------------------------------------

# Bounds on the options, checked before any data is loaded: a typo must not allocate gigabytes.
MAX_WIDTH, MAX_LAYERS, MAX_HIDDEN_WEIGHTS = 16384, 16, 2**25
MAX_EPOCHS, MAX_BATCH_SIZE, MAX_SEED = 10**6, 10**6, 2**32 - 1  # NumPy's seeds are 32-bit

DEFAULTS = dict(dataset="digits", model="mlp", hidden="256", epochs=30, batch_size=64, lr=3e-3,
                optimizer="adam", weight_decay=0.0, seed=0, out=None)


TEXT_DATASETS = ("fortunes", "words")  # character windows (task "language_model"), for TEXT_MODELS
CHECKS = {"text_model": "--model {model} needs a text data set ({text}), not {dataset}",
          "feature_model": "--model {model} needs a data set of features, not the text data set {dataset} "
                           "(use --model {models})"}


def model_mismatch(dataset, model):
    """Why `model` cannot train on `dataset` (a text model on features, or the reverse), or None."""
    text = dataset in TEXT_DATASETS
    if model in TEXT_MODELS and not text:
        return CHECKS["text_model"].format(model=model, text=", ".join(TEXT_DATASETS), dataset=dataset)
    if model not in TEXT_MODELS and text:
        return CHECKS["feature_model"].format(model=model, dataset=dataset, models="|".join(TEXT_MODELS))
    return None


def load_data(name, model="mlp", seed=0, max_chars=None):
    if name in TEXT_DATASETS:
        return data.load(name, seed=seed, max_chars=max_chars)
    return data.load(name, **({"flatten": model != "cnn"} if name in ("digits", "fashion_mnist") else {}),
                     **({"seed": seed} if name != "fashion_mnist" else {}))


def _task(split_task):
    return split_task if split_task in ("regression", "language_model") else "classification"


def sample_text(model, vocab, length=500, prompt="\n", temperature=1.0, seed=0, context=256):
    """`length` characters drawn from a language model after `prompt`, one at a time (softmax of the
    logits / temperature). A model with `step(ids, state)` (RecurrentLM) carries its state; any other
    is run on the last `context` characters for each new one."""
    rng = np.random.default_rng(seed)
    ids = [int(i) for i in data.encode(prompt, vocab)]
    step = getattr(model, "step", None)
    was_training, out = model.training, []
    model.eval()
    with no_grad():
        state = None
        if step is not None:
            for i in ids:
                logits, state = step([i], state)
        context = min(context, getattr(model, "max_len", context))
        for _ in range(length):
            if step is None:
                logits = model(np.asarray([ids[-context:]]))[:, -1]
            z = np.asarray(unwrap(logits), dtype=np.float64).reshape(-1) / temperature
            p = np.exp(z - z.max())
            nxt = int(rng.choice(len(p), p=p / p.sum()))
            ids.append(nxt)
            out.append(vocab[nxt])
            if step is not None:
                logits, state = step([nxt], state)
    model.train(was_training)
    return "".join(out)


def train(dataset="digits", model="mlp", hidden="256", epochs=30, batch_size=64, lr=3e-3, optimizer="adam",
          weight_decay=0.0, seed=0, out=None, progress=True, split=None, log=print, distributed=False,
          max_chars=None, device=None, compile=False):
    """Train a model on a bundled data set and write checkpoint, plot and summary into `out`.

    distributed=True: data parallel over the MPI world (world size 1 when not under mpirun). Every rank
    starts from rank 0's weights, trains on its `DistributedSampler` share with batch_size / world_size
    examples a step, and averages gradients before each step, so a step sees the same global batch of
    `batch_size` examples as a single process. Only rank 0 logs and writes files.
    A text data set (fortunes, words) trains a character-level language model (--model rnn | lstm | gru);
    the summary then reports test bits per character beside the unigram and bigram baselines, and
    `samples.txt` holds text the model wrote. max_chars keeps the first so many characters of each part.
    compile=True: the model's forward and backward run through `cr.compile` (recorded once per batch
    shape and mode, replayed after: the same numbers, faster); the summary reports the recordings.
    Returns the run summary (the dict written to summary.json).
    """
    t_start = time.perf_counter()
    comm = dist.init() if distributed else None
    world = comm.size if comm is not None else 1
    primary = comm is None or comm.rank == 0
    if batch_size % world:
        raise ValueError(f"train: --batch-size {batch_size} is not divisible by the world size {world}")
    if not primary:
        log, progress = (lambda *a, **k: None), False
    options = dict(dataset=dataset, model=model, hidden=hidden, epochs=epochs, batch_size=batch_size, lr=lr,
                   optimizer=optimizer, weight_decay=weight_decay, seed=seed, distributed=distributed,
                   **({"max_chars": max_chars} if max_chars is not None else {}))
    if compile:
        options["compile"] = True
        if device is not None and str(device) != "cpu":  # (a replay runs NumPy's fast rules)
            raise ValueError(f"train: --compile runs on NumPy arrays only, not on --device {device}")
    hidden_t = parse_hidden(hidden) if isinstance(hidden, str) else tuple(hidden)
    out = out or os.path.join("runs", f"{dataset}-{model}")
    split = split or load_data(dataset, model, seed=0, max_chars=max_chars)
    if model == "cnn" and split.image_shape is None:
        raise ValueError(f"train: --model cnn needs an image data set (digits, fashion_mnist), not {dataset}")
    if (model in TEXT_MODELS) != (split.task == "language_model"):
        raise ValueError("train: " + model_mismatch(split.name, model))
    task = _task(split.task)
    target_stats = None
    if task == "regression":
        y = np.asarray(split.train.arrays[1], dtype=np.float64)
        target_stats = (float(y.mean()), float(y.std()) or 1.0)
    num_outputs = 1 if task == "regression" else split.num_classes
    image_shape = split.image_shape if model == "cnn" else None
    arch = dict(model=model, input_shape=list(split.input_shape), num_outputs=num_outputs,
                hidden=list(hidden_t), image_shape=list(image_shape) if image_shape else None, task=task,
                dataset=split.name, target_stats=list(target_stats) if target_stats else None)
    if task == "language_model":
        arch["vocab"] = split.info["vocab"]

    seed_everything(seed)
    net = build_model(model, split.input_shape, num_outputs, hidden_t, image_shape)
    if device is not None:  # (issue 17) parameters, batches and the optimizer's state live there
        net.to(device)
    opt = make_optimizer(optimizer, net.parameters(), lr, weight_decay)
    sampler = None
    if comm is not None:
        dist.broadcast_parameters(net, comm=comm)
        opt = dist.DistributedOptimizer(opt, comm=comm)
        sampler = dist.DistributedSampler(split.train, num_replicas=world, rank=comm.rank, seed=seed)
    n_params = int(sum(p.data.size for p in net.parameters()))
    forward = record_and_replay(net) if compile else None
    log(f"chainrule train: {model} {list(hidden_t)} on {split.name} ({len(split.train)} train / "
        f"{len(split.test)} test, {n_params:,} parameters), {optimizer} lr={lr:g}, {epochs} epochs, "
        f"batch {batch_size}, seed {seed}"
        + (f", world size {world} (batch {batch_size // world} a rank)" if comm else ""))
    paths = {"checkpoint": os.path.join(out, CHECKPOINT), "plot": os.path.join(out, PLOT),
             "summary": os.path.join(out, SUMMARY)}
    if task == "language_model":
        paths["samples"] = os.path.join(out, SAMPLES)
    if primary:
        os.makedirs(out, exist_ok=True)
    saved = []  # the epochs whose checkpoint is on disk (cr.save replaces the file atomically)

    def write_summary(status, **extra):
        if not primary:  # only rank 0 writes files
            return None
        final = {k: v for k, v in saved[-1].items() if k.startswith(("train_", "test_"))} if saved else {}
        summary = {"command": "train", "status": status, **extra, "options": options, "architecture": arch,
                   "parameters": n_params,
                   "data": {"name": split.name, "train": len(split.train), "test": len(split.test),
                            "task": split.task},
                   "epochs": list(saved), "final": final, "files": paths, "world_size": world,
                   **({"compile": {"recordings": forward.recordings, "fallbacks": forward.fallbacks}}
                      if forward else {}),
                   "time_seconds": time.perf_counter() - t_start}
        summary = _strict_json(summary)
        with atomic_write(paths["summary"], "w") as f:
            json.dump(summary, f, indent=2, allow_nan=False)
        return summary

    def save_epoch(history):
        if primary:
            save_checkpoint(paths["checkpoint"], net, arch)
        saved.append(history[-1])
        write_summary("running")

    def kept():
        return f"kept epoch {saved[-1]['epoch']} in {out}" if saved else "no epoch completed, nothing saved"

    stop = StopFlag()
    try:  # no NumPy overflow warnings: a non-finite loss stops the run with one message instead
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"), _stop_on_signals(stop, comm is not None):
            fit(net, opt, split.train, split.test, task, epochs, batch_size // world, seed=seed,
                target_stats=target_stats, progress=progress, sampler=sampler, comm=comm, on_epoch=save_epoch,
                forward=forward, stop=stop)
    except TrainingStopped as e:  # (data parallel: every rank stopped at this step)
        write_summary("diverged", stopped={"reason": "non-finite training loss", "epoch": e.epoch,
                                           "step": e.step, "loss": repr(e.loss)})
        if comm is not None:
            dist.barrier(comm)  # no rank ends (and aborts the job) before rank 0 wrote its summary
        raise TrainingStopped(f"stopped: {e}; {kept()}") from None
    except KeyboardInterrupt as e:
        write_summary("interrupted", stopped={"reason": "interrupted (SIGINT or SIGTERM)"})
        if comm is not None and isinstance(e, _AgreedStop):
            dist.barrier(comm)
        raise TrainingInterrupted(f"interrupted; {kept()}") from None
    extra = _text_report(net, split, saved[-1], paths, seed, log) if task == "language_model" and primary else {}
    summary = write_summary("completed", **extra)
    if not primary:
        return None
    plot_history(saved, paths["plot"], f"{model} on {split.name}")
    log(_final_line({k: v for k, v in saved[-1].items() if k.startswith(("train_", "test_"))}, task))
    if forward is not None:
        log(f"compiled: {forward.recordings} recordings (one per batch shape and mode), replayed at every other step")
    log(f"wrote {paths['checkpoint']}, {paths['plot']}, {paths['summary']}")
    return summary


def _text_report(net, split, last, paths, seed, log):
    """Bits per character (the model's test loss / ln 2) against the n-gram baselines; samples.txt."""
    bpc = {"model": data.bits_per_char(last["test_loss"]) if "test_loss" in last else math.nan,
           **split.info["baselines"]}
    text = sample_text(net, split.info["vocab"], SAMPLE_CHARS, prompt=TEXT_PROMPTS.get(split.name, "\n"),
                       seed=seed)
    with open(paths["samples"], "w") as f:
        f.write(text)
    log(f"test bits/char: model {bpc['model']:.3f}, bigram {bpc['bigram']:.3f}, unigram {bpc['unigram']:.3f}")
    log("sample: " + text[:200].replace("\n", " | "))
    return {"bits_per_char": bpc, "sample": text}


def _strict_json(obj):
    """`obj` with every non-finite float replaced by None (JSON has no NaN or Infinity)."""
    if isinstance(obj, dict):
        return {k: _strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict_json(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _final_line(final, task):
    if task == "regression":
        return (f"final: train loss {final['train_loss']:.4f}, "
                f"test loss {final.get('test_loss', math.nan):.4f}, "
                f"test R² {final.get('test_r2', math.nan):.4f}")
    return (f"final: train loss {final['train_loss']:.4f}, train accuracy {final['train_accuracy']:.2%}, "
            f"test loss {final.get('test_loss', math.nan):.4f}, "
            f"test accuracy {final.get('test_accuracy', math.nan):.2%}")


def evaluate_checkpoint(path, dataset=None, split="test", batch_size=256):
    """Metrics of a saved model on a bundled data set's train or test part."""
    model, arch = load_checkpoint(path)
    dataset = dataset or arch["dataset"]
    ds = load_data(dataset, arch["model"])
    if arch.get("vocab") is not None and ds.info.get("vocab") != arch["vocab"]:
        raise ValueError(f"evaluate: the checkpoint's vocabulary differs from {dataset}'s")
    part = getattr(ds, split)
    if tuple(part.arrays[0].shape[1:]) != tuple(arch["input_shape"]):
        raise ValueError(f"evaluate: the checkpoint expects inputs of shape {tuple(arch['input_shape'])}, "
                         f"{dataset} gives {tuple(part.arrays[0].shape[1:])}")
    if arch["task"] == "classification" and (ds.num_classes or 0) > arch["num_outputs"]:
        raise ValueError(f"evaluate: the checkpoint has {arch['num_outputs']} outputs, {dataset} has "
                         f"{ds.num_classes} classes")
    ts = tuple(arch["target_stats"]) if arch.get("target_stats") else None
    metrics = evaluate(model, part, _task(arch["task"]), batch_size, ts)
    if arch["task"] == "language_model":
        metrics["bits_per_char"] = data.bits_per_char(metrics["loss"])
    return metrics


def parse_hidden(s):
    """'128' or '256,128' -> (256, 128): the hidden layer widths."""
    try:
        sizes = tuple(int(p) for p in str(s).split(",") if p.strip())
    except ValueError:
        raise ValueError(f"expected layer widths like 128 or 256,128, got {s!r}") from None
    if not sizes or min(sizes) < 1:
        raise ValueError(f"expected positive layer widths like 128 or 256,128, got {s!r}")
    if max(sizes) > MAX_WIDTH or len(sizes) > MAX_LAYERS:
        raise ValueError(f"expected at most {MAX_LAYERS} layer widths of at most {MAX_WIDTH}, got {s!r}")
    between = sum(a * b for a, b in zip(sizes, sizes[1:]))
    if between > MAX_HIDDEN_WEIGHTS:
        raise ValueError(f"hidden layers {s!r} would have {between:,} weights between them; "
                         f"the limit is {MAX_HIDDEN_WEIGHTS:,}")
    return sizes
