"""wgf: Wasserstein–Fisher–Rao gradient flows of convex functionals over nonnegative measures on S^d.

The public namespace is flat: ``wgf.Measure``, ``wgf.TeacherStudent``, ``wgf.EulerianSolver``,
``wgf.icosahedral_grid``...; the modules (``wgf.sphere``, ``wgf.grid``, ``wgf.exact``...) stay reachable.
"""

from . import exact, finite_volume, grid, models, sphere, timesteppers
from .certificate import OptimalityCertificate, optimality_certificate
from .certificate import certificate_unavailable
from .eulerian import EulerianSolver
from .grid import Grid, circle_grid, icosahedral_grid
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
    # diagnostics
    "OptimalityCertificate",
    "optimality_certificate",
    "certificate_unavailable",
    "__version__",
]
