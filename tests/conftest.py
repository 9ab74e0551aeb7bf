"""Shared test setup."""

import os

# `print(tr)` fits $COLUMNS; tests compare full tables, so a shell's COLUMNS must not leak in
# (removed for the whole session: tests that monkeypatch.undo() would otherwise restore it).
os.environ.pop("COLUMNS", None)
