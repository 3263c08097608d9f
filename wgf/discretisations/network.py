r"""Finite-width two-layer networks trained by gradient descent: the literal dynamics the theory is about.

A network of width m has neurons ``w_j = (a_j, b_j)`` in R^{d+1} (``a_j`` the output weight, ``b_j`` the
input weights, a bias feature included in ``b_j`` when the model appends one to the inputs) and predicts
``h(x) = (1/m) sum_j a_j relu(b_j . x)``. Its measure is ``nu = (1/m) sum_j |w_j|^2 delta_{w_j/|w_j|}``
(:meth:`wgf.Measure.from_weights`), with ``h = h_nu``. Training minimises ``G(W) = F(nu_W)`` by

.. math::

    w_j \leftarrow w_j - \gamma\, C\, m\,\nabla_{w_j} G(W), \qquad C = \mathrm{diag}(c_a, c_b I_d),
    \qquad t = k\gamma ,

with layer-wise step factors ``(c_a, c_b) = layer_steps`` (equal factors 1 are the mean-field scaling whose
limit is the WFR flow with ``(alpha, beta) = (4, 1)``).

The gradient through the potential (one kernel layer, no second copy of the mathematics). Let
``j(w) = <Psi(w), grad R(h_nu)>`` (+ ``lambda |w|^2`` with weight decay), so that ``m grad_{w_j} G = grad j(w_j)``
and ``j(eta) = J(eta | nu)`` on the sphere. ``j`` is positively 2-homogeneous, so its gradient is
1-homogeneous and Euler's identity ``<grad j(eta), eta> = 2 j(eta)`` splits it into radial and tangential
parts at ``eta = w/|w|``:

.. math::

    m\,\nabla_{w_j} G = r_j\,\big(2\,J(\eta_j)\,\eta_j + \nabla_S J(\eta_j)\big), \qquad r_j = |w_j|,

with J and the tangential gradient ``grad_S J`` from ``model.potential`` for the network's measure. (With
equal steps this is exactly the particle system ``dr/dt = -2 r J``, ``d eta/dt = -grad_S J``, i.e.
``dm/dt = -4 J m`` for ``m_j = r_j^2/m``.) ``method="full"`` uses it with the model's exact ``F``: the
population gradient for :class:`~wgf.models.TeacherStudent`, plain GD on the empirical risk for an
empirical model.

Conic parametrisation (``parametrisation="conic"``, Chizat 2019, "Sparse optimization on measures with
over-parameterized gradient descent"). The cartesian step ties reaction and transport together (the
``(4, 1)`` flow with equal layer steps; unequal ones leave the ``(alpha, beta)`` family). The conic step keeps
the same weights ``w_j = r_j eta_j`` and the same potential, and moves the two factors separately, with
independent coefficients:

.. math::

    r_j \leftarrow r_j\, e^{-\frac{\alpha}{2} J(\eta_j) \gamma}, \qquad
    \eta_j \leftarrow \mathrm{retr}_{\eta_j}\big(-\beta\,\gamma\,\nabla_S J(\eta_j)\big),

(:func:`conic_update`): with masses ``m_j = r_j^2/m`` the radius step is the mirror step of
``dm_j/dt = -alpha J m_j`` (exact for a frozen J, positive for any step), and the whole is a first-order
discretisation of the Lagrangian characteristics of the WFR flow with these ``(alpha, beta)``, for any model
(also for those without layers, such as spike deconvolution). At ``(alpha, beta) = (4, 1)`` it agrees with
the cartesian step to ``O(gamma^2)`` per step: the cartesian update is
``w' = r ((1 - 2 gamma J) eta - gamma grad_S J)``. J and ``grad_S J`` come from ``model.potential``
(``method="full"``) or from the mini-batch sums of the kernel layer (``method="sgd"``, + lambda).

``method="sgd"`` (online SGD, teacher–student): every step draws a fresh mini-batch ``x_1..x_B`` with
``model.sample_inputs``, computes ``h_i`` with :func:`wgf.models.relu_features.relu_features_predict`, the
per-sample weights ``g_i = (h_i - y_i)/B`` (``y = model.target(x)``) and ``J, grad_S J`` of
``sum_i g_i a relu(b.x_i)`` with :func:`wgf.models.relu_features.relu_features_potential` (+ lambda): the formula
above is then the gradient of the mini-batch risk ``(1/2B) sum_i (h_i - y_i)^2``, an unbiased estimate
of the population gradient.

Sequential (Gauss–Seidel) layers, ``sequential=True``: the input-layer gradient
``m grad_b G = a grad phi(b)`` (``phi(b) = <relu(b.), grad R>``, 1-homogeneous, so ``grad phi`` depends
on ``b/|b|`` only) is multiplied by the *already updated* output weight, with the residual (``g_i``, or
the network's potential) of the step's start:

.. math::

    a' = a - \gamma c_a\,(|b|\,\phi(\hat b) + 2\lambda a), \qquad
    b' = b - \gamma c_b\,(a'\,\nabla\phi(\hat b) + 2\lambda b).

``phi`` and ``grad phi`` come from the potential at the unit point ``u = (1, b/|b|)/sqrt 2``:
``phi(b/|b|) = 2 (J(u) - lambda)`` and ``grad phi(b/|b|) = sqrt 2 (grad_S J(u) + 2 (J(u) - lambda) u)_b``.

The published ICM Fig 3 loop (Bach & Chizat 2022, SGD on the teacher–student square loss) is reproduced
exactly. It keeps ``A_j = a_j/m`` and ``B_j = b_j`` with ``h = sum_j A_j relu(B_j . x)``, initialises
``A_j = +-1/m``, ``B_j`` uniform on the unit sphere, and per step, with a fresh batch ``X`` and residuals
``G_i = h(x_i) - y_i``::

    A <- A - (1/m) lr * (1/B) sum_i relu(B_j.x_i) G_i                 (batch mean)
    B <- B - m lr * A_new * sum_i 1[B_j.x_i > 0] G_i x_i                (batch sum, updated A)

In wgf's representation this is ``NetworkTrainer(model, weights, step_size=lr, layer_steps=(1, B),
sequential=True, method="sgd", batch_size=B)`` with ``weights = initial_weights(m, d, kind="balanced",
radius=sqrt(2))`` (``a_j = m A_j = +-1``, ``|b_j| = 1``): indeed ``m grad_a G = (1/B) sum_i relu(b.x_i) G_i``
gives ``gamma c_a = lr``, and ``m grad_b G = (m A'/B) sum_i 1[b.x_i>0] G_i x_i`` gives
``gamma c_b = lr B``. (Equivalently ``step_size = lr B, layer_steps = (1/B, 1)``.) Such unequal steps
leave the ``(alpha, beta)`` family: compare with the PDE only at equal steps.

Step rule. ``step_rule="constant"`` takes the step ``gamma = step_size`` every time (``t = k gamma``).
``step_rule="normalised"`` (for the logistic loss on separable data, where F -> 0 and the gradient with it)
takes, at weights ``W_k``,

.. math::

    \gamma_k = \frac{\text{step\_size}}{F(W_k)\, N_k}, \qquad
    N_k = \frac1m \sum_j \big(c_a |b_j|^2 + c_b a_j^2\big), \qquad t_{k+1} = t_k + \gamma_k ,

a time reparametrisation of the same gradient flow (the step grows like 1/loss, so t grows geometrically
in k). Why this size: the Gauss–Newton part of the layer-weighted curvature of ``G`` is
``(1/n) sum_i l''_i m |grad h(x_i)|_C^2 <= max_i |x~_i|^2 N_k (1/n) sum_i l''_i`` (``m |grad_{w_j} h|_C^2 =
(c_a relu(b_j.x)^2 + c_b a_j^2 relu'(b_j.x) |x|^2)/m``), and for the logistic loss ``l'' <= |l'| <= l``, so
``(1/n) sum_i l''_i <= F``: ``gamma_k`` times that curvature stays below ``step_size max_i |x~_i|^2``. With
equal steps ``N_k`` is the mass (which grows like log t), with ``layer_steps = (1, 0)`` (output layer only)
it is the frozen ``(1/m) sum_j |b_j|^2``. ``advance(t_end)`` stops before a step that would pass ``t_end``
(whole steps only; the time is then ``<= t_end``, as with constant steps); the accumulated time is part of the
state, so stopping and resuming anywhere gives the same steps bit for bit.

``step_rule="adaptive"`` (long times; full gradient, plain cartesian steps) is gradient descent with a
backtracking line search whose trial step persists from step to step. From the proposed step ``h`` it tries
``W' = W - h C g`` (``g = m grad_W G``, the population gradient) and accepts it when F decreases
sufficiently (Armijo's condition, up to F's round-off allowance ``tol`` of
:func:`~wgf.discretisations.solver.energy_tolerance`),

.. math::

    F(W') \le F(W) - c\, h\, D + \mathrm{tol}, \qquad D = \frac1m \sum_j g_j \cdot C g_j
    = -\frac{d}{dt} F \text{ along the flow}, \qquad c = \text{sufficient\_decrease} \in (0, 1),

then advances the time by ``h`` and proposes ``min(step_growth h, max_step)`` for the next step; a
rejected trial is halved and retried (counted in ``rejected``). Why it is the same flow: every accepted
step is a forward-Euler step of ``dw_j/dt = -C m grad_{w_j} G`` of size ``h_k`` and ``t_k = sum h_k``, so as
``max_step -> 0`` the trajectory converges to the flow at first order in the largest step (tested:
fitted order in ``max_step``), exactly as with constant steps. How far the steps grow: on a quadratic
``G(W - hCg) = G - h D + (h^2/2) g.CHCg/m``, so the test accepts ``h <= 2 (1 - c) / R`` with ``R`` the Rayleigh
quotient of the preconditioned Hessian along the gradient. From a small ``step_size`` the step grows
geometrically until it meets that bound, and tracks it as the curvature along the flow changes; a step
beyond ``2 / lambda_max`` (the largest curvature) may be accepted while the gradient lies in flatter
directions, but it amplifies the stiff modes until they dominate the gradient, ``R`` rises and the test
rejects and halves. So the step levels off at the edge of stability of gradient descent and does not
grow without bound as the flow settles (unlike the linearly implicit ``"ros2"`` of the grid and the
particles): measured in ``teacher_student_longtime`` (m = 20 and 100 from 0.01), about 1 from t ~ 50 to
10^6 (1.04e6 steps to 10^6, a third of the trials rejected), with steps of 0.01 to 0.2 while F falls
steeply before t ~ 10. F is nonincreasing at every
accepted step (beyond round-off) by construction, whatever the steps. The proposed step, the time and the
rejection count are part of the state (bit-for-bit resume); ``advance(t_end)`` shortens the last step to
land exactly on ``t_end`` and keeps the proposed step for the next call (as the adaptive ODE steppers do),
so output times are exact and, as with the Lagrangian solver's adaptive steps, the steps taken depend on
the output times but not on where a run was stopped and resumed. ``step_rule="ros2"`` integrates the
network's gradient flow itself with the particles' linearly implicit stepper (:mod:`.network_flow`).

Implementation. The step's arithmetic is written once, in small Numba functions (polar split, the points
``u``, ``r (2 J eta + grad_S J)``, the plain and the sequential updates) shared by every path. Online SGD
takes the kernel layer's raw sums at the neurons' own directions, ``SA_j = sum_i g_i relu(eta_b . x_i)``
and ``SB_j = sum_i g_i relu'(eta_b . x_i) x_i``, for which the gradient above is ``(r SA + 2 lambda a,
a SB + 2 lambda b)`` (Euler's identity ``SB . eta_b = SA``), and in the sequential step ``rho phi(b^) = r SA``,
``grad phi(b^) = SB``. A step with little work (``3 m' k' B`` multiply-adds below
:data:`wgf._parallel.SERIAL_WORK`; m', k' the width and input size rounded up to multiples of 4) runs as
one compiled serial loop over the mini-batches of a block that calls the kernel layer's primitives and
keeps the pre-activations of the prediction for the gradient (:func:`wgf.models.relu_features.features_tile`,
:func:`~wgf.models.relu_features.reduce_features`); larger steps do the same with the parallel kernels
(:func:`~wgf.models.relu_features.features_transposed`, :func:`~wgf.models.relu_features.reduce_transposed`, parallel over
groups of four neurons). Both give the same bits. The teacher's outputs
and the transposed inputs are computed once per block of mini-batches: by
``model.sample_training_block`` where the model has it (:class:`~wgf.models.TeacherStudent`: Gaussian
inputs drawn straight into the kernels' layout by :func:`wgf.geometry.normals.standard_normal_transposed`, outputs
by a serial kernel), otherwise by ``model.sample_inputs``, a transpose and ``model.target`` (the same bits
either way). With the fused step and more than one Numba thread allowed, the next block is drawn on a
second thread meanwhile (the generator is used by one thread at a time, in order: the same stream, the
same bits).

Random numbers: a ``numpy.random.Generator`` (PCG64) seeded by ``seed``. Mini-batches are drawn in
blocks of several batches (one call of ``model.sample_inputs``, or of ``model.sample_training_block``),
which for row-wise samplers (Gaussian or spherical inputs) is the same stream as one call per batch; the
state records the generator state at the start of the current block and the position in it, so a resumed
run redraws the block and continues with the very same samples, whatever the stopping points.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import Future
from typing import Any, Optional

import numpy as np

from .._validate import check_bool, check_choice, check_int, check_real
from ..geometry.measure import Measure
from ..geometry.sphere import retract, sample_uniform
from ..models.base import Model, QuadraticModel
from .network_flow import ParticleFlow
from .network_sgd import OnlineSGD
from .network_steps import _gradient, _input_points, _plain_update, _polar, _sequential_update
from .solver import (LINE_SEARCH_HALVINGS, BlowUp, Solver, StepCallback, energy_increase, energy_tolerance,
                     line_search_outcome, line_search_parameters, line_search_trial, probe_step_count)

__all__ = ["NetworkTrainer", "initial_weights", "conic_update", "INIT_KINDS", "TRAINING_METHODS", "STEP_RULES",
           "PARAMETRISATIONS"]

INIT_KINDS = ("uniform", "balanced")
TRAINING_METHODS = ("full", "sgd")
STEP_RULES = ("constant", "normalised", "adaptive", "ros2")
PARAMETRISATIONS = ("cartesian", "conic")

#: Rows of inputs drawn per call of ``model.sample_inputs`` (a whole number of batches, at least one).
_BLOCK_ROWS = 2000

#: ``advance(t_end)`` takes ``floor(t_end / step_size + _ROUND_TOL)`` steps in total.
_ROUND_TOL = 1e-9

#: ``step_rule="adaptive"``: the most consecutive rejections (halvings) before the trainer gives up.
_MAX_REJECTIONS = LINE_SEARCH_HALVINGS

_SQRT2 = math.sqrt(2.0)


def conic_update(r: np.ndarray, eta: np.ndarray, J: np.ndarray, G: np.ndarray, dt: float, alpha: float,
                 beta: float) -> np.ndarray:
    r"""One conic particle step (Chizat 2019) from radii r (m,) and directions eta (m, d+1), given the
    potential J (m,) and its tangential gradient G (m, d+1) at the directions; returns the new weights
    ``w_j = r_j' eta_j'`` (m, d+1).

    .. math::

        r_j' = r_j \exp\big(-\tfrac{\alpha}{2}\, J_j\, dt\big), \qquad
        \eta_j' = \frac{\eta_j - \beta\, dt\, G_j}{|\eta_j - \beta\, dt\, G_j|} .

    With masses ``m_j = r_j^2 / m`` the radius step is the mirror (exponential) step of
    ``dm_j/dt = -alpha J m_j``, exact for a frozen J and positive for any dt; the direction step is explicit
    Euler for ``d eta_j/dt = -beta grad_S J`` followed by the metric-projection retraction
    (:func:`wgf.geometry.sphere.retract`). Together: a first-order discretisation of the particle system of
    the WFR flow with any ``(alpha, beta)`` (the Lagrangian solver's characteristics).
    """
    r_new = r * np.exp((-0.5 * alpha * dt) * J)
    return r_new[:, None] * retract(eta, (-beta * dt) * G)


def initial_weights(m: int, dim: int, *, kind: str = "uniform", radius: float = 1.0,
                    seed: int | np.random.Generator | None = None) -> np.ndarray:
    """Random initial neurons ``w_j = (a_j, b_j)``, shape (m, dim+1), all of norm ``radius``.

    Parameters
    ----------
    m : int
        Width.
    dim : int
        d: neurons live in R^{d+1} (``a`` in R, ``b`` in R^d).
    kind : {"uniform", "balanced"}
        ``"uniform"``: ``w_j = r0 eta_j`` with ``eta_j`` i.i.d. uniform on S^d, so that the network's measure
        is an empirical sample of the uniform ``nu_0`` of mass ``r0^2``. ``"balanced"``: ``|a_j| = |b_j| =
        r0/sqrt 2``, ``a_j`` of random sign and ``b_j`` uniform on its sphere (so ``a_j^2 - |b_j|^2 = 0``; with
        ``radius = sqrt 2`` this is the ICM Fig 3 initialisation ``a = +-1``, ``|b| = 1``).
    radius : float
        ``r0 = |w_j| > 0``.
    seed : int, Generator or None
        Seed of the generator (None: fresh entropy).
    """
    m = check_int("m", m, low=1)
    dim = check_int("dim", dim, low=1)
    check_choice("kind", kind, INIT_KINDS)
    r0 = check_real("radius", radius, low=0.0, low_open=True)
    if seed is not None and not isinstance(seed, np.random.Generator):
        check_int("seed", seed, low=0)
    rng = np.random.default_rng(seed)
    if kind == "uniform":
        return r0 * sample_uniform(m, dim, rng)
    w = np.empty((m, dim + 1))
    w[:, 0] = np.where(rng.random(m) < 0.5, -1.0, 1.0) * (r0 / _SQRT2)
    w[:, 1:] = (r0 / _SQRT2) * sample_uniform(m, dim - 1, rng)
    return w


class NetworkTrainer(OnlineSGD, ParticleFlow, Solver):
    """Gradient descent on a width-m two-layer ReLU network (see the module docstring).

    Parameters
    ----------
    model : Model
        The objective F; ``method="sgd"`` also needs ``model.sample_inputs(n, rng)`` and ``model.target(x)``
        (teacher–student).
    weights : array_like, shape (m, d+1)
        Initial neurons ``(a_j, b_j)`` (see :func:`initial_weights`); copied.
    step_size : float
        gamma > 0; the time after k steps is ``k gamma``.
    layer_steps : (float, float)
        ``(c_a, c_b) >= 0`` multiplying the output- and input-layer components of every step.
    sequential : bool
        Update the output layer first and use the updated ``a`` in the input layer's gradient.
    method : {"full", "sgd"}
        Exact gradient of the model's F, or online SGD on fresh mini-batches.
    batch_size : int
        Mini-batch size B of ``"sgd"``.
    seed : int
        Seed of the mini-batch generator.
    step_rule : {"constant", "normalised", "adaptive", "ros2"}
        ``gamma = step_size``, or ``step_size / (F N_k)``, or a backtracking line search whose step grows as
        the flow settles, starting from ``step_size`` (see the module docstring; the last two need
        ``method="full"``, "adaptive" also plain cartesian steps), or the gradient flow itself by ROS2
        from a first step ``step_size`` (:mod:`.network_flow`; full gradient, equal steps or conic).
    step_growth, sufficient_decrease, max_step : float
        ``step_rule="adaptive"`` only: the factor (> 1) by which an accepted step grows, Armijo's constant
        ``c`` in (0, 1) and the largest step (default: none).
    rtol, atol : float
        ``step_rule="ros2"`` only: the particle solver's tolerances (its error norm of the measure).
    check_energy : bool
        ``method="full"`` with constant steps: check after every step that F did not increase beyond
        round-off and raise :class:`~wgf.discretisations.solver.BlowUp` if it did (see Notes).
    parametrisation : {"cartesian", "conic"}
        ``"cartesian"``: gradient descent on the weights ``w_j`` (above). ``"conic"``: conic particle
        gradient descent on ``w_j = r_j eta_j`` with independent reaction and transport coefficients
        (:func:`conic_update`): ``r_j <- r_j exp(-(alpha/2) J(eta_j) dt)``, ``eta_j`` moved by ``-beta dt
        grad_S J(eta_j)`` and retracted, with J and ``grad_S J`` of the full objective (``method="full"``)
        or of the mini-batch risk (``method="sgd"``, + lambda). Its limit as ``dt -> 0`` is the
        Lagrangian particle system of the WFR flow with these ``(alpha, beta)`` for any model (for
        :class:`~wgf.models.SpikeDeconvolution` the only way to a ratio beta/alpha other than 1/4);
        ``(alpha, beta) = (4, 1)`` agrees with the cartesian step to first order in dt. Needs equal
        layer steps ``(1, 1)``, ``sequential=False`` and constant steps (or that flow by "ros2").
    alpha, beta : float
        ``>= 0``, the conic step's reaction and transport coefficients (default ``(4, 1)``, the network's);
        ignored by ``"cartesian"``.

    Attributes
    ----------
    weights : ndarray, shape (m, d+1)
        The current neurons.
    width : int
    steps : int

    Notes
    -----
    *Energy check.* A full-gradient step ``W' = W - gamma C grad`` (plain or sequential) is a descent step:
    ``G(W') - G(W) = -gamma |grad|_C^2 (1 + O(gamma L))`` (the sequential step's direction differs from
    the preconditioned gradient by ``O(gamma)``), so F decreases while ``gamma L`` is small. A step that
    raises F by more than round-off (``(64 + m) eps scale``, :func:`wgf.discretisations.solver.energy_tolerance`) has a
    step size too large for the current weights, and the trainer stops: :class:`~wgf.discretisations.solver.BlowUp` names
    F before and after and the step, and the weights stay those before the step. Cost: for a
    :class:`~wgf.models.QuadraticModel` without sequential layers, ``F = m.(J + V)/2 + C`` comes from the
    potential at the new weights, which the next step needs anyway (it is kept for it), plus ``V`` at the
    neurons (a potential of the m0 teacher atoms for the teacher–student model); otherwise one
    :meth:`Model.energy` per step. Measured per step: +27% (teacher–student, m = 1000; +56% at m = 100,
    where the fixed costs of a call dominate), about +100% for the empirical logistic model (m = 1000);
    ``check_energy=False`` removes it. A constant step can leave the stable range as the weights grow
    (the logistic loss on separable data: F then rises in some steps while decreasing on average, the
    'edge of stability'); the check stops such a run at the first rise, ``check_energy=False`` lets it go
    on. Not checked: online SGD (a mini-batch step follows an unbiased estimate of the gradient, so F may rise
    in any one step) and ``step_rule="normalised"`` (its step bounds only the Gauss–Newton part of the
    curvature; F is not guaranteed to decrease at every step).
    """

    kind = "network"
    finite_state_is_valid = True  # masses |w_j|^2/m >= 0, points w_j/|w_j|

    def __init__(self, model: Model, weights, *, step_size: float, layer_steps=(1.0, 1.0),
                 sequential: bool = False, method: str = "full", batch_size: int = 100, seed: int = 0,
                 step_rule: str = "constant", check_energy: bool = True, parametrisation: str = "cartesian",
                 alpha: float = 4.0, beta: float = 1.0, step_growth: float = 1.25,
                 sufficient_decrease: float = 0.5, max_step: float = math.inf, rtol=1e-6, atol=1e-9):
        if not isinstance(model, Model):
            raise ValueError(f"model must be a wgf Model, got {type(model).__name__}")
        try:
            w = np.array(weights, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"weights must be a numeric array of shape (m, d+1): {exc}") from None
        if w.ndim != 2 or w.shape[0] < 1 or w.shape[1] != model.dim + 1:
            raise ValueError(
                f"weights must have shape (m, {model.dim + 1}) with m >= 1 for a model on S^{model.dim}, "
                f"got {w.shape}")
        if not np.all(np.isfinite(w)):
            raise ValueError("weights contain NaN or inf")
        self.model = model
        self.step_size = check_real("step_size", step_size, low=0.0, low_open=True)
        try:
            ca, cb = layer_steps
        except (TypeError, ValueError):
            raise ValueError(f"layer_steps must be a pair (c_a, c_b), got {layer_steps!r}") from None
        self.layer_steps = (check_real("layer_steps[0] (c_a)", ca, low=0.0),
                            check_real("layer_steps[1] (c_b)", cb, low=0.0))
        self.sequential = check_bool("sequential", sequential)
        self.method = check_choice("method", method, TRAINING_METHODS)
        self.batch_size = check_int("batch_size", batch_size, low=1)
        self.seed = check_int("seed", seed, low=0)
        self.step_rule = check_choice("step_rule", step_rule, STEP_RULES)
        if self.step_rule == "normalised" and self.method != "full":
            raise ValueError("step_rule='normalised' needs method='full' (it divides by the exact F), "
                             f"got method={self.method!r}")
        if self.step_rule == "adaptive" and (self.method != "full" or sequential or parametrisation != "cartesian"):
            raise ValueError("step_rule='adaptive' needs method='full', sequential=false and parametrisation="
                             f"'cartesian' (a line search on the exact F along the gradient), got method={self.method!r}, "
                             f"sequential={sequential!r}, parametrisation={parametrisation!r}")
        self.step_growth, self.sufficient_decrease, self.max_step = line_search_parameters(
            step_growth, sufficient_decrease, max_step)
        if self.method == "sgd":
            missing = [f for f in ("sample_inputs", "target") if not callable(getattr(model, f, None))]
            if missing:
                raise ValueError(
                    f"method='sgd' needs a model that samples fresh data (sample_inputs, target); "
                    f"{type(model).__name__} lacks {', '.join(missing)}")
        self.check_energy = check_bool("check_energy", check_energy)
        self.parametrisation = check_choice("parametrisation", parametrisation, PARAMETRISATIONS)
        self.alpha = check_real("alpha", alpha, low=0.0)
        self.beta = check_real("beta", beta, low=0.0)
        if self.conic:
            if self.layer_steps != (1.0, 1.0) or self.sequential or self.step_rule not in ("constant", "ros2"):
                raise ValueError(
                    "parametrisation='conic' sets its own steps (alpha, beta): it needs layer_steps = (1, 1), "
                    f"sequential = false and step_rule = 'constant' or 'ros2', got layer_steps = {self.layer_steps}, "
                    f"sequential = {self.sequential}, step_rule = {self.step_rule!r}")
        self._quadratic = isinstance(model, QuadraticModel)
        # the potential at the current weights: (W, r, eta, J, G, (F, tol) or None), kept by the energy check
        self._here: tuple | None = None
        self._w = w
        # a model that is not quadratic gives F only: its round-off is measured against |F| and, where F
        # tends to 0 by cancellation (a square loss interpolating its data), against |F| of the initial weights
        self._energy_floor = 0.0
        if self._checking and (self.sequential or not self._quadratic):
            self._energy_floor = abs(float(model.energy(Measure.from_weights(w))))
        self.steps = 0
        self._t = 0.0  # accumulated time (normalised and adaptive steps)
        self._proposed = min(self.step_size, self.max_step)  # the next trial step (adaptive)
        self.rejected = 0  # rejected trial steps (adaptive)
        self.last_step = 0.0  # the last accepted step (adaptive)
        self._c = np.full(w.shape[1], self.layer_steps[1])
        self._c[0] = self.layer_steps[0]
        self._lambda = float(getattr(model, "weight_decay", 0.0))
        # mini-batch stream
        self._rng = np.random.default_rng(self.seed)
        self._blocks = max(1, _BLOCK_ROWS // self.batch_size)
        self._block_y: np.ndarray | None = None
        self._block_T: np.ndarray | None = None
        self._block_state: dict | None = None
        self._pending: Future | None = None
        self._block_pos = 0
        self._flow = self._make_flow(rtol, atol) if self.step_rule == "ros2" else None

    # ------------------------------------------------------------------ state
    @property
    def conic(self) -> bool:
        """Whether the trainer takes conic steps (``parametrisation="conic"``)."""
        return self.parametrisation == "conic"

    @property
    def weights(self) -> np.ndarray:
        return self._w

    @property
    def width(self) -> int:
        return self._w.shape[0]

    @property
    def time(self) -> float:  # type: ignore[override]
        """``steps * step_size`` with constant steps (computed, never accumulated); the sum of the steps
        taken with normalised or adaptive ones."""
        if self.step_rule == "constant":
            return self.steps * self.step_size
        return self._t

    def next_step_size(self) -> float:
        """The step ``gamma_k`` the next step will take (``step_size``, or ``step_size / (F N_k)``), or with
        adaptive steps the next trial step (the step taken if accepted)."""
        if self.step_rule == "constant":
            return self.step_size
        if self.step_rule in ("adaptive", "ros2"):
            return self._proposed
        W = self._w
        ca, cb = self.layer_steps
        N = (ca * float(np.einsum("ij,ij->", W[:, 1:], W[:, 1:])) + cb * float(W[:, 0] @ W[:, 0])) / W.shape[0]
        F = float(self.model.energy(self.measure))
        if not (F > 0.0 and N > 0.0 and math.isfinite(F) and math.isfinite(N)):
            raise FloatingPointError(
                f"normalised step undefined at step {self.steps} (F = {F:.3g}, N = {N:.3g}): it needs F > 0 and "
                "trained weights that are not all zero")
        return self.step_size / (F * N)

    @property
    def measure(self) -> Measure:
        return Measure.from_weights(self._w)

    def balances(self) -> np.ndarray:
        """``a_j^2 - |b_j|^2`` per neuron (m,), conserved by the gradient flow with equal layer steps
        (``a^2/c_a - |b|^2/c_b`` with unequal ones; with conic steps, by their flow when alpha = 4 beta);
        its mean is the measure's Q."""
        return self._w[:, 0] ** 2 - np.einsum("ij,ij->i", self._w[:, 1:], self._w[:, 1:])

    # ------------------------------------------------------------------ gradients
    def _polar_split(self, W: np.ndarray):
        r = np.empty(W.shape[0])
        eta = np.empty_like(W)
        with np.errstate(over="ignore"):
            ok = _polar(W, r, eta)
        if not ok:
            raise FloatingPointError(
                f"the network's weights blew up at step {self.steps} (t = {self.time:.6g}); reduce step_size")
        return r, eta

    def _potential_at(self, W: np.ndarray):
        """``(r, eta, J, grad_S J)`` at the neurons' directions for the network's measure (the current
        weights' from the energy check's cache)."""
        if self._here is not None and self._here[1] is not None and self._is_here(W):
            return self._here[1:5]
        r, eta = self._polar_split(W)
        J, G = self.model.potential(eta, Measure(eta, r * r / W.shape[0]))
        return r, eta, np.ascontiguousarray(J, dtype=np.float64), np.ascontiguousarray(G, dtype=np.float64)

    def population_gradient(self, weights=None) -> np.ndarray:
        """``m grad_{w_j} F`` (m, d+1) at ``weights`` (default: the current ones): the exact gradient of the
        model's objective, ``r_j (2 J(eta_j) eta_j + grad_S J(eta_j))``."""
        W = self._w if weights is None else np.ascontiguousarray(weights, dtype=np.float64)
        r, eta, J, G = self._potential_at(W)
        out = np.empty_like(W)
        _gradient(r, eta, J, G, out)
        return out

    @property
    def _checking(self) -> bool:
        return self.check_energy and self.method == "full" and self.step_rule == "constant"

    def _energy_at(self, W: np.ndarray, r: np.ndarray | None, eta: np.ndarray | None,
                   J: np.ndarray | None) -> tuple[float, float]:
        """F at the weights W (from the potential J at the directions eta, for a quadratic model) and its
        round-off allowance."""
        m = W.shape[0]
        if self._quadratic and J is not None:
            mass = r * r / m
            V = np.asarray(self.model.linear_potential(eta), dtype=np.float64)
            C = float(self.model.energy_constant)
            F = 0.5 * float(mass @ (J + V)) + C
            scale = abs(C) + float(mass @ (np.abs(J) + np.abs(V)))
        else:
            F = float(self.model.energy(Measure.from_weights(W)))
            scale = max(abs(F), self._energy_floor)
        return F, energy_tolerance(scale, m)

    def _is_here(self, W: np.ndarray) -> bool:
        """Whether W is the state the energy check's cache holds (compared by value: the weights may have
        been changed in place)."""
        return self._here is not None and np.array_equal(self._here[0], W)

    def _check_step(self, W: np.ndarray, W_new: np.ndarray, gamma: float) -> None:
        """The energy check of a full-gradient step from W to W_new: keeps the potential at W_new for the
        next step, or raises BlowUp (the weights are not updated)."""
        here = self._here
        if not self._is_here(W):
            r, eta, J, G = self._potential_at(W) if not self.sequential else (None, None, None, None)
            here = (W.copy(), r, eta, J, G, None)
        if here[5] is None:
            here = here[:5] + (self._energy_at(W, here[1], here[2], here[3]),)
        if self.sequential:  # its potential is evaluated elsewhere than at eta: F from the model
            new = (W_new, None, None, None, None, self._energy_at(W_new, None, None, None))
        else:
            r1, eta1 = self._polar_split(W_new)
            J1, G1 = self.model.potential(eta1, Measure(eta1, r1 * r1 / W.shape[0]))
            J1, G1 = np.ascontiguousarray(J1, dtype=np.float64), np.ascontiguousarray(G1, dtype=np.float64)
            new = (W_new, r1, eta1, J1, G1, self._energy_at(W_new, r1, eta1, J1))
        what = energy_increase(here[5], new[5])
        if what is not None:
            raise BlowUp(f"{what} in step {self.steps + 1} (t = {self.time:.6g} to {self.time + gamma:.6g}, "
                         f"gradient step {self.step_size:.6g}): the step is too large for these weights (a stable "
                         f"gradient step decreases F); reduce step_size")
        self._here = (W_new.copy(),) + new[1:]

    # ------------------------------------------------------------------ stepping
    def step(self, n: int = 1) -> None:
        """Take ``n`` steps (no callback)."""
        n = check_int("n", n, low=0)
        self._steps(n, None)

    def _conic_weights(self, r, eta, J, G, gamma) -> np.ndarray:
        """The weights after a conic step from (r, eta) with the potential (J, G) (not stored);
        FloatingPointError when they are not finite."""
        with np.errstate(over="ignore", invalid="ignore"):
            W_new = conic_update(r, eta, J, G, gamma, self.alpha, self.beta)
        if not np.all(np.isfinite(W_new)):
            self._blown()
        return W_new

    def _blown(self):
        raise FloatingPointError(
            f"the network's weights blew up at step {self.steps} (t = {self.time:.6g}); reduce step_size")

    def _adaptive_step(self, t_end: float) -> None:
        """One accepted step of the line search (``step_rule="adaptive"``, see the module docstring), of the
        proposed step or of ``t_end - time`` if that is smaller; raises BlowUp (weights unchanged) after
        :data:`_MAX_REJECTIONS` consecutive rejections."""
        W = self._w
        m = W.shape[0]
        if not self._is_here(W) or self._here[5] is None:
            r, eta, J, G = self._potential_at(W)
            self._here = (W.copy(), r, eta, J, G, self._energy_at(W, r, eta, J))
        _, r, eta, J, G, (F0, tol0) = self._here
        g = np.empty_like(W)
        _gradient(r, eta, J, G, g)
        D = float(np.einsum("ij,j,ij->", g, self._c, g)) / m   # -dF/dt along the flow
        remaining = t_end - self._t
        for _ in range(_MAX_REJECTIONS + 1):
            h, last = line_search_trial(self._proposed, remaining, _ROUND_TOL)
            W_new = np.empty_like(W)
            with np.errstate(over="ignore", invalid="ignore"):
                finite = _plain_update(W, g, h, self._c, W_new)
            after = (math.inf, 0.0)
            if finite:
                r1, eta1 = self._polar_split(W_new)
                J1, G1 = self.model.potential(eta1, Measure(eta1, r1 * r1 / m))
                J1, G1 = np.ascontiguousarray(J1, dtype=np.float64), np.ascontiguousarray(G1, dtype=np.float64)
                after = self._energy_at(W_new, r1, eta1, J1)
            accepted, self._proposed = line_search_outcome((F0, tol0), after, h, self._proposed, D,
                                                           self.sufficient_decrease, self.step_growth,
                                                           self.max_step)
            if accepted:
                self._w = W_new
                self._here = (W_new.copy(), r1, eta1, J1, G1, after)
                self.steps += 1
                self.last_step = h
                self._t = t_end if last else self._t + h
                return
            self.rejected += 1
        raise BlowUp(f"step size underflow in step {self.steps + 1} at t = {self.time:.6g}: {_MAX_REJECTIONS} "
                     f"halvings of the trial step (now {self._proposed:.3g}) found no decrease of F = {F0:.12g}")

    def _full_step(self, gamma: float | None = None) -> None:
        if self.step_rule == "adaptive":
            self._adaptive_step(math.inf)
            return
        if self._flow is not None:
            self._flow_step()
            return
        W = self._w
        if gamma is None:
            gamma = self.next_step_size()
        if self.conic:
            W_new = self._conic_weights(*self._potential_at(W), gamma)
        else:
            W_new = np.empty_like(W)
            if not self._cartesian_step(W, gamma, W_new):
                self._blown()
        if self._checking:
            self._check_step(W, W_new, gamma)
        self._w = W_new
        self.steps += 1
        if self.step_rule != "constant":
            self._t += gamma

    def _cartesian_step(self, W: np.ndarray, gamma: float, W_new: np.ndarray) -> bool:
        """The plain or sequential gradient step into W_new; False if the result is not finite."""
        with np.errstate(over="ignore", invalid="ignore"):
            if not self.sequential:
                ok = _plain_update(W, self.population_gradient(W), gamma, self._c, W_new)
            else:
                r, eta = self._polar_split(W)
                rho, u = np.empty(W.shape[0]), np.empty_like(W)
                _input_points(W, rho, u)
                J, G = self.model.potential(u, Measure(eta, r * r / W.shape[0]))
                ok = _sequential_update(W, rho, u, np.ascontiguousarray(J - self._lambda, dtype=np.float64),
                                        np.ascontiguousarray(G, dtype=np.float64), gamma,
                                        self.layer_steps[0], self.layer_steps[1], self._lambda, W_new)
        return ok

    def _steps(self, n: int, callback: Optional[StepCallback]) -> None:
        """Up to ``n`` steps, ``callback(self)`` after each (True stops); without a callback the SGD steps of a
        block run in one call."""
        done = 0
        while done < n:
            if self.method == "full":
                self._full_step()
                k = 1
            else:
                if self._block_T is None or self._block_pos == self._blocks:
                    self._next_block()
                k = 1 if callback is not None else min(n - done, self._blocks - self._block_pos)
                pos, before = self._block_pos, self.steps
                try:
                    self._sgd_batches(self._block_T, self._block_y, pos, k)
                finally:
                    self._block_pos = pos + (self.steps - before)
            done += k
            if callback is not None and callback(self):
                break

    def steps_until(self, t_end: float) -> int:
        """Total number of steps after ``advance(t_end)``: ``floor(t_end / step_size + 1e-9)`` (t_end
        rounded down to whole steps, up to a 1e-9 step so that ``t_end = k * step_size`` computed in floating
        point gives k)."""
        t_end = check_real("t_end", t_end, low=0.0)
        return int(math.floor(t_end / self.step_size + _ROUND_TOL))

    def _advance(self, t_end: float, callback: Optional[StepCallback] = None) -> None:
        """Take whole steps until ``steps == steps_until(t_end)`` (the time is then ``t_end`` rounded down
        to a multiple of ``step_size``; nothing happens when already there). ``callback(self)`` after every
        step may return True to stop there."""
        if self.step_rule == "adaptive":
            t_end = check_real("t_end", t_end, low=0.0)
            while self._t < t_end:
                self._adaptive_step(t_end)
                if callback is not None and callback(self):
                    break
            return
        if self._flow is not None:
            self._flow_advance(check_real("t_end", t_end, low=0.0), callback)
            return
        if self.step_rule != "constant":
            t_end = check_real("t_end", t_end, low=0.0)
            while True:
                gamma = self.next_step_size()
                if self._t + gamma > t_end * (1.0 + _ROUND_TOL):
                    break
                self._full_step(gamma)
                if callback is not None and callback(self):
                    break
            return
        self._steps(max(0, self.steps_until(t_end) - self.steps), callback)

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        """Weights, step count, accumulated time and the mini-batch generator (JSON string of its state at the
        start of the current block, and the position in the block)."""
        state = self._block_state if self._block_T is not None else self._rng.bit_generator.state
        return {
            "weights": self._w.copy(),
            "steps": int(self.steps),
            "rng_state": json.dumps(state),
            "block_pos": int(self._block_pos if self._block_T is not None else -1),
            "block_batches": int(self._blocks),
            "time": float(self.time),
            "proposed_step": float(self._proposed),
            "rejected": int(self.rejected),
            "last_step": float(self.last_step),
            **self._flow_state(),
        }

    def estimate_steps(self, t_end: float) -> float | None:
        """``step_rule="adaptive"``: the steps to ``t_end`` estimated by a probe to ``t + 1`` (``n_p`` steps,
        then the proposed step ``h_p``; the trainer is restored and left as it was), ``n_p + (t_end - t_p) /
        h_p``. Unlike the linearly implicit steppers (:func:`~wgf.discretisations.solver.probe_step_count`),
        gradient descent's step does not grow in proportion to the time: it levels off at the edge of
        stability of the loss's curvature, so the step after the probe is taken to stay (measured with the
        default case's teacher from ``step_size = 0.01``: 43991 estimated against 9345, 9380 and 9497 steps
        taken to t = 10^4 for m = 10, 20, 100, an overestimate of 4.7x; the step is still growing at t = 1).
        "ros2": the particle solver's probe (:mod:`.network_flow`). None for the other rules (their steps are
        known from :meth:`next_step_size`)."""
        if self.step_rule != "adaptive":
            return None if self._flow is None else self._flow.estimate_steps(t_end)
        return probe_step_count(self, t_end, self.next_step_size, levels_off=True)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            w = np.array(state["weights"], dtype=np.float64)
            steps = int(state["steps"])
            rng_state = json.loads(state["rng_state"])
            pos = int(state["block_pos"])
            blocks = int(state["block_batches"])
        except KeyError as exc:
            raise ValueError(f"state is missing the entry {exc.args[0]!r}") from None
        if w.shape != self._w.shape:
            raise ValueError(f"state has weights of shape {w.shape}, this trainer has {self._w.shape}")
        if blocks != self._blocks:
            raise ValueError(f"state drew {blocks} batches per block, this trainer draws {self._blocks}")
        if self.step_rule != "constant":
            if "time" not in state:
                raise ValueError("state is missing the entry 'time' (needed with step_rule='normalised')")
            self._t = float(state["time"])
        if self.step_rule in ("adaptive", "ros2"):
            try:
                self._proposed = float(state["proposed_step"])
                self.rejected = int(state["rejected"])
                self.last_step = float(state["last_step"])
            except KeyError as exc:
                raise ValueError(f"state is missing the entry {exc.args[0]!r} (step_rule={self.step_rule!r})") from None
        self._drop_prefetch()
        self._w = w
        self._here = None
        self.steps = steps
        self._rng.bit_generator.state = rng_state
        if pos < 0:
            self._block_T, self._block_y, self._block_state, self._block_pos = None, None, None, 0
        else:
            self._next_block()
            self._block_pos = pos
        if self._flow is not None:
            self._flow_load(state)

    # ------------------------------------------------------------------ output
    def snapshot(self) -> dict[str, np.ndarray]:
        """The measure's points and masses and the raw weights (m, d+1)."""
        out = super().snapshot()
        out["weights"] = self._w.copy()
        return out

    def diagnostics(self) -> dict[str, float]:
        out = super().diagnostics()
        out["width"] = float(self.width)
        if self.step_rule in ("adaptive", "ros2"):
            out["dt"] = float(self.last_step)
            out["rejected"] = float(self.rejected)
        return out

    def __repr__(self) -> str:
        rule = "" if self.step_rule == "constant" else f", step_rule={self.step_rule!r}"
        steps = (f"conic, alpha={self.alpha:g}, beta={self.beta:g}" if self.conic
                 else f"layer_steps={self.layer_steps}")
        return (f"NetworkTrainer(m={self.width}, d={self.model.dim}, method={self.method!r}, "
                f"step_size={self.step_size:g}{rule}, {steps}, t={self.time:.6g})")
