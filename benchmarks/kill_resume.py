"""Kill-and-resume trials: ``wgf run`` killed with SIGKILL at random moments, then resumed to the end.

A small teacher–student case with an Eulerian grid run, a Lagrangian run and two network runs (a few
seconds of run time, wall-clock checkpoints every 0.1 s) is run once uninterrupted, as the reference; the
benchmark counts the versions of its output file (each checkpoint replaces the file). Each trial then
starts ``python -m wgf run CASE -o out.h5`` as a subprocess and sends it SIGKILL at a random moment
(seeded): after a number of file versions uniform in 1..(the reference's count) plus a delay uniform in
(0, 0.2 s) (two checkpoint intervals, so that some kills land while a checkpoint is being written), or, one
time in ten, at a moment uniform over the start-up (before the file exists or just after). Kill moments
tied to the run's progress, not to the clock, land anywhere in the computation however busy the machine
is. It checks the file (it must open with plain h5py and its last checkpoint must be complete:
:meth:`wgf.app.io.OutputReader.check`), resumes it with ``wgf run --resume out.h5`` and kills that too (within
the first half of the file versions), then resumes it to the end (a kill before the file exists starts the
run afresh). The finished file must equal the reference bit for bit: every dataset (dtype, shape, bytes)
and every attribute except those holding wall-clock times (``created``, ``updated``, ``wall_seconds``),
and no temporary file may be left beside it. Per trial the table gives the kill moments (seconds after the
process started), what the file held at each kill, and the outcome.

Run ``python -m benchmarks.kill_resume [--quick] [--trials N] [--seed S]`` (default 20 trials; ``--quick``:
3 trials of a shorter case).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from benchmarks._harness import parse_args, write_results
from wgf.app.io import OutputFileError, OutputReader, file_contents

ROOT = Path(__file__).resolve().parent.parent
TEACHER = ROOT / "data" / "teacher_fig2.csv"

#: ``[time] checkpoint_wall`` of the case: a checkpoint at least every this many seconds.
CHECKPOINT_WALL = 0.1

#: Attributes that hold wall-clock times (differ between any two runs).

CASE = """title = "kill and resume trials"
description = "grid, particles and networks; frequent wall-clock checkpoints"

[model]
type = "teacher_student"
teacher = "{teacher}"

[time]
final = {final}
snapshots = 3
records = 20
spacing = "linear"
checkpoint_wall = {checkpoint_wall}

[eulerian]
level = 4

[lagrangian]
quadrature = "grid"
level = 3
stepper = "rk4"
dt = 0.01

[network]
widths = [100, 1000]
seeds = [0]
step_size = 0.005
"""


def case_text(quick: bool = False) -> str:
    """The trials' case (final time 8, or 1 for ``--quick``)."""
    return CASE.format(teacher=TEACHER.as_posix(), final="1.0" if quick else "8.0",
                       checkpoint_wall=CHECKPOINT_WALL)


# ---------------------------------------------------------------------------------------------- files
def differences(a: str | os.PathLike, b: str | os.PathLike) -> list[str]:
    """Names of the datasets and attributes that differ between two files (empty: bit-identical)."""
    ca, cb = file_contents(a), file_contents(b)
    return sorted(k for k in set(ca) | set(cb) if ca.get(k) != cb.get(k))


def describe(path: Path) -> tuple[str, bool, bool]:
    """What an output file holds after a kill: ``(description, opens with h5py, last checkpoint complete)``
    (both True when there is no file). The description is "no file", or the runs completed and the
    checkpoint of the run in progress, e.g. "2/4 runs done, network_m0100_s0 at t = 0.85"."""
    if not path.exists():
        return "no file", True, True
    try:
        with h5py.File(path, "r") as f:
            f.attrs["format"]
    except (OSError, KeyError) as exc:
        return f"unreadable: {exc}", False, False
    try:
        with OutputReader(path) as r:
            r.check()  # every started run has a checkpoint matching its series and snapshots
            done, current = 0, None
            for run in r.runs:
                a = r.run_attrs(run)
                if a["completed"]:
                    done += 1
                elif a["started"] and current is None:
                    ck = r.checkpoint(run)
                    current = f"{run} at t = {ck[0]['time']:.4g}"
            tail = f", {current}" if current else (", no checkpoint yet" if done == 0 else "")
            return f"{done}/{len(r.runs)} runs done{tail}", True, True
    except OutputFileError as exc:
        return f"incomplete: {exc}", True, False


def status(path: Path) -> str:
    """The file's ``status`` attribute ("" without a file)."""
    if not path.exists():
        return ""
    with h5py.File(path, "r") as f:
        v = f.attrs.get("status", "")
    return v.decode() if isinstance(v, bytes) else str(v)


# ---------------------------------------------------------------------------------------------- processes
def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "WGF_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def run_wgf(args: list[str], cwd: Path, out: Path, kill: tuple[int, float] | None = None) -> dict[str, Any]:
    """Run ``python -m wgf ARGS`` in ``cwd`` writing ``out``, watching the versions of ``out`` (every
    checkpoint replaces the file, so each version has a new inode; polled every 2 ms, so a version that
    lives less long may be missed). With ``kill = (k, delay)``, send SIGKILL ``delay`` seconds after the
    process has written its k-th version (``k = 0``: ``delay`` seconds after its start), unless it finished
    first. Returns the exit status (``-SIGKILL`` when killed), the wall seconds, the versions seen, the
    seconds until the first one, the moment of the kill and the stderr tail."""
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "wgf", *args], cwd=cwd, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ino, versions, first, kill_at = _inode(out), 0, float("nan"), None
    target, delay = kill if kill is not None else (None, 0.0)
    while proc.poll() is None:
        now = _inode(out)
        if now is not None and now != ino:
            ino, versions = now, versions + 1
            if versions == 1:
                first = time.monotonic() - t0
        if target is not None and kill_at is None and versions >= target:
            kill_at = time.monotonic() + delay
        if kill_at is not None and time.monotonic() >= kill_at:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    _, err = proc.communicate()
    return {"rc": proc.returncode, "wall": time.monotonic() - t0, "versions": versions, "first": first,
            "killed_after": (kill_at - t0) if kill_at is not None and proc.returncode == -signal.SIGKILL else None,
            "stderr": (err or "")[-2000:]}


def trial(cwd: Path, reference: Path, rng: np.random.Generator, plan: list[tuple[int, float]],
          startup: float, interval: float) -> dict[str, Any]:
    """One trial in the folder ``cwd`` (holding ``case.toml``): one process per kill of ``plan`` (a run,
    then resumes; a fresh run while there is no file). A kill ``(k_max, p)``: with probability ``p`` at a
    moment uniform in (0, ``startup``) seconds after the start (perhaps before the file exists), else
    after a uniform number of versions of the file in 1..k_max and a delay uniform in (0, ``interval``).
    Then resumes to the end, and the result compared with ``reference``."""
    out = cwd / "out.h5"
    out.unlink(missing_ok=True)
    row: dict[str, Any] = {}
    files = opened = complete = mid_write = 0

    def args():
        return ["run", "--resume", "out.h5", "-q"] if out.exists() else ["run", "case.toml", "-o", "out.h5", "-q"]
    for i, (k_max, p_early) in enumerate(plan, start=1):
        a = args()
        if rng.random() < p_early:
            kill = (0, float(rng.uniform(0.0, startup)))
        else:
            kill = (int(rng.integers(1, max(1, k_max) + 1)), float(rng.uniform(0.0, interval)))
        res = run_wgf(a, cwd, out, kill)
        if res["rc"] == 0:
            row[f"kill {i} (s)"] = "-"
            row[f"file at kill {i}"] = "finished before the kill"
            break
        if res["rc"] != -signal.SIGKILL:
            raise RuntimeError(f"wgf {' '.join(a)} failed (exit {res['rc']}): {res['stderr']}")
        row[f"kill {i} (s)"] = round(res["killed_after"], 3)
        text, ok_open, ok_complete = describe(out)
        if any(p.name.startswith(".out.h5.") and p.name.endswith(".tmp") for p in cwd.iterdir()):
            text += " (+ a temporary file: killed while writing a checkpoint)"
            mid_write += 1
        row[f"file at kill {i}"] = text
        if out.exists():
            files += 1
            opened += ok_open
            complete += ok_complete
    resumes = 0
    while status(out) != "completed":
        a = args()
        res = run_wgf(a, cwd, out)
        resumes += 1
        if res["rc"] != 0:
            raise RuntimeError(f"wgf {' '.join(a)} failed (exit {res['rc']}): {res['stderr']}")
    leftovers = sorted(p.name for p in cwd.iterdir() if p.name not in ("case.toml", "out.h5"))
    diff = differences(reference, out)
    row.update({"files": files, "opened": opened, "complete": complete, "mid-write": mid_write,
                "final resumes": resumes,
                "bit-identical": not diff, "stray files": ",".join(leftovers) or "-"})
    if diff:
        row["differs"] = ",".join(diff[:5])
    return row


def _runs(path: Path) -> list[str]:
    with h5py.File(path, "r") as f:
        return json.loads(f.attrs["runs"])


def main(argv=None) -> int:
    def extra(p):
        p.add_argument("--trials", type=int, default=None, help="number of trials (default 20; --quick: 3)")
        p.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    args = parse_args(__doc__.splitlines()[0], argv, extra)
    trials = args.trials if args.trials is not None else (3 if args.quick else 20)
    if trials < 1:
        print("--trials must be >= 1", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    rows = []
    with tempfile.TemporaryDirectory(prefix="wgf-kill-") as tmp:
        tmp = Path(tmp)
        (tmp / "ref").mkdir()
        (tmp / "ref" / "case.toml").write_text(case_text(args.quick))
        reference = tmp / "ref" / "ref.h5"
        ref = run_wgf(["run", "case.toml", "-o", "ref.h5", "-q"], tmp / "ref", reference)
        if ref["rc"] != 0:
            raise RuntimeError(f"the reference run failed (exit {ref['rc']}): {ref['stderr']}")
        n = ref["versions"]
        print(f"reference: {ref['wall']:.2f} s wall, file created after {ref['first']:.2f} s, {n} versions "
              f"(checkpoints), runs {_runs(reference)}", flush=True)
        # the first kill: 1 in 10 during start-up (before the file exists, or just after), else anywhere in
        # the run; the second (of the resume) in the first half of what is left
        plan = [(n, 0.1), (max(1, n // 2), 0.1)]
        work = tmp / "trial"
        work.mkdir()
        (work / "case.toml").write_text(case_text(args.quick))
        for k in range(trials):
            # a delay of up to two checkpoint intervals after a version: the next checkpoint starts one
            # interval after the last one ended, so kills also land while it is being written
            row = {"trial": k + 1, **trial(work, reference, rng, plan, startup=ref["first"],
                                           interval=2 * CHECKPOINT_WALL)}
            rows.append(row)
            print(row, flush=True)
    # one table shape for every row
    keys = ["trial", "kill 1 (s)", "file at kill 1", "kill 2 (s)", "file at kill 2", "files", "opened",
            "complete", "mid-write", "final resumes", "bit-identical", "stray files"]
    table = [{k: r.get(k, "-") for k in keys} for r in rows]
    killed = [r[f"file at kill {i}"] for r in rows for i in (1, 2) if f"file at kill {i}" in r]
    meta = {
        "trials": trials, "seed": args.seed, "reference_wall_s": round(ref["wall"], 2),
        "reference_file_versions": n,
        "kills": sum(1 for t in killed if t != "finished before the kill"),
        "kills_before_the_file_existed": sum(1 for t in killed if t == "no file"),
        "files_after_a_kill": sum(r["files"] for r in rows),
        "kills_while_writing_a_checkpoint": sum(r["mid-write"] for r in rows),
        "files_that_opened_with_h5py": sum(r["opened"] for r in rows),
        "files_with_a_complete_last_checkpoint": sum(r["complete"] for r in rows),
        "bit_identical_results": sum(bool(r["bit-identical"]) for r in rows),
        "load_average": round(os.getloadavg()[0], 2),
    }
    write_results("kill_resume", table, args, meta=meta)
    ok = (meta["bit_identical_results"] == trials and meta["files_that_opened_with_h5py"] == meta["files_after_a_kill"]
          and meta["files_with_a_complete_last_checkpoint"] == meta["files_after_a_kill"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
