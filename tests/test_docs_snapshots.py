"""docs/snapshots.md is executable: its Python blocks run in order and do what the text says."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "snapshots.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_every_python_block_of_the_snapshot_guide_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    assert len(blocks) >= 8
    monkeypatch.chdir(tmp_path)  # the guide saves level3.ecsnap in the current directory
    namespace: dict[str, object] = {"__name__": "docs_snapshots"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for i, block in enumerate(blocks):
            code = compile(block, f"{DOC.name}[block {i}]", "exec", dont_inherit=True)  # no __future__ of ours
            exec(code, namespace)  # running the documentation's own examples is the test
    printed = out.getvalue()
    # The errors the guide shows are the errors the library raises.
    assert "is damaged (its checksum does not match)" in printed
    assert "component Name holds Python objects (field 'value') and has no codec" in printed
    assert "only in the world: ['Health']" in printed
    assert (tmp_path / "level3.ecsnap").stat().st_size > 0
