"""Shared test setup."""

import pytest


@pytest.fixture(autouse=True)
def _no_terminal_width(monkeypatch):
    # `print(tr)` fits $COLUMNS; tests compare full tables, so a shell's COLUMNS must not leak in.
    monkeypatch.delenv("COLUMNS", raising=False)
