"""Gradient estimators: one ABC, six rules (exact, fd, ep, cl, aep, dyadic).

Every estimator answers ``compute_gradient(task, *, backend="native", free=None) -> Gradient``
with dC/dG [V²/S for the MSE] for each trainable conductance G [S]. The phase-based rules build
their phases as circuits (:mod:`circuitlearn.learn.phases`) and apply a *local* rule per resistor
from its voltage drops ΔV in those phases (docs/math.md §2–§5):

- ``exact`` (:class:`Adjoint`): Kᵀμ = c at the free state, dC/dG = −(μ_a − μ_b)(v_a − v_b).
- ``fd`` (:class:`FiniteDifference`): central differences of C through the solver.
- ``ep`` (:class:`EquilibriumProp`): nudged phases ±β; dC/dG ≈ ΔV_0·(ΔV_s1 − ΔV_s2)/((s1 − s2)β)
  over the phases used (s = +1, −1, 0 for free), i.e. (1/β)(x_β − x0)ᵀ∂r/∂G of docs/math.md §3 (the
  energy form ½(ΔV_β² − ΔV_0²)/β agrees to first order): centred (default) O(β²), one-sided O(β).
  Exact only for reciprocal circuits (symmetric K); otherwise the biased vector-field estimate.
- ``cl`` (:class:`CoupledLearning`): outputs clamped to v − sη w; the same local rule with η.
- ``aep`` (:class:`AsymmetricEP`): EP on the corrected circuit (docs/math.md §4), exact to O(β²).
- ``dyadic`` (:class:`DyadicEP`): the twin circuit gives d = −β K0⁻ᵀ c;
  dC/dG = (d_a − d_b)(v_a − v_b)/β,
  exact for any β.

Default β (:func:`default_beta`): ``BETA_FRACTION`` × the mean trainable conductance, since β is
a conductance and must be small against the circuit's (docs/math.md), lowered on a nonlinear
circuit until the phases' first-order move is small (:data:`NUDGE_VOLTAGE`) and their
linearisation holds (:data:`NUDGE_LINEARITY`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.sparse.linalg as spla

from circuitlearn.errors import CircuitError
from circuitlearn.learn.compiled import PhaseSpec, solve_spec
from circuitlearn.learn.phases import (
    PhasePlan,
    aep_circuit,
    aep_parts,
    clamped_circuit,
    free_state,
    nudge_values,
    nudged_circuit,
    twin_circuit,
)
from circuitlearn.learn.task import LearningTask
from circuitlearn.solve import BACKENDS, OperatingPoint
from circuitlearn.solve.mna import compile_circuit
from circuitlearn.solve.newton import solve_native

__all__ = [
    "BETA_FRACTION",
    "FD_STEP",
    "LINEAR_BETA_FRACTION",
    "NUDGE_LINEARITY",
    "VARIANTS",
    "Adjoint",
    "AsymmetricEP",
    "CoupledLearning",
    "DyadicEP",
    "EquilibriumProp",
    "FiniteDifference",
    "Gradient",
    "GradientEstimator",
    "capped_beta",
    "default_beta",
    "nudge_curvature",
    "nudge_sensitivity",
]

BETA_FRACTION = 1e-4
"""Default β = BETA_FRACTION × mean trainable conductance [S] on a nonlinear circuit. Measured
against the exact gradient, centred EP on the reciprocal decks (diode_ladder, nmos_stage,
kendall_layered): 1e-8, 2e-11, 4e-11 relative (one-sided: 3e-5, 9e-5, 8e-7); the centred error
falls as β² down to ~1e-5 × mean G, below which rounding takes over."""

NUDGE_VOLTAGE = 1e-5
"""[V] On a nonlinear circuit the default β keeps every node's first-order move in a phase at or
below this: small against the thermal voltage (25.9 mV) and MOSFET overdrives, so the centred
error stays O(β²)-small even at high gain (two_stage_nmos: 1.8e-4 with the conductance rule
alone, 7e-7 with this bound), and large against the solver's tolerances."""

NUDGE_LINEARITY = 1e-2
"""On a nonlinear circuit the default β keeps each EP and AEP phase's second-order response at or
below this fraction of its first-order move (:func:`nudge_curvature`), so that the phase is the
branch of solutions through the free state and its linearisation holds. A small voltage move
(:data:`NUDGE_VOLTAGE`) is not enough where the phase's own small-signal network is nearly
singular: bjt_bias's AEP phase (the adjoint of a gain stage with RB/RC, K0 of condition 1.5e5)
moves its nodes by 9 µV at 6.4e-9 S, where Newton's second step is already half its first
(η = 0.5) and the negative phase's branch folds back (no solution) at 0.53 × that β. This bound
gives β/50 there: centred AEP error 2.1e-4 (truncation, ≈ 2η²; β² law: 6.4e-2 at β/3, 4.8e-3 at
β/10), a factor 25 below the fold, and near the best β for that circuit, where rounding (its
phases then move by ~0.1 µV) gives 2e-4 to 2e-3 below β/100. Of the other decks only bjt_mirror's
AEP phase (2.5e-2) is above it at the voltage bound; centred EP's and AEP's errors elsewhere are
unchanged."""

LINEAR_BETA_FRACTION = 0.1
"""Default β fraction on a linear circuit (no diode or MOSFET): with the nudge frozen at the free
state the phases are linear in β, so every variant is exact for any β and only rounding, which
grows about as 1/β, remains (AEP on the gain-1e5 vcvs_amplifier: 3.6e-6 at 0.1, 8.7e-4 at 1e-3)."""

FD_STEP = 1e-4
"""Relative step of central finite differences: G·(1 ± FD_STEP). Truncation error ~FD_STEP²;
the solver's residual error (~1e-12 relative) divided by the step takes over below ~1e-5
(diode_ladder: 2.5e-8 relative at 1e-4, 4.7e-7 at 1e-5)."""

VARIANTS: dict[str, tuple[int, ...]] = {
    "centered": (1, -1),
    "positive": (1, 0),
    "negative": (0, -1),
}
"""Nudge signs (s_hi, s_lo) of each variant; 0 stands for the free phase."""

_PHASE_SIGN = {1: "pos", -1: "neg"}


@dataclass
class Gradient:
    """A gradient estimate and how it was obtained.

    Attributes
    ----------
    method : str
        ``exact``, ``fd``, ``ep``, ``cl``, ``aep`` or ``dyadic``.
    beta : float or None
        Nudge strength [S] (CL: clamping factor η; fd: relative step), None for ``exact``.
    cost : float
        C at the free state.
    parameters : dict
        Trainable resistor → conductance G [S].
    values : dict
        Trainable resistor → dC/dG.
    phases : dict
        Phase name → OperatingPoint (``free`` included).
    backend : str
    """

    method: str
    beta: float | None
    cost: float
    parameters: dict[str, float]
    values: dict[str, float]
    phases: dict[str, OperatingPoint] = field(default_factory=dict, repr=False)
    backend: str = "native"

    def __repr__(self) -> str:
        beta = "None" if self.beta is None else f"{self.beta:.3g}"
        return (
            f"Gradient(method={self.method!r}, beta={beta}, cost={self.cost:.6g}, "
            f"n={len(self.values)}, norm={np.linalg.norm(self.vector):.6g}, "
            f"backend={self.backend!r})"
        )

    @property
    def vector(self) -> np.ndarray:
        """dC/dG as an array in parameter order."""
        return np.array(list(self.values.values()), dtype=float)

    def to_dict(self) -> dict[str, Any]:
        """The ``circuitlearn gradient --json`` object (docs/cli.md)."""
        return {
            "method": self.method,
            "beta": None if self.beta is None else float(self.beta),
            "cost": float(self.cost),
            "parameters": {k: float(v) for k, v in self.parameters.items()},
            "gradient": {k: float(v) for k, v in self.values.items()},
        }


def default_beta(task: LearningTask, free: OperatingPoint | None = None) -> float:
    """Default nudge β [S], scaled to the circuit (docs/math.md).

    Linear circuit: :data:`LINEAR_BETA_FRACTION` × the mean trainable conductance (every variant is
    exact there). Nonlinear circuit: :data:`BETA_FRACTION` × the mean trainable conductance, made
    smaller where needed so that no node moves by more than :data:`NUDGE_VOLTAGE` in an EP or AEP
    phase (to first order), which keeps high-gain circuits in the phase's linear regime, and then
    so that the phases' second-order response stays within :data:`NUDGE_LINEARITY` of their
    first-order move (:func:`nudge_curvature`), which keeps each phase on the branch of solutions
    through the free state, well before it folds. ``free`` is the free state (solved natively
    here when not given).
    """
    conductance = float(np.mean(task.conductances))
    if task.system.is_linear:
        return LINEAR_BETA_FRACTION * conductance
    free = task.solve("native") if free is None else free
    at = _linearise(task, free)
    sensitivity = np.array([_sensitivity(task, at)])
    probe = float(capped_beta(conductance, sensitivity)[0])
    curvature = np.array([_curvature(task, at, probe)])
    return float(capped_beta(conductance, sensitivity, curvature)[0])


def capped_beta(
    conductance: float, sensitivity: np.ndarray, curvature: np.ndarray | None = None
) -> np.ndarray:
    """The nonlinear default β [S] for each sensitivity [V/S] (:func:`nudge_sensitivity`) and
    curvature [1/S] (:func:`nudge_curvature`, taken at the β this returns without it).

    :data:`BETA_FRACTION` × the mean trainable ``conductance``, lowered where needed so that no
    node moves by more than :data:`NUDGE_VOLTAGE` and the phases' second-order response stays
    within :data:`NUDGE_LINEARITY` of their first-order move; shared by the single-sample and
    batched paths.
    """
    sensitivity = np.asarray(sensitivity, dtype=float)
    beta = np.full(sensitivity.shape, BETA_FRACTION * conductance)
    capped = sensitivity > 0.0
    beta[capped] = np.minimum(beta[capped], NUDGE_VOLTAGE / sensitivity[capped])
    if curvature is not None:
        curvature = np.asarray(curvature, dtype=float)
        capped = curvature > 0.0
        beta[capped] = np.minimum(beta[capped], NUDGE_LINEARITY / curvature[capped])
    return beta


def nudge_sensitivity(task: LearningTask, free: OperatingPoint) -> float:
    """Largest node-voltage change per unit β [V/S] of the EP or AEP phase, to first order.

    max(‖K0⁻¹c‖∞, ‖K0⁻ᵀc‖∞) over node unknowns: the EP phase moves x by −βK0⁻¹c, the AEP phase
    by −βK0⁻ᵀc (docs/math.md §3–§4).
    """
    return _sensitivity(task, _linearise(task, free))


def nudge_curvature(task: LearningTask, free: OperatingPoint, beta: float) -> float:
    """How fast the EP and AEP phases leave their linearisation: η(β)/β [1/S] at ``beta`` [S].

    Newton's first step from x0 in the phase r(x) + sβc = 0 (EP; Jacobian K0 at x0) or
    r(x) + sβc − (K0 − K0ᵀ)(x − x0) = 0 (AEP; Jacobian K0ᵀ) is d = −sβK0⁻¹c (K0⁻ᵀc), and the
    residual it leaves is, in both, the second-order remainder R = r(x0 + d) − r(x0) − K0 d (the
    AEP correction is linear); the next step is δ = −K0⁻¹R (K0⁻ᵀR). η = ‖δ‖∞/‖d‖∞ over node
    unknowns, the largest over both phases and both signs, grows as β: where it nears 1/4 the
    phase's branch of solutions folds (no solution near x0, docs/learning.md). 0 when nothing
    moves.
    """
    return _curvature(task, _linearise(task, free), beta)


@dataclass
class _Linearisation:
    """The free state x0, K0 there, its LU factors and c = ∂C/∂x (shared by the β rules)."""

    x0: np.ndarray
    k0: Any
    lu: spla.SuperLU
    rhs: np.ndarray


def _linearise(task: LearningTask, free: OperatingPoint) -> _Linearisation:
    x0 = free_state(task, free)
    k0 = task.system.jacobian(x0)
    return _Linearisation(x0, k0, spla.splu(k0.tocsc()), _cost_rhs(task, free))


def _sensitivity(task: LearningTask, at: _Linearisation) -> float:
    nodes = len(task.system.node_index)
    moves = np.concatenate([at.lu.solve(at.rhs)[:nodes], at.lu.solve(at.rhs, trans="T")[:nodes]])
    return float(np.max(np.abs(moves))) if moves.size else 0.0


def _curvature(task: LearningTask, at: _Linearisation, beta: float) -> float:
    system = task.system
    r0 = system.evaluate(at.x0, jacobian=False).residual
    nodes = len(system.node_index)
    eta = 0.0
    for trans in ("N", "T"):
        move = -beta * at.lu.solve(at.rhs, trans=trans)
        size = float(np.max(np.abs(move[:nodes]), initial=0.0))
        if size == 0.0:
            continue
        for d in (move, -move):
            rest = system.evaluate(at.x0 + d, jacobian=False).residual - r0 - at.k0 @ d
            step = at.lu.solve(rest, trans=trans)
            eta = max(eta, float(np.max(np.abs(step[:nodes]))) / size)
    return eta / beta


class GradientEstimator(ABC):
    """Base of every learning rule: ``compute_gradient(task, backend=..., free=...)``."""

    method: ClassVar[str] = ""

    def compute_gradient(
        self, task: LearningTask, *, backend: str = "native", free: OperatingPoint | None = None
    ) -> Gradient:
        """dC/dG of ``task`` at its free state (solved here unless ``free`` is given).

        Raises
        ------
        CircuitError
            Unknown backend or invalid estimator settings.
        ConvergenceError
            A phase has no operating point.
        """
        if backend not in BACKENDS:
            raise CircuitError(
                f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}"
            )
        if not isinstance(task, LearningTask):
            raise CircuitError(
                f"{type(self).__name__}: expected a LearningTask; got {type(task).__name__}"
            )
        free = task.solve(backend) if free is None else free
        values, beta, phases = self._estimate(task, free, backend)
        return Gradient(
            method=self.method,
            beta=beta,
            cost=task.cost_of(free),
            parameters=task.parameters,
            values=dict(zip(task.trainable, np.asarray(values, dtype=float).tolist(), strict=True)),
            phases={"free": free, **phases},
            backend=backend,
        )

    def phase_spec(self, task: LearningTask, free: OperatingPoint) -> PhaseSpec | None:
        """The learning phases of this rule at ``free`` (None for rules without phases)."""
        return None

    def phase_plan(self, task: LearningTask, free: OperatingPoint) -> PhasePlan | None:
        """The learning-phase circuits of this rule (None for rules without phases)."""
        spec = self.phase_spec(task, free)
        return None if spec is None else spec.plan()

    @abstractmethod
    def _estimate(
        self, task: LearningTask, free: OperatingPoint, backend: str
    ) -> tuple[np.ndarray, float | None, dict[str, OperatingPoint]]:
        """(dC/dG values, β, phase operating points)."""

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({args})"

    def _params(self) -> dict[str, Any]:
        return {}


class Adjoint(GradientEstimator):
    """Exact gradient by the adjoint method: Kᵀμ = c at the free state (docs/math.md §2).

    K is the native MNA Jacobian, evaluated at the free state of either backend; fixed nodes and
    ground have μ = 0.
    """

    method = "exact"

    def _estimate(
        self, task: LearningTask, free: OperatingPoint, backend: str
    ) -> tuple[np.ndarray, None, dict]:
        system = task.system
        x0 = free_state(task, free)
        mu = _free_lu(task, free).solve(_cost_rhs(task, free), trans="T")
        mu_ext = np.concatenate([mu, np.zeros(len(system.fixed_nodes) + 1)])
        v_ext = system.extended(x0)
        a, b = _ends(task)
        return -(mu_ext[a] - mu_ext[b]) * (v_ext[a] - v_ext[b]), None, {}


class FiniteDifference(GradientEstimator):
    """Central finite differences of C through the solver: G·(1 ± step) per parameter.

    Parameters
    ----------
    step : float
        Relative step on each conductance (default :data:`FD_STEP`).
    """

    method = "fd"

    def __init__(self, step: float = FD_STEP) -> None:
        self.step = _positive(step, "FiniteDifference", "step")

    def _params(self) -> dict[str, Any]:
        return {"step": self.step}

    def _estimate(
        self, task: LearningTask, free: OperatingPoint, backend: str
    ) -> tuple[np.ndarray, float, dict]:
        g = task.conductances
        out = np.zeros(len(g))
        system = compile_circuit(task.circuit) if backend == "native" else None
        for j, name in enumerate(task.trainable):
            costs = []
            for sign in (1.0, -1.0):
                value = g[j] * (1.0 + sign * self.step)
                if system is not None:
                    system.set_values({name: 1.0 / value})
                    op = solve_native(
                        system,
                        x0=free.state if _fits(free, system) else None,
                        raise_on_failure=True,
                    )
                else:
                    circuit = task.circuit.copy()
                    circuit.replace(circuit[name].with_conductance(value))
                    op = task.solve(backend, circuit=circuit)
                costs.append(task.cost_of(op))
            if system is not None:
                system.set_values({name: 1.0 / g[j]})
            out[j] = (costs[0] - costs[1]) / (2.0 * self.step * g[j])
        return out, self.step, {}


class _PhaseEstimator(GradientEstimator):
    """Shared machinery of the rules with learning phases: plan, solve, local rule."""

    def __init__(self, beta: float | None = None, variant: str = "centered") -> None:
        self.beta = None if beta is None else _positive(beta, type(self).__name__, "beta")
        if variant not in VARIANTS:
            raise CircuitError(
                f"{type(self).__name__}: unknown variant {variant!r}; "
                f"expected one of {', '.join(VARIANTS)}"
            )
        self.variant = variant

    def _params(self) -> dict[str, Any]:
        return {"variant": self.variant, "beta": self.beta}

    def resolved_beta(self, task: LearningTask, free: OperatingPoint | None = None) -> float:
        """β [S] used on ``task`` at free state ``free``: the given one or :func:`default_beta`."""
        return default_beta(task, free) if self.beta is None else self.beta

    def _signs(self) -> list[int]:
        return [s for s in VARIANTS[self.variant] if s != 0]

    def _estimate(
        self, task: LearningTask, free: OperatingPoint, backend: str
    ) -> tuple[np.ndarray, float, dict]:
        spec = self.phase_spec(task, free)
        assert spec is not None and spec.beta is not None
        beta = spec.beta
        ops = solve_spec(task, spec, backend)
        drop0 = task.drops(free)
        drops = {0: drop0}
        for s in self._signs():
            drops[s] = task.drops(ops[f"{self.method}_{_PHASE_SIGN[s]}"])
        hi, lo = VARIANTS[self.variant]
        return (drops[hi] - drops[lo]) * drop0 / ((hi - lo) * beta), beta, ops


class EquilibriumProp(_PhaseEstimator):
    """Equilibrium propagation: output nudging currents −β ∂C/∂v (docs/math.md §3).

    Parameters
    ----------
    beta : float [S], optional
        Nudge strength (default :func:`default_beta`).
    variant : {"centered", "positive", "negative"}
    """

    method = "ep"

    def phase_spec(self, task: LearningTask, free: OperatingPoint) -> PhaseSpec:
        beta = self.resolved_beta(task, free)
        signs = self._signs()
        nudge = nudge_values(task, beta, free)
        return PhaseSpec(
            ("ep",),
            lambda: nudged_circuit(task, signs[0] * beta, free),
            list(nudge),
            {f"ep_{_PHASE_SIGN[s]}": s * np.array(list(nudge.values())) for s in signs},
            dict(free.voltages),
            dict(free.currents),
            beta,
            np.zeros(len(nudge)),
        )


class AsymmetricEP(_PhaseEstimator):
    """Asymmetric EP: EP on the circuit plus the mirror −(K0 − K0ᵀ)(x − x0) (docs/math.md §4).

    Parameters as :class:`EquilibriumProp`.
    """

    method = "aep"

    def phase_spec(self, task: LearningTask, free: OperatingPoint) -> PhaseSpec:
        beta = self.resolved_beta(task, free)
        signs = self._signs()
        _, values, new_v, new_i = aep_parts(task, free, build=False)
        key = ("aep", tuple(values))
        nudge = nudge_values(task, beta, free)
        terms = np.array(list(values.values()))
        return PhaseSpec(
            key,
            lambda: aep_circuit(task, signs[0] * beta, free)[0],
            [*values, *nudge],
            {
                f"aep_{_PHASE_SIGN[s]}": np.concatenate([terms, s * np.array(list(nudge.values()))])
                for s in signs
            },
            {**free.voltages, **new_v},
            {**free.currents, **new_i},
            beta,
            np.concatenate([terms, np.zeros(len(nudge))]),
        )


class CoupledLearning(_PhaseEstimator):
    """Coupled learning (Stern et al. 2021): outputs clamped near their free voltages.

    Phase s clamps output k to v_k − s·η·w_k and the local rule is EP's with η in place of β:
    dC/dG ≈ ΔV_F·(ΔV_C − ΔV_F)/η (one-sided; Stern et al.'s (ΔV_C² − ΔV_F²)/(2η) to first
    order), centred by default.

    Parameters
    ----------
    beta : float, optional
        The clamping factor η. ``clamp="matched"``: a conductance [S] (default
        :func:`default_beta`); ``clamp="relative"``: dimensionless (default 1e-3).
    variant : {"centered", "positive", "negative"}
    clamp : {"matched", "relative"}
        ``relative`` is Stern et al.'s clamp v + η(y − v) (w = ∂C/∂v); as η → 0 its rule tends to
        Σ_k (G_out ∂C/∂v)_k dv_k/dG, the gradient with the cost gradient weighted by the output
        conductance matrix G_out = R_out⁻¹. ``matched`` uses w = R_out ∂C/∂v with R_out the
        free-state output resistance matrix [Ω] (one solve per output), so the clamp moves the
        outputs exactly as the nudge β = η would: the rule tends to the gradient (error O(η),
        O(η²) centred) on reciprocal circuits.
    """

    method = "cl"
    CLAMPS: ClassVar[tuple[str, ...]] = ("matched", "relative")

    def __init__(
        self, beta: float | None = None, variant: str = "centered", clamp: str = "matched"
    ) -> None:
        super().__init__(beta, variant)
        if clamp not in self.CLAMPS:
            raise CircuitError(
                f"CoupledLearning: unknown clamp {clamp!r}; "
                f"expected one of {', '.join(self.CLAMPS)}"
            )
        self.clamp = clamp

    def _params(self) -> dict[str, Any]:
        return {**super()._params(), "clamp": self.clamp}

    def resolved_beta(self, task: LearningTask, free: OperatingPoint | None = None) -> float:
        if self.beta is not None:
            return self.beta
        return default_beta(task, free) if self.clamp == "matched" else 1e-3

    def phase_spec(self, task: LearningTask, free: OperatingPoint) -> PhaseSpec:
        eta = self.resolved_beta(task, free)
        w = task.cost_gradient(free)
        if self.clamp == "matched":
            w = output_resistance(task, free) @ w
        v = task.output_voltages(free)
        signs = self._signs()
        return PhaseSpec(
            ("cl",),
            lambda: clamped_circuit(task, v - signs[0] * eta * w),
            [f"v_clamp{task.tag}_{k}" for k in range(len(v))],
            {f"cl_{_PHASE_SIGN[s]}": v - s * eta * w for s in signs},
            dict(free.voltages),
            dict(free.currents),
            eta,
            v,
        )


class DyadicEP(GradientEstimator):
    """Dyadic EP through the twin (adjoint) circuit (docs/math.md §5): exact for any β.

    Parameters
    ----------
    beta : float [S], optional
        Drive strength of the twin (default :func:`default_beta`; it only scales d).
    """

    method = "dyadic"

    def __init__(self, beta: float | None = None) -> None:
        self.beta = None if beta is None else _positive(beta, "DyadicEP", "beta")

    def _params(self) -> dict[str, Any]:
        return {"beta": self.beta}

    def phase_spec(self, task: LearningTask, free: OperatingPoint) -> PhaseSpec:
        beta = default_beta(task, free) if self.beta is None else self.beta
        return PhaseSpec(
            None, lambda: twin_circuit(task, beta, free), [], {"twin": np.zeros(0)}, beta=beta
        )

    def _estimate(
        self, task: LearningTask, free: OperatingPoint, backend: str
    ) -> tuple[np.ndarray, float, dict]:
        spec = self.phase_spec(task, free)
        ops = solve_spec(task, spec, backend)
        return task.drops(ops["twin"]) * task.drops(free) / spec.beta, spec.beta, ops


def output_resistance(task: LearningTask, free: OperatingPoint) -> np.ndarray:
    """R_out [Ω]: ∂v_out/∂(current injected at the outputs) at the free state, Eᵀ K0⁻¹ E."""
    system = task.system
    rows = [system.node_index[node] for node in task.outputs]
    rhs = np.zeros((system.n, len(rows)))
    rhs[rows, np.arange(len(rows))] = 1.0
    return _free_lu(task, free).solve(rhs)[rows, :]


def _free_lu(task: LearningTask, free: OperatingPoint) -> spla.SuperLU:
    """LU factors of the native Jacobian K0 at the free state (solve with ``trans="T"`` for K0ᵀ)."""
    return spla.splu(task.system.jacobian(free_state(task, free)).tocsc())


def _cost_rhs(task: LearningTask, free: OperatingPoint) -> np.ndarray:
    """c = ∂C/∂x at the free state as an MNA vector (non-zero at the output nodes only)."""
    system = task.system
    rhs = np.zeros(system.n)
    rhs[[system.node_index[node] for node in task.outputs]] = task.cost_gradient(free)
    return rhs


def _ends(task: LearningTask) -> tuple[np.ndarray, np.ndarray]:
    system = task.system
    a = np.array([system.extended_index(n1) for n1, _ in task.resistor_nodes], dtype=int)
    b = np.array([system.extended_index(n2) for _, n2 in task.resistor_nodes], dtype=int)
    return a, b


def _fits(op: OperatingPoint, system: Any) -> bool:
    return op.state is not None and np.shape(op.state) == (system.n,)


def _positive(value: Any, who: str, name: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not np.isfinite(value)
        or value <= 0
    ):
        raise CircuitError(f"{who}: {name} must be a positive number; got {value!r}")
    return float(value)
