"""wgf: Wasserstein–Fisher–Rao gradient flows of convex functionals over nonnegative measures on S^d.

The public namespace is flat: ``wgf.Measure``, ``wgf.models.TeacherStudent``, ``wgf.sphere``...
"""

from . import models, sphere
from .certificate import OptimalityCertificate, optimality_certificate
from .measure import Measure
from .models import Model, QuadraticModel, TeacherStudent
from .lagrangian import LagrangianSolver
from .network import NetworkTrainer, initial_weights
from .distances import (HKResult, energy_difference, hellinger_kantorovich, predictor_distance,
                        sup_potential_difference, wfr_distance)

__version__ = "0.1.0"

__all__ = [
    "OptimalityCertificate",
    "optimality_certificate",
    "Measure", "Model", "QuadraticModel", "TeacherStudent", "models", "sphere", "__version__"]
__all__ += ["LagrangianSolver", "NetworkTrainer", "initial_weights"]
__all__ += ["HKResult", "energy_difference", "hellinger_kantorovich", "predictor_distance",
            "sup_potential_difference", "wfr_distance"]
