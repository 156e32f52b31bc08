"""Builders: networkx round trips, crossbars, random networks, Kendall-style layered networks."""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuitlearn._random import check_random_state
from circuitlearn.circuit import (
    VCVS,
    Circuit,
    CurrentSource,
    Diode,
    Resistor,
    VoltageSource,
    check_topology,
    crossbar,
    from_networkx,
    kendall_network,
    random_resistor_network,
    to_networkx,
)
from circuitlearn.errors import CircuitError
from circuitlearn.solve import solve_dc


def _weighted_path(n: int = 4, g: float = 1e-3) -> nx.Graph:
    graph = nx.path_graph(n)
    nx.set_edge_attributes(graph, g, "conductance")
    return graph


# -- from_networkx / to_networkx ----------------------------------------------------------------


def test_from_networkx_names_values_and_sources():
    graph = _weighted_path(3)
    graph.edges[1, 2]["conductance"] = 4e-3
    circuit = from_networkx(graph, inputs={2: 0.7}, outputs=[1])
    assert [e.name for e in circuit] == ["r_0_n1", "r_n1_n2", "v_n2", "inudge_n1"]
    assert circuit["r_n1_n2"].resistance == pytest.approx(250.0)
    assert circuit["r_0_n1"].nodes == ("0", "n1")
    assert circuit["v_n2"] == VoltageSource("v_n2", "n2", "0", 0.7)
    assert circuit["inudge_n1"] == CurrentSource("inudge_n1", "0", "n1", 0.0)


def test_from_networkx_resistance_weight_and_string_nodes():
    graph = nx.Graph()
    graph.add_edge("GND", "A", resistance=2e3)
    graph.add_edge("A", "b", resistance=1e3, name="rload")
    circuit = from_networkx(graph, weight="resistance", inputs={"A": 1.0})
    assert circuit["r_0_a"].resistance == 2e3
    assert circuit["rload"].nodes == ("a", "b")
    assert circuit.nodes == ("a", "b")


def test_from_networkx_tuple_nodes_of_a_grid():
    graph = nx.grid_2d_graph(2, 2)
    nx.set_edge_attributes(graph, 1e-4, "conductance")
    circuit = from_networkx(graph, ground=(0, 0), inputs={(1, 1): 1.0})
    assert set(circuit.nodes) == {"n0_1", "n1_0", "n1_1"}
    assert "v_n1_1" in circuit
    check_topology(circuit)


def test_parallel_edges_of_a_multigraph_get_distinct_names():
    graph = nx.MultiGraph()
    graph.add_edge(0, 1, conductance=1e-3)
    graph.add_edge(0, 1, conductance=2e-3)
    circuit = from_networkx(graph)
    assert [e.name for e in circuit] == ["r_0_n1", "r_0_n1_1"]


def test_graph_to_circuit_to_graph_keeps_every_conductance():
    rng = np.random.default_rng(3)
    graph = nx.connected_watts_strogatz_graph(12, 4, 0.3, seed=3)
    for u, v in graph.edges:
        graph.edges[u, v]["conductance"] = float(rng.uniform(1e-5, 1e-4))
    back = to_networkx(from_networkx(graph, inputs={5: 1.0}))
    resistors = [(u, v, d) for u, v, d in back.edges(data=True) if d["kind"] == "resistor"]
    assert len(resistors) == graph.number_of_edges()
    expected = {
        frozenset(("0" if n == 0 else f"n{n}") for n in (u, v)): d["conductance"]
        for u, v, d in graph.edges(data=True)
    }
    for u, v, data in resistors:
        assert data["conductance"] == pytest.approx(expected[frozenset((u, v))], rel=1e-15)
        assert data["resistance"] == pytest.approx(1.0 / data["conductance"], rel=1e-15)
    [(u, v, source)] = [
        (u, v, d) for u, v, d in back.edges(data=True) if d["kind"] == "voltage source"
    ]
    assert {u, v} == {"n5", "0"} and source["element"].dc == 1.0


def test_circuit_to_graph_to_circuit_is_identity_for_flat_circuits():
    net = kendall_network(2, [3], 2, seed=4)
    circuit = net.with_inputs([0.3, -0.8])
    again = from_networkx(to_networkx(circuit), ground="0")
    assert {e.name: e for e in again} == {e.name: e for e in circuit}


def test_to_networkx_flattens_expressions():
    circuit = Circuit()
    circuit.set_param("rval", "2k")
    circuit.add(VoltageSource("v1", "a", "0", 1.0))
    circuit.add(Resistor("r1", "a", "0", "{rval*2}"))
    graph = to_networkx(circuit)
    assert graph.edges["a", "0", "r1"]["resistance"] == pytest.approx(4000.0)
    assert graph.has_node("0")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weight": "ohms"}, "weight must be one of conductance, resistance"),
        ({"ground": 99}, "ground node 99 is not in the graph"),
        ({"inputs": {0: 1.0}}, "input node 0 is the ground node"),
        ({"inputs": {7: 1.0}}, "inputs node 7 is not in the graph"),
        ({"inputs": {1: float("nan")}}, "input 1 voltage must be finite"),
        ({"outputs": [0]}, "output node 0 is the ground node"),
        ({"weight": "resistance"}, r"edge \(0, 1\) has no 'resistance' attribute"),
    ],
)
def test_from_networkx_errors(kwargs, message):
    with pytest.raises(CircuitError, match=message):
        from_networkx(_weighted_path(3), **kwargs)


def test_from_networkx_rejects_bad_values_and_graphs():
    graph = _weighted_path(3)
    graph.edges[0, 1]["conductance"] = -1e-3
    with pytest.raises(CircuitError, match=r"edge \(0, 1\) conductance must be positive"):
        from_networkx(graph)
    with pytest.raises(CircuitError, match="no ground node"):
        from_networkx(nx.relabel_nodes(_weighted_path(3), {0: "a", 1: "b", 2: "c"}))
    with pytest.raises(CircuitError, match="expected a networkx graph"):
        from_networkx({0: [1]})
    clash = nx.Graph()
    clash.add_edge(0, "n1", conductance=1.0)
    clash.add_edge(1, "n1", conductance=1.0)
    with pytest.raises(CircuitError, match="both map to node name 'n1'"):
        from_networkx(clash)


# -- crossbar and random networks -----------------------------------------------------------------


def test_crossbar_given_and_random_conductances():
    g = np.array([[1e-3, 2e-3, 4e-3], [5e-4, 2.5e-4, 1e-4]])
    circuit = crossbar(["a", "b"], ["x", "y", "z"], conductances=g)
    assert [e.name for e in circuit][:3] == ["r_a_x", "r_a_y", "r_a_z"]
    assert np.allclose([e.conductance for e in circuit], g.reshape(-1), rtol=1e-15)
    drawn = crossbar(["a"], ["b", "c"], g_range=(2e-5, 3e-5), seed=1)
    values = [e.conductance for e in drawn]
    assert all(2e-5 <= v <= 3e-5 for v in values)
    assert drawn == crossbar(["a"], ["b", "c"], g_range=(2e-5, 3e-5), seed=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"conductances": np.ones((3, 1))}, r"must have shape \(2, 2\)"),
        ({"conductances": np.zeros((2, 2))}, "must be positive and finite"),
        ({"g_range": (1e-4, 1e-5)}, "low <= high"),
        ({"g_range": (0.0, 1e-5)}, "conductance bound must be positive"),
        ({"g_range": 1e-5}, "must be a pair"),
        ({"seed": -1}, "seed must be a non-negative integer"),
    ],
)
def test_crossbar_errors(kwargs, message):
    with pytest.raises(CircuitError, match=message):
        crossbar(["a", "b"], ["c", "d"], **kwargs)


def test_random_resistor_network_is_seeded_and_leaves_the_graph_alone():
    graph = nx.cycle_graph(6)
    a = random_resistor_network(graph, inputs={3: 1.0}, seed=7, g_range=(1e-5, 2e-5))
    b = random_resistor_network(graph, inputs={3: 1.0}, seed=7, g_range=(1e-5, 2e-5))
    c = random_resistor_network(graph, inputs={3: 1.0}, seed=8, g_range=(1e-5, 2e-5))
    assert a == b and a != c
    assert not any("conductance" in d for _, _, d in graph.edges(data=True))
    conductances = [e.conductance for e in a.elements_of(Resistor)]
    assert len(conductances) == 6 and all(1e-5 <= g <= 2e-5 for g in conductances)


def test_check_random_state_accepts_a_shared_generator():
    rng = np.random.default_rng(0)
    assert check_random_state(rng) is rng
    with pytest.raises(CircuitError, match="seed must be None, a non-negative int"):
        check_random_state("zero")


# -- Kendall networks ---------------------------------------------------------------------------


def test_kendall_network_structure():
    net = kendall_network(3, [4, 2], 2, seed=0, g_range=(1e-5, 1e-4))
    c = net.circuit
    assert net.input_sources == ("vin0p", "vin0n", "vin1p", "vin1n", "vin2p", "vin2n")
    assert net.input_nodes == ("in0p", "in0n", "in1p", "in1n", "in2p", "in2n")
    assert net.hidden_nodes == (("h1_0", "h1_1", "h1_2", "h1_3"), ("h2_0", "h2_1"))
    assert net.output_nodes == ("out0", "out1")
    assert net.nudging_sources == ("inudge_0", "inudge_1")
    assert net.bias_sources == ("vbias_lo", "vbias_hi")
    assert len(net.trainable) == 6 * 4 + 4 * 2 + 2 * 2
    assert net.trainable == tuple(e.name for e in c.elements_of(Resistor))
    assert all(1e-5 <= c[name].conductance <= 1e-4 for name in net.trainable)
    diodes = c.elements_of(Diode)
    assert len(diodes) == 2 * 6
    assert c["d_h2_1_up"] == Diode("d_h2_1_up", "h2_1", "bias_hi", "dact")
    assert c["d_h2_1_dn"] == Diode("d_h2_1_dn", "bias_lo", "h2_1", "dact")
    assert c["inudge_1"] == CurrentSource("inudge_1", "0", "out1", 0.0)
    # every crossbar joins consecutive layers only
    layers = [set(net.input_nodes), *map(set, net.hidden_nodes), set(net.output_nodes)]
    for name in net.trainable:
        a, b = c[name].nodes
        assert any(a in layers[k] and b in layers[k + 1] for k in range(len(layers) - 1))
    check_topology(c.flatten())


def test_kendall_network_is_deterministic_with_a_seed():
    a = kendall_network(4, 5, 3, seed=11)
    b = kendall_network(4, 5, 3, seed=11)
    c = kendall_network(4, 5, 3, seed=12)
    assert a.circuit == b.circuit and a.circuit.to_spice() == b.circuit.to_spice()
    assert a.circuit != c.circuit


def test_kendall_network_options():
    net = kendall_network(2, [], 1, differential=False, nudging_sources=False, seed=0)
    assert net.input_sources == ("vin0", "vin1") and net.hidden_nodes == ()
    assert net.nudging_sources == () and net.bias_sources == ()
    assert len(net.circuit) == 2 + 2
    assert net.input_values([0.25, -1.0]) == {"vin0": 0.25, "vin1": -1.0}
    shaped = kendall_network(
        1, 2, 1, seed=0, diode_model={"is": 1e-12, "n": 1.5}, bias_voltages=(-0.2, 0.3)
    )
    assert shaped.circuit.models["dact"].value("n") == 1.5
    assert shaped.circuit["vbias_lo"].dc == -0.2 and shaped.circuit["vbias_hi"].dc == 0.3


def test_kendall_network_relu_units_rectify_with_either_sign():
    """One diode per unit: the first half of a layer is clamped from below only, the rest from
    above only, so a strongly driven excitatory unit follows its input upwards and is held near
    ``low − V_D`` downwards (an inhibitory unit mirrors this)."""
    net = kendall_network(1, 3, 1, seed=0, activation="relu", bias_voltages=(0.6, -0.6))
    c = net.circuit
    assert net.clamps == (("d_h1_0_dn", "d_h1_1_dn", "d_h1_2_up"),)
    assert len(c.elements_of(Diode)) == 3
    assert c["d_h1_0_dn"] == Diode("d_h1_0_dn", "bias_lo", "h1_0", "dact")
    assert c["d_h1_2_up"] == Diode("d_h1_2_up", "h1_2", "bias_hi", "dact")
    # rails 2 V apart would put two saturating diodes 2 V forward in series; one diode is safe
    assert kendall_network(1, 2, 1, activation="relu", bias_voltages=(1.0, -1.0)).clamps
    # the input pair holds ±x: with the (in0p → h) conductance much larger, h follows +x
    g = {name: (1e-3 if name.startswith("r_in0p_") else 1e-6) for name in net.trainable}
    levels = {}
    for x in (2.0, -2.0):
        circuit = net.with_inputs([x])
        for name, value in g.items():
            circuit.replace(circuit[name].with_values(resistance=1 / value))
        levels[x] = solve_dc(circuit, raise_on_failure=True).voltages
    assert levels[2.0]["h1_0"] > 1.9 and levels[-2.0]["h1_2"] < -1.9  # linear side
    assert -0.2 < levels[-2.0]["h1_0"] < 0.2 and -0.2 < levels[2.0]["h1_2"] < 0.2  # clamped


def test_with_inputs_sets_the_differential_pairs():
    net = kendall_network(2, 2, 1, seed=0)
    circuit = net.with_inputs(np.array([0.5, -0.25]))
    assert [circuit[s].dc for s in net.input_sources] == [0.5, -0.5, -0.25, 0.25]
    assert all(net.circuit[s].dc == 0.0 for s in net.input_sources)
    with pytest.raises(CircuitError, match="input vector must have 2 values; got 3"):
        net.input_values([1, 2, 3])


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0, 2, 1), {}, "n_inputs must be an integer >= 1; got 0"),
        ((2, 2, 1.5), {}, "n_outputs must be an integer >= 1; got 1.5"),
        ((2, [3, 0], 1), {}, "hidden layer sizes must be positive"),
        ((2, [-1], 1), {}, "hidden layer size must be an integer >= 0"),
        ((2, 2, 1), {"bias_voltages": (0.7, -0.7)}, "at most 1.3 V"),
        ((2, 2, 1), {"feedback_gain": 2.0}, "feedback_gain needs amplifier_gain"),
        ((2, 2, 1), {"g_range": (1e-3, -1.0)}, "conductance bound must be positive"),
        ((2, 2, 1), {"diode_model": {"vj0": 1}}, "unknown parameter 'vj0'"),
    ],
)
def test_kendall_network_validation(args, kwargs, message):
    with pytest.raises(CircuitError, match=message):
        kendall_network(*args, **kwargs)


@settings(max_examples=25, deadline=None)
@given(
    n_in=st.integers(1, 4),
    hidden=st.lists(st.integers(1, 4), max_size=3),
    n_out=st.integers(1, 3),
    differential=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_kendall_counts_property(n_in, hidden, n_out, differential, seed):
    net = kendall_network(n_in, hidden, n_out, seed=seed, differential=differential)
    widths = [n_in * (2 if differential else 1), *hidden, n_out]
    assert len(net.trainable) == sum(a * b for a, b in itertools.pairwise(widths))
    assert len(net.circuit.elements_of(Diode)) == 2 * sum(hidden)
    assert len(net.circuit.elements_of(VoltageSource)) == widths[0] + (2 if hidden else 0)
    assert len(set(net.circuit.nodes)) == widths[0] + sum(hidden) + n_out + (2 if hidden else 0)
    check_topology(net.circuit)


def test_with_inputs_keeps_models_params_and_subcircuits():
    from circuitlearn.circuit import Subcircuit, SubcircuitInstance

    net = kendall_network(1, 1, 1, seed=0)
    net.circuit.set_param("rload", "2k")
    body = Circuit("load")
    body.add(Resistor("r1", "a", "0", "{rl}"))
    net.circuit.add_subcircuit(Subcircuit("load", ("a",), body, {"rl": 1e3}))
    net.circuit.add(SubcircuitInstance("x1", ("out0",), "load", {"rl": "{rload}"}))
    circuit = net.with_inputs([0.7])
    assert circuit.params == net.circuit.params and circuit.subcircuits == net.circuit.subcircuits
    assert circuit.subcircuits["load"] is not net.circuit.subcircuits["load"]
    assert circuit.flatten()["r.x1.r1"].resistance == 2e3
    assert [e.name for e in circuit] == [e.name for e in net.circuit]
    assert circuit["vin0n"].dc == -0.7


def test_kendall_network_with_amplifiers_is_feed_forward():
    net = kendall_network(2, [3, 2], 1, seed=0, amplifier_gain=2.0)
    c = net.circuit
    assert net.amplifiers == ("e_h1_0", "e_h1_1", "e_h1_2", "e_h2_0", "e_h2_1")
    assert c["e_h1_2"] == VCVS("e_h1_2", "h1_2_a", "0", "h1_2", "0", 2.0)
    assert "r_h1_2_a_h2_1" in net.trainable and "r_h2_1_a_out0" in net.trainable
    plain = kendall_network(2, [3, 2], 1, seed=0)
    assert len(net.trainable) == len(plain.trainable)
    assert [c[n].conductance for n in net.trainable] == [
        plain.circuit[n].conductance for n in plain.trainable
    ]
    # every crossbar row that leaves a hidden layer starts at a buffered node
    assert all(not c[n].n1.startswith("h") or c[n].n1.endswith("_a") for n in net.trainable)
    check_topology(c)
    with pytest.raises(CircuitError, match="amplifier_gain must be nonzero"):
        kendall_network(2, 2, 1, amplifier_gain=0.0)
    with pytest.raises(CircuitError, match="amplifier_gain must be finite"):
        kendall_network(2, 2, 1, amplifier_gain=float("inf"))
