"""Parameter sweeps: independent runs of a case, distributed with dask.distributed, merged into one file.

A sweep file (TOML) names a base case and the case keys to vary::

    title = "SGD widths and seeds"       # optional
    case = "teacher_student.toml"         # the base case: a path relative to this file, or a bundled case name
    mode = "product"                      # product: every combination | zip: the i-th values together

    [parameters]                          # dotted case keys -> the list of values the runs take
    "network.widths" = [10, 20, 40]       # each value replaces the key of the base case
    "network.seeds" = [0, 1, 2]
    # "eulerian.level" = [3, 4, 5]        # a grid resolution; "time.final", "model.weight_decay", ...
    # "lagrangian.2.n" = [100, 200]       # the 2nd table of an array of tables [[lagrangian]] (1-based)

Every combination is one *run*: the base case with those keys replaced (sections must exist in the base
case; keys may be new), validated as a case before anything runs (a bad value exits with status 2 naming
the parameter and the value). Runs are named ``run_0000``, ``run_0001``... in the order of the
combinations (the last parameter varying fastest in ``product`` mode).

Execution: :func:`run_sweep` submits one task per run to a dask.distributed cluster, a
``LocalCluster`` of ``workers`` processes by default (one thread each, with ``NUMBA_NUM_THREADS``,
``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` set to ``threads_per_run``, default 1,
so that N workers use N cores), or an existing cluster given by its scheduler address (its workers must
import this wgf and see the output folder, e.g. on a shared file system). Each task runs the case with
:class:`wgf.app.controller.Controller` into its own HDF5 file ``<OUT>.runs/run_XXXX.h5`` (the layout of
:mod:`wgf.app.io`, atomic checkpoints). A run that fails (a blow-up, or any error) is reported and the others
go on. Sweeps are restartable: a run file that is complete is kept, an interrupted one is resumed.

Merged file (format ``wgf-sweep``, version 1), written atomically (:func:`wgf.app.io.atomic_write`) once every
run has finished, readable with plain h5py::

    /                            attributes: format "wgf-sweep", format_version 1, wgf_version, created,
                                 sweep (the sweep file's text), base_case (the base case's text),
                                 case_name, mode, parameters (JSON list of the varied keys),
                                 runs (JSON list of the run names), status ("completed" | "failed": some
                                 run did not complete), n_completed, n_failed
    /table/run (R,) str          one row per run: its name,
    /table/status (R,) str       "completed" | "failed" (a solver run blew up) | "error" (no result),
    /table/wall_seconds (R,)     compute time of the run,
    /table/<key> (R,)            the value of each varied key (numbers as float64, others as JSON text)
    /runs/<run>/                 the run's output file copied whole: its root attributes (config: the
                                 run's case text, status...) and groups (/runs/<run>/<solver run>/energy,
                                 /runs/<run>/data/...), plus attributes values (JSON of the varied keys),
                                 sweep_status, error (the message of a failed run), wall_seconds
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import sys
import time
import tomllib
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, TextIO

import numpy as np
import tomli_w

from .cases import CaseError, bundled_cases, parse_case

__all__ = ["SweepError", "Sweep", "SweepRun", "load_sweep", "parse_sweep", "run_sweep", "SweepResult", "merge",
           "map_tasks", "SWEEP_FORMAT", "SWEEP_FORMAT_VERSION", "SWEEP_MODES", "worker_environment"]

SWEEP_FORMAT = "wgf-sweep"
SWEEP_FORMAT_VERSION = 1
SWEEP_MODES = ("product", "zip")
#: Largest number of runs a sweep may expand to.
MAX_RUNS = 10_000


class SweepError(CaseError):
    """A sweep file that cannot be run; the message names the key, the value and what is allowed."""


# ---------------------------------------------------------------------------------------------- schema
@dataclass
class SweepRun:
    """One run of a sweep: its name, the values of the varied keys, and its case text."""

    name: str
    values: dict[str, Any]
    case_text: str

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={json.dumps(v)}" for k, v in self.values.items())


@dataclass
class Sweep:
    """A validated sweep (see the module docstring)."""

    text: str
    name: str
    title: str
    base_path: Path
    base_text: str
    case_name: str
    mode: str
    parameters: dict[str, list]
    runs: list[SweepRun] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.base_path.resolve().parent


def _fmt(v: Any) -> str:
    s = json.dumps(v)
    return s if len(s) <= 60 else s[:57] + "..."


def _resolve_case(name: str, sweep_dir: Path) -> Path:
    p = Path(name)
    cand = p if p.is_absolute() else sweep_dir / p
    if cand.exists():
        return cand
    if p.suffix != ".toml" and "/" not in name and "\\" not in name:
        for stem, path, _ in bundled_cases():
            if stem == name:
                return path
    raise SweepError(f"case = {_fmt(name)}: no such case file (looked for {cand}, relative to the sweep file, "
                     "and among the bundled cases)")


def _set(doc: dict, path: str, value: Any) -> None:
    parts = path.split(".")
    if len(parts) < 2 or any(p == "" for p in parts):
        raise SweepError(f"[parameters] {_fmt(path)}: a parameter is a dotted case key 'section.key' (e.g. "
                         "'network.widths'), or 'section.N.key' for the N-th table of an array of tables")
    node: Any = doc
    where = ""
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or not 1 <= int(part) <= len(node):
                raise SweepError(f"[parameters] {_fmt(path)}: [[{where}]] is an array of {len(node)} tables; "
                                 f"name one by its position 1..{len(node)} ('{where}.1.{parts[-1]}')")
            node = node[int(part) - 1]
            where = f"{where}.{part}"
            continue
        if not isinstance(node, dict) or part not in node:
            sec = f"{where}.{part}".lstrip(".")
            raise SweepError(f"[parameters] {_fmt(path)}: the base case has no [{sec}] section")
        node = node[part]
        where = f"{where}.{part}".lstrip(".")
    if isinstance(node, list):
        raise SweepError(f"[parameters] {_fmt(path)}: [[{where}]] is an array of tables; name one by its "
                         f"position ('{where}.1.{parts[-1]}')")
    if not isinstance(node, dict):
        raise SweepError(f"[parameters] {_fmt(path)}: {where} is not a table")
    node[parts[-1]] = value


def parse_sweep(text: str, *, name: str = "sweep", base_dir: Path | str = ".") -> Sweep:
    """Parse and validate a sweep from its TOML text: the schema, the base case, and every run's case
    (:func:`wgf.app.cases.parse_case`). Raises :class:`SweepError` (a one-line message) on any mistake."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SweepError(f"not valid TOML: {exc}") from None
    allowed = ("title", "case", "mode", "parameters")
    for k in raw:
        if k not in allowed:
            raise SweepError(f"unknown key '{k}' in the sweep file; allowed: {', '.join(allowed)}")
    if "case" not in raw or not isinstance(raw["case"], str):
        raise SweepError("missing key 'case' (the base case file, relative to the sweep file, or a bundled "
                         "case name)" if "case" not in raw else f"case = {_fmt(raw['case'])}: expected a string")
    title = raw.get("title", name)
    if not isinstance(title, str):
        raise SweepError(f"title = {_fmt(title)}: expected a string")
    mode = raw.get("mode", "product")
    if mode not in SWEEP_MODES:
        raise SweepError(f"mode = {_fmt(mode)}: must be one of {', '.join(map(repr, SWEEP_MODES))}")
    params = raw.get("parameters")
    if not isinstance(params, dict) or not params:
        raise SweepError("missing or empty [parameters] table (dotted case keys -> lists of values, e.g. "
                         "\"network.widths\" = [10, 20])")
    for k, v in params.items():
        if not isinstance(v, list) or not v:
            raise SweepError(f"[parameters] {_fmt(k)} = {_fmt(v)}: expected a nonempty array of values")
    lengths = [len(v) for v in params.values()]
    if mode == "zip" and len(set(lengths)) > 1:
        raise SweepError(f"mode = \"zip\" needs arrays of equal length, got {dict(zip(params, lengths))}")
    count = lengths[0] if mode == "zip" else math.prod(lengths)
    if count > MAX_RUNS:
        raise SweepError(f"the sweep expands to {count} runs, more than {MAX_RUNS}")
    base_path = _resolve_case(raw["case"], Path(base_dir))
    try:
        base_text = base_path.read_bytes().decode("utf-8")
        base_doc = tomllib.loads(base_text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise SweepError(f"case = {_fmt(raw['case'])}: cannot read the base case: {exc}") from None
    keys = list(params)
    combos = (zip(*params.values()) if mode == "zip" else itertools.product(*params.values()))
    sweep = Sweep(text, name, title.strip(), base_path, base_text, base_path.stem, mode, dict(params))
    width = max(4, len(str(count - 1)))
    for i, combo in enumerate(combos):
        doc = json.loads(json.dumps(base_doc))  # deep copy (TOML values are JSON values here)
        values = dict(zip(keys, combo))
        for k, v in values.items():
            _set(doc, k, v)
        case_text = tomli_w.dumps(doc)
        try:
            parse_case(case_text, name=base_path.stem, base_dir=sweep.base_dir)
        except CaseError as exc:
            bad = ", ".join(f"{k} = {_fmt(v)}" for k, v in values.items())
            raise SweepError(f"the run with {bad} is not a valid case: {exc}") from None
        sweep.runs.append(SweepRun(f"run_{i:0{width}d}", values, case_text))
    return sweep


def load_sweep(path: str | os.PathLike) -> Sweep:
    """Read and validate a sweep file (see :func:`parse_sweep`)."""
    p = Path(path)
    if not p.is_file():
        raise SweepError(f"no such sweep file: {p}")
    try:
        text = p.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepError(f"cannot read {p}: {exc}") from None
    return parse_sweep(text, name=p.stem, base_dir=p.resolve().parent)


# ---------------------------------------------------------------------------------------------- one run
def worker_environment(threads: int = 1) -> dict[str, str]:
    """Environment of the worker processes: every thread pool (Numba, OpenMP, BLAS) limited to ``threads``."""
    t = str(int(threads))
    return {"NUMBA_NUM_THREADS": t, "OMP_NUM_THREADS": t, "OPENBLAS_NUM_THREADS": t, "MKL_NUM_THREADS": t}


def _run_one(name: str, case_text: str, case_name: str, base_dir: str, out: str, threads: int) -> dict:
    """Task run by a worker: the case into its own output file (resumed or kept when already there).
    Never raises: errors come back as ``status = "error"`` with the message."""
    t0 = time.perf_counter()
    try:
        import numba
        from threadpoolctl import threadpool_limits

        from . import io
        from .controller import Controller

        numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
        path = Path(out)
        with threadpool_limits(limits=int(threads)):
            ctl = None
            if path.exists():
                try:
                    with io.OutputReader(path) as r:
                        status = r.attrs().get("status")
                    if status in ("completed", "failed"):
                        return {"run": name, "status": status, "message": "kept from an earlier sweep",
                                "wall": 0.0, "path": out}
                    ctl = Controller.resume(path, quiet=True)
                except io.OutputFileError:
                    path.unlink()
            if ctl is None:
                case = parse_case(case_text, name=case_name, base_dir=base_dir)
                ctl = Controller.new(case, path, quiet=True)
            outcome = ctl.run()
        status = "completed" if outcome.status in ("completed", "nothing") else "failed"
        msg = outcome.message if status == "completed" else "; ".join(outcome.failures) or outcome.message
        return {"run": name, "status": status, "message": msg, "wall": time.perf_counter() - t0, "path": out}
    except BaseException as exc:  # noqa: BLE001 - reported, never fatal for the sweep
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return {"run": name, "status": "error", "message": last, "wall": time.perf_counter() - t0, "path": out}


# ---------------------------------------------------------------------------------------------- driver
@dataclass
class SweepResult:
    """Outcome of :func:`run_sweep`: the merged file, one record per run (``run``, ``status``, ``message``,
    ``wall``, ``path``), the wall time and the number of workers used."""

    path: Path
    records: list[dict]
    wall_seconds: float
    workers: int

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.records if r["status"] != "completed"]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


def _cluster(workers: int, scheduler: Optional[str], processes: bool, threads: int,
             env: Optional[dict[str, str]] = None):
    from dask.distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler, timeout="30s"), None
    kw: dict[str, Any] = dict(n_workers=workers, threads_per_worker=1, processes=processes,
                              dashboard_address=None, silence_logs=40)
    if processes:
        kw["env"] = {**worker_environment(threads), **(env or {})}
    cluster = LocalCluster(**kw)
    return Client(cluster), cluster


def map_tasks(fn: Callable[..., Any], items: list, *, workers: int = 2, scheduler: Optional[str] = None,
              processes: bool = True, threads: int = 1,
              on_result: Optional[Callable[[int, Any], None]] = None, errors: str = "raise",
              env: Optional[dict[str, str]] = None) -> list:
    """``[fn(item) for item in items]`` computed on a dask.distributed cluster (the engine of
    :func:`run_sweep`): a LocalCluster of ``workers`` single-threaded processes whose thread pools are limited
    to ``threads`` (:func:`worker_environment`, plus the variables ``env``), or the existing cluster at
    ``scheduler``. ``fn`` must be
    importable by the workers (a module-level function). ``on_result(index, result)`` is called as results
    arrive; the list is returned in the order of ``items``. An exception raised by a task (or a worker that
    died) is raised here with ``errors="raise"``, and takes the place of the task's result with
    ``errors="return"``."""
    if errors not in ("raise", "return"):
        raise ValueError(f"errors must be 'raise' or 'return', got {errors!r}")
    from dask.distributed import as_completed

    client, cluster = _cluster(int(workers), scheduler, processes, int(threads), env)
    try:
        stamp = f"{os.getpid()}-{time.time_ns()}"
        futures = {client.submit(fn, item, key=f"wgf-task-{stamp}-{i}", pure=False): i
                   for i, item in enumerate(items)}
        out: list = [None] * len(items)
        for f in as_completed(futures):
            i = futures[f]
            try:
                out[i] = f.result()
            except Exception as exc:  # noqa: BLE001
                if errors == "raise":
                    raise
                out[i] = exc
            if on_result is not None:
                on_result(i, out[i])
        return out
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run_task(args: tuple) -> dict:
    return _run_one(*args)


def run_sweep(sweep: Sweep, output: str | os.PathLike, *, workers: int = 2, scheduler: Optional[str] = None,
              processes: bool = True, threads_per_run: int = 1, force: bool = False, quiet: bool = False,
              stream: Optional[TextIO] = None) -> SweepResult:
    """Run every run of ``sweep`` on a dask.distributed cluster and merge the results into ``output``.

    Parameters
    ----------
    sweep : Sweep
    output : path
        The merged HDF5 file; the runs' own files go to the folder ``<output>.runs/``.
    workers : int
        Worker processes of the LocalCluster (ignored with ``scheduler``).
    scheduler : str, optional
        Address of an existing dask scheduler (e.g. ``tcp://host:8786``) instead of a LocalCluster.
    processes : bool
        LocalCluster workers as processes (default) or as threads of this process (small sweeps, tests).
    threads_per_run : int
        Threads of Numba and BLAS within each run.
    force : bool
        Overwrite an existing merged file and rerun every run (the runs folder is emptied).
    """
    from . import io

    out = Path(output)
    stream = stream if stream is not None else sys.stderr
    workers = int(workers)
    if workers < 1:
        raise SweepError(f"workers = {workers}: must be >= 1")
    if int(threads_per_run) < 1:
        raise SweepError(f"threads_per_run = {threads_per_run}: must be >= 1")
    io.check_output_path(out, force)
    runs_dir = out.with_name(out.name + ".runs")
    if force and runs_dir.exists():
        shutil.rmtree(runs_dir)
    runs_dir.mkdir(exist_ok=True)

    def log(msg):
        if not quiet:
            print(msg, file=stream, flush=True)

    t0 = time.perf_counter()
    log(f"sweep {sweep.name}: {len(sweep.runs)} run(s) on "
        + (f"the cluster at {scheduler}" if scheduler else f"{workers} worker(s)"))
    records: dict[str, dict] = {}
    done = [0]

    def report(i: int, rec: dict | BaseException) -> None:
        run = sweep.runs[i]
        if isinstance(rec, BaseException):  # the worker died
            rec = {"run": run.name, "status": "error", "message": f"{type(rec).__name__}: {rec}", "wall": 0.0,
                   "path": str(runs_dir / f"{run.name}.h5")}
        records[run.name] = rec
        done[0] += 1
        log(f"[{done[0]}/{len(sweep.runs)}] {run.name} ({run.label}): {rec['status']}"
            + (f" in {rec['wall']:.1f} s" if rec["wall"] else "")
            + (f": {rec['message']}" if rec["status"] != "completed" else ""))

    tasks = [(run.name, run.case_text, sweep.case_name, str(sweep.base_dir),
              str((runs_dir / f"{run.name}.h5").resolve()), int(threads_per_run)) for run in sweep.runs]
    map_tasks(_run_task, tasks, workers=workers, scheduler=scheduler, processes=processes,
              threads=threads_per_run, on_result=report, errors="return")
    ordered = [records[r.name] for r in sweep.runs]
    merge(sweep, ordered, out)
    result = SweepResult(out, ordered, time.perf_counter() - t0, workers)
    log(f"wrote {out}: {len(ordered) - len(result.failed)} completed, {len(result.failed)} failed "
        f"({result.wall_seconds:.1f} s)")
    return result


def _table_column(values: list) -> np.ndarray:
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return np.asarray(values, dtype=np.float64)
    import h5py

    return np.array([json.dumps(v) for v in values], dtype=h5py.string_dtype())


def merge(sweep: Sweep, records: list[dict], output: str | os.PathLike) -> None:
    """Write the merged file (layout: module docstring) from the runs' files, atomically."""
    import h5py

    from .. import __version__
    from . import io

    n_ok = sum(r["status"] == "completed" for r in records)

    def fill(f: h5py.File) -> None:
        f.attrs.update({
            "format": SWEEP_FORMAT, "format_version": SWEEP_FORMAT_VERSION, "wgf_version": __version__,
            "created": io.utc_now(), "sweep": sweep.text, "base_case": sweep.base_text,
            "case_name": sweep.case_name, "title": sweep.title, "mode": sweep.mode,
            "parameters": json.dumps(list(sweep.parameters)), "runs": json.dumps([r.name for r in sweep.runs]),
            "status": "completed" if n_ok == len(records) else "failed",
            "n_completed": n_ok, "n_failed": len(records) - n_ok,
        })
        t = f.create_group("table")
        s = h5py.string_dtype()
        t.create_dataset("run", data=np.array([r.name for r in sweep.runs], dtype=s))
        t.create_dataset("status", data=np.array([r["status"] for r in records], dtype=s))
        t.create_dataset("wall_seconds", data=np.array([float(r["wall"]) for r in records]))
        for key in sweep.parameters:
            t.create_dataset(key, data=_table_column([run.values[key] for run in sweep.runs]))
        g = f.create_group("runs")
        for run, rec in zip(sweep.runs, records):
            h = g.create_group(run.name)
            src = Path(rec["path"])
            if src.is_file():
                try:
                    with h5py.File(src, "r") as r:
                        for k, v in r.attrs.items():
                            h.attrs[k] = v
                        for k in r:
                            r.copy(r[k], h, name=k)
                except OSError as exc:
                    rec = {**rec, "status": "error", "message": f"cannot read {src.name}: {exc}"}
            h.attrs["values"] = json.dumps(run.values)
            h.attrs["sweep_status"] = rec["status"]
            h.attrs["error"] = "" if rec["status"] == "completed" else str(rec["message"])
            h.attrs["wall_seconds"] = float(rec["wall"])

    io.atomic_write(output, fill)
