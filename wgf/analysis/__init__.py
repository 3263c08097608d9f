"""Analysis: what a solution is compared with.

Modules: :mod:`~wgf.analysis.exact` (closed-form solutions of the linear-potential flow),
:mod:`~wgf.analysis.distances` (predictor distance, ``sup |J - J'|``, Hellinger-Kantorovich / WFR),
:mod:`~wgf.analysis.certificate` (the optimality certificate and duality gap),
:mod:`~wgf.analysis.margins` (F1 and F2 max-margin references), :mod:`~wgf.analysis.reference`
(reference minimisers, atom matching), :mod:`~wgf.analysis.lazy` (the lazy / NTK regime),
:mod:`~wgf.analysis.decay` (the late-time decay of F - F* and its fitted power-law slope).

Layer 5: imports from :mod:`wgf.geometry`, :mod:`wgf.models`, :mod:`wgf.discretisations` and the private
helpers, never from :mod:`wgf.app`.
"""
