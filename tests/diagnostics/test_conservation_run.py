"""conservation_run (the CLI contract), tracked_descent options, and the figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from circuitlearn.circuit import Circuit, Resistor, VoltageSource
from circuitlearn.diagnostics.conservation import ConservationWarning
from circuitlearn.diagnostics.orders import OrderStudy, drift_vs_lr, fit_slope
from circuitlearn.diagnostics.plots import plot_conservation, plot_convergence, plot_orders
from circuitlearn.diagnostics.training import conservation_run, default_lr, tracked_descent
from circuitlearn.errors import CircuitError

NETLISTS = Path(__file__).resolve().parents[2] / "netlists"
CONTRACT = (
    "quantity",
    "initial",
    "final",
    "relative_drift",
    "cost_initial",
    "cost_final",
    "linear",
)


def _ladder() -> Circuit:
    c = Circuit("ladder")
    for element in (
        VoltageSource("v1", "in", "0", 1.0),
        Resistor("r1", "in", "a", 1e4),
        Resistor("r2", "a", "0", 2e4),
        Resistor("r3", "a", "out", 3e4),
        Resistor("r4", "out", "0", 4e4),
    ):
        c.add(element)
    return c


def test_contract_keys_and_json(tmp_path: Path) -> None:
    figure = tmp_path / "q.png"
    result = conservation_run(_ladder(), ["r*"], {"out": 0.3}, method="cl", steps=20, plot=figure)
    assert all(key in result for key in (*CONTRACT, "applicable", "reasons"))
    assert json.loads(json.dumps(result))["quantity"] == result["quantity"]
    assert result["applicable"] and result["linear"] and result["warnings"] == []
    assert abs(result["bias_drift"]) < 1e-12
    assert result["discretisation_drift"] > 0
    assert result["convergence"]["phases"]["free"]["solves"] == 20
    assert result["convergence"]["phases"]["cl_pos"]["failures"] == 0
    assert figure.stat().st_size > 1000


def test_netlist_path_with_current_source_is_not_applicable() -> None:
    """resistor_network.cir injects 1 mA into node c: the law does not apply; drift reported."""
    result = conservation_run(
        NETLISTS / "resistor_network.cir", ["r*"], {"b": 2.0, "c": 1.5}, method="exact", steps=10
    )
    assert not result["applicable"] and result["linear"]
    assert any("current source(s) i1" in r for r in result["reasons"])
    assert abs(result["bias_drift"]) > 1e-9
    assert "does not apply" in result["message"]


def test_nonlinear_deck_says_the_law_does_not_apply() -> None:
    result = conservation_run(
        NETLISTS / "kendall_layered.cir", ["r_*"], {"o1": 0.1, "o2": 0.0}, method="ep", steps=5
    )
    assert not result["applicable"] and not result["linear"]
    assert any("diode(s)" in r for r in result["reasons"])
    assert np.isfinite(result["relative_drift"])


def test_alignment_of_centred_ep_is_one_on_a_linear_circuit() -> None:
    trace = tracked_descent(_ladder(), ["r*"], {"out": 0.3}, method="ep", steps=3, alignment=True)
    assert trace.report.alignment == pytest.approx([1.0, 1.0, 1.0], abs=1e-9)
    assert trace.report.summary()["phases"]["ep_neg"]["solves"] == 3


def test_default_lr_bounds_every_relative_step() -> None:
    k = np.array([1e-4, 1e-6])
    g = np.array([1.0, 10.0])
    lr = default_lr(k, g)
    assert np.max(lr * g / k) <= 1e-3 * (1 + 1e-12)
    assert default_lr(k, np.zeros(2)) == 1.0


def test_errors_name_the_problem() -> None:
    with pytest.raises(CircuitError, match="unknown method 'adam'; expected one of exact, ep, cl"):
        conservation_run(_ladder(), ["r*"], {"out": 0.3}, method="adam")
    with pytest.raises(CircuitError, match="steps must be ≥ 1; got 0"):
        tracked_descent(_ladder(), ["r*"], {"out": 0.3}, steps=0)
    with pytest.raises(CircuitError, match="need at least two nonzero drifts"):
        fit_slope([1.0, 2.0], [0.0, 1.0])
    with pytest.raises(CircuitError, match="shorter than one step"):
        drift_vs_lr(_ladder(), ["r*"], {"out": 0.3}, [1.0], time=0.1)


def test_figures_are_written(tmp_path: Path) -> None:
    trace = tracked_descent(_ladder(), ["r*"], {"out": 0.3}, method="ep", steps=3, alignment=True)
    plot_conservation({"ep": trace.tracker}, path=tmp_path / "c.png")
    plot_convergence(trace.report, path=tmp_path / "v.png")
    values = np.array([1e-3, 1e-2, 1e-1])
    study = OrderStudy("beta [S]", "demo", values, values**2, values**2, 2.0, 2.0)
    plot_orders([study, study], path=tmp_path / "o.png")
    for name in ("c.png", "v.png", "o.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_per_edge_rates_conserve_the_weighted_quantity() -> None:
    rates = [1.0, 3.0, 0.5, 2.0]
    trace = tracked_descent(_ladder(), ["r*"], {"out": 0.3}, method="exact", steps=10, rates=rates)
    summary = trace.tracker.summary()
    assert abs(summary["bias_drift"]) < 1e-12
    assert summary["discretisation_drift"] == pytest.approx(
        summary["predicted_discretisation_drift"], rel=1e-9
    )
    k = trace.tracker.values
    assert summary["final"] == pytest.approx(float(np.sum(k**2 / np.array(rates))) / 2, rel=1e-12)


def test_clipping_is_reported_with_a_warning() -> None:
    result = conservation_run(_ladder(), ["r*"], {"out": 0.05}, method="exact", lr=1e-7, steps=5)
    assert result["clipped"] > 0 and not result["applicable"]
    assert any("clipped at the floor" in r for r in result["reasons"])
    assert any("not plain gradient descent" in w for w in result["warnings"])


def test_tracker_warns_when_a_run_breaks_the_law_it_was_told_applies() -> None:
    circuit = _ladder()
    with pytest.warns(ConservationWarning, match="where the law predicts conservation"):
        tracked_descent(circuit, ["r1", "r2", "r3"], {"out": 0.3}, method="exact", steps=3)
