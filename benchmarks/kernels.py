"""Kernel benchmark: J + grad J of EmpiricalReLU and TeacherStudent, Numba against the NumPy reference,
PyTorch CPU (the same mathematics) and the GEMM bound, timed side by side; and the peak memory of
EmpiricalReLU at N = n = 1e5.

* EmpiricalReLU (square loss, dx = 16, no bias): N = 4096 evaluation points, a 4096-point measure,
  n = 8192 samples. One call is a predictor pass (h at the samples) then a potential pass (J, grad J).
  Flops of its matrix products: ``2 n k M`` (predictor) + ``2 N n k`` (b . x) + ``2 N n k`` (grad_b J).
* TeacherStudent (Gaussian inputs, dx = 16): N = M = 4096 (M atoms of nu, plus the teacher's).
  Its matrix products (cosines and grad_b J) take ``4 N M k`` flops; the angles cost more than that.
* GEMM bound: the median time of one square float64 BLAS product (NumPy, all threads) of the same flop
  count, ``2 m^3``: the time the arithmetic would take at this machine's matrix-multiply speed.

Run ``python -m benchmarks.kernels`` (``--quick`` for a smoke test); PyTorch (benchmark-only,
``pip install torch==2.13.0``) is skipped when absent. Timings are medians over rounds that interleave the
implementations, so that the machine's load affects all of them alike.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np

from benchmarks._harness import parse_args, write_results

import wgf
from wgf.geometry import sphere
from wgf.models import EmpiricalReLU, TeacherStudent

try:
    import torch
except ImportError:  # pragma: no cover - optional benchmark peer
    torch = None


# ---------------------------------------------------------------------------------------------- PyTorch peers
def _torch_empirical(P, Q, m, X, y, lam, chunk=2048):
    """J + grad J of the square-loss empirical risk, the NumPy reference's mathematics in PyTorch."""
    n, N = X.shape[0], P.shape[0]
    w = m * Q[:, 0]
    h = torch.empty(n, dtype=torch.float64)
    for s in range(0, n, chunk):
        h[s:s + chunk] = torch.relu(X[s:s + chunk] @ Q[:, 1:].T) @ w
    g = (h - y) / n
    J = torch.empty(N, dtype=torch.float64)
    G = torch.empty_like(P)
    for s in range(0, N, chunk):
        Z = P[s:s + chunk, 1:] @ X.T
        sa = torch.relu(Z) @ g
        a = P[s:s + chunk, 0]
        J[s:s + chunk] = a * sa + lam
        G[s:s + chunk, 0] = sa
        G[s:s + chunk, 1:] = a[:, None] * (((Z > 0) * g) @ X)
    G -= (G * P).sum(1, keepdim=True) * P
    return J, G


def _torch_unit(B):
    nb = torch.linalg.norm(B, dim=1)
    return nb, torch.where(nb[:, None] > 0, B / torch.where(nb > 0, nb, 1.0)[:, None], 0.0)


def _torch_teacher_student(P, Q, c, lam):
    """J + grad J of teacher-student (Gaussian inputs), the NumPy reference's mathematics in PyTorch."""
    nb, Ub = _torch_unit(P[:, 1:])
    nq, Uq = _torch_unit(Q[:, 1:])
    cos = torch.clamp(Ub @ Uq.T, -1.0, 1.0)
    t = torch.arccos(cos)
    s = torch.sqrt(torch.clamp(1.0 - cos * cos, min=0.0))
    for near in (True, False):
        ii, jj = torch.nonzero(cos > 0.5 if near else cos < -0.5, as_tuple=True)
        d2 = ((Ub[ii] - Uq[jj]) ** 2).sum(1) if near else ((Ub[ii] + Uq[jj]) ** 2).sum(1)
        a = 2.0 * torch.arcsin(torch.clamp(0.5 * torch.sqrt(d2), max=1.0))
        t[ii, jj] = a if near else math.pi - a
        s[ii, jj] = 0.5 * torch.sqrt(torch.clamp(d2 * (4.0 - d2), min=0.0))
    w = c * Q[:, 0] * nq
    kw = ((s + (math.pi - t) * cos) @ w) / (2 * math.pi)
    J = P[:, 0] * nb * kw + lam
    G = torch.empty_like(P)
    G[:, 0] = nb * kw
    vacc = ((math.pi - t) * w) @ Uq / (2 * math.pi)
    sacc = (s @ w) / (2 * math.pi)
    G[:, 1:] = P[:, 0:1] * (vacc + sacc[:, None] * Ub)
    G[nb == 0] = 0.0
    G -= (G * P).sum(1, keepdim=True) * P
    return J, G


# ---------------------------------------------------------------------------------------------- timing
def _interleaved_medians(fns: dict, rounds: int) -> dict:
    """Median seconds of each callable, timed once per round in turn (after one untimed warm-up call)."""
    for fn in fns.values():
        fn()
    samples = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            samples[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in samples.items()}


def _gemm(flops: float, rng):
    m = max(8, int(round((flops / 2) ** (1 / 3))))
    A, B = rng.standard_normal((m, m)), rng.standard_normal((m, m))
    return m, (lambda: A @ B)


def _rel(a, ref):
    return float(np.abs(np.asarray(a) - ref).max() / np.abs(ref).max())


def _problem(name, model, P, nu, torch_fn, flops, rounds, rng):
    J0, G0 = model.potential(P, nu, backend="numpy")
    J1, G1 = model.potential(P, nu)
    m, gemm = _gemm(flops, rng)
    fns = {"numba": lambda: model.potential(P, nu), "numpy": lambda: model.potential(P, nu, backend="numpy"),
           "gemm": gemm}
    errors = {"numba": max(_rel(J1, J0), _rel(G1, G0))}
    if torch_fn is not None:
        Jt, Gt = torch_fn()
        errors["torch"] = max(_rel(Jt.numpy(), J0), _rel(Gt.numpy(), G0))
        fns["torch"] = torch_fn
    times = _interleaved_medians(fns, rounds)
    rows = []
    for impl in ("numba", "numpy", "torch", "gemm"):
        if impl not in times:
            continue
        rows.append({"problem": name, "implementation": impl if impl != "gemm" else f"GEMM bound (m={m})",
                     "time_ms": 1e3 * times[impl], "vs_gemm": times[impl] / times["gemm"],
                     "vs_numba": times[impl] / times["numba"],
                     "rel_err_vs_numpy": errors.get(impl, float("nan")) if impl != "numpy" else 0.0})
    return rows, times


# ---------------------------------------------------------------------------------------------- memory
_MEMORY_SCRIPT = textwrap.dedent("""
    import json, re, sys, time
    import numpy as np
    import wgf
    from wgf.geometry import sphere
    from wgf.models import EmpiricalReLU

    def status_mib(key):
        with open("/proc/self/status") as fh:
            return int(re.search(key + r":\\s+(\\d+)", fh.read()).group(1)) / 1024

    N, n, M, dx = map(int, sys.argv[1:5])
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, dx))
    model = EmpiricalReLU(X, np.sin(X[:, 0]))
    nu = wgf.Measure(sphere.sample_uniform(M, dx, rng), np.full(M, 1.0 / M))
    P = sphere.sample_uniform(N, dx, rng)
    model.potential(P[:4], nu)                                    # compile / load the kernels
    peak_setup = status_mib("VmHWM")
    rss_before = status_mib("VmRSS")
    try:                                                          # reset the high-water mark (Linux)
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        hwm_reset = True
    except OSError:
        hwm_reset = False
    t0 = time.perf_counter()
    J, G = model.potential(P, nu)
    seconds = time.perf_counter() - t0
    hwm = status_mib("VmHWM")
    print(json.dumps({"rss_before_mib": rss_before, "hwm_during_mib": hwm, "hwm_reset": hwm_reset,
                      "peak_rss_mib": max(peak_setup, hwm), "seconds": seconds}))
""")


def measure_memory(N: int, n: int, M: int, dx: int) -> dict:
    """Peak resident memory of a fresh process computing J + grad J of EmpiricalReLU with N evaluation
    points, n samples and an M-point measure in dimension dx (Linux: VmHWM of /proc/self/status, the
    high-water mark of the process's own address space; ``ru_maxrss`` would not do, since Linux carries
    the parent's high-water mark across fork and exec)."""
    root = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=str(root) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", _MEMORY_SCRIPT, str(N), str(n), str(M), str(dx)],
                         check=True, capture_output=True, text=True, cwd=root, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------- main
def main(argv=None):
    args = parse_args(__doc__.splitlines()[0], argv, extra=lambda p: (
        p.add_argument("--rounds", type=int, default=None, help="timed rounds per implementation"),
        p.add_argument("--no-memory", action="store_true", help="skip the memory measurement")))
    quick = args.quick
    N, M, n, dx = (512, 512, 1024, 16) if quick else (4096, 4096, 8192, 16)
    mem_size = 10_000 if quick else 100_000
    rounds = args.rounds or (3 if quick else 7)
    rng = np.random.default_rng(0)
    if torch is not None:
        torch.set_num_threads(os.cpu_count())

    # EmpiricalReLU
    X = rng.standard_normal((n, dx))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1]
    emp = EmpiricalReLU(X, y, loss="square", weight_decay=0.01)
    nu = wgf.Measure(sphere.sample_uniform(M, dx, rng), rng.random(M) / M)
    P = sphere.sample_uniform(N, dx, rng)
    torch_emp = None
    if torch is not None:
        tP, tQ, tm, tX, ty = (torch.from_numpy(a) for a in (P, nu.points, nu.masses, X, y))
        torch_emp = lambda: _torch_empirical(tP, tQ, tm, tX, ty, 0.01)  # noqa: E731
    rows, t_emp = _problem("EmpiricalReLU", emp, P, nu, torch_emp, 2.0 * n * dx * (M + 2 * N), rounds, rng)

    # TeacherStudent
    teacher = np.column_stack([rng.choice([-1.0, 1.0], 8), rng.standard_normal((8, dx))])
    ts = TeacherStudent(teacher, weight_decay=0.01)
    nu_ts = wgf.Measure(sphere.sample_uniform(M, dx, rng), rng.random(M) / M)
    torch_ts = None
    if torch is not None:
        T = ts.teacher_measure
        tP = torch.from_numpy(P)
        tQ = torch.from_numpy(np.concatenate([nu_ts.points, T.points]))
        tc = torch.from_numpy(np.concatenate([nu_ts.masses, -T.masses]))
        torch_ts = lambda: _torch_teacher_student(tP, tQ, tc, 0.01)  # noqa: E731
    rows_ts, t_ts = _problem("TeacherStudent", ts, P, nu_ts, torch_ts, 4.0 * N * (M + 8) * dx, rounds, rng)
    rows += rows_ts

    meta = {"sizes": f"EmpiricalReLU N={N}, M={M}, n={n}, dx={dx}; TeacherStudent N=M={N}, dx={dx}",
            "rounds": rounds, "torch": None if torch is None else torch.__version__,
            "torch_threads": None if torch is None else torch.get_num_threads()}
    targets = {
        "EmpiricalReLU numba <= 1.5 x GEMM bound": t_emp["numba"] <= 1.5 * t_emp["gemm"],
        "EmpiricalReLU numba >= 3 x faster than NumPy": t_emp["numpy"] >= 3 * t_emp["numba"],
        "TeacherStudent numba >= 3 x faster than NumPy": t_ts["numpy"] >= 3 * t_ts["numba"],
    }
    if torch is not None:
        targets["EmpiricalReLU numba not slower than PyTorch"] = t_emp["torch"] >= t_emp["numba"]
        targets["TeacherStudent numba >= 2 x faster than PyTorch"] = t_ts["torch"] >= 2 * t_ts["numba"]
    meta["targets"] = {k: ("met" if v else "MISSED") for k, v in targets.items()}

    if not args.no_memory:
        mem = measure_memory(mem_size, mem_size, M, dx)
        meta["memory"] = (
            f"EmpiricalReLU J + grad J, N = n = {mem_size}, M = {M}, dx = {dx}: peak RSS of the process "
            f"{mem['peak_rss_mib']:.0f} MiB (interpreter, libraries, compiled kernels and data included); "
            f"during the call the resident set rose from {mem['rss_before_mib']:.0f} to at most "
            f"{mem['hwm_during_mib']:.0f} MiB{'' if mem['hwm_reset'] else ' (high-water mark not reset)'}; "
            f"{mem['seconds']:.1f} s; a dense N x n matrix would take {mem_size**2 * 8 / 2**30:.1f} GiB")
        meta["memory_peak_mib"] = mem["peak_rss_mib"]
        meta["memory_call_increase_mib"] = mem["hwm_during_mib"] - mem["rss_before_mib"]
        targets[f"EmpiricalReLU N = n = {mem_size} under 1 GB peak"] = mem["peak_rss_mib"] * 2**20 < 1e9
        meta["targets"] = {k: ("met" if v else "MISSED") for k, v in targets.items()}

    fig = _figure(rows)
    write_results("kernels", rows, args, meta=meta, figure=fig)
    return rows, meta


def _figure(rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    problems = list(dict.fromkeys(r["problem"] for r in rows))
    fig, axes = plt.subplots(1, len(problems), figsize=(4.5 * len(problems), 3.2))
    for ax, prob in zip(np.atleast_1d(axes), problems):
        rs = [r for r in rows if r["problem"] == prob]
        labels = [r["implementation"].split(" (")[0] for r in rs]
        ax.bar(labels, [r["time_ms"] for r in rs], color=["C0", "C1", "C2", "0.6"][:len(rs)])
        ax.set_yscale("log")
        ax.set_ylabel("J + grad J (ms, median)")
        ax.set_title(prob)
        for i, r in enumerate(rs):
            ax.text(i, r["time_ms"], f"{r['time_ms']:.0f}", ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    main()
