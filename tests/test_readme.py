"""The README's promises: its first example prints what it says, and CI runs its test command."""

import contextlib
import io
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _first_python_block():
    return re.search(r"```python\n(.*?)```", README, re.S).group(1)


def test_first_example_prints_the_output_written_beside_it():
    code = _first_python_block()
    expected = [line[2:].split("  (")[0].rstrip() for line in code.splitlines() if line.startswith("# ")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    printed = out.getvalue().splitlines()
    assert printed == expected


def test_ci_runs_the_readme_test_command_verbatim():
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    test_cmd = next(b.strip() for b in blocks if "pytest" in b)
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines()


def test_readme_starts_with_the_two_commands():
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)[:2]
    assert "chainrule train" in blocks[0] and "pytest" in blocks[1]
