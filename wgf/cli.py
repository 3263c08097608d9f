"""The ``wgf`` command line (also ``python -m wgf``).

::

    wgf run CASE.toml [-o OUT.h5] [--force] [--quiet]   run a case (CASE may name a bundled case)
    wgf run --resume OUT.h5 [--quiet]                   continue from the file's last checkpoint
    wgf report OUT.h5 [--no-figures]                    comparison table; figures beside the file
    wgf cases                                           list the bundled cases

Exit status: 0 success; 2 a user error (one line on stderr naming the problem, no traceback, no output
file left behind); 130 after Ctrl-C (143 after SIGTERM) with a checkpoint written; 1 when a run blew up
(its last good state is kept in the file; the other runs still ran) or on an I/O failure.
Plugin modules named in the environment variable ``WGF_PLUGINS`` are imported first
(:func:`wgf.cases.load_plugins`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from . import __version__
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
            if args.output is not None or args.force:
                raise _UsageError("--resume continues the file it names: -o and --force do not apply")
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
                ctl = Controller.new(case, target, force=args.force, quiet=args.quiet)
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
        print("no bundled cases found (they live in the solvers/ folder of the source tree)", file=sys.stderr)
        return 0
    width = max(len(c[0]) for c in cases)
    for stem, path, title in cases:
        print(f"{stem.ljust(width)}  {title}")
    return 0


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
