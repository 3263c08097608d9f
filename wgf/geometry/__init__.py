"""Geometry: the sphere S^d, nonnegative measures on it, and finite-volume grids.

Modules: :mod:`~wgf.geometry.normals` (Gaussian samples), :mod:`~wgf.geometry.sphere` (maps, distances,
sampling, coverings of S^d), :mod:`~wgf.geometry.measure` (:class:`~wgf.geometry.measure.Measure`, atoms on
S^d), :mod:`~wgf.geometry.grid` (finite-volume grids as weighted graphs; the S^1 and S^2 constructors),
:mod:`~wgf.geometry.voronoi_s3` (Voronoi grids of S^3), :mod:`~wgf.geometry.spherical_simplices`
(quadrature on spherical simplices, spherical triangle areas).

Layer 2: imports only numpy/scipy and the private helpers ``wgf._validate`` and ``wgf._parallel``.
"""
