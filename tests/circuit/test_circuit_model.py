"""Validation of elements, models and the Circuit container: every error message is checked."""

from __future__ import annotations

import copy
import math

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
    Expression,
    Model,
    Mosfet,
    Resistor,
    Subcircuit,
    SubcircuitInstance,
    VoltageSource,
)
from circuitlearn.errors import CircuitError, CircuitLearnError

# -- elements -----------------------------------------------------------------------------------


def test_names_and_nodes_are_normalised() -> None:
    r = Resistor(" R1 ", "IN", "GND", 1e3)
    assert (r.name, r.nodes) == ("r1", ("in", "0"))
    assert Resistor("r2", 3, 0, 1).nodes == ("3", "0")
    assert VCVS("E1", "O", "0", "P", "N", 2).nodes == ("o", "0", "p", "n")


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Resistor("", "a", "b", 1), r"^resistor name must be a non-empty string; got ''$"),
        (lambda: Resistor("r 1", "a", "b", 1), r"^element name 'r 1' is not a single SPICE word"),
        (lambda: Resistor("r1=2", "a", "b", 1), r"^element name 'r1=2' is not a single"),
        (lambda: Resistor("r1\n.control", "a", "b", 1), r"is not a single SPICE word"),
        (
            lambda: Resistor("x1", "a", "b", 1),
            r"^resistor x1: its name must start with 'r' as in SPICE \(e.g. rx1\)$",
        ),
        (lambda: Diode("r1", "a", "b", "d"), r"^diode r1: its name must start with 'd'"),
        (
            lambda: Resistor("r1", "a b", "b", 1),
            r"^r1: invalid node name 'a b' \(no white space, line breaks, brackets, '=', ','",
        ),
        (lambda: Resistor("r1", "a\n.control", "b", 1), r"^r1: invalid node name"),
        (lambda: Resistor("r1", "*a", "b", 1), r"^r1: invalid node name '\*a'"),
        (lambda: Resistor("r1", ".a", "b", 1), r"^r1: invalid node name '\.a'"),
        (lambda: Resistor("r1", "a;b", "b", 1), r"^r1: invalid node name 'a;b'"),
        (
            lambda: Resistor("r1", "a", "b", 10**400),
            r"^resistor r1: resistance is too large for a float; got an integer of 401 digits$",
        ),
        (lambda: Resistor("r1", "a(1)", "b", 1), r"^r1: invalid node name 'a\(1\)'"),
        (lambda: Resistor("r1", "", "b", 1), r"^r1: invalid node name ''"),
        (lambda: Resistor("r1", 1.5, "b", 1), r"^r1: node names must be strings; got 1.5$"),
        (lambda: Resistor("r1", True, "b", 1), r"^r1: node names must be strings; got True$"),
        (
            lambda: Resistor("r1", "a", "b", math.nan),
            r"^resistor r1: resistance must be finite; got nan$",
        ),
        (
            lambda: Resistor("r1", "a", "b", math.inf),
            r"^resistor r1: resistance must be finite; got inf$",
        ),
        (
            lambda: Resistor("r1", "a", "b", -math.inf),
            r"^resistor r1: resistance must be finite; got -inf$",
        ),
        (
            lambda: Resistor("r1", "a", "b", 0),
            r"^resistor r1: resistance must be positive; got 0.0 \(remove",
        ),
        (
            lambda: Resistor("r1", "a", "b", -5),
            r"^resistor r1: resistance must be positive; got -5.0",
        ),
        (
            lambda: Resistor("r1", "a", "b", True),
            r"^resistor r1: resistance must be a number; got True$",
        ),
        (
            lambda: Resistor("r1", "a", "b", None),
            r"^resistor r1: resistance must be a number; got None$",
        ),
        (
            lambda: Resistor("r1", "a", "b", "a**"),
            r"^resistor r1: resistance: cannot read expression 'a\*\*'",
        ),
        (
            lambda: VoltageSource("v1", "a", "0", math.nan),
            r"^voltage source v1: dc must be finite; got nan$",
        ),
        (
            lambda: CurrentSource("i1", "a", "0", math.inf),
            r"^current source i1: dc must be finite; got inf$",
        ),
        (
            lambda: VCVS("e1", "a", "0", "b", "0", math.nan),
            r"^VCVS e1: gain must be finite; got nan$",
        ),
        (
            lambda: VCCS("g1", "a", "0", "b", "0", math.inf),
            r"^VCCS g1: transconductance must be finite",
        ),
        (
            lambda: CCCS("f1", "a", "0", "r1", 1),
            r"^CCCS f1: the controlling element must be a voltage source",
        ),
        (
            lambda: CCVS("h1", "a", "0", "", 1),
            r"^CCVS h1: needs a controlling voltage source name \(one SPICE word\); got ''$",
        ),
        (lambda: CCVS("h1", "a", "0", "vs", math.nan), r"^CCVS h1: transresistance must be finite"),
        (lambda: Diode("d1", "a", "b", ""), r"^diode d1: needs a model name .*; got ''$"),
        (lambda: Diode("d1", "a", "b", "m", 0), r"^diode d1: area must be positive; got 0.0$"),
        (
            lambda: Mosfet("m1", "d", "g", "s", "b", "nch", 0, 1),
            r"^MOSFET m1: w must be positive; got 0.0$",
        ),
        (
            lambda: Mosfet("m1", "d", "g", "s", "b", "nch", 1, -1),
            r"^MOSFET m1: l must be positive; got -1.0$",
        ),
        (
            lambda: Mosfet("m1", "d", "g", "s", "b", "a model"),
            r"^MOSFET m1: needs a model name \(one SPICE word\); got 'a model'$",
        ),
        (
            lambda: SubcircuitInstance("x1", "ab", "s"),
            r"^subcircuit instance x1: ports must be a sequence of node names$",
        ),
        (lambda: SubcircuitInstance("x1", ("a b",), "s"), r"^x1: invalid node name 'a b'"),
        (
            lambda: SubcircuitInstance("x1", ("a",), ""),
            r"^subcircuit instance x1: needs a subcircuit name \(one SPICE word\); got ''$",
        ),
        (
            lambda: SubcircuitInstance("x1", ("a",), "s", {"k": math.nan}),
            r"^subcircuit instance x1: parameter k must be finite; got nan$",
        ),
    ],
)
def test_element_validation(make, match: str) -> None:
    with pytest.raises(CircuitError, match=match):
        make()


def test_errors_name_the_element_and_are_value_errors() -> None:
    with pytest.raises(CircuitError) as info:
        Resistor("r7", "a", "b", -1)
    assert info.value.element == "r7"
    assert isinstance(info.value, ValueError) and isinstance(info.value, CircuitLearnError)


def test_values_may_be_expressions() -> None:
    r = Resistor("r1", "a", "b", "2*RLOAD")
    assert r.resistance == Expression("2*rload")
    assert str(r.resistance) == "{2*rload}"
    with pytest.raises(
        CircuitError,
        match=r"^resistor r1: resistance \{2\*rload\} is an unresolved expression; flatten",
    ):
        _ = r.conductance


def test_conductance_round_trip() -> None:
    r = Resistor("r1", "a", "b", 2e3)
    assert r.conductance == pytest.approx(5e-4)
    assert r.with_conductance(1e-3).resistance == pytest.approx(1e3)
    with_ac = Resistor("r1", "a", "b", 2e3, ac=50.0)
    copy = with_ac.with_conductance(np.float32(0.25))  # the element a constructor would give
    assert copy == Resistor("r1", "a", "b", 4.0, ac=50.0) and type(copy.resistance) is float
    assert hash(copy) == hash(Resistor("r1", "a", "b", 4.0, ac=50.0)) and copy.nodes == ("a", "b")
    assert with_ac.resistance == 2e3  # the original is untouched
    for bad in (0.0, -1.0, math.nan, math.inf, 1e-320, 10**400, True, "1e-3"):
        with pytest.raises(
            CircuitError, match=r"^resistor r1: conductance must be positive and finite"
        ):
            r.with_conductance(bad)


def test_mosfet_defaults_and_cards() -> None:
    m = Mosfet("M1", "d", "g", "s", "b", "NCH")
    assert (m.w, m.l, m.model) == (None, None, "nch")
    assert m.spice_card() == "m1 d g s b nch"
    assert (
        Mosfet("m2", "d", "g", "s", "b", "n", 1e-5, 1e-6).spice_card()
        == "m2 d g s b n w=1e-05 l=1e-06"
    )
    assert Diode("d1", "a", "b", "dm", 2).spice_card() == "d1 a b dm area=2"
    assert Diode("d1", "a", "b", "dm").spice_card() == "d1 a b dm"


# -- models -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Model("", "d"), r"^model name must be a non-empty word; got ''$"),
        (lambda: Model("a b", "d"), r"^model name 'a b' is not a single SPICE word"),
        (lambda: Model("m\n.control", "d"), r"^model name 'm\\n.control' is not a single"),
        (lambda: Model(".control", "d"), r"^model name '.control' is not a single"),
        (lambda: Model("m", "bjt"), r"^model m: unknown type 'bjt'; ngspice 39 reads d, nmos"),
        (
            lambda: Model("m", "d", {"foo": 1}),
            r"^model m \(d\): unknown parameter 'foo' \(ngspice ignores it",
        ),
        (
            lambda: Model("m", "nmos", {"vth0": 1}),
            r"^model m \(nmos\): unknown parameter 'vth0'",
        ),
        (lambda: Model("m", "d", {"i s": 1}), r"^model m: invalid parameter name"),
        (lambda: Model("m", "nmos", {"phi": -1}), r"^model m: parameter phi must be positive"),
        (lambda: Model("m", "d", {"bv": math.inf}), r"must be finite; got inf \(leave BV out"),
        (lambda: Model("m", "d", {"is": 10**400}), r"^model m: parameter is is too large"),
        (lambda: Model("m", "d", {"is": 0}), r"^model m: parameter is must be positive; got 0.0$"),
        (lambda: Model("m", "d", {"n": -1}), r"^model m: parameter n must be positive; got -1.0$"),
        (lambda: Model("m", "nmos", {"kp": 0}), r"^model m: parameter kp must be positive"),
        (lambda: Model("m", "d", {"rs": -1}), r"^model m: parameter rs must be ≥ 0; got -1.0$"),
        (lambda: Model("m", "pmos", {"lambda": -0.1}), r"^model m: parameter lambda must be ≥ 0"),
        (
            lambda: Model("m", "d", {"n": math.inf}),
            r"^model m: parameter n must be finite; got inf$",
        ),
        (
            lambda: Model("m", "d", {"bv": -math.inf}),
            r"^model m: parameter bv must be finite; got -inf",
        ),
        (
            lambda: Model("m", "d", {"n": math.nan}),
            r"^model m: parameter n must be a number; got nan$",
        ),
        (
            lambda: Model("m", "d", {"n": True}),
            r"^model m: parameter n must be a number; got True$",
        ),
        (
            lambda: Model("m", "d", {"is": "a*"}),
            r"^model m: parameter is: cannot read expression 'a\*'",
        ),
        (lambda: Model("m", "d").value("vto"), r"^model m: no parameter 'vto'$"),
    ],
)
def test_model_validation(make, match: str) -> None:
    with pytest.raises(CircuitError, match=match):
        make()


def test_model_defaults_aliases_and_polarity() -> None:
    d = Model("D1", "D", {"IS": 1e-12, "cj0": 1e-12, "bv": 5.1})
    assert d.name == "d1" and d.params == {"is": 1e-12, "cjo": 1e-12, "bv": 5.1}
    assert (d.value("n"), d.value("rs"), d.polarity) == (1.0, 0.0, 1)
    p = Model("p", "pmos", {"vt0": -0.7})
    assert p.params == {"vto": -0.7} and p.polarity == -1
    assert p.dc_params()["kp"] == 2e-5  # ngspice's KP default
    assert Model("1n4148", "d").name == "1n4148"  # digit-led names are valid model names


# -- the container ------------------------------------------------------------------------------


def small() -> Circuit:
    c = Circuit("small")
    c.add(VoltageSource("v1", "in", "0", 1.0))
    c.add(Resistor("r1", "in", "out", 1e3))
    c.add(Resistor("r2", "out", "0", 1e3))
    return c


@pytest.mark.parametrize(
    ("action", "match"),
    [
        (lambda c: c.add(1), r"^expected a circuit element \(Resistor, Diode, ...\); got 1$"),
        (lambda c: c.add(Resistor("R1", "a", "0", 2)), r"^duplicate element name 'r1'$"),
        (
            lambda c: (c.add_model(Model("m", "d")), c.add_model(Model("M", "d"))),
            r"^duplicate model name 'm'$",
        ),
        (
            lambda c: (
                c.add_subcircuit(Subcircuit("s", ("a",))),
                c.add_subcircuit(Subcircuit("S", ("b",))),
            ),
            r"^duplicate subcircuit name 's'$",
        ),
        (lambda c: c.set_param("1a", 1), r"^\.param: invalid parameter name '1a' \(use letters"),
        (lambda c: c.set_param("a", "b**"), r"cannot read expression 'b\*\*'"),
        (lambda c: c.remove("rx"), r"^no element named 'rx'$"),
        (lambda c: c.replace(Resistor("rx", "a", "0", 1)), r"^no element named 'rx'$"),
        (lambda c: c["rx"], r"^no element named 'rx'$"),
        (lambda c: c.set_value("r1", 0), r"^resistor r1: resistance must be positive"),
        (
            lambda c: (c.add(Mosfet("m1", "a", "a", "0", "0", "n")), c.set_value("m1", 1)),
            r"^MOSFET m1 has no single value to set$",
        ),
    ],
)
def test_container_errors(action, match: str) -> None:
    with pytest.raises((CircuitError, ValueError), match=match):
        action(small())


def test_container_basics() -> None:
    c = small()
    assert c.nodes == ("in", "out") and len(c) == 3 and "R1" in c and "r9" not in c
    assert [e.name for e in c.elements_of(Resistor)] == ["r1", "r2"]
    c.set_value("r2", 2e3)
    assert c["r2"].resistance == 2e3
    c.replace(Resistor("r1", "in", "out", 5.0))
    assert [e.name for e in c] == ["v1", "r1", "r2"]  # replace keeps the position
    removed = c.remove("V1")
    assert removed.name == "v1" and "v1" not in c
    c.set_param("a", 2)
    c.set_param("b", Expression("a*2"))
    c.set_param("c", "b+1")
    assert c.params == {"a": 2.0, "b": Expression("a*2"), "c": Expression("b+1")}


def test_nodes_follow_every_change_of_the_elements() -> None:
    c = small()  # v1 in-0, r1 in-out, r2 out-0
    assert c.nodes == ("in", "out")  # read once: later reads must not go stale
    c.add(Resistor("r3", "out", "mid", 1.0))
    assert c.nodes == ("in", "out", "mid")
    c.replace(Resistor("r3", "out", "far", 1.0))
    assert c.nodes == ("in", "out", "far")
    twin = c.copy()
    twin.remove("r3")
    assert twin.nodes == ("in", "out") and c.nodes == ("in", "out", "far")
    c.remove("v1")
    assert c.nodes == ("in", "out", "far")  # in still on r1
    c.remove("r1")
    assert c.nodes == ("out", "far")


def test_equality_copy_and_origin() -> None:
    a, b = small(), small()
    b.title = "another title"  # the title is not part of equality
    assert a == b
    b.set_value("r1", 2e3)
    assert a != b
    a.origin["r1"] = 3
    d = copy.deepcopy(a)
    assert d == a and d.origin == {"r1": 3} and d.origin is not a.origin
    assert a.copy() == a and a.copy() is not a
    assert (
        Circuit().origin == {} and Circuit().source_path is None and Circuit().ignored_cards == []
    )


def test_subcircuit_definition_checks() -> None:
    with pytest.raises(CircuitError, match=r"^subcircuit s: ground \(0\) cannot be a port$"):
        Subcircuit("s", ("a", "gnd"))
    with pytest.raises(CircuitError, match=r"^subcircuit s: duplicate port names in \('a', 'a'\)$"):
        Subcircuit("s", ("a", "A"))
    with pytest.raises(CircuitError, match=r"^subcircuit name must be a non-empty word; got ' '$"):
        Subcircuit(" ", ("a",))
    with pytest.raises(CircuitError, match=r"^subcircuit s: invalid node name 'a=b'"):
        Subcircuit("s", ("a=b",))
    s = Subcircuit("S", ("P",), params={"K": "2*x"})
    assert (s.name, s.ports, s.params) == ("s", ("p",), {"k": Expression("2*x")})


def test_is_flat() -> None:
    assert small().is_flat()
    c = small()
    c.add(Resistor("r3", "out", "0", "2*a"))
    assert not c.is_flat()
    c.set_param("a", 1)
    assert c.flatten().is_flat()
