"""Validation helpers for case files, usable by any plugin's model types and solver sections.

Every check takes the TOML path of the value (``"eulerian"``, ``"model"``...), its key and the value,
and returns the checked value or raises :class:`CaseError` with a one-line message that names the key,
the value and what is allowed (an unknown key gets a difflib suggestion). Beside the scalar checks:
:func:`load_array` (an inline TOML array or a CSV / .npy file relative to the case file) and
:func:`solver_kwargs` (a section's remaining keys checked against a constructor's keyword parameters).
"""

from __future__ import annotations

import difflib
import inspect
import math
import os
import re
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

__all__ = [
    "CaseError", "check_keys", "check_table", "check_number", "check_int", "check_choice", "check_string",
    "check_int_list", "load_array", "solver_kwargs", "constructor_error",
]


class CaseError(ValueError):
    """A case that cannot be run; the message names the TOML key, the value and what is allowed."""


# ---------------------------------------------------------------------------------------------- helpers
def _fmt(value: Any, limit: int = 60) -> str:
    """A value as it would look in TOML, shortened."""
    if isinstance(value, bool):
        s = "true" if value else "false"
    elif isinstance(value, str):
        s = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    elif isinstance(value, float):
        s = "nan" if math.isnan(value) else repr(value)
    elif isinstance(value, dict):
        s = "{" + ", ".join(f"{k} = {_fmt(v, limit)}" for k, v in value.items()) + "}"
    elif isinstance(value, list):
        s = "[" + ", ".join(_fmt(v, limit) for v in value) + "]"
    else:
        s = repr(value)
    s = s.replace("\n", "\\n")
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _typename(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _where(path: str, key: str | None = None) -> str:
    if not path:
        return key or "the case"
    return f"[{path}]" if key is None else f"[{path}] {key}"


def _bad(path: str, key: str, value: Any, allowed: str) -> CaseError:
    return CaseError(f"{_where(path, key)} = {_fmt(value)}: {allowed}")


def _suggest(key: str, allowed: Iterable[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_keys(path: str, table: Mapping[str, Any], allowed: Iterable[str], required: Mapping[str, str] = {},
               elsewhere: Mapping[str, str] = {}) -> None:
    """Reject unknown keys (with a suggestion) and missing required ones.

    ``required`` maps a required key to a short description; ``elsewhere`` maps keys that belong to
    another section to where they should go."""
    allowed = sorted(set(allowed) | set(required))
    for key in table:
        if key in elsewhere:
            raise CaseError(f"{_where(path)} key '{key}' does not belong here: {elsewhere[key]}")
        if key not in allowed:
            raise CaseError(
                f"{_where(path)} unknown key '{key}'{_suggest(key, allowed)}; allowed keys: {', '.join(allowed)}"
            )
    for key, what in required.items():
        if key not in table:
            raise CaseError(f"{_where(path)} missing key '{key}' ({what})")


def check_table(path: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise CaseError(f"[{path}] must be a table ([{path}] with keys), got {_typename(value)} {_fmt(value)}")
    return value


def check_number(path: str, key: str, value: Any, *, positive: bool = False, nonnegative: bool = False,
                 maximum: float | None = None) -> float:
    """A finite real number (TOML integer or float), optionally > 0 or >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(path, key, value, f"expected a number, got {_typename(value)}")
    v = float(value)
    if not math.isfinite(v):
        raise _bad(path, key, value, "must be a finite number")
    if positive and v <= 0:
        raise _bad(path, key, value, "must be > 0")
    if nonnegative and v < 0:
        raise _bad(path, key, value, "must be >= 0")
    if maximum is not None and v > maximum:
        raise _bad(path, key, value, f"must be <= {maximum:g}")
    return v


def check_int(path: str, key: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(path, key, value, f"expected an integer, got {_typename(value)}")
    if minimum is not None and value < minimum:
        raise _bad(path, key, value, f"must be an integer >= {minimum}")
    if maximum is not None and value > maximum:
        raise _bad(path, key, value, f"must be an integer <= {maximum}")
    return value


def check_choice(path: str, key: str, value: Any, choices: Iterable[str]) -> str:
    choices = list(choices)
    if not isinstance(value, str):
        raise _bad(path, key, value, f"expected a string, one of {', '.join(map(repr, choices))}")
    if value not in choices:
        raise _bad(path, key, value, f"must be one of {', '.join(map(repr, choices))}{_suggest(value, choices)}")
    return value


def check_string(path: str, key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _bad(path, key, value, f"expected a string, got {_typename(value)}")
    return value


def check_int_list(path: str, key: str, value: Any, *, minimum: int, maximum: int | None = None) -> list[int]:
    """An integer or a nonempty array of distinct integers."""
    items = value if isinstance(value, list) else [value]
    if not items:
        raise _bad(path, key, value, "must be a nonempty array of integers")
    out = []
    for v in items:
        try:
            out.append(check_int(path, key, v, minimum=minimum, maximum=maximum))
        except CaseError as exc:
            raise _bad(path, key, value, "each " + str(exc).split(": ", 1)[1]) from None
    if len(set(out)) != len(out):
        raise _bad(path, key, value, "must not repeat a value")
    return out


# ---------------------------------------------------------------------------------------------- arrays
def _all_numbers(value: Any) -> bool:
    """Whether a (nested) TOML array holds numbers only (no strings, booleans or tables)."""
    if isinstance(value, list):
        return all(_all_numbers(v) for v in value)
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_array(path: str, key: str, value: Any, ndim: int, base_dir: Path | None,
               embedded: Mapping[str, np.ndarray] | None) -> tuple[np.ndarray, bool]:
    """An array given inline (a TOML array) or as a file path (CSV, or .npy) relative to ``base_dir``.

    Returns ``(array, from_file)``. On resume (``embedded`` given) a file's content comes from the output
    file, not from disk. The array must be float, finite, of dimension ``ndim`` and nonempty."""
    keypath = f"{path}.{key}"
    from_file = isinstance(value, str)
    if from_file:
        if embedded is not None and keypath in embedded:
            arr = np.asarray(embedded[keypath], dtype=np.float64)
        elif base_dir is None:
            raise CaseError(f"{_where(path, key)} = {_fmt(value)}: the file's content is not embedded in this "
                            "output file")
        else:
            file = (base_dir / value) if not os.path.isabs(value) else Path(value)
            if file.is_dir():
                raise _bad(path, key, value, f"{file.name} is a folder, not a data file")
            if not file.is_file():
                raise _bad(path, key, value, f"no such file (looked for {file.name} relative to the case file)")
            try:
                with warnings.catch_warnings():  # an empty file: reported below, as an empty array
                    warnings.simplefilter("ignore")
                    if file.suffix == ".npy":
                        raw = np.load(file, allow_pickle=False)
                        if not isinstance(raw, np.ndarray) or raw.dtype.kind not in "iuf":
                            raise ValueError(f"expected real numbers, got an array of dtype "
                                             f"{getattr(raw, 'dtype', type(raw).__name__)}")
                        arr = np.asarray(raw, dtype=np.float64)
                    else:
                        arr = np.loadtxt(file, delimiter=",", comments="#", dtype=np.float64, ndmin=ndim)
            except (ValueError, OSError, TypeError, EOFError) as exc:
                msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise _bad(path, key, value, f"cannot read the file as a numeric array: {msg}") from None
    elif isinstance(value, list):
        if not _all_numbers(value):
            raise _bad(path, key, value, f"expected a numeric array of dimension {ndim} (numbers only)")
        try:
            arr = np.array(value, dtype=np.float64)
        except (ValueError, TypeError):
            raise _bad(path, key, value, f"expected a rectangular numeric array of dimension {ndim}") from None
        if ndim == 2 and arr.ndim == 1 and arr.size:
            arr = arr[None, :]  # a single row, e.g. one teacher neuron
    else:
        raise _bad(path, key, value, f"expected an inline array or a file path, got {_typename(value)}")
    if arr.ndim != ndim:
        raise _bad(path, key, value, f"expected an array of dimension {ndim}, got shape {arr.shape}")
    if arr.size == 0:
        raise _bad(path, key, value, "the array is empty")
    if not np.all(np.isfinite(arr)):
        raise _bad(path, key, value, "the array contains NaN or inf")
    return arr, from_file


# ---------------------------------------------------------------------------------------------- kwargs
_SIMPLE_TYPES = {"float": (int, float), "int": (int,), "bool": (bool,), "str": (str,)}
_TYPE_WORDS = {"float": "a number", "int": "an integer", "bool": "a boolean", "str": "a string"}


def _expected_types(param: inspect.Parameter) -> list[str] | None:
    """Names (float / int / bool / str) of the types a TOML value may take for this parameter, from its
    annotation (or its default's type); None when the annotation is anything else (no check)."""
    ann = param.annotation
    if ann is inspect.Parameter.empty:
        d = param.default
        for name, t in (("bool", bool), ("int", int), ("float", float), ("str", str)):
            if isinstance(d, t):
                return [name]
        return None
    text = ann if isinstance(ann, str) else getattr(ann, "__name__", str(ann))
    text = text.replace(" ", "")
    m = re.fullmatch(r"Optional\[(.*)\]", text)
    if m:
        text = m.group(1) + "|None"
    names = [n for n in text.split("|") if n not in ("None", "NoneType")]
    if not names or any(n not in _SIMPLE_TYPES for n in names):
        return None
    return names


def _type_ok(value: Any, names: list[str]) -> bool:
    types: tuple[type, ...] = sum((_SIMPLE_TYPES[n] for n in names), ())
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, types)


def solver_kwargs(path: str, table: Mapping[str, Any], target: Callable, *, own: Iterable[str] = (),
                  supplied: Mapping[str, str] = {}) -> dict[str, Any]:
    """Keyword arguments for ``target`` (a class or function) from a case section.

    Keys in ``own`` are the section's own (handled by the caller and not passed on); keys in ``supplied``
    (parameter -> where the case sets it) are filled by the caller and may not appear in the section.
    Every other key must be a keyword parameter of ``target``; values are checked against simple
    annotations (float / int / bool / str); required parameters must be present."""
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return {k: v for k, v in table.items() if k not in own}
    params = {
        name: p for name, p in sig.parameters.items()
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        and name not in supplied and name != "self"
    }
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    elsewhere = {k: f"it is set by {v}" for k, v in supplied.items()}
    allowed = set(params) | set(own)
    required = {name: f"required by {getattr(target, '__name__', 'the constructor')}"
                for name, p in params.items() if p.default is inspect.Parameter.empty}
    if not var_kw:
        check_keys(path, table, allowed, required, elsewhere)
    else:
        check_keys(path, table, set(table) - set(supplied), required, elsewhere)
    kwargs = {}
    for key, value in table.items():
        if key in own:
            continue
        p = params.get(key)
        names = _expected_types(p) if p is not None else None
        if names is not None and not _type_ok(value, names):
            if isinstance(value, float) and not math.isfinite(value):
                raise _bad(path, key, value, "must be a finite number")
            want = " or ".join(_TYPE_WORDS[n] for n in names)
            raise _bad(path, key, value, f"expected {want}, got {_typename(value)}")
        kwargs[key] = value
    return kwargs


def constructor_error(path: str, table: Mapping[str, Any], exc: Exception,
                      aliases: Mapping[str, str] = {}) -> CaseError:
    """A constructor's ValueError/TypeError as a CaseError naming the section and, when the message names
    one of the section's keys (or a parameter name that ``aliases`` maps to a key), that key and its
    value."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    best = None
    names = {**{k: k for k in table}, **{a: k for a, k in aliases.items() if k in table}}
    for word, key in names.items():
        m = re.search(rf"(?<![\w.]){re.escape(word)}(?!\w)", msg)
        if m and (best is None or m.start() < best[1]):
            best = (key, m.start())
    if best is not None:
        return CaseError(f"{_where(path, best[0])} = {_fmt(table[best[0]])}: {msg}")
    return CaseError(f"{_where(path)}: {msg}")

