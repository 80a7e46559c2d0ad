"""Run the Python examples of the ORM documentation pages.

Every ``.. code-block:: python`` of a page runs, in page order, in one namespace and in a fresh
directory, so the pages cannot drift from the library: an example that stops working (or an
``assert`` in it that stops holding) fails here.
"""

from __future__ import annotations

import re
import sys
import textwrap
import types
from pathlib import Path
from typing import List

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ["orm-indexes.rst", "orm-timeseries.rst", "orm-best-practices.rst"]

_DIRECTIVE = re.compile(r"^(\s*)\.\. code-block:: python\s*$")


def python_blocks(text: str) -> List[str]:
    """The dedented bodies of the page's ``.. code-block:: python`` directives, in order."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        match = _DIRECTIVE.match(lines[i])
        i += 1
        if not match:
            continue
        indent = len(match.group(1))
        while i < len(lines) and lines[i].strip().startswith(":"):  # directive options
            i += 1
        body = []
        while i < len(lines):
            line = lines[i]
            if line.strip() and len(line) - len(line.lstrip()) <= indent:
                break
            body.append(line)
            i += 1
        blocks.append(textwrap.dedent("\n".join(body)).strip("\n") + "\n")
    return blocks


def test_python_blocks_finds_indented_bodies_only():
    page = "Intro\n\n.. code-block:: python\n\n   x = 1\n\n   y = x\n\nText\n\n.. code-block:: sh\n\n   ls\n"
    assert python_blocks(page) == ["x = 1\n\ny = x\n"]


@pytest.mark.parametrize("page", PAGES)
def test_page_has_python_examples(page):
    assert python_blocks((DOCS / page).read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    # a real (temporary) module, so dataclasses and pickle can find the page's classes
    module = types.ModuleType(f"docs_{page.replace('-', '_').replace('.', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    try:
        for number, block in enumerate(python_blocks((DOCS / page).read_text(encoding="utf-8"))):
            exec(compile(block, f"{page} (python block {number + 1})", "exec"), namespace)
    finally:
        db = namespace.get("db")
        if db is not None and getattr(db, "is_open", False):
            db.close()
