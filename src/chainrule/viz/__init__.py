"""Seeing the backward flow: `explain` and its `Trace`, shown as a text table, Graphviz DOT/SVG, or
one self-contained interactive HTML page."""

from .explain import Trace, explain
from .table import Comparison, compare

__all__ = ["Trace", "explain", "Comparison", "compare"]
