"""A small exact test solver and model, registered as a wgf plugin (``WGF_PLUGINS=wgf_toy``).

Used by the controller / I/O / command-line tests only; importing it registers the model type
``toy_linear`` and the solver section ``[toy]``.

- ``ToyLinear``: ``F(nu) = int J dnu`` with the fixed potential ``J(eta) = c + g . eta`` (c > |g| keeps
  J > 0), so the Fisher–Rao flow ``dm/dt = -alpha J m`` on fixed points has the exact solution
  ``m(t) = m(0) exp(-alpha J t)``.
- ``ToySolver``: that flow on a handful of points with its potential frozen at t = 0 (exact for
  ``ToyLinear``), stepped exactly, with an adaptive step (grows by ``growth`` up to ``dt_max``, shortened
  to land on t_end), a seeded multiplicative RNG perturbation ``1 + noise (u - 1/2)`` per step (to
  exercise RNG-state resume), and test hooks: ``sleep`` per step, ``blowup_at`` with ``blowup_mode``
  (from that time: NaN or negative masses, a raised BlowUp, or an infinite energy), and the module-level
  :data:`HOOKS` (not part of the case, so that an interrupted run has the same case as an uninterrupted
  one): after step ``signal_at_step`` the process sends itself SIGINT; after step ``keyboard_at_step``
  KeyboardInterrupt is raised (a second Ctrl-C).
"""

from __future__ import annotations

import json
import os
import signal
import time as _time

import numpy as np

from wgf.app import cases
from wgf.geometry import sphere
from wgf.app.io import file_contents
from wgf.geometry.measure import Measure
from wgf.models.base import Model
from wgf.discretisations.solver import BlowUp, Solver
from tomli_w import dumps as toml_dumps


#: Test hooks read at every step (step numbers count from 1 over the whole run, resumes included).
HOOKS: dict = {"signal_at_step": None, "keyboard_at_step": None}


class ToyLinear(Model):
    """``F(nu) = int (c + g . eta) dnu`` on S^d, d = len(g) - 1."""

    def __init__(self, g, c: float = 2.0):
        g = np.asarray(g, dtype=float)
        if g.ndim != 1 or g.size < 2:
            raise ValueError(f"g must be a vector of length d+1 >= 2, got shape {g.shape}")
        if not np.all(np.isfinite(g)):
            raise ValueError("g contains NaN or inf")
        c = float(c)
        if not np.isfinite(c) or c <= np.linalg.norm(g):
            raise ValueError(f"c must be finite and > |g| = {np.linalg.norm(g):.6g} (so that J > 0), got {c}")
        self.g, self.c, self.dim = g, c, g.size - 1

    def _potential(self, points, measure, backend):
        J = self.c + points @ self.g
        G = self.g[None, :] - (points @ self.g)[:, None] * points
        return J, G

    def energy(self, measure):
        self.check_measure(measure)
        return float(measure.masses @ (self.c + measure.points @ self.g))

    def distance(self, mu, nu):
        """|int J dmu - int J dnu| (a test 'predictor distance')."""
        return abs(self.energy(mu) - self.energy(nu))


class ToySolver(Solver):
    kind = "toy"

    def __init__(self, model, measure, *, alpha: float = 4.0, beta: float = 1.0, dt: float = 0.01,
                 growth: float = 1.5, dt_max: float = 0.05, noise: float = 1e-3, seed: int = 0,
                 sleep: float = 0.0, blowup_at: float | None = None, blowup_mode: str = "nan"):
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive finite number, got {dt}")
        if not (np.isfinite(dt_max) and dt_max >= dt):
            raise ValueError(f"dt_max must be finite and >= dt, got {dt_max}")
        if not (growth >= 1.0 and np.isfinite(growth)):
            raise ValueError(f"growth must be >= 1, got {growth}")
        if not (0 <= noise < 1):
            raise ValueError(f"noise must be in [0, 1), got {noise}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if blowup_mode not in ("nan", "negative", "raise", "energy"):
            raise ValueError(f"blowup_mode must be nan, negative, raise or energy, got {blowup_mode!r}")
        self.model = model
        self.alpha, self.beta = float(alpha), float(beta)
        self.points = measure.points.copy()
        self.masses = measure.masses.copy()
        self.J = model.potential(self.points, measure)[0]
        self.dt, self.growth, self.dt_max, self.noise = float(dt), float(growth), float(dt_max), float(noise)
        self.rng = np.random.default_rng(seed)
        self.sleep, self.blowup_at = sleep, blowup_at
        self.blowup_mode = blowup_mode
        self.time, self.steps = 0.0, 0

    @property
    def measure(self):
        return Measure(self.points, self.masses)

    def _advance(self, t_end, callback=None):
        while self.time < t_end:
            h = min(self.dt, t_end - self.time)
            self.masses = self.masses * np.exp(-self.alpha * self.J * h)
            self.masses = self.masses * (1.0 + self.noise * (self.rng.random(self.masses.size) - 0.5))
            landed = h == t_end - self.time
            self.time = t_end if landed else self.time + h
            if h == self.dt:
                self.dt = min(self.dt * self.growth, self.dt_max)
            self.steps += 1
            if self.blown_up and self.blowup_mode in ("nan", "negative"):
                self.masses[0] = np.nan if self.blowup_mode == "nan" else -1.0
            if self.blown_up and self.blowup_mode == "raise":
                raise BlowUp("the toy solver gave up")
            if self.sleep:
                _time.sleep(self.sleep)
            if HOOKS["signal_at_step"] == self.steps:
                os.kill(os.getpid(), signal.SIGINT)
            if HOOKS["keyboard_at_step"] == self.steps:
                raise KeyboardInterrupt
            if callback is not None and callback(self):
                return

    def estimate_steps(self, t_end: float) -> float:
        """The steps to ``t_end`` without stops in between (the work estimate's protocol): the step grows
        by ``growth`` to ``dt_max``, the last one is shortened to land on ``t_end``; counted step by step
        up to 10^6 steps, then at ``dt_max`` (or ``dt`` without growth)."""
        t, h, n = self.time, self.dt, 0
        while t < t_end and n < 10**6:
            step = min(h, t_end - t)
            t = t_end if step == t_end - t else t + step
            if step == h:
                h = min(h * self.growth, self.dt_max)
            n += 1
        return float(n) if t >= t_end else n + (t_end - t) / h

    @property
    def blown_up(self) -> bool:
        return self.blowup_at is not None and self.time >= self.blowup_at

    def energy(self):
        return np.inf if self.blown_up and self.blowup_mode == "energy" else super().energy()

    def state_dict(self):
        return {"masses": self.masses.copy(), "time": self.time, "steps": self.steps, "dt": self.dt,
                "rng": json.dumps(self.rng.bit_generator.state)}

    def load_state_dict(self, state):
        self.masses = np.array(state["masses"], dtype=float)
        self.time, self.steps, self.dt = float(state["time"]), int(state["steps"]), float(state["dt"])
        self.rng.bit_generator.state = json.loads(state["rng"])


def _expand_toy(case, path, table):
    own = {"name", "n"}
    kwargs = cases.solver_kwargs(path, table, ToySolver, own=own,
                                 supplied={"model": "[model]", "measure": "[initial]", "alpha": "[flow]",
                                           "beta": "[flow]"})
    n = cases.check_int(path, "n", table.get("n", 6), minimum=1, maximum=10_000)
    name = cases.run_name(path, table, path.replace("[", "_").rstrip("]"))

    def build():
        pts = sphere.quasi_uniform_points(n, case.dim)
        return cases.BuiltRun(ToySolver(case.model, case.initial.measure(pts), alpha=case.alpha,
                                        beta=case.beta, **kwargs))
    return [cases.RunSpec(name, "toy", path, {"n": n, **kwargs}, build, table)]


cases.register_model("toy_linear", lambda: ToyLinear, arrays={"g": 1})
cases.register_solver("toy", _expand_toy)


# ------------------------------------------------------------------------------------------------ fakes
# Stand-ins for wgf.geometry.grid / wgf.discretisations.eulerian / wgf.discretisations.lagrangian / wgf.discretisations.network with the constructor signatures the
# builders of wgf.app.cases expect (the real modules are written on other branches): each wraps ToySolver, so
# that the builders, the report and the figures can be tested end to end now.
import types  # noqa: E402


class FakeGrid:
    def __init__(self, points):
        self.points = points
        self.volumes = np.full(len(points), sphere.sphere_area(points.shape[1] - 1) / len(points))


def _fake_grid_module():
    mod = types.ModuleType("wgf.geometry.grid")

    def circle_grid(n):
        return FakeGrid(sphere.circle_points(n))

    def icosahedral_grid(level, lloyd=0):
        if level < 0:
            raise ValueError(f"level must be >= 0, got {level}")
        return FakeGrid(sphere.fibonacci_sphere(10 * 4**level + 2))
    mod.circle_grid, mod.icosahedral_grid = circle_grid, icosahedral_grid
    return mod


def _fake_eulerian_module():
    mod = types.ModuleType("wgf.discretisations.eulerian")

    class EulerianSolver(ToySolver):
        kind = "eulerian"

        def __init__(self, model, grid, masses, *, alpha=4.0, beta=1.0, scheme="upwind", stepper="ssprk2",
                     cfl=0.5, dt=None, interaction_memory=None):
            if scheme not in ("upwind", "muscl"):
                raise ValueError(f"scheme must be 'upwind' or 'muscl', got {scheme!r}")
            if not cfl > 0:
                raise ValueError(f"cfl must be > 0, got {cfl}")
            super().__init__(model, Measure(grid.points, masses), alpha=alpha, beta=beta, noise=0.0)
            self.grid = grid
    mod.EulerianSolver = EulerianSolver
    return mod


def _fake_lagrangian_module():
    mod = types.ModuleType("wgf.discretisations.lagrangian")

    class LagrangianSolver(ToySolver):
        kind = "lagrangian"

        def __init__(self, model, measure, *, alpha=4.0, beta=1.0, stepper="rk4", dt=0.01, rtol=None,
                     atol=None):
            super().__init__(model, measure, alpha=alpha, beta=beta, dt=dt, dt_max=max(dt, 0.05), noise=0.0)
    mod.LagrangianSolver = LagrangianSolver
    return mod


def _fake_network_module():
    mod = types.ModuleType("wgf.discretisations.network")

    class NetworkTrainer(ToySolver):
        kind = "network"

        def __init__(self, model, weights, *, step_size, layer_steps=(1.0, 1.0), sequential=False,
                     method="full", batch_size=100, seed=0):
            if not step_size > 0:
                raise ValueError(f"step_size must be > 0, got {step_size}")
            if method not in ("full", "sgd"):
                raise ValueError(f"method must be 'full' or 'sgd', got {method!r}")
            w = np.asarray(weights, float)
            self.m = w.shape[0]
            super().__init__(model, Measure.from_weights(w), dt=step_size, dt_max=step_size, growth=1.0,
                             noise=1e-2, seed=seed % 2**32)

    def initial_weights(m, dim, *, kind="uniform", radius=1.0, seed=None):
        if kind not in ("uniform", "balanced"):
            raise ValueError(f"kind must be 'uniform' or 'balanced', got {kind!r}")
        return radius * sphere.sample_uniform(m, dim, seed)
    mod.NetworkTrainer, mod.initial_weights = NetworkTrainer, initial_weights
    return mod


def install_fake_solvers(monkeypatch) -> None:
    """Put the fake grid / eulerian / lagrangian / network modules in sys.modules (pytest monkeypatch)."""
    import sys
    for name, make in (("wgf.geometry.grid", _fake_grid_module), ("wgf.discretisations.eulerian", _fake_eulerian_module),
                       ("wgf.discretisations.lagrangian", _fake_lagrangian_module), ("wgf.discretisations.network", _fake_network_module)):
        monkeypatch.setitem(sys.modules, name, make())


# ------------------------------------------------------------------------------------------------ helpers
def toy_case(**overrides) -> dict:
    """A small valid toy case as a dict; ``overrides`` replace whole sections (None deletes one)."""
    doc = {
        "title": "toy case",
        "model": {"type": "toy_linear", "g": [0.5, -0.3, 0.2], "c": 1.5},
        "initial": {"type": "uniform", "mass": 1.0},
        "flow": {"alpha": 4.0, "beta": 1.0},
        "time": {"final": 1.0, "snapshots": 3, "records": 12, "spacing": "log"},
        "toy": {"n": 8, "dt": 0.01, "dt_max": 0.04},
    }
    for k, v in overrides.items():
        if v is None:
            doc.pop(k, None)
        else:
            doc[k] = v
    return doc


def write_case(path, doc: dict) -> str:
    text = toml_dumps(doc)
    with open(path, "w") as f:
        f.write(text)
    return str(path)


def assert_same_output(a, b, ignore=()) -> None:
    """Bit-for-bit equality of two output files (wall-clock attributes and ``ignore`` entries aside)."""
    ca, cb = file_contents(a), file_contents(b)
    for k in ignore:
        ca.pop(k, None), cb.pop(k, None)
    assert sorted(ca) == sorted(cb), (sorted(set(ca) ^ set(cb)))[:10]
    diff = [k for k in ca if ca[k] != cb[k]]
    assert not diff, f"differing entries: {diff[:10]}"
