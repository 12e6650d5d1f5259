"""docs/observability.md: its python examples run, in order, as one script; its configs are valid.

The OTLP example reads ``OTEL_EXPORTER_OTLP_ENDPOINT``; the test points it at a local stand-in
collector and checks that the example's metrics and spans arrived.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_metrics import OtlpSink

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "observability.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), flags=re.S)


def test_the_python_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = "\n\n".join(blocks("python"))
    assert code.count("\n") > 100, "the guide lost its examples"
    sink = OtlpSink()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.url)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    ecs_logger = logging.getLogger("ecs")
    saved = (list(root.handlers), root.level, list(ecs_logger.handlers), ecs_logger.level)
    try:
        exec(compile(code, str(PAGE), "exec", dont_inherit=True), {"__name__": "__docs__"})
    finally:
        sink.close()
        ecs_logger.handlers[:], ecs_logger.level = saved[2], saved[3]
        root.handlers[:], root.level = saved[0], saved[1]
    printed = capsys.readouterr().out
    assert "level=debug logger=ecs.groups" in printed
    assert "RuntimeError: offside" in printed
    assert re.search(r"^ecs_ticks_total\{.*\} 120\.0$", printed, flags=re.M)
    assert "ecs debug profile: ticks" in printed and "(30 ticks" in printed
    assert "dump-00000199.trace.jsonl.gz | hitches so far:" in printed
    # the OTLP example really exported: metrics and one traced tick in 60 (ticks 0 and 60)
    assert "ecs.group.duration" in sink.metric_names()
    assert sink.span_names().count("ecs.tick") == 2


def check_prometheus_config(yaml_blocks: list[str], tmp_path: Path) -> None:
    """The one scrape config among ``yaml_blocks`` passes Debian's ``promtool check config``."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: apt-get install prometheus")
    (config,) = [b for b in yaml_blocks if "scrape_configs" in b]
    path = tmp_path / "prometheus.yml"
    path.write_text(config)
    result = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_prometheus_config_is_valid(tmp_path: Path) -> None:
    check_prometheus_config(blocks("yaml"), tmp_path)


def test_every_public_telemetry_name_is_documented() -> None:
    text = PAGE.read_text()
    for name in (
        "MetricsObserver",
        "LoggingObserver",
        "JsonFormatter",
        "KeyValueFormatter",
        "configure_logging",
        "prometheus_observer",
        "serve_prometheus",
        "otlp_observer",
        "serve_debug",
        "signoz-ingestion-key",
        "/debug/vars",
        "/debug/profile",
        "FlightRecorder",
    ):
        assert name in text, name
