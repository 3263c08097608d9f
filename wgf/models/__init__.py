"""Models: convex objectives F over nonnegative measures on S^d, with their potentials J and grad J."""

from .base import BACKENDS, Model, QuadraticModel
from .deconvolution import SpikeDeconvolution, spike_train
from .linear import LinearPotential
from .teacher_student import TeacherStudent

__all__ = [
    "BACKENDS",
    "Model",
    "QuadraticModel",
    "TeacherStudent",
    "SpikeDeconvolution",
    "spike_train",
    "LinearPotential",
]
