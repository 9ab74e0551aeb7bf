"""The `chainrule` command (also `python -m chainrule`).

    chainrule                 print the lecture's worked examples with their gradients
    chainrule examples        the same
    chainrule explain ...     trace the backward pass of an expression (see explain.py)
    chainrule train ...       train a model on a bundled data set
    chainrule evaluate ...    evaluate a saved checkpoint

Bad options and arguments end with a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..core import UsageError
from ..lecture import print_examples
from .explain import add_explain_command
from .train import add_evaluate_parser, add_train_parser


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: error: {message}")


def _cmd_examples(args):
    print_examples()
    return 0


def build_parser():
    p = _Parser(prog="chainrule", description="Backpropagation on computational graphs, node by node.")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)
    ex = sub.add_parser("examples", help="print the lecture's worked examples with their gradients")
    ex.set_defaults(run=_cmd_examples)
    add_train_parser(sub)
    add_evaluate_parser(sub)
    add_explain_command(sub)
    return p


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
        run = getattr(args, "run", _cmd_examples)
        return run(args) or 0
    except UsageError as e:
        print(str(e).splitlines()[0], file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C outside a training loop (which saves and reports by itself)
        print("chainrule: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `chainrule | head`: the reader left; that is not an error
        sys.stderr = open(os.devnull, "w")
        return 0


if __name__ == "__main__":
    sys.exit(main())
