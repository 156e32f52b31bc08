"""Every example deck on ngspice, as written and with its nodes renamed to numbers, in both modes;
the deck's ``.options``; ngspice answers checked before they are called converged."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

import circuitlearn.solve.ngspice as ng
from circuitlearn.circuit import Circuit, SubcircuitInstance
from circuitlearn.circuit.behavioral import BehavioralSource, resolve_b_expression
from circuitlearn.errors import BackendError, CircuitError, NetlistError
from circuitlearn.netlist import from_spice
from circuitlearn.solve import solve_dc
from circuitlearn.solve.ngspice import ngspice_available, solve_ngspice

pytestmark = pytest.mark.ngspice

DECKS = sorted((Path(__file__).resolve().parents[2] / "netlists").glob("*.cir"))
MODES = [
    pytest.param(
        "shared", marks=pytest.mark.skipif(not ngspice_available("shared"), reason="no libngspice")
    ),
    pytest.param(
        "subprocess",
        marks=pytest.mark.skipif(not ngspice_available("subprocess"), reason="no ngspice binary"),
    ),
]
AGREEMENT = 1e-9
"""Relative agreement of ngspice (at the native tolerances, its default) with the native solver;
measured on the catalogue: ≤ 3e-12 (ngspice's defaults would give 4e-5 on hard_diode_string)."""


def _numbered(circuit: Circuit) -> Circuit:
    """``circuit`` with every node renamed to a number (each subcircuit body numbered alone,
    its ports first), written out and read back as a deck."""
    out = circuit.copy()
    _renumber(out, {})
    return from_spice(out.to_spice())


def _renumber(scope: Circuit, ports: dict[str, str]) -> None:
    names = dict(ports)

    def number(node: str) -> str:
        return node if node == "0" else names.setdefault(node, str(len(names) + 1))

    for element in scope.elements:
        if isinstance(element, SubcircuitInstance):
            scope.replace(replace(element, ports=tuple(map(number, element.ports))))
        elif hasattr(element, "terminals"):  # an element kept as an opaque card for ngspice
            scope.replace(replace(element, terminals=tuple(map(number, element.terminals))))
        elif isinstance(element, BehavioralSource):  # its expression names nodes too
            fields = {f: number(getattr(element, f)) for f in element.node_fields}
            text = resolve_b_expression(element.expression, None, node=number)
            scope.replace(replace(element, expression=text, **fields))
        else:
            fields = {f: number(getattr(element, f)) for f in element.node_fields}
            scope.replace(replace(element, **fields))
    for sub in scope.subcircuits.values():
        inner = {port: str(k + 1) for k, port in enumerate(sub.ports)}
        sub.ports = tuple(inner.values())
        _renumber(sub.body, inner)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("numbered", [False, True], ids=["as_written", "numbered"])
@pytest.mark.parametrize("deck", DECKS, ids=[p.stem for p in DECKS])
def test_every_deck_agrees_with_the_native_solver(deck: Path, numbered: bool, mode: str) -> None:
    original = from_spice(deck)
    circuit = _numbered(original) if numbered else original
    if numbered:
        assert all(node.split(".")[-1].isdigit() for node in circuit.flatten().nodes)
    try:
        reference = solve_dc(original)
    except CircuitError:  # a deck the native solver refuses (opaque cards...): ngspice as written
        reference = solve_ngspice(original, mode=mode)
    assert reference.converged, reference.message
    op = solve_ngspice(circuit, mode=mode)
    assert op.converged, op.message
    assert not op.max_residual >= 1e-9  # NaN where the native solver does not model the deck
    # Renaming keeps the order of first appearance: flat nodes correspond one to one.
    names = dict(zip(original.flatten().nodes, circuit.flatten().nodes, strict=True))
    for node, value in reference.voltages.items():
        assert op.voltages[names[node]] == pytest.approx(value, rel=AGREEMENT, abs=1e-12), node
    for source, value in reference.currents.items():
        assert op.currents[source] == pytest.approx(value, rel=AGREEMENT, abs=1e-15), source


@pytest.mark.parametrize("mode", MODES)
def test_numeric_node_deck_values(mode: str) -> None:
    deck = next(p for p in DECKS if p.stem == "numeric_nodes")
    op = solve_ngspice(from_spice(deck), mode=mode)
    expected = {"1": 10.0, "2": 5.0, "3": 2.5, "x1.5": 1.875, "4": 1.25, "7": 1.0}
    assert op.voltages == pytest.approx(expected, rel=1e-12)
    assert op.currents == pytest.approx({"v1": -5e-3, "e1": -0.625e-3}, rel=1e-12)


def test_deck_tolerances_on_request() -> None:
    """The zener of hard_diode_string moves by 4e-5 relative at ngspice's default reltol."""
    circuit = from_spice(next(p for p in DECKS if p.stem == "hard_diode_string"))
    native = solve_dc(circuit).voltages["z"]
    assert solve_ngspice(circuit).voltages["z"] == pytest.approx(native, rel=AGREEMENT)
    deck = solve_ngspice(circuit, options={"spice_options": "deck"})
    assert deck.converged
    assert abs(deck.voltages["z"] / native - 1) > 1e-5
    circuit.options["reltol"] = 1e-9  # the deck's own tolerances are kept in deck mode
    tight = solve_ngspice(circuit, options={"spice_options": "deck"}).voltages["z"]
    assert tight == pytest.approx(native, rel=AGREEMENT)


def test_spice_options_choice_is_checked() -> None:
    circuit = from_spice("t\nv1 a 0 1\nr1 a 0 1k\n")
    with pytest.raises(CircuitError, match="spice_options must be one of native, deck; got 'x'"):
        solve_ngspice(circuit, options={"spice_options": "x"})


RSHUNT = "rshunt\n.options rshunt=1k reltol=1e-4\ni1 0 a 1m\nr1 a 0 1k\n.end\n"


def test_deck_options_reach_ngspice_and_are_refused_natively() -> None:
    circuit = from_spice(RSHUNT, path="rshunt.cir")
    assert circuit.options == {"rshunt": 1000.0, "reltol": 1e-4}
    op = solve_ngspice(circuit)  # 1 mA into 1k || 1k
    assert op.converged and op.voltages["a"] == pytest.approx(0.5, rel=1e-9)
    assert math.isnan(op.max_residual)  # not natively modelled: no native check
    with pytest.raises(
        CircuitError,
        match=r"^rshunt.cir: \.options rshunt=1000 changes the DC answer and the native solver "
        r"does not model it \(remove it, or use --backend ngspice\)$",
    ):
        solve_dc(circuit)


def test_deck_options_are_read_and_written_back() -> None:
    circuit = from_spice("t\n.option reltol = 1e-4 noacct method=GEAR\nr1 a 0 1k\nv1 a 0 1\n")
    assert circuit.options == {"reltol": 1e-4, "noacct": True, "method": "gear"}
    assert ".options reltol=0.0001 noacct method=gear" in circuit.to_spice()
    assert from_spice(circuit.to_spice()) == circuit
    assert circuit.flatten().options == circuit.options == circuit.copy().options
    with pytest.raises(NetlistError, match=r"^<netlist>:2: \.options: option reltol=abc is not"):
        from_spice("t\n.options reltol=abc\nr1 a 0 1k\n")


@pytest.mark.parametrize(
    ("options", "match"),
    [
        (".options reltol=1e-3 abstol=1e-9 itl1=500 noopiter gmin=1e-12 method=gear", None),
        (".options gmin=1e-9", r"\.options gmin=1e-09 changes the DC answer .*\(native: 1e-12\)"),
        (".options defw=10u", r"\.options defw=1e-05 changes the DC answer .*\(native: 0\.0001\)"),
        (".options foo=2", r"\.options foo=2: the native solver does not know whether"),
        (".options bar", r"\.options bar: the native solver does not know whether"),
    ],
)
def test_native_accepts_only_options_it_honours(options: str, match: str | None) -> None:
    circuit = from_spice(f"t\n{options}\nv1 a 0 1\nr1 a b 1k\nr2 b 0 1k\n")
    if match is None:
        assert solve_dc(circuit).voltages["b"] == pytest.approx(0.5, rel=1e-12)
    else:
        with pytest.raises(CircuitError, match=match):
            solve_dc(circuit)


STIFF = """stiff: 10 A forced through a reverse diode (only gmin conducts)
I1 0 a 10
D1 a b dm
D2 0 b dm
.model dm d is=1e-20
.end
"""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("spice_options", ["native", "deck"])
def test_stiff_deck_is_not_called_converged(mode: str, spice_options: str) -> None:
    """ngspice stops at v(b) = 9.8e12 V and calls it converged; one native Newton step from
    there moves v(b) by 2e11 V, and the native solver finds the Jacobian singular."""
    circuit = from_spice(STIFF)
    native = solve_dc(circuit)
    assert not native.converged and "singular" in native.message
    op = solve_ngspice(circuit, mode=mode, options={"spice_options": spice_options})
    assert not op.converged and op.worst_node == "b"
    assert "fails the native convergence test" in op.message
    assert "one more Newton step under the native device models moves b by" in op.message


def test_verify_false_reports_ngspice_as_is() -> None:
    op = solve_ngspice(from_spice(STIFF), options={"verify": False})
    assert op.converged and op.voltages["b"] > 1e12 and math.isnan(op.max_residual)
    with pytest.raises(CircuitError, match="ngspice option verify is True or False; got 0"):
        solve_ngspice(from_spice(STIFF), options={"verify": 0})


def test_non_finite_values_are_not_converged(monkeypatch: pytest.MonkeyPatch) -> None:
    log = "Doing analysis at TEMP = 27.000000 and TNOM = 27.000000\n"
    monkeypatch.setattr(ng, "_run_subprocess", lambda body: ({"a": -math.inf}, log, 3))
    op = solve_ngspice(from_spice("t\ni1 0 a 1\nr1 a 0 1\n"), mode="subprocess")
    assert not op.converged and op.worst_node == "a"
    assert op.message == (
        "the backend returned non-finite values: ngspice reports v(a) = -inf although it "
        "called the answer converged"
    )


@pytest.mark.skipif(not ngspice_available("shared"), reason="no libngspice")
def test_refusal_quotes_ngspice() -> None:
    circuit = from_spice("t\nv1 a 0 1\nr1 a 0 1k\n")
    circuit.options["reltol"] = "abc"  # the reader refuses it; built by hand to reach ngspice
    with pytest.raises(
        BackendError,
        match=r"^ngspice refused the netlist: 'Error: bad type given for option reltol type "
        r"given was string, type expected was real\.'$",
    ):
        solve_ngspice(circuit, mode="shared", options={"spice_options": "deck"})


HIGH_GAIN = """open-loop amplifier: a BJT pair driving a 1e5 gain stage, output near 0 V
VCC vp 0 15
VEE vn 0 -15
VIN in 0 0
R1 0 inm 1
Q1 c1 in e1 qn
Q2 c2 inm e2 qn
RC1 vp c1 100
RC2 vp c2 100
RE1 e1 t 40
RE2 e2 t 40
I1 t vn 1m
G1 mid o c2 c1 0.01
RP o mid 10meg
RREF1 vp r 100k
RREF2 r vn 100k
EREF mid 0 r 0 1
RM mid 0 1meg
EOUT out mid o mid 1
RL out 0 100k
.model qn npn bf=50000
.end
"""


@pytest.mark.parametrize("mode", MODES)
def test_high_gain_rounding_is_not_taken_for_a_wrong_answer(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At a node near 0 V behind a 1e5 gain, one native Newton step from ngspice's answer moves
    it by ~1e-10 V (a KCL residual of 1e-17 A, amplified), more than reltol·|v| + vntol but far
    below reltol times the circuit's 15 V: accepted. The same answer off by 1 µV there is not."""
    circuit = from_spice(HIGH_GAIN)
    op = solve_ngspice(circuit, mode=mode)
    assert op.converged, op.message
    assert op.voltages["o"] == pytest.approx(solve_dc(circuit).voltages["o"], abs=1e-6)
    if mode != "subprocess":
        return
    run = ng._run_subprocess
    monkeypatch.setattr(
        ng, "_run_subprocess",
        lambda body: (lambda got: ({**got[0], "o": got[0]["o"] + 1e-6}, *got[1:]))(run(body)),
    )  # fmt: skip
    wrong = solve_ngspice(circuit, mode=mode)
    assert not wrong.converged and "fails the native convergence test" in wrong.message
