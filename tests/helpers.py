"""Checks shared by the model tests, written against the :class:`wgf.models.Model` interface only.

* :func:`check_gradient_fd`: grad J against central finite differences of J along great circles
  (tangent curves) through the evaluation points, and tangency of grad J.
* :func:`check_first_variation`: ``d/de F(nu + e delta)`` at e = 0 against ``int J(.|nu) d delta``.
* :func:`random_measure`, :func:`random_tangents`, :func:`away_from_poles`, :func:`relative_error`.
* :func:`run_main`: the ``wgf`` command line in this process, with its exit status and output.

Import them in a test module with ``from helpers import ...`` (``pythonpath = ["tests"]`` in pyproject puts tests/ on sys.path).
"""

from __future__ import annotations

import contextlib
import io as _io

import numpy as np

import wgf
from wgf.geometry import sphere
from wgf.app.cli import main


def relative_error(a: np.ndarray, ref: np.ndarray) -> float:
    """Normwise relative error ``max |a - ref| / max |ref|`` (0 for empty or all-zero equal arrays)."""
    a, ref = np.asarray(a, float), np.asarray(ref, float)
    if ref.size == 0:
        return 0.0
    scale = np.abs(ref).max()
    diff = np.abs(a - ref).max()
    if scale == 0.0:
        return float(diff)
    return float(diff / scale)


def random_measure(n: int, d: int, rng, mass_range=(0.1, 1.0), max_abs_a: float | None = None) -> wgf.Measure:
    """``n`` atoms uniform on S^d with masses uniform in ``mass_range``; with ``max_abs_a`` the atoms keep
    ``|eta_0| <= max_abs_a`` (away from the poles ``(+-1, 0)``)."""
    pts = sphere.sample_uniform(n, d, rng)
    if max_abs_a is not None:
        pts = away_from_poles(pts, max_abs_a, rng)
    return wgf.Measure(pts, rng.uniform(*mass_range, size=n))


def away_from_poles(points: np.ndarray, max_abs_a: float, rng) -> np.ndarray:
    """Resample the points with ``|eta_0| > max_abs_a`` until none is left (keeps ``|b| >= sqrt(1 - a^2)``)."""
    points = np.array(points, dtype=float)
    d = points.shape[1] - 1
    bad = np.abs(points[:, 0]) > max_abs_a
    while np.any(bad):
        points[bad] = sphere.sample_uniform(int(bad.sum()), d, rng)
        bad = np.abs(points[:, 0]) > max_abs_a
    return points


def random_tangents(points: np.ndarray, rng) -> np.ndarray:
    """One random unit tangent vector at each point (N, d+1)."""
    v = sphere.tangent_project(points, rng.standard_normal(points.shape))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def great_circle(points: np.ndarray, tangents: np.ndarray, s: float) -> np.ndarray:
    """``cos(s) eta + sin(s) v``: the unit-speed great circle through eta with velocity v (unit, tangent)."""
    out = np.cos(s) * points + np.sin(s) * tangents
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def check_gradient_fd(model, measure, points: np.ndarray, rng, h: float = 1e-5, rtol: float = 1e-6,
                      backend: str = "numba", tangent_tol: float = 1e-13) -> float:
    """Assert that ``<grad_S J(eta), v>`` equals the central difference ``(J(g(h)) - J(g(-h))) / 2h`` along
    the great circle g through eta with a random unit tangent v, and that grad J is tangent.

    The points must keep a distance > h from every point where J is not differentiable (poles, kinks): the
    caller chooses them. Along the circle J is smooth, so the error is ``h^2 |J'''| / 6`` (1e-11 for
    h = 1e-5) plus round-off ``eps |J| / h`` (1e-11): rtol = 1e-6 leaves a wide margin yet catches any
    wrong term of the gradient. The error of each point is relative to ``max(|grad J(eta)|, 1e-3 max |grad J|)``
    so that a point where the gradient nearly vanishes does not demand an absolute 1e-6 of nothing.

    Returns the largest relative error."""
    points = np.asarray(points, float)
    J, G = model.potential(points, measure, backend=backend)
    assert G.shape == points.shape and J.shape == (points.shape[0],)
    gnorm = np.linalg.norm(G, axis=1)
    # tangency: <G, eta> = 0 up to round-off
    assert np.all(np.abs(np.sum(G * points, axis=1)) <= tangent_tol * np.maximum(gnorm, 1e-300) + 1e-300)
    v = random_tangents(points, rng)
    Jp, _ = model.potential(great_circle(points, v, h), measure, backend=backend)
    Jm, _ = model.potential(great_circle(points, v, -h), measure, backend=backend)
    fd = (Jp - Jm) / (2 * h)
    exact = np.sum(G * v, axis=1)
    scale = np.maximum(gnorm, 1e-3 * gnorm.max())
    err = np.abs(fd - exact) / scale
    assert err.max() <= rtol, f"finite differences disagree with grad J: max relative error {err.max():.3g}"
    return float(err.max())


def check_first_variation(model, measure, delta: np.ndarray, eps: float = 1e-4, rtol: float = 1e-8) -> float:
    """Assert ``(F(nu + eps delta) - F(nu - eps delta)) / (2 eps) = sum_k delta_k J(eta_k | nu)`` for a signed
    perturbation ``delta`` (N,) of the masses of ``nu`` (|delta_k| <= m_k / eps keeps both measures
    nonnegative; put an atom in nu with a small mass to perturb there).

    The error is ``eps^2 |F'''| / 6`` (about 1e-9 for eps = 1e-4; 0 for quadratic F) plus round-off
    ``eps_mach |F| / eps`` (1e-12), measured relative to ``sum_k |delta_k| |J_k|``, the natural size of the
    integral: rtol = 1e-8 holds with margin and still catches a relative error of 1e-6 in J. Returns it."""
    delta = np.asarray(delta, float)
    assert np.all(np.abs(delta) * eps <= measure.masses)
    Fp = model.energy(wgf.Measure(measure.points, measure.masses + eps * delta))
    Fm = model.energy(wgf.Measure(measure.points, measure.masses - eps * delta))
    fd = (Fp - Fm) / (2 * eps)
    J, _ = model.potential(measure.points, measure)
    exact = float(delta @ J)
    scale = float(np.abs(delta) @ np.abs(J))
    err = abs(fd - exact) / scale
    assert err <= rtol, f"d/de F(nu + e delta) = {fd:.15g} but int J d delta = {exact:.15g} (rel {err:.3g})"
    return err


def grid_particle_gaps(model, grids, probe: np.ndarray, scheme: str, T: float = 2.0, dt: float = 0.02):
    """Eulerian against Lagrangian on each grid: both start from the grid's uniform masses (the particles at
    the cell generators), the grid by SSPRK3, the particles by RK4 with step ``dt``, to time T. Returns
    ``(h, sup |J_grid - J_particles| on probe, |F_grid - F_particles|)`` as arrays, one entry per grid."""
    h, dJ, dF = [], [], []
    for grid in grids:
        m0 = grid.uniform_masses(1.0)
        euler = wgf.EulerianSolver(model, grid, m0, scheme=scheme, stepper="ssprk3")
        euler.advance(T)
        parts = wgf.LagrangianSolver(model, wgf.Measure(grid.points, m0), stepper="rk4", dt=dt)
        parts.advance(T)
        h.append(grid.h)
        dJ.append(wgf.sup_potential_difference(model, euler.measure, parts.measure, probe))
        dF.append(abs(euler.energy() - parts.energy()))
    return np.array(h), np.array(dJ), np.array(dF)


def run_main(args: list[str]) -> tuple[int, str, str]:
    """``wgf ARGS`` run in this process: ``(exit status, stdout, stderr)``."""
    out, err = _io.StringIO(), _io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(args)
    return rc, out.getvalue(), err.getvalue()
