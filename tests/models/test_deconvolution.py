"""Sparse spike deconvolution (BLASSO) on S^1 and S^2: kernels against their definitions (Fourier sums,
the addition theorem over spherical harmonics, the measurement vectors), gradients against finite
differences, Numba against NumPy, the first variation against the energy, input validation, and the
optimisation problem against an independent grid QP and the linearised continuous BLASSO solution."""

import math

import numpy as np
import pytest
from scipy.stats import ks_2samp

import wgf
from wgf.geometry import sphere
from wgf.models import SpikeDeconvolution, spike_train
from wgf.analysis.reference import grid_minimiser
from wgf.models.spike_kernels import (
    dirichlet_coefficients,
    legendre_sum_coefficients,
    zonal_curvature_constant,
    zonal_potential,
    zonal_potential_numpy,
)


try:
    from scipy.special import sph_harm_y
except ImportError:  # SciPy < 1.15
    from scipy.special import sph_harm

    def sph_harm_y(l, m, polar, azimuth):
        return sph_harm(m, l, azimuth, polar)


def _angles(P):
    return np.arctan2(P[:, 1], P[:, 0])


def _model(d, degree, seed=0, noise=None, normalization="fourier", m0=4, lam=0.3):
    nu0 = spike_train(m0, d, 0.3, weight_range=(0.5, 1.5), rng=seed)
    return SpikeDeconvolution(nu0.points, nu0.masses, degree, lam, normalization=normalization,
                              noise=noise, rng=seed + 1)


def _random_measure(d, n, seed, scale=1.0):
    rng = np.random.default_rng(seed)
    return wgf.Measure(sphere.sample_uniform(n, d, rng), scale * rng.random(n))


def _complex_sh_kernel(X, Y, L):
    """sum_{l <= L} sum_{|m| <= l} Y_lm(x) conj(Y_lm(y)) from SciPy's complex harmonics (addition theorem)."""
    def coords(P):
        return np.arccos(np.clip(P[:, 2], -1, 1)), np.mod(np.arctan2(P[:, 1], P[:, 0]), 2 * np.pi)
    (tx, px), (ty, py) = coords(X), coords(Y)
    K = np.zeros((len(X), len(Y)), dtype=complex)
    for l in range(L + 1):
        for m in range(-l, l + 1):
            K += np.outer(sph_harm_y(l, m, tx, px), np.conj(sph_harm_y(l, m, ty, py)))
    assert np.abs(K.imag).max() < 1e-10 * max(1.0, np.abs(K.real).max())
    return K.real


# ---------------------------------------------------------------------- kernels against definitions
@pytest.mark.parametrize("fc", [1, 8, 50])
@pytest.mark.parametrize("normalization", ["fourier", "unit"])
def test_dirichlet_kernel_is_the_sum_of_exponentials_and_the_gram_of_the_measurements(fc, normalization):
    model = _model(1, fc, normalization=normalization)
    rng = np.random.default_rng(fc)
    X = sphere.sample_uniform(40, 1, rng)
    Y = np.concatenate([X[:5], -X[5:10], sphere.sample_uniform(30, 1, rng)])  # coincident, antipodal
    K = model.interaction(X, Y)
    u = _angles(X)[:, None] - _angles(Y)[None, :]
    k = np.arange(-fc, fc + 1)
    D = np.exp(1j * u[..., None] * k).sum(-1)  # sum_{|k| <= fc} e^{iku}
    assert np.abs(D.imag).max() < 1e-11 * (2 * fc + 1)
    s = 1.0 if normalization == "fourier" else 1.0 / (2 * fc + 1)
    np.testing.assert_allclose(K, s * D.real, rtol=0, atol=1e-12 * s * (2 * fc + 1))
    # the closed form sin((2fc+1)u/2)/sin(u/2), away from its removable singularity
    far = np.abs(np.sin(u / 2)) > 1e-3
    closed = np.sin((2 * fc + 1) * u[far] / 2) / np.sin(u[far] / 2)
    np.testing.assert_allclose(K[far], s * closed, rtol=0, atol=1e-9 * s * (2 * fc + 1))
    # K = Phi^T Phi: the Gram matrix of the real measurement vectors
    np.testing.assert_allclose(model.measurement_vectors(X) @ model.measurement_vectors(Y).T, K,
                               rtol=0, atol=1e-12 * s * (2 * fc + 1))
    assert model.kernel_peak == pytest.approx(s * (2 * fc + 1), rel=1e-15)


@pytest.mark.parametrize("L", [0, 1, 8, 24])
def test_legendre_sum_is_the_addition_theorem_over_spherical_harmonics(L):
    model = _model(2, L)
    rng = np.random.default_rng(L)
    X = sphere.sample_uniform(25, 2, rng)
    Y = np.concatenate([X[:4], -X[4:8], sphere.sample_uniform(15, 2, rng)])
    K = model.interaction(X, Y)
    peak = (L + 1) ** 2 / (4 * np.pi)
    np.testing.assert_allclose(K, _complex_sh_kernel(X, Y, L), rtol=0, atol=1e-11 * peak)
    np.testing.assert_allclose(model.measurement_vectors(X) @ model.measurement_vectors(Y).T, K,
                               rtol=0, atol=1e-11 * peak)
    np.testing.assert_allclose(np.diag(model.interaction(X, X)), peak, rtol=1e-13)
    unit = _model(2, L, normalization="unit")
    np.testing.assert_allclose(unit.interaction(X, Y), K / peak, rtol=0, atol=1e-12)


@pytest.mark.parametrize("d,degree", [(1, 8), (2, 6)])
@pytest.mark.parametrize("noise", [None, 0.2])
def test_energy_and_potential_from_the_measurement_vectors(d, degree, noise):
    model = _model(d, degree, seed=3, noise=noise)
    nu = _random_measure(d, 30, 4, scale=0.2)
    lam = model.weight_decay
    # independent measurements: S^1 complex Fourier coefficients, S^2 SciPy's complex harmonics
    if d == 1 and noise is None:
        k = np.arange(-degree, degree + 1)
        def hat(mu):
            return np.exp(-1j * np.outer(_angles(mu.points), k)).T @ mu.masses
        r = hat(nu) - hat(model.spikes)
        F = 0.5 * float(np.sum(np.abs(r) ** 2)) + lam * nu.total_mass
        assert model.energy(nu) == pytest.approx(F, rel=1e-12)
    if d == 2 and noise is None:
        c = np.concatenate([nu.masses, -model.spikes.masses])
        Q = np.concatenate([nu.points, model.spikes.points])
        F = 0.5 * c @ _complex_sh_kernel(Q, Q, degree) @ c + lam * nu.total_mass
        assert model.energy(nu) == pytest.approx(F, rel=1e-12)
    # with the model's real measurement vectors, noise included
    B = model.measurement_vectors(nu.points)
    y = model.measurement_vectors(model.spikes.points).T @ model.spikes.masses + model.noise_vector
    np.testing.assert_allclose(model.measurements, y, rtol=0, atol=1e-13 * np.abs(y).max())
    r = B.T @ nu.masses - y
    assert model.energy(nu) == pytest.approx(0.5 * r @ r + lam * nu.total_mass, rel=1e-13)
    # J = phi(x) . (Phi nu - y) + lambda
    X = sphere.sample_uniform(200, d, 5)
    J, _ = model.potential(X, nu)
    np.testing.assert_allclose(J, model.measurement_vectors(X) @ r + lam, rtol=0, atol=1e-12 * np.abs(J).max())
    # the quadratic structure: F = 1/2 m^T K m + m^T V + C
    m = nu.masses
    Fq = 0.5 * m @ model.interaction(nu.points, nu.points) @ m + m @ model.linear_potential(nu.points) \
        + model.energy_constant
    assert model.energy(nu) == pytest.approx(Fq, rel=1e-11)
    assert model.energy(wgf.Measure(np.zeros((0, d + 1)), np.zeros(0))) == pytest.approx(model.energy_constant)


@pytest.mark.parametrize("d,degree", [(1, 8), (1, 40), (2, 5), (2, 20)])
def test_noise_measure_reproduces_the_noise_exactly(d, degree):
    model = _model(d, degree, noise=0.3)
    zp, za = model.noise_measure
    e = za @ model.measurement_vectors(zp)
    np.testing.assert_allclose(e, model.noise_vector, rtol=0, atol=1e-12 * np.abs(model.noise_vector).max())
    given = np.linspace(-1, 1, model.n_measurements)
    m2 = SpikeDeconvolution(model.spikes.points, model.spikes.masses, degree, 0.1, noise=given)
    np.testing.assert_array_equal(m2.noise_vector, given)
    assert np.all(SpikeDeconvolution(model.spikes.points, model.spikes.masses, degree, 0.1).noise_vector == 0)


# ---------------------------------------------------------------------- derivatives
@pytest.mark.parametrize("d,degree,normalization,noise", [
    (1, 8, "fourier", None), (1, 30, "unit", 0.1), (2, 8, "fourier", 0.1), (2, 20, "unit", None)])
def test_gradient_matches_central_differences_along_geodesics(d, degree, normalization, noise):
    model = _model(d, degree, seed=7, noise=noise, normalization=normalization)
    nu = _random_measure(d, 25, 8, scale=0.3)
    rng = np.random.default_rng(9)
    X = sphere.sample_uniform(300, d, rng)
    J, G = model.potential(X, nu)
    # tangent to the sphere
    assert np.abs(np.sum(G * X, axis=1)).max() < 1e-13 * np.abs(G).max()
    V = sphere.tangent_project(X, rng.standard_normal(X.shape))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    # J restricted to a great circle is a trigonometric polynomial of degree n = degree: the central
    # difference errs by about (s n)^2 / 6 relative to the derivative (truncation) and eps |J| / s
    # (round-off, |J'| ~ n |J|); s n = 1e-5 balances them near 1e-10, far below the 1e-6 asserted.
    s = 1e-5 / degree
    Jp, _ = model.potential(sphere.exp_map(X, s * V), nu)
    Jm, _ = model.potential(sphere.exp_map(X, -s * V), nu)
    fd = (Jp - Jm) / (2 * s)
    exact = np.sum(G * V, axis=1)
    assert np.abs(fd - exact).max() <= 1e-6 * np.abs(G).max()


@pytest.mark.parametrize("d,degree,noise", [(1, 8, None), (2, 6, 0.1)])
def test_first_variation_is_the_derivative_of_the_energy(d, degree, noise):
    model = _model(d, degree, seed=11, noise=noise)
    nu = _random_measure(d, 20, 12, scale=0.5)
    rng = np.random.default_rng(13)
    delta = rng.standard_normal(nu.size) * nu.masses  # perturb the masses: nu + e delta >= 0 for |e| < 1
    J, _ = model.potential(nu.points, nu)
    # F is quadratic in e, so the central difference is exact up to round-off ~ eps F / e
    e = 1e-3
    Fp = model.energy(wgf.Measure(nu.points, nu.masses + e * delta))
    Fm = model.energy(wgf.Measure(nu.points, nu.masses - e * delta))
    assert (Fp - Fm) / (2 * e) == pytest.approx(J @ delta, rel=1e-8, abs=1e-10 * model.energy(nu) / e)
    # a new atom: F(nu + e delta_z) = F(nu) + e J(z) + e^2 K(z, z) / 2 exactly
    z = sphere.sample_uniform(1, d, rng)
    Jz, _ = model.potential(z, nu)
    nz = wgf.Measure(np.concatenate([nu.points, z]), np.concatenate([nu.masses, [e]]))
    assert model.energy(nz) - model.energy(nu) == pytest.approx(
        e * Jz[0] + 0.5 * e * e * model.kernel_peak, rel=1e-7)


@pytest.mark.parametrize("d,degree", [(1, 1), (1, 8), (1, 64), (2, 0), (2, 1), (2, 8), (2, 48)])
@pytest.mark.parametrize("sizes", [(1, 1), (17, 5), (300, 200)])
def test_numba_matches_numpy_reference(d, degree, sizes):
    N, M = sizes
    rng = np.random.default_rng(N + M + degree)
    Q = sphere.sample_uniform(M, d, rng)
    P = sphere.sample_uniform(N, d, rng)
    h = min(N, M) // 3
    if h:
        P[:h] = Q[:h]            # coincident points
        P[h:2 * h] = -Q[h:2 * h]  # antipodal points
    c = rng.standard_normal(M)
    coef = dirichlet_coefficients(degree) if d == 1 else legendre_sum_coefficients(degree)
    J, G = zonal_potential(P, Q, c, coef)
    Jr, Gr = zonal_potential_numpy(P, Q, c, coef)
    np.testing.assert_allclose(J, Jr, rtol=0, atol=1e-10 * np.abs(Jr).max())
    np.testing.assert_allclose(G, Gr, rtol=0, atol=1e-10 * np.abs(Gr).max())
    # the model's backends agree too (noise atoms included)
    if sizes == (17, 5) and degree > 0 and degree <= 8:
        model = _model(d, degree, noise=0.1)
        nu = wgf.Measure(Q, np.abs(c))
        Jn, Gn = model.potential(P, nu, backend="numba")
        Jp, Gp = model.potential(P, nu, backend="numpy")
        np.testing.assert_allclose(Jn, Jp, rtol=0, atol=1e-10 * np.abs(Jp).max())
        np.testing.assert_allclose(Gn, Gp, rtol=0, atol=1e-10 * np.abs(Gp).max())


@pytest.mark.parametrize("d", [1, 2])
def test_serial_and_parallel_kernels_are_bitwise_identical(d, monkeypatch):
    import numba

    import wgf.models.spike_kernels as sk
    rng = np.random.default_rng(d)
    P, Q, c = sphere.sample_uniform(500, d, rng), sphere.sample_uniform(300, d, rng), rng.standard_normal(300)
    coef = dirichlet_coefficients(12) if d == 1 else legendre_sum_coefficients(12)
    monkeypatch.setattr(sk, "SERIAL_WORK", 0)
    J1, G1 = zonal_potential(P, Q, c, coef)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        J2, G2 = zonal_potential(P, Q, c, coef)
    finally:
        numba.set_num_threads(threads)
    monkeypatch.setattr(sk, "SERIAL_WORK", 10**18)
    J3, G3 = zonal_potential(P, Q, c, coef)
    assert np.array_equal(J1, J2) and np.array_equal(G1, G2)
    assert np.array_equal(J1, J3) and np.array_equal(G1, G3)


@pytest.mark.parametrize("d,degree", [(1, 8), (1, 30), (2, 8), (2, 16)])
def test_lipschitz_and_curvature_bounds_dominate_sampled_derivatives(d, degree):
    model = _model(d, degree, seed=21, noise=0.1)
    nu = _random_measure(d, 30, 22, scale=0.3)
    rng = np.random.default_rng(23)
    X = sphere.sample_uniform(5000 if d == 2 else 2000, d, rng)
    _, G = model.potential(X, nu)
    L = model.potential_lipschitz(nu)
    gmax = np.linalg.norm(G, axis=1).max()
    assert gmax <= L
    # not vacuous: Bernstein per Legendre/Chebyshev term; measured bound/max 7 (S^1) to 16 (S^2, L = 16)
    assert gmax >= L / 20
    # second derivative along geodesics (second central differences)
    V = sphere.tangent_project(X, rng.standard_normal(X.shape))
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    s = 1e-3 / degree
    J0, _ = model.potential(X, nu)
    Jp, _ = model.potential(sphere.exp_map(X, s * V), nu)
    Jm, _ = model.potential(sphere.exp_map(X, -s * V), nu)
    zp, za = model.noise_measure
    tv = nu.total_mass + model.spikes.total_mass + np.abs(za).sum()
    assert np.abs((Jp - 2 * J0 + Jm) / s**2).max() <= zonal_curvature_constant(model.coefficients) * tv


def test_certificate_applies_to_spike_deconvolution():
    model = _model(1, 8, seed=31)
    sol = grid_minimiser(model, sphere.circle_points(512))
    nu = _random_measure(1, 10, 32, scale=0.5)
    cert = wgf.optimality_certificate(model, nu, n_points=2048)
    # F* <= F(grid solution), so the certified gap must cover F(nu) - F(grid solution)
    assert cert.gap_bound >= cert.energy - sol.energy
    assert cert.minimiser_mass == pytest.approx(model.energy(nu) / model.weight_decay)
    assert model.minimiser_mass_bound(nu) >= sol.measure.total_mass


def test_predict_and_distance():
    model = _model(2, 6, seed=41)
    X = sphere.sample_uniform(50, 2, 42)
    np.testing.assert_allclose(model.predict(model.spikes, X),
                               model.interaction(X, model.spikes.points) @ model.spikes.masses, rtol=1e-12)
    mu, nu = _random_measure(2, 10, 43), _random_measure(2, 7, 44)
    Q = np.concatenate([mu.points, nu.points])
    c = np.concatenate([mu.masses, -nu.masses])
    assert model.distance(mu, nu) == pytest.approx(math.sqrt(c @ model.interaction(Q, Q) @ c), rel=1e-10)
    assert model.distance(mu, mu) == 0.0


# ---------------------------------------------------------------------- validation
_P1 = np.array([[1.0, 0.0], [0.0, 1.0]])
_P2 = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])


@pytest.mark.parametrize("kwargs,match", [
    (dict(positions=_P1, weights=[1, 1], degree=8, weight_decay=0.0), "weight_decay"),
    (dict(positions=_P1, weights=[1, 1], degree=8, weight_decay=-1.0), "weight_decay"),
    (dict(positions=_P1, weights=[1, 1], degree=8, weight_decay=np.nan), "weight_decay"),
    (dict(positions=_P1, weights=[1, 1], degree=0, weight_decay=0.3), "fc"),
    (dict(positions=_P1, weights=[1, 1], degree=2.5, weight_decay=0.3), "integer"),
    (dict(positions=_P2, weights=[1, 1], degree=-1, weight_decay=0.3), "L "),
    (dict(positions=_P1 * 1.1, weights=[1, 1], degree=8, weight_decay=0.3), "unit vectors"),
    (dict(positions=_P1, weights=[1, -1], degree=8, weight_decay=0.3), "positive"),
    (dict(positions=_P1, weights=[1, 0], degree=8, weight_decay=0.3), "positive"),
    (dict(positions=_P1, weights=[1, 1, 1], degree=8, weight_decay=0.3), "shape"),
    (dict(positions=np.eye(4)[:2], weights=[1, 1], degree=8, weight_decay=0.3), "S\\^1 and S\\^2"),
    (dict(positions=_P1, weights=[1, 1], degree=8, weight_decay=0.3, normalization="peak"), "normalization"),
    (dict(positions=_P1, weights=[1, 1], degree=8, weight_decay=0.3, noise=-0.1), "sigma"),
    (dict(positions=_P1, weights=[1, 1], degree=8, weight_decay=0.3, noise=np.zeros(5)), "shape \\(17,\\)"),
])
def test_bad_inputs_raise_value_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SpikeDeconvolution(**kwargs)


def test_dimension_mismatch_between_model_and_measure_or_points():
    model = SpikeDeconvolution(_P1, [1.0, 1.0], 8, 0.3)
    with pytest.raises(ValueError, match="dimension mismatch"):
        model.energy(wgf.Measure(_P2, [1.0, 1.0]))
    with pytest.raises(ValueError, match="dimension mismatch"):
        model.potential(_P1, wgf.Measure(_P2, [1.0, 1.0]))
    with pytest.raises(ValueError, match="model is on S\\^1"):
        model.potential(_P2, wgf.Measure(_P1, [1.0, 1.0]))


@pytest.mark.parametrize("args,match", [
    ((0, 1, 0.1), "m0"), ((3, 3, 0.1), "dim"), ((7, 1, 1.0), "2 pi"), ((3, 1, -0.1), "min_separation"),
    ((3, 2, 4.0), "pi"), ((30, 2, 1.5), "lower min_separation")])
def test_spike_train_bad_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        spike_train(*args, rng=0)
    with pytest.raises(ValueError, match="weight_range"):
        spike_train(3, 1, 0.1, weight_range=(1.0, 0.5))


@pytest.mark.parametrize("d", [1, 2])
def test_spike_train_separation_weights_and_distribution(d):
    m0, sep = 4, 0.9
    draws = [spike_train(m0, d, sep, weight_range=(0.2, 0.7), rng=s) for s in range(300)]
    for nu in draws:
        P = nu.points
        dist = sphere.geodesic_distance(P[:, None, :], P[None, :, :]) + 10 * np.eye(m0)
        assert dist.min() >= sep - 1e-12
        assert np.all((nu.masses > 0.2) & (nu.masses <= 0.7))
    assert np.array_equal(spike_train(m0, d, sep, rng=5).points, spike_train(m0, d, sep, rng=5).points)
    # the law is that of i.i.d. uniform points conditioned on the separation: compare the distribution
    # of the minimum pairwise distance with plain rejection sampling (two-sample Kolmogorov–Smirnov)
    rng = np.random.default_rng(99)
    ref = []
    while len(ref) < 300:
        P = sphere.sample_uniform(m0, d, rng)
        dist = sphere.geodesic_distance(P[:, None, :], P[None, :, :]) + 10 * np.eye(m0)
        if dist.min() >= sep:
            ref.append(dist.min())
    got = [(sphere.geodesic_distance(nu.points[:, None], nu.points[None]) + 10 * np.eye(m0)).min()
           for nu in draws]
    assert ks_2samp(got, ref).pvalue > 1e-3


# ---------------------------------------------------------------------- the optimisation problem
def _linearised_blasso(theta, w, fc, lam):
    """First-order continuous BLASSO solution on S^1 (kernel D_fc) around a spike train (theta, w):
    amplitudes w + da and positions theta + dx with J = 0 and J' = 0 at the moved spikes, to first order
    in lambda (J = lambda at lambda-order zero, so J'' does not enter)."""
    u = theta[:, None] - theta[None, :]
    k = np.arange(1, fc + 1)
    D = 1 + 2 * np.cos(u[..., None] * k).sum(-1)
    D1 = -2 * (k * np.sin(u[..., None] * k)).sum(-1)
    D2 = -2 * (k * k * np.cos(u[..., None] * k)).sum(-1)
    m0 = len(w)
    A = np.block([[D, -D1 * w[None, :]], [D1, -D2 * w[None, :]]])
    sol = np.linalg.solve(A, np.concatenate([-lam * np.ones(m0), np.zeros(m0)]))
    return sol[:m0], sol[m0:]


def test_grid_minimiser_on_s1_converges_to_the_blasso_solution():
    """Chizat's setting (fc = 8, lambda = 0.3, m0 = 5, kernel D_fc) with spikes on the coarsest grid of a
    nested family. The grid QP (an independent active-set method) gives J >= 0 on its grid; between grid
    points J dips by at most M2 h^2/8 (M2 the curvature bound), and the dip must fall like h^2. Its
    atoms sit next to the true spikes (Duval–Peyré: a grid LASSO splits a spike over neighbouring grid
    points) and the cluster masses and centroids approach the linearised continuous BLASSO amplitudes
    w + da and positions theta + dx, at first order in h."""
    fc, lam, m0 = 8, 0.3, 5
    nu = spike_train(m0, 1, 1.5 * 2 * np.pi / (2 * fc + 1), weight_range=(0.5, 1.5), rng=3)
    n0 = 256
    idx = np.round(np.mod(_angles(nu.points), 2 * np.pi) / (2 * np.pi / n0)).astype(int) % n0
    theta = 2 * np.pi * idx / n0
    P0, w = sphere.circle_points(n0, offset=0.0)[idx], nu.masses
    model = SpikeDeconvolution(P0, w, fc, lam)
    da, dx = _linearised_blasso(theta, w, fc, lam)
    fine = sphere.circle_points(2**16)
    hs, dips, amp_err, pos_err = [], [], [], []
    for n in (256, 512, 1024, 2048):
        h = 2 * np.pi / n
        sol = grid_minimiser(model, sphere.circle_points(n, offset=0.0))
        assert sol.kkt_residual < 1e-10
        J, _ = model.potential(fine, sol.measure)
        tv = float(np.abs(np.concatenate([sol.measure.masses, -w])).sum())
        assert J.min() >= -zonal_curvature_constant(model.coefficients) * tv * h * h / 8
        dist = sphere.geodesic_distance(sol.measure.points[:, None, :], P0[None, :, :])
        assert dist.min(axis=1).max() <= 2 * h
        near = dist.argmin(axis=1)
        cluster = np.bincount(near, weights=sol.measure.masses, minlength=m0)
        offset = np.angle(np.exp(1j * (_angles(sol.measure.points) - theta[near])))  # signed, in (-pi, pi]
        centroid = np.bincount(near, weights=sol.measure.masses * offset, minlength=m0) / cluster
        # F(sol) <= F(nu0) = lambda nu0(S^1): mass cannot grow, the residual is bounded
        assert sol.measure.total_mass <= w.sum()
        assert model.distance(sol.measure, model.spikes) ** 2 <= 2 * lam * w.sum()
        hs.append(h)
        dips.append(-J.min())
        amp_err.append(np.abs(cluster - w - da).max())
        pos_err.append(np.abs(centroid - dx).max())
    dip_rate = np.polyfit(np.log(hs), np.log(dips), 1)[0]
    amp_rate = np.polyfit(np.log(hs), np.log(amp_err), 1)[0]
    assert 1.8 < dip_rate < 2.2
    assert 0.8 < amp_rate < 1.2
    assert np.polyfit(np.log(hs), np.log(pos_err), 1)[0] > 0.8  # cluster centroids -> moved spikes
    assert amp_err[-1] < 0.02 * np.abs(da).max()
    # the bias lambda causes is about lambda / K(x, x) per spike, interactions aside
    assert np.all(da < 0) and np.abs(da).max() < 2 * lam / model.kernel_peak


def test_grid_minimiser_on_s2_concentrates_at_the_spikes():
    L, lam, m0 = 8, 0.1, 4
    grid, radii = sphere.covering_point_set(1000, 2)
    r = radii.max()
    nu = spike_train(m0, 2, 0.8, weight_range=(0.5, 1.5), rng=1)
    P0 = grid[np.argmax(nu.points @ grid.T, axis=1)]
    w = nu.masses
    model = SpikeDeconvolution(P0, w, L, lam)
    sol = grid_minimiser(model, grid)
    assert sol.kkt_residual < 1e-10
    J, _ = model.potential(sphere.fibonacci_sphere(100_000), sol.measure)
    # min J >= min_grid J - M2 r^2 / 2 (expand about the minimiser, where grad J = 0), with M2 from
    # nu - nu0 after merging coincident atoms
    pts = np.concatenate([sol.measure.points, P0])
    c = np.concatenate([sol.measure.masses, -w])
    _, inv = np.unique(np.round(pts, 14), axis=0, return_inverse=True)
    tv = np.abs(np.bincount(inv.ravel(), weights=c)).sum()
    assert J.min() >= -sol.kkt_residual - zonal_curvature_constant(model.coefficients) * tv * r * r / 2
    dist = sphere.geodesic_distance(sol.measure.points[:, None, :], P0[None, :, :])
    assert dist.min(axis=1).max() <= 2 * r
    cluster = np.bincount(dist.argmin(axis=1), weights=sol.measure.masses, minlength=m0)
    bias = cluster - w
    assert np.all(bias < 0) and np.abs(bias).max() < 2 * lam / model.kernel_peak
    assert sol.measure.total_mass <= w.sum()
