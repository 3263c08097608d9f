"""Figures for two-dimensional inputs with a bias: neurons ``eta = (a, b)``, ``b = (b1, b2, b0)`` acting on
``[x; 1]``, so that nu lives on S^3; one panel per measure:

- :func:`neuron_points_figure`: every atom at ``|a| b`` in R^3 (the position of :func:`wgf.app.plots.particle_positions`,
  on the same tanh radial scale), coloured by the sign of a, with the sphere ``|a| |b| = 1`` drawn as three
  great circles;
- :func:`neuron_lines_figure`: every atom as its line ``b1 x1 + b2 x2 + b0 = 0`` in the input plane (where
  its ReLU kinks), coloured by the sign of a, opacity and width growing with its weight ``m |a| |b|`` in
  the predictor, with the training points;
- :func:`predictor_panels_figure`: the predictor ``h(x)`` over the input plane, its zero level (the
  decision boundary) in black, with the training points;
- :func:`line_density_figure`: the density of the neurons' lines in the input plane
  (:func:`neuron_line_density`: the length of line within each pixel weighted by ``m |a| |b|``, exact),
  one row per sign of a, one column per snapshot (grid runs, whose cells are too many to draw one by one).

Each function takes plain arrays and writes one PNG file (the conventions of :mod:`wgf.app.plots`, whose
colours and helpers it shares); :mod:`wgf.app.report` feeds them from an output file.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.collections import LineCollection
from matplotlib.colors import Normalize, TwoSlopeNorm, to_rgb
from matplotlib.lines import Line2D

from .plots import NEGATIVE, POSITIVE, _figure, _save, _title, particle_positions

__all__ = ["input_window", "neuron_lines", "neuron_points_figure", "neuron_lines_figure", "predictor_panels_figure",
           "neuron_line_density", "line_density_figure"]

Panel = tuple[str, np.ndarray, np.ndarray]


def input_window(X: np.ndarray, pad: float = 0.15) -> tuple[tuple[float, float], tuple[float, float]]:
    """A square window ``((x_lo, x_hi), (y_lo, y_hi))`` around the inputs X (n, 2), ``pad`` of its half
    side added on every side."""
    X = np.asarray(X, float)
    lo, hi = X.min(axis=0), X.max(axis=0)
    c = 0.5 * (lo + hi)
    r = 0.5 * float((hi - lo).max()) * (1.0 + pad)
    r = r if r > 0 else 1.0
    return (float(c[0] - r), float(c[0] + r)), (float(c[1] - r), float(c[1] + r))


def _line_coefficients(points, masses):
    """Checked points P (N, 4), the line coefficients b = (b1, b2) (N, 2) and b0 (N,), |b| (N,) and the
    weights ``m |a| |b|`` (N,) of the atoms' lines ``b1 x1 + b2 x2 + b0 = 0``."""
    P = np.asarray(points, float)
    m = np.asarray(masses, float)
    if P.ndim != 2 or P.shape[1] != 4 or m.shape != (P.shape[0],):
        raise ValueError(f"neuron lines need points (N, 4) and masses (N,), got {P.shape} and {m.shape}")
    b, b0 = P[:, 1:3], P[:, 3]
    return P, b, b0, np.linalg.norm(b, axis=1), m * np.abs(P[:, 0]) * np.linalg.norm(P[:, 1:], axis=1)


def neuron_lines(points: np.ndarray, masses: np.ndarray, window, top: int = 300
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lines ``b1 x1 + b2 x2 + b0 = 0`` of atoms ``eta = (a, b1, b2, b0)`` (N, 4) with masses (N,) that
    cross the disc circumscribing ``window`` (:func:`input_window`), the ``top`` heaviest by their weight
    ``m |a| |b|`` (the size of the atom's term in the predictor), heaviest first.

    Returns segments (k, 2, 2) (two points on each line, far enough apart to span the window), the signs of
    a (k,) and the weights (k,). Atoms with ``b1 = b2 = 0`` (a line at infinity: a constant on the plane)
    or weight 0 have no line."""
    P, b, b0, nb, weight = _line_coefficients(points, masses)
    (x0, x1), (y0, y1) = window
    c = np.array([0.5 * (x0 + x1), 0.5 * (y0 + y1)])
    R = 0.5 * math.hypot(x1 - x0, y1 - y0)
    has = (nb > 1e-12 * np.maximum(1.0, np.abs(b0))) & (weight > 0)
    safe = np.where(has, nb, 1.0)
    foot = c - ((b @ c + b0) / safe**2)[:, None] * b        # the point of the line closest to c
    ok = has & (np.linalg.norm(foot - c, axis=1) < R)
    idx = np.nonzero(ok)[0]
    idx = idx[np.argsort(-weight[idx], kind="stable")[:max(0, int(top))]]
    d = np.column_stack([-b[idx, 1], b[idx, 0]]) / nb[idx, None]
    seg = np.stack([foot[idx] - 2.0 * R * d, foot[idx] + 2.0 * R * d], axis=1)
    return seg, np.sign(P[idx, 0]), weight[idx]


def _line_parameters(points: np.ndarray, masses: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Foot points f (k, 2) (the point of each line nearest the origin), unit directions d (k, 2), signs of
    a (k,) and weights ``m |a| |b|`` (k,) of the atoms that have a line ``b1 x1 + b2 x2 + b0 = 0``."""
    P, b, b0, nb, weight = _line_coefficients(points, masses)
    has = (nb > 1e-12 * np.maximum(1.0, np.abs(b0))) & (weight > 0)
    b, b0, nb = b[has], b0[has], nb[has]
    foot = -(b0 / nb**2)[:, None] * b
    d = np.column_stack([-b[:, 1], b[:, 0]]) / nb[:, None]
    return foot, d, np.sign(P[has, 0]), weight[has]


def neuron_line_density(points: np.ndarray, masses: np.ndarray, window, pixels: int = 160,
                        block: int = 2048) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    r"""The density of the atoms' lines in the input plane, by the sign of a, on a pixel grid of ``window``.

    The measure on lines ``sum_i w_i L_i`` (``L_i`` the length measure on the line
    ``b_i1 x1 + b_i2 x2 + b_i0 = 0`` of atom i, ``w_i = m_i |a_i| |b_i|`` its weight in the predictor)
    has the density ``rho(x) = sum_i w_i delta(dist(x, line_i))`` in the plane; each pixel gets its mean,
    ``sum_i w_i length(line_i within the pixel) / pixel area``, computed exactly: each line is cut at its
    crossings with the pixel edges, and each piece's length goes to the pixel holding its midpoint.
    Streamed over blocks of ``block`` lines (memory O(block * pixels)).

    Parameters
    ----------
    points : ndarray, shape (N, 4)
        Atoms ``(a, b1, b2, b0)`` (unit or not).
    masses : ndarray, shape (N,)
    window : ((x0, x1), (y0, y1))
        The rectangle of the input plane (:func:`input_window`).
    pixels : int
        Pixels along the longer side (square pixels).

    Returns
    -------
    xe : ndarray, shape (nx + 1,)
    ye : ndarray, shape (ny + 1,)
        Pixel edges.
    positive, negative : ndarray, shape (ny, nx)
        The density of the lines of atoms with a > 0 and with a < 0.
    """
    (x0, x1), (y0, y1) = window
    if not (x1 > x0 and y1 > y0) or int(pixels) < 1:
        raise ValueError(f"need a window with x1 > x0, y1 > y0 and pixels >= 1, got {window}, {pixels}")
    h = max(x1 - x0, y1 - y0) / int(pixels)
    nx, ny = max(1, int(round((x1 - x0) / h))), max(1, int(round((y1 - y0) / h)))
    xe, ye = np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1)
    hx, hy = (x1 - x0) / nx, (y1 - y0) / ny
    foot, d, sign, w = _line_parameters(points, masses)
    out = np.zeros((2, ny * nx))
    for s in range(0, w.size, block):
        f, u, sg, wt = foot[s:s + block], d[s:s + block], sign[s:s + block], w[s:s + block]
        with np.errstate(divide="ignore", invalid="ignore"):
            tx = (xe[None, :] - f[:, :1]) / u[:, :1]                       # crossings of x = const
            ty = (ye[None, :] - f[:, 1:]) / u[:, 1:]                       # crossings of y = const
        # the parameter interval inside the window (Liang-Barsky); an axis-parallel line inside a slab
        # gives +-inf on that axis, one outside it gives an empty interval
        lo = np.maximum(np.where(u[:, 0] != 0, np.minimum(tx[:, 0], tx[:, -1]), np.where(
                            (f[:, 0] >= x0) & (f[:, 0] <= x1), -np.inf, np.inf)),
                        np.where(u[:, 1] != 0, np.minimum(ty[:, 0], ty[:, -1]), np.where(
                            (f[:, 1] >= y0) & (f[:, 1] <= y1), -np.inf, np.inf)))
        hi = np.minimum(np.where(u[:, 0] != 0, np.maximum(tx[:, 0], tx[:, -1]), np.inf),
                        np.where(u[:, 1] != 0, np.maximum(ty[:, 0], ty[:, -1]), np.inf))
        hit = hi > lo
        if not np.any(hit):
            continue
        f, u, sg, wt, lo, hi = f[hit], u[hit], sg[hit], wt[hit], lo[hit], hi[hit]
        t = np.concatenate([tx[hit], ty[hit]], axis=1)
        t = np.where(np.isfinite(t), t, lo[:, None])
        t = np.sort(np.clip(t, lo[:, None], hi[:, None]), axis=1)
        t = np.concatenate([lo[:, None], t, hi[:, None]], axis=1)
        piece = np.diff(t, axis=1)                                          # lengths (u is a unit vector)
        mid = 0.5 * (t[:, 1:] + t[:, :-1])
        ix = np.clip(((f[:, :1] + mid * u[:, :1]) - x0) // hx, 0, nx - 1).astype(np.int64)
        iy = np.clip(((f[:, 1:] + mid * u[:, 1:]) - y0) // hy, 0, ny - 1).astype(np.int64)
        val = wt[:, None] * piece
        for k, pick in enumerate((sg > 0, sg < 0)):
            out[k] += np.bincount((iy[pick] * nx + ix[pick]).ravel(), weights=val[pick].ravel(),
                                  minlength=ny * nx)
    area = hx * hy
    return xe, ye, out[0].reshape(ny, nx) / area, out[1].reshape(ny, nx) / area


def line_density_figure(columns: Sequence[tuple[str, np.ndarray, np.ndarray]], path: str | Path, X: np.ndarray,
                        y: np.ndarray, classification: bool = True, title: str = "", pixels: int = 160) -> Path:
    """The density of neuron lines in the input plane (:func:`neuron_line_density`), one column per
    ``(column title, points (N, 4), masses (N,))`` (e.g. the snapshots of a grid run), the lines of
    ``a > 0`` neurons in the top row (reds) and of ``a < 0`` in the bottom row (blues), each row on one
    square-root colour scale, with the training inputs X (n, 2) and targets y (n,)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import PowerNorm
    window = input_window(X)
    n = max(1, len(columns))
    dens = [neuron_line_density(pts, ms, window, pixels) for _, pts, ms in columns]
    fig = _figure(2.9 * n + 1.2, 5.9, layout="constrained")
    for row, (cmap, label) in enumerate(((colormaps["Reds"], "a > 0"), (colormaps["Blues"], "a < 0"))):
        top = max([float(dd[2 + row].max()) for dd in dens] + [1e-300])
        norm = PowerNorm(0.5, 0.0, top)
        axes = []
        for i, ((ctitle, _, _), (xe, ye, *rho)) in enumerate(zip(columns, dens)):
            ax = fig.add_subplot(2, n, row * n + i + 1)
            axes.append(ax)
            ax.pcolormesh(xe, ye, rho[row], cmap=cmap, norm=norm, shading="flat", rasterized=True)
            Xv, yv = np.asarray(X, float), np.asarray(y, float)
            if classification:
                pos = yv > 0
                ax.scatter(Xv[pos, 0], Xv[pos, 1], marker="o", s=9, facecolors="none", edgecolors="k",
                           linewidths=0.6, zorder=4)
                ax.scatter(Xv[~pos, 0], Xv[~pos, 1], marker="s", s=8, facecolors="none", edgecolors="0.35",
                           linewidths=0.6, zorder=4)
            else:
                ax.scatter(Xv[:, 0], Xv[:, 1], marker=".", s=6, c="k", zorder=4)
            ax.set_xlim(xe[0], xe[-1])
            ax.set_ylim(ye[0], ye[-1])
            ax.set_aspect("equal")
            ax.tick_params(labelsize=7)
            ax.set_title(f"{ctitle}: {label}" if row == 0 else label, fontsize=9)
        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, shrink=0.85, pad=0.02,
                     label=f"line density, {label}")
    marks = ("training points: circles y > 0, squares y < 0" if classification else "dots: training inputs")
    _title(fig, (title + ". " if title else "") + "density of the neuron lines b . [x; 1] = 0: "
           f"sum of m |a| |b| times length per area; {marks}", 45 * n)
    return _save(fig, path)


def _sign_legend(fig, extra: Sequence[Line2D] = (), line: bool = False) -> None:
    kw = {} if line else {"ls": "", "marker": "o"}
    handles = [Line2D([], [], color=POSITIVE, label="a > 0", **kw),
               Line2D([], [], color=NEGATIVE, label="a < 0", **kw), *extra]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)


def _draw_inputs(ax, X, y, classification: bool, norm=None, cmap=None) -> None:
    """Training points: classes as red circles (y > 0) and blue squares, or coloured by y (regression)."""
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    if classification:
        pos = y > 0
        ax.scatter(X[pos, 0], X[pos, 1], marker="o", s=22, c=POSITIVE, edgecolors="k", linewidths=0.6, zorder=4)
        ax.scatter(X[~pos, 0], X[~pos, 1], marker="s", s=20, c=NEGATIVE, edgecolors="k", linewidths=0.6,
                   zorder=4)
    else:
        ax.scatter(X[:, 0], X[:, 1], marker="o", s=22, c=y, cmap=cmap, norm=norm, edgecolors="k",
                   linewidths=0.6, zorder=4)


def neuron_points_figure(panels: Sequence[Panel], path: str | Path, title: str = "") -> Path:
    """Atoms ``eta = (a, b)`` on S^3 at ``|a| b`` in R^3, one 3-D panel per ``(panel title, points (N, 4),
    masses (N,))``.

    The position is :func:`particle_positions` (``N m |a| b``, the neuron ``|a_j| b_j`` of a network of
    width N, on the radial tanh scale, so that the unit ball holds all of R^3), red for a > 0 and blue for
    a < 0, marker size growing with the mass; the sphere ``|a| |b| = 1`` is drawn as three great circles.
    Axes: b1, b2 (the input weights) and b0 (the bias)."""
    n = max(1, len(panels))
    fig = _figure(3.2 * n, 3.8)
    th = np.linspace(0.0, 2.0 * np.pi, 121)
    r1 = math.tanh(1.0)
    for i, (ptitle, pts, ms) in enumerate(panels):
        ax = fig.add_subplot(1, n, i + 1, projection="3d")
        for k in range(3):
            circle = np.zeros((3, th.size))
            circle[k], circle[(k + 1) % 3] = r1 * np.cos(th), r1 * np.sin(th)
            ax.plot(*circle, color="k", lw=0.6, alpha=0.5)
        pts = np.asarray(pts, float)
        ms = np.asarray(ms, float)
        if pts.ndim != 2 or pts.shape[1] != 4:
            raise ValueError(f"neuron points on S^3 need points (N, 4), got {pts.shape}")
        pos = particle_positions(pts, ms)
        size = (2 + 24 * np.sqrt(ms / ms.max())) if ms.size and ms.max() > 0 else np.full(ms.shape, 6.0)
        order = np.argsort(ms, kind="stable")                  # heavy atoms drawn last
        col = np.where(pts[:, 0] >= 0, POSITIVE, NEGATIVE)
        ax.scatter(pos[order, 0], pos[order, 1], pos[order, 2], s=size[order], c=col[order], alpha=0.6,
                   linewidths=0, depthshade=False)
        ax.set_xlim(-1, 1)
        ax.set_ylim(-1, 1)
        ax.set_zlim(-1, 1)
        ax.set_box_aspect((1, 1, 1))
        ax.set_xticklabels([])
        ax.set_yticklabels([])
        ax.set_zticklabels([])
        ax.set_xlabel("b1", fontsize=8, labelpad=-12)
        ax.set_ylabel("b2", fontsize=8, labelpad=-12)
        ax.set_zlabel("b0 (bias)", fontsize=8, labelpad=-12)
        ax.view_init(elev=22, azim=-60)
        ax.set_title(ptitle, fontsize=9)
    _title(fig, title, 40 * n)
    _sign_legend(fig, [Line2D([], [], color="k", lw=0.6, label="|a| |b| = 1"),
                       Line2D([], [], ls="", label="|a| b on the radial tanh scale")])
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, path)


def neuron_lines_figure(panels: Sequence[Panel], path: str | Path, X: np.ndarray, y: np.ndarray,
                        classification: bool = True, title: str = "", top: int = 300) -> Path:
    """Atoms ``eta = (a, b1, b2, b0)`` as their lines ``b1 x1 + b2 x2 + b0 = 0`` in the input plane, one
    panel per ``(panel title, points (N, 4), masses (N,))``, with the training inputs X (n, 2) and targets
    y (n,) (:func:`neuron_lines`: the ``top`` heaviest lines crossing the window, red for a > 0, blue for
    a < 0, opacity and width growing with the weight ``m |a| |b|``)."""
    n = max(1, len(panels))
    window = input_window(X)
    fig = _figure(3.1 * n, 3.7)
    yv = np.asarray(y, float)
    norm = Normalize(float(yv.min()), float(yv.max())) if yv.size else Normalize()
    for i, (ptitle, pts, ms) in enumerate(panels):
        ax = fig.add_subplot(1, n, i + 1)
        seg, sign, w = neuron_lines(pts, ms, window, top)
        if w.size:
            rel = np.sqrt(w / w.max())
            colours = [(*to_rgb(POSITIVE if s >= 0 else NEGATIVE), 0.12 + 0.78 * r) for s, r in zip(sign, rel)]
            # lightest first, so that the heavy lines lie on top
            ax.add_collection(LineCollection(seg[::-1], colors=colours[::-1], linewidths=(0.5 + 1.2 * rel)[::-1]))
        _draw_inputs(ax, X, y, classification, norm=norm, cmap=colormaps["viridis"])
        ax.set_xlim(*window[0])
        ax.set_ylim(*window[1])
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        ax.set_title(ptitle, fontsize=9)
    _title(fig, title, 40 * n)
    _sign_legend(fig, [Line2D([], [], ls="", label="line b . [x; 1] = 0 of each neuron; opacity: m |a| |b|")],
                 line=True)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, path)


def predictor_panels_figure(panels: Sequence[tuple[str, np.ndarray]], grid: tuple[np.ndarray, np.ndarray],
                     path: str | Path, X: np.ndarray, y: np.ndarray, classification: bool = True,
                     title: str = "") -> Path:
    """The predictor over the input plane, one panel per ``(panel title, h (ny, nx))`` with h evaluated at
    the grid ``(x1 (nx,), x2 (ny,))``: filled contours on a colour scale shared by the panels (diverging
    around 0 for a classifier), the decision boundary ``h = 0`` in black, the training inputs X (n, 2) with
    their targets y (n,) (classes as red circles and blue squares, or coloured by y on the same scale)."""
    gx, gy = (np.asarray(v, float) for v in grid)
    n = max(1, len(panels))
    fig = _figure(3.0 * n + 0.9, 3.6, layout="constrained")
    yv = np.asarray(y, float)
    if classification:
        top = max([float(np.nanmax(np.abs(H))) for _, H in panels] + [1e-300])
        norm, cmap = TwoSlopeNorm(0.0, -top, top), colormaps["RdBu_r"]
    else:
        lo = min([float(np.nanmin(H)) for _, H in panels] + [float(yv.min())])
        hi = max([float(np.nanmax(H)) for _, H in panels] + [float(yv.max())])
        norm, cmap = Normalize(lo, hi if hi > lo else lo + 1.0), colormaps["viridis"]
    axes = []
    for i, (ptitle, H) in enumerate(panels):
        H = np.asarray(H, float)
        if H.shape != (gy.size, gx.size):
            raise ValueError(f"predictor values must have shape {(gy.size, gx.size)}, got {H.shape}")
        ax = fig.add_subplot(1, n, i + 1)
        axes.append(ax)
        ax.contourf(gx, gy, H, levels=np.linspace(norm.vmin, norm.vmax, 22), cmap=cmap, norm=norm, extend="both")
        if np.nanmin(H) < 0.0 < np.nanmax(H):
            ax.contour(gx, gy, H, levels=[0.0], colors="k", linewidths=1.4)
        _draw_inputs(ax, X, y, classification, norm=norm, cmap=cmap)
        ax.set_xlim(gx[0], gx[-1])
        ax.set_ylim(gy[0], gy[-1])
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        ax.set_title(ptitle, fontsize=9)
    from matplotlib.cm import ScalarMappable
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes, shrink=0.85,
                 label="h(x)" + ("; black: h = 0, the decision boundary" if classification else "; black: h = 0"))
    _title(fig, title, 40 * n)
    return _save(fig, path)
