"""The ``>>>`` examples of README.md and docs/*.md run and print what the text says.

Each ```python fenced block that holds ``>>>`` lines is a doctest; the blocks of
one file share one namespace, in order, as a reader runs them.
"""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks(text: str) -> list[tuple[int, str]]:
    """(line number, body) of every python block with ``>>>`` lines."""
    return [
        (text[: m.start()].count("\n") + 2, m.group(1))
        for m in FENCE.finditer(text)
        if ">>>" in m.group(1)
    ]


def test_the_fence_reader_finds_examples():
    text = "x\n```python\n>>> 1 + 1\n2\n```\n```bash\n>>> no\n```\n```python\nno prompt\n```\n"
    assert _blocks(text) == [(3, ">>> 1 + 1\n2\n")]


def _has_examples(page: Path) -> bool:
    return page.exists() and bool(_blocks(page.read_text(encoding="utf-8")))


def test_the_readme_and_the_format_page_have_examples():
    assert _has_examples(ROOT / "README.md") and _has_examples(ROOT / "docs" / "format.md")


@pytest.mark.parametrize("page", [p for p in PAGES if _has_examples(p)], ids=lambda p: p.name)
def test_examples_of_the_page_run(page):
    blocks = _blocks(page.read_text(encoding="utf-8"))
    if any("rlemask_models" in body or "import torch" in body for _, body in blocks):
        pytest.importorskip("torch")
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    namespace: dict = {}
    report: list[str] = []
    for line, body in blocks:
        test = parser.get_doctest(body, namespace, f"{page.name}:{line}", str(page), line - 1)
        runner.run(test, out=report.append, clear_globs=False)
        namespace = test.globs
    failed, attempted = runner.summarize(verbose=False)
    assert attempted > 0
    assert failed == 0, "".join(report)
