"""Tracked gradient descent on fixed targets, and the ``circuitlearn conservation`` run.

:func:`tracked_descent` trains a circuit with plain gradient steps Δk = −lr·ĝ (ĝ from any
estimator of :mod:`circuitlearn.learn`), feeding a :class:`ConservationTracker` and a
:class:`ConvergenceReport` once per step. :func:`conservation_run` wraps it with the applicability
analysis and returns exactly the JSON object of ``circuitlearn conservation --json``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from circuitlearn.circuit import Circuit
from circuitlearn.diagnostics.applicability import Applicability, analyze_applicability
from circuitlearn.diagnostics.conservation import ConservationTracker, ConservationWarning
from circuitlearn.diagnostics.convergence import ConvergenceReport
from circuitlearn.diagnostics.rules import EnergyFormRule
from circuitlearn.errors import CircuitError
from circuitlearn.learn.api import load_circuit
from circuitlearn.learn.estimators import output_resistance
from circuitlearn.learn.methods import make_estimator, names
from circuitlearn.learn.optim import G_FLOOR, Optimizer
from circuitlearn.learn.task import LearningTask

__all__ = [
    "DEFAULT_LR_FRACTION",
    "DEFAULT_STEPS",
    "TrainingTrace",
    "conservation_run",
    "default_lr",
    "tracked_descent",
]

DEFAULT_LR_FRACTION = 1e-3
"""Default learning rate as a fraction of ‖G‖/‖∂C/∂G‖ (:func:`default_lr`): each step moves the
conductances by at most 0.1 % of their norm, so 100 steps add a discretisation drift of at most
about 1e-4·Q0 (docs/math.md §7)."""

DEFAULT_STEPS = 100
"""Default number of training steps of :func:`conservation_run`."""


@dataclass
class TrainingTrace:
    """Result of :func:`tracked_descent`.

    Attributes
    ----------
    tracker : ConservationTracker
    report : ConvergenceReport
    circuit : Circuit
        The circuit with the final conductances.
    lr : float
        Learning rate used [S²/V²].
    beta : float or None
        Nudging / clamping factor used.
    clipped : int
        Number of conductance updates projected to the floor.
    """

    tracker: ConservationTracker
    report: ConvergenceReport
    circuit: Circuit
    lr: float
    beta: float | None
    clipped: int


def default_lr(conductances: Sequence[float], gradient: Sequence[float]) -> float:
    """lr = :data:`DEFAULT_LR_FRACTION` × min(‖G‖/‖g‖, min_j G_j/|g_j|) [S²/V²].

    The first term is the scale-aware rate of docs/math.md; the second keeps every single
    conductance from moving by more than the same fraction of itself per step, so a default run
    does not drive small conductances to the floor (clipping would break the law). 1 when the
    gradient vanishes.

    Examples
    --------
    >>> default_lr([1e-4, 1e-5], [1.0, 0.0]) == 1e-3 * 1e-4
    True
    """
    k = np.abs(np.asarray(conductances, dtype=float))
    g = np.abs(np.asarray(gradient, dtype=float))
    norm = float(np.linalg.norm(g))
    if norm == 0:
        return 1.0
    moving = g > 0
    return DEFAULT_LR_FRACTION * min(
        float(np.linalg.norm(k)) / norm, float(np.min(k[moving] / g[moving]))
    )


def tracked_descent(
    circuit: Circuit,
    trainable: Sequence[str],
    outputs: Mapping[str, float],
    *,
    method: str = "exact",
    variant: str = "centered",
    beta: float | None = None,
    clamp: str = "matched",
    rule: str = "product",
    nudge: str = "frozen",
    lr: float | None = None,
    steps: int = DEFAULT_STEPS,
    rates: Sequence[float] | None = None,
    floor: float = G_FLOOR,
    applicable: bool = True,
    alignment: bool = False,
    tolerance: float | None = None,
) -> TrainingTrace:
    """Plain gradient descent on fixed targets, measured by a tracker and a convergence report.

    Parameters
    ----------
    circuit : Circuit
    trainable : sequence of str
        Trainable resistor names or globs.
    outputs : mapping node → target [V]
    method : {"exact", "ep", "cl"}
        Gradient estimator (``exact`` = adjoint).
    variant : {"centered", "positive", "negative"}
        EP / CL variant.
    beta : float, optional
        EP nudging β [S] or CL clamping factor η; default
        :func:`circuitlearn.learn.estimators.default_beta` (1e-3 × mean trainable conductance).
    clamp : {"matched", "relative"}
        CL clamp.
    rule : {"product", "energy"}
        Local-rule form: ``product`` is circuitlearn.learn's EP/CL (conserves Q exactly where the
        law applies); ``energy`` the form whose drift rates docs/math.md §7 gives
        (:class:`~circuitlearn.diagnostics.rules.EnergyFormRule`).
    nudge : {"frozen", "state"}
        EP nudge of the energy-form rule.
    lr : float [S²/V²], optional
        Learning rate; default :func:`default_lr` at the first step.
    steps : int
    rates : sequence of float, optional
        Per-edge learning rates α_j (relative; the step is Δk_j = −lr·α_j·g_j and the tracked
        quantity Σ k_j²/(2α_j)); all 1 by default.
    floor : float [S]
        Conductance floor of the projection.
    applicable : bool
        Passed to the tracker (no warnings when the law does not apply).
    alignment : bool
        Also compute the exact gradient each step for the alignment curve (one adjoint solve).
    tolerance : float, optional
        Tracker tolerance.

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> c = Circuit("ladder"); _ = c.add(VoltageSource("v1", "in", "0", 1.0))
    >>> for e in (Resistor("r1", "in", "a", 1e4), Resistor("r2", "a", "0", 2e4),
    ...           Resistor("r3", "a", "out", 3e4), Resistor("r4", "out", "0", 4e4)):
    ...     _ = c.add(e)
    >>> trace = tracked_descent(c, ["r*"], {"out": 0.3}, method="ep", steps=5)
    >>> summary = trace.tracker.summary()
    >>> abs(summary["bias_drift"]) < 1e-9, summary["discretisation_drift"] < 1e-6
    (True, True)
    """
    if steps < 1:
        raise CircuitError(f"tracked_descent: steps must be ≥ 1; got {steps}")
    task = LearningTask(circuit, list(trainable), dict(outputs))
    names = list(task.trainable)
    k = task.conductances
    estimator = _estimator(method, variant, beta, clamp, rule, nudge)
    if method != "exact" and beta is None:  # fix β once, so every step uses the tracker's β
        beta = estimator.resolved_beta(task)
        estimator = _estimator(method, variant, beta, clamp, rule, nudge)
    exact_estimator = make_estimator("exact") if alignment and method != "exact" else None
    alpha = np.ones(len(names)) if rates is None else np.asarray(rates, dtype=float)
    tracker = ConservationTracker(
        dict(zip(names, k, strict=True)),
        rates=alpha,
        method=method,
        variant=variant,
        beta=beta,
        clamp=clamp,
        rule=rule,
        nudge=nudge,
        applicable=applicable,
        tolerance=tolerance,
    )
    report = ConvergenceReport()
    predict = method != "exact" and rule == "energy" and variant != "centered"
    clipped = 0
    optimizer: Optimizer | None = None
    for _ in range(steps):
        grad = estimator.compute_gradient(task)
        g = np.array([grad.values[n] for n in names])
        if optimizer is None:  # the training loops' optimizer: plain SGD keeps the law
            lr = default_lr(k, alpha * g) if lr is None else lr
            optimizer = Optimizer("sgd", lr=lr, floor=floor, factors=alpha)
        free = grad.phases["free"]
        error = task.cost_gradient(free) if predict else None
        r_out = output_resistance(task, free) if predict else None
        k, n_clipped = optimizer.step(k, g)
        clipped += n_clipped
        tracker.update(k, lr=lr, gradient=g, cost=grad.cost, error=error, r_out=r_out)
        exact = None
        if alignment:
            exact = (
                exact_estimator.compute_gradient(task, free=free).values
                if exact_estimator
                else grad.values
            )
        report.record_step(
            grad.phases, cost=grad.cost, estimate=grad.values if alignment else None, exact=exact
        )
        task = task.with_conductances(k)
    return TrainingTrace(tracker, report, task.circuit, float(lr), beta, clipped)


def conservation_run(
    circuit: Circuit | str | Path,
    trainable: Sequence[str],
    outputs: Mapping[str, float],
    *,
    method: str = "ep",
    beta: float | None = None,
    lr: float | None = None,
    steps: int = DEFAULT_STEPS,
    plot: str | Path | None = None,
) -> dict[str, Any]:
    """Train on fixed targets and report the conserved quantity: the ``conservation --json`` object.

    Parameters
    ----------
    circuit : Circuit, or path of a netlist
    trainable : sequence of str
        Trainable resistor names or globs (``--trainable``).
    outputs : mapping node → target [V]
        ``--output NODE=TARGET``.
    method : {"ep", "cl", "exact"}
        ``ep`` is centred EP.
    beta : float [S], optional
        Nudging (EP) or clamping factor η (CL); default 1e-3 × mean trainable conductance.
    lr : float [S²/V²], optional
        Default :func:`default_lr` at the start (≤ 1e-3 × ‖G‖/‖∂C/∂G‖).
    steps : int
    plot : path, optional
        Save the δ(t)-and-loss figure there (PNG).

    Returns
    -------
    dict
        ``quantity, initial, final, relative_drift, cost_initial, cost_final, linear, applicable,
        reasons`` (the CLI contract), plus ``bias_drift`` (Σ k·Δk / Q0), ``discretisation_drift``
        (Σ ½‖Δk‖² / Q0), ``predicted_bias_drift``, ``predicted_discretisation_drift``, ``ratio``,
        ``euler_residual``, ``method``, ``variant``, ``clamp``, ``beta``, ``lr``, ``steps``,
        ``clipped``,
        ``message``, ``warnings`` (the tracker's, caught here) and ``convergence`` (Newton
        iterations, homotopy strategies and KCL residuals per phase). When the law does not apply —
        including when updates were clipped at the conductance floor during the run — the drift is
        still reported, as information.
    """
    if method not in names(conservation=True):
        valid = ", ".join(names(conservation=True))
        raise CircuitError(f"conservation: unknown method {method!r}; expected one of {valid}")
    circuit = load_circuit(circuit)
    verdict = _applicability(circuit, trainable, outputs, method)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConservationWarning)
        trace = tracked_descent(
            circuit,
            trainable,
            outputs,
            method=method,
            beta=beta,
            lr=lr,
            steps=steps,
            applicable=verdict.applicable,
        )
    reasons = list(verdict.reasons)
    if trace.clipped:
        reasons.append(
            f"{trace.clipped} conductance update(s) were clipped at the floor {G_FLOOR:g} S "
            "during training: "
            "clipping breaks the gradient flow (use a smaller --lr or fewer --steps)"
        )
    applicable = verdict.applicable and not trace.clipped
    summary = trace.tracker.summary()
    costs = trace.tracker.series("cost")
    final_cost = _final_cost(trace.circuit, trace.tracker.names, outputs)
    if applicable:
        message = (
            f"the law applies: Q = ½ΣG² is conserved by the {method} flow; the drift of discrete "
            "steps is discretisation_drift (O(lr)) and relative_drift = bias_drift + "
            "discretisation_drift"
        )
    else:
        message = (
            "the conservation law does not apply to this circuit/task; "
            "the drift is reported as information only"
        )
    result = {
        "quantity": summary["quantity"],
        "initial": summary["initial"],
        "final": summary["final"],
        "relative_drift": summary["relative_drift"],
        "cost_initial": float(costs[0]),
        "cost_final": final_cost,
        "linear": verdict.linear,
        "applicable": applicable,
        "reasons": reasons,
        "bias_drift": summary["bias_drift"],
        "discretisation_drift": summary["discretisation_drift"],
        "predicted_bias_drift": _json(summary["predicted_bias_drift"]),
        "predicted_discretisation_drift": _json(summary["predicted_discretisation_drift"]),
        "ratio": _json(summary["ratio"]),
        "euler_residual": verdict.euler_residual,
        "method": method,
        "variant": None if method == "exact" else "centered",
        "clamp": "matched" if method == "cl" else None,
        "beta": trace.beta,
        "lr": trace.lr,
        "steps": steps,
        "clipped": trace.clipped,
        "message": message,
        "warnings": [str(w.message) for w in caught if issubclass(w.category, ConservationWarning)],
        "convergence": trace.report.summary(),
    }
    if plot is not None:
        from circuitlearn.diagnostics.plots import plot_conservation

        plot_conservation({f"{method}": trace.tracker}, path=plot)
    return result


def _applicability(
    circuit: Circuit, trainable: Sequence[str], outputs: Mapping[str, float], method: str
) -> Applicability:
    """Structural verdict plus the Euler residual of the exact gradient at the start."""
    task = LearningTask(circuit, list(trainable), dict(outputs))
    exact = make_estimator("exact").compute_gradient(task)
    return analyze_applicability(
        circuit, list(task.trainable), method=method, gradient=exact.values
    )


def _estimator(
    method: str, variant: str, beta: float | None, clamp: str, rule: str, nudge: str
) -> Any:
    if method == "exact":
        return make_estimator("exact")
    if method == "ep":
        base = make_estimator("ep", variant=variant, beta=beta)
    elif method == "cl":
        base = make_estimator("cl", variant=variant, beta=beta, clamp=clamp)
    else:
        raise CircuitError(f"tracked_descent: unknown method {method!r}; expected exact, ep or cl")
    return EnergyFormRule(base, nudge=nudge) if rule == "energy" else base


def _final_cost(circuit: Circuit, names: Sequence[str], outputs: Mapping[str, float]) -> float:
    task = LearningTask(circuit, list(names), dict(outputs))
    return float(task.cost_of(task.solve()))


def _json(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
