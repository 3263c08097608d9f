"""Argument checks shared by the solvers and diagnostics: each raises ``ValueError`` naming the argument,
the bad value and what is allowed (private helpers; the public functions document their own rules)."""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["check_real", "check_int", "check_bool", "check_choice"]


def check_real(name: str, value, *, low: float | None = None, high: float | None = None,
               low_open: bool = False, allow_inf: bool = False) -> float:
    """``float(value)``, finite (unless ``allow_inf``) and within ``[low, high]`` (``(low, high]`` with
    ``low_open``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {value!r}")
    v = float(value)
    if math.isnan(v) or (math.isinf(v) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if low is not None and (v < low or (low_open and v == low)):
        rel = ">" if low_open else ">="
        raise ValueError(f"{name} must be {rel} {low:g}, got {value!r}")
    if high is not None and v > high:
        raise ValueError(f"{name} must be <= {high:g}, got {value!r}")
    return v


def check_int(name: str, value, *, low: int | None = None) -> int:
    """``int(value)`` for an integral ``value`` (bool excluded) with ``value >= low``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if low is not None and v < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return v


def check_bool(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)) and not (isinstance(value, numbers.Integral) and value in (0, 1)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_choice(name: str, value, choices) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")
    return value
