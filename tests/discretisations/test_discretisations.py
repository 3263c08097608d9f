"""Two discretisations of one PDE: the Eulerian finite-volume solution and the Lagrangian particle solution
of the teacher–student WFR flow on S^2 approach each other as both are refined.

Both start from the same quadrature of the uniform nu_0 (the particles are the grid's cells), so the gap
at time T is the sum of the two discretisation errors. The Lagrangian error comes from that quadrature
and from RK4 at a small fixed step only; the grid adds its finite-volume error, of order 1 (upwind) or
1.8 (MUSCL at dt = h/4; 1.6 for its spatial part alone) in h (measured on exact solutions in
tests/discretisations/test_finite_volume.py and benchmarks/muscl_order_s2.py). The gap must therefore
shrink at least at the grid's order: fitted slopes of log(gap) against log(h) over 4 levels.
"""

from pathlib import Path

import numpy as np
import pytest

import wgf
from helpers import grid_particle_gaps

T = 2.0
LEVELS = (2, 3, 4, 5)


@pytest.fixture(scope="module")
def model():
    return wgf.TeacherStudent(np.loadtxt(Path(__file__).resolve().parents[2] / "data" / "teacher_fig2.csv", delimiter=","))


def _gaps(model, scheme):
    probe = wgf.geometry.sphere.fibonacci_sphere(2000)
    return grid_particle_gaps(model, (wgf.icosahedral_grid(level) for level in LEVELS), probe, scheme, T)


# measured: upwind 1.07 (sup J) / 1.09 (F); MUSCL 1.85 / 1.70
@pytest.mark.parametrize("scheme,order", [("upwind", 0.9), ("muscl", 1.5)])
def test_eulerian_and_lagrangian_solutions_converge_to_each_other(model, scheme, order):
    h, dJ, dF = _gaps(model, scheme)
    assert np.all(np.diff(dJ) < 0) and np.all(np.diff(dF) < 0)
    assert np.polyfit(np.log(h), np.log(dJ), 1)[0] >= order, dJ
    assert np.polyfit(np.log(h), np.log(dF), 1)[0] >= order, dF
