"""The package's layers, read from the source: a module imports only from its own layer or lower ones,
never an old flat path (``wgf.grid``...), and the old paths still import with a DeprecationWarning."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import wgf
from wgf._moved_modules import MOVED_MODULES

PACKAGE = Path(wgf.__file__).resolve().parent

#: layer of each top-level part of the package, lowest first (see the docstring of wgf/__init__.py)
LAYERS = {"_validate": 1, "_parallel": 1, "geometry": 2, "models": 3, "discretisations": 4, "analysis": 5,
          "app": 6}
#: the package root's own modules: they assemble the namespace, above every layer
ROOT_MODULES = {"__init__", "__main__", "_moved_modules"}


def module_name(path: Path) -> str:
    """``wgf/geometry/grid.py`` -> ``wgf.geometry.grid``; ``wgf/models/__init__.py`` -> ``wgf.models``."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(name: str) -> int:
    """Layer of the module ``name`` (``wgf.x...``); the package root's modules get 7."""
    parts = name.split(".")
    if len(parts) == 1 or (len(parts) == 2 and parts[1] in ROOT_MODULES):
        return 7
    if parts[1] not in LAYERS:
        raise KeyError(f"{name}: not in any layer (add it to LAYERS or move it into a subpackage)")
    return LAYERS[parts[1]]


def imported_modules(source: str, name: str, is_package: bool) -> list[tuple[int, str]]:
    """``(line, module)`` for every import of a wgf module in ``source`` (those inside functions too);
    ``from X import y`` counts as importing ``X.y`` when that is a module, else ``X``."""
    package = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "wgf"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "wgf":
                continue
            for a in node.names:
                sub = f"{target}.{a.name}"
                found.append((node.lineno, sub if _is_module(sub) or sub in MOVED_MODULES else target))
    return found


def _is_module(name: str) -> bool:
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def violations(source: str, name: str, is_package: bool = False) -> list[str]:
    """One line per import that breaks the layer rule or names a module that does not exist."""
    out = []
    for line, target in imported_modules(source, name, is_package):
        if target in MOVED_MODULES:
            out.append(f"{name}:{line} imports the old path {target} (now {MOVED_MODULES[target]})")
        elif not _is_module(target) and target != "wgf":
            out.append(f"{name}:{line} imports {target}, which is not a module of wgf")
        elif target != "wgf" and layer_of(target) > layer_of(name):
            out.append(f"{name}:{line} (layer {layer_of(name)}) imports {target} (layer {layer_of(target)})")
        elif target == "wgf" and layer_of(name) < 7 and name.split(".")[1] != "app":
            out.append(f"{name}:{line} imports the package root wgf from a lower layer")
    return out


def test_no_module_imports_upwards():
    problems = []
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 30
    for path in files:
        name = module_name(path)
        problems += violations(path.read_text(), name, path.name == "__init__.py")
    assert not problems, "\n".join(problems)


def test_every_module_is_in_a_layer():
    for path in PACKAGE.rglob("*.py"):
        layer_of(module_name(path))  # raises for a module outside the layers


@pytest.mark.parametrize("source, name, expected", [
    ("from ..app.cases import parse_case\n", "wgf.geometry.grid", "imports wgf.app.cases (layer 6)"),
    ("def f():\n    from ..analysis import exact\n", "wgf.models.linear", "imports wgf.analysis.exact (layer 5)"),
    ("import wgf.app.io\n", "wgf.discretisations.solver", "imports wgf.app.io (layer 6)"),
    ("from .. import grid\n", "wgf.models.base", "old path wgf.grid"),
    ("from ..geometry import nothing_here\n", "wgf.models.base", None),
    ("from ..geometry.sphere import normalize\n", "wgf.models.base", None),
    ("from . import io\n", "wgf.app.report", None),
])
def test_the_checker_sees_upward_and_old_imports(source, name, expected):
    found = violations(source, name)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1 and expected in found[0], found


def test_old_paths_import_the_new_module_with_a_deprecation_warning():
    # a fresh interpreter, so that no old path is in sys.modules yet
    code = ("import importlib, warnings, wgf\n"
            "from wgf._moved_modules import MOVED_MODULES\n"
            "for old, new in sorted(MOVED_MODULES.items()):\n"
            "    with warnings.catch_warnings(record=True) as caught:\n"
            "        warnings.simplefilter('always')\n"
            "        m = importlib.import_module(old)\n"
            "    print(old, m is importlib.import_module(new), [str(w.message) for w in caught\n"
            "                                                   if w.category is DeprecationWarning])\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    lines = out.splitlines()
    assert len(lines) == len(MOVED_MODULES) == 27
    for line, (old, new) in zip(lines, sorted(MOVED_MODULES.items())):
        message = f"{old} has moved to {new}; the old path will be removed in the next release"
        assert line == f"{old} True {[message]!r}"


def test_old_module_attributes_of_the_package_warn():
    with pytest.warns(DeprecationWarning, match="wgf.exact has moved to wgf.analysis.exact"):
        mod = wgf.__getattr__("exact")
    assert mod is importlib.import_module("wgf.analysis.exact")
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        wgf.no_such_thing  # noqa: B018
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert wgf.EulerianSolver.__module__ == "wgf.discretisations.eulerian"
