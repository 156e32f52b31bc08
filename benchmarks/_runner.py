"""Shared runner for the benchmark scripts: timing, results CSV, README table, ``--json``.

A benchmark script builds a list of case functions, each returning a dict with at least
``name``, ``native_s``, ``ngspice_s``, ``ratio`` and ``max_abs_diff_V``, and calls :func:`main`.
The runner prints each case's line as soon as the case finishes (on stderr with ``--json``, whose
stdout is one JSON object ``{"benchmark", "date", "hardware", "cases": [...]}``). Only with
``--record`` does it write ``benchmarks/results/<benchmark>.csv`` and refresh the benchmark's
table in ``benchmarks/README.md`` (between ``<!-- <benchmark>:start -->`` and
``<!-- <benchmark>:end -->``) with the date and hardware: tracked files change only on request.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["RESULTS_DIR", "hardware", "main", "timed"]

HERE = Path(__file__).resolve().parent
RESULTS_DIR = HERE / "results"
"""Where ``<benchmark>.csv`` files are written."""

README = HERE / "README.md"


def hardware() -> str:
    """One line describing the CPU, core count and Python/numpy versions."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import numpy
    import scipy

    return (
        f"{model}, {os.cpu_count()} logical cores, Python {platform.python_version()}, "
        f"numpy {numpy.__version__}, scipy {scipy.__version__}"
    )


def timed(function: Callable[[], Any], repeat: int = 1) -> tuple[float, Any]:
    """Best wall-clock time [s] of ``repeat`` calls, and the last call's result."""
    best = float("inf")
    result = None
    for _ in range(max(1, repeat)):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(
    benchmark: str,
    cases: Sequence[Callable[[argparse.Namespace], dict[str, Any]]],
    argv: Sequence[str] | None = None,
    *,
    description: str = "",
    extra: Callable[[argparse.ArgumentParser], None] | None = None,
) -> int:
    """Run ``cases``, record them, print a table or JSON; returns the exit code."""
    parser = argparse.ArgumentParser(prog=f"benchmarks/{benchmark}.py", description=description)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument(
        "--case", action="append", default=None, help="run only this case (repeatable)"
    )
    parser.add_argument(
        "--record",
        action="store_true",
        help="write benchmarks/results/<benchmark>.csv and the README table (tracked files)",
    )
    if extra is not None:
        extra(parser)
    args = parser.parse_args(argv)
    selected = [
        case for case in cases if not args.case or case.__name__.removeprefix("case_") in args.case
    ]
    results = []
    for case in selected:
        row = case(args)
        results.append(row)
        print(_line(row), file=sys.stderr if args.json else sys.stdout, flush=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = hardware()
    if args.record:
        _write_csv(benchmark, results, stamp, machine)
        _write_readme(benchmark, stamp, machine)
    if args.json:
        json.dump(
            {"benchmark": benchmark, "date": stamp, "hardware": machine, "cases": results},
            sys.stdout,
        )
        sys.stdout.write("\n")
    return 0


def _line(row: dict[str, Any]) -> str:
    if "epoch_s" in row:
        spice = row["ngspice_epoch_s"]
        versus = (
            "ngspice not run"
            if spice is None
            else (f"ngspice {spice:.4g} s  ratio {_ratio(row['ratio'])}x")
        )
        return (
            f"{row['name']:<16} epoch {row['epoch_s']:.4g} s ({row['samples']} samples)  {versus}  "
            f"peak {row['peak_rss_MiB']:.0f} MiB  conducting "
            f"{row['hidden_conducting_fraction']:.2f}  Newton {row['newton_iterations']:.2f}"
        )
    return (
        f"{row['name']:<20} native {row['native_s']:.4g} s  ngspice {row['ngspice_s']:.4g} s  "
        f"ratio {_ratio(row['ratio'])}x  max |dV| {row['max_abs_diff_V']:.3g} V"
    )


def _maybe(text: str, style: str) -> str:
    """A CSV cell as a number, or "—" when the case did not measure it."""
    if text in ("", "None"):
        return "—"
    return f"{_ratio(float(text))}×" if style == "ratio" else format(float(text), style)


def _ratio(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _write_csv(benchmark: str, results: list[dict[str, Any]], stamp: str, machine: str) -> None:
    """Write the cases run now into the CSV, keeping the rows of cases not run this time."""
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{benchmark}.csv"
    rows = {row["name"]: {"date": stamp, "hardware": machine, **row} for row in results}
    if path.exists():
        with open(path, newline="") as handle:
            kept = [r for r in csv.DictReader(handle) if r.get("name") not in rows]
        rows = {r["name"]: r for r in kept} | rows
    keys: list[str] = []
    for row in rows.values():
        keys += [k for k in row if k not in keys]
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=keys)
        writer.writeheader()
        for row in rows.values():
            writer.writerow(row)


def _write_readme(benchmark: str, stamp: str, machine: str) -> None:
    """Refresh the benchmark's README table from its CSV (every case, each with its own date)."""
    start, end = f"<!-- {benchmark}:start -->", f"<!-- {benchmark}:end -->"
    with open(RESULTS_DIR / f"{benchmark}.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    epoch = all(row.get("epoch_s") for row in rows)
    lines = [start, f"Last run: {stamp} on {machine}.", ""]
    if epoch:
        lines += [
            "| case | date | samples | epoch [s] | ngspice epoch [s] | ratio | peak RSS [MiB] | "
            "conducting | Newton its | goal | notes |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in rows:
            lines.append(
                f"| {row['name']} | {row['date']} | {row['samples']} | "
                f"{float(row['epoch_s']):.4g} | {_maybe(row['ngspice_epoch_s'], '.4g')} | "
                f"{_maybe(row['ratio'], 'ratio')} | {float(row['peak_rss_MiB']):.0f} | "
                f"{float(row['hidden_conducting_fraction']):.2f} | "
                f"{float(row['newton_iterations']):.2f} | {row.get('goal', '')} | "
                f"{row.get('notes', '')} |"
            )
    else:
        lines += [
            "| case | date | native [s] | ngspice [s] | ratio | goal | max abs diff [V] | notes |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for row in rows:
            lines.append(
                f"| {row['name']} | {row['date']} | {float(row['native_s']):.4g} | "
                f"{float(row['ngspice_s']):.4g} | {_ratio(float(row['ratio']))}× | "
                f"{row.get('goal', '')} | {float(row['max_abs_diff_V']):.2g} | "
                f"{row.get('notes', '')} |"
            )
    lines.append(end)
    block = "\n".join(lines)
    text = (
        README.read_text()
        if README.exists()
        else f"# Benchmarks\n\n## {benchmark}\n\n{start}\n{end}\n"
    )
    if start not in text:
        text += f"\n## {benchmark}\n\n{start}\n{end}\n"
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1] if end in rest else ""
    README.write_text(head + block + tail)
