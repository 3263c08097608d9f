"""Shared plumbing of the benchmarks: command-line flags, machine description, median timings, and
writing each benchmark's table (printed, CSV and JSON under ``benchmarks/results/``) and figure
(``benchmarks/figures/``, committed only when benchmarks/README.md shows it).

A benchmark module defines ``main(argv=None)`` that calls :func:`parse_args`, measures, and ends with
:func:`write_results`; ``--quick`` selects sizes small enough for a smoke test.
"""

from __future__ import annotations

import argparse
import csv
import datetime as _dt
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
FIGURES = ROOT / "figures"


def parse_args(description: str, argv: Sequence[str] | None = None,
               extra: Callable[[argparse.ArgumentParser], None] | None = None) -> argparse.Namespace:
    """Flags every benchmark accepts: ``--quick`` (smoke-test sizes) and ``--out DIR`` (results folder)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the CSV/JSON results")
    if extra is not None:
        extra(parser)
    return parser.parse_args(argv)


def machine_info() -> dict[str, Any]:
    """Processor, core count, Python/NumPy/Numba versions and the date, recorded beside every result."""
    import numba

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "numba_threads": numba.get_num_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "date": _dt.date.today().isoformat(),
    }


def time_median(fn: Callable[[], Any], repeat: int = 7, warmup: int = 1, min_time: float = 0.0) -> float:
    """Median wall time in seconds of ``fn()`` over ``repeat`` runs after ``warmup`` untimed ones.

    With ``min_time > 0`` each timed sample loops ``fn`` until at least ``min_time`` seconds have passed and
    reports the time per call (for calls too short to time singly)."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeat):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= min_time:
                break
        samples.append(elapsed / n)
    return statistics.median(samples)


def fitted_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log(y) against log(x) (a convergence order or a cost exponent)."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows of equal keys as a Markdown table (floats to 4 significant digits)."""
    if not rows:
        return "(no rows)"
    keys = list(rows[0])

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |" for r in rows]
    return "\n".join(lines)


def write_results(name: str, rows: list[dict[str, Any]], args: argparse.Namespace,
                  meta: dict[str, Any] | None = None, figure=None) -> dict[str, Path]:
    """Print the table and write ``<out>/<name>.csv``, ``<out>/<name>.json`` (rows, machine, meta, quick
    flag) and, if given, the matplotlib ``figure`` as ``benchmarks/figures/<name>.png`` (``<out>`` for
    ``--quick`` runs, so that smoke tests never touch the committed figures). Returns the paths written."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = {"benchmark": name, "quick": bool(args.quick), "machine": machine_info(), "meta": meta or {},
            "rows": rows}
    print(f"## {name}{' (quick)' if args.quick else ''}")
    print(format_table(rows))
    if meta:
        for k, v in meta.items():
            print(f"- {k}: {v}")
    paths = {"json": out / f"{name}.json", "csv": out / f"{name}.csv"}
    paths["json"].write_text(json.dumps(info, indent=2, default=float))
    if rows:
        with open(paths["csv"], "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    if figure is not None:
        fig_dir = out if args.quick else FIGURES
        fig_dir.mkdir(parents=True, exist_ok=True)
        paths["figure"] = fig_dir / f"{name}.png"
        figure.savefig(paths["figure"], dpi=110, bbox_inches="tight")
    return paths


def skip(name: str, reason: str, args: argparse.Namespace) -> None:
    """Record that benchmark ``name`` did not run, and why: prints ``SKIPPED: <name>: <reason>`` (which
    ``benchmarks.run_all`` reports as "skipped") and writes ``<out>/<name>.json`` with the reason."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(f"SKIPPED: {name}: {reason}")
    (out / f"{name}.json").write_text(json.dumps({"benchmark": name, "quick": bool(args.quick),
                                                  "skipped": reason, "machine": machine_info()}, indent=2))
