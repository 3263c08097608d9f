"""The implicit-bias part of ``wgf report`` for classification runs (logistic loss).

For a case whose model is :class:`~wgf.models.EmpiricalReLU` with ``loss = "logistic"``, every run's
snapshots give, against time (:mod:`wgf.analysis.implicit_bias`):

* the normalised margin ``min_i y_i h_nu(x_i) / int |a||b| dnu`` (comparable with the F1 max margin);
* the share of ``int |a||b| dnu`` within :data:`SUPPORT_ANGLE` of the F1 solution's support directions
  (same output sign);

beside the references computed once from the data: the F1 max margin (linear program on
:data:`F1_DIRECTIONS` quasi-uniform input directions) and the F2 max margin (exact SVM with the
arc-cosine kernel). The LP value is a lower bound of the true F1 max margin, so the gap ``1 - margin / F1``
quoted against it is too small by at most the LP's own error.

Text: one row per run at its last snapshot. Figures: ``OUT_margin.png`` (normalised margin and support
share against t, log time axis, F1 and F2 as horizontal lines) and ``OUT_predictor.png`` (the final
normalised predictors of the reference run and of the widest network beside the F1 and F2 max-margin
predictors, on the data: curves over the input line for one-dimensional inputs, zero level sets in the
plane for two-dimensional ones; not drawn for more).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..analysis.implicit_bias import (MaxMarginReferences, max_margin_references, normalised_predictor,
                                      support_share)
from ..analysis.margins import normalised_margin
from ..geometry.measure import Measure
from . import plots
from .io import OutputReader

__all__ = ["MarginPath", "MarginSummary", "summarize_margins", "margin_lines", "margin_figures",
           "F1_DIRECTIONS", "SUPPORT_ANGLE"]

#: Input directions of the F1 linear program (quasi-uniform on the unit sphere of the features).
F1_DIRECTIONS = 4096
#: Half-angle (radians) of the cones around the F1 support directions in the support share.
SUPPORT_ANGLE = math.radians(10.0)


@dataclass
class MarginPath:
    """One run's margins at its snapshot times (arrays of shape (S,))."""

    name: str
    solver: str
    width: int | None
    time: np.ndarray
    margin: np.ndarray
    share: np.ndarray
    final: Measure | None = None


@dataclass
class MarginSummary:
    """The references and every run's margin path."""

    references: MaxMarginReferences
    dx: int
    bias: bool
    paths: list[MarginPath] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _applies(case) -> bool:
    from ..models import EmpiricalReLU
    return case is not None and isinstance(case.model, EmpiricalReLU) and case.model.loss == "logistic"


def summarize_margins(r: OutputReader, summary, measure_of: Callable[[OutputReader, str, str], Measure | None]
                      ) -> MarginSummary | None:
    """Margins of every run of a logistic-loss case, or None for other cases.

    ``summary`` is the report's :class:`~wgf.app.report.Summary`; ``measure_of(r, run, key)`` reads one
    snapshot as a measure (None when it cannot)."""
    case = summary.case
    if not _applies(case):
        return None
    model = case.model
    refs = max_margin_references(model.features, model.y, F1_DIRECTIONS)
    out = MarginSummary(refs, model.dx, model.bias)
    if model.weight_decay > 0:
        out.notes.append(f"margins with weight decay {model.weight_decay:g}: the implicit-bias theorem is about the "
                         "unregularised loss (weight_decay = 0)")
    U, s, _ = refs.f1_support()
    for row in summary.rows:
        times, marg, share = [], [], []
        final = None
        for key, t, _ in r.snapshot_list(row.name):
            nu = measure_of(r, row.name, key)
            if nu is None or not np.any(nu.masses > 0):
                continue
            mg = normalised_margin(nu, model.features, model.y)["by_ab"]
            times.append(t)
            marg.append(mg)
            share.append(support_share(nu, U, s, SUPPORT_ANGLE) if len(U) else math.nan)
            final = nu
        if times:
            width = row.params.get("m") if row.solver == "network" else None
            out.paths.append(MarginPath(row.name, row.solver, width, np.array(times), np.array(marg),
                                        np.array(share), final))
    return out


def _g(x: float, fmt: str) -> str:
    return "-" if x is None or not math.isfinite(x) else format(x, fmt)


def margin_lines(ms: MarginSummary) -> list[str]:
    """The text section: the references, then one row per run at its last snapshot."""
    refs = ms.references
    lines = ["", "implicit bias (logistic loss): normalised margin min_i y_i h(x_i) / int |a||b| dnu at the last "
             "snapshot;",
             f"  F1 max margin >= {refs.f1:.6g} (LP on {len(refs.f1_directions)} input directions, a lower bound) "
             f"and <= {_g(refs.f1_upper, '.6g')} (certified dual bound), "
             f"F2 max margin = {refs.f2:.6g} (exact SVM; dual bound {_g(refs.f2_upper, '.6g')})"]
    head = ["run", "t", "margin", "1 - margin/F1", "margin/F2",
            f"share within {math.degrees(SUPPORT_ANGLE):.0f} deg of F1 support"]
    body = []
    for p in ms.paths:
        m = float(p.margin[-1])
        body.append([p.name, _g(float(p.time[-1]), ".4g"), _g(m, ".5g"),
                     _g(1 - m / refs.f1 if refs.f1 > 0 else math.nan, ".3e"),
                     _g(m / refs.f2 if refs.f2 > 0 else math.nan, ".4g"), _g(float(p.share[-1]), ".3f")])
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]
    lines.append("  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip())
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in body]
    return lines


def margin_figures(ms: MarginSummary, stem: Callable[[str], Path], title: str, reference: str | None) -> list[Path]:
    """``OUT_margin.png`` and (inputs of dimension 1 or 2) ``OUT_predictor.png``."""
    refs = ms.references
    out = [plots.margin_figure([(p.name, p.time, p.margin, p.share) for p in ms.paths], stem("margin"),
                               f1=refs.f1, f2=refs.f2, f1_upper=refs.f1_upper, angle_deg=math.degrees(SUPPORT_ANGLE), title=title)]
    F, dx, bias = refs.features, ms.dx, ms.bias
    if dx not in (1, 2):
        ms.notes.append(f"no predictor figure: the inputs have dimension {dx} (drawn for 1 or 2)")
        return out
    picks = [p for p in ms.paths if p.name == reference] + sorted(
        (p for p in ms.paths if p.solver == "network" and p.width is not None), key=lambda p: -p.width)[:1]
    picks = [p for p in picks if p.final is not None]
    X = F[:, :dx]
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = 0.15 * np.maximum(hi - lo, 1e-9)
    if dx == 1:
        grid = np.linspace(lo[0] - pad[0], hi[0] + pad[0], 400)[:, None]
    else:
        gx, gy = np.meshgrid(np.linspace(lo[0] - pad[0], hi[0] + pad[0], 160),
                             np.linspace(lo[1] - pad[1], hi[1] + pad[1], 160))
        grid = np.column_stack([gx.ravel(), gy.ravel()])
    G = np.column_stack([grid, np.ones(len(grid))]) if bias else grid
    preds = [(f"F1 max margin (LP), margin {refs.f1:.4g}", refs.f1_predictor(G))]
    if refs.f2 > 0:
        preds.append((f"F2 max margin (SVM), margin {refs.f2:.4g}", refs.f2_predictor(G)))
    for p in picks:
        preds.append((f"{p.name} at t = {p.time[-1]:.4g}, margin {p.margin[-1]:.4g}",
                      normalised_predictor(p.final, G)))
    out.append(plots.predictor_figure(grid, preds, X, refs.y, stem("predictor"),
                                      shape=None if dx == 1 else gx.shape, title=title))
    return out
