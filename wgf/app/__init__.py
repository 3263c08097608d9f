"""The application: case files, runs, output files, reports and the command line.

Modules: :mod:`~wgf.app.cases` (parsing a case file into models, solvers and output times, the plugin
registries), :mod:`~wgf.app.work` (the work a case asks for, estimated before it runs),
:mod:`~wgf.app.controller` (runs and resumes every solver of a case),
:mod:`~wgf.app.io` (the HDF5 layout, atomic writes, checkpoints), :mod:`~wgf.app.report` and
:mod:`~wgf.app.plots` (the comparison table and figures; :mod:`~wgf.app.plane_plots`, figures in the
input plane for two-dimensional data with a bias; :mod:`~wgf.app.margin_report`, the implicit bias of
classification runs; :mod:`~wgf.app.decay_report`, the decay of F - F* for runs spanning many decades),
:mod:`~wgf.app.sweep` (parameter sweeps on
Dask), :mod:`~wgf.app.cli` (the ``wgf`` command).

Layer 6, the top: may import from every other layer; nothing in wgf imports it except ``wgf.__main__``.
"""
