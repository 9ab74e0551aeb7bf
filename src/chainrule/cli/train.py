"""`chainrule train` and `chainrule evaluate`: options, checks, and the calls into `chainrule.train`."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

from .. import distributed as dist
from ..core import UsageError
from ..core.errors import TrainingInterrupted, TrainingStopped
from ..data import DATASETS
from ..ops.dtypes import check_device
from ..train import (
    DEFAULTS,
    MAX_BATCH_SIZE,
    MAX_EPOCHS,
    MAX_SEED,
    MODELS,
    OPTIMIZERS,
    TEXT_MODELS,
    blas_threads,
    evaluate_checkpoint,
    load_data,
    model_mismatch,
    parse_hidden,
    train,
)


def _positive(kind, most=None):
    def conv(s):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {s!r}") from None
        if not v > 0 or (kind is float and not math.isfinite(v)):
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {s!r}")
        if most is not None and v > most:
            raise argparse.ArgumentTypeError(f"expected at most {most:,}, got {s!r}")
        return v
    conv.__name__ = f"positive {kind.__name__}"
    return conv


def _seed(s):
    try:
        v = int(s)
    except ValueError:
        v = -1
    if not 0 <= v <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {MAX_SEED}, got {s!r}")
    return v


def _check_out(out):
    """Refuse an output folder that cannot be created or written, before anything is loaded or trained."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"chainrule train: error: --out {out} exists and is not a folder")
    existing = os.path.abspath(out)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(f"chainrule train: error: --out {out} cannot be created: {existing} is a file, "
                         f"not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"chainrule train: error: --out {out} is not writable ({existing})")


def _nonnegative_float(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {s!r}") from None
    if not (v >= 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {s!r}")
    return v


_D = "(default %(default)s)"


def _hidden(s):
    try:
        return parse_hidden(s)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def add_train_parser(sub):
    p = sub.add_parser("train", help="train a model on a bundled data set",
                       description="Train a model on a bundled data set; writes a checkpoint, a plot and a "
                                   "JSON summary into --out.")
    p.add_argument("--dataset", choices=sorted(DATASETS), default=DEFAULTS["dataset"], help=_D)
    p.add_argument("--model", choices=MODELS, default=DEFAULTS["model"], help=_D)
    p.add_argument("--hidden", type=_hidden, default=DEFAULTS["hidden"],
                   help="hidden layer widths, e.g. 256 or 256,128 (default 256); for rnn, lstm and gru the "
                        "hidden size of each recurrent layer, e.g. 128 or 128,128 (two layers)")
    p.add_argument("--epochs", type=_positive(int, MAX_EPOCHS), default=DEFAULTS["epochs"], help=_D)
    p.add_argument("--batch-size", type=_positive(int, MAX_BATCH_SIZE), default=DEFAULTS["batch_size"], help=_D)
    p.add_argument("--lr", type=_positive(float), default=DEFAULTS["lr"], help="learning rate " + _D)
    p.add_argument("--optimizer", choices=OPTIMIZERS, default=DEFAULTS["optimizer"],
                   help="sgd runs with momentum 0.9 " + _D)
    p.add_argument("--weight-decay", type=_nonnegative_float, default=DEFAULTS["weight_decay"], help=_D)
    p.add_argument("--seed", type=_seed, default=DEFAULTS["seed"], help="initialization and shuffling " + _D)
    p.add_argument("--out", default=None, help="output folder (default runs/DATASET-MODEL)")
    p.add_argument("--max-chars", type=_positive(int), default=None,
                   help="text data sets: keep only the first N characters of the train and test parts")
    p.add_argument("--threads", type=_positive(int), default=1, help="BLAS threads (default 1)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--device", default="cpu",
                   help="device to train on: cpu (NumPy, the default), cuda or cuda:N (CuPy on an NVIDIA GPU), "
                        "array_api_strict (the Array API reference namespace, for tests)")
    p.add_argument("--distributed", action="store_true",
                   help="data parallel over MPI: start with `mpirun -np N chainrule train --distributed`; "
                        "--batch-size is the global batch, split across the N ranks (world size 1 without mpirun)")
    p.add_argument("--compile", action="store_true",
                   help="record the model's forward and backward once per batch shape (cr.compile) and replay them")
    p.set_defaults(run=_cmd_train)


def _cmd_train(args):
    """Under mpirun, a rank whose run fails aborts the whole job: the other ranks would otherwise wait
    in their next collective forever (rank 0 alone writes files, so only it can fail to)."""
    if not args.distributed:
        return _cmd_train_rank(args)
    try:
        code = _cmd_train_rank(args)
    except UsageError as e:
        if not dist.in_job():
            raise
        print(f"[rank {dist.rank()}] {str(e).splitlines()[0]}", file=sys.stderr)
        code = 2
    return dist.end_rank(code)


def _cmd_train_rank(args):
    hidden = args.hidden if isinstance(args.hidden, tuple) else parse_hidden(args.hidden)
    out = args.out or os.path.join("runs", f"{args.dataset}-{args.model}")
    _check_out(out)
    if args.model == "cnn" and args.dataset not in ("digits", "fashion_mnist"):
        raise UsageError(f"chainrule train: error: --model cnn needs an image data set "
                         f"(digits, fashion_mnist), not {args.dataset}")
    mismatch = model_mismatch(args.dataset, args.model)
    if mismatch:
        raise UsageError(f"chainrule train: error: {mismatch}")
    if args.model in TEXT_MODELS and len(set(hidden)) != 1:
        raise UsageError(f"chainrule train: error: the layers of a {args.model} have one width, got --hidden "
                         f"{','.join(map(str, hidden))}")
    if args.max_chars is not None and args.max_chars < 2:
        raise UsageError("chainrule train: error: --max-chars must be at least 2")
    try:
        check_device(args.device, "chainrule train --device")
    except (RuntimeError, TypeError, ValueError) as e:
        raise UsageError(f"chainrule train: error: {e}") from None
    if args.distributed:
        try:
            world = dist.init().size
        except RuntimeError as e:
            raise UsageError(f"chainrule train: error: {e}") from None
        if args.batch_size % world:
            raise UsageError(f"chainrule train: error: --batch-size {args.batch_size} is not divisible by the "
                             f"world size {world}")
    try:
        split = load_data(args.dataset, args.model, seed=0, max_chars=args.max_chars)
    except (FileNotFoundError, ImportError) as e:
        raise UsageError(f"chainrule train: error: {str(e).splitlines()[0]}") from None
    try:
        with blas_threads(args.threads):
            train(args.dataset, args.model, ",".join(map(str, hidden)), args.epochs, args.batch_size, args.lr,
                  args.optimizer, args.weight_decay, args.seed, out, progress=not args.no_progress, split=split,
                  distributed=args.distributed, max_chars=args.max_chars, device=args.device,
                  compile=args.compile)
    except TrainingInterrupted as e:
        print(f"chainrule train: {e}", file=sys.stderr)
        return 130  # 128 + SIGINT, as a shell reports a command stopped by Ctrl-C
    except TrainingStopped as e:
        raise UsageError(f"chainrule train: {e}") from None
    except OSError as e:  # a full disk or a folder that became unwritable while training
        raise UsageError(f"chainrule train: error: cannot write into {out}: {e.strerror or e}") from None
    return 0


def add_evaluate_parser(sub):
    p = sub.add_parser("evaluate", help="evaluate a saved checkpoint on a bundled data set",
                       description="Report the loss and accuracy (or R²) of a checkpoint written by "
                                   "`chainrule train`.")
    p.add_argument("checkpoint")
    p.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                   help="default: the data set the checkpoint was trained on")
    p.add_argument("--split", choices=("test", "train"), default="test")
    p.add_argument("--batch-size", type=_positive(int), default=256)
    p.add_argument("--threads", type=_positive(int), default=1, help="BLAS threads (default 1)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(run=_cmd_evaluate)


def _cmd_evaluate(args):
    if not os.path.exists(args.checkpoint):
        raise UsageError(f"chainrule evaluate: error: no such checkpoint file: {args.checkpoint}")
    try:
        with blas_threads(args.threads):
            metrics = evaluate_checkpoint(args.checkpoint, args.dataset, args.split, args.batch_size)
    except (ValueError, ImportError, KeyError) as e:  # (CheckpointError is a ValueError)
        raise UsageError(f"chainrule evaluate: error: {str(e).splitlines()[0]}") from None
    except OSError as e:  # permissions, a vanished file, an I/O error: the system's words, one line
        raise UsageError(f"chainrule evaluate: error: cannot read {args.checkpoint}: {e.strerror or e}") from None
    if args.json:
        print(json.dumps(metrics))
    else:
        parts = [f"loss {metrics['loss']:.4f}"]
        if "accuracy" in metrics:
            parts.append(f"accuracy {metrics['accuracy']:.2%}")
        if "r2" in metrics:
            parts.append(f"R² {metrics['r2']:.4f}")
        if "bits_per_char" in metrics:
            parts.append(f"{metrics['bits_per_char']:.3f} bits/char")
        print(f"{args.split}: " + ", ".join(parts))
    return 0
