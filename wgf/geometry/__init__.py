"""Geometry: the sphere S^d, nonnegative measures on it, and finite-volume grids.

Modules: :mod:`~wgf.geometry.normals` (Gaussian samples), :mod:`~wgf.geometry.sphere` (maps, distances,
sampling, coverings of S^d), :mod:`~wgf.geometry.measure` (:class:`~wgf.geometry.measure.Measure`, atoms on
S^d), :mod:`~wgf.geometry.grid` (the S^1 and S^2 Voronoi grids as weighted graphs).

Layer 2: imports only numpy/scipy and the private helpers ``wgf._validate`` and ``wgf._parallel``.
"""
