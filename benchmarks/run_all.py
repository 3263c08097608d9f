"""Run the whole benchmark suite: every ``benchmarks/<name>.py`` that defines ``main(argv)``, each in its
own subprocess (``python -m benchmarks.<name> [--quick]``), recording its wall time and exit status; the
summary table is printed and written to ``benchmarks/results/run_all.{csv,json}``, each benchmark's output
to ``benchmarks/results/<name>.log``.

Benchmarks are discovered by module, so a new ``benchmarks/<name>.py`` with a ``main`` joins the suite
without being listed anywhere. ``--quick`` passes ``--quick`` to every benchmark (the smoke-test sizes;
``--quick`` runs also keep their figures out of benchmarks/figures/).

Run ``python -m benchmarks.run_all [--quick] [--only a,b] [--skip c] [--timeout S]`` (or ``wgf bench all``).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._harness import parse_args, write_results

ROOT = Path(__file__).resolve().parent
#: Modules of benchmarks/ that are not benchmarks.
NOT_BENCHMARKS = {"run_all", "__init__", "__main__"}


def discover() -> list[str]:
    """Names of the benchmark modules: ``benchmarks/<name>.py`` (name not starting with ``_``) with a
    top-level ``def main(...)``, found by parsing (nothing is imported), sorted."""
    names = []
    for f in sorted(ROOT.glob("*.py")):
        if f.stem.startswith("_") or f.stem in NOT_BENCHMARKS:
            continue
        try:
            tree = ast.parse(f.read_text("utf-8"), filename=str(f))
        except (SyntaxError, OSError, UnicodeDecodeError):
            names.append(f.stem)  # broken: let it fail visibly in the run
            continue
        if any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body):
            names.append(f.stem)
    return names


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def run_one(name: str, quick: bool, out: Path, timeout: float | None) -> dict:
    """``python -m benchmarks.<name> [--quick] --out OUT`` in a subprocess; its output goes to
    ``OUT/<name>.log``. Returns name, status (ok / failed / timeout / skipped), exit code and wall time."""
    cmd = [sys.executable, "-m", f"benchmarks.{name}"] + (["--quick"] if quick else []) + ["--out", str(out)]
    env = dict(os.environ, PYTHONPATH=str(ROOT.parent) + os.pathsep + os.environ.get("PYTHONPATH", ""),
               PYTHONUNBUFFERED="1")
    log = out / f"{name}.log"
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        fh.write(f"$ {' '.join(cmd[1:])}\n")
        fh.flush()
        try:
            rc = subprocess.run(cmd, cwd=ROOT.parent, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                timeout=timeout).returncode
            status = "ok" if rc == 0 else "failed"
        except subprocess.TimeoutExpired:
            rc, status = -1, "timeout"
    wall = time.perf_counter() - t0
    text = log.read_text(errors="replace")
    if status == "ok" and "SKIPPED:" in text:
        status = "skipped"
    tail = [ln for ln in text.strip().splitlines() if ln.strip()][-1:] if status != "ok" else []
    return {"benchmark": name, "status": status, "exit_code": rc, "wall_s": round(wall, 2),
            "note": tail[0][:160] if tail else ""}


def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv, extra=lambda p: (
        p.add_argument("--only", help="comma-separated benchmark names to run (default: all)"),
        p.add_argument("--skip", help="comma-separated benchmark names to leave out"),
        p.add_argument("--timeout", type=float, default=None, help="seconds allowed to each benchmark"),
        p.add_argument("--list", action="store_true", help="list the benchmarks and exit")))
    names = discover()
    if args.list:
        print("\n".join(names))
        return 0
    only, skip = _split(args.only), _split(args.skip)
    unknown = [n for n in only + skip if n not in names]
    if unknown:
        print(f"run_all: unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(names)}",
              file=sys.stderr)
        return 2
    todo = [n for n in names if (not only or n in only) and n not in skip]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    rows = []
    for name in todo:
        print(f"running {name}{' --quick' if args.quick else ''} ...", flush=True)
        r = run_one(name, args.quick, out, args.timeout)
        print(f"  {r['status']} in {r['wall_s']:.1f} s", flush=True)
        rows.append(r)
    total = time.perf_counter() - t0
    meta = {"total_wall_s": round(total, 1), "total_wall_min": round(total / 60, 2),
            "benchmarks": len(rows), "failed": [r["benchmark"] for r in rows if r["status"] in ("failed", "timeout")],
            "load_average_start_end": [round(load0[0], 2), round(os.getloadavg()[0], 2)],
            "command": "python -m benchmarks.run_all" + (" --quick" if args.quick else "")}
    write_results("run_all", rows, args, meta=meta)
    return 1 if meta["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
