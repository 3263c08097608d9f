"""The finite-volume operator: Numba against the NumPy reference, conservation, dissipation, limiter
bounds, and convergence orders against the exact solution of the linear-potential flow (wgf.analysis.exact)."""

import numpy as np
import pytest

from wgf.discretisations.eulerian import EulerianSolver
from wgf.analysis.exact import linear_characteristics, linear_flow_density, linear_flow_masses
from wgf.discretisations.finite_volume import FiniteVolumeOperator
from wgf.geometry.grid import circle_grid, icosahedral_grid
from wgf.models.linear import LinearPotential

GRIDS = {"circle": lambda: circle_grid(97), "ico2": lambda: icosahedral_grid(2),
         "ico5": lambda: icosahedral_grid(5)}


@pytest.fixture
def parallel_kernels(monkeypatch):
    import wgf.discretisations.finite_volume as fv
    monkeypatch.setattr(fv, "PARALLEL_MIN_CELLS", 1)


@pytest.mark.parametrize("scheme", ["upwind", "muscl"])
def test_parallel_kernels_match_serial_bitwise(parallel_kernels, scheme):
    import wgf.discretisations.finite_volume as fv
    g = icosahedral_grid(4)
    op = FiniteVolumeOperator(g, scheme=scheme)
    m, J = random_state(g, 5)
    par = op.transport(m, J)
    fv.PARALLEL_MIN_CELLS = 10**9
    ser = op.transport(m, J)
    assert np.array_equal(par[0], ser[0]) and np.array_equal(par[1], ser[1])


def random_state(grid, seed):
    rng = np.random.default_rng(seed)
    m = grid.volumes * np.exp(rng.standard_normal(grid.size))
    m[rng.random(grid.size) < 0.1] = 0.0                      # some empty cells
    J = np.sin(3 * grid.points[:, 0]) + 0.3 * rng.standard_normal(grid.size)
    J[:5] = J[5]                                              # ties J_i == J_j
    return m, J


@pytest.mark.parametrize("scheme", ["upwind", "muscl"])
@pytest.mark.parametrize("name", sorted(GRIDS))
def test_numba_matches_numpy_and_conserves_mass(name, scheme):
    g = GRIDS[name]()
    curv = np.random.default_rng(0).random(g.edges.shape[0])
    op = FiniteVolumeOperator(g, alpha=4.0, beta=1.3, scheme=scheme, edge_curvature=curv)
    m, J = random_state(g, 1)
    a, b = op.transport(m, J, "numba"), op.transport(m, J, "numpy")
    scale = np.abs(a[0]).max()
    assert np.allclose(a[0], b[0], rtol=1e-10, atol=1e-12 * scale)
    assert np.allclose(a[1], b[1], rtol=1e-10, atol=1e-12 * scale)
    assert a[2] == pytest.approx(b[2], rel=1e-10)
    rho = m / g.volumes
    assert np.allclose(op.face_values(rho, "numba"), op.face_values(rho, "numpy"), rtol=1e-10, atol=0)
    # transport conserves mass to round-off (F_ij = -F_ji exactly)
    assert abs(a[0].sum()) < 1e-13 * np.abs(a[0]).sum()
    # the dissipation: sum_i J_i dm_i/dt <= -alpha sum J^2 m (transport part <= 0)
    assert J @ (-a[0]) <= 1e-14 * np.abs(J * a[0]).sum()
    assert np.all(a[1] >= 0)


def test_muscl_face_values_stay_within_neighbour_bounds():
    g = icosahedral_grid(3)
    op = FiniteVolumeOperator(g, scheme="muscl")
    m, _ = random_state(g, 2)
    rho = m / g.volumes
    face = op.face_values(rho)
    csr = g.csr()
    for i in range(g.size):
        sl = slice(csr["offsets"][i], csr["offsets"][i + 1])
        nb = rho[csr["neighbours"][sl]]
        lo, hi = max(min(nb.min(), rho[i]), 0.0), min(max(nb.max(), rho[i]), 2 * rho[i])
        assert np.all(face[sl] >= lo - 1e-15) and np.all(face[sl] <= hi + 1e-15)


@pytest.mark.parametrize("grid", [circle_grid(64), icosahedral_grid(4, lloyd=2)])
def test_muscl_reconstruction_is_second_order(grid):
    # a smooth density is reconstructed to O(h^2) at the faces, against O(h) for the cell value, away from
    # its extrema at +-a, where the limiter clips (as it must: face values stay within neighbour values)
    a = np.ones(grid.dim + 1) / np.sqrt(grid.dim + 1)
    op = FiniteVolumeOperator(grid, scheme="muscl")
    rho = 2.0 + grid.points @ a
    face = op.face_values(rho)
    exact = 2.0 + grid.face_points[grid.csr()["edge"]] @ a
    away = np.abs(grid.points[op.slot_source] @ a) < 0.9
    err_muscl = np.abs(face - exact)[away].max()
    err_const = np.abs(rho[op.slot_source] - exact)[away].max()
    assert err_muscl < 0.1 * err_const


def test_exact_solution_characteristics_and_mass():
    e = np.array([0.2, -0.5, 0.9])
    e /= np.linalg.norm(e)
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal((50, 3))
    p0 /= np.linalg.norm(p0, axis=1, keepdims=True)
    # characteristics solve d eta/dt = beta (e - <e, eta> eta): compare with RK4 on the ODE
    beta, t, n = 0.7, 0.8, 400
    x = p0.copy()
    f = lambda x: beta * (e[None, :] - (x @ e)[:, None] * x)  # noqa: E731
    for _ in range(n):
        k1 = f(x); k2 = f(x + t / n / 2 * k1); k3 = f(x + t / n / 2 * k2); k4 = f(x + t / n * k3)  # noqa: E702
        x = x + t / n / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    assert np.allclose(linear_characteristics(p0, t, e, beta), x, atol=1e-10)
    # total mass: d/dt M = alpha int <e, eta> rho, checked by finite differences of the exact masses
    g = icosahedral_grid(4)
    M = lambda s: linear_flow_masses(g, s, e, 4.0, 1.0).sum()  # noqa: E731
    dM = (M(0.3 + 1e-4) - M(0.3 - 1e-4)) / 2e-4
    rhs = 4.0 * g.integrate(lambda p: (p @ e) * linear_flow_density(p, 0.3, e)).sum()
    assert dM == pytest.approx(rhs, rel=1e-6)
    # the density solves the PDE in the interior: the pure-reaction limit beta -> 0 is continuous
    p = g.points
    assert np.allclose(linear_flow_density(p, 0.4, e, 4.0, 1e-7), linear_flow_density(p, 0.4, e, 4.0, 0.0),
                       rtol=1e-5)


# ---------------------------------------------------------------------- convergence orders (scikit-fem)
E1 = np.array([np.cos(0.3), np.sin(0.3)])
E2 = np.array([1.0, 2.0, 3.0]) / np.sqrt(14.0)
T_EXACT = 0.5


class ConvergenceOrder:
    """Solve the linear-potential flow to T = 0.5 on refined grids with dt proportional to h and a stepper
    of the scheme's order, measure the L1 error sum_i |m_i - M_i| against the exact cell masses, and fit
    the slope of log(error) against log(h)."""

    scheme = "upwind"
    stepper = "euler"
    direction = E1
    min_order = 0.9
    courant = 0.25          # dt = courant * h, below the positivity bound (asserted: no step is limited)

    def grids(self):
        raise NotImplementedError

    def error(self, grid):
        m0 = linear_flow_masses(grid, 0.0, self.direction)
        dt = self.courant * grid.h
        s = EulerianSolver(LinearPotential(self.direction), grid, m0, scheme=self.scheme, stepper=self.stepper,
                           dt=dt, interaction_memory=0)
        s.advance(T_EXACT)
        assert s.steps == int(np.ceil(T_EXACT / dt - 1e-9)) and s.rejected == 0
        return grid.h, np.abs(s.masses - linear_flow_masses(grid, T_EXACT, self.direction)).sum()

    def test_order(self):
        h, err = np.array([self.error(g) for g in self.grids()]).T
        slope = np.polyfit(np.log(h), np.log(err), 1)[0]
        print(f"{type(self).__name__}: h={h}, L1 errors={err}, slope={slope:.3f}")
        assert slope >= self.min_order, (err, slope)


class TestUpwindCircle(ConvergenceOrder):
    min_order = 0.9

    def grids(self):
        return [circle_grid(n) for n in (64, 128, 256, 512, 1024)]


class TestMusclCircle(ConvergenceOrder):
    scheme, stepper, min_order = "muscl", "ssprk2", 1.8

    def grids(self):
        return [circle_grid(n) for n in (64, 128, 256, 512, 1024)]


class TestUpwindSphere(ConvergenceOrder):
    direction, min_order = E2, 0.85

    def grids(self):
        return [icosahedral_grid(level) for level in (3, 4, 5, 6)]


class TestMusclSphere(ConvergenceOrder):
    """Levels 2..5 in the default run (the slow test and the benchmark run levels 3..6, centroidal)."""

    direction, scheme, stepper, min_order = E2, "muscl", "ssprk2", 1.5

    def grids(self):
        return [icosahedral_grid(level) for level in (2, 3, 4, 5)]


@pytest.mark.slow
class TestMusclSphereCentroidal(ConvergenceOrder):
    direction, scheme, stepper, min_order = E2, "muscl", "ssprk2", 1.5

    def grids(self):
        return [icosahedral_grid(level, lloyd=4) for level in (3, 4, 5, 6)]
