r"""The gradient flow of a finite-m network, integrated by the particles' linearly implicit stepper.

A mixin of :class:`~wgf.discretisations.network.NetworkTrainer` for ``step_rule="ros2"``. Gradient
descent (``"constant"``, ``"adaptive"``) takes forward-Euler steps of the network's gradient flow, and its
step is held at the edge of stability of the loss's curvature, about 1 on the teacher–student square loss
however settled the flow: ~10^6 steps to t = 10^6. This rule integrates the *same* flow (not gradient
descent with a finite step),

.. math::

    \frac{d w_j}{dt} = -C\, m\, \nabla_{w_j} G(W) = -c\, r_j \big(2 J(\eta_j)\, \eta_j + \nabla_S J(\eta_j)\big),
    \qquad C = c\, I, \quad r_j = |w_j|, \quad \eta_j = w_j / r_j ,

with an adaptive, L-stable, linearly implicit method whose step grows as the flow settles.

The lifting (the network module's docstring). Since ``eta_j . grad_S J(eta_j) = 0``, the radial and the
tangential parts of the field give ``dr_j/dt = -2 c J(eta_j) r_j`` and ``d eta_j/dt = -c grad_S J(eta_j)``,
so the masses ``m_j = r_j^2 / m`` obey ``dm_j/dt = -4 c J(eta_j) m_j``: the atoms ``(eta_j, m_j)`` of the
network's measure ``nu_W = (1/m) sum_j |w_j|^2 delta_{eta_j}`` (:meth:`wgf.Measure.from_weights`) follow the
characteristics of the WFR flow with ``(alpha, beta) = (4 c, c)``, i.e. the ODE of
:class:`~wgf.discretisations.lagrangian.LagrangianSolver` with these coefficients and the same potential
``(J, grad_S J) = model.potential``. The conic parametrisation's flow (``dm_j/dt = -alpha J m_j``,
``d eta_j/dt = -beta grad_S J``, :func:`~wgf.discretisations.network.conic_update` as ``dt -> 0``) is that
ODE with its own ``(alpha, beta)``. So the trainer holds a LagrangianSolver of its m neurons (``stepper =
"ros2"``, tolerances ``rtol``, ``atol``, first trial step ``step_size``), advances it, and maps its state
back to weights ``w_j = sqrt(m m_j) eta_j`` (:meth:`wgf.Measure.to_weights`) after every accepted step; the
field, the Jacobian, the error control and the energy check are the particle solver's (no second copy).

The stepper (:class:`~wgf.discretisations.timesteppers.Rosenbrock2`, as documented there and in
:mod:`wgf.discretisations.lagrangian`): ROS2, second order for any Jacobian approximation (a W-method), A-
and L-stable, so that linearised about a state the gradient flow's decay modes stay positive and its
quadratic energy nonincreasing at every step size; the error norm is that of the measure, and a step that
raises F beyond round-off is rejected and halved, so F is nonincreasing at every accepted step. The state
integrated is ``(eta_j, log m_j)``: masses stay positive at any step. Cost: a finite-difference Jacobian of
``2 m (d+2)`` field evaluations and an ``O((m (d+2))^3)`` factorisation every few steps, so this is for
widths up to a few hundred (``teacher_student_longtime``: m = 20 and 100 to t = 10^6 in 1007 and 914 steps,
landing on its 211 output times, against 1.04e6 for the line search).

When to use it: long times with the full gradient (``method="full"``), where gradient descent's stability
edge makes the step count grow like T. Not for SGD (no exact field), not with sequential layers (a Gauss–Seidel
variant of the finite gradient step, whose limit is this same flow: ask for the flow with
``sequential=False``), not for unequal cartesian layer steps (they leave the ``(alpha, beta)`` family):
each is a ValueError. As ``step_size -> 0`` the constant-step trainer converges to this flow at
first order in the step.

Zero-norm neurons (``w_j = 0``): a fixed point of the network's flow (its field carries the factor
``r_j``); :meth:`wgf.Measure.from_weights` gives them mass 0 at ``e_0``, the particle solver keeps an atom
of zero mass at mass zero (log-mass ``-inf``, excluded from the error norm), and they map back to ``w_j =
0``. So they stay zero, as in the flow.

Reporting. ``time`` and ``steps`` are the particle solver's (accepted ROS2 steps; ``rejected`` its
rejections, ``last_step`` the last accepted step, ``next_step_size()`` its proposed step); ``weights`` and
everything computed from them (``measure``, F, the predictor) are the mapped-back weights.
:meth:`~wgf.discretisations.network.NetworkTrainer.state_dict` adds the particle solver's state under the
prefix ``flow_`` (the weights cannot be inverted bit for bit into ``(eta, log m)``), so a resumed run
continues bit for bit; ``estimate_steps`` is the particle solver's probe
(:func:`~wgf.discretisations.solver.probe_step_count`).
"""

from __future__ import annotations

import sys
from typing import Any, Optional

from ..geometry.measure import Measure
from .lagrangian import LagrangianSolver
from .solver import StepCallback

__all__ = ["ParticleFlow", "FLOW_PREFIX"]

#: Prefix of the particle solver's entries in the trainer's state_dict.
FLOW_PREFIX = "flow_"


class ParticleFlow:
    """``step_rule="ros2"`` of :class:`~wgf.discretisations.network.NetworkTrainer` (a mixin: it uses the
    trainer's ``model``, weights ``_w``, ``layer_steps``, ``alpha``, ``beta``, ``conic``, ``method``,
    ``sequential``, ``step_size`` and sets ``_w``, ``_t``, ``steps``, ``rejected``, ``last_step``,
    ``_proposed``; see :mod:`wgf.discretisations.network_flow`)."""

    _flow: Optional[LagrangianSolver] = None

    @property
    def particle_flow(self) -> Optional[LagrangianSolver]:
        """``step_rule="ros2"``: the particle solver the trainer advances (for its counters, e.g.
        ``jacobians``; changing its state desynchronises the weights until the next step); None otherwise."""
        return self._flow

    def _make_flow(self, rtol: float, atol: float) -> LagrangianSolver:
        """The particle solver of the current neurons: ``(alpha, beta) = (4 c, c)`` for equal cartesian layer
        steps ``(c, c)``, the conic ones otherwise; ValueError where the network's training is not such a
        flow."""
        if self.method != "full" or self.sequential:
            raise ValueError("step_rule='ros2' integrates the gradient flow of the exact F: it needs method='full' "
                             f"and sequential=false, got method={self.method!r}, sequential={self.sequential!r}")
        if self.conic:
            alpha, beta = self.alpha, self.beta
        else:
            ca, cb = self.layer_steps
            if ca != cb:
                raise ValueError(
                    "step_rule='ros2' needs equal layer steps (c, c) (the WFR flow with (alpha, beta) = (4c, c)) or "
                    f"parametrisation='conic', got layer_steps = {self.layer_steps}")
            alpha, beta = 4.0 * ca, ca
        return LagrangianSolver(self.model, Measure.from_weights(self._w), alpha=alpha, beta=beta, stepper="ros2",
                                dt=self.step_size, rtol=rtol, atol=atol)

    def _flow_sync(self) -> None:
        """The trainer's weights, time, counts and proposed step from the particle solver's state."""
        flow = self._flow
        self.last_step = flow.time - self._t if flow.steps > self.steps else self.last_step
        self._w = flow.measure.to_weights(self._w.shape[0])
        self._t = float(flow.time)
        self.steps = int(flow.steps)
        self.rejected = int(flow.rejected)
        self._proposed = flow.proposed_dt

    def _flow_advance(self, t_end: float, callback: Optional[StepCallback]) -> None:
        """Advance the particle solver to exactly ``t_end``, with the weights mapped back after every
        accepted step (``callback(trainer)`` may then stop the run)."""

        def each(_flow) -> bool:
            self._flow_sync()
            return callback is not None and bool(callback(self))

        self._flow._advance(t_end, each)
        self._flow_sync()

    def _flow_step(self) -> None:
        """One accepted step of the proposed size (``step(n)``: no output time to land on)."""
        self._flow._advance(sys.float_info.max, lambda _flow: True)
        self._flow_sync()

    def _flow_state(self) -> dict[str, Any]:
        """The particle solver's state with keys prefixed :data:`FLOW_PREFIX` ({} for the other rules)."""
        if self._flow is None:
            return {}
        return {FLOW_PREFIX + k: v for k, v in self._flow.state_dict().items()}

    def _flow_load(self, state: dict[str, Any]) -> None:
        """Restore the particle solver from a trainer state (after the trainer's own entries: ``last_step``
        is kept from the state), and the weights from it."""
        flow = {k[len(FLOW_PREFIX):]: v for k, v in state.items() if k.startswith(FLOW_PREFIX)}
        if not flow:
            raise ValueError(f"state has no entries {FLOW_PREFIX}* (needed with step_rule='ros2'); it was written "
                             "by another step rule")
        self._flow.load_state_dict(flow)
        last = self.last_step
        self._flow_sync()
        self.last_step = last
