"""Figures of wgf results (matplotlib, Agg canvas: no display, no pyplot state).

Each function takes plain arrays and writes one PNG file; :mod:`wgf.app.report` feeds them from an output file.

- :func:`energy_figure`: F against time for every run, one log-log plot (networks coloured by width).
- :func:`particle_figure`, :func:`particle_panels`: particles or neurons ``eta = (a, b)`` with mass m drawn
  at ``|a| b`` scaled to a network's neuron (``w = sqrt(N m) eta``, so the position is ``N m |a| b`` for unit
  ``eta``: for a network of width N these are its neurons' ``|a_j| b_j``), with the radial tanh scale
  ``p -> tanh(|p|) p/|p|``, colour by the sign of a, the teacher's directions ``b_k/|b_k|`` dashed and the
  unit circle ``|a| |b| = 1`` in black (where the ICM review's Fig 2 initialises its neurons; the grey outer
  circle is the image of infinity). :func:`particle_panels` puts several measures side by side (Fig 2).
- :func:`density_figure`: grid densities, against the angle on S^1, on Mollweide maps on S^2 with every
  Voronoi cell filled (``pole`` chooses the map's polar axis: for ReLU neurons ``eta = (a, b)`` the pole is
  the a axis, so latitude is ``arcsin a`` and longitude the direction of b).
- :func:`distance_figure`: distance to the reference (PDE) solution against the network width m, with
  fitted slopes and the reference rate ``1/sqrt(m)``.
- :func:`margin_figure`, :func:`predictor_figure`: classification runs, the normalised margin and the
  share of weight near the F1 support against t, and the final predictors beside the max-margin ones.
- :func:`decay_figure`: ``F - F*`` against t on log-log axes for runs spanning many decades, with the
  optimality certificate's gap (an upper bound on ``F - F*``) and the power law fitted over a window.

Figures in the input plane of two-dimensional data with a bias (nu on S^3): :mod:`wgf.app.plane_plots`.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import PolyCollection
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

__all__ = ["energy_figure", "particle_figure", "particle_panels", "density_figure", "distance_figure",
           "margin_figure", "predictor_figure", "decay_figure",
           "particle_positions", "sphere_cell_polygons", "map_coordinates"]

POSITIVE = "tab:red"
NEGATIVE = "tab:blue"
_WIDTH_RE = re.compile(r"_m(\d+)(?:_s\d+)?$")


def _figure(width: float = 6.0, height: float = 4.5, layout: str | None = None) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    p = Path(path)
    fig.savefig(p)
    return p


def _title(fig_or_ax, title: str, width: int = 70, size: float = 10) -> None:
    """A title wrapped to ``width`` characters."""
    if not title:
        return
    import textwrap
    text = "\n".join(textwrap.wrap(title, width))
    if isinstance(fig_or_ax, Figure):
        fig_or_ax.suptitle(text, fontsize=size)
    else:
        fig_or_ax.set_title(text, fontsize=size)


def _width_of(label: str) -> int | None:
    m = _WIDTH_RE.search(label)
    return int(m.group(1)) if m else None


# ---------------------------------------------------------------------------------------------- energy
def energy_figure(curves: Sequence[tuple[str, np.ndarray, np.ndarray]], path: str | Path,
                  title: str = "") -> Path:
    """F against t on log-log axes, one line per ``(label, t, F)``; points with t <= 0 or F <= 0 (which a
    log axis cannot show) are left out. Network runs (labels ``..._m<width>_s<seed>``) are thin lines
    coloured by width (one legend entry per width); the other runs (the PDE's discretisations) are thick
    black and grey lines drawn on top."""
    fig = _figure(6.4, 4.8)
    ax = fig.add_subplot()
    widths = sorted({w for w in (_width_of(c[0]) for c in curves) if w is not None})
    cmap = colormaps["viridis"]
    wcol = {w: cmap(0.85 * i / max(1, len(widths) - 1)) for i, w in enumerate(widths)}
    pde_styles = iter([("k", "-"), ("0.45", "--"), ("0.25", ":"), ("0.6", "-."), ("k", "--")] * 100)
    seen: set = set()
    for label, t, F in curves:
        t = np.asarray(t, float)
        F = np.asarray(F, float)
        ok = (t > 0) & (F > 0) & np.isfinite(F)
        if not np.any(ok):
            continue
        w = _width_of(label)
        if w is not None:
            ax.loglog(t[ok], F[ok], color=wcol[w], lw=0.9, alpha=0.8, zorder=2,
                      label=None if w in seen else f"network m = {w}")
            seen.add(w)
        else:
            c, ls = next(pde_styles)
            ax.loglog(t[ok], F[ok], color=c, ls=ls, lw=2.0, zorder=3, label=label)
    ax.set_xlabel("t")
    ax.set_ylabel("F(nu_t)")
    _title(ax, title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------- particles
def particle_positions(points: np.ndarray, masses: np.ndarray, scale: float | None = None) -> np.ndarray:
    """Plot positions of atoms ``eta = (a, b)`` with masses m: ``p = scale * m * |a| * b`` (``scale``
    defaults to N, i.e. the neuron ``w = sqrt(N m) eta``), mapped radially by ``tanh``; shape (N, dx)."""
    P = np.asarray(points, float)
    m = np.asarray(masses, float)
    scale = P.shape[0] if scale is None else scale
    p = (scale * m * np.abs(P[:, 0]))[:, None] * P[:, 1:]
    r = np.linalg.norm(p, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(r > 0, np.tanh(r) * p / np.where(r > 0, r, 1.0), 0.0)


def _draw_particles(ax, sets, teacher, scale, legend: bool) -> None:
    th = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(th), np.sin(th), color="0.75", lw=0.7, ls=":")          # |p| = infinity
    r1 = math.tanh(1.0)
    ax.plot(r1 * np.cos(th), r1 * np.sin(th), color="k", lw=0.9)          # |a| |b| = 1
    markers = "os^Dv<>ph*"
    for i, (label, pts, ms) in enumerate(sets):
        pos = particle_positions(pts, ms, scale)
        xy = pos[:, :2] if pos.shape[1] >= 2 else np.column_stack([pos[:, 0], np.zeros(len(pos))])
        a = np.asarray(pts, float)[:, 0]
        ms = np.asarray(ms, float)
        size = 3 + 30 * np.sqrt(ms / ms.max()) if ms.size and ms.max() > 0 else 6
        col = np.where(a >= 0, POSITIVE, NEGATIVE)
        ax.scatter(xy[:, 0], xy[:, 1], s=size, c=col, marker=markers[i % len(markers)], alpha=0.55,
                   linewidths=0, label=label, zorder=2)
    if teacher is not None:
        T = np.asarray(teacher, float)
        for w in T:
            b = w[1:3] if T.shape[1] >= 3 else np.array([w[1], 0.0])
            nb = np.linalg.norm(b)
            if nb > 0:
                d = b / nb
                ax.plot([0, d[0]], [0, d[1]], ls="--", lw=1.2, color=POSITIVE if w[0] >= 0 else NEGATIVE,
                        zorder=3)
    ax.set_aspect("equal")
    ax.set_xlim(-1.05, 1.05)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xticks([])
    ax.set_yticks([])
    if legend and len(sets) > 1:
        ax.legend(fontsize=7, loc="lower right", markerscale=0.8, framealpha=0.6)


def _particle_legend(fig, teacher, dx: int) -> None:
    handles = [Line2D([], [], ls="", marker="o", color=POSITIVE, label="a > 0"),
               Line2D([], [], ls="", marker="o", color=NEGATIVE, label="a < 0"),
               Line2D([], [], color="k", lw=0.9, label="|a| |b| = 1")]
    if teacher is not None:
        handles.append(Line2D([], [], color="0.3", ls="--", lw=1.2, label="teacher directions"))
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)


def particle_figure(sets: Sequence[tuple[str, np.ndarray, np.ndarray]], path: str | Path,
                    teacher: np.ndarray | None = None, title: str = "", scale: float | None = None) -> Path:
    """Particles of one or several measures (e.g. the seeds of one width) on one panel.

    ``sets``: ``(label, points (N, dx+1), masses (N,))``; ``teacher``: teacher neurons (m0, dx+1), drawn as
    dashed directions. Inputs of dimension dx > 2 are shown by their first two coordinates; dx = 1 on a
    line. Marker size grows with mass."""
    fig = _figure(5.2, 5.6)
    ax = fig.add_subplot()
    _draw_particles(ax, sets, teacher, scale, legend=True)
    dx = np.asarray(sets[0][1]).shape[1] - 1 if sets else 2
    ax.set_xlabel("|a| b, radial tanh scale" + (" (first two coordinates of b)" if dx > 2 else ""), fontsize=9)
    _title(ax, title, 60)
    _particle_legend(fig, teacher, dx)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return _save(fig, path)


def particle_panels(panels: Sequence[tuple[str, Sequence[tuple[str, np.ndarray, np.ndarray]]]],
                    path: str | Path, teacher: np.ndarray | None = None, title: str = "") -> Path:
    """Several measures side by side, one panel per ``(panel title, sets)`` (as :func:`particle_figure`),
    e.g. networks of increasing width and the PDE's particles: the layout of the ICM review's Fig 2."""
    n = max(1, len(panels))
    fig = _figure(2.9 * n, 3.55)
    for i, (ptitle, sets) in enumerate(panels):
        ax = fig.add_subplot(1, n, i + 1)
        _draw_particles(ax, sets, teacher, None, legend=False)
        ax.set_title(ptitle, fontsize=9)
    dx = np.asarray(panels[0][1][0][1]).shape[1] - 1 if panels and panels[0][1] else 2
    _title(fig, title, 40 * n)
    _particle_legend(fig, teacher, dx)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------- density
def map_coordinates(points: np.ndarray, pole: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Longitude and latitude (radians) of points on S^2 (N, 3) for a map whose polar axis is coordinate
    ``pole``: latitude ``arcsin x_pole``, longitude ``atan2(x_k, x_j)`` with (j, k) the other two axes in
    cyclic order."""
    P = np.asarray(points, float)
    j, k = (pole + 1) % 3, (pole + 2) % 3
    return np.arctan2(P[:, k], P[:, j]), np.arcsin(np.clip(P[:, pole], -1.0, 1.0))


def sphere_cell_polygons(points: np.ndarray, pole: int = 2, subdivide: int = 3) -> list[tuple[int, np.ndarray]]:
    """The Voronoi cells of ``points`` on S^2 as polygons in (longitude, latitude) map coordinates.

    Returns ``(cell index, vertices (k, 2))`` pairs; each cell's longitudes are unwrapped around its
    generator, a cell that crosses the antimeridian is returned twice (shifted by 2 pi; the map clips
    it) and a cell containing a pole is closed along the map's top or bottom edge. Edges are great-circle
    arcs subdivided ``subdivide`` times."""
    from scipy.spatial import SphericalVoronoi

    P = np.asarray(points, float)
    sv = SphericalVoronoi(P, radius=1.0, center=np.zeros(3))
    sv.sort_vertices_of_regions()
    lon0, _ = map_coordinates(P, pole)
    out: list[tuple[int, np.ndarray]] = []
    s = np.linspace(0.0, 1.0, subdivide + 1)[:-1]
    for i, region in enumerate(sv.regions):
        V = sv.vertices[region]
        W = np.roll(V, -1, axis=0)
        E = (V[:, None, :] * (1 - s)[None, :, None] + W[:, None, :] * s[None, :, None]).reshape(-1, 3)
        E /= np.linalg.norm(E, axis=1, keepdims=True)
        lon, lat = map_coordinates(E, pole)
        steps = np.angle(np.exp(1j * np.diff(np.append(lon, lon[0]))))
        winding = steps.sum()
        if abs(winding) > np.pi:  # the cell contains a pole: close it along the map's edge
            order = np.argsort(lon)
            lon, lat = lon[order], lat[order]
            edge = np.sign(lat.mean()) * np.pi / 2
            poly = np.column_stack([np.concatenate([[-np.pi], lon, [np.pi, np.pi, -np.pi]]),
                                    np.concatenate([[lat[0]], lat, [lat[-1], edge, edge]])])
            out.append((i, poly))
            continue
        ul = lon0[i] + np.angle(np.exp(1j * (lon - lon0[i])))
        poly = np.column_stack([ul, lat])
        out.append((i, poly))
        if ul.max() > np.pi:
            out.append((i, poly - [2 * np.pi, 0.0]))
        if ul.min() < -np.pi:
            out.append((i, poly + [2 * np.pi, 0.0]))
    return out


def density_figure(points: np.ndarray, densities: Sequence[tuple[str, np.ndarray]], path: str | Path,
                   title: str = "", pole: int = 2, marks: tuple[np.ndarray, np.ndarray] | None = None,
                   axis_labels: tuple[str, str] | None = None) -> Path:
    """Grid densities ``rho = masses / volumes`` on the cells generated by ``points``.

    On S^1 (points (N, 2)): rho against the angle, one line per ``(label, rho)`` (log scale when every
    value is positive). On S^2 (points (N, 3)): one Mollweide map per ``(label, rho)``, every Voronoi cell
    filled with its density on a logarithmic colour scale shared by the maps (down to 1e-6 of the
    largest density), polar axis ``pole`` (:func:`map_coordinates`); ``marks = (points (k, 3), signs (k,))``
    are drawn as stars (e.g. the teacher's neurons), red for a positive sign, blue for a negative one."""
    P = np.asarray(points, float)
    if P.shape[1] == 2:
        fig = _figure(7, 4)
        ax = fig.add_subplot()
        theta = np.arctan2(P[:, 1], P[:, 0])
        order = np.argsort(theta)
        allpos = True
        for label, rho in densities:
            rho = np.asarray(rho, float)
            allpos &= bool(np.all(rho > 0))
            ax.plot(theta[order], rho[order], lw=1.0, label=label)
        if marks is not None:
            for p, sgn in zip(np.asarray(marks[0], float), np.asarray(marks[1], float)):
                ax.axvline(math.atan2(p[1], p[0]), ls="--", lw=0.8, color=POSITIVE if sgn >= 0 else NEGATIVE)
        if allpos:
            ax.set_yscale("log")
        ax.set_xlabel(axis_labels[0] if axis_labels else "angle of eta on S^1")
        ax.set_ylabel("density")
        ax.set_xlim(-np.pi, np.pi)
        if len(densities) > 1:
            ax.legend(fontsize=7)
        _title(ax, title)
        fig.tight_layout()
        return _save(fig, path)
    if P.shape[1] != 3:
        raise ValueError(f"density plots exist on S^1 and S^2 only, got points of shape {P.shape}")
    if pole not in (0, 1, 2):
        raise ValueError(f"pole must be 0, 1 or 2 (the map's polar axis), got {pole!r}")
    rhos = [np.asarray(r, float) for _, r in densities]
    top = max((float(r.max()) for r in rhos if r.size), default=1.0)
    if top > 0:
        norm = LogNorm(vmin=top * 1e-6, vmax=top)
    else:
        norm = Normalize()
    polys = sphere_cell_polygons(P, pole)
    idx = np.array([i for i, _ in polys])
    verts = [v for _, v in polys]
    sizes = [len(v) for v in verts]
    n = len(densities)
    fig = _figure(7.6, 3.3 * n + 0.5, layout="constrained")
    fig.get_layout_engine().set(rect=(0.03, 0.0, 0.97, 1.0))  # room for the latitude labels
    cmap = colormaps["viridis"]
    for row, (label, rho) in enumerate(densities):
        ax = fig.add_subplot(n, 1, row + 1, projection="mollweide")
        vals = np.maximum(np.asarray(rho, float), norm.vmin if top > 0 else -np.inf)
        colours = cmap(norm(vals[idx]))
        # project the (already subdivided) polygons once, with one call, and draw them in the axes' affine
        # frame: through transData matplotlib would interpolate and project every path again (minutes for
        # a few thousand cells)
        xy = np.split(ax.transProjection.transform(np.concatenate(verts)), np.cumsum(sizes)[:-1])
        pc = PolyCollection(xy, facecolors=colours, edgecolors=colours, linewidths=0.15,
                            transform=ax.transAffine + ax.transAxes)
        ax.add_collection(pc, autolim=False)
        if marks is not None:
            mlon, mlat = map_coordinates(np.asarray(marks[0], float), pole)
            for lo, la, sgn in zip(mlon, mlat, np.asarray(marks[1], float)):
                ax.plot(lo, la, marker="*", ms=11, mfc="none", mew=1.3,
                        mec=POSITIVE if sgn >= 0 else NEGATIVE, ls="")
        ax.grid(True, alpha=0.3)
        ax.set_xticklabels([])
        ax.tick_params(labelsize=7)
        ax.set_title(label, fontsize=9)
    from matplotlib.cm import ScalarMappable
    sm = ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=fig.axes, shrink=0.9 if n > 1 else 0.7, label="density (mass / cell area)")
    _title(fig, title, 90)
    if axis_labels:
        fig.supxlabel(f"{axis_labels[0]}; {axis_labels[1]}", fontsize=8)
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------- distance
def distance_figure(widths: Sequence[int], distances: Sequence[float], path: str | Path,
                    reference: str = "PDE", title: str = "",
                    earlier: Sequence[tuple[str, Sequence[int], Sequence[float]]] = (),
                    floors: Sequence[tuple[str, float]] = (), label: str = "") -> Path:
    """Distance to the reference solution against the width m (log-log).

    ``widths``, ``distances``: one entry per run at the final time (a dot each), their mean per width
    joined by a line with the slope fitted to the means (``np.polyfit`` of log mean against log m) in the
    legend; ``earlier``: ``(label, widths, distances)`` at earlier times, drawn as lighter lines of means
    with their slopes; ``floors``: ``(label, distance)`` horizontal lines (e.g. a grid's own distance to
    the reference); a dotted line ``C / sqrt(m)`` through the final means (their geometric mean) shows the
    Monte Carlo rate."""
    fig = _figure(6.2, 4.6)
    ax = fig.add_subplot()

    def means(m, d):
        m = np.asarray(m, float)
        d = np.asarray(d, float)
        ok = (m > 0) & (d > 0) & np.isfinite(d)
        um = np.unique(m[ok])
        return m[ok], d[ok], um, np.array([d[ok][m[ok] == u].mean() for u in um])

    def slope(um, mean):
        return np.polyfit(np.log(um), np.log(mean), 1)[0] if um.size >= 2 else math.nan

    cmap = colormaps["Greys"]
    for i, (lab, m_, d_) in enumerate(earlier):
        _, _, um, mean = means(m_, d_)
        if um.size:
            s = slope(um, mean)
            ax.loglog(um, mean, "-", marker=".", color=cmap(0.35 + 0.4 * i / max(1, len(earlier))), lw=1.0,
                      label=f"{lab}" + (f" (slope {s:.2f})" if math.isfinite(s) else ""))
    m, d, um, mean = means(widths, distances)
    if m.size:
        ax.loglog(m, d, "o", color="C0", alpha=0.45, ms=4, label="runs (seeds)" + (f", {label}" if label else ""))
    if um.size:
        s = slope(um, mean)
        ax.loglog(um, mean, "-", color="C0", lw=2, label=f"mean over seeds{', ' + label if label else ''}"
                  + (f" (slope {s:.2f})" if math.isfinite(s) else ""))
        c = math.exp(np.mean(np.log(mean) + 0.5 * np.log(um)))
        mm = np.geomspace(um.min(), um.max(), 50)
        ax.loglog(mm, c / np.sqrt(mm), ":", color="C3", lw=1.2, label="C / sqrt(m)")
    for i, (lab, v) in enumerate(floors):
        if v > 0 and math.isfinite(v):
            ax.axhline(v, ls="--", lw=1.0, color=f"C{2 + i}", label=lab)
    ax.set_xlabel("width m")
    ax.set_ylabel(f"predictor distance to {reference}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    _title(ax, title)
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------- margins
def _run_style(label: str, widths: list[int]) -> dict:
    """Networks: thin lines coloured by width; the PDE's runs: thick black / grey."""
    w = _width_of(label)
    if w is None:
        return {"color": "black" if "lagrangian" in label else "0.5", "lw": 2.0, "zorder": 3}
    cmap = colormaps["viridis"]
    k = widths.index(w)
    return {"color": cmap(0.1 + 0.8 * k / max(1, len(widths) - 1)), "lw": 0.9, "alpha": 0.8, "zorder": 2}


def margin_figure(paths: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray]], path: str | Path, *,
                  f1: float, f2: float, angle_deg: float, title: str = "", f1_upper: float = math.inf) -> Path:
    """Two panels against t (log axis): the normalised margin of every ``(label, t, margin, share)`` with the
    F1 (LP) and F2 max margins as horizontal lines (and the F1 bracket up to its certified bound
    ``f1_upper``, when finite, as a band), and the share of ``int |a||b| dnu`` within
    ``angle_deg`` of the F1 support. Points with t <= 0 are left out (a log axis cannot show them)."""
    fig = _figure(10.5, 4.2)
    ax1, ax2 = fig.subplots(1, 2)
    widths = sorted({w for w in (_width_of(p[0]) for p in paths) if w is not None})
    seen: set = set()
    for label, t, margin, share in paths:
        ok = np.asarray(t) > 0
        st = _run_style(label, widths)
        w = _width_of(label)
        key = w if w is not None else label
        name = (f"m = {w}" if w is not None else label) if key not in seen else None
        seen.add(key)
        ax1.semilogx(np.asarray(t)[ok], np.asarray(margin)[ok], marker=".", label=name, **st)
        ax2.semilogx(np.asarray(t)[ok], np.asarray(share)[ok], marker=".", **st)
    ax1.axhline(f1, ls="--", color="C3", lw=1.2, label=f"F1 max margin (LP) {f1:.4g}")
    if math.isfinite(f1_upper) and f1_upper > f1:
        ax1.axhspan(f1, f1_upper, color="C3", alpha=0.15, label=f"F1 certified bracket, up to {f1_upper:.4g}")
    if f2 > 0:
        ax1.axhline(f2, ls=":", color="C0", lw=1.2, label=f"F2 max margin {f2:.4g}")
    ax1.set_xlabel("t")
    ax1.set_ylabel("min_i y_i h(x_i) / int |a||b| dnu")
    ax1.grid(True, which="both", alpha=0.3)
    ax1.legend(fontsize=7)
    ax2.set_ylim(-0.02, 1.02)
    ax2.set_xlabel("t")
    ax2.set_ylabel(f"share of int |a||b| within {angle_deg:.0f} deg of the F1 support")
    ax2.grid(True, which="both", alpha=0.3)
    _title(fig, title, width=110)
    fig.tight_layout()
    return _save(fig, path)


def predictor_figure(grid: np.ndarray, predictors: Sequence[tuple[str, np.ndarray]], X: np.ndarray,
                     y: np.ndarray, path: str | Path, *, shape: tuple[int, int] | None = None,
                     title: str = "") -> Path:
    """Predictors on the training data. One-dimensional inputs (``grid`` (p, 1), ``shape`` None): each
    ``(label, values (p,))`` as a curve over x with the points ``(x_i, 0)`` marked by label. Two-dimensional
    inputs (``grid`` (p, 2) from a meshgrid of ``shape``): each predictor's zero level set (its decision
    boundary) over the points coloured by label."""
    fig = _figure(6.4, 5.0)
    ax = fig.add_subplot()
    X = np.asarray(X, float)
    y = np.asarray(y, float)
    styles = ["--", ":", "-", "-.", "-"]
    colours = ["C3", "C0", "black", "C2", "C1"]
    for i, (label, v) in enumerate(predictors):
        v = np.asarray(v, float)
        col = colours[i % len(colours)]
        if shape is None:
            ax.plot(grid[:, 0], v, styles[i % 5], color=col, lw=1.6, label=label)
        else:
            ax.contour(grid[:, 0].reshape(shape), grid[:, 1].reshape(shape), v.reshape(shape), levels=[0.0],
                       colors=[col], linestyles=[styles[i % 5]], linewidths=1.6)
            ax.plot([], [], styles[i % 5], color=col, label=label)
    if shape is None:
        ax.axhline(0.0, color="0.6", lw=0.8)
        ax.scatter(X[:, 0], np.zeros(len(X)), c=np.where(y > 0, POSITIVE, NEGATIVE), s=18, zorder=4)
        ax.set_xlabel("x")
        ax.set_ylabel("h(x) / int |a||b| dnu  (max-margin predictors: unit norm)")
    else:
        ax.scatter(X[:, 0], X[:, 1], c=np.where(y > 0, POSITIVE, NEGATIVE), s=14, zorder=4)
        ax.set_xlabel("x_1")
        ax.set_ylabel("x_2")
        ax.set_aspect("equal")
    ax.legend(fontsize=7)
    _title(ax, title + (": decision boundaries h = 0" if shape is not None else ": predictors"))
    fig.tight_layout()
    return _save(fig, path)


# ---------------------------------------------------------------------------------------------- decay
def decay_figure(curves: Sequence[tuple[str, np.ndarray, np.ndarray, np.ndarray | None, Any]],
                 path: str | Path, reference: str, window: tuple[float, float] | None = None,
                 title: str = "") -> Path:
    """``F - F*`` against t (log-log), one solid line per run, for runs spanning many decades.

    ``curves``: ``(label, t (T,), F - F* (T,), certificate gap (T,) or None, fit)`` with ``fit`` a
    :class:`wgf.analysis.decay.DecayFit` (or None): its power law is drawn dashed over its window, with
    the slope in the legend. The gap (NaN where not recorded) is drawn dotted in the run's colour: it
    bounds ``F - F*`` from above. ``reference`` says what F* is (the legend's title); ``window`` is
    shaded. Points that a log axis cannot show (t <= 0, values <= 0) are left out."""
    fig = _figure(6.6, 4.9)
    ax = fig.add_subplot()
    for i, (label, t, err, gap, fit) in enumerate(curves):
        t = np.asarray(t, float)
        err = np.asarray(err, float)
        col = f"C{i % 10}"
        ok = (t > 0) & (err > 0) & np.isfinite(err)
        if np.any(ok):
            ax.loglog(t[ok], err[ok], "-", color=col, lw=1.8, label=f"{label}: F - F*")
        if gap is not None:
            g = np.asarray(gap, float)
            okg = (t > 0) & (g > 0) & np.isfinite(g)
            if np.any(okg):
                ax.loglog(t[okg], g[okg], ":", marker=".", ms=4, color=col, lw=1.0,
                          label=f"{label}: certificate gap (>= F - F*)")
        if fit is not None and math.isfinite(fit.slope):
            tw = np.geomspace(fit.window[0], fit.window[1], 20)
            ax.loglog(tw, fit.line(tw), "--", color="k", lw=1.0, zorder=4,
                      label=f"{label}: slope {fit.slope:.2f} on [{fit.window[0]:.3g}, {fit.window[1]:.3g}]")
    if window is not None:
        ax.axvspan(window[0], window[1], color="0.9", zorder=0)
    ax.set_xlabel("t")
    ax.set_ylabel("F(nu_t) - F*")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, title=f"F* = {reference}; fit window shaded", title_fontsize=7)
    _title(ax, title)
    fig.tight_layout()
    return _save(fig, path)
