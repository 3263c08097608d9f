"""The decay fit of F - F*: slopes of exact power laws, the bias of F* = F(T) against its closed form, and
the certified bracket of F*."""

import math

import numpy as np
import pytest

from wgf.analysis.decay import DEFAULT_WINDOW, certified_bracket, fit_decay, power_law_slope


@pytest.mark.parametrize("p", [0.5, 1.0, 2.5])
def test_the_slope_of_an_exact_power_law_with_the_true_f_star(p):
    t = np.concatenate([[0.0], np.geomspace(1e-2, 1e3, 120)])
    F = 0.3 + 2.0 * np.where(t > 0, t, 1.0) ** -p
    fit = fit_decay(t, F, f_star=0.3)
    assert fit.window == pytest.approx((1.0, 100.0))
    assert fit.points == int(np.sum((t >= 1.0 - 1e-9) & (t <= 100.0 + 1e-9)))
    assert fit.slope == pytest.approx(-p, abs=1e-8 * p)
    assert fit.line(np.array([10.0]))[0] == pytest.approx(2.0 * 10.0**-p, rel=1e-8)


@pytest.mark.parametrize("p", [0.5, 1.0, 2.0])
def test_f_star_from_the_last_record_biases_the_slope_within_its_closed_form_bound(p):
    # F(t) - F(T) = C (t^-p - T^-p): the local slope is -p / (1 - (t/T)^p), between -p (t << T) and its
    # value at the window's end t = T/10; the fitted slope is a mean of local slopes, so it lies between
    T = 1e5
    t = np.geomspace(1e-2, T, 200)
    F = 1e-3 + 5.0 * t**-p
    fit = fit_decay(t, F)
    assert fit.f_star == F[-1]
    steepest = -p / (1.0 - DEFAULT_WINDOW[1] ** p)
    assert steepest - 1e-9 < fit.slope < -p + 1e-9
    assert fit.slope < -p * (1 + 1e-4)  # the bias is there (F(T) > F* = 1e-3): the test can tell


def test_too_few_records_in_the_window_give_nan_and_bad_windows_raise():
    t = np.array([0.0, 1.0, 10.0, 1e5])
    slope, intercept, n = power_law_slope(t, 1.0 / np.maximum(t, 1), (2.0, 1e4))
    assert math.isnan(slope) and math.isnan(intercept) and n == 1
    with pytest.raises(ValueError, match="0 < t_lo < t_hi"):
        power_law_slope(t, t, (0.0, 1.0))
    with pytest.raises(ValueError, match="no finite records"):
        fit_decay(t, np.full(4, np.nan))


def test_certified_bracket_holds_f_star():
    rng = np.random.default_rng(3)
    F_star = 0.25
    err = np.sort(rng.uniform(1e-6, 1.0, 50))[::-1]
    F = F_star + err
    gap = err * rng.uniform(1.0, 3.0, 50)           # a valid certificate: gap >= F - F*
    gap[::3] = np.nan                               # recorded at snapshots only
    lo, hi = certified_bracket(F, gap)
    assert lo <= F_star <= hi and hi == F.min()
    assert lo == pytest.approx(F_star, abs=3 * err[~np.isnan(gap)].min())
    lo, hi = certified_bracket(F, err)              # an exact gap recovers F* to round-off
    assert lo == pytest.approx(F_star, abs=1e-15)
    assert certified_bracket(F, np.full(50, np.nan))[0] == -math.inf
