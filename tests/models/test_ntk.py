import numpy as np

from wgf.models.relu_kernel import ntk_kernel, relu_kappa0


def test_ntk_closed_form_matches_monte_carlo():
    # the tangent kernel of f(x) = m^{-1/2} sum a_j relu(b_j . x) is
    # (1/m) sum_j [relu(b_j.x) relu(b_j.x') + a_j^2 relu'(b_j.x) relu'(b_j.x') x.x']
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5, 3))
    n = 1_000_000
    B = rng.standard_normal((n, 3))
    a = rng.choice([-1.0, 1.0], n) * 1.5  # E[a^2] = 2.25
    Z = X @ B.T
    R, D = np.maximum(Z, 0), (Z > 0).astype(float)
    terms = (R[:, None, :] * R[None, :, :] + (a**2) * D[:, None, :] * D[None, :, :] * (X @ X.T)[:, :, None])
    est, se = terms.mean(axis=2), terms.std(axis=2) / np.sqrt(n)
    assert np.all(np.abs(est - ntk_kernel(X, second_moment_a=2.25)) <= 4 * se + 1e-15)


def test_kappa0_limits():
    u = np.array([[1.0, 0.0]])
    assert np.isclose(relu_kappa0(u, u)[0, 0], 0.5)          # same half-space
    assert np.isclose(relu_kappa0(u, -u)[0, 0], 0.0)         # opposite half-spaces
    assert np.isclose(relu_kappa0(u, np.array([[0.0, 2.0]]))[0, 0], 0.25)
