"""ConvergenceReport bookkeeping, KCL residual re-evaluation, output resistance."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from circuitlearn.circuit import Circuit, Diode, Model, Resistor, VoltageSource
from circuitlearn.diagnostics.convergence import ConvergenceReport, cosine_similarity, kcl_residual
from circuitlearn.errors import CircuitError
from circuitlearn.solve import solve_dc
from circuitlearn.solve.mna import compile_circuit


def _diode_circuit() -> Circuit:
    c = Circuit("rd")
    c.add_model(Model("dm", "d", {}))
    for element in (
        VoltageSource("v1", "in", "0", 5.0),
        Resistor("r1", "in", "a", 1e3),
        Diode("d1", "a", "b", "dm"),
        Resistor("r2", "b", "0", 1e3),
    ):
        c.add(element)
    return c


def test_records_per_phase_and_sample() -> None:
    op = solve_dc(_diode_circuit())
    report = ConvergenceReport()
    report.record_step(
        [{"free": op, "nudged": op}, {"free": op}],
        cost=1.0,
        estimate={"r1": 1.0, "r2": 0.0},
        exact={"r1": 1.0, "r2": 1.0},
    )
    report.record_step({"free": op}, cost=0.5)
    summary = report.summary()
    assert summary["steps"] == 2
    assert summary["phases"]["free"]["solves"] == 3 and summary["phases"]["nudged"]["solves"] == 1
    assert summary["phases"]["free"]["mean_iterations"] == op.iterations
    assert summary["phases"]["free"]["strategies"] == {op.strategy: 3}
    assert summary["loss_initial"] == 1.0 and summary["loss_final"] == 0.5
    assert summary["alignment_final"] == pytest.approx(np.sqrt(0.5))
    assert [r.sample for r in report.records] == [0, 0, 1, 0]
    assert [r.step for r in report.records] == [1, 1, 1, 2]
    assert report.failures() == []
    assert set(report.iterations_by_phase()) == {"free", "nudged"}
    assert report.to_dict()["losses"] == [1.0, 0.5]


def test_failures_are_counted() -> None:
    op = solve_dc(_diode_circuit())
    failed = replace(op, converged=False, strategy="source")
    report = ConvergenceReport()
    report.record_step({"free": op, "nudged": failed})
    assert report.summary()["phases"]["nudged"]["failures"] == 1
    assert report.failures()[0].phase == "nudged"


def test_kcl_residual_small_at_solution_and_large_off_it() -> None:
    circuit = _diode_circuit()
    op = solve_dc(circuit)
    system = compile_circuit(circuit)
    assert kcl_residual(system, op) < 1e-12
    x = system.state_from(op)
    x[system.node_index["a"]] += 0.01
    assert kcl_residual(system, replace(op, state=x)) > 1e-6


def test_cosine_similarity() -> None:
    assert cosine_similarity([1.0, 0.0], [-2.0, 0.0]) == pytest.approx(-1.0)
    assert np.isnan(cosine_similarity([0.0, 0.0], [1.0, 0.0]))
    with pytest.raises(CircuitError, match="differ in parameters r3"):
        cosine_similarity({"r1": 1.0}, {"r1": 1.0, "r3": 2.0})
