"""The `chainrule` command (also `python -m chainrule`).

    chainrule                 print the lecture's worked examples with their gradients
    chainrule examples        the same
    chainrule explain ...     trace the backward pass of an expression (see trace.py)
    chainrule train ...       train a model on a bundled data set
    chainrule evaluate ...    evaluate a saved checkpoint

Bad options and arguments end with a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys


class UsageError(Exception):
    """A bad option or argument: printed as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: error: {message}")


def _cmd_examples(args):
    from .lecture import print_examples

    print_examples()
    return 0


def build_parser():
    p = _Parser(prog="chainrule", description="Backpropagation on computational graphs, node by node.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    ex = sub.add_parser("examples", help="print the lecture's worked examples with their gradients")
    ex.set_defaults(run=_cmd_examples)
    for add in _SUBCOMMANDS:
        add(sub)
    return p


# Each entry adds one subcommand (parser + `run`); the implementations live in their own modules.
_SUBCOMMANDS = []


def _add_train(sub):
    from .train import add_evaluate_parser, add_train_parser

    add_train_parser(sub)
    add_evaluate_parser(sub)


_SUBCOMMANDS.append(_add_train)


def _add_explain(sub):
    from .trace import add_explain_command

    add_explain_command(sub)


_SUBCOMMANDS.append(_add_explain)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        run = getattr(args, "run", _cmd_examples)
        return run(args) or 0
    except UsageError as e:
        print(str(e).splitlines()[0], file=sys.stderr)
        return 2
    except BrokenPipeError:  # `chainrule | head`: the reader left; that is not an error
        sys.stderr = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
