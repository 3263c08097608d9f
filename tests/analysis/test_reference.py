import numpy as np

import wgf
from wgf.geometry import sphere
from wgf.models import TeacherStudent
from wgf.analysis.reference import grid_minimiser


def test_grid_minimiser_recovers_a_teacher_on_the_grid():
    # teacher neurons placed exactly on grid points: the grid problem has the teacher as minimiser, F* = 0
    pts = sphere.fibonacci_sphere(300)
    idx = [10, 77, 150, 251]
    w = pts[idx] * np.array([1.2, 0.7, 1.0, 0.9])[:, None]
    model = TeacherStudent(w)
    sol = grid_minimiser(model, pts)
    assert sol.energy < 1e-9
    assert abs(sol.energy - model.energy(sol.measure)) < 1e-9
    # KKT: J >= 0 on the grid, J = 0 on the support (to the solver's tolerance)
    assert sol.kkt_residual < 1e-5
    # the predictor equals the teacher's
    assert model.distance(sol.measure, model.teacher_measure) < 1e-4


def test_grid_minimiser_with_weight_decay_satisfies_kkt_and_beats_perturbations():
    pts = sphere.fibonacci_sphere(200)
    rng = np.random.default_rng(1)
    model = TeacherStudent(np.column_stack([rng.choice([-1.0, 1.0], 3), sphere.sample_uniform(3, 1, rng)]),
                           weight_decay=0.05)
    sol = grid_minimiser(model, pts)
    assert sol.kkt_residual < 1e-5
    F0 = sol.energy
    # convexity: no nonnegative perturbation on the grid lowers F
    full = np.zeros(len(pts))
    sup = [np.flatnonzero(np.all(np.isclose(pts, p), axis=1))[0] for p in sol.measure.points]
    full[sup] = sol.measure.masses
    for _ in range(20):
        c = np.maximum(full + 0.01 * rng.standard_normal(len(pts)) * (rng.random(len(pts)) < 0.1), 0)
        assert model.energy(wgf.Measure(pts, c)) >= F0 - 1e-10
