"""Models: convex objectives F over nonnegative measures on S^d, with their potentials J and grad J.

Modules: :mod:`~wgf.models.base` (the :class:`Model` interface), :mod:`~wgf.models.linear`,
:mod:`~wgf.models.teacher_student`, :mod:`~wgf.models.empirical`, :mod:`~wgf.models.deconvolution`, and the
kernels they evaluate: :mod:`~wgf.models.relu_kernel` (the ReLU kernel in closed form),
:mod:`~wgf.models.relu_kernel_planar` (its planar algorithm), :mod:`~wgf.models.relu_features` (streamed
ReLU features of data), :mod:`~wgf.models.spike_kernels` (deconvolution kernels).

Layer 3: imports from :mod:`wgf.geometry` and the private helpers only.
"""

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
