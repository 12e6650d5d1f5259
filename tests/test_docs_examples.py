"""The python examples in the user guides run, in order, as one script per page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["docs/getting-started.md", "docs/scheduling.md", "README.md"]


def python_blocks(path: Path) -> str:
    return "\n\n".join(re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S))


@pytest.mark.parametrize("page", PAGES)
def test_page_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code = python_blocks(ROOT / page)
    assert code.strip(), f"{page} has no python examples"
    monkeypatch.chdir(tmp_path)
    exec(compile(code, page, "exec", dont_inherit=True), {"__name__": "__docs__"})
