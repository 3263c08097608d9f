r"""Voronoi meshes of the three-sphere S^3 as finite-volume grids.

The cells are the spherical Voronoi cells ``V_i = {x in S^3 : <x, p_i> >= <x, p_k> for all k}`` of a set
of generators ``p_i``; the result is the same weighted graph (:class:`~wgf.geometry.grid.Grid`) as on S^1
and S^2, so the finite-volume operator and the Eulerian solver take it unchanged.

**Construction.**

* *Delaunay tetrahedra.* The facets of the convex hull of the generators in R^4 (Qhull, through
  ``scipy.spatial.ConvexHull``) are the spherical Delaunay tetrahedra; the outward unit normal of the
  facet through ``p_a, p_b, p_c, p_d`` is the point of S^3 equidistant from the four, its circumcentre:
  the Voronoi vertices.
* *Faces.* Cells ``i`` and ``j`` are neighbours when ``(i, j)`` is a Delaunay edge. Their common face is
  the convex spherical polygon on the great 2-sphere ``{x : <x, p_i - p_j> = 0}`` (the bisector, which
  is orthogonal to the arc from ``p_i`` to ``p_j`` by construction) whose vertices are the circumcentres
  of the tetrahedra around the edge, in their cyclic order around it: the order of their angles in the
  tangent plane of that 2-sphere at the mean of the vertices. The area ``l_ij`` is the sum of the fan of
  spherical triangles ``(g, v_s, v_{s+1})`` (``g`` the normalised vertex mean), each from the
  Van Oosterom–Strackee formula ``tan(E/2) = |det(n, a, b, c)| / (1 + a.b + b.c + c.a)``
  (``n`` the unit normal of the bisector), exact to round-off. The face point is the normalised
  area-weighted mean of the fan triangles' normalised vertex means (an approximation of the face
  centroid, the point where MUSCL reconstructs). Co-spherical generators (e.g. a symmetric set) give
  several tetrahedra with one circumcentre and faces of zero area, which are dropped.
  All of this is one compiled loop over the faces (:func:`face_polygons_numpy` is its NumPy reference).
* *Cells.* Each cell is the union of the spherical tetrahedra ``(p_i, f, v_s, v_{s+1})`` over its faces
  ``f`` and their boundary segments (the cell is star-shaped about its generator), which tile S^3 exactly.
  Each is the radial image of the flat tetrahedron with these vertices, integrated by the conical product
  rule of :mod:`wgf.geometry.spherical_simplices` with the exact Jacobian of the radial map
  (``VOLUME_ORDER`` points per direction). The tiling is exact, so the volumes sum to ``2 pi^2`` up to
  the quadrature error alone, which falls like ``h^{2q}`` for ``q`` points per direction: measured
  relative errors of the sum with ``q = 4`` are ``6e-11`` at 989 cells and ``2e-13`` at 8084
  (tests/geometry/test_voronoi_s3.py).

**Generators.** :func:`hopf_points` is a Hopf-fibration set in the spirit of A. Yershova, S. Jain,
S. M. LaValle and J. C. Mitchell, "Generating uniform incremental grids on SO(3) using the Hopf
fibration", Int. J. Robotics Research 29 (2010):
the base S^2 sampled by a Fibonacci spiral, each fibre (a great circle over a base point) by equally
spaced phases with a per-fibre shift that avoids co-spherical configurations, with base and fibre
spacings matched so that cells are isotropic; optional Lloyd iterations move each generator to its cell's
normalised centroid, towards a centroidal Voronoi tessellation.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .grid import Grid
from .spherical_simplices import _det3, generalised_cross, great_sphere_triangle_areas, voronoi_fan_moments
from .sphere import fibonacci_sphere, geodesic_distance, normalize

__all__ = ["hopf_points", "s3_voronoi_grid", "hopf_grid", "face_polygons_numpy", "VOLUME_ORDER"]

#: Points per direction of the cell-volume quadrature (:func:`~wgf.geometry.spherical_simplices.fan_moments`).
VOLUME_ORDER = 4

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0


# ---------------------------------------------------------------------- generators
def hopf_points(cells: int) -> np.ndarray:
    r"""About ``cells`` quasi-uniform points of S^3 along the Hopf fibration, shape (n_b * n_f, 4).

    A point of S^3 is ``(cos(theta/2) e^{i a}, sin(theta/2) e^{i (a + phi)})`` in C^2, with ``(theta, phi)``
    the spherical angles of its image on the base S^2 under the Hopf map and ``a`` the phase along the
    fibre. The uniform measure is ``dV = dA_{S^2} da / 4``, and distances are half the base angle
    across fibres and the phase difference along one, so ``n_b`` base points (spacing about
    ``sqrt(4 pi / n_b)`` on S^2) and ``n_f = round(2 sqrt(pi n_b))`` phases have matched spacings:
    ``n_b = round((cells / (2 sqrt(pi)))^{2/3})``. The phases of fibre ``b`` are
    ``2 pi (k + frac(b g)) / n_f`` with ``g`` the golden ratio, so neighbouring fibres are not aligned.
    """
    if isinstance(cells, bool) or not isinstance(cells, (int, np.integer)) or cells < 64:
        raise ValueError(f"cells must be an integer >= 64, got {cells!r}")
    n_b = max(4, int(round((cells / (2.0 * math.sqrt(math.pi))) ** (2.0 / 3.0))))
    n_f = max(3, int(round(cells / n_b)))
    base = fibonacci_sphere(n_b)
    theta = np.arccos(np.clip(base[:, 2], -1.0, 1.0))
    phi = np.arctan2(base[:, 1], base[:, 0])
    shift = (np.arange(n_b) * _GOLDEN) % 1.0
    a = 2.0 * np.pi * (np.arange(n_f)[None, :] + shift[:, None]) / n_f        # (n_b, n_f)
    c, s = np.cos(0.5 * theta)[:, None], np.sin(0.5 * theta)[:, None]
    pts = np.stack([c * np.cos(a), c * np.sin(a), s * np.cos(a + phi[:, None]), s * np.sin(a + phi[:, None])],
                   axis=-1)
    return normalize(pts.reshape(-1, 4))


# ---------------------------------------------------------------------- the mesh
def face_polygons_numpy(P, cc, edges, starts, inc_tet):
    """The Voronoi faces from the rings of tetrahedra around the Delaunay edges (NumPy reference).

    Parameters
    ----------
    P : ndarray, shape (n, 4)
        Generators.
    cc : ndarray, shape (T, 4)
        Circumcentres of the tetrahedra (the Voronoi vertices).
    edges : ndarray of int, shape (E, 2)
    starts : ndarray of int, shape (E,)
        Where each edge's incidences begin in ``inc_tet``.
    inc_tet : ndarray of int, shape (6T,)
        The tetrahedra around each edge, grouped by edge (in any order within a group).

    Returns
    -------
    ring : ndarray of int, shape (6T,)
        ``inc_tet`` with each group in cyclic order around its edge (increasing angle in the tangent
        plane of the bisector 2-sphere at the vertex mean ``g``).
    areas : ndarray, shape (E,)
        Face areas: the fan of triangles ``(g, v_s, v_{s+1})``.
    centre : ndarray, shape (E, 4)
        Sum over the fan of triangle area times its normalised vertex mean (not normalised).
    g : ndarray, shape (E, 4)
        The normalised vertex means.
    """
    E, M = edges.shape[0], inc_tet.shape[0]
    inc_edge = np.repeat(np.arange(E), np.diff(np.r_[starts, M]))
    v = cc[inc_tet]
    nrm = normalize(P[edges[:, 0]] - P[edges[:, 1]])                        # bisector normals (E, 4)
    g = np.add.reduceat(v, starts, axis=0)
    g -= np.sum(g * nrm, axis=1)[:, None] * nrm
    g = normalize(g)
    # tangent frame of the bisector 2-sphere at g: r0 from the first vertex, r1 = n x g x r0
    r0 = v[starts] - np.sum(v[starts] * g, axis=1)[:, None] * g
    r0 -= np.sum(r0 * nrm, axis=1)[:, None] * nrm
    r0_norm = np.linalg.norm(r0, axis=1)
    r0 /= np.where(r0_norm > 0, r0_norm, 1.0)[:, None]
    r1 = generalised_cross(np.stack([nrm, g, r0], axis=1))
    ang = np.arctan2(np.sum(v * r1[inc_edge], axis=1), np.sum(v * r0[inc_edge], axis=1))
    order = np.lexsort((ang, inc_edge))
    ring = inc_tet[order]
    v = v[order]
    nxt = np.arange(M) + 1
    nxt[np.r_[starts[1:], M] - 1] = starts
    A, B, C = g[inc_edge], v, v[nxt]
    tri = great_sphere_triangle_areas(nrm[inc_edge], A, B, C, backend="numpy")
    areas = np.bincount(inc_edge, weights=tri, minlength=E)
    tc = normalize(A + B + C) * tri[:, None]
    centre = np.stack([np.bincount(inc_edge, weights=tc[:, k], minlength=E) for k in range(4)], axis=1)
    return ring, areas, centre, g


@njit(cache=True, parallel=True)
def _face_polygons_kernel(P, cc, edges, offsets, inc_tet, ring, areas, centre, gout):  # pragma: no cover
    E = edges.shape[0]
    for e in prange(E):
        k0, k1 = offsets[e], offsets[e + 1]
        m = k1 - k0
        u = P[edges[e, 0]] - P[edges[e, 1]]
        u /= np.sqrt(np.sum(u * u))
        g = np.zeros(4)
        for k in range(k0, k1):
            g += cc[inc_tet[k]]
        g -= np.sum(g * u) * u
        g /= np.sqrt(np.sum(g * g))
        v0 = cc[inc_tet[k0]]
        r0 = v0 - np.sum(v0 * g) * g
        r0 -= np.sum(r0 * u) * u
        nr = np.sqrt(np.sum(r0 * r0))
        if nr > 0.0:
            r0 /= nr
        r1 = np.empty(4)
        r1[0] = _det3(u[1], u[2], u[3], g[1], g[2], g[3], r0[1], r0[2], r0[3])
        r1[1] = -_det3(u[0], u[2], u[3], g[0], g[2], g[3], r0[0], r0[2], r0[3])
        r1[2] = _det3(u[0], u[1], u[3], g[0], g[1], g[3], r0[0], r0[1], r0[3])
        r1[3] = -_det3(u[0], u[1], u[2], g[0], g[1], g[2], r0[0], r0[1], r0[2])
        ang = np.empty(m)
        for k in range(m):
            v = cc[inc_tet[k0 + k]]
            ang[k] = np.arctan2(np.sum(v * r1), np.sum(v * r0))
        idx = np.argsort(ang, kind="mergesort")
        for k in range(m):
            ring[k0 + k] = inc_tet[k0 + idx[k]]
        area = 0.0
        c = np.zeros(4)
        for k in range(m):
            b = cc[ring[k0 + k]]
            d = cc[ring[k0 + (k + 1) % m]]
            det = (u[0] * _det3(g[1], g[2], g[3], b[1], b[2], b[3], d[1], d[2], d[3])
                   - u[1] * _det3(g[0], g[2], g[3], b[0], b[2], b[3], d[0], d[2], d[3])
                   + u[2] * _det3(g[0], g[1], g[3], b[0], b[1], b[3], d[0], d[1], d[3])
                   - u[3] * _det3(g[0], g[1], g[2], b[0], b[1], b[2], d[0], d[1], d[2]))
            tri = 2.0 * np.arctan2(abs(det), 1.0 + np.sum(g * b) + np.sum(b * d) + np.sum(d * g))
            s = g + b + d
            s *= tri / np.sqrt(np.sum(s * s))
            c += s
            area += tri
        areas[e] = area
        centre[e] = c
        gout[e] = g


def _face_polygons_compiled(P, cc, edges, starts, inc_tet):
    """:func:`face_polygons_numpy` by a compiled loop over faces (parallel; each face its own sequential
    sums, so the result does not depend on the thread count), without the (6T, 4) temporaries."""
    E = edges.shape[0]
    offsets = np.r_[starts, inc_tet.shape[0]].astype(np.int64)
    ring = np.empty_like(inc_tet)
    areas = np.empty(E)
    centre = np.empty((E, 4))
    g = np.empty((E, 4))
    _face_polygons_kernel(P, cc, edges, offsets, inc_tet, ring, areas, centre, g)
    return ring, areas, centre, g


def s3_voronoi_grid(points: np.ndarray, name: str = "s3_voronoi", volume_order: int = VOLUME_ORDER,
                    backend: str = "numba") -> Grid:
    """The Voronoi grid of S^3 generated by ``points``.

    Parameters
    ----------
    points : array_like, shape (n, 4)
        Distinct generators (normalised here), not all in one closed hemisphere. Co-spherical
        configurations are allowed: their zero-area faces are dropped.
    name : str
    volume_order : int
        Points per direction of the cell-volume quadrature.
    backend : {"numba", "numpy"}
        The face polygons by a compiled loop over faces or by its NumPy reference
        (:func:`face_polygons_numpy`, for tests).

    Returns
    -------
    Grid
        With ``voronoi_vertices`` (T, 4), the circumcentres of the T Delaunay tetrahedra, and
        ``face_segments`` (S, 3).
    """
    from scipy.spatial import ConvexHull

    if backend not in ("numba", "numpy"):
        raise ValueError(f"backend must be 'numba' or 'numpy', got {backend!r}")
    P = np.asarray(points, dtype=np.float64)
    if P.ndim != 2 or P.shape[1] != 4 or P.shape[0] < 5 or not np.all(np.isfinite(P)):
        raise ValueError(f"points must be a finite array of shape (n, 4) with n >= 5, got shape {P.shape}")
    P = normalize(P)
    n = P.shape[0]
    hull = ConvexHull(P)
    tets = hull.simplices.astype(np.int64)                                 # (T, 4)
    if np.any(hull.equations[:, 4] >= 0):
        raise ValueError("the generators do not surround the origin (some hemisphere is empty)")
    if np.unique(tets).size != n:
        raise ValueError("some generators are duplicates (not vertices of the convex hull)")
    cc = np.ascontiguousarray(hull.equations[:, :4])                      # unit outward normals = circumcentres
    T = tets.shape[0]
    # Delaunay edges and, for each, the ring of tetrahedra around it
    pa = np.array([0, 0, 0, 1, 1, 2])
    pb = np.array([1, 2, 3, 2, 3, 3])
    ei = np.minimum(tets[:, pa], tets[:, pb]).ravel()
    ej = np.maximum(tets[:, pa], tets[:, pb]).ravel()
    inc_tet = np.repeat(np.arange(T), 6)
    key = ei * n + ej
    order = np.argsort(key, kind="stable")
    key, inc_tet = key[order], inc_tet[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    E = starts.size
    edges = np.stack([key[starts] // n, key[starts] % n], axis=1)
    counts = np.diff(np.r_[starts, key.size])
    inc_edge = np.repeat(np.arange(E), counts)
    if backend == "numba":
        ring, areas, centre, g = _face_polygons_compiled(P, cc, edges, starts, inc_tet)
    else:
        ring, areas, centre, g = face_polygons_numpy(P, cc, edges, starts, inc_tet)
    inc_tet = ring
    nxt = np.arange(key.size) + 1
    last = np.r_[starts[1:], key.size] - 1
    nxt[last] = starts
    dist = geodesic_distance(P[edges[:, 0]], P[edges[:, 1]])
    keep = areas > 1e-12 * dist**2
    faces = np.where(keep[:, None], centre, g)
    faces = faces / np.linalg.norm(faces, axis=1)[:, None]
    segments = np.stack([inc_edge, inc_tet, inc_tet[nxt]], axis=1)
    segments = segments[keep[inc_edge] & (inc_tet != inc_tet[nxt])]
    # renumber the kept faces
    new_id = np.cumsum(keep) - 1
    segments[:, 0] = new_id[segments[:, 0]]
    edges, areas, dist, faces = edges[keep], areas[keep], dist[keep], faces[keep]
    volumes, _ = voronoi_fan_moments(P, edges, faces, cc, segments, volume_order)
    return Grid(P, volumes, edges, areas, dist, faces, name=name, voronoi_vertices=cc,
                face_segments=segments.astype(np.int64))


def hopf_grid(cells: int, lloyd: int = 0) -> Grid:
    """Voronoi grid of S^3 generated by :func:`hopf_points` (about ``cells`` cells), after ``lloyd``
    Lloyd iterations (each generator moved to its cell's normalised centroid, towards a centroidal
    Voronoi tessellation).

    Parameters
    ----------
    cells : int
        Target number of cells, >= 64 (the grid has ``n_b * n_f`` of them, within a few percent); the
        mesh size ``h`` (largest neighbour distance) is about ``4.6 cells**(-1/3)``.
    lloyd : int
        Lloyd iterations (each costs one more construction).
    """
    for nm, val, lo in (("cells", cells, 64), ("lloyd", lloyd, 0)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < lo:
            raise ValueError(f"{nm} must be an integer >= {lo}, got {val!r}")
    name = f"hopf(cells={cells}, lloyd={lloyd})"
    grid = s3_voronoi_grid(hopf_points(int(cells)), name)
    for _ in range(int(lloyd)):
        grid = s3_voronoi_grid(grid.centroids(), name)
    return grid
