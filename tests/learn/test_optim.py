"""The optimizer's in-place updates against the textbook formulas, and its saved state."""

from __future__ import annotations

import math

import numpy as np
import pytest

from circuitlearn.learn.optim import Optimizer


def _textbook(name: str, g: np.ndarray, grads: list[np.ndarray], factors: np.ndarray) -> np.ndarray:
    """The updates written out with fresh arrays (the form before the in-place rewrite)."""
    lr, beta1, beta2, mu = 1e-6, 0.9, 0.999, 0.9
    m = np.zeros_like(g)
    v = np.zeros_like(g)
    velocity = np.zeros_like(g)
    eps = 1e-8 * float(np.sqrt(np.mean(grads[0] ** 2)))
    for t, grad in enumerate(grads, start=1):
        if name == "sgd":
            direction = grad
        elif name == "momentum":
            velocity = mu * velocity + grad
            direction = velocity
        else:
            m = beta1 * m + (1 - beta1) * grad
            v = beta2 * v + (1 - beta2) * grad**2
            direction = (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        g = np.clip(g - (lr * factors) * direction, 1e-9, 2e-4)
    return g


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam"])
def test_updates_equal_the_textbook_formulas_to_the_bit(name: str) -> None:
    rng = np.random.default_rng(3)
    g0 = rng.uniform(1e-5, 1e-4, 500)
    grads = [rng.normal(0.0, 50.0 if name == "adam" else 5.0, 500) for _ in range(6)]
    factors = np.repeat([1.0, 0.25], 250)
    opt = Optimizer(name, lr=1e-6, factors=factors, ceiling=2e-4)
    g = g0.copy()
    for grad in grads:
        g, _ = opt.step(g, grad)
    expected = _textbook(name, g0.copy(), grads, factors)
    assert np.array_equal(g, expected)
    assert not np.array_equal(g, g0)


def test_saved_state_is_a_snapshot_that_later_steps_leave_alone() -> None:
    opt = Optimizer("adam", lr=1e-6)
    g = np.full(4, 5e-5)
    g, _ = opt.step(g, np.array([1.0, -2.0, 3.0, -4.0]))
    saved = opt.state_dict()
    first_m = saved["opt_m"].copy()
    g, _ = opt.step(g, np.array([4.0, 3.0, 2.0, 1.0]))
    assert np.array_equal(saved["opt_m"], first_m)
    resumed = Optimizer("adam", lr=1e-6)
    resumed.load_state(saved)
    assert resumed.steps == 1 and math.isclose(resumed.lr, 1e-6)
    assert np.array_equal(resumed.state["m"], first_m)


def test_adam_takes_no_step_on_a_zero_gradient_instead_of_nan() -> None:
    """Adam's eps is relative to the first gradient's scale: an all-zero first gradient (a
    degenerate encoding, a batch already at its targets) gave eps = 0 and 0/0 conductances."""
    opt = Optimizer("adam", lr=1e-6)
    g = np.array([1e-5, 2e-5])
    with np.errstate(all="raise"):
        same, clipped = opt.step(g, np.zeros(2))
        assert np.array_equal(same, g) and clipped == 0
        moved, _ = opt.step(g, np.array([1.0, -1.0]))  # the scale is set by the first real one
    assert np.all(np.isfinite(moved)) and moved[0] < g[0] < g[1] < moved[1]
