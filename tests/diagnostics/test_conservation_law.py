"""The conservation law on real circuits: exact flow, EP/CL drift orders, negative controls."""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pytest

from circuitlearn.circuit import Circuit, CurrentSource, Diode, Model
from circuitlearn.circuit.builders import random_resistor_network
from circuitlearn.diagnostics.applicability import EULER_TOLERANCE
from circuitlearn.diagnostics.conservation import ConservationWarning, euler_residual
from circuitlearn.diagnostics.orders import drift_vs_beta, drift_vs_eta, drift_vs_lr
from circuitlearn.diagnostics.training import conservation_run, tracked_descent
from circuitlearn.learn import LearningTask, make_estimator

OUTPUTS = {"n3": 0.35, "n5": 0.15}


def _network(seed: int = 0) -> Circuit:
    """Voltage-driven linear resistor network, µS–100 µS scale, two outputs."""
    graph = nx.random_regular_graph(3, 8, seed=seed)
    return random_resistor_network(graph, inputs={0: 1.0, 6: -0.5}, ground=7, seed=seed)


def _exact(circuit: Circuit) -> tuple[np.ndarray, np.ndarray]:
    task = LearningTask(circuit, ["r*"], list(OUTPUTS), list(OUTPUTS.values()))
    grad = make_estimator("exact").compute_gradient(task)
    names = list(grad.values)
    return np.array([grad.parameters[n] for n in names]), np.array([grad.values[n] for n in names])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_euler_residual_of_exact_gradient_vanishes(seed: int) -> None:
    k, g = _exact(_network(seed))
    assert np.linalg.norm(g) > 0
    assert abs(euler_residual(k, g)) <= EULER_TOLERANCE


def test_exact_flow_conserves_q_with_exact_discretisation_accounting() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConservationWarning)
        trace = tracked_descent(_network(), ["r*"], OUTPUTS, method="exact", steps=40, lr=None)
    summary = trace.tracker.summary()
    assert abs(summary["bias_drift"]) <= 1e-10
    assert summary["discretisation_drift"] == pytest.approx(
        summary["predicted_discretisation_drift"], rel=1e-9
    )
    assert summary["relative_drift"] == pytest.approx(
        summary["bias_drift"] + summary["discretisation_drift"], abs=1e-13
    )
    costs = trace.tracker.series("cost")
    assert costs[-1] < costs[0]


def test_small_steps_make_the_total_drift_small() -> None:
    circuit = _network()
    k, g = _exact(circuit)
    lr = 1e-6 * np.linalg.norm(k) / np.linalg.norm(g)
    trace = tracked_descent(circuit, ["r*"], OUTPUTS, method="exact", lr=lr, steps=20)
    assert abs(trace.tracker.summary()["relative_drift"]) <= 1e-10


def test_discrete_drift_is_first_order_in_lr() -> None:
    circuit = _network()
    k, g = _exact(circuit)
    base = 2e-3 * np.linalg.norm(k) / np.linalg.norm(g)
    study = drift_vs_lr(circuit, ["r*"], OUTPUTS, [base, 2 * base, 4 * base], time=8 * base)
    assert study.slope == pytest.approx(1.0, abs=0.2)
    assert study.drifts == pytest.approx(study.predicted, rel=1e-6)


@pytest.fixture(scope="module")
def scales() -> tuple[float, float]:
    k, g = _exact(_network())
    return float(np.mean(k)), float(2e-3 * np.linalg.norm(k) / np.linalg.norm(g))


def test_one_sided_ep_drift_is_first_order_in_beta_and_matches_prediction(
    scales: tuple[float, float],
) -> None:
    g_mean, lr = scales
    betas = g_mean * np.array([1e-3, 1e-2, 1e-1])
    study = drift_vs_beta(_network(), ["r*"], OUTPUTS, betas, variant="positive", lr=lr, steps=5)
    assert study.slope == pytest.approx(1.0, abs=0.2)
    ratio = study.drifts / study.predicted
    assert ratio[0] == pytest.approx(1.0, abs=0.05)


def test_centred_ep_drift_is_second_order_in_beta(scales: tuple[float, float]) -> None:
    g_mean, lr = scales
    betas = g_mean * np.array([1e-2, 3e-2, 1e-1])
    study = drift_vs_beta(_network(), ["r*"], OUTPUTS, betas, variant="centered", lr=lr, steps=5)
    assert study.slope == pytest.approx(2.0, abs=0.2)


def test_cl_drift_matches_its_closed_form(scales: tuple[float, float]) -> None:
    """One-sided CL (Stern's relative clamp, energy form): exactly −(η/2)·eᵀG_out e per "
    "unit time."""
    _, lr = scales
    study = drift_vs_eta(_network(), ["r*"], OUTPUTS, [1e-3, 1e-2, 1e-1], lr=lr, steps=5)
    assert study.slope == pytest.approx(1.0, abs=0.2)
    assert study.drifts == pytest.approx(study.predicted, rel=1e-6)
    matched = drift_vs_eta(
        _network(), ["r*"], OUTPUTS, [1e-7, 1e-6], lr=lr, steps=5, clamp="matched"
    )
    assert matched.drifts == pytest.approx(matched.predicted, rel=1e-6)


@pytest.mark.parametrize(
    ("method", "variant"), [("ep", "positive"), ("ep", "centered"), ("cl", "positive")]
)
def test_learn_product_rules_conserve_q_at_any_beta(
    scales: tuple[float, float], method: str, variant: str
) -> None:
    """circuitlearn.learn's rules ΔV_0·(ΔV_β − ΔV_0)/β: Σ G·ĝ = ∇E(x0)·δx/β = 0 by KCL, "
    "even at large β."""
    g_mean, lr = scales
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConservationWarning)
        trace = tracked_descent(
            _network(),
            ["r*"],
            OUTPUTS,
            method=method,
            variant=variant,
            beta=0.3 * g_mean,
            lr=lr,
            steps=5,
        )
    assert abs(trace.tracker.summary()["bias_drift"]) <= 1e-10


def _with_current_input() -> Circuit:
    circuit = _network()
    circuit.remove("v_n6")
    circuit.add(CurrentSource("i_n6", "0", "n6", 2e-5))
    return circuit


def _with_diode() -> Circuit:
    circuit = _network()
    circuit.add_model(Model("dm", "d", {"is": 1e-12}))
    circuit.add(Diode("d1", "n1", "0", "dm"))  # forward biased at ~0.3 V: µA against tens of µA
    return circuit


@pytest.mark.parametrize(
    ("build", "trainable", "reason"),
    [
        (_with_current_input, ["r*"], "current source(s) i_n6"),
        (_with_diode, ["r*"], "diode(s) d1"),
        (_network, ["r_n0_*", "r_n1_*", "r_n2_*", "r_n3_*"], "fixed (non-trainable) resistor(s)"),
    ],
    ids=["current-source-input", "fixed-diode", "fixed-load"],
)
def test_negative_controls_are_not_applicable_and_drift(
    build, trainable: list[str], reason: str
) -> None:
    circuit = build()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConservationWarning)
        result = conservation_run(circuit, trainable, OUTPUTS, method="exact", steps=20)
    assert not result["applicable"]
    assert any(reason in r for r in result["reasons"]), result["reasons"]
    assert abs(result["euler_residual"]) > 1e3 * EULER_TOLERANCE
    # the drift along the update direction, 1e-16 where the law applies, is here ≥ 1e-6 and
    # dominates the discretisation part
    assert abs(result["bias_drift"]) > 1e-6
    assert abs(result["bias_drift"]) > 10 * result["discretisation_drift"]


def test_conservation_run_contract_on_a_linear_circuit() -> None:
    result = conservation_run(_network(), ["r*"], OUTPUTS, method="ep", steps=10)
    for key in (
        "quantity",
        "initial",
        "final",
        "relative_drift",
        "cost_initial",
        "cost_final",
        "linear",
        "applicable",
        "reasons",
    ):
        assert key in result
    assert result["applicable"] and result["linear"] and result["reasons"] == []
    assert result["final"] == pytest.approx(
        result["initial"] * (1 + result["relative_drift"]), rel=1e-12
    )
    assert result["cost_final"] < result["cost_initial"]
    assert abs(result["bias_drift"]) < 1e-12
