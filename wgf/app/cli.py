"""The ``wgf`` command line (also ``python -m wgf``).

::

    wgf run CASE.toml [-o OUT.h5] [--force] [--quiet] [--allow-long]
                                                        run a case (CASE may name a bundled case)
    wgf run --resume OUT.h5 [--quiet]                   continue from the file's last checkpoint
    wgf report OUT.h5 [--no-figures]                    comparison table; figures beside the file
    wgf cases                                           list the bundled cases
    wgf sweep SWEEP.toml [-o OUT.h5] [--workers N | --scheduler ADDRESS] [--force]
                                                        independent runs on dask.distributed, merged
    wgf bench NAME [--quick] [ARGS...]                  run benchmarks/NAME.py (source checkout only);
    wgf bench all [--quick]                             the whole suite, each benchmark in a subprocess

Exit status (run, report, cases, sweep): 0 success; 2 a user error (one line on stderr naming the problem, no traceback, no output
file left behind); 130 after Ctrl-C (143 after SIGTERM) with a checkpoint written; 1 when a run blew up
(its last good state is kept in the file; the other runs still ran) or on an I/O failure. A run whose
fixed step had to be reduced to a stability bound prints one line, ``warning: run 'NAME': ...``, and goes on.
Plugin modules named in the environment variable ``WGF_PLUGINS`` are imported first
(:func:`wgf.app.cases.load_plugins`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from .. import __version__
from .cases import CaseError, bundled_cases, load_case, load_plugins
from .io import OutputFileError

__all__ = ["main"]


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit status 2 (raised, so main() returns it)
        raise _UsageError(f"{message} (see: {self.prog} --help)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="wgf", description="Wasserstein-Fisher-Rao gradient flows on the sphere: run cases, "
                "resume them, report on their output.")
    p.add_argument("--version", action="version", version=f"wgf {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    r = sub.add_parser("run", help="run a case, or resume an output file",
                       description="Run a case file (or a bundled case by name) into one HDF5 file, or "
                       "resume an interrupted one.")
    r.add_argument("case", nargs="?", metavar="CASE.toml", help="case file, or the name of a bundled case")
    r.add_argument("-o", "--output", metavar="OUT.h5", help="output file (default: <case name>.h5 here)")
    r.add_argument("--resume", metavar="OUT.h5", help="continue OUT.h5 from its last checkpoint")
    r.add_argument("--force", action="store_true", help="overwrite an existing output file")
    r.add_argument("-q", "--quiet", action="store_true", help="no progress bars or messages (errors only)")
    r.add_argument("--allow-long", action="store_true",
                   help="run a case even if its estimated work (steps times cells, particles or neurons) is "
                   "above the limit that refuses requests that cannot finish in any sensible time")
    r.set_defaults(func=_cmd_run)
    rep = sub.add_parser("report", help="print the comparison table and write the figures",
                         description="Print the comparison table of an output file and write its figures "
                         "(PNG) beside it.")
    rep.add_argument("file", metavar="OUT.h5")
    rep.add_argument("--no-figures", action="store_true", help="print the table only")
    rep.add_argument("-q", "--quiet", action="store_true", help="do not list the figures written")
    rep.set_defaults(func=_cmd_report)
    c = sub.add_parser("cases", help="list the bundled cases", description="List the bundled cases.")
    c.set_defaults(func=_cmd_cases)
    sw = sub.add_parser("sweep", help="run a parameter sweep on dask.distributed and merge the results",
                        description="Run every combination of a sweep file's parameters as an independent run "
                        "of its base case on a dask.distributed cluster (a LocalCluster by default), each into "
                        "its own HDF5 file under OUT.h5.runs/, then merge them into OUT.h5 (layout: wgf.app.sweep). "
                        "Failed runs are reported, not fatal (exit status 1); rerunning continues a sweep.")
    sw.add_argument("sweep", metavar="SWEEP.toml", help="sweep file (base case and parameters to vary)")
    sw.add_argument("-o", "--output", metavar="OUT.h5", help="merged file (default: <sweep name>.h5 here)")
    sw.add_argument("--workers", type=int, default=2, metavar="N",
                    help="LocalCluster worker processes (default 2), one thread each")
    sw.add_argument("--scheduler", metavar="ADDRESS",
                    help="address of an existing dask scheduler instead of a LocalCluster (its workers must "
                    "import wgf and see the output folder)")
    sw.add_argument("--threads-per-run", type=int, default=1, metavar="T",
                    help="Numba/BLAS threads per run (default 1: N workers use N cores)")
    sw.add_argument("--no-processes", action="store_true",
                    help="LocalCluster workers as threads of this process (small sweeps)")
    sw.add_argument("--force", action="store_true", help="overwrite OUT.h5 and rerun every run")
    sw.add_argument("-q", "--quiet", action="store_true", help="no progress messages")
    sw.set_defaults(func=_cmd_sweep)
    b = sub.add_parser("bench", help="run a benchmark (from a source checkout)",
                       description="Run benchmarks/NAME.py (its main) with the given arguments, or the whole "
                       "suite with NAME = all (each benchmark in its own subprocess, a summary table in "
                       "benchmarks/results/). The benchmarks are not installed with the package: this works "
                       "from a source checkout (the benchmarks/ folder beside wgf/).")
    b.add_argument("name", nargs="?", metavar="NAME", help="benchmark module name, or 'all'")
    b.add_argument("args", nargs=argparse.REMAINDER, metavar="ARGS",
                   help="arguments of the benchmark, e.g. --quick")
    b.add_argument("--list", action="store_true", help="list the benchmarks")
    b.set_defaults(func=_cmd_bench)
    return p


def _err(msg: str) -> None:
    print(f"wgf: error: {msg}", file=sys.stderr)


def _resolve_case(name: str) -> Path:
    p = Path(name)
    if p.exists() or p.suffix == ".toml" or "/" in name or "\\" in name:
        return p
    for stem, path, _ in bundled_cases():
        if stem == name:
            return path
    return p


def _cmd_run(args) -> int:
    from .controller import Controller

    out: Path | None = None  # the output file, once it exists
    try:
        if args.resume is not None:
            if args.case is not None:
                raise _UsageError("give either CASE.toml or --resume OUT.h5, not both")
            if args.output is not None or args.force or args.allow_long:
                raise _UsageError("--resume continues the file it names: -o, --force and --allow-long do not "
                                  "apply")
            ctl = Controller.resume(args.resume, quiet=args.quiet)
        else:
            if args.case is None:
                raise _UsageError("run needs CASE.toml (or --resume OUT.h5)")
            path = _resolve_case(args.case)
            try:
                case = load_case(path)
            except CaseError as exc:
                raise CaseError(f"{path}: {exc}") from None
            target = Path(args.output) if args.output is not None else Path(f"{case.name}.h5")
            if target.exists() and path.exists() and target.resolve() == path.resolve():
                raise OutputFileError(f"the output file {target} is the case file itself")
            try:
                ctl = Controller.new(case, target, force=args.force, quiet=args.quiet,
                                     allow_long=args.allow_long)
            except CaseError as exc:
                raise CaseError(f"{path}: {exc}") from None
        out = ctl.path
        outcome = ctl.run()
    except KeyboardInterrupt:  # before the run loop handles Ctrl-C, or a second Ctrl-C
        if out is not None and out.exists():
            _err(f"aborted; {out} keeps its last checkpoint\nresume with: wgf run --resume {out}")
        else:
            _err("aborted")
        return 130
    if outcome.status in ("completed", "nothing"):
        if not args.quiet:
            print(outcome.message, file=sys.stderr)
    else:
        for f in outcome.failures:
            if f not in ctl.reported:  # a blow-up of this invocation was printed when it happened
                print(f"wgf: {f}", file=sys.stderr)
        print(f"wgf: {outcome.message}", file=sys.stderr)
    return outcome.exit_code


def _cmd_report(args) -> int:
    from .report import report

    text, figures = report(args.file, figures=not args.no_figures)
    print(text)
    if not args.quiet:
        for f in figures:
            print(f"wrote {f}", file=sys.stderr)
    return 0


def _cmd_cases(args) -> int:
    cases = bundled_cases()
    if not cases:
        print("no bundled cases found (they live in solvers/ of a source checkout, in wgf/_bundled/solvers of an "
              "installed wheel)", file=sys.stderr)
        return 0
    width = max(len(c[0]) for c in cases)
    for stem, path, title in cases:
        print(f"{stem.ljust(width)}  {title}")
    return 0


def _cmd_sweep(args) -> int:
    from .sweep import load_sweep, run_sweep

    sweep = load_sweep(args.sweep)
    out = Path(args.output) if args.output is not None else Path(f"{sweep.name}.h5")
    if args.scheduler is not None and (args.no_processes or args.workers != 2):
        raise _UsageError("--scheduler uses the workers of the existing cluster: --workers and --no-processes "
                          "do not apply")
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        _err("wgf sweep needs dask.distributed: pip install 'dask[distributed]' (or wgf[sweep])")
        return 2
    result = run_sweep(sweep, out, workers=args.workers, scheduler=args.scheduler,
                       processes=not args.no_processes, threads_per_run=args.threads_per_run, force=args.force,
                       quiet=args.quiet)
    for rec in result.failed:
        print(f"wgf: run {rec['run']} {rec['status']}: {rec['message']}", file=sys.stderr)
    return result.exit_code


def _benchmarks_dir() -> Path:
    d = Path(__file__).resolve().parents[2] / "benchmarks"
    if not (d / "_harness.py").is_file():
        raise _UsageError("the benchmarks are not installed with the package: run wgf bench from a source "
                          "checkout of wgf (the benchmarks/ folder beside wgf/)")
    return d


def _cmd_bench(args) -> int:
    import importlib

    d = _benchmarks_dir()
    if str(d.parent) not in sys.path:
        sys.path.insert(0, str(d.parent))
    run_all = importlib.import_module("benchmarks.run_all")
    names = run_all.discover()
    if args.list or args.name is None:
        if args.name is None and not args.list:
            raise _UsageError("bench needs a benchmark NAME (or 'all'; --list lists them)")
        print("\n".join(["all"] + names))
        return 0
    if args.name == "all":
        return int(run_all.main(list(args.args)) or 0)
    if args.name not in names:
        raise _UsageError(f"no benchmark named {args.name!r}; available: all, {', '.join(names)}")
    mod = importlib.import_module(f"benchmarks.{args.name}")
    try:
        rc = mod.main(list(args.args))
    except SystemExit as exc:  # the benchmark's own argument parser (--help, a bad flag)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    return rc if isinstance(rc, int) else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``wgf``; returns the exit status."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        _err(str(exc))
        return 2
    except SystemExit as exc:  # --help, --version
        return int(exc.code or 0) if not isinstance(exc.code, str) else 2
    try:
        load_plugins()
        return args.func(args)
    except _UsageError as exc:
        _err(str(exc))
        return 2
    except (CaseError, OutputFileError) as exc:
        _err(str(exc))
        return 2
    except KeyboardInterrupt:
        _err("aborted")
        return 130
    except OSError as exc:
        _err(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        return 1
