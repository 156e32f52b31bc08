"""The conservation law of EP and coupled learning on linear circuits (docs/math.md §7).

When the inputs are voltage sources and every conductive element is a trainable resistor, scaling
all conductances k by s changes no node voltage, so the cost is homogeneous of degree 0 and the
gradient satisfies Euler's identity Σ_j k_j ∂C/∂k_j = 0. Gradient flow dk/dt = −α ∂C/∂k then
conserves

    Q = ½ Σ_j k_j² / α_j        [S²]   (α_j: per-edge learning rates, all 1 by default)

and so do the β → 0 / η → 0 limits of EP and coupled learning. This module measures Q during any
training loop (:class:`ConservationTracker`), splits every step's change exactly into the part
along the update direction and the discretisation part, and compares both with the predicted
rates of :func:`predicted_rate`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from circuitlearn.errors import CircuitError

__all__ = [
    "CLAMPS",
    "DEFAULT_TOLERANCE",
    "METHODS",
    "QUANTITY_NAME",
    "RULES",
    "VARIANTS",
    "ConservationStep",
    "ConservationTracker",
    "ConservationWarning",
    "conserved_quantity",
    "euler_residual",
    "predicted_rate",
]

QUANTITY_NAME = "Q = 0.5*sum(G_j^2/alpha_j)"
"""Name of the conserved quantity as reported in JSON (G: trainable conductances, α: rates)."""

METHODS = ("exact", "ep", "cl")
"""Learning rules the tracker knows a predicted rate for."""

VARIANTS = ("centered", "positive", "negative")
"""EP / CL variants: centred (±β), one-sided with +β, one-sided with −β."""

CLAMPS = ("matched", "relative")
"""Coupled-learning clamps (see :class:`circuitlearn.learn.estimators.CoupledLearning`):
``matched`` moves the outputs by −η·R_out·∂C/∂v, ``relative`` (Stern et al.) by −η·∂C/∂v."""

RULES = ("product", "energy")
"""Local-rule forms of EP / CL (see :mod:`circuitlearn.diagnostics.rules`): ``product``
ΔV_0·(ΔV_hi − ΔV_lo)/β (circuitlearn.learn's), ``energy`` ½(ΔV_hi² − ΔV_lo²)/β (docs/math.md §7's
rates)."""

DEFAULT_TOLERANCE: dict[str, float] = {"exact": 1e-9, "product": 1e-9, "energy-centered": 1e-9}
"""Relative drift |Σ k·Δk|/Q0 beyond which a mode predicted to conserve Q warns. Exact gradient
flow conserves Q to rounding (the Euler residual is ~1e-13 on linear circuits); so do the
product-form EP/CL rules at any β (KCL at the free state) and the centred energy-form rules with
frozen nudges or clamps (symmetric phases). Centred energy-form EP with the state-dependent
nudge drifts at O(β²) (docs/math.md §7) with no closed form, so it has no default (pass
``tolerance``)."""

_GRADIENT_STEP_RTOL = 1e-9
"""Relative mismatch between Δk and −lr·α·g above which a step is counted as not plain gradient
descent (clipping at a conductance floor, momentum, Adam...)."""


class ConservationWarning(UserWarning):
    """Q drifts where the law predicts conservation, or the update is not plain gradient descent."""


def conserved_quantity(
    values: Sequence[float] | np.ndarray, rates: Sequence[float] | np.ndarray | None = None
) -> float:
    """Q = ½ Σ k_j²/α_j [S²].

    Parameters
    ----------
    values : array_like
        Trainable conductances k [S].
    rates : array_like, optional
        Per-edge learning rates α_j (relative, > 0); all 1 by default.

    Examples
    --------
    >>> conserved_quantity([3.0, 4.0])
    12.5
    >>> conserved_quantity([3.0, 4.0], rates=[1.0, 2.0])
    8.5
    """
    k = np.asarray(values, dtype=float)
    alpha = np.ones_like(k) if rates is None else np.asarray(rates, dtype=float)
    return float(0.5 * np.sum(k * k / alpha))


def euler_residual(
    values: Sequence[float] | np.ndarray, gradient: Sequence[float] | np.ndarray
) -> float:
    """Normalised Euler residual k·g / (‖k‖‖g‖) of a gradient g = ∂C/∂k.

    Zero (to rounding, ≤ 1e-10) when the cost is scale invariant — the condition of the law — so
    it also tests gradient code. 0 when the gradient vanishes.

    Examples
    --------
    >>> euler_residual([1.0, 1.0], [1.0, -1.0])
    0.0
    >>> round(euler_residual([1.0, 0.0], [1.0, 1.0]), 6)
    0.707107
    """
    k = np.asarray(values, dtype=float)
    g = np.asarray(gradient, dtype=float)
    scale = float(np.linalg.norm(k) * np.linalg.norm(g))
    return float(k @ g / scale) if scale > 0 else 0.0


def predicted_rate(
    method: str,
    *,
    variant: str = "centered",
    beta: float | None = None,
    error: Sequence[float] | np.ndarray | None = None,
    r_out: np.ndarray | None = None,
    clamp: str = "matched",
    rule: str = "energy",
) -> float:
    """Leading-order dQ/dt [S²/unit time] of a learning rule's flow on a linear circuit.

    Time is t = Σ lr (the flow dk/dt = −α·ĝ). With e = v_out − y at the free state and R_out the
    transfer-resistance matrix seen at the outputs with the inputs held (G_out = R_out⁻¹), the
    energy-form rule's Σ k·ĝ is its phases' energy difference over β, which gives (docs/math.md §7):

    - ``exact``, and any ``product``-form rule: 0 (Euler's identity; KCL at the free state);
    - ``ep`` centred: 0 at this order (the drift is O(β²));
    - ``ep`` one-sided ``positive``: −(β/2)·eᵀR_out e (Q shrinks); ``negative``: +(β/2)·eᵀR_out e;
    - ``cl`` centred: 0 exactly (symmetric clamps);
    - ``cl`` one-sided (η = ``beta``), exact on linear circuits: ∓(η/2)·eᵀG_out e with the
      ``relative`` clamp, ∓(η/2)·eᵀR_out e with the ``matched`` one (− for ``positive``).

    Parameters
    ----------
    method : {"exact", "ep", "cl"}
    variant : {"centered", "positive", "negative"}
        EP / CL variant (ignored for ``exact``).
    beta : float
        Nudging β [S] (EP) or clamping factor η (CL: [S] matched, dimensionless relative).
    error : array_like [V]
        Output error v − y at the free state; needed for the one-sided rules.
    r_out : ndarray [Ω]
        Output transfer-resistance matrix
        (:func:`circuitlearn.learn.estimators.output_resistance`).
    clamp : {"matched", "relative"}
        CL clamp.
    rule : {"energy", "product"}
        Local-rule form of EP / CL (:data:`RULES`).

    Examples
    --------
    >>> round(predicted_rate("ep", variant="positive", beta=1e-3, error=[0.1], r_out=[[1e3]]), 12)
    -0.005
    >>> rate = predicted_rate("cl", variant="positive", beta=0.1, error=[0.1], r_out=[[1e3]],
    ...                       clamp="relative")
    >>> float(f"{rate:.6g}")
    -5e-07
    """
    _check_method(method, variant, clamp, rule)
    if method == "exact" or rule == "product" or variant == "centered":
        return 0.0
    if beta is None or error is None or r_out is None:
        raise CircuitError(
            f"predicted_rate: method {method!r} ({variant}) needs beta, error and r_out; got "
            f"beta={beta!r}, error={'given' if error is not None else None}, "
            f"r_out={'given' if r_out is not None else None}"
        )
    e = np.asarray(error, dtype=float).reshape(-1)
    r = np.atleast_2d(np.asarray(r_out, dtype=float))
    quadratic = e @ np.linalg.solve(r, e) if method == "cl" and clamp == "relative" else e @ r @ e
    sign = -1.0 if variant == "positive" else 1.0
    return float(sign * 0.5 * beta * quadratic)


@dataclass(frozen=True)
class ConservationStep:
    """One training step as the tracker saw it (all Q terms in [S²]).

    ``bias + discretisation`` equals the change of Q exactly (to rounding): ``bias = Σ k·Δk/α``
    is the part along the update direction, ``discretisation = ½ Σ Δk²/α`` the part a finite step
    adds. ``predicted_*`` are NaN when the tracker was not given what the prediction needs.
    """

    step: int
    time: float
    quantity: float
    drift: float
    bias: float
    discretisation: float
    predicted_bias: float
    predicted_discretisation: float
    cost: float
    gradient_step: bool

    def to_dict(self) -> dict[str, Any]:
        return {k: (float(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}


class ConservationTracker:
    """Measure Q(t) = ½ Σ k²/α during training, one :meth:`update` per step.

    Parameters
    ----------
    initial : mapping name → k [S] or array_like
        Trainable conductances before the first step.
    names : sequence of str, optional
        Parameter names when ``initial`` is an array.
    rates : array_like, optional
        Per-edge learning rates α_j (the update is Δk_j = −lr·α_j·g_j); all 1 by default.
    method : {"exact", "ep", "cl"}
        Learning rule producing the updates (selects the predicted rate).
    variant : {"centered", "positive", "negative"}
        EP / CL variant.
    beta : float, optional
        EP nudging β [S] or CL clamping factor η.
    clamp : {"matched", "relative"}
        CL clamp (see :func:`predicted_rate`).
    rule : {"product", "energy"}
        Local-rule form of EP / CL: ``product`` is circuitlearn.learn's.
    nudge : {"frozen", "state"}
        EP nudge of an energy-form rule (:class:`~circuitlearn.diagnostics.rules.EnergyFormRule`).
    applicable : bool
        Whether the law applies to this circuit and task (see
        :func:`circuitlearn.diagnostics.applicability.analyze_applicability`); when False nothing
        warns and the drift is information only.
    tolerance : float, optional
        Relative drift along the update direction beyond which a conserving mode (exact, centred
        EP, centred CL) warns; default :data:`DEFAULT_TOLERANCE`.

    Examples
    --------
    >>> tracker = ConservationTracker({"r1": 3.0, "r2": 4.0})
    >>> step = tracker.update({"r1": 3.0 - 0.4, "r2": 4.0 + 0.3}, lr=0.1, gradient=[4.0, -3.0])
    >>> abs(step.bias) < 1e-15, round(step.discretisation, 12)
    (True, 0.125)
    >>> round(step.predicted_discretisation, 12)
    0.125
    >>> round(tracker.summary()["relative_drift"], 12)
    0.01
    """

    def __init__(
        self,
        initial: Mapping[str, float] | Sequence[float] | np.ndarray,
        *,
        names: Sequence[str] | None = None,
        rates: Sequence[float] | np.ndarray | None = None,
        method: str = "exact",
        variant: str = "centered",
        beta: float | None = None,
        clamp: str = "matched",
        rule: str = "product",
        nudge: str = "frozen",
        applicable: bool = True,
        tolerance: float | None = None,
    ) -> None:
        _check_method(method, variant, clamp, rule)
        if nudge not in ("frozen", "state"):
            raise CircuitError(f"unknown EP nudge {nudge!r}; expected 'frozen' or 'state'")
        if isinstance(initial, Mapping):
            self.names = [str(n) for n in initial]
            k0 = np.array([float(initial[n]) for n in initial])
        else:
            k0 = np.asarray(initial, dtype=float).reshape(-1)
            self.names = list(names) if names is not None else [f"k{j}" for j in range(k0.size)]
        if len(self.names) != k0.size or k0.size == 0:
            raise CircuitError(
                "ConservationTracker: expected one name per parameter; got "
                f"{len(self.names)} names for {k0.size} values"
            )
        self.rates = (
            np.ones_like(k0) if rates is None else np.asarray(rates, dtype=float).reshape(-1)
        )
        if self.rates.shape != k0.shape or not np.all(self.rates > 0):
            raise CircuitError(
                f"ConservationTracker: rates must be {k0.size} positive numbers; got {rates!r}"
            )
        self.method = method
        self.variant = "centered" if method == "exact" else variant
        self.beta = beta
        self.clamp = clamp
        self.rule = rule
        self.nudge = nudge
        self.applicable = bool(applicable)
        self.mode = _mode(method, self.variant, rule, nudge)
        self.tolerance = tolerance if tolerance is not None else DEFAULT_TOLERANCE.get(self.mode)
        self.conserving = self.applicable and self.tolerance is not None
        self.initial = conserved_quantity(k0, self.rates)
        self.values = k0
        self.history: list[ConservationStep] = []
        self._time = 0.0
        self._warned: set[str] = set()

    def __repr__(self) -> str:
        return (
            f"ConservationTracker(method={self.method!r}, variant={self.variant!r}, "
            f"beta={self.beta!r}, "
            f"parameters={len(self.names)}, steps={len(self.history)}, "
            f"applicable={self.applicable})"
        )

    def update(
        self,
        values: Mapping[str, float] | Sequence[float] | np.ndarray,
        *,
        lr: float | None = None,
        gradient: Mapping[str, float] | Sequence[float] | np.ndarray | None = None,
        cost: float | None = None,
        error: Sequence[float] | np.ndarray | None = None,
        r_out: np.ndarray | None = None,
    ) -> ConservationStep:
        """Record one training step.

        Parameters
        ----------
        values : mapping or array_like [S]
            Conductances after the step.
        lr : float, optional
            Learning rate of the step [S²/V²]; the step's duration in flow time.
        gradient : mapping or array_like, optional
            The update direction g used at this step (Δk = −lr·α·g for plain gradient descent).
        cost : float, optional
            Cost before the step [V²] (for loss curves).
        error, r_out : optional
            Output error v − y [V] and transfer resistance [Ω] at the free state before the step,
            for the one-sided EP / CL predicted rate.
        """
        new = self._as_array(values, "values")
        delta = new - self.values
        bias = float(np.sum(self.values * delta / self.rates))
        discretisation = float(0.5 * np.sum(delta * delta / self.rates))
        g = None if gradient is None else self._as_array(gradient, "gradient")
        predicted_bias = predicted_disc = float("nan")
        gradient_step = True
        if lr is not None:
            self._time += lr
            if (
                self.mode in DEFAULT_TOLERANCE
                or self.variant == "centered"
                or (error is not None and r_out is not None)
            ):
                rate = predicted_rate(
                    self.method,
                    variant=self.variant,
                    beta=self.beta,
                    error=error,
                    r_out=r_out,
                    clamp=self.clamp,
                    rule=self.rule,
                )
                predicted_bias = lr * rate
            if g is not None:
                predicted_disc = float(0.5 * lr * lr * np.sum(self.rates * g * g))
                expected = -lr * self.rates * g
                scale = max(float(np.linalg.norm(expected)), float(np.linalg.norm(delta)), 1e-300)
                gradient_step = (
                    float(np.linalg.norm(delta - expected)) <= _GRADIENT_STEP_RTOL * scale
                )
        self.values = new
        quantity = conserved_quantity(new, self.rates)
        step = ConservationStep(
            step=len(self.history) + 1,
            time=self._time,
            quantity=quantity,
            drift=quantity / self.initial - 1.0,
            bias=bias,
            discretisation=discretisation,
            predicted_bias=predicted_bias,
            predicted_discretisation=predicted_disc,
            cost=float("nan") if cost is None else float(cost),
            gradient_step=gradient_step,
        )
        self.history.append(step)
        self._check(step)
        return step

    # -- views --------------------------------------------------------------------------------
    def series(self, field: str) -> np.ndarray:
        """One field of every step as an array (``"quantity"``, ``"drift"``, ``"bias"``, ...)."""
        return np.array([getattr(s, field) for s in self.history], dtype=float)

    @property
    def quantity(self) -> np.ndarray:
        """Q(t) [S²] with Q(0) first."""
        return np.concatenate([[self.initial], self.series("quantity")])

    @property
    def drift(self) -> np.ndarray:
        """δ(t) = Q(t)/Q(0) − 1, with δ(0) = 0 first."""
        return self.quantity / self.initial - 1.0

    @property
    def time(self) -> np.ndarray:
        """Flow time t = Σ lr, 0 first (a step recorded without ``lr`` adds nothing)."""
        return np.concatenate([[0.0], self.series("time")])

    def summary(self) -> dict[str, Any]:
        """Totals relative to Q0: drift, its bias and discretisation parts, predictions, ratio.

        ``ratio`` is measured/predicted of the bias part where a nonzero prediction exists
        (one-sided EP, CL), else of the discretisation part; NaN when nothing was predicted.
        """
        bias = float(np.sum(self.series("bias"))) / self.initial
        disc = float(np.sum(self.series("discretisation"))) / self.initial
        pred_bias = float(np.sum(self.series("predicted_bias"))) / self.initial
        pred_disc = float(np.sum(self.series("predicted_discretisation"))) / self.initial
        if np.isfinite(pred_bias) and pred_bias != 0.0:
            ratio = bias / pred_bias
        elif np.isfinite(pred_disc) and pred_disc != 0.0:
            ratio = disc / pred_disc
        else:
            ratio = float("nan")
        final = float(self.quantity[-1])
        return {
            "quantity": QUANTITY_NAME,
            "initial": self.initial,
            "final": final,
            "relative_drift": final / self.initial - 1.0,
            "bias_drift": bias,
            "discretisation_drift": disc,
            "predicted_bias_drift": pred_bias,
            "predicted_discretisation_drift": pred_disc,
            "ratio": ratio,
            "steps": len(self.history),
            "non_gradient_steps": sum(not s.gradient_step for s in self.history),
            "method": self.method,
            "variant": None if self.method == "exact" else self.variant,
            "clamp": self.clamp if self.method == "cl" else None,
            "rule": None if self.method == "exact" else self.rule,
            "beta": self.beta,
        }

    # -- internals ------------------------------------------------------------------------------
    def _as_array(self, values: Any, what: str) -> np.ndarray:
        if isinstance(values, Mapping):
            missing = [n for n in self.names if n not in values]
            if missing:
                raise CircuitError(
                    f"ConservationTracker.update: {what} lacks parameter(s) "
                    f"{', '.join(missing[:5])}"
                )
            return np.array([float(values[n]) for n in self.names])
        array = np.asarray(values, dtype=float).reshape(-1)
        if array.shape != self.values.shape:
            raise CircuitError(
                f"ConservationTracker.update: expected {self.values.size} {what}; got {array.size}"
            )
        return array

    def _check(self, step: ConservationStep) -> None:
        if not self.conserving:
            return
        if not step.gradient_step and "update" not in self._warned:
            self._warned.add("update")
            warnings.warn(
                f"ConservationTracker: step {step.step} is not plain gradient descent (Δk ≠ "
                "−lr·α·g: "
                "clipping at a conductance floor, momentum or Adam?); Q is not conserved by such "
                "updates (docs/math.md §7) — its drift is information, not a failure",
                ConservationWarning,
                stacklevel=3,
            )
        bias = abs(float(np.sum(self.series("bias")))) / self.initial
        if self.tolerance is not None and bias > self.tolerance and "drift" not in self._warned:
            self._warned.add("drift")
            warnings.warn(
                f"ConservationTracker: Q drifted by {bias:.3g} (relative, along the update "
                "direction) "
                f"after {step.step} steps of {self.mode}, beyond the tolerance "
                f"{self.tolerance:.3g}, "
                "where the law predicts conservation; check the Euler residual of the "
                "gradient, the "
                "precision of the learning-phase solves, or pass a larger tolerance=",
                ConservationWarning,
                stacklevel=3,
            )


def _mode(method: str, variant: str, rule: str, nudge: str) -> str:
    """Key of :data:`DEFAULT_TOLERANCE` for a conserving mode, else a descriptive name."""
    if method == "exact" or rule == "product":
        return method if method == "exact" else "product"
    if variant == "centered":
        return "energy-centered-state" if method == "ep" and nudge == "state" else "energy-centered"
    return f"{method}-energy-{variant}"


def _check_method(method: str, variant: str, clamp: str = "matched", rule: str = "product") -> None:
    if method not in METHODS:
        raise CircuitError(
            f"unknown learning method {method!r} for the conservation law; expected one of "
            f"{', '.join(METHODS)}"
        )
    if variant not in VARIANTS:
        raise CircuitError(
            f"unknown EP/CL variant {variant!r}; expected one of {', '.join(VARIANTS)}"
        )
    if clamp not in CLAMPS:
        raise CircuitError(f"unknown CL clamp {clamp!r}; expected one of {', '.join(CLAMPS)}")
    if rule not in RULES:
        raise CircuitError(f"unknown local-rule form {rule!r}; expected one of {', '.join(RULES)}")
