"""ConservationTracker arithmetic on synthetic parameter trajectories (no circuit needed)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuitlearn.diagnostics.conservation import (
    ConservationTracker,
    ConservationWarning,
    conserved_quantity,
    euler_residual,
    predicted_rate,
)
from circuitlearn.errors import CircuitError


def _scale_invariant_gradient(k: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Gradient of C(k) = ½‖k/‖k‖ − u‖², homogeneous of degree 0 like a circuit's cost."""
    n = np.linalg.norm(k)
    w = k / n
    r = w - target
    return (r - w * (w @ r)) / n


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 12),
    steps=st.integers(1, 8),
    weighted=st.booleans(),
)
def test_split_is_exact(seed: int, n: int, steps: int, weighted: bool) -> None:
    """bias + discretisation equals the change of Q at every step, for any trajectory."""
    rng = np.random.default_rng(seed)
    k = rng.uniform(0.5, 2.0, n)
    rates = rng.uniform(0.2, 5.0, n) if weighted else None
    tracker = ConservationTracker(k, rates=rates, applicable=False)
    for _ in range(steps):
        k = k + rng.normal(scale=0.3, size=n)
        before = tracker.quantity[-1]
        step = tracker.update(k)
        assert step.bias + step.discretisation == pytest.approx(
            step.quantity - before, rel=1e-12, abs=1e-14
        )
    assert tracker.quantity[-1] == pytest.approx(conserved_quantity(k, rates), rel=1e-15)
    assert tracker.drift[0] == 0.0 and tracker.drift.size == steps + 1


def test_rotation_conserves_q_and_bias_cancels_discretisation() -> None:
    tracker = ConservationTracker({"a": 1.0, "b": 0.0}, applicable=False)
    for angle in np.linspace(0.1, 1.0, 10):
        step = tracker.update({"a": np.cos(angle), "b": np.sin(angle)})
        assert abs(step.drift) < 1e-15
        assert step.bias == pytest.approx(-step.discretisation, rel=1e-12)


@pytest.mark.parametrize("lr", [1e-3, 1e-2, 1e-1])
def test_gradient_descent_on_scale_invariant_cost(lr: float) -> None:
    """Euler: the bias part vanishes; the discretisation part is ½lr²‖g‖² exactly."""
    rng = np.random.default_rng(1)
    k = rng.uniform(1.0, 2.0, 6)
    target = np.ones(6) / np.sqrt(6)
    tracker = ConservationTracker(k, method="exact")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConservationWarning)
        for _ in range(20):
            g = _scale_invariant_gradient(k, target)
            assert abs(euler_residual(k, g)) < 1e-12
            k = k - lr * g
            step = tracker.update(k, lr=lr, gradient=g)
            assert abs(step.bias) < 1e-14 * tracker.initial
            assert step.discretisation == pytest.approx(step.predicted_discretisation, rel=1e-12)
    summary = tracker.summary()
    assert summary["ratio"] == pytest.approx(1.0, rel=1e-9)
    assert summary["non_gradient_steps"] == 0


def test_discretisation_drift_is_first_order_in_lr() -> None:
    """At a fixed flow time T = lr·steps, the drift of discrete GD scales as lr."""
    rng = np.random.default_rng(2)
    k0 = rng.uniform(1.0, 2.0, 5)
    target = np.ones(5) / np.sqrt(5)
    drifts = []
    lrs = np.array([0.01, 0.02, 0.04, 0.08])
    for lr in lrs:
        k = k0.copy()
        tracker = ConservationTracker(k)
        for _ in range(round(1.6 / lr)):
            g = _scale_invariant_gradient(k, target)
            k = k - lr * g
            tracker.update(k, lr=lr, gradient=g)
        drifts.append(tracker.summary()["relative_drift"])
    slope = np.polyfit(np.log(lrs), np.log(drifts), 1)[0]
    assert slope == pytest.approx(1.0, abs=0.05)


def test_warns_when_a_conserving_mode_drifts() -> None:
    tracker = ConservationTracker([1.0, 1.0], method="exact")
    with pytest.warns(
        ConservationWarning, match=r"beyond the tolerance .* where the law predicts conservation"
    ):
        tracker.update([1.1, 1.0], lr=0.1, gradient=[-1.0, 0.0])


def test_warns_on_non_gradient_steps() -> None:
    tracker = ConservationTracker(
        [1.0, 1.0], method="ep", variant="centered", beta=1e-3, tolerance=1.0
    )
    with pytest.warns(ConservationWarning, match="not plain gradient descent"):
        tracker.update([1.0, 1.0 + 1e-6], lr=1.0, gradient=[0.0, 0.0])
    assert tracker.summary()["non_gradient_steps"] == 1


def test_no_warning_where_the_law_does_not_apply_or_drift_is_predicted() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConservationWarning)
        ConservationTracker([1.0, 1.0], applicable=False).update(
            [2.0, 1.0], lr=1.0, gradient=[-1.0, 0.0]
        )
        one_sided = ConservationTracker(
            [1.0, 1.0], method="ep", variant="positive", beta=0.1, rule="energy"
        )
        step = one_sided.update([0.9, 1.0], lr=1.0, gradient=[0.1, 0.0], error=[0.5], r_out=[[2.0]])
    assert step.predicted_bias == pytest.approx(-0.1 / 2 * 0.25 * 2.0)


def test_predicted_rates_signs_and_forms() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 3))
    r_out = a @ a.T + 3 * np.eye(3)
    e = rng.normal(size=3)
    quad = e @ r_out @ e
    assert predicted_rate("exact") == 0.0
    assert predicted_rate("ep", variant="positive", beta=0.1, rule="product") == 0.0
    assert predicted_rate("ep", variant="centered", beta=0.1) == 0.0
    plus = predicted_rate("ep", variant="positive", beta=0.1, error=e, r_out=r_out)
    minus = predicted_rate("ep", variant="negative", beta=0.1, error=e, r_out=r_out)
    assert plus == pytest.approx(-0.05 * quad) and minus == pytest.approx(-plus)
    assert predicted_rate("cl", variant="centered", beta=0.2) == 0.0
    relative = predicted_rate(
        "cl", variant="positive", beta=0.2, error=e, r_out=r_out, clamp="relative"
    )
    assert relative == pytest.approx(-0.1 * e @ np.linalg.inv(r_out) @ e) and relative < 0
    matched = predicted_rate(
        "cl", variant="negative", beta=0.2, error=e, r_out=r_out, clamp="matched"
    )
    assert matched == pytest.approx(0.1 * quad)


def test_errors_name_the_problem() -> None:
    with pytest.raises(CircuitError, match="unknown learning method 'adam'"):
        ConservationTracker([1.0], method="adam")
    with pytest.raises(CircuitError, match="unknown EP/CL variant 'both'"):
        predicted_rate("ep", variant="both")
    with pytest.raises(CircuitError, match="unknown local-rule form 'sum'"):
        ConservationTracker([1.0], method="ep", rule="sum")
    with pytest.raises(CircuitError, match="unknown EP nudge 'soft'"):
        ConservationTracker([1.0], method="ep", nudge="soft")
    with pytest.raises(CircuitError, match="unknown CL clamp 'tight'"):
        ConservationTracker([1.0], method="cl", clamp="tight")
    with pytest.raises(CircuitError, match="needs beta, error and r_out"):
        predicted_rate("cl", variant="positive", beta=0.1)
    with pytest.raises(CircuitError, match="rates must be 2 positive numbers"):
        ConservationTracker([1.0, 2.0], rates=[1.0, -1.0])
    tracker = ConservationTracker({"r1": 1.0, "r2": 2.0})
    with pytest.raises(CircuitError, match=r"values lacks parameter.*r2"):
        tracker.update({"r1": 1.0})
    with pytest.raises(CircuitError, match="expected 2 gradient; got 3"):
        tracker.update([1.0, 2.0], lr=0.1, gradient=[1.0, 2.0, 3.0])
