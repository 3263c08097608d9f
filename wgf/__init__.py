"""wgf: Wasserstein–Fisher–Rao gradient flows of convex functionals over nonnegative measures on S^d.

The public namespace is flat: ``wgf.Measure``, ``wgf.TeacherStudent``, ``wgf.EulerianSolver``,
``wgf.icosahedral_grid``, ``wgf.hopf_grid``... The modules live in subpackages, one per layer; a module imports only from
its own layer or the ones before it (``tests/test_layers.py`` checks this):

1. ``wgf._validate``, ``wgf._parallel`` -- private argument checks and threading helpers;
2. :mod:`wgf.geometry` -- the sphere, measures on it and finite-volume grids;
3. :mod:`wgf.models` -- the objectives F with their potentials J and the kernels that evaluate them;
4. :mod:`wgf.discretisations` -- the finite-volume operator, time steppers and the three solvers;
5. :mod:`wgf.analysis` -- exact solutions, distances, the optimality certificate, margins, references,
   the lazy regime;
6. :mod:`wgf.app` -- case files, the run controller, HDF5 output, reports, plots, sweeps, the command line.

The flat module paths of release 0.1 (``wgf.grid``, ``wgf.eulerian``...) still import, with a
DeprecationWarning, until the next release (:mod:`wgf._moved_modules`).
"""

from . import _moved_modules, analysis, discretisations, geometry, models
from .analysis.certificate import OptimalityCertificate, certificate_unavailable, optimality_certificate
from .analysis.distances import (
    HKResult,
    energy_difference,
    hellinger_kantorovich,
    predictor_distance,
    sup_potential_difference,
    wfr_distance,
)
from .analysis.lazy import empirical_ntk, lazy_objective, ntk_flow, rms_displacement
from .discretisations.eulerian import EulerianSolver
from .discretisations.lagrangian import LagrangianSolver
from .discretisations.network import NetworkTrainer, initial_weights
from .discretisations.solver import BlowUp, StepReducedWarning
from .geometry.grid import Grid, circle_grid, icosahedral_grid
from .geometry.measure import Measure
from .geometry.voronoi_s3 import hopf_grid, s3_voronoi_grid
from .models import (
    EmpiricalReLU,
    LinearPotential,
    Model,
    QuadraticModel,
    SpikeDeconvolution,
    TeacherStudent,
    spike_train,
)

_moved_modules.install()


def __getattr__(name: str):
    """``wgf.grid`` and the other flat module attributes of release 0.1, with a DeprecationWarning."""
    old = f"wgf.{name}"
    if old in _moved_modules.MOVED_MODULES:
        return _moved_modules.import_moved(old, stacklevel=4)
    raise AttributeError(f"module 'wgf' has no attribute {name!r}")


__version__ = "0.2.0.dev0"

__all__ = [
    # geometry and measures
    "Measure",
    "geometry",
    # models
    "Model",
    "QuadraticModel",
    "TeacherStudent",
    "EmpiricalReLU",
    "SpikeDeconvolution",
    "spike_train",
    "LinearPotential",
    "models",
    # grids, time stepping, solvers
    "Grid",
    "circle_grid",
    "icosahedral_grid",
    "hopf_grid",
    "s3_voronoi_grid",
    "discretisations",
    "EulerianSolver",
    "LagrangianSolver",
    "NetworkTrainer",
    "initial_weights",
    "BlowUp",
    "StepReducedWarning",
    # diagnostics
    "analysis",
    "OptimalityCertificate",
    "optimality_certificate",
    "predictor_distance",
    "sup_potential_difference",
    "energy_difference",
    "hellinger_kantorovich",
    "wfr_distance",
    "HKResult",
    "certificate_unavailable",
    "lazy_objective",
    "empirical_ntk",
    "ntk_flow",
    "rms_displacement",
    "__version__",
]
