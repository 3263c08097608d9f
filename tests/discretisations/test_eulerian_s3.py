"""The Eulerian solver on Voronoi grids of S^3 (:func:`wgf.hopf_grid`): the same finite-volume operator as
on S^1 and S^2, verified like them.

* L1 error against the exact solution of the linear-potential flow (wgf.analysis.exact, any S^d), with the
  exact cell masses from the grid's own cell quadrature (2 points per direction on each fan tetrahedron,
  relative error ~1e-5 at 1000 cells and falling like h^4, far below the scheme's error); fitted slopes of
  log(error) against log(h), h the largest neighbour distance.
* positivity and F nonincreasing at every step for every stepper and both schemes, adaptive steps (both
  bounds), on a teacher-student problem with three-dimensional inputs (neurons on S^3);
* Eulerian against Lagrangian particles on one empirical problem (two-dimensional inputs with a bias, so
  the neurons live on S^3), the gap falling with h.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import wgf
from wgf.analysis.exact import linear_flow_density
from wgf.discretisations.eulerian import EulerianSolver
from helpers import grid_particle_gaps

E3 = np.array([1.0, 2.0, 3.0, 4.0]) / math.sqrt(30.0)     # aligned with no symmetry of the Hopf grid
T_EXACT = 0.25
COURANT = 0.2             # dt = COURANT * h, below the positivity bound (asserted: no step is limited)
ALLOWED = sorted(EulerianSolver.allowed_steppers())


def exact_masses(grid, times, order=2):
    """Exact cell masses of the linear-potential flow at ``times``, shape (len(times), n), one quadrature."""
    return grid.integrate(lambda p: np.stack([linear_flow_density(p, t, E3) for t in times], axis=1), order).T


_CACHE: dict[int, tuple] = {}


def problem(cells):
    """The grid with its exact masses at 0 and T_EXACT (cached: both schemes use them)."""
    if cells not in _CACHE:
        g = wgf.hopf_grid(cells)
        _CACHE[cells] = (g, *exact_masses(g, (0.0, T_EXACT)))
    return _CACHE[cells]


class ConvergenceOrderS3:
    scheme = "upwind"
    stepper = "ssprk3"
    cells: tuple = ()
    min_order = 0.85

    def error(self, cells):
        g, m0, mT = problem(cells)
        dt = COURANT * g.h
        s = EulerianSolver(wgf.LinearPotential(E3), g, m0, scheme=self.scheme, stepper=self.stepper, dt=dt,
                           interaction_memory=0)
        s.advance(T_EXACT)
        assert s.steps == int(np.ceil(T_EXACT / dt - 1e-9)) and s.rejected == 0
        assert np.all(s.masses > 0)
        return g.h, np.abs(s.masses - mT).sum()

    def test_order(self):
        h, err = np.array([self.error(c) for c in self.cells]).T
        slope = np.polyfit(np.log(h), np.log(err), 1)[0]
        print(f"{type(self).__name__}: h={h}, L1 errors={err}, slope={slope:.3f}")
        assert np.all(np.diff(err) < 0)
        assert slope >= self.min_order, (err, slope)


class TestUpwindS3Coarse(ConvergenceOrderS3):
    """1000-4000 cells, in the default run: still pre-asymptotic (measured slope 0.78; the local slope
    rises to 0.95 by 64000 cells, see benchmarks/mesh_s3.py), so only 0.75 is claimed here; the order
    >= 0.85 is claimed over 4000-32000 cells (TestUpwindS3, slow)."""

    cells, min_order = (1000, 2000, 4000), 0.75


@pytest.mark.slow
class TestUpwindS3(ConvergenceOrderS3):
    """Measured 0.90 over 4000-32000 cells."""

    cells, min_order = (4000, 8000, 16000, 32000), 0.85


class TestMusclS3(ConvergenceOrderS3):
    """Measured 1.63 over 1000-4000 cells (1.56 to 8000)."""

    scheme, cells, min_order = "muscl", (1000, 2000, 4000), 1.4


# ---------------------------------------------------------------------- positivity and energy decay
@pytest.fixture(scope="module")
def grid():
    return wgf.hopf_grid(1000)


@pytest.fixture(scope="module")
def teacher_student():
    # two teacher neurons w = (a, b), b in R^3: the student's neurons live on S^3
    return wgf.TeacherStudent(np.array([[1.0, 0.6, 0.8, 0.0], [-0.7, 0.0, 0.6, -0.8]]))


@pytest.mark.parametrize("scheme", ["upwind", "muscl"])
@pytest.mark.parametrize("stepper", ALLOWED)
def test_positivity_and_energy_decay_on_s3(teacher_student, grid, stepper, scheme):
    s = EulerianSolver(teacher_student, grid, stepper=stepper, scheme=scheme)
    F, minm = [s.energy()], [s.masses.min()]
    dt_cfl, dt = [s.diagnostics()["dt_cfl"]], []     # the positivity bound at each step's start

    def record(sol):
        F.append(sol.energy())
        minm.append(sol.masses.min())
        dt.append(sol.last_dt)
        dt_cfl.append(sol.diagnostics()["dt_cfl"])
        return False

    s.advance(20.0, record)
    F = np.array(F)
    # both bounds act: early steps are the positivity bound, later ones shorter (the energy bound, or a
    # retry), the last step aside (cut to land on t_end); the Strang splitting's positivity bound is that of
    # its transport part, which diagnostics() does not report; ros2 (linearly implicit, error-controlled) is
    # bound by neither: its steps come from the error estimate and the positivity / energy checks
    dt, bound = np.array(dt[:-1]), np.array(dt_cfl[:len(dt) - 1])
    if stepper not in ("strang", "ros2"):
        assert np.any(np.isclose(dt, bound, rtol=1e-12)) and np.any(dt < 0.99 * bound), (dt, bound)
    assert np.all(np.array(minm) > 0) and np.all(np.isfinite(np.log(minm)))
    assert np.all(np.diff(F) <= 1e-13 * F[0]), np.diff(F).max()
    assert F[-1] < 0.2 * F[0]
    assert s.masses.sum() > 0
    print(f"{stepper}/{scheme}: steps {s.steps}, rejected {s.rejected}, F {F[0]:.4g} -> {F[-1]:.4g}")


def test_fixed_step_above_the_bounds_is_reduced_on_s3(teacher_student, grid):
    s = EulerianSolver(teacher_student, grid, stepper="ssprk2", dt=10.0)
    F0 = s.energy()
    with pytest.warns(wgf.StepReducedWarning, match="exceeds the"):
        s.advance(1.0)
    assert s.energy() < F0 and s.masses.min() > 0 and s.last_dt < 10.0


# ---------------------------------------------------------------------- grid against particles
def _gaps(model, cells_list, scheme, T=2.0):
    probe = wgf.geometry.sphere.sample_uniform(2000, 3, 1)
    return grid_particle_gaps(model, (wgf.hopf_grid(cells) for cells in cells_list), probe, scheme, T)


@pytest.fixture(scope="module")
def empirical():
    # two-dimensional inputs with a bias (neurons on S^3), square loss, a small teacher with a bias
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 2))
    y = np.maximum(X @ [1.0, -0.5] + 0.3, 0.0) - 0.8 * np.maximum(X @ [0.2, 1.0] - 0.2, 0.0)
    return wgf.EmpiricalReLU(X, y, loss="square", bias=True)


# measured (500, 1000, 2000 cells): upwind 0.96 (sup J) / 1.00 (F); MUSCL 1.82 / 1.87
@pytest.mark.parametrize("scheme,order", [("upwind", 0.85), ("muscl", 1.5)])
def test_eulerian_and_lagrangian_converge_to_each_other_on_s3(empirical, scheme, order):
    assert empirical.dim == 3
    h, dJ, dF = _gaps(empirical, (500, 1000, 2000), scheme)
    print(f"{scheme}: h={h}, sup|dJ|={dJ}, |dF|={dF}")
    assert np.all(np.diff(dJ) < 0) and np.all(np.diff(dF) < 0)
    assert np.polyfit(np.log(h), np.log(dJ), 1)[0] >= order, dJ
    assert np.polyfit(np.log(h), np.log(dF), 1)[0] >= order, dF


@pytest.mark.slow
def test_eulerian_and_lagrangian_converge_to_each_other_on_s3_finer(empirical):
    # measured (1000, 2000, 4000 cells), upwind: 0.90 (sup J) / 0.92 (F)
    h, dJ, dF = _gaps(empirical, (1000, 2000, 4000), "upwind")
    assert np.all(np.diff(dJ) < 0) and np.all(np.diff(dF) < 0)
    assert np.polyfit(np.log(h), np.log(dJ), 1)[0] >= 0.85, dJ
    assert np.polyfit(np.log(h), np.log(dF), 1)[0] >= 0.85, dF
