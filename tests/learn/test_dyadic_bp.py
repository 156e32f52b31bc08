"""Dyadic BP (docs/math.md §6): exact at Euler step 2L with h = 1, not before, not h ≠ 1."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuitlearn.errors import CircuitLearnError
from circuitlearn.learn.dyadic_bp import (
    FeedforwardNet,
    backprop_gradients,
    dyadic_bp,
    dyadic_bp_trace,
    parse_sizes,
)

DEPTHS = {1: "5,3", 2: "5,7,3", 3: "4,6,6,3", 5: "6,5,5,5,5,2", 8: "4,6,6,6,6,6,6,6,2"}


@pytest.mark.parametrize("depth", sorted(DEPTHS))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_at_2L_not_at_2L_minus_1(depth: int, seed: int) -> None:
    trace = dyadic_bp_trace(DEPTHS[depth], seed=seed)
    assert trace.depth == depth and len(trace.relative_error) == 2 * depth + 2
    errors = trace.relative_error
    assert max(errors[2 * depth - 1 :]) <= 1e-12
    # Step 2L − 1: layer 1 still carries the arbitrary initial state, an O(1) error.
    assert trace.layer_error[2 * depth - 2][0] > 0.1
    assert errors[2 * depth - 2] > 1e-4


@pytest.mark.parametrize("depth", [2, 3, 5])
def test_layer_l_exact_from_step_2L_plus_1_minus_l(depth: int) -> None:
    trace = dyadic_bp_trace(DEPTHS[depth], seed=4)
    for layer in range(1, depth + 1):
        first = 2 * depth + 1 - layer
        assert trace.layer_error[first - 1][layer - 1] <= 1e-12
        assert trace.layer_error[first - 2][layer - 1] > 1e-3


@pytest.mark.parametrize("h", [0.5, 1.5])
def test_other_step_sizes_converge_but_are_not_exact(h: float) -> None:
    trace = dyadic_bp_trace("4,6,6,3", steps=60, step_size=h, seed=0)
    errors = np.array(trace.relative_error)
    assert errors[5] > 1e-6  # step 2L: far from exact
    assert min(errors) > 1e-13  # never exact in finite time
    assert errors[-1] < 1e-6 and errors[-1] < 1e-4 * errors[5]  # but converging geometrically


def test_step_size_two_or_more_diverges() -> None:
    errors = dyadic_bp_trace("4,6,3", steps=40, step_size=2.5, seed=0).relative_error
    assert errors[-1] > 1e3


@settings(max_examples=15, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
    beta=st.floats(1e-3, 1e3),
    seed=st.integers(0, 2**16),
)
def test_biases_and_weights_exact_for_any_beta(sizes: list[int], beta: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    net = FeedforwardNet.random(sizes, seed=rng, activation="sigmoid")
    x, y = rng.normal(size=(3, sizes[0])), rng.normal(size=(3, sizes[-1]))
    exact_w, exact_b = backprop_gradients(net, x, y)
    grads_w, grads_b = dyadic_bp(net, x, y, steps=2 * net.depth, beta=beta, seed=rng)[-1]
    for got, want in zip([*grads_w, *grads_b], [*exact_w, *exact_b], strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12 * np.abs(want).max())


def test_backprop_matches_finite_differences() -> None:
    rng = np.random.default_rng(3)
    net = FeedforwardNet.random([3, 4, 2], seed=rng)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    exact_w, _ = backprop_gradients(net, x, y)

    def cost(weights: tuple[np.ndarray, ...]) -> float:
        moved = FeedforwardNet(weights, net.biases, net.activation)
        return 0.5 * float(np.mean(np.sum((moved.forward(x)[0][-1] - y) ** 2, axis=1)))

    eps = 1e-6
    for layer, w in enumerate(net.weights):
        for i, j in np.ndindex(w.shape):
            plus = [v.copy() for v in net.weights]
            minus = [v.copy() for v in net.weights]
            plus[layer][i, j] += eps
            minus[layer][i, j] -= eps
            fd = (cost(tuple(plus)) - cost(tuple(minus))) / (2 * eps)
            assert fd == pytest.approx(exact_w[layer][i, j], rel=1e-6, abs=1e-10)


@pytest.mark.parametrize(
    ("sizes", "match"),
    [("4", "at least an input"), ("4,x,2", "got 'x'"), ("4,0,2", ">= 1"), ("", "got ''")],
)
def test_bad_sizes(sizes: str, match: str) -> None:
    with pytest.raises(CircuitLearnError, match=match):
        parse_sizes(sizes)


def test_bad_steps_and_step_size() -> None:
    net = FeedforwardNet.random([2, 2], seed=0)
    x = np.zeros((1, 2))
    with pytest.raises(CircuitLearnError, match="steps must be >= 1"):
        dyadic_bp(net, x, x, steps=0)
    with pytest.raises(CircuitLearnError, match="step_size must be a positive"):
        dyadic_bp(net, x, x, steps=1, step_size=-1.0)
    with pytest.raises(CircuitLearnError, match="activation must be one of"):
        dyadic_bp_trace("2,2", activation="relu6")
