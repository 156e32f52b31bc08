"""References (validate), flattening with ngspice's names and parameter resolution, topology."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuitlearn.circuit import (
    CCCS,
    CCVS,
    VCVS,
    Circuit,
    CurrentSource,
    Diode,
    Expression,
    Model,
    Mosfet,
    Resistor,
    Subcircuit,
    SubcircuitInstance,
    VoltageSource,
    check_topology,
)
from circuitlearn.circuit.topology import floating_islands, voltage_loops
from circuitlearn.errors import CircuitError


def divider_subckt() -> Subcircuit:
    """``.subckt div top mid ratio=1`` with an internal node and a local model."""
    body = Circuit("div")
    body.add_model(Model("dloc", "d", {"is": Expression("1e-14*ratio")}))
    body.set_param("rl", Expression("rbase*ratio"))
    body.add(Resistor("r1", "top", "n1", Expression("rl")))
    body.add(Resistor("r2", "n1", "mid", 1e3))
    body.add(Diode("d1", "n1", "0", "dloc"))
    body.add(VoltageSource("vs", "mid", "m2", 0.0))
    body.add(Resistor("r3", "m2", "0", 1e3))
    body.add(CCCS("f1", "0", "mid", "vs", 2.0))
    return Subcircuit("div", ("top", "mid"), body, {"ratio": 1.0})


def hierarchical() -> Circuit:
    c = Circuit("hier")
    c.set_param("rbase", 1e3)
    c.add_subcircuit(divider_subckt())
    outer = Circuit("outer")
    outer.add(SubcircuitInstance("x1", ("p", "m"), "div", {"ratio": Expression("scale")}))
    outer.add(Resistor("r1", "m", "q", 2e3))
    c.add_subcircuit(Subcircuit("outer", ("p", "q"), outer, {"scale": 3.0}))
    c.add(VoltageSource("v1", "in", "0", 1.0))
    c.add(SubcircuitInstance("x1", ("in", "0"), "outer", {"scale": 2.0}))
    c.add(SubcircuitInstance("x2", ("in", "out"), "div"))
    c.add(Resistor("rl", "out", "0", 1e3))
    return c


def test_flatten_names_like_ngspice() -> None:
    flat = hierarchical().flatten()
    assert [e.name for e in flat] == [
        "v1",
        "r.x1.x1.r1", "r.x1.x1.r2", "d.x1.x1.d1", "v.x1.x1.vs", "r.x1.x1.r3", "f.x1.x1.f1",
        "r.x1.r1",
        "r.x2.r1", "r.x2.r2", "d.x2.d1", "v.x2.vs", "r.x2.r3", "f.x2.f1",
        "rl",
    ]  # fmt: skip
    assert flat.nodes == ("in", "x1.x1.n1", "x1.m", "x1.x1.m2", "x2.n1", "out", "x2.m2")
    assert flat["f.x1.x1.f1"].control == "v.x1.x1.vs"  # controls follow the renaming
    assert flat["r.x1.r1"].nodes == ("x1.m", "0")  # port q of x1 is ground


def test_flatten_resolves_parameters() -> None:
    flat = hierarchical().flatten()
    assert flat["r.x1.x1.r1"].resistance == 2e3  # rl = rbase*ratio, ratio = scale = 2 (instance)
    assert flat["r.x2.r1"].resistance == 1e3  # default ratio=1
    assert flat.is_flat() and not flat.params and not flat.subcircuits
    models = {name: m.params for name, m in flat.models.items()}
    assert models == {
        "x1.x1:dloc": {"is": 2e-14},
        "x2:dloc": {"is": 1e-14},
    }  # local models per instance
    assert flat["d.x1.x1.d1"].model == "x1.x1:dloc"


def test_flatten_keeps_top_level_models_and_expressions() -> None:
    c = Circuit()
    c.set_param("w", 2e-6)
    c.add_model(Model("nch", "nmos", {"kp": Expression("w*50")}))
    c.add(Mosfet("m1", "d", "g", "0", "0", "nch", Expression("w"), 1e-6))
    flat = c.flatten()
    assert flat["m1"].w == 2e-6 and flat.models["nch"].params == {"kp": pytest.approx(1e-4)}


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (
            lambda c: c.add(Diode("d1", "a", "0", "nomodel")),
            r"^diode d1: unknown model 'nomodel' \(add a .model card\)$",
        ),
        (
            lambda c: (c.add_model(Model("n", "nmos")), c.add(Diode("d1", "a", "0", "n"))),
            r"^diode d1: model n is a nmos model; expected d$",
        ),
        (
            lambda c: (
                c.add_model(Model("dd", "d")),
                c.add(Mosfet("m1", "a", "a", "0", "0", "dd")),
            ),
            r"^MOSFET m1: model dd is a d model; expected nmos or pmos$",
        ),
        (
            lambda c: c.add(CCVS("h1", "a", "0", "vx", 1)),
            r"^CCVS h1: controlling voltage source 'vx' not found$",
        ),
        (
            lambda c: c.add(SubcircuitInstance("x1", ("a",), "nosub")),
            r"^subcircuit instance x1: unknown subcircuit 'nosub' \(add a .subckt definition\)$",
        ),
        (
            lambda c: (
                c.add_subcircuit(Subcircuit("s", ("p", "q"))),
                c.add(SubcircuitInstance("x1", ("a",), "s")),
            ),
            r"^subcircuit instance x1: subcircuit s has 2 ports; got 1 nodes$",
        ),
        (
            lambda c: (
                c.add_subcircuit(Subcircuit("s", ("p",))),
                c.add(SubcircuitInstance("x1", ("a",), "s", {"k": 1})),
            ),
            r"^subcircuit instance x1: subcircuit s has no parameter\(s\) k$",
        ),
        (
            lambda c: c.add(Resistor("r9", "a", "0", "2*nope")),
            r"^resistor r9: resistance uses unknown parameter\(s\) nope$",
        ),
    ],
)
def test_validate_and_flatten_report_missing_references(build, match: str) -> None:
    c = Circuit()
    c.add(VoltageSource("v1", "a", "0", 1))
    build(c)
    with pytest.raises(CircuitError, match=match) as info:
        c.validate()
    assert info.value.element is not None
    with pytest.raises(CircuitError, match=match):
        c.flatten()


def test_flatten_reports_errors_inside_subcircuits() -> None:
    body = Circuit("s")
    body.add(Diode("d1", "p", "0", "missing"))
    c = Circuit()
    c.add_subcircuit(Subcircuit("s", ("p",), body))
    c.add(SubcircuitInstance("x1", ("a",), "s"))
    c.validate()  # only the top level is checked here
    with pytest.raises(CircuitError, match=r"^diode d1 in subcircuit s: unknown model 'missing'"):
        c.flatten()


def test_flatten_reports_bad_values_and_recursion() -> None:
    c = Circuit()
    c.set_param("a", 0.0)
    c.add(Resistor("r1", "n", "0", "1/a"))
    with pytest.raises(
        CircuitError, match=r"^resistor r1: resistance: expression '1/a': float division by zero$"
    ):
        c.flatten()
    c = Circuit()
    c.set_param("a", -1.0)
    c.add(Resistor("r1", "n", "0", "a"))
    with pytest.raises(
        CircuitError,
        match=r"^resistor r1: resistance must be positive; got -1.0 .*\(while expanding circuit\)$",
    ):
        c.flatten()
    c = Circuit()
    c.set_param("a", "b+1")
    c.add(Resistor("r1", "n", "0", 1))
    with pytest.raises(
        CircuitError, match=r"^.param in the top level: unknown parameter 'b' in expression 'b\+1'$"
    ):
        c.flatten()
    body = Circuit("s")
    body.add(SubcircuitInstance("x1", ("p",), "s"))
    c = Circuit()
    c.add_subcircuit(Subcircuit("s", ("p",), body))
    c.add(SubcircuitInstance("x1", ("a",), "s"))
    with pytest.raises(CircuitError, match=r"^subcircuit s instantiates itself \(through s\)$"):
        c.flatten()


def test_flatten_name_collision_is_reported() -> None:
    body = Circuit("s")
    body.add(Resistor("r1", "p", "0", 1))
    c = Circuit()
    c.add_subcircuit(Subcircuit("s", ("p",), body))
    c.add(Resistor("r.x1.r1", "a", "0", 1))
    c.add(SubcircuitInstance("x1", ("a",), "s"))
    with pytest.raises(
        CircuitError, match=r"^duplicate element name 'r.x1.r1' \(while expanding instance x1\)$"
    ):
        c.flatten()


# -- topology -----------------------------------------------------------------------------------


def test_floating_island_is_named() -> None:
    c = Circuit()
    c.add(VoltageSource("v1", "a", "0", 1))
    c.add(Resistor("r1", "a", "0", 1e3))
    c.add(Resistor("r2", "b", "c", 1e3))
    c.add(CurrentSource("i1", "a", "b", 1e-3))  # a current source is no DC path
    assert floating_islands(c) == [["b", "c"]]
    with pytest.raises(
        CircuitError,
        match=r"^floating nodes b, c: no DC path to ground \(connect them through a resistor",
    ) as info:
        check_topology(c)
    assert info.value.node == "b"


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 7), st.integers(0, 7), st.booleans()), min_size=1, max_size=14
    )
)
def test_floating_islands_match_a_search_from_ground(edges: list[tuple[int, int, bool]]) -> None:
    # resistors conduct, current sources do not: islands are what a search from 0 cannot reach
    c = Circuit()
    for k, (a, b, conducts) in enumerate(edges):
        ends = ("0" if a == 0 else f"n{a}", "0" if b == 0 else f"n{b}")
        c.add(Resistor(f"r{k}", *ends, 1.0) if conducts else CurrentSource(f"i{k}", *ends, 1.0))
    links = {node: set() for node in (*c.nodes, "0")}
    for element in c.elements_of(Resistor):
        links[element.n1].add(element.n2)
        links[element.n2].add(element.n1)
    unreached, frontier = set(c.nodes), ["0"]
    while frontier:
        for node in links[frontier.pop()] & unreached:
            unreached.discard(node)
            frontier.append(node)
    islands = floating_islands(c)
    assert sorted(n for island in islands for n in island) == sorted(unreached)
    assert [len(i) for i in islands] == sorted((len(i) for i in islands), reverse=True)
    for island in islands:  # each island is closed under the resistors and connected
        reach, todo = {island[0]}, [island[0]]
        while todo:
            for node in links[todo.pop()] - reach:
                reach.add(node)
                todo.append(node)
        assert sorted(reach) == island


def test_mosfet_gate_is_not_a_dc_path() -> None:
    c = Circuit()
    c.add_model(Model("n", "nmos"))
    c.add(VoltageSource("vd", "d", "0", 1))
    c.add(Mosfet("m1", "d", "g", "0", "0", "n"))
    with pytest.raises(CircuitError, match=r"^floating node g: no DC path to ground"):
        check_topology(c.flatten())
    c.add(Resistor("rg", "g", "0", 1e6))
    check_topology(c.flatten())


@pytest.mark.parametrize(
    ("elements", "loop"),
    [
        ([VoltageSource("v1", "a", "0", 1), VoltageSource("v2", "a", "0", 2)], ["v1", "v2"]),
        ([VoltageSource("v1", "a", "a", 1)], ["v1"]),
        (
            [
                VoltageSource("v1", "a", "0", 1),
                VCVS("e1", "b", "a", "a", "0", 2),
                CCVS("h1", "b", "0", "v1", 5),
            ],
            ["e1", "v1", "h1"],
        ),
    ],
)
def test_voltage_source_loops_are_named(elements: list, loop: list[str]) -> None:
    c = Circuit()
    c.extend(elements)
    c.add(Resistor("r1", "a", "0", 1e3))
    assert voltage_loops(c)[0] == loop
    with pytest.raises(
        CircuitError,
        match=rf"^loop of voltage sources {' -> '.join(loop)}: their voltages over-determine",
    ) as info:
        check_topology(c)
    assert info.value.element == loop[-1]


def test_valid_topology_passes() -> None:
    check_topology(hierarchical().flatten())
