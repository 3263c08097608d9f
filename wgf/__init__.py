"""wgf: Wasserstein–Fisher–Rao gradient flows of convex functionals over nonnegative measures on S^d.

The public namespace is flat: ``wgf.Measure``, ``wgf.models.TeacherStudent``, ``wgf.sphere``...
"""

from . import models, sphere
from .certificate import OptimalityCertificate, optimality_certificate
from .measure import Measure
from .models import Model, QuadraticModel, TeacherStudent
from . import exact, finite_volume, grid, timesteppers
from .eulerian import EulerianSolver
from .grid import Grid, circle_grid, icosahedral_grid
from .models import LinearPotential

__version__ = "0.1.0"

__all__ = [
    "OptimalityCertificate",
    "optimality_certificate",
    "Measure", "Model", "QuadraticModel", "TeacherStudent", "models", "sphere", "__version__",
    "EulerianSolver", "Grid", "circle_grid", "icosahedral_grid", "LinearPotential",
    "exact", "finite_volume", "grid", "timesteppers"]
