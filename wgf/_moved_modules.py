"""Old flat module paths (``wgf.grid``, ``wgf.eulerian``...) kept importable for one release.

Release 0.2 moved the modules into subpackages that show the layers (see :mod:`wgf`). ``import
wgf.grid``, ``from wgf.eulerian import EulerianSolver`` and the attribute ``wgf.grid`` still work: they
return the module at its new path (the same module object, so its classes and functions are the same)
and emit a :class:`DeprecationWarning` naming that path. Nothing else in wgf imports the old paths.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from types import ModuleType

__all__ = ["MOVED_MODULES", "import_moved", "install"]

#: old module name -> new module name
MOVED_MODULES: dict[str, str] = {
    f"wgf.{name}": f"wgf.{layer}.{name}"
    for layer, names in {
        "geometry": ["normals", "sphere", "measure", "grid"],
        "models": ["relu_kernel", "relu_kernel_planar", "relu_features", "spike_kernels"],
        "discretisations": ["solver", "timesteppers", "finite_volume", "eulerian", "lagrangian", "network"],
        "analysis": ["exact", "distances", "certificate", "margins", "reference", "lazy"],
        "app": ["cases", "controller", "io", "report", "plots", "sweep", "cli"],
    }.items()
    for name in names
}


def _warn(old: str, new: str, stacklevel: int) -> None:
    warnings.warn(f"{old} has moved to {new}; the old path will be removed in the next release",
                  DeprecationWarning, stacklevel=stacklevel)


def import_moved(old: str, stacklevel: int = 3) -> ModuleType:
    """The module formerly called ``old`` (e.g. ``"wgf.grid"``), with a DeprecationWarning."""
    new = MOVED_MODULES[old]
    _warn(old, new, stacklevel)
    return importlib.import_module(new)


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, old: str):
        self.old = old

    def create_module(self, spec):
        # warnings skips the import system's own frames, so level 3 is the user's import statement
        new = MOVED_MODULES[self.old]
        _warn(self.old, new, 3)
        return importlib.import_module(new)

    def exec_module(self, module):
        pass


class _MovedModuleFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED_MODULES:
            return importlib.machinery.ModuleSpec(fullname, _AliasLoader(fullname))
        return None


def install() -> None:
    """Put the finder of the old paths on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _MovedModuleFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedModuleFinder())
