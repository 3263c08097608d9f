"""The late-time decay of ``F(nu_t) - F*``: its reference value F* and its fitted power-law slope.

For a flow that converges at a polynomial rate, ``F(t) - F* ~ C t^{-p}``, the local slope of
``log(F - F*)`` against ``log t`` over a window of times is ``-p``. Two things must be chosen and stated:

* **F*.** The flow's limit is not known in general. :func:`fit_decay` uses the run's own last value,
  ``F* := F(T)`` (a converged reference when the run is long enough: F decreases, so ``F(T) >= F*``),
  and the window ends a decade before T so that this choice changes the slope little: for an exact power
  law the measured slope at ``t`` is ``-p / (1 - (t / T)^p)``, within ``p (t/T)^p / (1 - (t/T)^p)`` of
  ``-p`` (1.1% of p at t = T / 10 for p = 1). An optimality certificate (:mod:`wgf.analysis.certificate`)
  gives the other side: its gap bounds ``F(t) - F*`` from above, so ``F* >= max_t (F(t) - gap(t))``;
  :func:`certified_bracket` returns that lower bound with the upper bound ``min_t F(t)``.
* **The window.** By default the two decades ``[T / 1000, T / 10]`` (:data:`DEFAULT_WINDOW`, fractions of
  T), fitted by least squares (``np.polyfit`` of ``log(F - F*)`` against ``log t``) over the records
  inside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["DEFAULT_WINDOW", "DecayFit", "power_law_slope", "fit_decay", "certified_bracket"]

#: The fitting window as fractions of the final time T: ``[T / 1000, T / 10]``.
DEFAULT_WINDOW = (1e-3, 1e-1)


@dataclass
class DecayFit:
    """The fitted decay of ``F - F*`` over a window.

    Attributes
    ----------
    f_star : float
        The reference value F* subtracted.
    window : (float, float)
        The times ``[t_lo, t_hi]`` of the fit.
    slope : float
        The fitted slope of ``log(F - F*)`` against ``log t`` (NaN with fewer than ``min_points`` usable
        records in the window).
    intercept : float
        ``log C`` of the fit ``F - F* = C t^slope``.
    points : int
        Records used (inside the window, with ``F - F* > 0``).
    """

    f_star: float
    window: tuple[float, float]
    slope: float
    intercept: float
    points: int

    def line(self, t: np.ndarray) -> np.ndarray:
        """The fitted ``C t^slope`` at the times ``t``."""
        return np.exp(self.intercept) * np.asarray(t, float) ** self.slope


def power_law_slope(t: np.ndarray, err: np.ndarray, window: tuple[float, float],
                    min_points: int = 3) -> tuple[float, float, int]:
    """Least-squares slope and intercept of ``log err`` against ``log t`` over the records with
    ``window[0] <= t <= window[1]`` and ``err > 0`` (finite), and how many there were.

    Parameters
    ----------
    t, err : array_like, shape (T,)
        Times and errors (e.g. ``F - F*``).
    window : (float, float)
        ``0 < t_lo < t_hi``.
    min_points : int
        Fewer usable records give ``(nan, nan, count)``.
    """
    t = np.asarray(t, float)
    err = np.asarray(err, float)
    lo, hi = float(window[0]), float(window[1])
    if not (0.0 < lo < hi):
        raise ValueError(f"window must satisfy 0 < t_lo < t_hi, got {window!r}")
    tol = 1e-12 * hi
    use = (t >= lo - tol) & (t <= hi + tol) & np.isfinite(err) & (err > 0) & (t > 0)
    n = int(use.sum())
    if n < min_points:
        return math.nan, math.nan, n
    slope, intercept = np.polyfit(np.log(t[use]), np.log(err[use]), 1)
    return float(slope), float(intercept), n


def fit_decay(t: np.ndarray, F: np.ndarray, f_star: float | None = None,
              window: tuple[float, float] | None = None, min_points: int = 3) -> DecayFit:
    """The fitted decay of ``F - F*`` (see the module docstring).

    Parameters
    ----------
    t, F : array_like, shape (T,)
        Record times (increasing) and ``F(nu_t)``.
    f_star : float, optional
        The reference value; default the last finite ``F`` (the run's own converged value).
    window : (float, float), optional
        Times of the fit; default :data:`DEFAULT_WINDOW` times the last record time.
    """
    t = np.asarray(t, float)
    F = np.asarray(F, float)
    ok = np.isfinite(F) & np.isfinite(t)
    if not np.any(ok):
        raise ValueError("no finite records of F")
    if f_star is None:
        f_star = float(F[ok][-1])
    if window is None:
        T = float(t[ok][-1])
        window = (DEFAULT_WINDOW[0] * T, DEFAULT_WINDOW[1] * T)
    slope, intercept, n = power_law_slope(t, F - f_star, window, min_points)
    return DecayFit(float(f_star), (float(window[0]), float(window[1])), slope, intercept, n)


def certified_bracket(F: np.ndarray, gap: np.ndarray) -> tuple[float, float]:
    """``(lower, upper)`` bounds on F* from a run's records: ``max (F - gap)`` over the records with a
    finite certificate gap (``-inf`` without one) and ``min F``."""
    F = np.asarray(F, float)
    gap = np.asarray(gap, float)
    ok = np.isfinite(F) & np.isfinite(gap)
    lower = float(np.max(F[ok] - gap[ok])) if np.any(ok) else -math.inf
    fin = np.isfinite(F)
    upper = float(np.min(F[fin])) if np.any(fin) else math.nan
    return lower, upper
