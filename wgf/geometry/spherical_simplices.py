r"""Spherical simplices: quadrature on flat simplices inscribed in S^d mapped radially onto the sphere,
and the exact areas of spherical triangles on great 2-spheres of S^3.

A simplex with vertices ``V_0..V_d`` in R^{d+1} (its hyperplane missing the origin) is mapped onto S^d by
``x -> x / |x|``; the image is the spherical simplex with the same vertices (the faces lie in hyperplanes
through the origin, i.e. on great spheres) and

.. math:: \int_{\text{image}} f\, dA = \int_{\text{flat}} f(x/|x|)\, \frac{|n \cdot x|}{|x|^{d+1}}\, dx,

``n`` the unit normal of the flat simplex (``|n . x|`` is the distance of its hyperplane from the origin,
a constant). The flat simplex is parametrised by the collapsed (Duffy) map
``X = V_0 + s_1 (V_1 - V_0) + s_1 s_2 (V_2 - V_1) + ... + s_1 ... s_d (V_d - V_{d-1})``, ``s`` in
``[0, 1]^d``, with Jacobian ``d! |simplex| prod_k s_k^{d-k}``, and integrated by Stroud's conical product
rule (a tensor product of Gauss–Jacobi rules with the weights ``s_k^{d-k}``): ``q`` points per direction
integrate polynomials of degree ``2q - 1`` in each ``s_k`` exactly, so on simplices of diameter ``h`` the
smooth integrand ``1 / |x|^{d+1}`` (``|x|^2 = 1 - O(h^2)`` on the simplex) is integrated with a relative
error ``O(h^{2q})``.

:func:`radial_simplex_rule` returns nodes and weights (NumPy); :func:`fan_moments` streams the zeroth and
first moments ``int 1`` and ``int x`` of many simplices through a compiled loop without storing the nodes
(:func:`fan_moments_numpy` is its reference); :func:`voronoi_fan_moments` sums them over the fans
``(p_i, f, v_a, v_b)`` of the Voronoi cells of S^3 (see :mod:`wgf.geometry.voronoi_s3`).
:func:`great_sphere_triangle_areas` gives the exact area of a spherical triangle of S^3 lying on a great
2-sphere (a Voronoi face is a polygon on one).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["conical_product_rule", "generalised_cross", "radial_simplex_rule", "fan_moments", "fan_moments_numpy",
           "voronoi_fan_moments", "great_sphere_triangle_areas"]

#: Boundary segments per chunk in :func:`voronoi_fan_moments` (bounds its temporary memory).
SEGMENT_CHUNK = 1 << 18


def _check_order(order) -> int:
    if isinstance(order, bool) or not isinstance(order, (int, np.integer)) or order < 1:
        raise ValueError(f"order must be a positive integer, got {order!r}")
    return int(order)


def conical_product_rule(d: int, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes (Q, d) in ``[0, 1]^d`` and weights (Q,), ``Q = order**d``, of
    ``int_{[0,1]^d} f(s) prod_k s_k^{d-k} ds``: Gauss–Jacobi with weight ``s^{d-k}`` in direction ``k``,
    exact for polynomials of degree ``2 order - 1`` in each ``s_k``."""
    from scipy.special import roots_jacobi

    order = _check_order(order)
    nodes, weights = [], []
    for k in range(1, d + 1):
        beta = d - k
        x, w = roots_jacobi(order, 0.0, beta)                  # weight (1 + x)^beta on [-1, 1]
        nodes.append(0.5 * (x + 1.0))
        weights.append(w / 2.0 ** (beta + 1))
    S = np.stack([g.ravel() for g in np.meshgrid(*nodes, indexing="ij")], axis=1)
    W = np.prod(np.meshgrid(*weights, indexing="ij"), axis=0).ravel()
    return S, W


def generalised_cross(edge_vectors: np.ndarray) -> np.ndarray:
    """The vector orthogonal to ``d`` vectors of R^{d+1}, ``edge_vectors`` (T, d, d+1), of length the
    d-volume of their parallelotope (the cofactors of a missing first row), shape (T, d+1); the cross
    product for d = 2."""
    T, d, D = edge_vectors.shape
    out = np.empty((T, D))
    for k in range(D):
        out[:, k] = (-1.0) ** k * np.linalg.det(np.delete(edge_vectors, k, axis=2))
    return out


def radial_simplex_rule(simplices: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the rule of the module docstring on every simplex.

    Parameters
    ----------
    simplices : ndarray, shape (T, d+1, d+1)
        The vertices (rows) of each simplex, on or near S^d.
    order : int
        Points per direction.

    Returns
    -------
    nodes : ndarray, shape (T, order**d, d+1)
        Points on S^d.
    weights : ndarray, shape (T, order**d)
    """
    V = np.asarray(simplices, dtype=np.float64)
    if V.ndim != 3 or V.shape[1] != V.shape[2] or V.shape[2] < 2:
        raise ValueError(f"simplices must have shape (T, d+1, d+1), got {V.shape}")
    d = V.shape[2] - 1
    S, W = conical_product_rule(d, order)
    P = np.cumprod(S, axis=1)                                              # s_1, s_1 s_2, ...
    X = V[:, None, 0, :] + np.einsum("qk,tkD->tqD", P, V[:, 1:, :] - V[:, :-1, :])
    n = generalised_cross(V[:, 1:, :] - V[:, :1, :])                                # |n| = d! |simplex|
    r = np.linalg.norm(X, axis=2)
    weights = np.abs(np.einsum("tD,tD->t", n, V[:, 0, :]))[:, None] * W[None, :] / r ** (d + 1)
    return X / r[:, :, None], weights


# ---------------------------------------------------------------------- streamed moments on S^3
@njit(cache=True)
def _det3(a0, a1, a2, b0, b1, b2, c0, c1, c2):  # pragma: no cover - compiled
    return a0 * (b1 * c2 - b2 * c1) - a1 * (b0 * c2 - b2 * c0) + a2 * (b0 * c1 - b1 * c0)


@njit(cache=True, parallel=True)
def _fan_moments_kernel(apex, A, B, C, P, W, m0, m1):  # pragma: no cover - compiled
    T = apex.shape[0]
    Q = W.shape[0]
    for t in prange(T):
        v0 = apex[t]
        e1 = A[t] - v0
        e2 = B[t] - v0
        e3 = C[t] - v0
        n0 = _det3(e1[1], e1[2], e1[3], e2[1], e2[2], e2[3], e3[1], e3[2], e3[3])
        n1 = -_det3(e1[0], e1[2], e1[3], e2[0], e2[2], e2[3], e3[0], e3[2], e3[3])
        n2 = _det3(e1[0], e1[1], e1[3], e2[0], e2[1], e2[3], e3[0], e3[1], e3[3])
        n3 = -_det3(e1[0], e1[1], e1[2], e2[0], e2[1], e2[2], e3[0], e3[1], e3[2])
        c = abs(n0 * v0[0] + n1 * v0[1] + n2 * v0[2] + n3 * v0[3])
        a0, a1, a2, a3 = A[t, 0] - v0[0], A[t, 1] - v0[1], A[t, 2] - v0[2], A[t, 3] - v0[3]
        b0, b1, b2, b3 = B[t, 0] - A[t, 0], B[t, 1] - A[t, 1], B[t, 2] - A[t, 2], B[t, 3] - A[t, 3]
        d0, d1, d2, d3 = C[t, 0] - B[t, 0], C[t, 1] - B[t, 1], C[t, 2] - B[t, 2], C[t, 3] - B[t, 3]
        s0 = 0.0
        t0 = 0.0
        t1 = 0.0
        t2 = 0.0
        t3 = 0.0
        for q in range(Q):
            p1, p2, p3 = P[q, 0], P[q, 1], P[q, 2]
            x0 = v0[0] + p1 * a0 + p2 * b0 + p3 * d0
            x1 = v0[1] + p1 * a1 + p2 * b1 + p3 * d1
            x2 = v0[2] + p1 * a2 + p2 * b2 + p3 * d2
            x3 = v0[3] + p1 * a3 + p2 * b3 + p3 * d3
            r2 = x0 * x0 + x1 * x1 + x2 * x2 + x3 * x3
            w = W[q] * c / (r2 * r2)
            s0 += w
            wr = w / np.sqrt(r2)
            t0 += wr * x0
            t1 += wr * x1
            t2 += wr * x2
            t3 += wr * x3
        m0[t] = s0
        m1[t, 0] = t0
        m1[t, 1] = t1
        m1[t, 2] = t2
        m1[t, 3] = t3


def fan_moments(vertices, order: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Zeroth and first moments ``int 1`` (T,) and ``int x dA`` (T, 4) of spherical tetrahedra of S^3.

    Parameters
    ----------
    vertices : tuple of four ndarrays, each of shape (T, 4)
        The vertices ``V0, V1, V2, V3`` of every tetrahedron.
    order : int
        Points per direction of :func:`conical_product_rule`.

    The ``order**3`` nodes of every tetrahedron are streamed through a compiled loop (parallel over
    tetrahedra, each output its own sequential sum, so results do not depend on the thread count).
    """
    V0, V1, V2, V3 = (np.ascontiguousarray(v, dtype=np.float64) for v in vertices)
    if not (V0.ndim == 2 and V0.shape[1] == 4 and V0.shape == V1.shape == V2.shape == V3.shape):
        raise ValueError("vertices must be four arrays of shape (T, 4)")
    S, W = conical_product_rule(3, order)
    P = np.ascontiguousarray(np.cumprod(S, axis=1))
    m0 = np.empty(V0.shape[0])
    m1 = np.empty((V0.shape[0], 4))
    _fan_moments_kernel(V0, V1, V2, V3, P, W, m0, m1)
    return m0, m1


def fan_moments_numpy(vertices, order: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Reference of :func:`fan_moments` from the nodes of :func:`radial_simplex_rule`."""
    x, w = radial_simplex_rule(np.stack(vertices, axis=1), order)
    return w.sum(axis=1), np.einsum("tq,tqk->tk", w, x)


def voronoi_fan_moments(points: np.ndarray, edges: np.ndarray, face_points: np.ndarray, vertices: np.ndarray,
                        segments: np.ndarray, order: int = 3,
                        backend: str = "numba") -> tuple[np.ndarray, np.ndarray]:
    """Volumes ``|V_i|`` (n,) and first moments ``int_{V_i} x dA`` (n, 4) of Voronoi cells of S^3.

    Cell ``i`` is the union of the spherical tetrahedra ``(p_i, f, v_a, v_b)`` over the boundary segments
    ``(f, a, b)`` of its faces (``f`` the face's centre, ``v_a, v_b`` the Voronoi vertices ending the
    segment; the cell is star-shaped about ``p_i``). The tetrahedron on the ``j`` side of the face
    ``(i, j)`` is the mirror image of the one on the ``i`` side in the bisector (the reflection
    ``x -> x - 2 (x . u) u``, ``u = (p_i - p_j) / |p_i - p_j|``, swaps ``p_i`` and ``p_j`` and fixes the
    face), so it is integrated once and its first moment reflected.

    Parameters
    ----------
    points : ndarray, shape (n, 4)
    edges : ndarray of int, shape (E, 2)
    face_points : ndarray, shape (E, 4)
    vertices : ndarray, shape (V, 4)
    segments : ndarray of int, shape (S, 3)
        ``(face, vertex a, vertex b)`` per boundary segment.
    order : int
    backend : {"numba", "numpy"}
        :func:`fan_moments` or its reference :func:`fan_moments_numpy`.
    """
    if backend not in ("numba", "numpy"):
        raise ValueError(f"backend must be 'numba' or 'numpy', got {backend!r}")
    moments = fan_moments if backend == "numba" else fan_moments_numpy
    n = points.shape[0]
    vol = np.zeros(n)
    mom = np.zeros((n, 4))
    for s in range(0, segments.shape[0], SEGMENT_CHUNK):
        f, a, b = (segments[s:s + SEGMENT_CHUNK, k] for k in range(3))
        i, j = edges[f, 0], edges[f, 1]
        m0, m1 = moments((points[i], face_points[f], vertices[a], vertices[b]), order)
        u = points[i] - points[j]
        u /= np.linalg.norm(u, axis=1)[:, None]
        m1j = m1 - 2.0 * np.sum(m1 * u, axis=1)[:, None] * u
        vol += np.bincount(i, weights=m0, minlength=n) + np.bincount(j, weights=m0, minlength=n)
        for k in range(4):
            mom[:, k] += (np.bincount(i, weights=m1[:, k], minlength=n)
                          + np.bincount(j, weights=m1j[:, k], minlength=n))
    return vol, mom


# ---------------------------------------------------------------------- spherical triangles on great 2-spheres of S^3
@njit(cache=True, parallel=True)
def _triangle_areas_kernel(nrm, A, B, C, out):  # pragma: no cover - compiled
    for t in prange(A.shape[0]):
        n, a, b, c = nrm[t], A[t], B[t], C[t]
        det = (n[0] * _det3(a[1], a[2], a[3], b[1], b[2], b[3], c[1], c[2], c[3])
               - n[1] * _det3(a[0], a[2], a[3], b[0], b[2], b[3], c[0], c[2], c[3])
               + n[2] * _det3(a[0], a[1], a[3], b[0], b[1], b[3], c[0], c[1], c[3])
               - n[3] * _det3(a[0], a[1], a[2], b[0], b[1], b[2], c[0], c[1], c[2]))
        ab = a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3]
        bc = b[0] * c[0] + b[1] * c[1] + b[2] * c[2] + b[3] * c[3]
        ca = c[0] * a[0] + c[1] * a[1] + c[2] * a[2] + c[3] * a[3]
        out[t] = 2.0 * np.arctan2(abs(det), 1.0 + ab + bc + ca)


def great_sphere_triangle_areas(normals, A, B, C, backend: str = "numba") -> np.ndarray:
    r"""Areas (T,) of spherical triangles ``(a, b, c)`` of S^3 lying on the great 2-spheres
    ``{x : n . x = 0}`` (``normals`` (T, 4) unit, ``A, B, C`` (T, 4) unit and orthogonal to them), from the
    Van Oosterom–Strackee formula ``tan(E/2) = |det(n, a, b, c)| / (1 + a.b + b.c + c.a)`` (the
    determinant is the triple product of ``a, b, c`` in the 3-space ``n^perp``); exact to round-off."""
    arrs = [np.ascontiguousarray(x, dtype=np.float64) for x in (normals, A, B, C)]
    if backend == "numba":
        out = np.empty(arrs[0].shape[0])
        _triangle_areas_kernel(*arrs, out)
        return out
    n, a, b, c = arrs
    det = np.linalg.det(np.stack([n, a, b, c], axis=1))
    return 2.0 * np.arctan2(np.abs(det), 1.0 + np.sum(a * b, 1) + np.sum(b * c, 1) + np.sum(c * a, 1))
