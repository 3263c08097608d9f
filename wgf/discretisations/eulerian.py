r"""The Eulerian grid solver: finite volumes for the Wasserstein–Fisher–Rao flow on S^1, S^2 and S^3.

The state is the vector of cell masses ``m`` on a fixed :class:`~wgf.geometry.grid.Grid`; the measure is
``nu = sum_i m_i delta_{eta_i}`` (``eta_i`` the generators), the potential ``J_i = J(eta_i | nu)`` comes from
the model, and :class:`~wgf.discretisations.finite_volume.FiniteVolumeOperator` gives ``dm/dt``. For a
:class:`~wgf.models.QuadraticModel`, ``J = K m + V`` and ``F = m.(J + V)/2 + C`` with the cell–cell
interaction ``K_ij = K(eta_i, eta_j)``: ``K m`` is a precomputed matrix when it fits ``interaction_memory``
bytes and the model's kernel is not cheaper than a dense product (:meth:`Model.potential_cost`; e.g. the
``O(n log n)`` teacher–student kernel for two-dimensional inputs), otherwise the model's kernel
(:meth:`QuadraticModel.apply_interaction`) at every stage.

Time step bounds
----------------
The step is adaptive: at every stage state ``m^(s)`` the forward-Euler bounds below are evaluated; the
step is chosen from them at the step's start (``C`` the SSP coefficient; see *Step selection*), and a step
whose later stages violate the positivity bound is rejected and retried with a smaller ``dt``.

*Positivity.* ``dt_FE = 1 / max_i (r_i + alpha J_i^+)`` (:meth:`FiniteVolumeOperator.forward_euler_bound`)
keeps every forward-Euler substep positive, with ``m_i' >= (1 - cfl) m_i``.

*Energy stability.* For a quadratic F, ``F(m + dt f) = F(m) + dt J.f + dt^2/2 f^T K f`` exactly, and
``-J.f = D = D_R + D_T`` with ``D_R = alpha sum_i m_i J_i^2`` and ``D_T = sum_e w_e (J_i - J_j)^2``,
``w_e = beta T_e rho_e`` (``rho_e`` the face density). Writing ``f = f_R + f_T``:
``f_R = -alpha M J`` gives ``f_R^T K f_R <= alpha^2 Lambda_R sum m J^2 = alpha Lambda_R D_R`` with
``Lambda_R = lambda_max(M^{1/2} K M^{1/2})``; ``f_T = -G^T W dJ`` (``G`` the edge–cell incidence) gives
``f_T^T K f_T <= Lambda_T D_T`` with ``Lambda_T = lambda_max(W^{1/2} G K G^T W^{1/2})
<= trace = sum_e w_e (K_ii + K_jj - 2 K_ij)``. By the triangle and Cauchy–Schwarz inequalities in the
K-seminorm, ``f^T K f <= (sqrt(alpha Lambda_R D_R) + sqrt(Lambda_T D_T))^2 <= (alpha Lambda_R + Lambda_T) D``,
so a forward-Euler step does not increase F when

.. math:: dt \le dt_E = \frac{2}{\alpha \Lambda_R + \Lambda_T}.

A second bound uses the actual ``f``: with ``g = M^{-1/2} f``, ``f^T K f = g^T (M^{1/2} K M^{1/2}) g <=
Lambda_R sum_i f_i^2 / m_i``, so ``dt <= 2 D / (Lambda_R sum_i f_i^2 / m_i)`` also keeps F from increasing;
the larger of the two is used (the trace bound of ``Lambda_T`` is crude, and near convergence the second
bound is ``2 / (alpha Lambda_R)``, the pure-reaction limit).

``Lambda_R`` is bounded by guaranteed upper bounds: the trace ``sum_i m_i K_ii`` and, for a quadratic
model, a Lanczos bound at a reference state (:func:`~wgf.discretisations.interaction.lanczos_lambda_bound`: ``tr A - sum_{i>=2} theta_i`` with
the Ritz values ``theta_i <= lambda_i``), carried to later states by ``Lambda(m) <= Lambda(m_ref) +
sum_i (m_i - m_ref,i)^+ K_ii`` (``M -> K^{1/2} M K^{1/2}`` is linear and monotone and lambda_max is
subadditive) and recomputed when that has loosened by 10% while the energy bound binds. The reaction's
stiffness ``alpha Lambda_R`` does not shrink as J -> 0 while ``dt_FE`` grows, so both bounds are needed.

*Step selection.* The step tried is ``min(C cfl dt_FE, safety * max(dt_E, 2 / (alpha Lambda_R)))``: the
reaction-only bound ``2 / (alpha Lambda_R)`` is the sharp one near convergence, where the trace bound of
``Lambda_T`` is crude. Whether F decreased is then checked exactly, at no cost (``F = m.(J + V)/2 + C``
with the J that the next step needs anyway); a step that raised F is retried with the guaranteed
``dt_E``, so F is nonincreasing at every accepted step by construction, and the number of retries is
reported (``diagnostics()["rejected"]``, which also counts positivity retries at later stages).

*SSP Runge–Kutta.* An SSP RK step is a convex combination of forward-Euler steps from the stage states,
e.g. SSPRK2: ``u1 = u0 + dt f(u0)``, ``u2 = (u0 + (u1 + dt f(u1)))/2``. If ``dt`` satisfies both bounds at
every stage, every forward-Euler substep keeps masses positive and does not increase F, and convexity of
F gives ``F(u2) <= (F(u0) + F(u1 + dt f(u1)))/2 <= (F(u0) + F(u1))/2 <= F(u0)`` (the same induction for
SSPRK3). The Strang splitting is positivity-preserving for ``dt <= 2 cfl dt_FE`` of its transport part;
the energy bound is applied to it as well, but monotonicity of F is proven for the SSP RK steppers only.

For a model that is not quadratic no energy bound is available: a step that increases F is rejected and
retried with half the step.

Linearly implicit stepping (long times)
---------------------------------------
Every explicit step above is capped by the energy-stability bound ``~ 2 / (alpha Lambda_R)``, which does
not grow as the flow settles (``Lambda_R`` tends to that of the limit measure), so a run to time T costs
``~ T alpha Lambda_R / 2`` steps. The stepper ``"ros2"`` (:class:`~wgf.discretisations.timesteppers.Rosenbrock2`,
second order, an L-stable W-method) solves with ``W = I - gamma h A``, ``A`` the Jacobian of the
semi-discrete system (:meth:`EulerianSolver.jacobian`: exact for the reaction ``-alpha (diag J + M K)``,
the upwind transport with its upwind cells frozen). Linearised about a state the flow is a gradient flow
``delta' = -H delta`` and ROS2 multiplies each mode by ``R(-h lambda)`` in ``(0, 1]`` for every ``h``: no
step bound from the reaction's stiffness. What it does not guarantee, it checks, at every step:

* *positivity*: a step with a negative mass is rejected and halved (there is no a-priori CFL bound for
  the implicit transport; the forward-Euler bound ``dt_FE`` reported as ``diagnostics()["dt_cfl"]``
  grows as ``grad J -> 0``, and is the measure of how far the accepted steps outgrow the explicit ones);
* *energy*: a step that raises F beyond round-off (checked exactly, as above) is rejected and halved, so
  F is nonincreasing at every accepted step by construction;
* *accuracy*: the embedded first-order estimate, in total variation relative to the mass,
  ``sum_i |err_i| / (atol + rtol sum_i m_i) <= 1``; the next step follows
  :func:`~wgf.discretisations.timesteppers.next_step_size` (steps grow as the solution's time derivatives
  decay: on the teacher–student flow to T = 10^6 the step grows to ~10^3 - 10^4, benchmarks/README.md).

The Jacobian and the LU factorisation of ``W`` (dense, ``O(n^3)``) are kept while the proposed step stays
within a factor ``reuse_ratio`` of the factorised one (the factorised step is then taken) and for at most
``jacobian_age`` steps (a W-method keeps its order with a Jacobian from an earlier state); a rejection
refreshes both. With a fixed ``dt`` the steps are fixed (no error control; the two checks remain and
halve a failing step, with a :class:`~wgf.discretisations.solver.StepReducedWarning`), for order studies.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Optional

import numpy as np
import scipy.sparse as sp

from ..geometry.grid import Grid
from ..geometry.measure import Measure
from ..models.base import Model, QuadraticModel
from .finite_volume import SCHEMES, FiniteVolumeOperator
from .interaction import DenseInteraction, _pairwise_interaction, lanczos_lambda_bound
from .solver import Solver, StepCallback, StepReducedWarning, probe_step_count
from .timesteppers import (STEPPERS, ExplicitRK, StrangSplitting, get_stepper, next_step_size, rosenbrock_factor,
                           rosenbrock_step)

__all__ = ["EulerianSolver", "INTERACTION_DTYPES"]

INTERACTION_DTYPES = ("float64", "float32")
_DEFAULT_MEMORY = 2 * 1024**3

#: How ``K m`` is computed for quadratic models (see :class:`EulerianSolver`).
INTERACTIONS = ("auto", "dense", "kernel")


class _StageEval:
    """Everything computed at one state: the potential, the operator and the step bounds."""

    __slots__ = ("masses", "J", "div", "outflow", "rhs", "lam_T", "lam_R", "dt_fe", "dt_fe_transport",
                 "dt_energy", "dt_energy_estimate", "reaction_sum")


# ---------------------------------------------------------------------- the solver
class EulerianSolver(Solver):
    """Finite-volume solver of ``d/dt nu = -alpha J nu + beta div_S(nu grad_S J)`` on a grid.

    Parameters
    ----------
    model : Model
        Provides ``J(eta | nu)`` (and, for a :class:`QuadraticModel`, the interaction to precompute).
    grid : Grid
        On the model's sphere (``grid.dim == model.dim``).
    masses : array_like, shape (n,), optional
        Initial cell masses, finite and nonnegative; default the uniform measure of mass 1.
    alpha, beta : float
        Reaction and transport coefficients, finite and >= 0 (default 4 and 1, the network's values).
    scheme : {"upwind", "muscl"}
        Face densities: first-order upwind, or limited linear (MUSCL) reconstruction.
    stepper : str
        A registered SSP Runge–Kutta stepper ("euler", "ssprk2", "ssprk3"), "strang", or the linearly
        implicit "ros2" for long times (see *Linearly implicit stepping*).
    cfl : float in (0, 1)
        Fraction of the positivity bound ``dt_FE`` used (per forward-Euler substep).
    energy_safety : float in (0, 1]
        Fraction of the energy-stability bound ``dt_E`` used.
    dt : float, optional
        A fixed step; None: adaptive, the largest step within both bounds. A fixed step is shortened to land
        on ``t_end``, and wherever it exceeds the positivity (CFL) bound, the energy-stability bound or
        ``dt_max`` (evaluated at every step, see *Time step bounds*) it is reduced to the bound: the step is
        never refused and the run never violates a bound, but the first reduction issues a
        :class:`~wgf.discretisations.solver.StepReducedWarning` (once per solver object) naming the requested ``dt``, the
        bound, its value, the time and the step; ``wgf run`` prints it once per run
        (``warning: run 'NAME': the fixed step dt = ... exceeds the positivity (CFL) bound (...) at t = ...``).
        The steps actually taken are recorded (``diagnostics()["dt"]``).
    dt_max : float
        Upper limit of the adaptive step.
    interaction : {"auto", "dense", "kernel"}
        How ``K m`` is computed for a quadratic model: "dense", a precomputed matrix (it must fit
        ``interaction_memory``); "kernel", the model's kernel at every stage; "auto", dense when it fits and
        the kernel is not cheaper than a dense product.
    interaction_memory : int
        Bytes allowed for the precomputed interaction matrix (0: always on the fly); "ros2" needs
        ``3 n^2`` doubles within it (the Jacobian, its factors and the interaction).
    interaction_dtype : {"float64", "float32"}
        Storage precision of the precomputed interaction.
    backend : {"numba", "numpy"}
        Finite-volume kernels (the NumPy reference is for tests).
    rtol, atol : float
        "ros2" only: tolerances of the error control (total variation of the error of one step relative
        to ``atol + rtol * mass``).
    jacobian_age : int
        "ros2" only: the most steps one Jacobian (and its factorisation) is used for.
    reuse_ratio : float >= 1
        "ros2" only: the factorised step is kept while the proposed one is within this factor of it.
    """

    kind = "eulerian"
    finite_state_is_valid = True  # a step with a negative mass is rejected; fixed cell centres

    def __init__(self, model: Model, grid: Grid, masses=None, *, alpha: float = 4.0, beta: float = 1.0,
                 scheme: str = "upwind", stepper: str = "ssprk2", cfl: float = 0.9, energy_safety: float = 0.9,
                 dt: Optional[float] = None, dt_max: float = math.inf, interaction: str = "auto",
                 interaction_memory: int = _DEFAULT_MEMORY, interaction_dtype: str = "float64", backend: str = "numba",
                 rtol: float = 1e-4, atol: float = 1e-12, jacobian_age: int = 20, reuse_ratio: float = 1.5):
        if not isinstance(model, Model):
            raise ValueError(f"model must be a wgf Model, got {type(model).__name__}")
        if not isinstance(grid, Grid):
            raise ValueError(f"grid must be a wgf.geometry.grid.Grid, got {type(grid).__name__}")
        if grid.dim != model.dim:
            raise ValueError(f"grid is on S^{grid.dim} but the model is on S^{model.dim}")
        self.model = model
        self.grid = grid
        self.alpha = self._number("alpha", alpha, 0.0)
        self.beta = self._number("beta", beta, 0.0)
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
        self.scheme = scheme
        if not isinstance(stepper, str) or stepper not in STEPPERS:
            raise ValueError(f"stepper must be one of {sorted(self.allowed_steppers())}, got {stepper!r}")
        cls = get_stepper(stepper)
        self.linearly_implicit = bool(getattr(cls, "linearly_implicit", False))
        if cls.ssp_coefficient <= 0 and not self.linearly_implicit:
            raise ValueError(f"stepper {stepper!r} is not strong-stability preserving (no positivity "
                             f"guarantee); choose one of {sorted(self.allowed_steppers())}")
        self.stepper_name = stepper
        self.stepper = cls
        self.cfl = self._number("cfl", cfl, 0.0, 1.0, open_hi=True)
        self.energy_safety = self._number("energy_safety", energy_safety, 0.0, 1.0)
        if dt is not None:
            dt = self._number("dt", dt, 0.0)
        self.dt_fixed = dt
        self.dt_max = self._number("dt_max", dt_max, 0.0, allow_inf=True)
        self.rtol = self._number("rtol", rtol, 0.0)
        self.atol = self._number("atol", atol, 0.0)
        if isinstance(interaction_memory, bool) or not isinstance(interaction_memory, (int, np.integer)) \
                or interaction_memory < 0:
            raise ValueError(f"interaction_memory must be a nonnegative integer number of bytes, "
                             f"got {interaction_memory!r}")
        self.interaction_memory = int(interaction_memory)
        if interaction not in INTERACTIONS:
            raise ValueError(f"interaction must be one of {INTERACTIONS}, got {interaction!r}")
        self.interaction = interaction
        if interaction_dtype not in INTERACTION_DTYPES:
            raise ValueError(f"interaction_dtype must be one of {INTERACTION_DTYPES}, got {interaction_dtype!r}")
        if backend not in ("numba", "numpy"):
            raise ValueError(f"backend must be 'numba' or 'numpy', got {backend!r}")
        self.backend = backend

        if masses is None:
            m = grid.uniform_masses(1.0)
        else:
            try:
                m = np.array(masses, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"masses must be a numeric array of shape ({grid.size},): {exc}") from None
            if m.shape != (grid.size,):
                raise ValueError(f"masses must have shape ({grid.size},) (one per cell), got {m.shape}")
            if not np.all(np.isfinite(m)) or np.any(m < 0):
                raise ValueError("masses must be finite and nonnegative")
        self._m = np.ascontiguousarray(m)

        # the interaction
        n = grid.size
        self.quadratic = isinstance(model, QuadraticModel)
        self.dense: DenseInteraction | None = None
        edge_curv = None
        self._V = None
        if self.quadratic:
            self._V = np.asarray(model.linear_potential(grid.points), dtype=np.float64)
            self._C = float(model.energy_constant)
            need = n * n * np.dtype(interaction_dtype).itemsize
            if interaction == "dense" and need > self.interaction_memory:
                raise ValueError(f"interaction='dense' needs {need} bytes for {n} cells, more than "
                                 f"interaction_memory = {self.interaction_memory}")
            # "auto": a dense matrix only pays when the model's kernel is not cheaper than a dense product
            if interaction == "dense" or (interaction == "auto" and need <= self.interaction_memory
                                          and model.potential_cost(n, n) >= float(n) * float(n)):
                self.dense = DenseInteraction(model, grid.points, interaction_dtype)
                self._diag = self.dense.diag
                edge_curv = self.dense.edge_curvature(grid.edges)
            else:
                self._diag, edge_curv = _pairwise_interaction(model, grid.points, grid.edges)
        self.operator = FiniteVolumeOperator(grid, self.alpha, self.beta, scheme, edge_curvature=edge_curv)

        self.time = 0.0
        self.steps = 0
        self.rejected = 0
        self.rejections = {"positivity": 0, "error": 0, "energy": 0}
        self.last_dt = 0.0
        self.lanczos_steps = 6
        self._lam_ref_m: np.ndarray | None = None
        self._lam_ref = math.inf
        self._cache: _StageEval | None = None
        self._stage_log: list[_StageEval] = []
        self.last_step: dict[str, Any] = {}
        self._warned_step = False
        self._dt_proposed: float | None = self.dt_fixed if self.linearly_implicit else None
        self._K_full: np.ndarray | None = None
        if self.linearly_implicit:
            # the Jacobian, its LU factors and the float64 interaction: three dense n x n matrices
            need = 3 * grid.size * grid.size * 8
            if need > self.interaction_memory:
                raise ValueError(f"stepper 'ros2' needs {need} bytes of dense matrices for {grid.size} cells, more "
                                 f"than interaction_memory = {self.interaction_memory}; use a coarser grid or "
                                 f"raise interaction_memory")
        self._jac_state: np.ndarray | None = None   # the state whose Jacobian is factorised (ros2)
        self._jac_dt = 0.0
        self._jac_age = 0
        self._lu = None
        self.jacobians = 0
        if isinstance(jacobian_age, bool) or not isinstance(jacobian_age, (int, np.integer)) or jacobian_age < 1:
            raise ValueError(f"jacobian_age must be a positive integer, got {jacobian_age!r}")
        self.jacobian_age = int(jacobian_age)
        self.reuse_ratio = self._number("reuse_ratio", reuse_ratio, 1.0)
        if self.quadratic:
            self._refresh_lambda(self._m)

    # ------------------------------------------------------------------ validation helpers
    @staticmethod
    def allowed_steppers() -> list[str]:
        return [k for k, v in STEPPERS.items() if v.ssp_coefficient > 0 or getattr(v, "linearly_implicit", False)]

    @staticmethod
    def _number(name, value, lo, hi=None, open_hi=False, allow_inf=False) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {value!r}") from None
        if math.isnan(v) or (math.isinf(v) and not (allow_inf and v > 0)):
            raise ValueError(f"{name} must be finite, got {value!r}")
        if name in ("alpha", "beta"):
            if v < lo:
                raise ValueError(f"{name} must be >= {lo}, got {v}")
        elif v <= lo:
            raise ValueError(f"{name} must be > {lo}, got {v}")
        if hi is not None and (v > hi or (open_hi and v >= hi)):
            raise ValueError(f"{name} must be {'<' if open_hi else '<='} {hi}, got {v}")
        return v

    # ------------------------------------------------------------------ potential and bounds
    def _interaction_product(self, m: np.ndarray) -> np.ndarray:
        """``K m`` between cells: the precomputed matrix, or the model's kernel on the fly."""
        if self.dense is not None:
            return self.dense.matvec(m)
        return self.model.apply_interaction(self.grid.points, self.grid.points, m)

    def _potential(self, m: np.ndarray) -> np.ndarray:
        if self.quadratic:
            return self._interaction_product(m) + self._V
        J, _ = self.model.potential(self.grid.points, Measure(self.grid.points, m))
        return np.asarray(J, dtype=np.float64)

    def _refresh_lambda(self, m: np.ndarray) -> None:
        self._lam_ref_m = m.copy()
        self._lam_ref = lanczos_lambda_bound(self._interaction_product, m, self._diag, self.lanczos_steps)

    def _lambda_reaction(self, m: np.ndarray) -> float:
        """A guaranteed upper bound on ``lambda_max(M^{1/2} K M^{1/2})``: the trace ``sum m_i K_ii``, and
        with a precomputed K the Lanczos bound at a reference state ``m_ref`` plus the trace of the mass
        increase, ``Lambda(m) <= Lambda(m_ref) + sum_i (m_i - m_ref,i)^+ K_ii`` (``M -> K^{1/2} M K^{1/2}``
        is linear and monotone, and lambda_max is subadditive); inf for non-quadratic models."""
        if not self.quadratic:
            return math.inf
        lam = float(m @ self._diag)
        if self.quadratic:
            lam = min(lam, self._lam_ref + float(np.maximum(m - self._lam_ref_m, 0.0) @ self._diag))
        return max(lam, 0.0)

    def _evaluate(self, m: np.ndarray) -> _StageEval:
        if self._cache is not None and self._cache.masses is m:
            ev = self._cache
        else:
            ev = _StageEval()
            ev.masses = m
            ev.J = self._potential(m)
            ev.div, ev.outflow, ev.lam_T = self.operator.transport(m, ev.J, self.backend)
            ev.lam_R = self._lambda_reaction(m)
            ev.dt_fe = self.operator.forward_euler_bound(m, ev.J, ev.outflow, reaction=True)
            ev.dt_fe_transport = self.operator.forward_euler_bound(m, ev.J, ev.outflow, reaction=False)
            ev.rhs = -ev.div - self.alpha * ev.J * m
            if self.quadratic:
                ev.dt_energy = self._energy_bound(m, ev)
                ev.dt_energy_estimate = math.inf if ev.lam_R <= 0 else 2.0 / (self.alpha * ev.lam_R)
            else:
                ev.dt_energy = math.inf
                ev.dt_energy_estimate = math.inf
            ev.reaction_sum = -self.alpha * float(ev.J @ m)
            self._cache = ev
        return ev

    # the system seen by the steppers
    def _energy_bound(self, m: np.ndarray, ev: _StageEval) -> float:
        """The largest forward-Euler step from ``m`` that does not increase F (guaranteed): the larger of
        ``2 / (alpha Lambda_R + Lambda_T)`` and ``2 D / (Lambda_R sum_i f_i^2 / m_i)`` (the second from
        ``f^T K f = g^T A g <= Lambda_R |g|^2`` with ``g = M^{-1/2} f``, ``A = M^{1/2} K M^{1/2}``)."""
        denom = self.alpha * ev.lam_R + ev.lam_T
        b1 = math.inf if denom <= 0 else 2.0 / denom
        f = ev.rhs
        D = -float(ev.J @ f)
        with np.errstate(divide="ignore", invalid="ignore"):
            g2 = float(np.sum(np.where(m > 0, f * f / m, np.where(f != 0, np.inf, 0.0))))
        if D <= 0.0 or not math.isfinite(g2):
            return b1
        if g2 * ev.lam_R <= 0.0:
            return math.inf
        return max(b1, 2.0 * D / (ev.lam_R * g2))

    def rhs(self, t: float, m: np.ndarray) -> np.ndarray:
        ev = self._evaluate(m)
        self._stage_log.append(ev)
        return ev.rhs

    def transport_rhs(self, t: float, m: np.ndarray) -> np.ndarray:
        ev = self._evaluate(m)
        self._stage_log.append(ev)
        return -ev.div

    def reaction_rate(self, t: float, m: np.ndarray) -> np.ndarray:
        ev = self._evaluate(m)
        return self.alpha * ev.J

    # ------------------------------------------------------------------ Solver interface
    @property
    def masses(self) -> np.ndarray:
        return self._m

    @property
    def measure(self) -> Measure:
        return Measure(self.grid.points, self._m)

    def densities(self) -> np.ndarray:
        return self._m / self.grid.volumes

    def _state_energy(self, ev: _StageEval) -> tuple[float, float]:
        """F at an evaluated state and the round-off scale of its evaluation."""
        m = ev.masses
        if self.quadratic:
            F = 0.5 * float(m @ (ev.J + self._V)) + self._C
            scale = abs(self._C) + float(m @ (np.abs(ev.J) + np.abs(self._V)))
        else:
            F = self.model.energy(Measure(self.grid.points, m))
            scale = abs(F)
        return F, 64.0 * np.finfo(float).eps * scale

    # ------------------------------------------------------------------ linearly implicit stepping
    def _interaction_matrix(self) -> np.ndarray:
        """The dense cell–cell interaction ``K`` (n, n), float64, for the Jacobian: the precomputed one, else
        built once (``n^2`` doubles: the linear solves of the Rosenbrock stepper are dense anyway)."""
        if self._K_full is None:
            if self.dense is not None and self.dense.dtype == np.float64:
                self._K_full = self.dense.K
            else:
                self._K_full = DenseInteraction(self.model, self.grid.points, "float64").K
        return self._K_full

    def jacobian(self, t: float, m: np.ndarray) -> np.ndarray:
        r"""Jacobian ``A = d(dm/dt)/dm`` (n, n) of the finite-volume system, for the Rosenbrock stepper.

        Quadratic models (``J = K m + V``): the reaction ``-alpha J_i m_i`` gives
        ``-alpha (diag(J) + diag(m) K)`` exactly; the transport, with every face's upwind cell held
        fixed, gives for the flux ``F_s = beta T_s (J_i - J_j) rho_u`` of the slot ``s`` (cell ``i`` to its
        neighbour ``j``, upwind cell ``u``, ``rho_u = m_u / |V_u|``)
        ``dF_s/dm = beta T_s (rho_u (K_{i,:} - K_{j,:}) + (J_i - J_j) e_u / |V_u|)``, summed over the
        slots of ``i`` into ``d div_i / dm``. This is exact for the upwind scheme away from faces where
        ``J_i = J_j`` (where the upwind cell switches); with MUSCL the upwind Jacobian is used (the ROS2
        W-method keeps its order with any matrix, :class:`~wgf.timesteppers.Rosenbrock2`). Other models:
        a finite-difference Jacobian (``n`` evaluations of the right-hand side)."""
        if not self.quadratic:
            from .timesteppers import finite_difference_jacobian
            return finite_difference_jacobian(lambda s, y: self._evaluate(y).rhs, t, m, self._evaluate(m).rhs)
        ev = self._evaluate(m)
        K = self._interaction_matrix()
        J = ev.J
        op = self.operator
        src, dst = op.slot_source, op.neighbours
        dJ = J[src] - J[dst]
        up = np.where(dJ > 0, src, dst)
        vol = self.grid.volumes
        w = self.beta * op.trans
        rho = m[up] / vol[up]
        n = m.shape[0]
        # C K with C = sum_s w_s rho_s e_i (e_i - e_j)^T (sparse), plus B = sum_s w_s dJ_s e_i e_u^T / |V_u|
        C = sp.csr_matrix((np.concatenate([w * rho, -w * rho]), (np.concatenate([src, src]),
                                                                   np.concatenate([src, dst]))), shape=(n, n))
        A = -(C @ K)
        np.add.at(A, (src, up), -w * dJ / vol[up])
        A -= self.alpha * (m[:, None] * K)
        A[np.diag_indices(n)] -= self.alpha * J
        return A

    def _rosenbrock_lu(self, h: float):
        """The factorisation of ``I - gamma h A(m_ref)`` for the kept Jacobian state ``m_ref``."""
        if self._lu is None or self._lu_dt != h:
            self._lu = rosenbrock_factor(self.jacobian(self.time, self._jac_state), h, self.stepper)
            self._lu_dt = h
        return self._lu

    def _advance_rosenbrock(self, t_end: float, callback: Optional[StepCallback]) -> None:
        """The time loop of the linearly implicit stepper ("ros2"), see *Linearly implicit stepping*."""
        if self._dt_proposed is None:
            ev = self._evaluate(self._m)
            self._dt_proposed = min(self.cfl * ev.dt_fe,
                                    self.energy_safety * max(ev.dt_energy, ev.dt_energy_estimate), self.dt_max)
        rhs = lambda s, y: self._evaluate(y).rhs  # noqa: E731
        while self.time < t_end:
            m = self._m
            ev0 = self._evaluate(m)
            F_old, tol = self._state_energy(ev0)
            fixed = self.dt_fixed is not None
            h = min(self.dt_fixed if fixed else self._dt_proposed, self.dt_max)
            # keep the Jacobian and its factorisation while the proposed step stays within
            # [1/reuse_ratio, reuse_ratio] of the factorised one (then that step is taken) and the
            # Jacobian is younger than jacobian_age steps
            if (self._jac_state is None or self._jac_age >= self.jacobian_age
                    or not (self._jac_dt / self.reuse_ratio <= h <= self._jac_dt * self.reuse_ratio)):
                self._new_jacobian(m, h)
            else:
                h = self._jac_dt
            remaining = t_end - self.time
            clipped = h >= remaining or remaining - h <= 1e-12 * max(1.0, abs(t_end))
            while True:
                step = remaining if clipped else h
                lu = self._rosenbrock_lu(step) if not clipped else rosenbrock_factor(
                    self.jacobian(self.time, self._jac_state), step, self.stepper)
                m_new, err = rosenbrock_step(rhs, self.time, m, step, lu, f0=ev0.rhs, stepper=self.stepper)
                en = math.inf
                why = "positivity"
                if np.all(np.isfinite(m_new)) and np.all(m_new >= 0.0):
                    # the error of the measure in total variation, relative to its mass
                    en = float(np.sum(np.abs(err))) / (self.atol + self.rtol * max(float(m.sum()),
                                                                                   float(m_new.sum())))
                    why = "error"
                    if en <= 1.0 or fixed:
                        F_new, tol_new = self._state_energy(self._evaluate(m_new))
                        if F_new <= F_old + max(tol, tol_new):
                            break
                        why = "energy"
                self.rejected += 1
                self.rejections[why] += 1
                h = next_step_size(step, en, self.stepper.order) if why == "error" else 0.5 * step
                clipped = False
                if fixed and not self._warned_step:
                    self._warned_step = True
                    warnings.warn(StepReducedWarning(
                        f"the fixed step dt = {self.dt_fixed:.6g} of the ros2 stepper gave "
                        f"{'a negative mass' if why == 'positivity' else 'an increase of F'} at t = "
                        f"{self.time:.6g} (step {self.steps + 1}); that step is halved until it does not"),
                        stacklevel=4)
                if not h > 1e-14 * max(1.0, abs(self.time)):
                    raise FloatingPointError(f"step size underflow at t = {self.time:.6g} (last rejection: "
                                             f"{why}); rtol = {self.rtol:g}, atol = {self.atol:g}")
                self._new_jacobian(m, h)
            self.last_step = {"dt": step, "mass_before": float(m.sum()), "energy_before": F_old,
                              "stage_reaction_sums": []}
            self._m = m_new
            self.time = t_end if clipped else self.time + step
            self.steps += 1
            self.last_dt = step
            self._jac_age += 1
            if not clipped:  # a step shortened to land on t_end keeps the proposal made for a full step
                self._dt_proposed = next_step_size(step, en, self.stepper.order)
            if callback is not None and callback(self):
                break

    def estimate_steps(self, t_end: float) -> float | None:
        """"ros2" with adaptive steps: the steps to ``t_end`` estimated by a probe to ``t + 1``
        (:func:`~wgf.discretisations.solver.probe_step_count`; the solver is left as it was). None for the
        other steppers (their step is bounded: ``T / dt`` estimates them)."""
        if not self.linearly_implicit or self.dt_fixed is not None:
            return None
        return probe_step_count(self, t_end, lambda: self._dt_proposed)

    def _new_jacobian(self, m: np.ndarray, h: float) -> None:
        self._jac_state = m.copy()
        self._jac_dt = h
        self._jac_age = 0
        self._lu = None
        self.jacobians += 1

    def _advance(self, t_end: float, callback: Optional[StepCallback] = None) -> None:
        """Advance to ``t_end`` (see :class:`~wgf.discretisations.solver.Solver`). Each step: ``dt`` is the smaller of the
        positivity bound and the reaction energy bound ``safety * 2 / (alpha Lambda_R)`` at the current
        state (never below the guaranteed energy bound); the step is accepted if every stage satisfies the
        positivity bound and F did not increase (checked exactly, at no cost, from the potential at the new
        state, which the next step needs anyway); otherwise it is retried with the guaranteed bounds."""
        t_end = float(t_end)
        if not math.isfinite(t_end) or t_end < self.time:
            raise ValueError(f"t_end must be finite and >= the current time {self.time}, got {t_end}")
        if self.linearly_implicit:
            self._advance_rosenbrock(t_end, callback)
            return
        splitting = issubclass(self.stepper, StrangSplitting)
        C = self.stepper.ssp_coefficient
        while self.time < t_end:
            m = self._m
            ev0 = self._evaluate(m)
            F_old, tol = self._state_energy(ev0)
            fe0 = ev0.dt_fe_transport if splitting else ev0.dt_fe
            bounds = {"positivity (CFL) bound": C * self.cfl * fe0,
                      "energy-stability bound": self.energy_safety * max(ev0.dt_energy, ev0.dt_energy_estimate),
                      "limit dt_max": self.dt_max}
            dt = min(bounds.values())
            reduced: tuple[str, float] | None = None  # (which bound, its value) when a fixed dt is cut
            if self.dt_fixed is not None:
                if self.dt_fixed > dt:
                    reduced = min(bounds.items(), key=lambda kv: kv[1])
                dt = min(dt, self.dt_fixed)
            if not (dt > 0.0):
                raise FloatingPointError(f"no admissible time step at t = {self.time} (bound {dt})")
            energy_retry = 0
            while True:
                last = self.time + dt >= t_end or (t_end - self.time - dt) <= 1e-12 * max(1.0, abs(t_end))
                step_dt = t_end - self.time if last else dt
                self._stage_log = []
                self._cache = ev0
                m_new = self.stepper.step(self, self.time, m, step_dt)
                allowed = min(C * self.cfl * (e.dt_fe_transport if splitting else e.dt_fe)
                              for e in self._stage_log)
                ok = step_dt <= allowed * (1.0 + 1e-12) and bool(np.all(np.isfinite(m_new))) \
                    and bool(np.all(m_new >= 0.0))
                if ok:
                    F_new, tol_new = self._state_energy(self._evaluate(m_new))
                    if F_new <= F_old + max(tol, tol_new):
                        break
                    # F increased: fall back to the guaranteed energy bound, then halve
                    energy_retry += 1
                    g = self.energy_safety * min(e.dt_energy for e in self._stage_log)
                    allowed = g if (energy_retry == 1 and g < step_dt) else 0.5 * step_dt
                self.rejected += 1
                dt = min(allowed if energy_retry else 0.95 * allowed, 0.999 * step_dt)
                if reduced is None:
                    reduced = ("energy-stability bound (F increased with it)" if energy_retry
                               else "positivity (CFL) bound at a later stage of the step", allowed)
            if reduced is not None and self.dt_fixed is not None and not self._warned_step \
                    and step_dt < self.dt_fixed:
                self._warned_step = True
                name, bound = reduced
                warnings.warn(StepReducedWarning(
                    f"the fixed step dt = {self.dt_fixed:.6g} exceeds the {name} ({bound:.6g}) at "
                    f"t = {self.time:.6g} (step {self.steps + 1}); the steps are reduced to the bounds "
                    f"(evaluated at every step) from here on"), stacklevel=3)
            self.last_step = {"dt": step_dt, "mass_before": float(m.sum()), "energy_before": F_old,
                              "stage_reaction_sums": [e.reaction_sum for e in self._stage_log]}
            self._m = m_new
            self.time = t_end if last else self.time + step_dt
            self.steps += 1
            self.last_dt = step_dt
            if self.quadratic:
                self._maybe_refresh(m_new, C * self.cfl * (ev0.dt_fe_transport if splitting else ev0.dt_fe))
            if callback is not None and callback(self):
                break

    def _maybe_refresh(self, m: np.ndarray, dt_positivity: float) -> None:
        """Recompute the Lanczos bound when the mass increase has loosened it by more than 10% and the
        energy bound may be the binding one (a deterministic function of the state)."""
        inc = float(np.maximum(m - self._lam_ref_m, 0.0) @ self._diag)
        if inc > 0.1 * self._lam_ref:
            lam = self._lam_ref + inc
            if 2.0 * self.energy_safety / (self.alpha * lam) < dt_positivity:
                self._refresh_lambda(m)

    # ------------------------------------------------------------------ energy and diagnostics
    def energy(self) -> float:
        """``F(nu_t)``: ``m.(J + V)/2 + C`` for quadratic models (the exact quadratic form of the grid,
        from the potential the scheme uses), else the model's own."""
        if self.quadratic:
            ev = self._evaluate(self._m)
            return 0.5 * float(self._m @ (ev.J + self._V)) + self._C
        return self.model.energy(self.measure)

    def diagnostics(self) -> dict[str, float]:
        ev = self._evaluate(self._m)
        nu = self.measure
        return {
            "energy": self.energy(),
            "mass": nu.total_mass,
            "Q": nu.balance(),
            "min_J": float(ev.J.min()),
            "min_mass": float(self._m.min()),
            "dt": self.last_dt,
            # the explicit positivity bound (of forward Euler for the linearly implicit stepper, which has
            # none: there it is the measure of how far the steps outgrow the explicit bounds)
            "dt_cfl": (self.stepper.ssp_coefficient or 1.0) * self.cfl * ev.dt_fe,
            "dt_energy": self.energy_safety * ev.dt_energy,
            "steps": float(self.steps),
            "rejected": float(self.rejected),
        }

    def snapshot(self) -> dict[str, np.ndarray]:
        return {"points": self.grid.points, "masses": self._m.copy(), "densities": self.densities()}

    def solve(self, times, callback: Optional[StepCallback] = None) -> dict[str, np.ndarray]:
        """Advance through the increasing output ``times`` and record, at each: densities (T, n),
        energy F, total mass, Q and min over cells of J (T,)."""
        times = np.asarray(times, dtype=np.float64)
        if times.ndim != 1 or np.any(np.diff(times) < 0) or (times.size and times[0] < self.time):
            raise ValueError("times must be a nondecreasing 1-D array starting at or after the current time")
        out: dict[str, list] = {"time": [], "densities": [], "energy": [], "mass": [], "Q": [], "min_J": []}
        for t in times:
            self.advance(t, callback)
            d = self.diagnostics()
            out["time"].append(self.time)
            out["densities"].append(self.densities())
            for k in ("energy", "mass", "Q", "min_J"):
                out[k].append(d[k])
        return {k: np.asarray(v) for k, v in out.items()}

    # ------------------------------------------------------------------ resume
    def state_dict(self) -> dict[str, Any]:
        state = {"masses": self._m.copy(), "time": float(self.time), "steps": int(self.steps),
                 "rejected": int(self.rejected), "last_dt": float(self.last_dt)}
        if self.linearly_implicit and self._dt_proposed is not None:
            state["proposed_dt"] = float(self._dt_proposed)
            state.update({f"rejected_{k}": int(v) for k, v in self.rejections.items()})
            if self._jac_state is not None:
                state.update({"jacobian_state": self._jac_state.copy(), "jacobian_dt": float(self._jac_dt),
                              "jacobian_age": int(self._jac_age), "jacobians": int(self.jacobians)})
        if self.quadratic:
            state["lambda_ref_masses"] = self._lam_ref_m.copy()
            state["lambda_ref"] = float(self._lam_ref)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        m = np.array(state["masses"], dtype=np.float64)
        if m.shape != (self.grid.size,):
            raise ValueError(f"state masses have shape {m.shape}, expected ({self.grid.size},)")
        self._m = m
        self.time = float(state["time"])
        self.steps = int(state["steps"])
        self.rejected = int(state.get("rejected", 0))
        self.last_dt = float(state.get("last_dt", 0.0))
        if self.linearly_implicit:
            self._dt_proposed = float(state["proposed_dt"]) if "proposed_dt" in state else self.dt_fixed
            self.rejections = {k: int(state.get(f"rejected_{k}", 0)) for k in self.rejections}
            self._lu = None
            self._jac_state = None
            if "jacobian_state" in state:
                self._jac_state = np.array(state["jacobian_state"], dtype=np.float64)
                self._jac_dt = float(state["jacobian_dt"])
                self._jac_age = int(state["jacobian_age"])
                self.jacobians = int(state["jacobians"])
        self._cache = None
        if self.quadratic:
            if "lambda_ref_masses" in state:
                self._lam_ref_m = np.array(state["lambda_ref_masses"], dtype=np.float64)
                self._lam_ref = float(state["lambda_ref"])
            else:
                self._refresh_lambda(m)
