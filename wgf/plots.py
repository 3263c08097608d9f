"""Figures of wgf results (matplotlib, Agg canvas: no display, no pyplot state).

Each function takes plain arrays and writes one PNG file; :mod:`wgf.report` feeds them from an output file.

- :func:`energy_figure`: F against time for every run, one log-log plot.
- :func:`particle_figure`: particles or neurons ``eta = (a, b)`` with mass m drawn at ``|a| b`` scaled
  to a network's neuron (``w = sqrt(N m) eta``, so the position is ``N m |a| b`` for unit ``eta``), with
  the radial tanh scale ``p -> tanh(|p|) p/|p|`` (everything inside the unit disc, drawn), colour by the
  sign of a, and the teacher's directions ``b_k/|b_k|`` dashed.
- :func:`density_figure`: a grid density, against the angle on S^1, on a Mollweide map on S^2.
- :func:`distance_figure`: distance to the reference (PDE) solution against the network width m.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

__all__ = ["energy_figure", "particle_figure", "density_figure", "distance_figure", "particle_positions"]

POSITIVE = "tab:red"
NEGATIVE = "tab:blue"


def _figure(width: float = 6.0, height: float = 4.5) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path) -> Path:
    p = Path(path)
    fig.tight_layout()
    fig.savefig(p)
    return p


def energy_figure(curves: Sequence[tuple[str, np.ndarray, np.ndarray]], path: str | Path,
                  title: str = "") -> Path:
    """F against t on log-log axes, one line per ``(label, t, F)``; points with t <= 0 or F <= 0 (which a
    log axis cannot show) are left out. Labels of network runs ``..._m<width>_s<seed>`` share a colour per
    width and only the first seed is labelled."""
    fig = _figure()
    ax = fig.add_subplot()
    colours: dict[str, str] = {}
    cycle = iter([f"C{i}" for i in range(1000)])
    for label, t, F in curves:
        t = np.asarray(t, float)
        F = np.asarray(F, float)
        ok = (t > 0) & (F > 0) & np.isfinite(F)
        if not np.any(ok):
            continue
        group = label.rsplit("_s", 1)[0] if "_m" in label else label
        first = group not in colours
        if first:
            colours[group] = next(cycle)
        ax.loglog(t[ok], F[ok], color=colours[group], lw=1.5 if group == label else 0.9,
                  label=group if first else None, alpha=1.0 if group == label else 0.7)
    ax.set_xlabel("t")
    ax.set_ylabel("F(nu_t)")
    if title:
        ax.set_title(title)
    if colours:
        ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return _save(fig, path)


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


def particle_figure(sets: Sequence[tuple[str, np.ndarray, np.ndarray]], path: str | Path,
                    teacher: np.ndarray | None = None, title: str = "", scale: float | None = None) -> Path:
    """Particles of one or several measures (e.g. the seeds of one width) on one panel.

    ``sets``: ``(label, points (N, dx+1), masses (N,))``; ``teacher``: teacher neurons (m0, dx+1), drawn as
    dashed directions. Inputs of dimension dx > 2 are shown by their first two coordinates; dx = 1 on a
    line. Marker size grows with mass."""
    fig = _figure(5.2, 5.2)
    ax = fig.add_subplot()
    th = np.linspace(0, 2 * np.pi, 361)
    ax.plot(np.cos(th), np.sin(th), color="0.6", lw=0.8)
    markers = "os^Dv<>ph*"
    for i, (label, pts, ms) in enumerate(sets):
        pos = particle_positions(pts, ms, scale)
        xy = pos[:, :2] if pos.shape[1] >= 2 else np.column_stack([pos[:, 0], np.zeros(len(pos))])
        a = np.asarray(pts, float)[:, 0]
        ms = np.asarray(ms, float)
        size = 4 + 40 * np.sqrt(ms / ms.max()) if ms.size and ms.max() > 0 else 6
        col = np.where(a >= 0, POSITIVE, NEGATIVE)
        ax.scatter(xy[:, 0], xy[:, 1], s=size, c=col, marker=markers[i % len(markers)], alpha=0.6,
                   linewidths=0, label=label)
    if teacher is not None:
        T = np.asarray(teacher, float)
        for w in T:
            b = w[1:3] if T.shape[1] >= 3 else np.array([w[1], 0.0])
            nb = np.linalg.norm(b)
            if nb > 0:
                d = b / nb
                ax.plot([0, d[0]], [0, d[1]], ls="--", lw=1.2, color=POSITIVE if w[0] >= 0 else NEGATIVE)
    ax.set_aspect("equal")
    ax.set_xlim(-1.08, 1.08)
    ax.set_ylim(-1.08, 1.08)
    ax.set_xlabel("tanh-scaled |a| b" + (" (first two coordinates)" if np.asarray(sets[0][1]).shape[1] > 3
                                            else ""))
    if title:
        ax.set_title(title, fontsize=10)
    if len(sets) > 1:
        ax.legend(fontsize=7, loc="lower right", markerscale=0.6)
    return _save(fig, path)


def density_figure(points: np.ndarray, densities: Sequence[tuple[str, np.ndarray]], path: str | Path,
                   title: str = "") -> Path:
    """Grid densities ``rho = masses / volumes`` at cell centres ``points``.

    On S^1 (points (N, 2)): rho against the angle, one line per ``(label, rho)`` (log scale when every
    value is positive). On S^2 (points (N, 3)): the last density on a Mollweide map (longitude
    ``atan2(y, x)``, latitude ``arcsin z``), logarithmic colours."""
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
        if allpos:
            ax.set_yscale("log")
        ax.set_xlabel("angle of eta on S^1")
        ax.set_ylabel("density")
        ax.set_xlim(-np.pi, np.pi)
        if len(densities) > 1:
            ax.legend(fontsize=7)
    elif P.shape[1] == 3:
        fig = _figure(8, 4.4)
        ax = fig.add_subplot(projection="mollweide")
        label, rho = densities[-1]
        rho = np.asarray(rho, float)
        lon = np.arctan2(P[:, 1], P[:, 0])
        lat = np.arcsin(np.clip(P[:, 2], -1, 1))
        pos = rho[rho > 0]
        if pos.size and pos.max() > pos.min():
            norm = LogNorm(vmin=max(pos.min(), pos.max() * 1e-8), vmax=pos.max())
            rho = np.maximum(rho, norm.vmin)
        else:
            norm = Normalize()
        s = max(1.0, min(30.0, 4e4 / len(P)))
        sc = ax.scatter(lon, lat, c=rho, s=s, norm=norm, cmap="viridis", linewidths=0)
        fig.colorbar(sc, ax=ax, shrink=0.7, label=f"density ({label})")
        ax.grid(True, alpha=0.3)
        ax.set_xticklabels([])
    else:
        raise ValueError(f"density plots exist on S^1 and S^2 only, got points of shape {P.shape}")
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)


def distance_figure(widths: Sequence[int], distances: Sequence[float], path: str | Path,
                    reference: str = "PDE", title: str = "") -> Path:
    """Distance to the reference solution against the width m (log-log): one dot per run, the mean per
    width joined by a line, and a fitted slope in the legend when there are >= 2 widths."""
    m = np.asarray(widths, float)
    d = np.asarray(distances, float)
    fig = _figure()
    ax = fig.add_subplot()
    ok = (m > 0) & (d > 0) & np.isfinite(d)
    ax.loglog(m[ok], d[ok], "o", color="C0", alpha=0.5, ms=4, label="runs (seeds)")
    um = np.unique(m[ok])
    if um.size:
        mean = np.array([d[ok][m[ok] == u].mean() for u in um])
        label = "mean over seeds"
        if um.size >= 2:
            slope = np.polyfit(np.log(um), np.log(mean), 1)[0]
            label += f" (slope {slope:.2f})"
        ax.loglog(um, mean, "-", color="C1", label=label)
    ax.set_xlabel("width m")
    ax.set_ylabel(f"distance to {reference}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return _save(fig, path)
