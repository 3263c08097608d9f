"""The package list, which pyproject.toml cannot express by itself: the packages found under wgf/ plus the
two folders of bundled files mapped into the package by ``[tool.setuptools.package-dir]`` (the bundled
cases ``solvers/`` and their data ``data/``, installed as ``wgf/_bundled/solvers`` and ``wgf/_bundled/data``).
Everything else is in pyproject.toml."""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["wgf", "wgf.*"]) + ["wgf._bundled.solvers", "wgf._bundled.data"])
