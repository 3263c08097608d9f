"""HDF5 output of ``wgf run``: the file layout, atomic checkpoints and reading with format checks.

This docstring is the authoritative description of the layout (format ``wgf-output``, version 1). Every
file is readable with plain h5py::

    /                                   attributes:
        format          "wgf-output"
        format_version  1
        wgf_version     version of wgf that last wrote the file
        created         ISO 8601 creation time (UTC);  updated: time of the last checkpoint
        config          the case's TOML text, verbatim
        case_name       the case file's stem;  title: the case's title
        runs            JSON list of the run names, in the order they run
        status          "running" | "interrupted" | "failed" | "completed"
    /data/<section>/<key>               arrays the case loaded from files (e.g. /data/model/teacher), so that
                                        --resume and report never need the original files
    /<run>/                             one group per solver run (eulerian, lagrangian, network_m0010_s0...)
        attributes:  solver ("eulerian" | "lagrangian" | "network"), completed (bool), started (bool),
                     failed ("" or the blow-up message), order (int), section (the TOML section),
                     params (JSON of the run's parameters; scalar ones are also attributes of their own),
                     wall_seconds (compute time so far)
        time   (T,) float64             record times: t = 0, the case's record and snapshot times, T (with
                                        network runs in the case, whole multiples of the network step)
        step   (T,) int64               solver steps taken at each record
        energy (T,) float64             F(nu_t); beside it every other scalar of Solver.diagnostics():
        mass, Q, ... (T,) float64       mass and the invariant Q for every run; eulerian: min_J, min_mass,
                                        dt, dt_cfl, dt_energy, steps, rejected; lagrangian: dt, rejected,
                                        evaluations; network: width
        snapshots/<k:06d>/              the k-th stored state, attributes time and step, datasets of
                                        Solver.snapshot(): points (N, d+1) and masses (N,) of nu_t (eulerian:
                                        the cell centres and masses, and densities = masses / grid/volumes;
                                        network: also weights (m, d+1), the neurons w_j = (a_j, b_j))
        grid/points (N, d+1), grid/volumes (N,)   static geometry of grid-based runs (a Lagrangian run from
                                        a grid quadrature stores the grid its particles started from)
        checkpoint/                     the state to resume from, attributes time, step, next_stop (index of
                                        the next output time), n_records, n_snapshots; checkpoint/state/<name>
                                        holds Solver.state_dict() entries, each with attribute kind ("array",
                                        "float", "int", "bool", "str" or "bigint") restoring its exact type.
                                        Written at the case's checkpoint times, at the end of the run and
                                        at least every [time] checkpoint_wall seconds (records and snapshots
                                        are written with it): by simulated or wall-clock time, never per
                                        step, so the file's size follows the records and snapshots, not the
                                        number of steps

Atomicity: the output file is never modified in place. :func:`commit` copies the current file into a
temporary file in the same directory (``.<name>.<pid>.<n>.tmp``), applies the changes, fsyncs it and
``os.replace``-s it over the output (then fsyncs the directory), so a file on disk is always a complete
previous checkpoint or a complete new one, whatever interrupts the process (a temporary file left by a
killed process is removed by the next ``wgf run`` on that output). Copying with HDF5's object copy also
drops the space freed by rewritten datasets, so the file does not grow with the number of checkpoints.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import os
import re
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import h5py
import numpy as np

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "OutputFileError", "Snapshot", "RunUpdate", "OutputReader",
    "check_output_path", "create_output", "commit", "write_state", "read_state", "remove_stale_tmp",
    "utc_now", "atomic_write", "WALL_CLOCK_ATTRS", "file_contents",
]

FORMAT_NAME = "wgf-output"
FORMAT_VERSION = 1
#: HDF5 format bounds: 1.8 objects (dense attribute storage for long config texts) up to 1.10.
LIBVER = ("v108", "v110")
#: Names in a run group that are not time series.
RESERVED = frozenset({"time", "step", "snapshots", "checkpoint", "grid"})
RUN_ATTRS = frozenset({"solver", "completed", "started", "failed", "order", "section", "params", "wall_seconds"})

#: Attributes that hold wall-clock times: the only entries in which a resumed run's file may differ from
#: the file of the same run done without interruption.
WALL_CLOCK_ATTRS = frozenset({"created", "updated", "wall_seconds"})

_counter = itertools.count()


class OutputFileError(ValueError):
    """An output file that cannot be written, or read as a wgf output (missing, foreign, corrupt)."""


def utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------- paths
def _tmp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{next(_counter)}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_tmp(path: str | os.PathLike) -> list[Path]:
    """Remove temporary files of ``path`` left by processes that no longer run; returns them."""
    path = Path(path)
    pat = re.compile(rf"^\.{re.escape(path.name)}\.(\d+)\.\d+\.tmp$")
    removed = []
    with suppress(OSError):
        for f in path.parent.iterdir():
            m = pat.match(f.name)
            if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
                with suppress(OSError):
                    f.unlink()
                    removed.append(f)
    return removed


def check_output_path(path: str | os.PathLike, force: bool = False) -> Path:
    """Check that ``path`` can be written: its folder exists and is writable, it is not a folder, and it
    does not exist yet unless ``force``. Raises :class:`OutputFileError`; creates nothing."""
    p = Path(path)
    if str(path) == "" or p.name in ("", ".", ".."):
        raise OutputFileError(f"invalid output file name {str(path)!r}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise OutputFileError(f"cannot write {p}: the folder {parent} does not exist")
    if not parent.is_dir():
        raise OutputFileError(f"cannot write {p}: {parent} is not a folder")
    if p.is_dir():
        raise OutputFileError(f"cannot write {p}: it is a folder; give a file name, e.g. {p / 'out.h5'}")
    if p.exists() or p.is_symlink():
        if not force:
            raise OutputFileError(f"{p} already exists; use --force to overwrite it or -o to choose another name")
        if not p.is_file():
            raise OutputFileError(f"cannot overwrite {p}: not a regular file")
    probe = _tmp_path(p)
    try:
        with open(probe, "xb"):
            pass
    except OSError as exc:
        raise OutputFileError(f"cannot write in {parent}: {exc.strerror or exc}") from None
    finally:
        with suppress(OSError):
            probe.unlink()
    return p


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with suppress(OSError):  # not every file system lets a folder be fsynced
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_write(path: Path, fill: Callable[[h5py.File], None], source: Path | None = None) -> None:
    """Write a new version of ``path``: copy ``source`` (if any) into a temporary file, ``fill`` it, fsync,
    and replace ``path`` atomically. On any exception (including KeyboardInterrupt) the temporary file is
    removed and ``path`` is untouched."""
    path = Path(path)
    tmp = _tmp_path(path)
    try:
        with h5py.File(tmp, "w", libver=LIBVER) as dst:
            if source is not None:
                with h5py.File(source, "r") as src:
                    for k, v in src.attrs.items():
                        dst.attrs[k] = v
                    for name in src:
                        src.copy(src[name], dst, name=name)
            fill(dst)
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent if str(path.parent) else Path("."))
    except BaseException:
        with suppress(OSError):
            tmp.unlink()
        raise


def atomic_write(path: str | os.PathLike, fill: Callable[[h5py.File], None]) -> None:
    """Write a new HDF5 file at ``path`` atomically: ``fill(file)`` writes into a temporary file in the same
    folder, which is fsynced and renamed over ``path`` (the machinery of :func:`commit`)."""
    _atomic_write(Path(path), fill)


# ---------------------------------------------------------------------------------------------- state
def write_state(group: h5py.Group, state: dict[str, Any]) -> None:
    """Store a :meth:`~wgf.discretisations.solver.Solver.state_dict` (name -> ndarray | float | int | bool | str) in ``group``, one
    dataset per entry with attribute ``kind`` so that :func:`read_state` restores exact types and bits."""
    for key, v in state.items():
        if not isinstance(key, str) or not key or "/" in key or key in (".", ".."):
            raise TypeError(f"state key {key!r} is not a valid name")
        if isinstance(v, np.ndarray):
            if v.dtype.kind not in "biufc":
                raise TypeError(f"state entry {key!r}: arrays must be numeric or boolean, got dtype {v.dtype}")
            ds, kind = group.create_dataset(key, data=v), "array"
        elif isinstance(v, (bool, np.bool_)):
            ds, kind = group.create_dataset(key, data=np.bool_(v)), "bool"
        elif isinstance(v, (int, np.integer)):
            iv = int(v)
            if -(2**63) <= iv < 2**63:
                ds, kind = group.create_dataset(key, data=np.int64(iv)), "int"
            else:
                ds, kind = group.create_dataset(key, data=str(iv), dtype=h5py.string_dtype()), "bigint"
        elif isinstance(v, (float, np.floating)):
            ds, kind = group.create_dataset(key, data=np.float64(v)), "float"
        elif isinstance(v, str):
            ds, kind = group.create_dataset(key, data=v, dtype=h5py.string_dtype()), "str"
        else:
            raise TypeError(f"state entry {key!r} has unsupported type {type(v).__name__}")
        ds.attrs["kind"] = kind


def read_state(group: h5py.Group) -> dict[str, Any]:
    """Inverse of :func:`write_state`."""
    out: dict[str, Any] = {}
    for key in group:
        ds = group[key]
        kind = _attr(ds.attrs, "kind")
        if kind == "array":
            out[key] = np.array(ds[()], dtype=ds.dtype)
        elif kind == "float":
            out[key] = float(ds[()])
        elif kind == "int":
            out[key] = int(ds[()])
        elif kind == "bool":
            out[key] = bool(ds[()])
        elif kind == "str":
            out[key] = ds.asstr()[()]
        elif kind == "bigint":
            out[key] = int(ds.asstr()[()])
        else:
            raise OutputFileError(f"checkpoint entry {key!r} has unknown kind {kind!r}")
    return out


# ---------------------------------------------------------------------------------------------- writing
@dataclass
class Snapshot:
    """The ``index``-th stored state of a run."""

    index: int
    time: float
    step: int
    arrays: dict[str, np.ndarray]


@dataclass
class RunUpdate:
    """Changes to one run group at a checkpoint.

    ``series`` replaces the time series (name -> (T,) array); ``snapshots`` are appended; ``static`` arrays
    are written if absent; ``state`` (with ``checkpoint_attrs``) replaces the checkpoint."""

    name: str
    attrs: dict[str, Any] = field(default_factory=dict)
    series: dict[str, np.ndarray] | None = None
    snapshots: list[Snapshot] = field(default_factory=list)
    static: dict[str, np.ndarray] = field(default_factory=dict)
    state: dict[str, Any] | None = None
    checkpoint_attrs: dict[str, Any] = field(default_factory=dict)


def _attr_value(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return np.bool_(v)
    if isinstance(v, (list, tuple)):
        arr = np.asarray(v)
        if arr.dtype.kind in "biuf":
            return arr
        return json.dumps(v)
    if isinstance(v, dict):
        return json.dumps(v)
    return v


def _apply(f: h5py.File, u: RunUpdate) -> None:
    g = f.require_group(u.name)
    for k, v in u.attrs.items():
        g.attrs[k] = _attr_value(v)
    if u.series is not None:
        for key in list(g.keys()):
            if isinstance(g[key], h5py.Dataset):  # every direct dataset of a run group is a time series
                del g[key]
        for key, arr in u.series.items():
            g.create_dataset(key, data=np.asarray(arr))
    if u.snapshots:
        sg = g.require_group("snapshots")
        for s in u.snapshots:
            name = f"{s.index:06d}"
            if name in sg:
                del sg[name]
            h = sg.create_group(name)
            h.attrs["time"] = float(s.time)
            h.attrs["step"] = int(s.step)
            for k, a in s.arrays.items():
                h.create_dataset(k, data=np.asarray(a))
    for k, a in u.static.items():
        if k not in g:
            g.create_dataset(k, data=np.asarray(a))
    if u.state is not None:
        if "checkpoint" in g:
            del g["checkpoint"]
        c = g.create_group("checkpoint")
        for k, v in u.checkpoint_attrs.items():
            c.attrs[k] = _attr_value(v)
        write_state(c.create_group("state"), u.state)


def create_output(path: str | os.PathLike, *, config: str, case_name: str, title: str,
                  data: dict[str, np.ndarray], runs: Iterable[tuple[str, str, str, dict[str, Any]]]) -> None:
    """Write a new output file (atomically; replaces an existing one, which the caller allowed).

    ``runs`` gives ``(name, solver kind, section, params)`` in running order."""
    from .. import __version__

    runs = list(runs)
    now = utc_now()

    def fill(f: h5py.File) -> None:
        f.attrs.update({
            "format": FORMAT_NAME, "format_version": FORMAT_VERSION, "wgf_version": __version__,
            "created": now, "updated": now, "config": config, "case_name": case_name, "title": title,
            "runs": json.dumps([r[0] for r in runs]), "status": "running",
        })
        d = f.create_group("data")
        for keypath, arr in data.items():
            d.create_dataset(keypath.replace(".", "/"), data=np.asarray(arr))
        for order, (name, kind, section, params) in enumerate(runs):
            g = f.create_group(name)
            g.attrs.update({"solver": kind, "completed": np.bool_(False), "started": np.bool_(False),
                            "failed": "", "order": order, "section": section, "wall_seconds": 0.0,
                            "params": json.dumps(params, default=str)})
            for k, v in params.items():
                if k not in RUN_ATTRS and isinstance(v, (bool, int, float, str)):
                    g.attrs[k] = _attr_value(v)

    _atomic_write(Path(path), fill)


def commit(path: str | os.PathLike, updates: Iterable[RunUpdate], root_attrs: dict[str, Any] | None = None) -> None:
    """Write a checkpoint: a new version of the file with ``updates`` applied (atomically, see the module
    docstring)."""
    from .. import __version__

    updates = list(updates)
    attrs = {"updated": utc_now(), "wgf_version": __version__, **(root_attrs or {})}

    def fill(f: h5py.File) -> None:
        for k, v in attrs.items():
            f.attrs[k] = v
        for u in updates:
            _apply(f, u)

    p = Path(path)
    _atomic_write(p, fill, source=p)


# ---------------------------------------------------------------------------------------------- reading
def _attr(attrs, key: str, default: Any = ...) -> Any:
    if key not in attrs:
        if default is ...:
            raise KeyError(f"attribute {key!r} is missing")
        return default
    v = attrs[key]
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    return v


_READ_ERRORS = (KeyError, OSError, RuntimeError, ValueError, TypeError, json.JSONDecodeError)


class OutputReader:
    """Read-only access to a wgf output file, with format checks.

    Every method raises :class:`OutputFileError` (with the file name and what is wrong) on a missing,
    foreign, truncated or corrupt file. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise OutputFileError(f"no such file: {self.path}")
        if not self.path.is_file():
            raise OutputFileError(f"not a file: {self.path}")
        try:
            self.file = h5py.File(self.path, "r")
        except (OSError, RuntimeError, ValueError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise OutputFileError(f"{self.path} is not a readable HDF5 file (truncated or corrupt?): {first}") from None
        try:
            fmt = _attr(self.file.attrs, "format", None)
            if fmt != FORMAT_NAME:
                raise OutputFileError(f"{self.path} is an HDF5 file but not a wgf output file "
                                      f"(its 'format' attribute is {fmt!r}, expected {FORMAT_NAME!r})")
            version = _attr(self.file.attrs, "format_version")
            if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
                raise OutputFileError(f"{self.path} has format version {version!r}; this wgf reads versions 1 to "
                                      f"{FORMAT_VERSION} (written by a newer wgf?)")
            self.config: str = _attr(self.file.attrs, "config")
            if not isinstance(self.config, str):
                raise OutputFileError(f"{self.path} is corrupt: its config attribute is not text")
            names = json.loads(_attr(self.file.attrs, "runs"))
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise OutputFileError(f"{self.path} is corrupt: bad 'runs' attribute")
            self.runs: list[str] = names
            for n in names:
                if not isinstance(self.file.get(n), h5py.Group):
                    raise OutputFileError(f"{self.path} is corrupt: the group of run {n!r} is missing")
        except OutputFileError:
            self.close()
            raise
        except _READ_ERRORS as exc:
            self.close()
            raise self._corrupt(exc) from None

    def _corrupt(self, exc: Exception) -> OutputFileError:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return OutputFileError(f"{self.path} is corrupt or incomplete: {msg}")

    def _guard(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except OutputFileError:
            raise
        except _READ_ERRORS as exc:
            raise self._corrupt(exc) from None

    # ---------------------------------------------------------------- context
    def close(self) -> None:
        """Close the file (errors on closing are ignored: the reader never writes)."""
        with suppress(Exception):
            self.file.close()

    def __enter__(self) -> "OutputReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---------------------------------------------------------------- root
    def attrs(self) -> dict[str, Any]:
        return self._guard(lambda: {k: _attr(self.file.attrs, k) for k in self.file.attrs})

    def data(self) -> dict[str, np.ndarray]:
        """Embedded data arrays, ``"section.key" -> array``."""
        def read():
            out: dict[str, np.ndarray] = {}
            if "data" in self.file:
                def visit(name, obj):
                    if isinstance(obj, h5py.Dataset):
                        out[name.replace("/", ".")] = np.array(obj[()])
                self.file["data"].visititems(visit)
            return out
        return self._guard(read)

    # ---------------------------------------------------------------- runs
    def run_attrs(self, run: str) -> dict[str, Any]:
        return self._guard(lambda: {k: _attr(self.file[run].attrs, k) for k in self.file[run].attrs})

    def series(self, run: str) -> dict[str, np.ndarray]:
        """Time series of a run: ``time``, ``step``, ``energy``, ... (empty if it has not started)."""
        def read():
            g = self.file[run]
            out = {}
            for key in ("time", "step"):
                if key in g:
                    out[key] = np.array(g[key][()])
            for key in g:
                if key not in RESERVED and isinstance(g[key], h5py.Dataset):
                    out[key] = np.array(g[key][()])
            return out
        return self._guard(read)

    def snapshot_list(self, run: str) -> list[tuple[str, float, int]]:
        """``(key, time, step)`` of the run's snapshots, in order."""
        def read():
            g = self.file[run]
            if "snapshots" not in g:
                return []
            sg = g["snapshots"]
            return [(k, float(_attr(sg[k].attrs, "time")), int(_attr(sg[k].attrs, "step"))) for k in sorted(sg)]
        return self._guard(read)

    def snapshot(self, run: str, key: str | int = -1) -> dict[str, np.ndarray]:
        """Arrays of one snapshot (by key, or by position in :meth:`snapshot_list`; -1 = the last)."""
        def read():
            if isinstance(key, int):
                lst = self.snapshot_list(run)
                if not lst:
                    raise KeyError(f"run {run!r} has no snapshots")
                k = lst[key][0]
            else:
                k = key
            h = self.file[run]["snapshots"][k]
            return {n: np.array(h[n][()]) for n in h}
        return self._guard(read)

    def static(self, run: str) -> dict[str, np.ndarray]:
        """Static arrays of a run (``grid/points``, ``grid/volumes``)."""
        def read():
            g = self.file[run]
            out = {}
            if "grid" in g:
                for n in g["grid"]:
                    out[f"grid/{n}"] = np.array(g["grid"][n][()])
            return out
        return self._guard(read)

    def checkpoint(self, run: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """``(attrs, state)`` of the run's checkpoint, or None if it has none."""
        def read():
            g = self.file[run]
            if "checkpoint" not in g:
                return None
            c = g["checkpoint"]
            attrs = {k: _attr(c.attrs, k) for k in c.attrs}
            for k in ("time", "step", "next_stop", "n_records", "n_snapshots"):
                if k not in attrs:
                    raise KeyError(f"checkpoint of run {run!r} lacks attribute {k!r}")
            return attrs, read_state(c["state"])
        return self._guard(read)

    def check(self) -> None:
        """Check the consistency of every run: a started run has a complete checkpoint whose counts match
        its time series and snapshots. Raises :class:`OutputFileError`."""
        for run in self.runs:
            a = self.run_attrs(run)
            for k in ("solver", "completed", "started"):
                if k not in a:
                    raise OutputFileError(f"{self.path} is corrupt: run {run!r} lacks attribute {k!r}")
            if not a["started"]:
                continue
            ck = self.checkpoint(run)
            if ck is None:
                raise OutputFileError(f"{self.path} is corrupt: run {run!r} started but has no checkpoint")
            cattrs, _ = ck
            s = self.series(run)
            n = cattrs["n_records"]
            if any(len(v) != n for v in s.values()) or "time" not in s:
                raise OutputFileError(f"{self.path} is corrupt: the time series of run {run!r} do not have "
                                      f"the {n} records its checkpoint says")
            if len(self.snapshot_list(run)) != cattrs["n_snapshots"]:
                raise OutputFileError(f"{self.path} is corrupt: run {run!r} does not have the "
                                      f"{cattrs['n_snapshots']} snapshots its checkpoint says")


def file_contents(path: str | os.PathLike) -> dict[str, Any]:
    """Every dataset of an HDF5 file as ``(dtype, shape, bytes)`` and every attribute (``repr``) except the
    wall-clock ones (:data:`WALL_CLOCK_ATTRS`), keyed by ``"name"`` and ``"name@attribute"``, read with plain
    h5py: two files with equal contents hold the same results bit for bit."""
    out: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            for k, v in obj.attrs.items():
                if k not in WALL_CLOCK_ATTRS:
                    out[f"{name}@{k}"] = repr(v)
            if isinstance(obj, h5py.Dataset):
                a = np.asarray(obj[()])
                out[name] = (a.dtype.str, a.shape, a.tobytes())
        for k, v in f.attrs.items():
            if k not in WALL_CLOCK_ATTRS:
                out[f"/@{k}"] = repr(v)
        f.visititems(visit)
    return out
