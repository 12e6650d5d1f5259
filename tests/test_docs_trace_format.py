"""docs/trace-format.md: its python examples run, in order, and its tables match the schema."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ecs.trace import GROUP_FIELDS, PHASE_FIELDS, PHASES, RESULTS, SYSTEM_RESULTS
from ecs.trace._schema import ERROR_FIELDS, SYSTEM_RESULT_FIELDS

PAGE = Path(__file__).resolve().parent.parent / "docs" / "trace-format.md"


def blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)


def test_the_python_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = "\n\n".join(blocks("python"))
    assert code.count("\n") > 100, "the page keeps its examples"
    monkeypatch.chdir(tmp_path)
    exec(compile(code, str(PAGE), "exec", dont_inherit=True), {"__name__": "__docs__"})
    out = capsys.readouterr().out
    assert "slowest tick:" in out
    assert "['group physics', 'group spawning', 'tick', 'worker 0', 'worker 1']" in out
    assert "trace header: systems[0] must be an object, got int" in out
    assert (tmp_path / "run.chrome.json").exists()


def test_the_group_record_table_lists_the_fields_in_order() -> None:
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \|", PAGE.read_text(encoding="utf-8"), flags=re.M)
    assert [int(i) for i, _ in rows] == list(range(len(GROUP_FIELDS)))
    assert tuple(name for _, name in rows) == GROUP_FIELDS


def test_the_page_names_every_table_value() -> None:
    text = PAGE.read_text(encoding="utf-8")
    for name in (*RESULTS, *SYSTEM_RESULTS, *PHASES):
        assert f"`{name}`" in text, name
    for fields in (PHASE_FIELDS, ERROR_FIELDS, SYSTEM_RESULT_FIELDS):
        assert "[" + ", ".join(fields) + "]" in text


def test_the_example_tick_lines_are_real_json_with_the_documented_shape() -> None:
    lines = [line for b in blocks("json") for line in b.splitlines() if line.startswith('{"type":"tick"')]
    assert len(lines) == 2
    for line in lines:
        tick = json.loads(line)
        assert all(len(g) == len(GROUP_FIELDS) for g in tick["groups"])
        assert all(len(p) == len(PHASE_FIELDS) for p in tick["phases"])
