"""Shared test setup."""

import os
import shutil

import pytest

from browsing import ARGS, CHROMIUM

# `print(tr)` fits $COLUMNS; tests compare full tables, so a shell's COLUMNS must not leak in
# (removed for the whole session: tests that monkeypatch.undo() would otherwise restore it).
os.environ.pop("COLUMNS", None)


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Playwright), one per test module."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip(f"chromium is not installed at {CHROMIUM}")
    pw = sync_api.sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    except Exception as e:  # a broken or missing browser is an environment problem, not a failure here
        pw.stop()
        pytest.skip(f"chromium did not start: {str(e).splitlines()[0]}")
    yield b
    b.close()
    pw.stop()
