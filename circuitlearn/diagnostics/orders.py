"""Order studies: how the drift of Q scales with lr, β (one-sided and centred EP) and η (CL).

Each study trains the same circuit for the same flow time T = lr·steps at several values of one
parameter and fits the log-log slope of the measured drift (docs/math.md §7, D4):

- discrete steps, exact gradient: total drift ∝ lr (slope 1);
- one-sided EP: drift along the update direction ∝ β (slope 1), predicted −(β/2)∫eᵀR_out e dt;
- centred EP: ∝ β² (slope 2);
- one-sided coupled learning: ∝ η (slope 1), exactly −(η/2)∫eᵀG_out e dt with Stern et al.'s
  ``relative`` clamp (−(η/2)∫eᵀR_out e dt with the ``matched`` one); centred CL conserves Q.

For β and η the drift measured is the *bias* part Σ k·Δk of the exact split, so the
discretisation part (which depends on lr, not β) does not pollute the slope.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from circuitlearn.circuit import Circuit
from circuitlearn.diagnostics.training import TrainingTrace, tracked_descent
from circuitlearn.errors import CircuitError

__all__ = [
    "OrderStudy",
    "drift_vs_beta",
    "drift_vs_eta",
    "drift_vs_lr",
    "fit_slope",
    "order_studies",
]


@dataclass(frozen=True)
class OrderStudy:
    """Drift of Q against one parameter, with the fitted log-log slope.

    Attributes
    ----------
    parameter : str
        Axis label (``"lr"``, ``"beta [S]"``, ``"eta"``).
    label : str
        What was varied and how (e.g. ``"one-sided EP"``).
    values : ndarray
        Parameter values.
    drifts : ndarray
        |measured drift| / Q0 at each value.
    predicted : ndarray or None
        |predicted drift| / Q0 where the theory gives a closed form.
    slope : float
        Least-squares slope of log|drift| against log(value).
    expected_slope : float
    """

    parameter: str
    label: str
    values: np.ndarray
    drifts: np.ndarray
    predicted: np.ndarray | None
    slope: float
    expected_slope: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameter": self.parameter,
            "label": self.label,
            "values": self.values.tolist(),
            "drifts": self.drifts.tolist(),
            "predicted": None if self.predicted is None else self.predicted.tolist(),
            "slope": self.slope,
            "expected_slope": self.expected_slope,
        }


def fit_slope(values: Sequence[float], drifts: Sequence[float]) -> float:
    """Least-squares slope of log|drift| against log(value).

    Examples
    --------
    >>> round(fit_slope([1e-3, 1e-2, 1e-1], [2e-6, 2e-4, 2e-2]), 12)
    2.0
    """
    x = np.log(np.asarray(values, dtype=float))
    d = np.abs(np.asarray(drifts, dtype=float))
    if x.size < 2 or not np.all(d > 0) or not np.all(np.isfinite(d)):
        raise CircuitError(f"fit_slope: need at least two nonzero drifts; got {list(drifts)}")
    return float(np.polyfit(x, np.log(d), 1)[0])


def drift_vs_lr(
    circuit: Circuit,
    trainable: Sequence[str],
    outputs: Mapping[str, float],
    lrs: Sequence[float],
    *,
    time: float,
) -> OrderStudy:
    """Total drift of exact-gradient descent at fixed flow time ``time`` = lr·steps (slope 1).

    Parameters
    ----------
    circuit, trainable, outputs
        As in :func:`~circuitlearn.diagnostics.training.tracked_descent`.
    lrs : sequence of float [S²/V²]
    time : float [S²/V²]
        Flow time T; each run takes round(T/lr) steps.
    """
    drifts, predicted = [], []
    for lr in lrs:
        trace = _checked(
            tracked_descent(
                circuit, trainable, outputs, method="exact", lr=lr, steps=_steps(time, lr)
            )
        )
        summary = trace.tracker.summary()
        drifts.append(abs(summary["relative_drift"]))
        predicted.append(abs(summary["predicted_discretisation_drift"]))
    return _study("lr", "exact gradient, discrete steps", lrs, drifts, predicted, 1.0)


def drift_vs_beta(
    circuit: Circuit,
    trainable: Sequence[str],
    outputs: Mapping[str, float],
    betas: Sequence[float],
    *,
    variant: str,
    lr: float,
    steps: int,
) -> OrderStudy:
    """Bias drift of EP against β: slope 1 one-sided (``positive``/``negative``), 2 ``centered``.

    Parameters
    ----------
    betas : sequence of float [S]
    variant : {"positive", "negative", "centered"}
    lr : float [S²/V²]
    steps : int
    """
    drifts, predicted = [], []
    for beta in betas:
        trace = _checked(
            tracked_descent(
                circuit,
                trainable,
                outputs,
                method="ep",
                variant=variant,
                beta=beta,
                rule="energy",
                nudge="state",
                lr=lr,
                steps=steps,
            )
        )
        summary = trace.tracker.summary()
        drifts.append(abs(summary["bias_drift"]))
        predicted.append(abs(summary["predicted_bias_drift"]) if variant != "centered" else np.nan)
    centred = variant == "centered"
    label = "centred EP (energy form)" if centred else f"one-sided EP ({variant}, energy form)"
    return _study(
        "beta [S]", label, betas, drifts, None if centred else predicted, 2.0 if centred else 1.0
    )


def drift_vs_eta(
    circuit: Circuit,
    trainable: Sequence[str],
    outputs: Mapping[str, float],
    etas: Sequence[float],
    *,
    lr: float,
    steps: int,
    variant: str = "positive",
    clamp: str = "relative",
) -> OrderStudy:
    """Bias drift of one-sided coupled learning against η (slope 1), with its closed form.

    Parameters
    ----------
    etas : sequence of float
        Clamping factors (dimensionless with the ``relative`` clamp, [S] with ``matched``).
    variant : {"positive", "negative"}
    clamp : {"relative", "matched"}
    """
    if variant == "centered":
        raise CircuitError(
            "drift_vs_eta: centred CL conserves Q exactly; use variant='positive' or 'negative'"
        )
    drifts, predicted = [], []
    for eta in etas:
        trace = _checked(
            tracked_descent(
                circuit,
                trainable,
                outputs,
                method="cl",
                variant=variant,
                clamp=clamp,
                rule="energy",
                beta=eta,
                lr=lr,
                steps=steps,
            )
        )
        summary = trace.tracker.summary()
        drifts.append(abs(summary["bias_drift"]))
        predicted.append(abs(summary["predicted_bias_drift"]))
    return _study("eta", f"one-sided CL ({clamp} clamp, energy form)", etas, drifts, predicted, 1.0)


def order_studies(
    circuit: Circuit,
    trainable: Sequence[str],
    outputs: Mapping[str, float],
    *,
    lr: float,
    steps: int = 10,
    betas: Sequence[float],
    etas: Sequence[float],
    lrs: Sequence[float] | None = None,
) -> list[OrderStudy]:
    """The four studies of docs/math.md §7 (D4) on one circuit: lr, one-sided β, centred β, η.

    Parameters
    ----------
    lr : float [S²/V²]
        Learning rate of the β and η studies; the lr study spans ``lrs`` (default
        lr·[1/8, 1/4, 1/2, 1]) at the same flow time lr·steps.
    steps : int
    betas : sequence of float [S]
    etas : sequence of float
        Relative-clamp CL factors (dimensionless).
    """
    lrs = [lr * f for f in (0.125, 0.25, 0.5, 1.0)] if lrs is None else lrs
    return [
        drift_vs_lr(circuit, trainable, outputs, lrs, time=lr * steps),
        drift_vs_beta(circuit, trainable, outputs, betas, variant="positive", lr=lr, steps=steps),
        drift_vs_beta(circuit, trainable, outputs, betas, variant="centered", lr=lr, steps=steps),
        drift_vs_eta(circuit, trainable, outputs, etas, lr=lr, steps=steps),
    ]


def _checked(trace: TrainingTrace) -> TrainingTrace:
    """Refuse a run whose conductances hit the floor: clipping breaks the law and the slope."""
    if trace.clipped:
        raise CircuitError(
            f"order study: {trace.clipped} conductance update(s) hit the floor at lr={trace.lr:g}; "
            "use a smaller lr or fewer steps so the runs stay plain gradient flows"
        )
    return trace


def _steps(time: float, lr: float) -> int:
    steps = round(time / lr)
    if steps < 1:
        raise CircuitError(f"order study: flow time {time:g} is shorter than one step of lr={lr:g}")
    return steps


def _study(
    parameter: str,
    label: str,
    values: Sequence[float],
    drifts: Sequence[float],
    predicted: Sequence[float] | None,
    expected: float,
) -> OrderStudy:
    v = np.asarray(values, dtype=float)
    d = np.asarray(drifts, dtype=float)
    p = None if predicted is None else np.asarray(predicted, dtype=float)
    return OrderStudy(parameter, label, v, d, p, fit_slope(v, d), expected)
