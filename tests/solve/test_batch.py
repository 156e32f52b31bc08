"""Batched solves: equal to one-at-a-time, linear fast path, warm starts, failures never dropped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from circuitlearn.errors import CircuitError, ConvergenceError
from circuitlearn.netlist import from_spice
from circuitlearn.solve.batch import solve_batch
from circuitlearn.solve.mna import compile_circuit
from circuitlearn.solve.newton import solve_native

DECKS = Path(__file__).resolve().parents[2] / "netlists"


def one_at_a_time(circuit, source: str, values: np.ndarray) -> list:
    out = []
    for value in values:
        c = circuit.copy()
        c.set_value(source, float(value))
        out.append(solve_native(c))
    return out


@pytest.mark.parametrize(
    ("deck", "source"),
    [
        ("diode_ladder", "v1"),
        ("cmos_inverter", "vin"),
        ("hard_latch", "iset"),
        ("hard_diode_string", "v3"),
    ],
)
def test_batch_equals_one_at_a_time(deck: str, source: str) -> None:
    circuit = from_spice(DECKS / f"{deck}.cir")
    base = float(circuit[source].dc)
    values = base * np.linspace(-0.5, 1.5, 9)
    batch = solve_batch(circuit, {source: values})
    singles = one_at_a_time(circuit, source, values)
    assert batch.converged.all()
    for k, op in enumerate(singles):
        assert op.converged
        for node, v in op.voltages.items():
            assert batch.voltage(node)[k] == pytest.approx(v, rel=1e-9, abs=1e-12)
    assert batch.nodes == list(circuit.flatten().nodes)


def test_linear_fast_path_one_iteration_per_sample() -> None:
    circuit = from_spice(DECKS / "resistor_network.cir")
    system = compile_circuit(circuit)
    assert system.is_linear
    source = next(iter(system.fixed_nodes.values()))[0]
    values = np.linspace(-3, 3, 7)
    batch = solve_batch(system, {source: values})
    assert batch.iterations.tolist() == [1] * 7 and batch.converged.all()
    for k, op in enumerate(one_at_a_time(circuit, source, values)):
        np.testing.assert_allclose(
            [batch.voltage(n)[k] for n in op.voltages],
            list(op.voltages.values()),
            rtol=1e-12,
            atol=1e-15,
        )


def test_warm_start_from_previous_batch() -> None:
    circuit = from_spice(DECKS / "diode_ladder.cir")
    values = np.linspace(4.0, 6.0, 20)
    cold = solve_batch(circuit, {"v1": values})
    warm = solve_batch(circuit, {"v1": values + 1e-3}, x0=cold)
    assert warm.converged.all()
    assert warm.iterations.max() < cold.iterations.min()
    again = solve_batch(circuit, {"v1": values + 1e-3})
    np.testing.assert_allclose(warm.voltages, again.voltages, rtol=1e-9, atol=1e-12)


def test_partial_failure_warns_and_total_failure_raises() -> None:
    circuit = from_spice(DECKS / "diode_ladder.cir")
    options = {"max_iterations": 3, "homotopy": False}
    solved = solve_native(circuit).state
    start = np.stack([solved, np.zeros_like(solved)])  # sample 0 starts at its answer
    with pytest.warns(RuntimeWarning, match="1 of 2 samples did not converge"):
        batch = solve_batch(circuit, {"v1": [5.0, 5.0]}, x0=start, options=options)
    assert batch.converged.tolist() == [True, False]
    assert batch.iterations.tolist() == [1, 3]
    with pytest.raises(ConvergenceError, match="none of the 2 samples converged") as info:
        solve_batch(circuit, {"v1": [4.0, 5.0]}, options=options)
    assert info.value.result.converged.tolist() == [False, False]


def test_homotopy_rescues_failed_samples() -> None:
    circuit = from_spice(DECKS / "hard_source_step.cir")
    batch = solve_batch(circuit, {"v1": [11.327235378450785]})
    assert batch.converged.all()
    np.testing.assert_allclose(
        batch.voltages[0], list(solve_native(circuit).voltages.values()), rtol=1e-9
    )


def test_bad_inputs_are_named() -> None:
    circuit = from_spice(DECKS / "diode_ladder.cir")
    with pytest.raises(CircuitError, match="'r1' is not an independent V or I source"):
        solve_batch(circuit, {"r1": [1.0]})
    with pytest.raises(CircuitError, match="same length"):
        solve_batch(circuit, {"v1": [[1.0, 2.0]]})
    with pytest.raises(CircuitError, match="x0 must have shape"):
        solve_batch(circuit, {"v1": [1.0, 2.0]}, x0=np.zeros((3, 2)))


def test_layered_network_uses_the_exact_schur_path() -> None:
    from circuitlearn.circuit import kendall_network

    net = kendall_network(12, 8, 3, seed=1, bias_voltages=(-0.3, 0.3))
    system = compile_circuit(net.circuit)
    plan = system.schur_plan
    assert plan is not None
    assert sorted(system.unknowns[k] for k in plan.rest) == ["out0", "out1", "out2"]
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (6, 12))
    inputs = {
        name: x[:, k // 2] * (1 if name.endswith("p") else -1)
        for k, name in enumerate(net.input_sources)
    }
    batch = solve_batch(system, inputs)
    for k in range(6):
        op = solve_native(net.with_inputs(x[k]))
        for node, v in op.voltages.items():
            assert batch.voltage(node)[k] == pytest.approx(v, rel=1e-10, abs=1e-13)


def test_dense_input_block_equals_the_sparse_rows_to_the_bit() -> None:
    """The dense input block of a batched solve (BLAS) is the sparse rows' values, duplicates
    (parallel resistors to one input) summed in the same order."""
    from circuitlearn.circuit import Resistor, kendall_network

    net = kendall_network(5, 4, 2, seed=3, bias_voltages=(0.6, -0.6))
    circuit = net.circuit.copy()
    circuit.add(Resistor("rpar", "in0p", "h1_0", 2e4))  # beside r_in0p_h1_0
    system = compile_circuit(circuit)
    pattern = system._lin_fixed
    assert len(np.unique(pattern._position)) < len(pattern._position), "a duplicated position"
    system.set_conductances(system.conductances * np.linspace(0.5, 2.0, len(system.conductances)))
    system.sources()  # the values are rebuilt on first use
    dense = system._A_fixed_dense_T
    assert dense is not None and dense.flags.c_contiguous, "the dense path is taken"
    rows = system._lin_fixed.rows(system._params, system.n).toarray()
    np.testing.assert_array_equal(dense, rows.T)
    assert np.count_nonzero(dense) < dense.size  # a layout with zeros: not a full block


def test_input_columns_read_as_a_mapping_and_refuse_bad_shapes() -> None:
    from circuitlearn.solve.batch import InputColumns

    values = np.arange(6.0).reshape(3, 2)
    columns = InputColumns(["V1", "v2"], values)
    assert list(columns) == ["v1", "v2"] and len(columns) == 2
    np.testing.assert_array_equal(columns["v2"], [1.0, 3.0, 5.0])
    assert dict(columns).keys() == {"v1", "v2"}
    part = columns.rows(np.array([2, 0]))
    np.testing.assert_array_equal(part["v1"], [4.0, 0.0])
    with pytest.raises(CircuitError, match="one column per source"):
        InputColumns(["v1"], values)
    with pytest.raises(CircuitError, match="one column per source"):
        InputColumns(["v1", "v2"], values[0])
    with pytest.raises(CircuitError, match=r"named more than once: \['v1'\]"):
        InputColumns(["v1", "V1"], values)


def test_input_columns_place_the_sources_as_a_mapping_does() -> None:
    from circuitlearn.circuit import kendall_network
    from circuitlearn.solve.batch import InputColumns, batch_sources

    net = kendall_network(5, 4, 2, seed=3, bias_voltages=(0.6, -0.6))
    system = compile_circuit(net.circuit)
    rng = np.random.default_rng(2)
    values = rng.uniform(-1.0, 1.0, (9, len(net.input_sources)))
    by_name, _ = batch_sources(system, dict(zip(net.input_sources, values.T, strict=True)))
    by_array, n = batch_sources(system, InputColumns(net.input_sources, values))
    assert n == 9
    for field in ("tail", "const", "const_abs"):
        np.testing.assert_array_equal(getattr(by_name, field), getattr(by_array, field))
    values[4, 1] = np.nan
    with pytest.raises(CircuitError, match="non-finite"):
        batch_sources(system, InputColumns(net.input_sources, values))


def test_floating_and_current_source_inputs() -> None:
    from circuitlearn.circuit import Circuit, CurrentSource, Diode, Model, Resistor, VoltageSource

    c = Circuit("floating source and current source inputs")
    c.add_model(Model("dm", "d"))
    c.add(VoltageSource("v1", "a", "0", 1.0))
    c.add(VoltageSource("vf", "b", "a", 0.5))  # floating: a branch unknown, not a fixed node
    c.add(Resistor("r1", "b", "c", 1e3))
    c.add(Diode("d1", "c", "0", "dm"))
    c.add(CurrentSource("i1", "0", "c", 1e-4))
    c.add(Resistor("r2", "c", "0", 1e4))
    vf, i1 = np.array([0.0, 0.5, 2.0]), np.array([0.0, 1e-4, -2e-4])
    batch = solve_batch(c, {"vf": vf, "i1": i1})
    for k in range(3):
        single = c.copy()
        single.set_value("vf", float(vf[k]))
        single.set_value("i1", float(i1[k]))
        op = solve_native(single)
        np.testing.assert_allclose(
            batch.voltages[k], [op.voltages[n] for n in batch.nodes], rtol=1e-10, atol=1e-13
        )


def test_amplified_layers_use_the_block_schur_path() -> None:
    """Hidden units of five unknowns (node, amplifier output, sense node, two branches): blocks."""
    from circuitlearn.circuit import kendall_network
    from circuitlearn.solve.batch import BatchSolver, batch_sources
    from circuitlearn.solve.layered import BlockSchurPlan

    net = kendall_network(6, 12, 3, seed=2, bias_voltages=(0.6, -0.6), amplifier_gain=2.0,
                          feedback_gain=0.5)  # fmt: skip
    system = compile_circuit(net.circuit)
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (4, 6))
    inputs = {n: x[:, k // 2] * (1 if n.endswith("p") else -1)
              for k, n in enumerate(net.input_sources)}  # fmt: skip
    batch = solve_batch(system, inputs)
    solver = BatchSolver.of(system)
    assert isinstance(solver.plans[0], BlockSchurPlan), "the block plan took over"
    block = solver.plans[0]
    assert sorted(system.unknowns[k] for k in block.rest) == ["out0", "out1", "out2"]
    assert {g.shape[1] for g in block.groups} == {5}
    data = system.evaluate(batch.states, sources=batch_sources(system, inputs)[0]).jacobian_data
    rhs = rng.normal(size=batch.states.shape)
    by_lu = BatchSolver(*system.pattern, system.n)
    by_lu._plans = []
    np.testing.assert_allclose(solver.solve(data, rhs), by_lu.solve(data, rhs), rtol=1e-11)
    for k in range(4):
        op = solve_native(net.with_inputs(x[k]))
        for node, v in op.voltages.items():
            assert batch.voltage(node)[k] == pytest.approx(v, rel=1e-10, abs=1e-13)


@pytest.mark.parametrize("deck", ["bjt_bandgap.cir", "cmos_inverter.cir", "diode_ladder.cir"])
def test_deferred_row_scales_equal_the_evaluated_ones_to_the_bit(deck: str) -> None:
    """Batched Newton forms the residual tolerances' row scales only for the samples whose
    update is small (``magnitudes=False``); those rows are the eager evaluation's."""
    system = compile_circuit(from_spice(DECKS / deck))
    rng = np.random.default_rng(4)
    x = rng.uniform(-1.0, 2.0, (5, system.n))
    state = system.raw_state(x[0])
    old = {k: {q: np.tile(v, (5, 1)) for q, v in g.items()} for k, g in state.items()}
    eager = system.evaluate(x, old_state=old)
    lazy = system.evaluate(x, old_state=old, magnitudes=False)
    assert lazy.scale is None and eager.deferred is None
    np.testing.assert_array_equal(lazy.residual, eager.residual)
    for rows in (np.array([3]), np.array([0, 2, 4])):
        np.testing.assert_array_equal(lazy.scale_of(rows), eager.scale[rows])
        np.testing.assert_array_equal(eager.scale_of(rows), eager.scale[rows])
