"""MNA compilation: unknown layout, sign conventions, Jacobian, value updates, errors."""

from __future__ import annotations

import numpy as np
import pytest

from circuitlearn.circuit import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    Circuit,
    CurrentSource,
    Diode,
    Model,
    Mosfet,
    Resistor,
    VoltageSource,
)
from circuitlearn.errors import CircuitError
from circuitlearn.solve.mna import compile_circuit
from circuitlearn.solve.newton import solve_native


def mixed_circuit() -> Circuit:
    """Every element type, PMOS and NMOS with RD/RS, a diode with RS, a floating V source."""
    c = Circuit("mixed")
    c.add_model(Model("dm", "d", {"rs": 10}))
    c.add_model(
        Model("nm", "nmos", {"vto": 0.7, "kp": 1e-4, "gamma": 0.4, "lambda": 0.02, "rd": 50})
    )
    c.add_model(Model("pm", "pmos", {"vto": -0.7, "kp": 5e-5, "lambda": 0.02, "rs": 20}))
    c.add(VoltageSource("v1", "in", "0", 5.0))
    c.add(Resistor("r1", "in", "a", 1e3))
    c.add(Diode("d1", "a", "b", "dm"))
    c.add(Resistor("r2", "b", "0", 1e3))
    c.add(VoltageSource("vdd", "vdd", "0", 3.0))
    c.add(Resistor("rl", "vdd", "dr", 10e3))
    c.add(Mosfet("m1", "dr", "b", "0", "0", "nm"))
    c.add(Mosfet("m2", "o2", "dr", "vdd", "vdd", "pm"))
    c.add(Resistor("r3", "o2", "0", 20e3))
    c.add(VCVS("e1", "e", "0", "a", "b", 2.0))
    c.add(Resistor("re", "e", "0", 1e3))
    c.add(VCCS("g1", "0", "gg", "a", "0", 1e-3))
    c.add(Resistor("rg", "gg", "0", 1e3))
    c.add(VoltageSource("vs", "x", "dr", 0.0))
    c.add(Resistor("rx", "x", "0", 1e5))
    c.add(CCCS("f1", "0", "ff", "vs", 3.0))
    c.add(Resistor("rf", "ff", "0", 1e3))
    c.add(CCVS("h1", "hh", "0", "vs", 1e3))
    c.add(Resistor("rh", "hh", "0", 1e3))
    return c


def divider(v: float = 2.0) -> Circuit:
    c = Circuit("divider")
    c.add(VoltageSource("v1", "in", "0", v))
    c.add(Resistor("r1", "in", "out", 1e3))
    c.add(Resistor("r2", "out", "0", 3e3))
    return c


def test_unknown_layout_eliminates_grounded_sources() -> None:
    s = compile_circuit(mixed_circuit())
    assert s.fixed_nodes == {"in": ("v1", 5.0), "vdd": ("vdd", 3.0)}
    assert s.unknowns[: len(s.node_index)] == [
        "a",
        "b",
        "dr",
        "o2",
        "e",
        "gg",
        "x",
        "ff",
        "hh",
        "d1#internal",
        "m1#drain",
        "m2#source",
    ]
    assert s.unknowns[len(s.node_index) :] == ["i(e1)", "i(vs)", "i(h1)"]
    assert s.branch_index == {"e1": 12, "vs": 13, "h1": 14}


def test_negative_terminal_source_fixes_node_at_minus_v() -> None:
    c = Circuit()
    c.add(VoltageSource("v1", "0", "n", 2.0))
    c.add(Resistor("r1", "n", "0", 1e3))
    s = compile_circuit(c)
    assert s.fixed_nodes == {"n": ("v1", -2.0)}
    op = solve_native(c)
    assert op.voltages["n"] == -2.0
    # 2 mA flows from ground through r1 into n, then through the source from n to + (ground):
    # against i(v1)'s direction (+ through the source to -), so i(v1) < 0 as it delivers power
    assert op.currents["v1"] == pytest.approx(-2e-3, rel=1e-12)


def test_kcl_rows_count_currents_leaving() -> None:
    c = Circuit()
    c.add(CurrentSource("i1", "0", "a", 1e-3))  # pushes 1 mA into a
    c.add(Resistor("r1", "a", "0", 1e3))
    s = compile_circuit(c)
    np.testing.assert_allclose(s.residual(np.array([0.0])), [-1e-3])
    np.testing.assert_allclose(s.residual(np.array([1.0])), [0.0], atol=1e-18)


def test_branch_rows_follow_the_documented_laws() -> None:
    c = Circuit()
    c.add(VoltageSource("vx", "p", "q", 1.5))
    c.add(Resistor("rp", "p", "0", 1e3))
    c.add(Resistor("rq", "q", "0", 1e3))
    c.add(VCVS("e1", "o", "0", "p", "q", 3.0))
    c.add(Resistor("ro", "o", "0", 1e3))
    c.add(CCVS("h1", "h", "0", "vx", 50.0))
    c.add(Resistor("rh", "h", "0", 1e3))
    s = compile_circuit(c)
    x = np.arange(1.0, s.n + 1.0)
    r = s.residual(x)
    v = {node: x[i] for node, i in s.node_index.items()}
    i = {name: x[k] for name, k in s.branch_index.items()}
    assert r[s.branch_index["vx"]] == pytest.approx(v["p"] - v["q"] - 1.5)
    assert r[s.branch_index["e1"]] == pytest.approx(v["o"] - 3.0 * (v["p"] - v["q"]))
    assert r[s.branch_index["h1"]] == pytest.approx(v["h"] - 50.0 * i["vx"])
    # +i_b in row p, -i_b in row n
    assert r[s.node_index["p"]] == pytest.approx(v["p"] / 1e3 + i["vx"])
    assert r[s.node_index["q"]] == pytest.approx(v["q"] / 1e3 - i["vx"])


def test_jacobian_matches_finite_differences() -> None:
    s = compile_circuit(mixed_circuit())
    rng = np.random.default_rng(3)
    for _ in range(4):
        x = rng.normal(scale=1.5, size=s.n)
        jac = s.jacobian(x).toarray()
        fd = np.empty_like(jac)
        for k in range(s.n):
            h = np.zeros(s.n)
            h[k] = 1e-6
            fd[:, k] = (s.residual(x + h) - s.residual(x - h)) / 2e-6
        assert np.max(np.abs(jac - fd)) <= 1e-6 * np.max(np.abs(jac))


def test_jacobian_is_symmetric_for_reciprocal_circuits() -> None:
    c = Circuit()
    c.add_model(Model("dm", "d"))
    c.add(VoltageSource("v1", "in", "0", 1.0))
    c.add(VoltageSource("v2", "a", "b", 0.3))
    c.add(Resistor("r1", "in", "a", 1e3))
    c.add(Resistor("r2", "b", "0", 2e3))
    c.add(Diode("d1", "a", "0", "dm"))
    c.add(CurrentSource("i1", "0", "b", 1e-4))
    s = compile_circuit(c)
    jac = s.jacobian(np.array([0.5, 0.2, 1e-3])).toarray()
    np.testing.assert_allclose(jac, jac.T, rtol=0, atol=1e-15)


def test_set_values_equals_recompiling() -> None:
    c = mixed_circuit()
    s = compile_circuit(c)
    s.set_values({"r1": 2.2e3, "v1": 4.0, "e1": 1.5, "g1": 2e-3, "f1": 2.0, "h1": 500.0})
    changed = mixed_circuit()
    for name, value in {
        "r1": 2.2e3,
        "v1": 4.0,
        "e1": 1.5,
        "g1": 2e-3,
        "f1": 2.0,
        "h1": 500.0,
    }.items():
        changed.set_value(name, value)
    a, b = solve_native(s), solve_native(changed)
    assert s.fixed_nodes["in"] == ("v1", 4.0)
    for node, value in b.voltages.items():
        assert a.voltages[node] == pytest.approx(value, rel=1e-12, abs=1e-15)


def test_conductances_are_settable() -> None:
    s = compile_circuit(divider())
    assert s.resistor_names == ["r1", "r2"]
    np.testing.assert_allclose(s.conductances, [1e-3, 1 / 3e3])
    s.conductances = np.array([1e-3, 1e-3])
    assert solve_native(s).voltages["out"] == pytest.approx(1.0, rel=1e-14)
    assert s.circuit["r2"].resistance == pytest.approx(1e3)
    with pytest.raises(CircuitError, match="positive finite"):
        s.conductances = np.array([1e-3, -1.0])


def test_a_subset_of_conductances_is_settable_and_checked_once() -> None:
    s = compile_circuit(divider())
    whole = compile_circuit(divider())
    s.set_conductances_at(np.array([1]), np.array([1e-3]))
    whole.set_conductances(np.array([1e-3, 1e-3]), sync_circuit=False)
    np.testing.assert_array_equal(s.conductances, whole.conductances)
    assert solve_native(s).voltages["out"] == pytest.approx(1.0, rel=1e-14)
    assert s.circuit["r2"].resistance == pytest.approx(3e3)  # the circuit keeps its values
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(CircuitError, match=r"resistor r1: G = .* not positive and finite"):
            s.set_conductances_at(np.array([1, 0]), np.array([1e-3, bad]))
    with pytest.raises(CircuitError, match="one value per resistor"):
        s.set_conductances_at(np.array([0, 1]), np.array([1e-3]))
    np.testing.assert_array_equal(s.conductances, [1e-3, 1e-3])  # a refused write changes nothing
    np.testing.assert_array_equal(s.conductances_at(np.array([1, 0])), [1e-3, 1e-3])
    s.conductances_at(np.array([0]))[0] = 5.0  # a copy
    assert s.conductances[0] == 1e-3


@pytest.mark.parametrize("interleaved", [False, True], ids=["one run", "interleaved"])
def test_conductances_by_slice_equal_those_by_index(interleaved: bool) -> None:
    """A slice of resistors reads and writes as a block when their slots are one run, and as an
    index otherwise (sources between them): the same values either way."""
    from circuitlearn.circuit import Circuit, Resistor, VoltageSource

    c = Circuit()
    c.add(Resistor("r1", "a", "b", 1e3))
    if interleaved:
        c.add(VoltageSource("v1", "a", "0", 1.0))
    c.add(Resistor("r2", "b", "0", 1e3))
    c.add(Resistor("r3", "b", "c", 2e3))
    c.add(Resistor("r4", "c", "0", 4e3))
    if not interleaved:
        c.add(VoltageSource("v1", "a", "0", 1.0))
    by_slice, by_index = compile_circuit(c), compile_circuit(c)
    assert (by_slice._resistor_offset is None) == interleaved
    values = np.array([2e-3, 3e-3])
    by_slice.set_conductances_at(slice(1, 3), values)
    by_index.set_conductances_at(np.array([1, 2]), values)
    np.testing.assert_array_equal(by_slice.conductances, by_index.conductances)
    np.testing.assert_array_equal(by_slice.conductances, [1e-3, 2e-3, 3e-3, 2.5e-4])
    read = by_slice.conductances_at(slice(1, 3))
    np.testing.assert_array_equal(read, values)
    read[0] = 9.0  # a copy, not a view of the system's values
    assert by_slice.conductances[1] == 2e-3
    assert solve_native(by_slice).voltages == solve_native(by_index).voltages
    with pytest.raises(CircuitError, match="resistor r3: G"):
        by_slice.set_conductances_at(slice(1, 3), np.array([1e-3, -1.0]))
    with pytest.raises(CircuitError, match="one value per resistor"):
        by_slice.set_conductances_at(slice(0, 3), values)


def test_state_from_round_trip_and_currents() -> None:
    s = compile_circuit(mixed_circuit())
    op = solve_native(s)
    stripped = type(op)(op.voltages, op.currents, True, 0, "newton", 0.0, "", "ngspice")
    x = s.state_from(stripped)
    internal = [s.node_index[n] for n in ("d1#internal", "m1#drain", "m2#source")]
    keep = np.setdiff1d(np.arange(s.n), internal)
    np.testing.assert_allclose(x[keep], op.state[keep], rtol=1e-12)
    warm = solve_native(s, x0=stripped)
    np.testing.assert_allclose(x, op.state, rtol=1e-9, atol=1e-13)
    assert warm.converged and warm.iterations <= 2
    np.testing.assert_allclose(warm.state, op.state, rtol=1e-9, atol=1e-12)


def test_divider_source_current_has_ngspice_sign() -> None:
    op = solve_native(divider(2.0))
    assert op.currents == {"v1": pytest.approx(-0.5e-3, rel=1e-14)}
    assert op.voltages == {"in": 2.0, "out": pytest.approx(1.5, rel=1e-14)}


def test_compile_names_floating_nodes_and_source_loops() -> None:
    c = divider()
    c.add(CurrentSource("i1", "out", "lost", 1e-3))
    with pytest.raises(CircuitError, match="floating node lost"):
        compile_circuit(c)
    c = divider()
    c.add(VoltageSource("v2", "in", "0", 1.0))
    with pytest.raises(CircuitError, match="loop of voltage sources v1 -> v2"):
        compile_circuit(c)


def test_bad_mosfet_geometry_and_unknown_values_are_named() -> None:
    c = divider()
    c.add_model(Model("nm", "nmos", {"ld": 1e-6}))
    c.add(Mosfet("m1", "out", "in", "0", "0", "nm", w=1e-6, l=1e-6))
    with pytest.raises(CircuitError, match="MOSFET m1: effective length"):
        compile_circuit(c)
    s = compile_circuit(divider())
    with pytest.raises(CircuitError, match="no element named 'r9'"):
        s.set_values({"r9": 1.0})


def test_system_owns_its_circuit() -> None:
    c = divider()
    s = compile_circuit(c)
    s.set_values({"r1": 5e3})
    s.conductances = np.array([1e-4, 1e-4])
    assert c["r1"].resistance == 1e3 and c["r2"].resistance == 3e3
    assert s.circuit is not c and s.circuit["r1"].resistance == pytest.approx(1e4)


def test_fast_updates_without_circuit_sync() -> None:
    s = compile_circuit(divider())
    s.set_conductances(np.array([1e-3, 1e-3]), sync_circuit=False)
    assert s.circuit["r2"].resistance == 3e3  # the compiled values are kept there
    assert solve_native(s).voltages["out"] == pytest.approx(1.0, rel=1e-14)
    s.set_values({"v1": 4.0}, sync_circuit=False)
    assert solve_native(s).voltages["out"] == pytest.approx(2.0, rel=1e-14)
    with pytest.raises(CircuitError, match="resistance must be positive"):
        s.set_values({"r1": -5.0}, sync_circuit=False)


def test_set_values_at_matches_a_fresh_compilation() -> None:
    names = ["v1", "r1", "g1", "e1", "f1", "h1", "vs", "vdd"]
    values = np.array([4.0, 2e3, 2e-3, 1.5, -2.0, 500.0, 0.1, 2.5])
    changed = mixed_circuit()
    for name, value in zip(names, values, strict=True):
        changed.set_value(name, float(value))
    reference = compile_circuit(changed)
    s = compile_circuit(mixed_circuit())
    s.set_values_at(s.value_index([n.upper() for n in names]), values)
    assert s.fixed_nodes == reference.fixed_nodes == {"in": ("v1", 4.0), "vdd": ("vdd", 2.5)}
    assert s.circuit["r1"].resistance == 1e3  # no circuit sync
    x = np.random.default_rng(1).uniform(-1.0, 1.0, s.n)
    np.testing.assert_array_equal(s.residual(x), reference.residual(x))
    np.testing.assert_array_equal(s.jacobian(x).toarray(), reference.jacobian(x).toarray())
    op, op_ref = solve_native(s), solve_native(reference)
    assert op.voltages == pytest.approx(op_ref.voltages, rel=1e-12, abs=1e-15)


def test_value_index_and_set_values_at_errors_name_the_element() -> None:
    s = compile_circuit(mixed_circuit())
    with pytest.raises(CircuitError, match="diode d1: its value cannot be changed"):
        s.value_index(["r1", "d1"])
    with pytest.raises(CircuitError, match="no element named 'r9'"):
        s.value_index(["r9"])
    index = s.value_index(["v1", "r2"])
    with pytest.raises(CircuitError, match="resistor r2: resistance must be positive"):
        s.set_values_at(index, np.array([1.0, -5.0]))
    with pytest.raises(CircuitError, match="expected one value per index entry"):
        s.set_values_at(index, np.array([1.0]))
    with pytest.raises(CircuitError, match=r"not from MNASystem\.value_index"):
        s.set_values_at(np.array([0]), np.array([1.0]))  # the constant slot of incidences
    assert s.conductances.tolist() == compile_circuit(mixed_circuit()).conductances.tolist()


def test_copy_owns_its_values_and_shares_the_pattern() -> None:
    s = compile_circuit(divider())
    x = np.array([0.3])
    before = s.residual(x).copy()
    twin = s.copy()
    twin.set_values({"v1": 4.0, "r1": 3e3})
    assert solve_native(twin).voltages["out"] == pytest.approx(2.0, rel=1e-14)
    np.testing.assert_array_equal(s.residual(x), before)
    s.set_values({"r2": 3e3})  # a rebuild from s's own values (unchanged by the twin's)
    np.testing.assert_array_equal(s.residual(x), before)
    assert s.fixed_nodes == {"in": ("v1", 2.0)} and twin.fixed_nodes == {"in": ("v1", 4.0)}
    assert s.circuit["r1"].resistance == 1e3 and twin.circuit["r1"].resistance == 3e3
    assert twin.pattern[0] is s.pattern[0]
    updated = divider(6.0)
    third = s.copy(circuit=updated)
    third.set_values({"v1": 6.0}, sync_circuit=False)
    assert third.circuit is updated and third.voltages(np.array([4.5]))["in"] == 6.0
    with pytest.raises(CircuitError, match="has 4 elements; expected the 3"):
        s.copy(circuit=_grown(divider()))


def test_fixed_rows_built_on_demand_follow_each_copy_s_values() -> None:
    # evaluate(full=True) builds the fixed nodes' rows only when asked: a copy that asks after
    # changing its values gets its own, the original keeps its own (currents of the sources)
    s = compile_circuit(divider())
    x = np.array([1.0])
    s.evaluate(x, jacobian=False)  # unknown rows only
    twin = s.copy()
    twin.set_values({"r1": 3e3})
    assert twin.currents(x)["v1"] == pytest.approx(-(2.0 - 1.0) / 3e3, rel=1e-14)
    assert s.currents(x)["v1"] == pytest.approx(-(2.0 - 1.0) / 1e3, rel=1e-14)
    fresh = compile_circuit(divider())
    np.testing.assert_array_equal(
        s.evaluate(x, full=True).extended_residual, fresh.evaluate(x, full=True).extended_residual
    )


def _grown(circuit: Circuit) -> Circuit:
    """``circuit`` with one more resistor."""
    circuit.add(Resistor("r3", "out", "0", 1e3))
    return circuit
