"""Real servers for the integration tests, started and stopped by the tests themselves.

* ``start_prometheus(targets)``: Debian's ``prometheus`` binary on a free loopback port,
  scraping the given ``host:port`` targets every second, with its storage in a temporary
  directory. ``.value(promql)`` reads a number back through its HTTP query API.
* ``rotel``: the OpenTelemetry collector shipped in PyPI's ``rotel==0.0.1a15`` wheel,
  receiving OTLP/HTTP on a free loopback port and printing what it received (detailed debug
  log) to a file that ``.output()`` reads.

A missing binary fails the test with the package to install; these tests never skip.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import ecs

MS = 1_000_000
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it; a tiny race is acceptable in tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# -- a workload with exact durations --------------------------------------------------------------------
@ecs.component
class Spark:
    xy: ecs.f32x2


def timed(name: str, clock: ecs.ManualClock, ns: int) -> ecs.System:
    @ecs.system(name=name, writes=(Spark,))
    def run(ctx: ecs.ExecutionContext) -> None:
        clock.advance(ns=ns)

    return run


@ecs.system(reads=(Spark,))
def fizzle(ctx: ecs.ExecutionContext) -> None:
    if ctx.tick == 1:
        raise RuntimeError("fizzled on tick 1")


@pytest.fixture
def make_scheduler() -> Callable[..., ecs.Scheduler]:
    """``make_scheduler(*observers)``: physics takes exactly 1 + 2 ms a tick; fizzle fails on tick 1."""

    def make(*observers: ecs.SchedulerObserver) -> ecs.Scheduler:
        clock = ecs.ManualClock()
        world = ecs.World(components=[Spark])
        world.spawn_batch(20, {Spark: np.zeros((20, 2))})
        b = ecs.SchedulerBuilder(world, clock=clock, workers=1)
        b.add_group("physics", [timed("move", clock, 1 * MS), timed("collide", clock, 2 * MS)])
        b.add_group("sparks", [fizzle], priority=1)
        for obs in observers:
            b.add_observer(obs)
        return b.build()

    return make


@pytest.fixture(autouse=True)
def quiet_scheduler(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("CRITICAL", logger="ecs.scheduler")


# -- Prometheus -------------------------------------------------------------------------------------------
class Prometheus:
    """A running Prometheus server and a small client for its query API."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
        self.proc = proc
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def _get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=5) as resp:
            return json.loads(resp.read())

    def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query: the result vector."""
        doc = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
        assert doc["status"] == "success", doc
        return list(doc["data"]["result"])

    def value(self, promql: str) -> float | None:
        """The single sample value of ``promql`` now, or None when it has no sample yet."""
        result = self.query(promql)
        if not result:
            return None
        assert len(result) == 1, result
        return float(result[0]["value"][1])

    def wait_for_value(self, promql: str, expected: float, timeout: float = 30.0) -> float:
        """Poll until ``promql`` equals ``expected`` (scrapes are 1 s apart)."""
        seen: list[float | None] = []

        def check() -> bool:
            v = self.value(promql)
            seen.append(v)
            return v is not None and abs(v - expected) < 1e-9

        try:
            wait_until(check, timeout, f"{promql} == {expected}", interval=0.25)
        except pytest.fail.Exception:
            pytest.fail(f"{promql}: expected {expected}, Prometheus reported {seen[-5:]}; log:\n{self.log.read_text()}")
        return expected

    def targets_up(self) -> bool:
        targets = self._get("/api/v1/targets")["data"]["activeTargets"]
        return bool(targets) and all(t["health"] == "up" for t in targets)


def prometheus_binary() -> str:
    path = shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
    if path is None:
        pytest.fail(
            "the Prometheus server is not installed: apt-get install prometheus "
            "(scripts/test.sh installs it when run as root)"
        )
    return path


@pytest.fixture
def start_prometheus(tmp_path: Path) -> Iterator[Callable[..., Prometheus]]:
    """``start_prometheus({"job": ["127.0.0.1:PORT"], ...})`` starts a server scraping those targets."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(jobs: dict[str, list[str]], metrics_path: str = "/metrics") -> Prometheus:
        binary = prometheus_binary()
        port = free_port()
        scrape = "".join(
            f"  - job_name: {job}\n"
            f"    metrics_path: {metrics_path}\n"
            "    static_configs:\n"
            f"      - targets: [{', '.join(repr(t) for t in targets)}]\n"
            for job, targets in jobs.items()
        )
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n{scrape}"
        )
        log = tmp_path / "prometheus.log"
        with log.open("wb") as log_file:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                    "--log.level=warn",
                ],
                stdout=subprocess.DEVNULL,
                stderr=log_file,
            )
        procs.append(proc)
        prom = Prometheus(proc, port, log)

        def ready() -> bool:
            if proc.poll() is not None:
                pytest.fail(f"prometheus exited with {proc.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(prom.url + "/-/ready", timeout=1) as resp:
                    return bool(resp.status == 200)
            except (urllib.error.URLError, ConnectionError):
                return False

        wait_until(ready, 30, "prometheus to become ready")
        return prom

    yield start
    for proc in procs:
        stop(proc)


# -- rotel (OTLP receiver) ---------------------------------------------------------------------------------
class Rotel:
    """A running rotel agent: ``endpoint`` for OTLP/HTTP, ``output()`` for what it printed."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, out: Path) -> None:
        self.proc = proc
        self.endpoint = f"http://127.0.0.1:{port}"
        self.port = port
        self.out = out

    def output(self) -> str:
        return _ANSI.sub("", self.out.read_text(errors="replace"))

    def wait_for(self, *needles: str, timeout: float = 30.0) -> str:
        """Poll the agent's stdout until every needle appears; returns the output."""

        def check() -> str | None:
            if self.proc.poll() is not None:
                pytest.fail(f"rotel exited with {self.proc.returncode}:\n{self.output()}")
            text = self.output()
            return text if all(n in text for n in needles) else None

        try:
            result: str = wait_until(check, timeout, f"rotel to print {needles}", interval=0.2)
        except pytest.fail.Exception:
            missing = [n for n in needles if n not in self.output()]
            pytest.fail(f"rotel never printed {missing}; its output:\n{self.output()[-4000:]}")
        return result


def rotel_binary() -> str:
    try:
        import rotel
    except ImportError:
        rotel = None
    if rotel is not None:
        candidate = Path(rotel.__file__).parent / "rotel-agent"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("rotel-agent")
    if found is None:
        pytest.fail(
            "the OTLP receiver is not installed: pip install rotel==0.0.1a15 "
            "(part of the dev extra: pip install -e '.[dev]')"
        )
    return found


@pytest.fixture
def rotel(tmp_path: Path) -> Iterator[Rotel]:
    binary = rotel_binary()
    http_port, grpc_port = free_port(), free_port()
    out = tmp_path / "rotel.out"
    with out.open("wb") as out_file:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [
                binary,
                "start",
                "--otlp-http-endpoint",
                f"127.0.0.1:{http_port}",
                "--otlp-grpc-endpoint",
                f"127.0.0.1:{grpc_port}",
                "--exporter",
                "blackhole",
                "--debug-log",
                "traces",
                "--debug-log",
                "metrics",
                "--debug-log-verbosity",
                "detailed",
                "--pid-file",
                str(tmp_path / "rotel.pid"),
                "--log-file",
                str(tmp_path / "rotel.log"),
            ],
            stdout=out_file,
            stderr=subprocess.STDOUT,
        )
    agent = Rotel(proc, http_port, out)

    def listening() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"rotel exited with {proc.returncode}:\n{agent.output()}")
        try:
            socket.create_connection(("127.0.0.1", http_port), timeout=0.5).close()
        except OSError:
            return False
        return True

    wait_until(listening, 30, "rotel to listen for OTLP/HTTP")
    yield agent
    stop(proc)
