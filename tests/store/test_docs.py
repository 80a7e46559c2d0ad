"""The Python examples of docs/store.rst run (in page order, in one namespace, in tmp_path)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import List

PAGE = Path(__file__).resolve().parents[2] / "docs" / "store.rst"
_DIRECTIVE = re.compile(r"^\.\. code-block:: python\s*$")


def python_blocks(text: str) -> List[str]:
    """The dedented bodies of the page's top-level ``.. code-block:: python`` directives."""
    lines = text.splitlines()
    blocks = []
    i = 0
    while i < len(lines):
        if not _DIRECTIVE.match(lines[i]):
            i += 1
            continue
        i += 1
        body = []
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
            body.append(lines[i])
            i += 1
        blocks.append(textwrap.dedent("\n".join(body)))
    return blocks


def test_store_page_examples_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = python_blocks(PAGE.read_text(encoding="utf-8"))
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(PAGE), "exec"), namespace)
    assert "Ann" in capsys.readouterr().out
