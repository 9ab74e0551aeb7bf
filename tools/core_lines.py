"""Count the code lines of chainrule's core: `python tools/core_lines.py`.

A code line is a physical line that holds part of a statement, other than a docstring: blank
lines, comment-only lines and docstrings (the string statement at the top of a module, class or
function) are not counted. The core is every module in `src/chainrule/core/`.
"""

from __future__ import annotations

import ast
import io
import pathlib
import sys
import tokenize

CORE = pathlib.Path(__file__).resolve().parents[1] / "src" / "chainrule" / "core"
LIMIT = 600


def docstring_lines(tree):
    """Line numbers covered by docstrings."""
    lines = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(
                    first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def code_lines(path):
    text = pathlib.Path(path).read_text(encoding="utf-8")
    skip = docstring_lines(ast.parse(text))
    lines = set()
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                        tokenize.ENDMARKER):
            continue
        lines.update(range(tok.start[0], tok.end[0] + 1))
    return len(lines - skip)


def count(root=CORE):
    return {p.name: code_lines(p) for p in sorted(pathlib.Path(root).glob("*.py"))}


def main():
    counts = count()
    for name, n in counts.items():
        print(f"{name:16s} {n:4d}")
    total = sum(counts.values())
    print(f"{'core/ in all':16s} {total:4d}  (limit {LIMIT})")
    return 0 if total <= LIMIT else 1


if __name__ == "__main__":
    sys.exit(main())
