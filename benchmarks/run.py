"""Run every benchmark and report: ``python -m benchmarks.run [--quick] [--write-docs]``.

Each ``benchmarks/bench_*.py`` module exposes ``run(quick: bool = False) -> list[dict]``, one
dict per result row (see ``_common.make_row``). This runner:

* runs each module in its own child process (a crash, a missing display or a failed import
  in one module is reported and the others still run; memory from a million-entity esper
  world does not linger into the next module), under ``xvfb-run`` when there is no display;
* computes the ratio columns: **vs numpy** is how many times raw numpy's cost ours is (1.0 =
  as fast as raw numpy; lower is better) and **vs esper** is how many times better than
  esper we are (higher is better); for rows where a bigger number is better (speed-ups,
  frames per second) the ratios are turned around so they read the same way;
* prints a table, and with ``--write-docs`` writes ``benchmarks/results.json``,
  ``docs/benchmarks.md`` and the plot ``docs/images/benchmarks.png``.

``--from-json benchmarks/results.json --write-docs`` re-renders the docs without re-running;
``--only core scheduler`` runs a subset (names without the ``bench_`` prefix).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results.json"
DOC = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "images" / "benchmarks.png"
#: Modules run first, in this order; any other bench_*.py follows alphabetically.
PREFERRED = ("core", "scheduler", "observers", "snapshot")
HIGHER_IS_BETTER_UNITS = ("fps",)
LOWER_IS_BETTER_UNITS = ("ms", "us", "s", "bytes")
MODULE_TIMEOUT = 1800


def discover() -> list[str]:
    names = sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    return [n for n in PREFERRED if n in names] + [n for n in names if n not in PREFERRED]


# -- one module, in the child process ---------------------------------------------------------------
def run_module(name: str, quick: bool) -> dict[str, Any]:
    """Import and run ``benchmarks.bench_<name>``; never raises."""
    started = time.perf_counter()
    try:
        module = importlib.import_module(f"benchmarks.bench_{name}")
    except Exception as exc:  # noqa: BLE001 - a module that cannot import is reported, not fatal
        return {"module": name, "status": "import failed", "error": f"{type(exc).__name__}: {exc}", "rows": []}
    try:
        rows = module.run(quick=quick)
    except Exception as exc:  # noqa: BLE001 - a failing module is reported and the others still run
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return {
            "module": name,
            "status": "failed",
            "error": f"{type(exc).__name__}: {exc} (raised at {Path(where.filename).name}:{where.lineno})",
            "traceback": traceback.format_exc(limit=8),
            "rows": [],
        }
    for row in rows:
        row.setdefault("module", name)
    return {"module": name, "status": "ok", "seconds": time.perf_counter() - started, "rows": rows}


def run_in_child(name: str, quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "benchmarks.run", "--module", name, "--module-out", str(out)]
        if quick:
            cmd.append("--quick")
        if not os.environ.get("DISPLAY") and shutil.which("xvfb-run"):
            cmd = ["xvfb-run", "-a", "-s", "-screen 0 1280x720x24", *cmd]
        started = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=MODULE_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            return {"module": name, "status": "failed", "error": f"timed out after {MODULE_TIMEOUT} s", "rows": []}
        if out.exists():
            result: dict[str, Any] = json.loads(out.read_text())
            return result
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-5:]
        return {
            "module": name,
            "status": "failed",
            "error": f"exit code {proc.returncode} after {time.perf_counter() - started:.0f} s: " + " | ".join(tail),
            "rows": [],
        }


# -- ratios -----------------------------------------------------------------------------------------
def higher_is_better(row: dict[str, Any]) -> bool:
    if "higher_is_better" in row:
        return bool(row["higher_is_better"])
    return row.get("unit") in HIGHER_IS_BETTER_UNITS


def add_ratios(row: dict[str, Any]) -> dict[str, Any]:
    ours, esper, numpy = row.get("ours"), row.get("esper"), row.get("numpy")
    up = higher_is_better(row)
    row["vs_numpy"] = None
    row["vs_esper"] = None
    if ours and numpy:
        row["vs_numpy"] = numpy / ours if up else ours / numpy
    if ours and esper:
        row["vs_esper"] = ours / esper if up else esper / ours
    return row


# -- printing ---------------------------------------------------------------------------------------
def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "bytes":
        if abs(value) >= 1e6:
            return f"{value / 1e6:,.1f} MB"
        return f"{value / 1e3:,.1f} kB" if abs(value) >= 1e4 else f"{value:,.1f} B"
    mag = abs(value)
    if mag >= 100:
        text = f"{value:,.0f}"
    elif mag >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}" if mag >= 0.1 else f"{value:.3g}"
    return f"{text} {unit}" if unit and unit != "x" else (f"{text}x" if unit == "x" else text)


def ratio_text(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}x" if value >= 100 else f"{value:.2f}x"


def met_text(met: bool | None) -> str:
    return "yes" if met is True else "**no**" if met is False else "-"


def print_table(results: dict[str, Any]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        for row in results["rows"]:
            print(row["area"], row["scenario"], fmt(row["ours"], row["unit"]), row.get("target"), row.get("met"))
    else:
        table = Table(title="ecs benchmarks", show_lines=False)
        for col in ("area", "scenario", "ours", "esper", "numpy", "vs numpy", "vs esper", "target", "met"):
            table.add_column(col, overflow="fold")
        for row in results["rows"]:
            table.add_row(
                row["area"],
                row["scenario"],
                fmt(row["ours"], row["unit"]),
                fmt(row.get("esper"), row["unit"]),
                fmt(row.get("numpy"), row["unit"]),
                ratio_text(row.get("vs_numpy")),
                ratio_text(row.get("vs_esper")),
                row.get("target") or "",
                met_text(row.get("met")).replace("*", ""),
            )
        Console(width=200).print(table)
    for mod in results["modules"]:
        if mod["status"] != "ok":
            print(f"module {mod['module']}: {mod['status']}: {mod.get('error', '')}", file=sys.stderr)


# -- main -------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats, esper at smaller sizes")
    parser.add_argument("--write-docs", action="store_true", help="write results.json, docs/benchmarks.md and the plot")
    parser.add_argument("--only", nargs="*", metavar="NAME", help="run only these modules (core, scheduler, ...)")
    parser.add_argument("--from-json", type=Path, help="render from a results file instead of running")
    parser.add_argument("--module", help=argparse.SUPPRESS)
    parser.add_argument("--module-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.module:  # child mode: run one module, write its result
        result = run_module(args.module, args.quick)
        args.module_out.write_text(json.dumps(result))
        return 0

    from ._common import machine

    if args.from_json:
        results = json.loads(args.from_json.read_text())
    else:
        names = discover()
        if args.only:
            unknown = sorted(set(args.only) - set(names))
            if unknown:
                parser.error(f"no benchmark module(s) {unknown}; known: {names}")
            names = [n for n in names if n in args.only]
        modules = []
        for name in names:
            print(f"running bench_{name} ...", file=sys.stderr, flush=True)
            mod = run_in_child(name, args.quick)
            if mod["status"] != "ok":
                # One retry, recorded: a virtual display or GL context that fails to start on a
                # shared machine should not drop a whole module from the report.
                first = mod.get("error", mod["status"])
                print(f"  bench_{name}: {first}; retrying once", file=sys.stderr, flush=True)
                mod = run_in_child(name, args.quick)
                mod["retried_after"] = first
            modules.append(mod)
            status = mod["status"] if mod["status"] != "ok" else f"ok in {mod.get('seconds', 0):.0f} s"
            print(f"  bench_{name}: {status} {mod.get('error', '')}", file=sys.stderr, flush=True)
        rows = [add_ratios(row) for mod in modules for row in mod["rows"]]
        results = {"machine": machine(), "quick": args.quick, "modules": modules, "rows": rows}
    print_table(results)
    if args.write_docs:
        from .report import write_docs

        if not args.from_json:
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
        write_docs(results, DOC, PLOT)
        print(f"wrote {DOC.relative_to(ROOT)} and {PLOT.relative_to(ROOT)}", file=sys.stderr)
    failed = [m for m in results["modules"] if m["status"] != "ok"]
    return 1 if failed and not results["rows"] else 0


if __name__ == "__main__":
    sys.exit(main())
