"""wgf: Wasserstein–Fisher–Rao gradient flows of convex functionals over nonnegative measures on S^d.

The public namespace is flat: ``wgf.Measure``, ``wgf.TeacherStudent``, ``wgf.EulerianSolver``,
``wgf.icosahedral_grid``...; the modules (``wgf.sphere``, ``wgf.grid``, ``wgf.exact``...) stay reachable.
"""

from . import exact, finite_volume, grid, models, sphere, timesteppers
from .certificate import OptimalityCertificate, certificate_unavailable, optimality_certificate
from .distances import (
    HKResult,
    energy_difference,
    hellinger_kantorovich,
    predictor_distance,
    sup_potential_difference,
    wfr_distance,
)
from .eulerian import EulerianSolver
from .grid import Grid, circle_grid, icosahedral_grid
from .lagrangian import LagrangianSolver
from .lazy import empirical_ntk, lazy_objective, ntk_flow, rms_displacement
from .measure import Measure
from .models import (
    EmpiricalReLU,
    LinearPotential,
    Model,
    QuadraticModel,
    SpikeDeconvolution,
    TeacherStudent,
    spike_train,
)
from .network import NetworkTrainer, initial_weights
from .solver import BlowUp, StepReducedWarning

__version__ = "0.1.0"

__all__ = [
    # geometry and measures
    "Measure",
    "sphere",
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
    "grid",
    "finite_volume",
    "timesteppers",
    "exact",
    "EulerianSolver",
    "LagrangianSolver",
    "NetworkTrainer",
    "initial_weights",
    "BlowUp",
    "StepReducedWarning",
    # diagnostics
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
