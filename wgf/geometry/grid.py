r"""Finite-volume grids on S^1, S^2 and S^3 as weighted graphs.

A :class:`Grid` is all the finite-volume scheme of :mod:`wgf.discretisations.finite_volume` needs: cell generators
``points`` (n, d+1) on S^d, cell volumes ``volumes`` (n,), the edges ``(i, j)`` between neighbouring cells
with the length ``l_ij`` of the shared face (1 on S^1) and the geodesic distance ``d_ij`` of the two
generators. On a Voronoi mesh the face is orthogonal to the arc between the generators, which is what
makes the two-point flux ``(l_ij / d_ij) (u_j - u_i)`` a consistent approximation of the normal
derivative. Two constructors here (the S^3 one, :func:`~wgf.geometry.voronoi_s3.hopf_grid`, is in
:mod:`wgf.geometry.voronoi_s3`):

* :func:`circle_grid` — ``n`` equal arcs of S^1 (a centroidal Voronoi mesh);
* :func:`icosahedral_grid` — the Voronoi cells (``scipy.spatial.SphericalVoronoi``) of the vertices of
  the ``level``-times subdivided icosahedron (``10 * 4**level + 2`` cells), neighbours from the convex
  hull of the generators (the spherical Delaunay triangulation), with optional Lloyd iterations (move each
  generator to its cell's normalised centroid) towards a centroidal Voronoi mesh.

Cell integration (:meth:`Grid.integrate`) uses Gauss–Legendre in the angle on S^1 and, on S^2, the fan of
spherical triangles ``(generator, v_a, v_b)`` over the cell's Voronoi edges, each integrated by a
collapsed (Duffy) tensor Gauss rule on the flat triangle mapped radially to the sphere with its exact
Jacobian ``(n . x) / |x|^3`` (``n`` the unit normal of the flat triangle); on S^3, the fan of spherical
tetrahedra ``(generator, face centre, v_a, v_b)`` over the boundary segments of the cell's faces, by the
conical product (Gauss–Jacobi) rule of :mod:`wgf.geometry.spherical_simplices` (the same radial map,
Jacobian ``(n . x) / |x|^4``). The S^2 branch keeps its Gauss–Legendre collapsed rule: the conical rule
is exact for constants at every order but, at 4 points per direction on the 12-cell grid, less accurate
(cell areas off by 1.5e-6 relative against 3.7e-7).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .sphere import geodesic_distance, log_map, normalize
from .spherical_simplices import radial_simplex_rule, voronoi_fan_moments

__all__ = ["Grid", "circle_grid", "icosahedral_grid", "icosahedron_vertices"]


@dataclass(eq=False)
class Grid:
    """A finite-volume grid on S^d seen as a weighted graph.

    Attributes
    ----------
    points : ndarray, shape (n, d+1)
        Cell generators (unit vectors).
    volumes : ndarray, shape (n,)
        Cell volumes (arc lengths on S^1, areas on S^2), summing to ``|S^d|``.
    edges : ndarray of int, shape (E, 2)
        Neighbouring cell pairs ``(i, j)``, ``i < j``, each once.
    edge_lengths : ndarray, shape (E,)
        ``l_ij``, the measure of the shared face (1 on S^1).
    centre_distances : ndarray, shape (E,)
        ``d_ij``, the geodesic distance between the generators.
    face_points : ndarray, shape (E, d+1)
        Centre of each face (the midpoint of the Voronoi edge on S^2; the face point on S^1; the
        centroid of the face polygon on S^3).
    face_vertices : ndarray, shape (E, 2, d+1) or None
        The two Voronoi vertices of each face (S^2 only), used for cell quadrature.
    voronoi_vertices : ndarray, shape (V, d+1) or None
        The Voronoi vertices (S^3 only).
    face_segments : ndarray of int, shape (S, 3) or None
        The boundary segments of the faces (S^3 only): ``(face, a, b)``, the face (edge index) and the
        indices in ``voronoi_vertices`` of the segment's two ends; used for cell quadrature.
    name : str
    """

    points: np.ndarray
    volumes: np.ndarray
    edges: np.ndarray
    edge_lengths: np.ndarray
    centre_distances: np.ndarray
    face_points: np.ndarray
    face_vertices: np.ndarray | None = None
    name: str = "grid"
    voronoi_vertices: np.ndarray | None = None
    face_segments: np.ndarray | None = None
    _csr: dict | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        self.points = np.ascontiguousarray(self.points, dtype=np.float64)
        self.volumes = np.ascontiguousarray(self.volumes, dtype=np.float64)
        self.edges = np.ascontiguousarray(self.edges, dtype=np.int64)
        self.edge_lengths = np.ascontiguousarray(self.edge_lengths, dtype=np.float64)
        self.centre_distances = np.ascontiguousarray(self.centre_distances, dtype=np.float64)
        n = self.points.shape[0]
        if self.volumes.shape != (n,) or np.any(self.volumes <= 0):
            raise ValueError("volumes must be positive, one per cell")
        if self.edges.ndim != 2 or self.edges.shape[1] != 2 or np.any(self.edges[:, 0] >= self.edges[:, 1]):
            raise ValueError("edges must have shape (E, 2) with i < j")
        if np.any(self.centre_distances <= 0) or np.any(self.edge_lengths <= 0):
            raise ValueError("edge lengths and centre distances must be positive")
        if (self.voronoi_vertices is None) != (self.face_segments is None):
            raise ValueError("voronoi_vertices and face_segments come together (S^3 grids)")
        if self.face_segments is not None:
            self.voronoi_vertices = np.ascontiguousarray(self.voronoi_vertices, dtype=np.float64)
            self.face_segments = np.ascontiguousarray(self.face_segments, dtype=np.int64)
            seg = self.face_segments
            if self.voronoi_vertices.ndim != 2 or self.voronoi_vertices.shape[1] != self.points.shape[1] \
                    or seg.ndim != 2 or seg.shape[1] != 3 or np.any(seg < 0) \
                    or np.any(seg[:, 0] >= self.edges.shape[0]) or np.any(seg[:, 1:] >= self.voronoi_vertices.shape[0]):
                raise ValueError("face_segments must be (face, vertex, vertex) rows indexing edges and "
                                 "voronoi_vertices")

    # ------------------------------------------------------------------ basic properties
    @property
    def dim(self) -> int:
        """d, the dimension of the sphere S^d."""
        return self.points.shape[1] - 1

    @property
    def size(self) -> int:
        """Number of cells n."""
        return self.points.shape[0]

    def __len__(self) -> int:
        return self.size

    @property
    def transmissibilities(self) -> np.ndarray:
        """``T_ij = l_ij / d_ij``, shape (E,)."""
        return self.edge_lengths / self.centre_distances

    @property
    def h(self) -> float:
        """Mesh size: the largest distance between neighbouring generators."""
        return float(self.centre_distances.max())

    def quality(self) -> dict[str, float]:
        """Mesh quality: cells, edges, ``h`` (max ``d_ij``), min ``d_ij``, min/max volume and their ratio,
        and the largest distance from a generator to its cell's centroid relative to ``h`` (0 on a
        centroidal Voronoi mesh)."""
        c = self.centroids()
        off = float(geodesic_distance(self.points, c).max())
        return {
            "cells": self.size,
            "edges": int(self.edges.shape[0]),
            "h": self.h,
            "h_min": float(self.centre_distances.min()),
            "volume_min": float(self.volumes.min()),
            "volume_max": float(self.volumes.max()),
            "volume_ratio": float(self.volumes.max() / self.volumes.min()),
            "centroid_offset": off / self.h,
        }

    def uniform_masses(self, total: float = 1.0) -> np.ndarray:
        """Masses of the uniform measure of total mass ``total``: ``total * |V_i| / |S^d|``, shape (n,)."""
        total = float(total)
        if not np.isfinite(total) or total <= 0:
            raise ValueError(f"total must be a positive finite mass, got {total}")
        return total * self.volumes / self.volumes.sum()

    # ------------------------------------------------------------------ adjacency
    def csr(self) -> dict[str, np.ndarray]:
        """Directed adjacency in compressed rows: ``offsets`` (n+1,), ``neighbours`` (2E,), ``edge`` (2E,)
        (the undirected edge index), ``reverse`` (2E,) (the slot of the opposite directed edge)."""
        if self._csr is None:
            n, E = self.size, self.edges.shape[0]
            src = np.concatenate([self.edges[:, 0], self.edges[:, 1]])
            dst = np.concatenate([self.edges[:, 1], self.edges[:, 0]])
            eid = np.concatenate([np.arange(E), np.arange(E)])
            order = np.lexsort((dst, src))
            src, dst, eid = src[order], dst[order], eid[order]
            offsets = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(np.bincount(src, minlength=n), out=offsets[1:])
            key = src * n + dst
            reverse = np.searchsorted(key, dst * n + src)
            self._csr = {"offsets": offsets, "neighbours": dst.astype(np.int64), "edge": eid.astype(np.int64),
                         "reverse": reverse.astype(np.int64)}
        return self._csr

    # ------------------------------------------------------------------ integration
    def quadrature(self, order: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """A quadrature rule on every cell: nodes (N, d+1) on the sphere, weights (N,) and the cell index
        (N,) of each node. ``order`` is the number of Gauss–Legendre points per direction (S^1: per cell;
        S^2: ``order**2`` per fan triangle; S^3: ``order**3`` Gauss–Jacobi points per fan tetrahedron,
        about ``80 order**3`` nodes per cell: :meth:`integrate` streams them in chunks)."""
        order = int(order)
        if order < 1:
            raise ValueError(f"order must be a positive integer, got {order}")
        x, w = np.polynomial.legendre.leggauss(order)
        x = 0.5 * (x + 1.0)
        w = 0.5 * w
        if self.dim == 1:
            theta_c = np.arctan2(self.points[:, 1], self.points[:, 0])
            # the cell of i is the arc between its two faces
            csr = self.csr()
            fa = np.arctan2(self.face_points[:, 1], self.face_points[:, 0])
            e = csr["edge"].reshape(self.size, 2)  # two faces per cell on S^1
            d = np.angle(np.exp(1j * (fa[e] - theta_c[:, None])))
            lo, hi = d.min(axis=1), d.max(axis=1)
            width = hi - lo
            ang = theta_c[:, None] + lo[:, None] + width[:, None] * x[None, :]
            nodes = np.stack([np.cos(ang), np.sin(ang)], axis=-1).reshape(-1, 2)
            weights = (width[:, None] * w[None, :]).reshape(-1)
            cells = np.repeat(np.arange(self.size), order)
            return nodes, weights, cells
        if self.dim == 3 and self.face_segments is not None:
            parts = list(self._fan_quadrature(order))
            return tuple(np.concatenate([p[k] for p in parts]) for k in range(3))
        if self.dim != 2 or self.face_vertices is None:
            raise ValueError("cell quadrature is available on S^1, S^2 and S^3 Voronoi grids")
        # fan triangles (generator, va, vb): two per edge, one for each side
        A = np.concatenate([self.points[self.edges[:, 0]], self.points[self.edges[:, 1]]])
        B = np.concatenate([self.face_vertices[:, 0], self.face_vertices[:, 0]])
        C = np.concatenate([self.face_vertices[:, 1], self.face_vertices[:, 1]])
        cells = np.concatenate([self.edges[:, 0], self.edges[:, 1]])
        # collapsed rule on the flat triangle: X = A + s (B - A) + s t (C - B), dX = 2|ABC| s ds dt
        s, t = np.meshgrid(x, x, indexing="ij")
        ws = np.outer(w, w)
        s, t, ws = s.ravel(), t.ravel(), ws.ravel()
        nrm = np.cross(B - A, C - A)
        area2 = np.linalg.norm(nrm, axis=1)        # twice the flat area
        nhat = nrm / area2[:, None]
        X = A[:, None, :] + s[None, :, None] * (B - A)[:, None, :] + (s * t)[None, :, None] * (C - B)[:, None, :]
        r = np.linalg.norm(X, axis=2)
        jac = np.abs(np.einsum("tk,tqk->tq", nhat, X)) / r**3
        weights = (area2[:, None] * (ws * s)[None, :] * jac).reshape(-1)
        nodes = (X / r[:, :, None]).reshape(-1, 3)
        return nodes, weights, np.repeat(cells, s.size)

    #: Face segments per chunk of the S^3 fan quadrature (two tetrahedra each).
    _SEGMENT_CHUNK = 1 << 14

    def _fan_quadrature(self, order: int):
        """The S^3 cell quadrature in chunks of face segments: (nodes, weights, cells) per chunk; the
        tetrahedron ``(p_j, f, v_a, v_b)`` is the mirror image of ``(p_i, f, v_a, v_b)`` in the bisector of
        ``p_i, p_j`` (which fixes the face), so its nodes are the reflected ones and its weights the same."""
        order = int(order)
        if order < 1:
            raise ValueError(f"order must be a positive integer, got {order}")
        seg, V = self.face_segments, self.voronoi_vertices
        for s in range(0, seg.shape[0], self._SEGMENT_CHUNK):
            f, a, b = (seg[s:s + self._SEGMENT_CHUNK, k] for k in range(3))
            i, j = self.edges[f, 0], self.edges[f, 1]
            x, w = radial_simplex_rule(np.stack([self.points[i], self.face_points[f], V[a], V[b]], axis=1), order)
            yield x.reshape(-1, 4), w.reshape(-1), np.repeat(i, w.shape[1])
            # the j-side tetrahedron is the mirror image in the face's bisector (same weights)
            u = self.points[i] - self.points[j]
            u /= np.linalg.norm(u, axis=1)[:, None]
            x = x - 2.0 * np.einsum("tqk,tk->tq", x, u)[:, :, None] * u[:, None, :]
            yield x.reshape(-1, 4), w.reshape(-1), np.repeat(j, w.shape[1])

    def integrate(self, f: Callable[[np.ndarray], np.ndarray], order: int = 4) -> np.ndarray:
        """Cell integrals ``int_{V_i} f dA`` of a function ``f(points (N, d+1)) -> (N,)``, shape (n,), or of
        several at once, ``f(points) -> (N, k)``, shape (n, k) (on S^3 ``f`` is called once per chunk of
        nodes)."""
        if self.dim == 3 and self.face_segments is not None:
            chunks = self._fan_quadrature(order)
        else:
            chunks = [self.quadrature(order)]
        out = None
        for nodes, weights, cells in chunks:
            vals = np.asarray(f(nodes), dtype=np.float64)
            if vals.shape[:1] != weights.shape or vals.ndim > 2:
                raise ValueError(f"f must return one value (or one row) per point, {weights.shape[0]} of them, "
                                 f"got shape {vals.shape}")
            if out is None:
                out = np.zeros((self.size,) + vals.shape[1:])
            if vals.ndim == 1:
                out += np.bincount(cells, weights=weights * vals, minlength=self.size)
            else:
                for k in range(vals.shape[1]):
                    out[:, k] += np.bincount(cells, weights=weights * vals[:, k], minlength=self.size)
        return out

    def cell_averages(self, f: Callable[[np.ndarray], np.ndarray], order: int = 4) -> np.ndarray:
        """Exact-in-the-limit cell averages ``(1/|V_i|) int_{V_i} f dA``, shape (n,)."""
        return self.integrate(f, order) / self.volumes

    def centroids(self, order: int = 3) -> np.ndarray:
        """Normalised cell centroids ``int_{V_i} x dA / |int_{V_i} x dA|``, shape (n, d+1)."""
        if self.dim == 3 and self.face_segments is not None:
            _, c = voronoi_fan_moments(self.points, self.edges, self.face_points, self.voronoi_vertices,
                                       self.face_segments, order)
            return normalize(c)
        nodes, weights, cells = self.quadrature(order)
        c = np.stack([np.bincount(cells, weights=weights * nodes[:, k], minlength=self.size)
                      for k in range(self.dim + 1)], axis=1)
        return normalize(c)

    def tangent_offsets(self) -> tuple[np.ndarray, np.ndarray]:
        """For every directed edge slot of :meth:`csr` (cell i -> neighbour j): the tangent vector at
        ``p_i`` pointing to ``p_j`` and the one pointing to the face centre, each of length the geodesic
        distance (``log_map``); shapes (2E, d+1)."""
        csr = self.csr()
        src = np.repeat(np.arange(self.size), np.diff(csr["offsets"]))
        to_nb = log_map(self.points[src], self.points[csr["neighbours"]])
        to_face = log_map(self.points[src], self.face_points[csr["edge"]])
        return to_nb, to_face


# ---------------------------------------------------------------------- S^1
def circle_grid(n: int) -> Grid:
    """``n`` equal arcs of S^1: generators at angles ``2 pi (k + 1/2) / n``, faces at ``2 pi k / n``,
    ``l_ij = 1``, ``d_ij = 2 pi / n``."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 3:
        raise ValueError(f"n must be an integer >= 3, got {n!r}")
    n = int(n)
    k = np.arange(n)
    th = 2.0 * np.pi * (k + 0.5) / n
    pts = np.stack([np.cos(th), np.sin(th)], axis=1)
    i, j = k, (k + 1) % n
    edges = np.sort(np.stack([i, j], axis=1), axis=1)
    fth = 2.0 * np.pi * (k + 1) / n
    faces = np.stack([np.cos(fth), np.sin(fth)], axis=1)
    return Grid(pts, np.full(n, 2.0 * np.pi / n), edges, np.ones(n), np.full(n, 2.0 * np.pi / n), faces,
                name=f"circle({n})")


# ---------------------------------------------------------------------- S^2
def icosahedron_vertices(level: int) -> np.ndarray:
    """Vertices of the icosahedron subdivided ``level`` times (each triangle into four, new vertices
    projected onto the sphere), shape (10 * 4**level + 2, 3)."""
    g = (1.0 + 5.0**0.5) / 2.0
    v = np.array([[-1, g, 0], [1, g, 0], [-1, -g, 0], [1, -g, 0], [0, -1, g], [0, 1, g], [0, -1, -g],
                  [0, 1, -g], [g, 0, -1], [g, 0, 1], [-g, 0, -1], [-g, 0, 1]], dtype=float)
    v = normalize(v)
    f = np.array([[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
                  [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9],
                  [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]])
    for _ in range(level):
        e = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
        ue, inv = np.unique(e, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
        mid = normalize(v[ue[:, 0]] + v[ue[:, 1]])
        nv = v.shape[0]
        F = f.shape[0]
        a, b, c = nv + inv[:F], nv + inv[F:2 * F], nv + inv[2 * F:]
        f = np.concatenate([np.stack([f[:, 0], a, c], 1), np.stack([f[:, 1], b, a], 1),
                            np.stack([f[:, 2], c, b], 1), np.stack([a, b, c], 1)])
        v = np.concatenate([v, mid])
    return v


def _voronoi_grid(points: np.ndarray, name: str) -> Grid:
    from scipy.spatial import ConvexHull, SphericalVoronoi

    points = normalize(points)
    sv = SphericalVoronoi(points, radius=1.0, center=np.zeros(3))
    volumes = sv.calculate_areas()
    hull = ConvexHull(points)
    tri = hull.simplices
    # Voronoi vertices: circumcentres of the Delaunay triangles (oriented outwards)
    P0, P1, P2 = points[tri[:, 0]], points[tri[:, 1]], points[tri[:, 2]]
    cc = np.cross(P1 - P0, P2 - P0)
    cc *= np.sign(np.sum(cc * (P0 + P1 + P2), axis=1))[:, None]
    cc = normalize(cc)
    # each Delaunay edge is shared by two triangles; its Voronoi face joins their circumcentres
    e = np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]])
    t = np.tile(np.arange(tri.shape[0]), 3)
    e = np.sort(e, axis=1)
    order = np.lexsort((e[:, 1], e[:, 0]))
    e, t = e[order], t[order]
    if not (np.all(e[0::2] == e[1::2])):
        raise RuntimeError("the convex hull is not a closed triangulation of the sphere")
    edges = e[0::2]
    va, vb = cc[t[0::2]], cc[t[1::2]]
    lengths = geodesic_distance(va, vb)
    dist = geodesic_distance(points[edges[:, 0]], points[edges[:, 1]])
    # four co-circular generators give a degenerate face of zero length: no flux across it
    keep = lengths > 1e-12 * dist
    edges, va, vb, lengths, dist = edges[keep], va[keep], vb[keep], lengths[keep], dist[keep]
    faces = normalize(va + vb)
    return Grid(points, volumes, edges, lengths, dist, faces, face_vertices=np.stack([va, vb], axis=1),
                name=name)


def icosahedral_grid(level: int, lloyd: int = 0) -> Grid:
    """Voronoi grid of S^2 generated by the ``level``-times subdivided icosahedron (``10 * 4**level + 2``
    cells; level 0 is the 12 icosahedron vertices), after ``lloyd`` Lloyd iterations (generators moved to
    their cells' normalised centroids, towards a centroidal Voronoi tessellation)."""
    for name, val, lo in (("level", level, 0), ("lloyd", lloyd, 0)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {val!r}")
    if level > 8:
        raise ValueError(f"level must be <= 8 (655,362 cells), got {level}")
    pts = icosahedron_vertices(int(level))
    grid = _voronoi_grid(pts, f"icosahedral(level={level}, lloyd={lloyd})")
    for _ in range(int(lloyd)):
        grid = _voronoi_grid(grid.centroids(), f"icosahedral(level={level}, lloyd={lloyd})")
    return grid
