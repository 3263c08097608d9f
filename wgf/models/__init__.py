"""Models: convex objectives F over nonnegative measures on S^d, with their potentials J and grad J."""

from .base import BACKENDS, Model, QuadraticModel
from .teacher_student import TeacherStudent

__all__ = ["BACKENDS", "Model", "QuadraticModel", "TeacherStudent"]
from .deconvolution import SpikeDeconvolution, spike_train  # noqa: E402
__all__ += ["SpikeDeconvolution", "spike_train"]
