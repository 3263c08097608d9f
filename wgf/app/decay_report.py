"""The long-time part of ``wgf report``: the decay of ``F - F*`` for runs that span many decades of t.

A run whose positive record times span at least :data:`DECAY_MIN_SPAN` (``t_last / t_first >= 10^4``,
e.g. log-spaced records from t = 0.01 to 10^6) gets (:mod:`wgf.analysis.decay`):

* ``F - F*`` with ``F* = F(T)``, the run's own last value (a converged reference: F decreases, so
  ``F(T) >= F*``; the fit window ends a decade before T so that this choice biases the slope little);
* the certified bracket of F* from the optimality certificate recorded at snapshots,
  ``max (F - gap) <= F* <= min F`` (``-`` for the lower end where the model admits no certificate);
* the slope of ``log(F - F*)`` against ``log t``, least squares over the records in the window
  ``[T / 1000, T / 10]``, and how many records it used.

Text: one row per such run. Figure: ``OUT_decay.png`` (:func:`wgf.app.plots.decay_figure`: ``F - F*``
against t on log-log axes, the certificate gap dotted, the fitted power law dashed over the shaded
window).
"""

from __future__ import annotations

import math
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..analysis.decay import DecayFit, certified_bracket, fit_decay
from . import plots
from .io import OutputReader

__all__ = ["RunDecay", "DECAY_MIN_SPAN", "DECAY_REFERENCE", "run_decay", "summarize_decays", "decay_lines",
           "decay_figures"]

#: Runs whose positive record times span at least this ratio get the long-time decay section and figure.
DECAY_MIN_SPAN = 1e4
#: What F* is in the decay section and figure.
DECAY_REFERENCE = "F(T), each run's own last value"


@dataclass
class RunDecay:
    """The long-time decay of one run: ``F - F*`` with ``F* = F(T)`` and its fitted slope.

    ``t``, ``err = F - F*`` and ``gap`` (the certificate gap, NaN where not recorded; None without a
    certificate) are the run's records, shape (T,); ``lower <= F* <= upper`` is the certified bracket
    (:func:`wgf.analysis.decay.certified_bracket`; ``lower = -inf`` without a certificate)."""

    name: str
    fit: DecayFit
    lower: float
    upper: float
    t: np.ndarray
    err: np.ndarray
    gap: np.ndarray | None


def run_decay(name: str, series: dict[str, np.ndarray]) -> RunDecay | None:
    """The decay of a run from its time series (``time``, ``energy``, optionally ``certificate_gap``), or
    None when its records span less than :data:`DECAY_MIN_SPAN`."""
    if "time" not in series or "energy" not in series:
        return None
    t, F = np.asarray(series["time"], float), np.asarray(series["energy"], float)
    pos = t[(t > 0) & np.isfinite(F)]
    if pos.size < 3 or pos[-1] < DECAY_MIN_SPAN * pos[0]:
        return None
    fit = fit_decay(t, F)
    gap = np.asarray(series["certificate_gap"], float) if "certificate_gap" in series else None
    lower, upper = certified_bracket(F, gap) if gap is not None else (-math.inf, float(np.nanmin(F)))
    return RunDecay(name, fit, lower, upper, t, F - fit.f_star, gap)


def summarize_decays(r: OutputReader) -> list[RunDecay]:
    """The decay of every run of an open output file that spans many decades."""
    return [d for d in (run_decay(name, r.series(name)) for name in r.runs) if d is not None]


def _g(x: float, fmt: str) -> str:
    return "-" if not math.isfinite(x) else format(x, fmt)


def decay_lines(decays: list[RunDecay], table: Callable[[list[str], list[list[str]]], list[str]]) -> list[str]:
    """The text section (empty without decays); ``table(head, body)`` formats the rows."""
    if not decays:
        return []
    lines = [""] + textwrap.wrap(f"long-time decay of F - F* (F* = {DECAY_REFERENCE}; slope of log(F - F*) "
                                 "against log t, least squares over the records in the window [T/1000, T/10]; "
                                 "the certificate brackets F*):", 100)
    head = ["run", "t", "F* = F(T)", "certified F* in", "window", "records", "slope"]
    body = [[d.name, f"{_g(float(d.t[d.t > 0][0]), '.3g')}..{_g(float(d.t[-1]), '.3g')}", _g(d.fit.f_star, ".4e"),
             f"[{_g(d.lower, '.3e')}, {_g(d.upper, '.3e')}]", f"[{d.fit.window[0]:.3g}, {d.fit.window[1]:.3g}]",
             str(d.fit.points), _g(d.fit.slope, ".3f")] for d in decays]
    return lines + table(head, body)


def decay_figures(decays: list[RunDecay], stem: Callable[[str], Path], title: str) -> list[Path]:
    """``OUT_decay.png`` (none without decays); the window is shaded when every run shares it."""
    if not decays:
        return []
    windows = {d.fit.window for d in decays}
    return [plots.decay_figure([(d.name, d.t, d.err, d.gap, d.fit) for d in decays], stem("decay"),
                               reference=DECAY_REFERENCE, window=next(iter(windows)) if len(windows) == 1 else None,
                               title=title)]
