import math

import numpy as np
import pytest

import wgf
from wgf.geometry import sphere


@pytest.mark.parametrize("d,area", [(1, 2 * math.pi), (2, 4 * math.pi), (3, 2 * math.pi**2)])
def test_sphere_area_closed_forms(d, area):
    assert sphere.sphere_area(d) == pytest.approx(area, rel=1e-14)


@pytest.mark.parametrize("d", [1, 2, 5])
def test_sphere_area_monte_carlo(d):
    # |S^d| = (d+1) |B^{d+1}|; estimate the ball volume by Monte Carlo in the cube [-1, 1]^{d+1}
    rng = np.random.default_rng(0)
    n = 400_000
    inside = np.linalg.norm(rng.uniform(-1, 1, (n, d + 1)), axis=1) <= 1
    p = inside.mean()
    vol, se = 2.0 ** (d + 1) * p, 2.0 ** (d + 1) * math.sqrt(p * (1 - p) / n)
    assert abs((d + 1) * vol - sphere.sphere_area(d)) < 4 * (d + 1) * se


@pytest.mark.parametrize("d", [1, 2, 4])
def test_exp_log_retract(d):
    rng = np.random.default_rng(1)
    p = sphere.sample_uniform(50, d, rng)
    v = sphere.tangent_project(p, 0.05 * rng.standard_normal(p.shape))
    assert np.allclose(np.sum(v * p, axis=1), 0, atol=1e-15)
    q = sphere.exp_map(p, v)
    assert np.allclose(np.linalg.norm(q, axis=1), 1, atol=1e-14)
    # the exponential map travels the length of v
    assert np.allclose(sphere.geodesic_distance(p, q), np.linalg.norm(v, axis=1), atol=1e-12)
    assert np.allclose(sphere.log_map(p, q), v, atol=1e-12)
    # retraction agrees with exp to second order: error ratio ~ 8 when v is halved
    e1 = np.abs(sphere.retract(p, v) - q).max()
    e2 = np.abs(sphere.retract(p, v / 2) - sphere.exp_map(p, v / 2)).max()
    assert 6 < e1 / e2 < 10


def test_deterministic_points_and_uniform_sampling():
    for d in (1, 2, 3, 6):
        pts = sphere.quasi_uniform_points(512, d)
        assert pts.shape == (512, d + 1)
        assert np.allclose(np.linalg.norm(pts, axis=1), 1)
        assert np.abs(pts.mean(axis=0)).max() < 0.05  # balanced
    x = sphere.sample_uniform(200_000, 3, 0)
    # second moments of the uniform measure on S^d are I / (d+1)
    assert np.allclose(x.T @ x / len(x), np.eye(4) / 4, atol=4 * 0.25 / math.sqrt(len(x)) * 2)


def test_measure_weights_roundtrip_and_balance():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((7, 4))
    nu = wgf.Measure.from_weights(w)
    assert nu.total_mass == pytest.approx(np.sum(w**2) / 7)
    assert np.allclose(nu.to_weights(), w)
    # Q = (1/m) sum a^2 - |b|^2
    assert nu.balance() == pytest.approx(np.mean(w[:, 0] ** 2 - np.sum(w[:, 1:] ** 2, axis=1)))


@pytest.mark.parametrize(
    "points,masses,match",
    [
        (np.ones((3, 3)), np.ones(3), "unit vectors"),
        (np.eye(3), -np.ones(3), "nonnegative"),
        (np.eye(3), np.array([1, np.nan, 1]), "NaN"),
        (np.eye(3), np.ones(2), "shape"),
        (np.ones(3), np.ones(3), "shape"),
        (np.array([[np.nan, 0, 1]]), np.ones(1), "NaN"),
    ],
)
def test_measure_rejects_bad_input(points, masses, match):
    with pytest.raises(ValueError, match=match):
        wgf.Measure(points, masses)
