"""ConvergenceReport bookkeeping, KCL residual re-evaluation, output resistance."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from circuitlearn.circuit import Circuit, Diode, Model, Resistor, VoltageSource
from circuitlearn.diagnostics.conservation import output_resistance
from circuitlearn.diagnostics.convergence import ConvergenceReport, cosine_similarity, kcl_residual
from circuitlearn.errors import CircuitError
from circuitlearn.solve import solve_dc
from circuitlearn.solve.mna import compile_circuit


def _diode_circuit() -> Circuit:
    c = Circuit("rd")
    c.add_model(Model("dm", "d", {}))
    for element in (VoltageSource("v1", "in", "0", 5.0), Resistor("r1", "in", "a", 1e3),
                    Diode("d1", "a", "b", "dm"), Resistor("r2", "b", "0", 1e3)):
        c.add(element)
    return c


def test_records_per_phase_and_sample() -> None:
    op = solve_dc(_diode_circuit())
    report = ConvergenceReport()
    report.record_step([{"free": op, "nudged": op}, {"free": op}], cost=1.0,
                       estimate={"r1": 1.0, "r2": 0.0}, exact={"r1": 1.0, "r2": 1.0})
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


def test_output_resistance_of_a_ladder() -> None:
    """R_out of out = r3 + (r1 || r2) in parallel with r4, with the input source shorted."""
    c = Circuit("ladder")
    r1, r2, r3, r4 = 1e3, 2e3, 3e3, 4e3
    for element in (VoltageSource("v1", "in", "0", 1.0), Resistor("r1", "in", "a", r1),
                    Resistor("r2", "a", "0", r2), Resistor("r3", "a", "out", r3), Resistor("r4", "out", "0", r4)):
        c.add(element)
    system = compile_circuit(c)
    x = system.state_from(solve_dc(c))
    upstream = r3 + r1 * r2 / (r1 + r2)
    expected = upstream * r4 / (upstream + r4)
    r_out = output_resistance(system, x, ["out", "a"])
    assert r_out[0, 0] == pytest.approx(expected, rel=1e-12)
    assert r_out[0, 1] == pytest.approx(r_out[1, 0], rel=1e-12)  # reciprocity
    with pytest.raises(CircuitError, match="output node 'in' is not a free node.*held by a voltage source"):
        output_resistance(system, x, ["in"])
