"""Geometry of the unit sphere S^d embedded in R^{d+1}.

Points are arrays of shape ``(N, d+1)`` with unit Euclidean norm; tangent vectors at a point ``p`` are
vectors ``v`` of the same shape with ``<p, v> = 0``. Every function is vectorised over the leading axis.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln
from scipy.stats import norm, qmc

from .normals import standard_normal

__all__ = [
    "sphere_area",
    "normalize",
    "tangent_project",
    "retract",
    "exp_map",
    "log_map",
    "geodesic_distance",
    "sample_uniform",
    "circle_points",
    "fibonacci_sphere",
    "quasi_uniform_points",
    "covering_point_set",
]


def sphere_area(d: int) -> float:
    """Surface measure of the unit sphere S^d in R^{d+1}: ``2 pi^{(d+1)/2} / Gamma((d+1)/2)``.

    ``|S^1| = 2 pi``, ``|S^2| = 4 pi``.
    """
    if int(d) != d or d < 0:
        raise ValueError(f"sphere dimension d must be a nonnegative integer, got {d!r}")
    return float(np.exp(math.log(2.0) + 0.5 * (d + 1) * math.log(math.pi) - gammaln(0.5 * (d + 1))))


def normalize(x: np.ndarray) -> np.ndarray:
    """Project nonzero vectors ``x`` (N, d+1) radially onto the sphere; raises on a zero vector."""
    x = np.asarray(x, dtype=np.float64)
    r = np.linalg.norm(x, axis=-1, keepdims=True)
    if np.any(r == 0) or not np.all(np.isfinite(r)):
        raise ValueError("cannot normalise a zero or non-finite vector onto the sphere")
    return x / r


def tangent_project(points: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Orthogonal projection ``(I - p p^T) v`` of vectors (N, d+1) onto the tangent spaces at ``points``."""
    return vectors - np.sum(points * vectors, axis=-1, keepdims=True) * points


def retract(points: np.ndarray, tangent: np.ndarray) -> np.ndarray:
    """Metric-projection retraction ``(p + v) / |p + v|`` (second-order agreement with the exponential map)."""
    return normalize(points + tangent)


def exp_map(points: np.ndarray, tangent: np.ndarray) -> np.ndarray:
    """Riemannian exponential ``cos|v| p + sin|v| v/|v|`` for tangent vectors ``v`` (N, d+1)."""
    nv = np.linalg.norm(tangent, axis=-1, keepdims=True)
    # sin(x)/x, exactly 1 at x = 0
    sinc = np.sinc(nv / np.pi)
    out = np.cos(nv) * points + sinc * tangent
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def log_map(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Inverse of :func:`exp_map`: the tangent vector at ``points`` pointing to ``targets`` with length the
    geodesic distance (undefined for antipodal pairs, where it returns 0)."""
    w = tangent_project(points, targets)
    nw = np.linalg.norm(w, axis=-1, keepdims=True)
    theta = geodesic_distance(points, targets)[..., None]
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(nw > 0, theta / np.where(nw > 0, nw, 1.0), 0.0)
    return scale * w


def geodesic_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Great-circle distance ``arccos <p, q>`` in [0, pi], computed as ``2 arcsin(|p - q| / 2)``, which
    stays accurate for nearby points where arccos loses half the digits."""
    chord = np.linalg.norm(np.asarray(p) - np.asarray(q), axis=-1)
    return 2.0 * np.arcsin(np.minimum(1.0, 0.5 * chord))


def sample_uniform(n: int, d: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """``n`` i.i.d. points uniform on S^d, shape (n, d+1) (normalised standard Gaussians)."""
    rng = np.random.default_rng(rng)
    x = standard_normal(rng, (n, d + 1))
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def circle_points(n: int, offset: float = 0.5) -> np.ndarray:
    """``n`` equispaced points on S^1, at angles ``2 pi (k + offset) / n``; shape (n, 2)."""
    theta = 2.0 * np.pi * (np.arange(n) + offset) / n
    return np.stack([np.cos(theta), np.sin(theta)], axis=1)


def fibonacci_sphere(n: int) -> np.ndarray:
    """``n`` nearly equal-area points on S^2 on a Fibonacci spiral; shape (n, 3)."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    phi = np.pi * (3.0 - np.sqrt(5.0)) * k
    r = np.sqrt(np.maximum(0.0, 1.0 - z * z))
    return np.stack([r * np.cos(phi), r * np.sin(phi), z], axis=1)


def quasi_uniform_points(n: int, d: int, seed: int = 0) -> np.ndarray:
    """Deterministic, low-discrepancy points on S^d, shape (n, d+1).

    S^1: :func:`circle_points`; S^2: :func:`fibonacci_sphere`; higher d: a scrambled Sobol sequence mapped
    to Gaussians by the inverse normal CDF and normalised (deterministic for a given ``seed``).
    """
    if d == 1:
        return circle_points(n)
    if d == 2:
        return fibonacci_sphere(n)
    u = qmc.Sobol(d + 1, scramble=True, seed=seed).random(n)
    u = np.clip(u, 1e-12, 1 - 1e-12)
    return normalize(norm.ppf(u))


def covering_point_set(n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Points on S^d with a certified covering radius for each point's cell.

    Returns ``points`` (n', d+1) and ``radii`` (n',) such that every point of S^d lies within geodesic
    distance ``radii[i]`` of some ``points[i]`` whose (Voronoi) cell contains it: ``sup_x min_i d(x, p_i)
    <= max(radii)``, and the cell of ``p_i`` lies in the ball of radius ``radii[i]`` around it.

    S^1: ``n`` equispaced points, radius ``pi/n`` each. S^2: ``n`` Fibonacci points and their spherical
    Voronoi cells (scipy.spatial.SphericalVoronoi); the radius of a cell is the distance from its
    generator to its farthest vertex (cells are small geodesically convex polygons, so the farthest point
    is a vertex). Other d: ValueError (no cheap certified covering is available there).
    """
    if d == 1:
        return circle_points(n), np.full(n, np.pi / n)
    if d == 2:
        from scipy.spatial import SphericalVoronoi

        pts = fibonacci_sphere(n)
        sv = SphericalVoronoi(pts, radius=1.0, center=np.zeros(3))
        radii = np.array(
            [geodesic_distance(pts[i][None, :], sv.vertices[reg]).max() for i, reg in enumerate(sv.regions)]
        )
        return pts, radii
    raise ValueError(f"a certified covering point set is available on S^1 and S^2 only, not S^{d}")
