"""Models: convex objectives F over nonnegative measures on S^d, with their potentials J and grad J."""

from .base import BACKENDS, Model, QuadraticModel
from .deconvolution import SpikeDeconvolution, spike_train
from .empirical import LOSSES, EmpiricalReLU
from .linear import LinearPotential
from .teacher_student import TeacherStudent

__all__ = [
    "BACKENDS",
    "Model",
    "QuadraticModel",
    "TeacherStudent",
    "EmpiricalReLU",
    "LOSSES",
    "SpikeDeconvolution",
    "spike_train",
    "LinearPotential",
]
