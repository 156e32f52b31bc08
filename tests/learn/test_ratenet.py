"""Rate networks (learn/ratenet.py): every estimator against finite differences and the exact
gradient, on conservative (B = Wᵀ), non-reciprocal and purely feedforward networks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuitlearn.errors import CircuitLearnError, ConvergenceError
from circuitlearn.learn.ratenet import METHODS, RateNet, Relaxation, gradient

TIGHT = Relaxation(dt=0.5, tol=1e-13, max_steps=20000)


def _net(sizes: list[int], *, seed: int, skew: float, feedback: bool = True) -> RateNet:
    """A network with random biases; ``skew`` > 0 moves B away from Wᵀ (non-reciprocal)."""
    rng = np.random.default_rng(seed)
    net = RateNet.random(sizes, seed=rng, feedback=feedback, relaxation=TIGHT)
    for name, value in net.params.items():
        if name.startswith("b"):
            value += rng.normal(0.0, 0.5, value.shape)
        if name.startswith("B"):
            value += skew * rng.normal(0.0, 1.0, value.shape)
    return net


def _batch(net: RateNet, seed: int, n: int = 6) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 100)
    return rng.uniform(size=(n, net.sizes[0])), rng.uniform(size=(n, net.sizes[-1]))


def _flat(grads: dict[str, np.ndarray]) -> np.ndarray:
    return np.concatenate([grads[k].ravel() for k in sorted(grads)])


def _rel(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return float(np.linalg.norm(_flat(a) - _flat(b)) / np.linalg.norm(_flat(b)))


def _finite_differences(net: RateNet, u: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    eps, out = 1e-6, {}
    for name, value in net.params.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            old = value[index]
            value[index] = old + eps
            plus = net.cost(net.free_state(u), y)
            value[index] = old - eps
            minus = net.cost(net.free_state(u), y)
            value[index] = old
            grad[index] = (plus - minus) / (2 * eps)
        out[name] = grad
    return out


@pytest.mark.parametrize("sizes", [[5, 4, 3], [4, 4, 3, 2]])
@pytest.mark.parametrize("skew", [0.0, 0.8])
def test_exact_matches_finite_differences(sizes: list[int], skew: float) -> None:
    net = _net(sizes, seed=1, skew=skew)
    u, y = _batch(net, 1)
    exact, _ = gradient(net, u, y, "exact")
    assert _rel(exact, _finite_differences(net, u, y)) < 1e-7


@pytest.mark.parametrize("sizes", [[5, 4, 3], [4, 5, 4, 2]])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_aep_and_dyadic_exact_on_non_reciprocal_net_vf_biased(sizes: list[int], seed: int) -> None:
    net = _net(sizes, seed=seed, skew=0.8)
    u, y = _batch(net, seed)
    exact, free = gradient(net, u, y, "exact")
    assert _rel(gradient(net, u, y, "dyadic", beta=0.3, free=free)[0], exact) < 1e-10
    assert _rel(gradient(net, u, y, "aep", beta=1e-3, free=free)[0], exact) < 1e-4
    assert _rel(gradient(net, u, y, "vf", beta=1e-3, free=free)[0], exact) > 0.05


@pytest.mark.parametrize("sizes", [[5, 4, 3], [4, 5, 4, 2]])
def test_all_methods_agree_when_feedback_is_the_transpose(sizes: list[int]) -> None:
    net = _net(sizes, seed=3, skew=0.0)
    u, y = _batch(net, 3)
    exact, free = gradient(net, u, y, "exact")
    for method, tolerance in (("vf", 1e-4), ("aep", 1e-4), ("dyadic", 1e-10)):
        assert _rel(gradient(net, u, y, method, beta=1e-3, free=free)[0], exact) < tolerance
    vf, _ = gradient(net, u, y, "vf", beta=1e-3, free=free)
    aep, _ = gradient(net, u, y, "aep", beta=1e-3, free=free)
    assert _rel(vf, aep) < 1e-9  # the AEP correction vanishes on a conservative network


def test_jacobian_symmetric_at_the_fixed_point_iff_feedback_is_transpose() -> None:
    for skew, symmetric in ((0.0, True), (0.5, False)):
        net = _net([4, 5, 3], seed=4, skew=skew)
        u, _ = _batch(net, 4, n=3)
        x0 = net.free_state(u)
        rng = np.random.default_rng(0)
        a = [np.zeros_like(x0[0])] + [rng.normal(size=s.shape) for s in x0[1:]]
        b = [np.zeros_like(x0[0])] + [rng.normal(size=s.shape) for s in x0[1:]]
        ja = net.jvp(x0, a)
        jtb = net.vjp(x0, b)
        # ⟨b, J a⟩ = ⟨Jᵀ b, a⟩ always; ⟨b, J a⟩ = ⟨J b, a⟩ only for a symmetric J.
        lhs = sum(float(np.sum(p * q)) for p, q in zip(b[1:], ja[1:], strict=True))
        assert lhs == pytest.approx(
            sum(float(np.sum(p * q)) for p, q in zip(jtb[1:], a[1:], strict=True)), rel=1e-12
        )
        jb = net.jvp(x0, b)
        swapped = sum(float(np.sum(p * q)) for p, q in zip(jb[1:], a[1:], strict=True))
        assert (abs(swapped - lhs) < 1e-9 * abs(lhs)) is symmetric


def test_feedforward_net_vf_leaves_hidden_layer_untrained() -> None:
    net = _net([5, 4, 3], seed=5, skew=0.0, feedback=False)
    assert "B2" not in net.params
    u, y = _batch(net, 5)
    exact, free = gradient(net, u, y, "exact")
    vf, _ = gradient(net, u, y, "vf", beta=1e-3, free=free)
    assert np.all(vf["W1"] == 0) and np.all(vf["b1"] == 0)
    assert np.abs(exact["W1"]).max() > 1e-3
    assert _rel(gradient(net, u, y, "aep", beta=1e-3, free=free)[0], exact) < 1e-4
    assert _rel(gradient(net, u, y, "dyadic", free=free)[0], exact) < 1e-10
    assert _rel(exact, _finite_differences(net, u, y)) < 1e-7


def test_centred_aep_error_is_second_order_in_beta() -> None:
    net = _net([5, 4, 3], seed=6, skew=0.8)
    u, y = _batch(net, 6)
    exact, free = gradient(net, u, y, "exact")
    errors = [_rel(gradient(net, u, y, "aep", beta=b, free=free)[0], exact) for b in (0.04, 0.02)]
    assert errors[0] / errors[1] == pytest.approx(4.0, rel=0.15)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), beta=st.floats(1e-3, 1.0))
def test_dyadic_exact_for_any_beta(seed: int, beta: float) -> None:
    net = _net([3, 4, 2], seed=seed, skew=0.6)
    u, y = _batch(net, seed, n=3)
    exact, free = gradient(net, u, y, "exact")
    assert _rel(gradient(net, u, y, "dyadic", beta=beta, free=free)[0], exact) < 1e-9


def test_symmetric_initialisation_and_errors() -> None:
    net = RateNet.random([3, 4, 4, 2], seed=0)
    for l in (2, 3):
        assert np.array_equal(net.params[f"B{l}"], net.params[f"W{l}"].T)
        assert net.params[f"B{l}"] is not net.params[f"W{l}"]
    u, y = np.zeros((2, 3)), np.zeros((2, 2))
    with pytest.raises(CircuitLearnError, match="method must be one of"):
        gradient(net, u, y, "ep")
    with pytest.raises(CircuitLearnError, match="beta must be a positive"):
        gradient(net, u, y, "aep", beta=0.0)
    with pytest.raises(CircuitLearnError, match="sizes must be"):
        RateNet.random([3])
    stuck = RateNet.random([3, 4, 2], seed=0, relaxation=Relaxation(max_steps=1, tol=1e-30))
    with pytest.raises(ConvergenceError, match="free phase: no fixed point after 1 Euler"):
        stuck.free_state(np.ones((2, 3)))
    assert set(METHODS) == {"exact", "vf", "aep", "dyadic"}
