"""Discretisations of the WFR flow: the finite-volume operator, time steppers and the three solvers.

Modules: :mod:`~wgf.discretisations.solver` (the interface every solver implements),
:mod:`~wgf.discretisations.timesteppers` (the stepper registry), :mod:`~wgf.discretisations.finite_volume`
(the semi-discrete operator on a grid), :mod:`~wgf.discretisations.eulerian` (grid solver),
:mod:`~wgf.discretisations.lagrangian` (weighted particles), :mod:`~wgf.discretisations.network`
(finite-width networks: full gradient, GD on data, online SGD).

Layer 4: imports from :mod:`wgf.geometry`, :mod:`wgf.models` and the private helpers, never from
:mod:`wgf.analysis` or :mod:`wgf.app`.
"""
