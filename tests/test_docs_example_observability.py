"""docs/examples/observability.md: the end-to-end recipe runs as written.

Its Python runs as one script in a temporary directory, with a local stand-in OTLP collector
behind ``OTEL_EXPORTER_OTLP_ENDPOINT`` and a free Prometheus port; then the page's trace
commands (``ecs-trace summary``, ``ecs-trace export``, ``ecs-profiler``) run on the trace it
recorded, through the installed console scripts.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ecs.trace import load_trace
from tests.test_chrome_export import validate
from tests.test_docs_observability import check_prometheus_config
from tests.test_metrics import OtlpSink

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "examples" / "observability.md"
BIN = Path(sys.executable).parent

SUMMARY = "ecs-trace summary boids.trace.jsonl.gz"
EXPORT = "ecs-trace export boids.trace.jsonl.gz --format chrome -o boids.chrome.json.gz"
PROFILER = "ecs-profiler boids.trace.jsonl.gz"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("example")


def script(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed next to {sys.executable}: pip install -e .")
    return str(path)


def test_the_game_runs_with_every_observer_wired(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (code,) = ["\n\n".join(blocks("python"))]
    sink = OtlpSink()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.url)
    monkeypatch.setenv("GAME_METRICS_PORT", "0")
    monkeypatch.chdir(run_dir)
    monkeypatch.syspath_prepend(str(ROOT))  # "from the repository root": demos is importable
    ecs_logger = logging.getLogger("ecs")
    saved = (list(ecs_logger.handlers), ecs_logger.level)
    try:
        exec(compile(code, str(PAGE), "exec", dont_inherit=True), {"__name__": "__docs__"})
    finally:
        sink.close()
        ecs_logger.handlers[:], ecs_logger.level = saved
    out, err = capsys.readouterr()
    assert re.search(r"^metrics at http://127\.0\.0\.1:\d+/metrics$", out, flags=re.M)
    # JSON lines with GELF fields: each group once a second (ticks 0, 60, ..., 540)
    records = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    routine = [r for r in records if r.get("_logger") == "ecs.groups"]
    assert {(r["_tick"], r["_group"]) for r in routine} == {
        (t, g) for t in range(0, 600, 60) for g in ("movement", "analysis")
    }
    assert all(r["version"] == "1.1" and r["level"] == 6 and r["short_message"] for r in routine)
    workers = {r.get("_worker") for r in routine if r["_group"] == "analysis"}
    assert workers and all(isinstance(w, int) and w >= 0 for w in workers)  # the async group says where it ran
    # SigNoz's side: metrics and one tick in 60 as a span tree, without system spans
    assert {"ecs.tick.duration", "ecs.group.duration"} <= set(sink.metric_names())
    spans = sink.span_names()
    assert spans.count("ecs.tick") == 10 and spans.count("ecs.group:movement") == 10
    assert not any(name.startswith("ecs.system:") for name in spans)
    # the trace: every tick, complete
    data = load_trace(run_dir / "boids.trace.jsonl.gz")
    assert data.complete and len(data.tick) == 600 and not data.warnings


def test_the_trace_commands_run_on_the_recorded_trace(run_dir: Path) -> None:
    text = PAGE.read_text()
    for command in (SUMMARY, EXPORT, PROFILER):
        assert command in text, f"the page no longer shows {command!r}"
    if not (run_dir / "boids.trace.jsonl.gz").exists():
        pytest.fail("the game example did not leave its trace (it runs first)")

    def run(command: str, *extra: str) -> subprocess.CompletedProcess[str]:
        name, *args = command.split()
        return subprocess.run(
            [script(name), *args, *extra], cwd=run_dir, capture_output=True, text=True, timeout=120, check=False
        )

    summary = run(SUMMARY)
    assert summary.returncode == 0, summary.stderr
    lines = summary.stdout.splitlines()
    assert lines[0] == "trace boids.trace.jsonl.gz: world 'boids', schema 1.1, complete"
    assert lines[1].startswith("ticks 600 (0..599), span ")
    for name in ("movement", "analysis", "steer", "move", "analyse"):
        assert re.search(rf"│ {name} +│ .*│ +600 │", summary.stdout), name

    export = run(EXPORT)
    assert export.returncode == 0, export.stderr
    assert "(600 ticks)" in export.stdout
    with gzip.open(run_dir / "boids.chrome.json.gz", "rt") as f:
        doc = json.load(f)
    validate(doc)
    names = {e["args"]["name"] for e in doc["traceEvents"] if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"group movement", "worker 0"} <= names

    shot = run(PROFILER, "--frames", "5", "--screenshot", "profiler.png")
    assert shot.returncode == 0, shot.stderr
    assert (run_dir / "profiler.png").stat().st_size > 10_000


def test_the_prometheus_config_is_valid(tmp_path: Path) -> None:
    check_prometheus_config(blocks("yaml"), tmp_path)
