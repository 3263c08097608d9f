"""Models: convex objectives F over nonnegative measures on S^d, with their potentials J and grad J."""

from .base import BACKENDS, Model, QuadraticModel
from .teacher_student import TeacherStudent
from .empirical import EmpiricalReLU, LOSSES

__all__ = ["BACKENDS", "Model", "QuadraticModel", "TeacherStudent"]
__all__ += ["EmpiricalReLU", "LOSSES"]
