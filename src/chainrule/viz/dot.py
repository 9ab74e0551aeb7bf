"""A Trace as Graphviz DOT text (no dependency), and SVG / files through Graphviz's `dot`."""
def to_dot(tr, rankdir="LR"):
    return "digraph trace {\n}\n"
