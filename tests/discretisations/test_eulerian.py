"""The Eulerian solver: pure reaction against its exact solution, invariants and global convergence on
the teacher-student model, second order of the splitting, bit-for-bit resume, input validation."""

import math
from pathlib import Path

import numpy as np
import pytest

from wgf.discretisations.eulerian import EulerianSolver
from wgf.discretisations.interaction import lanczos_lambda_bound
from wgf.geometry.grid import circle_grid, icosahedral_grid
from wgf.models import TeacherStudent
from wgf.models.linear import LinearPotential
from wgf.discretisations.timesteppers import STEPPERS, ExplicitRK

TEACHER = np.loadtxt(Path(__file__).resolve().parents[2] / "data" / "teacher_fig2.csv", delimiter=",")
SSP_RK = sorted(k for k, v in STEPPERS.items() if issubclass(v, ExplicitRK) and v.ssp_coefficient > 0)
ALLOWED = sorted(EulerianSolver.allowed_steppers())


@pytest.fixture(scope="module")
def model():
    return TeacherStudent(TEACHER)


@pytest.fixture(scope="module")
def grid3():
    return icosahedral_grid(3)


# ---------------------------------------------------------------------- pure reaction
@pytest.mark.parametrize("stepper", ALLOWED)
def test_pure_reaction_with_fixed_J(stepper):
    # beta = 0 and J = -<e, eta> fixed: the semi-discrete solution is m_i(0) exp(-alpha t J_i) exactly
    g = icosahedral_grid(2)
    e = np.array([0.3, 0.4, -0.5])
    model = LinearPotential(e)
    J = model.linear_potential(g.points)
    m0 = g.uniform_masses()
    T = 0.5
    exact = m0 * np.exp(-4.0 * T * J)
    ns = [10, 20, 40, 80]
    errs = []
    for n in ns:
        s = EulerianSolver(model, g, m0, beta=0.0, stepper=stepper, dt=T / n)
        s.advance(T)
        assert s.steps == n
        errs.append(np.abs(s.masses - exact).sum() / exact.sum())
    if stepper == "strang":
        # the exponential reaction step is exact for a frozen J
        assert max(errs) < 1e-13
    else:
        slope = -np.polyfit(np.log(ns), np.log(errs), 1)[0]
        assert slope > STEPPERS[stepper].order - 0.15, (errs, slope)


# ---------------------------------------------------------------------- invariants (teacher-student)
@pytest.mark.parametrize("scheme", ["upwind", "muscl"])
@pytest.mark.parametrize("stepper", ALLOWED)
def test_teacher_student_invariants(model, grid3, stepper, scheme):
    s = EulerianSolver(model, grid3, stepper=stepper, scheme=scheme)
    F, minm, balance = [s.energy()], [s.masses.min()], []
    b = getattr(STEPPERS[stepper], "b", None)

    def record(sol):
        F.append(sol.energy())
        minm.append(sol.masses.min())
        if b is not None:
            info = sol.last_step
            change = sol.masses.sum() - info["mass_before"]
            predicted = info["dt"] * float(np.dot(b, info["stage_reaction_sums"]))
            scale = info["mass_before"] + info["dt"] * np.abs(info["stage_reaction_sums"]).sum()
            balance.append(abs(change - predicted) / scale)
        return False

    s.advance(60.0, record)
    F = np.array(F)
    # every mass stays positive (in log scale: they fall to ~1e-12 here and are never 0)
    assert np.all(np.array(minm) > 0) and np.all(np.isfinite(np.log(minm)))
    # F never increases, up to round-off of its evaluation (64 eps of the terms of F)
    assert np.all(np.diff(F) <= 1e-13 * F[0]), np.diff(F).max()
    assert F[-1] < 1e-2 * F[0]
    if b is not None:
        # mass balance through the stepper's own stage sums, to round-off
        assert max(balance) < 1e-14
    # Q (conserved by the PDE as alpha = 4 beta) drifts on the grid: an error indicator, reported
    print(f"{stepper}/{scheme}: steps {s.steps}, rejected {s.rejected}, Q drift {s.measure.balance() + 1 / 3:.3e}")


def test_q_drift_decreases_with_refinement(model):
    # Q(nu_0) = int (2 eta_0^2 - 1) d(uniform) = -1/3; its drift is a discretisation error
    drifts = []
    for level in (2, 3, 4):
        g = icosahedral_grid(level)
        s = EulerianSolver(model, g, stepper="euler")
        q0 = s.measure.balance()
        s.advance(10.0)
        drifts.append(abs(s.measure.balance() - q0))
    print("Q drift at T = 10, levels 2..4:", drifts)
    assert drifts[0] > drifts[1] > drifts[2]


def test_global_convergence_teacher_student(model):
    """The seeds' Theorem 3 setting: dx = 2, m0 = 4 teacher, uniform initial density of mass 1, level 4."""
    g = icosahedral_grid(4)
    s = EulerianSolver(model, g, stepper="euler")
    F0 = s.energy()
    out = s.solve([10.0, 100.0, 1000.0])
    assert out["energy"][-1] < 1e-4 * F0
    # min J < 0 tends to 0 from below
    assert np.all(out["min_J"] < 0) and np.all(np.diff(np.abs(out["min_J"])) < 0)
    assert abs(out["min_J"][-1]) < 1e-3
    # the predictor tends to the teacher's: relative L2(inputs) error sqrt(F / F(0-measure))
    rel = model.distance(s.measure, model.teacher_measure) / math.sqrt(2 * model.energy_constant)
    assert rel < 0.01
    # ... although the mass does not tend to the teacher's (Q is conserved, minimisers are not unique)
    assert abs(out["mass"][-1] - model.teacher_measure.total_mass) > 0.1
    print(f"F(1000)/F(0) = {out['energy'][-1] / F0:.3e}, min J = {out['min_J']}, predictor error {rel:.2e}, "
          f"steps {s.steps}")


# ---------------------------------------------------------------------- second order of the splitting
@pytest.mark.parametrize("stepper", ["strang", "ssprk2", "ssprk3"])
def test_time_order_by_self_convergence(model, stepper):
    g = icosahedral_grid(2)
    T = 1.0
    ns = [20, 40, 80, 160, 320]
    sols = []
    for n in ns:
        s = EulerianSolver(model, g, stepper=stepper, dt=T / n)
        s.advance(T)
        assert s.steps == n
        sols.append(s.masses.copy())
    diffs = [np.abs(sols[k] - sols[k + 1]).sum() for k in range(len(ns) - 1)]
    slope = -np.polyfit(np.log(ns[:-1]), np.log(diffs), 1)[0]
    assert slope > STEPPERS[stepper].order - 0.2, (diffs, slope)


# ---------------------------------------------------------------------- precomputation and precision
def test_dense_on_the_fly_and_float32_agree(model, grid3):
    runs = {}
    for key, kw in {"dense64": {"interaction": "dense"}, "fly": {"interaction": "kernel"},
                    "dense32": {"interaction": "dense", "interaction_dtype": "float32"}}.items():
        s = EulerianSolver(model, grid3, stepper="ssprk2", dt=0.05, **kw)
        s.advance(1.0)
        runs[key] = (s.masses.copy(), s.energy())
    m64, F64 = runs["dense64"]
    # same scheme, J from K m + V or from the kernels: round-off differences only
    assert np.abs(runs["fly"][0] - m64).sum() < 1e-10 * m64.sum()
    assert runs["fly"][1] == pytest.approx(F64, rel=1e-10)
    # float32 storage: entries rounded to 6e-8 relative; the trajectory moves by a comparable amount
    assert np.abs(runs["dense32"][0] - m64).sum() < 1e-5 * m64.sum()
    assert runs["dense32"][1] == pytest.approx(F64, rel=1e-5)


def test_lanczos_bound_is_an_upper_bound(model, grid3):
    s = EulerianSolver(model, grid3, interaction="dense")
    rng = np.random.default_rng(0)
    K = s.dense.K
    lam_of = lambda m: np.linalg.eigvalsh(np.sqrt(m)[:, None] * K * np.sqrt(m)[None, :]).max()  # noqa: E731
    for m in (s.masses, rng.random(grid3.size) * 1e-2, np.where(rng.random(grid3.size) < 0.05, 0.3, 1e-9)):
        bound = lanczos_lambda_bound(s.dense.matvec, m, s.dense.diag, 6)
        assert lam_of(m) <= bound <= float(m @ s.dense.diag) + 1e-15
    # tight once the masses gather in a few clusters (the late flow, where the energy bound binds)
    s.advance(100.0)
    m = s.masses
    bound = lanczos_lambda_bound(s.dense.matvec, m, s.dense.diag, 6)
    assert lam_of(m) <= bound < 1.05 * lam_of(m)


# ---------------------------------------------------------------------- resume and output
@pytest.mark.parametrize("stepper", ["ssprk2", "strang"])
def test_bit_for_bit_resume(model, stepper):
    g = icosahedral_grid(2)
    ref = EulerianSolver(model, g, stepper=stepper, scheme="muscl")
    ref.advance(30.0)
    a = EulerianSolver(model, g, stepper=stepper, scheme="muscl")
    a.advance(30.0, callback=lambda sol: sol.steps >= 17)      # interrupted by the callback
    assert a.steps == 17 and a.time < 30.0
    b = EulerianSolver(model, g, stepper=stepper, scheme="muscl")
    b.load_state_dict(a.state_dict())
    b.advance(30.0)
    assert b.steps == ref.steps and b.time == ref.time == 30.0
    assert np.array_equal(b.masses, ref.masses)
    d = b.diagnostics()
    assert set(d) >= {"energy", "mass", "Q", "min_J", "dt"}
    snap = b.snapshot()
    assert np.allclose(snap["densities"] * g.volumes, snap["masses"])


def test_circle_teacher_student_and_solve_output():
    # dx = 1: a teacher on S^1
    model = TeacherStudent(np.array([[1.0, 1.0], [-1.0, 0.5]]))
    s = EulerianSolver(model, circle_grid(200), scheme="muscl", stepper="ssprk3")
    out = s.solve([0.0, 1.0, 5.0])
    assert out["densities"].shape == (3, 200) and np.all(np.diff(out["energy"]) < 0)
    assert np.all(out["densities"] > 0)


def test_validation(model, grid3):
    bad = {"alpha": -1.0, "beta": float("nan"), "scheme": "weno", "stepper": "rk4", "cfl": 1.0,
           "energy_safety": 0.0, "dt": -0.1, "dt_max": 0.0, "interaction_memory": -5,
           "interaction_dtype": "float16", "backend": "cuda"}
    for name, value in bad.items():
        with pytest.raises(ValueError, match=name):
            EulerianSolver(model, grid3, **{name: value})
    with pytest.raises(ValueError, match="masses"):
        EulerianSolver(model, grid3, np.ones(3))
    with pytest.raises(ValueError, match="masses"):
        EulerianSolver(model, grid3, -np.ones(grid3.size))
    with pytest.raises(ValueError, match="S\\^1"):
        EulerianSolver(model, circle_grid(10))
    with pytest.raises(ValueError, match="stepper"):
        EulerianSolver(model, grid3, stepper="nope")
    s = EulerianSolver(model, grid3)
    with pytest.raises(ValueError, match="t_end"):
        s.advance(-1.0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("path", ["serial", "parallel"])
def test_dense_product_against_numpy_and_thread_count(dtype, path, monkeypatch):
    """The dense ``K m`` (Numba, float64 accumulation; its row sums may be reassociated to vectorise)
    against the float64 NumPy product of the stored matrix, and bit for bit the same on 1 and 2 threads.
    ``path="parallel"`` lowers BLAS_MIN_CELLS so that 642 cells take the large-grid path (Numba parallel
    over rows for float32, BLAS dsymv for float64)."""
    import numba

    import wgf.discretisations.interaction as interaction

    grid = icosahedral_grid(3)
    model = TeacherStudent(np.array([[1.0, 0.6, 0.8], [-0.5, 0.0, 1.0]]))
    dense = interaction.DenseInteraction(model, grid.points, dtype)
    if path == "parallel":
        monkeypatch.setattr(interaction, "BLAS_MIN_CELLS", 100)
    m = np.random.default_rng(3).random(grid.points.shape[0]) - 0.3
    ref = dense.matvec_numpy(m)
    out = dense.matvec(m)
    assert np.max(np.abs(out - ref)) <= 1e-13 * np.max(np.abs(dense.K.astype(np.float64)) @ np.abs(m))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = dense.matvec(m)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, out)
