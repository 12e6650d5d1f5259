"""The ecs-trace command, called in-process through main([...]) and once as the installed script."""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import pstats
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ecs.cli import main
from ecs.cli._report import diff_rows, format_table
from ecs.cli._run import UsageError, check_output_path, load_factory, parse_options
from ecs.trace import MAX_LINE_BYTES, LiveStreamServer, TraceRecorder, group_stats, load_trace
from ecs.trace._net import parse_address

from . import _factories
from ._factories import create_scheduler

REPO = Path(__file__).resolve().parent.parent
FACTORY = "tests._factories:create_scheduler"


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trace_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "run.trace.jsonl"
    sched = create_scheduler(seed=4, fail_at=(5,))
    sched.add_observer(TraceRecorder(path))
    with sched:
        sched.run(30, 1 / 60)
        sched.mark("done")
    return path


def damaged(tmp_path: Path, trace_file: Path) -> Path:
    raw = trace_file.read_bytes()
    path = tmp_path / "cut.trace.jsonl"
    path.write_bytes(raw[: len(raw) // 2] + b"\ngarbage\n")
    return path


# -- run ---------------------------------------------------------------------------------------------------
def test_run_records_a_trace_and_prints_its_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_path = tmp_path / "run.trace.jsonl.gz"
    code, out, err = run_cli(
        capsys, "run", FACTORY, "--ticks", "25", "--dt", "0.016", "--seed", "3", "--out", str(out_path), "--plain"
    )
    assert code == 0, err
    assert f"ran 25 ticks of {FACTORY}" in out
    assert f"trace: {out_path}" in out
    for name in ("physics", "spawn", "fragile", "analysis", "move", "bounce"):
        assert name in out
    data = load_trace(out_path)
    assert len(data) == 25 and data.complete
    assert data.tick_dt.tolist() == [0.016] * 25


def test_run_json_output_and_factory_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", "tests._factories", "--ticks", "10", "--option", "fail_at=[2, 4]", "--option", "entities=7"]
    code, out, _ = run_cli(capsys, *args, "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["run"]["ticks"] == 10 and doc["run"]["failure"] is None
    groups = {g["name"]: g for g in doc["summary"]["groups"]}
    assert groups["fragile"]["errors"] == 2
    assert doc["summary"]["ticks"]["ticks"] == 10
    assert doc["summary"]["ticks"]["errors"] == 2


def test_run_also_exports_chrome_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chrome = tmp_path / "run.json"
    code, out, _ = run_cli(capsys, "run", FACTORY, "--ticks", "5", "--chrome", str(chrome), "--plain")
    assert code == 0
    assert f"chrome trace: {chrome}" in out
    assert json.loads(chrome.read_text())["traceEvents"]


def test_run_under_cprofile(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prof = tmp_path / "run.prof"
    code, out, _ = run_cli(capsys, "run", FACTORY, "--ticks", "5", "--cprofile", str(prof), "--plain")
    assert code == 0 and f"profile: {prof}" in out
    stats = pstats.Stats(str(prof), stream=io.StringIO())
    assert any("tick" in func[2] for func in stats.stats)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("name", "marker"), [("p.html", "<html"), ("p.txt", "Recorded"), ("p.json", "speedscope")])
def test_run_under_pyinstrument(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, marker: str) -> None:
    out_file = tmp_path / name
    code, _, err = run_cli(
        capsys, "run", FACTORY, "--ticks", "20", "--profile", "pyinstrument", "--profile-out", str(out_file), "--plain"
    )
    assert code == 0, err
    assert marker in out_file.read_text()


def test_run_serves_prometheus_metrics_while_it_runs(capsys: pytest.CaptureFixture[str]) -> None:
    _factories.HOLD.clear()
    result: dict[str, int] = {}
    args = ["run", FACTORY, "--ticks", "10", "--option", "hold_at=5", "--metrics", "0", "--plain"]
    t = threading.Thread(target=lambda: result.setdefault("code", main(args)))
    t.start()
    try:
        seen = ""
        deadline = time.monotonic() + 20
        while "metrics on " not in seen and time.monotonic() < deadline:
            time.sleep(0.01)
            seen += capsys.readouterr().out
        url = seen.split("metrics on ", 1)[1].split()[0]
        with urllib.request.urlopen(url, timeout=10) as response:
            body = response.read().decode()
    finally:
        _factories.HOLD.set()
        t.join(30)
    assert result["code"] == 0
    assert "ecs_" in body and 'group="physics"' in body


def test_run_stops_at_a_tick_error_and_still_summarises(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(
        capsys, "run", FACTORY, "--ticks", "10", "--option", "fail_at=[3]", "--option", "abort=true", "--plain"
    )
    assert code == 1
    assert "ran 3 ticks" in out
    assert "stopped early: TickError" in out
    assert "ticks 4 (0..3)" in out, "the aborted tick is in the trace"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("no_such_module_anywhere", "no such module"),
        ("tests._factories:nope", "has no 'nope'"),
        ("tests._factories:not_a_factory", "returned dict, not an ecs.Scheduler"),
        (":create_scheduler", "no module"),
        ("tests._factories:Pos.__doc__", "is not callable"),
    ],
)
def test_run_explains_a_bad_target(capsys: pytest.CaptureFixture[str], target: str, message: str) -> None:
    code, _, err = run_cli(capsys, "run", target, "--ticks", "1")
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_run_serves_the_stream_on_a_named_host(capsys: pytest.CaptureFixture[str]) -> None:
    # a host given on the command line is consent enough, as for the demos' --stream
    code, out, err = run_cli(capsys, "run", FACTORY, "--ticks", "2", "--stream", "0.0.0.0:0", "--plain")
    assert code == 0, err
    assert "streaming on 0.0.0.0:" in out


def test_run_shows_the_traceback_of_a_failing_factory(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "run", "tests._factories:broken_factory")
    assert code == 1
    assert "the factory tests._factories:broken_factory raised" in err
    assert "RuntimeError: the factory failed on purpose" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--option", "no-equals"], "KEY=VALUE"),
        (["--stream", "host:notaport"], "not an address"),
        (["--stream", "notaport"], "not an address"),
        (["--ticks", "-1"], "--ticks must be >= 0"),
        (["--metrics", "127.0.0.1:99999"], "port out of range"),
        (["--seed", "-1"], "--seed must be >= 0, got -1"),
        (["--dt", "nan"], "--dt must be a finite number of seconds >= 0, got nan"),
        (["--dt", "-0.1"], "--dt must be"),
        (["--stream-wait", "-1"], "--stream-wait must be a finite number of seconds >= 0"),
        (["--out", "/nonexistent/run.trace.jsonl"], "--out: the directory /nonexistent does not exist"),
        (["--out", "/tmp"], "--out: /tmp is a directory; give a file name"),
        (["--chrome", "/nonexistent/x.json"], "--chrome: the directory /nonexistent does not exist"),
        (["--chrome", "/tmp"], "--chrome: /tmp is a directory"),
        (["--cprofile", "/tmp"], "--cprofile: /tmp is a directory"),
        (
            ["--profile", "cprofile", "--profile-out", "/nonexistent/p.prof"],
            "--profile-out: the directory /nonexistent does not exist",
        ),
        (["--chrome", "bad\0name.json"], "--chrome: cannot write bad\0name.json: embedded null byte"),
        pytest.param(
            ["--out", "/proc/x.jsonl"],
            "--out: cannot write /proc/x.jsonl",
            marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs /proc"),
        ),
    ],
)
def test_run_rejects_bad_options_before_building_anything(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, extra: list[str], message: str
) -> None:
    built: list[object] = []
    monkeypatch.setattr(_factories, "create_scheduler", lambda **kw: built.append(kw))
    code, _, err = run_cli(capsys, "run", FACTORY, "--ticks", "1", *extra)
    assert code == 2 and message in err and "Traceback" not in err
    assert built == []  # refused before the factory ran


def test_checking_an_output_path_leaves_no_file_and_changes_none(tmp_path: Path) -> None:
    new, old = tmp_path / "new.json", tmp_path / "old.json"
    old.write_text("kept")
    assert check_output_path("--chrome", str(new)) is None and not new.exists()
    assert check_output_path("--out", str(old)) is None and old.read_text() == "kept"


def test_load_factory_and_parse_options() -> None:
    assert load_factory("tests._factories") is create_scheduler
    assert parse_options(["n=3", "name=boids", "xs=[1,2]", "flag=true"]) == {
        "n": 3,
        "name": "boids",
        "xs": [1, 2],
        "flag": True,
    }
    with pytest.raises(UsageError):
        parse_options(["1x=2"])


def test_a_module_that_fails_to_import_shows_its_own_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "broken_mod_for_cli.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        load_factory("broken_mod_for_cli")
    assert str(tmp_path) not in sys.path, "the working directory is importable only while loading"


# -- summary, export, validate, diff -------------------------------------------------------------------------
def test_summary_json_matches_group_stats(trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "summary", str(trace_file), "--json")
    assert code == 0
    doc = json.loads(out)
    stats = group_stats(load_trace(trace_file))
    assert [g["name"] for g in doc["groups"]] == [g.name for g in stats]
    assert [g["count"] for g in doc["groups"]] == [g.count for g in stats]
    assert [g["p95_ms"] for g in doc["groups"]] == [g.p95_ms for g in stats]
    assert doc["ticks"]["ticks"] == 30 and doc["ticks"]["complete"] is True and doc["ticks"]["marks"] == 1
    assert {s["name"] for s in doc["systems"]} == {"move", "bounce", "spawner", "fragile", "analyse"}
    assert doc["warnings"] == []


def test_summary_prints_plain_tables(trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "summary", str(trace_file), "--plain")
    assert code == 0
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("group "))
    expected = "group mode count mean ms p50 ms p95 ms p99 ms max ms skipped not run errors"
    assert header.split() == expected.split()
    fragile = next(line for line in lines if line.startswith("fragile ") and "sync" in line)
    assert fragile.split()[2] == "30" and fragile.split()[-1] == "1"
    assert "ticks 30 (0..29)" in out and "complete" in out


def test_summary_prints_rich_tables(trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "summary", str(trace_file))
    assert code == 0
    assert "┃ group" in out and "physics" in out and "analysis" in out


def test_summary_of_a_damaged_trace_summarises_its_prefix(
    tmp_path: Path, trace_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(capsys, "summary", str(damaged(tmp_path, trace_file)), "--plain")
    assert code == 0
    assert "is damaged; using what could be read" in err
    assert "not valid JSON" in err
    assert "cut short" in out
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no ecs-trace header"),
        (b"hello world\n", "no ecs-trace header"),
        (b'{"type": "tick", "tick": 0}\n', "not an ecs-trace file"),
        (b'{"type":"header","schema":"ecs-trace","version":[2,0],"groups":[],"systems":[]}\n', "newer than this"),
        (gzip.compress(b"\n" * 10)[:12], "no ecs-trace header"),
    ],
)
@pytest.mark.parametrize("command", ["summary", "validate", "export"])
def test_unreadable_files_get_a_message_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str, command: str
) -> None:
    path = tmp_path / "bad.trace"
    path.write_bytes(content)
    extra = ["--chrome", str(tmp_path / "o.json")] if command == "export" else []
    code, _, err = run_cli(capsys, command, str(path), *extra)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


#: Headers whose tables crashed every command with a traceback (a fuzzing report), and the
#: message each now gets: (change to the header, message).
BAD_HEADERS: dict[str, tuple[Any, str]] = {
    "systems[0]=5": (lambda h: h["systems"].__setitem__(0, 5), "trace header: systems[0] must be an object, got int"),
    "groups[0]=[]": (lambda h: h["groups"].__setitem__(0, []), "trace header: groups[0] must be an object, got list"),
    "order=[1]": (
        lambda h: h["groups"][0].__setitem__("order", [1]),
        "trace header: groups[0].order must be an int, got list",
    ),
}


def bad_header_file(tmp_path: Path, trace_file: Path, case: str) -> Path:
    lines = trace_file.read_bytes().splitlines(keepends=True)
    header = json.loads(lines[0])
    BAD_HEADERS[case][0](header)
    path = tmp_path / "bad-header.trace.jsonl"
    path.write_bytes(json.dumps(header).encode() + b"\n" + b"".join(lines[1:]))
    return path


@pytest.mark.parametrize("case", list(BAD_HEADERS))
@pytest.mark.parametrize("command", ["summary", "validate", "export", "diff"])
def test_a_header_with_a_bad_table_entry_is_named_and_exits_2(
    tmp_path: Path, trace_file: Path, capsys: pytest.CaptureFixture[str], case: str, command: str
) -> None:
    path = bad_header_file(tmp_path, trace_file, case)
    extra = {"export": ["--chrome", str(tmp_path / "o.json")], "diff": [str(trace_file)]}.get(command, [])
    code, out, err = run_cli(capsys, command, str(path), *extra)
    assert code == 2
    assert f"cannot {'export' if command == 'export' else 'read'} {path}: {BAD_HEADERS[case][1]}" in err
    assert "Traceback" not in err
    assert not (tmp_path / "o.json").exists() and out == ""


def test_a_bad_header_gets_no_traceback_from_python_m_ecs_cli(tmp_path: Path, trace_file: Path) -> None:
    path = bad_header_file(tmp_path, trace_file, "systems[0]=5")
    # cwd=REPO: `python -m` imports the ecs of this checkout
    done = subprocess.run(
        [sys.executable, "-m", "ecs.cli", "summary", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env=script_env(),
    )
    assert done.returncode == 2
    assert done.stderr == f"ecs-trace: cannot read {path}: {BAD_HEADERS['systems[0]=5'][1]}\n"


def test_a_missing_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "summary", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "cannot read" in err


def test_validate_an_intact_trace(trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "validate", str(trace_file))
    assert code == 0
    assert out.startswith(f"{trace_file}: ok; 30 ticks")


def test_validate_lists_damage_and_exits_1(
    tmp_path: Path, trace_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_cli(capsys, "validate", str(damaged(tmp_path, trace_file)))
    assert code == 1
    assert "damaged;" in out
    assert "  - line" in out and "no end record" in out


def test_validate_survives_a_huge_line(tmp_path: Path, trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = trace_file.read_bytes().splitlines(keepends=True)
    path = tmp_path / "huge.jsonl"
    with open(path, "wb") as f:
        f.write(lines[0] + lines[1])
        f.write(b'{"type":"tick","junk":"' + b"x" * (MAX_LINE_BYTES + 1024) + b'"}\n')
        f.write(b"".join(lines[2:]))
    code, out, _ = run_cli(capsys, "validate", str(path))
    assert code == 1
    assert f"longer than {MAX_LINE_BYTES} bytes; skipped" in out
    assert "damaged; 30 ticks readable" in out


def test_run_shows_a_progress_bar_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    code = main(["run", FACTORY, "--ticks", "40", "--plain"])
    assert code == 0
    assert "ticks" in term.getvalue()
    assert "ran 40 ticks" in capsys.readouterr().out


def test_validate_flags_ticks_that_go_backwards(
    tmp_path: Path, trace_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = trace_file.read_bytes().splitlines(keepends=True)
    path = tmp_path / "twice.jsonl"
    path.write_bytes(lines[0] + lines[3] + lines[2] + lines[-1])
    code, out, _ = run_cli(capsys, "validate", str(path))
    assert code == 1
    assert "tick numbers do not increase" in out


def test_export_chrome_both_spellings(tmp_path: Path, trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    code, out, _ = run_cli(capsys, "export", str(trace_file), "--chrome", str(a))
    assert code == 0 and f"to {a}" in out and "(30 ticks)" in out
    code, _, _ = run_cli(capsys, "export", str(trace_file), "--format", "chrome", "-o", str(b))
    assert code == 0
    assert a.read_bytes() == b.read_bytes()
    code, _, err = run_cli(capsys, "export", str(trace_file))
    assert code == 2 and "--chrome OUT.json" in err
    code, _, _ = run_cli(capsys, "export", str(trace_file), "--chrome", str(b), "--speedscope")
    assert code == 0
    assert all("args" not in e for e in json.loads(b.read_text())["traceEvents"] if e["ph"] == "X")


def test_export_of_a_damaged_trace_warns(tmp_path: Path, trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "export", str(damaged(tmp_path, trace_file)), "--chrome", str(tmp_path / "o.json"))
    assert code == 0
    assert "warning:" in err
    assert json.loads((tmp_path / "o.json").read_text())["traceEvents"]


def test_diff_compares_two_captures(tmp_path: Path, trace_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    other = tmp_path / "other.jsonl"
    with create_scheduler(seed=4, with_async=False) as sched:
        sched.run_with_trace(other, ticks=12, dt=0.1)
    code, out, _ = run_cli(capsys, "diff", str(trace_file), str(other), "--json")
    assert code == 0
    doc = json.loads(out)
    rows = {r[0]: r for r in doc["rows"]}
    assert rows["physics"][1:3] == ["30", "12"]
    assert rows["analysis"][5] == "removed" and rows["analysis"][2] == "-"
    code, out, _ = run_cli(capsys, "diff", str(trace_file), str(other), "--plain")
    assert code == 0 and "A = " in out and "count A" in out


def test_diff_of_an_unreadable_capture_exits_2(
    tmp_path: Path, trace_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b"nope\n")
    code, _, err = run_cli(capsys, "diff", str(trace_file), str(bad))
    assert code == 2 and "cannot read" in err


# -- tail --------------------------------------------------------------------------------------------------
def test_tail_prints_one_line_per_tick(capsys: pytest.CaptureFixture[str]) -> None:
    sched = create_scheduler(with_async=False, fail_at=(1,))
    server = LiveStreamServer(port=0)
    sched.add_observer(server)
    result: dict[str, int] = {}
    t = threading.Thread(target=lambda: result.setdefault("code", main(["tail", server.address, "--ticks", "3"])))
    t.start()
    deadline = time.monotonic() + 10
    while server.stats.clients == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    sched.mark("go", level=2)
    sched.run(5, 0.1)
    t.join(10)
    sched.close()
    out, _ = capsys.readouterr()
    assert result["code"] == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"following {server.address}: world 'world', groups physics, spawn, fragile")
    assert lines[1] == "mark 'go' at tick 0 {'level': 2}"
    ticks = [line for line in lines if line.startswith("tick ")]
    assert [int(line.split()[1]) for line in ticks] == [0, 1, 2]
    assert "physics " in ticks[0] and " ms" in ticks[0] and "entities" in ticks[0]
    assert "fragile errored" in ticks[1] and "errors 1" in ticks[1]


def test_tail_until_the_end_of_the_stream(capsys: pytest.CaptureFixture[str]) -> None:
    sched = create_scheduler(with_async=False)
    server = LiveStreamServer(port=0, status_interval=0.01)
    sched.add_observer(server)
    result: dict[str, int] = {}
    t = threading.Thread(target=lambda: result.setdefault("code", main(["tail", str(server.port)])))
    t.start()
    deadline = time.monotonic() + 10
    while server.stats.clients == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    sched.run(2, 0.1)
    sched.close()
    t.join(10)
    out, _ = capsys.readouterr()
    assert result["code"] == 0
    assert out.splitlines()[-1] == "end of stream after 2 ticks"


def test_tail_errors(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here once closed
    code, _, err = run_cli(capsys, "tail", f"127.0.0.1:{port}")
    assert code == 2 and "cannot follow" in err
    code, _, err = run_cli(capsys, "tail", "localhost:http")
    assert code == 2 and "not an address" in err
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        code, _, err = run_cli(capsys, "tail", f"127.0.0.1:{listener.getsockname()[1]}", "--timeout", "0.2")
    finally:
        listener.close()
    assert code == 2 and "cannot follow" in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["1", "--timeout", "-1"], "ecs-trace tail: --timeout must be a number of seconds > 0 and <= 86400, got -1.0"),
        (["1", "--timeout", "0"], "--timeout must be .* got 0.0"),
        (["1", "--timeout", "nan"], "--timeout must be .* got nan"),
        (["1", "--timeout", "inf"], "--timeout must be .* got inf"),
        (["1", "--timeout", "1e300"], "--timeout must be .* got 1e\\+300"),
        (["1", "--ticks", "0"], "ecs-trace tail: --ticks must be >= 1, got 0"),
        (["a..b:80"], "ecs-trace tail: not a host name in 'a..b:80'"),
        (["x" * 300 + ":80"], "ecs-trace tail: not a host name in 'x+:80'"),
        (["localhost:0"], "ecs-trace tail: port out of range in 'localhost:0'"),
        (["1:99999"], "ecs-trace tail: port out of range"),
    ],
)
def test_tail_refuses_unusable_input_without_a_traceback(
    capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code, out, err = run_cli(capsys, "tail", *extra)
    assert code == 2 and re.search(message, err) and "Traceback" not in err and out == ""


def test_tail_reports_a_stream_that_turns_to_garbage_after_its_header(capsys: pytest.CaptureFixture[str]) -> None:
    from ecs.trace import Encoder

    sched = create_scheduler(with_async=False)
    header = json.dumps(Encoder(sched.info).header()).encode() + b"\n"
    sched.close()
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):  # the client hangs up after the garbage run
            conn.recv(4096)
            conn.sendall(header + b"\x00\xffnot json\n" * 500)
        listener.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    code, out, err = run_cli(capsys, "tail", f"127.0.0.1:{listener.getsockname()[1]}", "--timeout", "10")
    t.join(10)
    assert code == 1 and "Traceback" not in err
    assert "ecs-trace tail: 127.0.0.1:" in err and "unreadable lines in a row" in err
    assert out.startswith("following")


def test_tail_reports_a_silent_stream_after_the_header(capsys: pytest.CaptureFixture[str]) -> None:
    sched = create_scheduler(with_async=False)
    server = LiveStreamServer(port=0, status_interval=60)
    sched.add_observer(server)
    code, out, err = run_cli(capsys, "tail", server.address, "--timeout", "0.3")
    sched.close()
    assert code == 1 and "sent nothing for 0.3 s" in err
    assert out.startswith("following")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7777", ("127.0.0.1", 7777)),
        (":7777", ("127.0.0.1", 7777)),
        ("localhost:80", ("localhost", 80)),
        ("[::1]:9000", ("::1", 9000)),
        ("10.0.0.2:0", ("10.0.0.2", 0)),
    ],
)
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["", "host:", "host:99999", "a:b:c"])
def test_parse_address_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)


# -- helpers and the installed script ----------------------------------------------------------------------
def test_format_table_aligns_text_left_and_numbers_right() -> None:
    text = format_table(["name", "n"], [["a", "1"], ["long name", "100"]])
    assert text.splitlines() == ["name         n", "---------  ---", "a            1", "long name  100"]


def test_diff_rows_mark_added_and_removed_groups(trace_file: Path) -> None:
    stats = group_stats(load_trace(trace_file))
    rows = diff_rows(stats[:2], stats[1:3])
    assert [r[0] for r in rows] == [stats[0].name, stats[1].name, stats[2].name]
    assert rows[0][5] == "removed" and rows[2][5] == "added" and rows[1][5] in ("+0.0%", "n/a")


def test_help_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "summary" in out and "validate" in out
    code, _, err = run_cli(capsys)
    assert code == 2 and "COMMAND" in err
    code, _, _ = run_cli(capsys, "export", "x", "--format", "svg")
    assert code == 2


def script_env() -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def test_the_installed_console_script(trace_file: Path) -> None:
    script = Path(sys.executable).parent / "ecs-trace"
    assert script.exists(), "the package is installed with its console script (pip install -e .)"
    done = subprocess.run(
        [str(script), "validate", str(trace_file)], capture_output=True, text=True, timeout=60, env=script_env()
    )
    assert done.returncode == 0, done.stderr
    assert "ok; 30 ticks" in done.stdout
    done = subprocess.run(
        [str(script), "run", FACTORY, "--ticks", "3", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env=script_env(),
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["run"]["ticks"] == 3


def test_run_streams_to_a_tail_in_another_process(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["run", FACTORY, "--ticks", "40", "--stream", "0", "--stream-wait", "30", "--json"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "ecs.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=script_env(),
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("streaming on 127.0.0.1:")
        address = first.split()[-1]
        code, out, _ = run_cli(capsys, "tail", address, "--ticks", "40", "--timeout", "30")
        assert code == 0
        assert len([x for x in out.splitlines() if x.startswith("tick ")]) == 40
    finally:
        rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(rest)["run"]["ticks"] == 40


def test_run_factory_keyword_error_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(capsys, "run", FACTORY, "--option", "bogus=1")
    assert code == 1
    assert "unexpected keyword argument 'bogus'" in err


def test_python_m_ecs_cli_is_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ecs.cli", "--help"], capture_output=True, text=True, timeout=60, env=script_env()
    )
    assert done.returncode == 0 and done.stdout.startswith("usage: ecs-trace")
