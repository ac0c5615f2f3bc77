"""Small modules in the core (docs/ENGINEERING.md, STYLE.md): a module of `vision_ledger/` over 400
lines says at its top why it stays whole, in a docstring line starting "Why this module is long:".
A long module without that line is asking to be split by concept.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.nodb

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400
REASON = "Why this module is long:"


def unexplained(paths: list[Path], max_lines: int = MAX_LINES) -> list[str]:
    """The modules longer than `max_lines` whose docstring has no line starting with REASON, as
    "path (N lines)"."""
    found = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines <= max_lines:
            continue
        doc = ast.get_docstring(ast.parse(text, str(path))) or ""
        if not any(line.strip().startswith(REASON) for line in doc.splitlines()):
            found.append(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({lines} lines)")
    return found


def test_a_core_module_over_400_lines_says_at_its_top_why_it_is_long():
    modules = sorted((ROOT / "vision_ledger").rglob("*.py"))
    assert modules, "no core module found"
    missing = unexplained(modules)
    assert missing == [], (f"split these by concept, or say why not in their docstring "
                           f"('{REASON} ...'): {', '.join(missing)}")


def test_the_check_finds_a_long_module_without_its_reason(tmp_path):
    body = "x = 1\n" * MAX_LINES
    silent = tmp_path / "silent.py"
    silent.write_text('"""A module."""\n' + body, encoding="utf-8")
    short = tmp_path / "short.py"
    short.write_text('"""A module."""\n' + "x = 1\n" * (MAX_LINES - 1), encoding="utf-8")
    said = tmp_path / "said.py"
    said.write_text(f'"""A module.\n\n{REASON} one table a class.\n"""\n' + body, encoding="utf-8")
    buried = tmp_path / "buried.py"  # the reason in a comment, not in the docstring, does not count
    buried.write_text(f'"""A module."""\n# {REASON} one table a class.\n' + body, encoding="utf-8")
    assert unexplained([silent, short, said, buried]) == [
        f"{silent} ({MAX_LINES + 1} lines)", f"{buried} ({MAX_LINES + 2} lines)"]
