"""Issue 11, item 1: C (open at DC), L (a 0 V branch) and V/I sources with transient and AC
specifications, read as ngspice 39 takes them, written back unchanged, solved on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ngspice_reference import ngspice_op as operating_point

from circuitlearn import from_spice
from circuitlearn.circuit import Capacitor, Circuit, Inductor, Resistor, VoltageSource
from circuitlearn.circuit.waveforms import WAVEFORMS, normalize_spec
from circuitlearn.errors import CircuitError, NetlistError
from circuitlearn.solve import solve_dc

DC_OF_SOURCE: dict[str, float] = {
    "PULSE(0.5 1 1n 1n 1n 5u 10u)": 0.5,
    "PULSE 0.5 1 1n 1n 1n 5u 10u": 0.5,
    "PULSE(0.5,1,1n)": 0.5,
    "DC 2 PULSE(0.5 1 1n 1n 1n 5u 10u)": 2.0,
    "PULSE(0.5 1 1n 1n 1n 5u 10u) DC 2": 2.0,
    "3 PULSE(0.5 1 1n)": 3.0,
    "SIN(0.3 1 1k)": 0.3,
    "SIN(0.3 1 1k 0 0 90)": 1.3,
    "SIN(0.3 1 1k 1m 0 90)": 1.3,
    "SIN(0.3 1 1k 0 0 {30*3})": 1.3,
    "PWL(0 0.7 1u 1)": 0.7,
    "PWL(1u 0.7 2u 1)": 0.7,
    "PWL 0 0.7 1u 2": 0.7,
    "PWL(0 0.7 1u 1) r=0 td=1n": 0.7,
    "PWL(1u 0.7 2u 1) td=1u": 0.7,
    "PWL(0 0.7 1u 1 2u 3) r=1u": 0.7,
    "EXP(0.2 1 1u 1u 2u 1u)": 0.2,
    "SFFM(0.1 1 1k 2 100)": 0.1,
    "SFFM(0.1 1 1k 2 100 30 40)": 1.071722328956922,
    "AM(0.5 0.1 1k 10k 0 30 60)": 0.0,
    "AC 1 0": 0.0,
    "AC 1": 0.0,
    "1 AC 1 90": 1.0,
    "AC 1 DC 3": 3.0,
    "dc=4": 4.0,
    "DC 1 DISTOF1 0.1": 1.0,
}
"""Source specification → the DC value ``ngspice -b`` gives it (checked by the ngspice test)."""


def _deck(specs: list[str]) -> str:
    lines = ["sources"]
    for k, spec in enumerate(specs, start=1):
        lines += [f"V{k} n{k} 0 {spec}", f"R{k} n{k} 0 1k"]
    return "\n".join([*lines, ".op", ".end"])


@pytest.mark.parametrize(("spec", "value"), DC_OF_SOURCE.items())
def test_dc_value_of_a_source_specification(spec: str, value: float) -> None:
    circuit = from_spice(f"t\nV1 a 0 {spec}\nR1 a 0 1k\n")
    source = circuit["v1"]
    assert float(source.dc if not hasattr(source.dc, "text") else source.dc.evaluate({})) == (
        pytest.approx(value, rel=1e-12, abs=1e-15)
    )
    assert from_spice(circuit.to_spice()) == circuit  # exact round trip, spec included
    assert solve_dc(circuit).voltages["a"] == pytest.approx(value, rel=1e-12, abs=1e-15)


def test_specification_is_written_back_canonically() -> None:
    circuit = from_spice("t\nI1 0 a PULSE(0, 1m, 1n) AC 1 45\nR1 a 0 1k\n")
    assert circuit["i1"].spec == "pulse(0 1m 1n) ac 1 45"
    assert circuit["i1"].spice_card() == "i1 0 a dc 0 pulse(0 1m 1n) ac 1 45"


def test_expressions_in_a_specification_resolve_when_flattened() -> None:
    text = (
        "t\n.param vdd=1.8\n.subckt s p vh=1\nV1 p 0 PULSE({vh} {2*vh})\n.ends\n"
        "X1 a s vh={vdd}\nR1 a 0 1k\n"
    )
    circuit = from_spice(text)
    flat = circuit.flatten()
    assert flat["v.x1.v1"].spec == "pulse(1.8 3.6)"
    assert flat["v.x1.v1"].dc == 1.8
    assert solve_dc(circuit).voltages["a"] == pytest.approx(1.8)


@pytest.mark.parametrize(
    ("card", "match"),
    [
        ("V1 a 0 PULSE(0.5)", "pulse needs at least 2 values"),
        ("V1 a 0 SIN(0.3)", "sin needs at least 2 values"),
        ("V1 a 0 PWL(0)", "pwl needs at least 2 values"),
        ("V1 a 0 PWL(0 1 2)", "pwl needs time-value pairs"),
        ("V1 a 0 SIN(0 1 1k", "closing '\\)'"),
        ("V1 a 0 SINE(0.3)", "sin needs at least 2 values"),
        ("V1 a 0 PULSE(0 1) SIN(0 1)", "more than one transient function"),
        ("V1 a 0 1 2", "DC value given twice"),
        ("V1 a 0 DC", "'dc' needs a value"),
        ("V1 a 0 PULSE(1e400 1)", "overflows"),
        ("V1 a 0 PWL(0 1 1u 2) r=0.5u", "not one of the PWL's time points"),
        ("V1 a 0 PWL(0 1 1u 2) td=", "td= needs a value"),
        ("V1 a 0 PULSE(0 1) r=0", "unexpected 'r'"),
        ("I1 a 0 PWL(0 1m 1u 2m) td=1n", "r= and td= are for voltage sources only"),
    ],
)
def test_bad_source_specifications_are_located_errors(card: str, match: str) -> None:
    with pytest.raises(NetlistError, match=match) as info:
        from_spice(f"t\n{card}\nR1 a 0 1k\n", path="deck.cir")
    assert info.value.line == 2


def test_python_api_checks_the_specification() -> None:
    with pytest.raises(CircuitError, match=r"v1: .*line break"):
        VoltageSource("v1", "a", "0", 1.0, "ac 1\n.control\nshell touch x\n.endc")
    with pytest.raises(CircuitError, match="spec must be text"):
        VoltageSource("v1", "a", "0", 1.0, 3)
    assert VoltageSource("v1", "a", "0", 1.0, "PULSE 0 1").spec == "pulse(0 1)"


def test_capacitor_is_open_and_inductor_a_short_at_dc() -> None:
    circuit = from_spice(
        "rc\nV1 in 0 2\nR1 in a 1k\nL1 a b 10u ic=1m\nR2 b 0 1k\nC1 a 0 1p m=2\n"
        "R3 a c 1k\nC2 c 0 1u\n"
    )
    assert isinstance(circuit["c1"], Capacitor) and isinstance(circuit["l1"], Inductor)
    assert circuit["l1"].params == {"ic": 1e-3}
    assert from_spice(circuit.to_spice()) == circuit
    op = solve_dc(circuit)
    assert op.voltages["a"] == pytest.approx(1.0) and op.voltages["b"] == pytest.approx(1.0)
    assert op.voltages["c"] == pytest.approx(1.0)  # no current through R3 into the open C2


def test_reactive_topology_errors() -> None:
    loop = Circuit("loop").extend(
        [VoltageSource("v1", "a", "0", 1.0), Inductor("l1", "a", "0", 1e-6)]
    )
    with pytest.raises(CircuitError, match="loop of voltage sources v1 -> l1"):
        solve_dc(loop)
    island = Circuit("island").extend(
        [
            VoltageSource("v1", "a", "0", 1.0),
            Capacitor("c1", "a", "b", 1e-12),
            Resistor("r1", "b", "c", 1e3),
        ]
    )
    with pytest.raises(CircuitError, match="floating nodes b, c"):
        solve_dc(island)


@pytest.mark.parametrize(
    ("card", "match"),
    [
        ("C1 a 0 cmod 1p", "'cmod' is neither a value nor a known model"),
        ("L1 a 0 1u foo=1", "unsupported parameter foo="),
        ("C1 a 0", "missing value"),
    ],
)
def test_bad_reactive_cards(card: str, match: str) -> None:
    with pytest.raises(NetlistError, match=match):
        from_spice(f"t\nV1 a 0 1\nR1 a 0 1k\n{card}\n")


@pytest.mark.ngspice
def test_source_values_match_ngspice(tmp_path: Path) -> None:
    specs = list(DC_OF_SOURCE)
    deck = _deck(specs)
    reference = operating_point(deck, tmp_path)
    for k, spec in enumerate(specs, start=1):
        assert reference[f"n{k}"] == pytest.approx(DC_OF_SOURCE[spec], rel=1e-6, abs=1e-9), spec
    native = solve_dc(from_spice(deck)).voltages
    for k in range(1, len(specs) + 1):
        assert native[f"n{k}"] == pytest.approx(reference[f"n{k}"], rel=1e-6, abs=1e-9)


@pytest.mark.ngspice
def test_reactive_circuit_matches_ngspice(tmp_path: Path) -> None:
    deck = (
        "rlc\nV1 in 0 PULSE(2 0 1u)\nR1 in a 1k\nL1 a b 10u\nR2 b 0 1k\nC1 a 0 1p\n"
        "I1 0 b SIN(1m 1m 1k) AC 1\nR3 a c 3k\nC2 c 0 1u\n.op\n.end\n"
    )
    reference = operating_point(deck, tmp_path)
    circuit = from_spice(deck)
    written = operating_point(circuit.to_spice(), tmp_path)
    for backend in ("native", "ngspice"):
        op = solve_dc(circuit, backend=backend)
        for node in ("in", "a", "b", "c"):
            assert op.voltages[node] == pytest.approx(reference[node], rel=1e-6)
            assert written[node] == pytest.approx(reference[node], rel=1e-9)
    assert reference["l1#branch"] == pytest.approx(0.5e-3, rel=1e-9)  # (1.5 V − 1 mA·1k)/1k


_NUMBERS = st.sampled_from(["0", "1", "-2.5", "1n", "10u", "3.3", "1k", "{vdd}", "{2*vdd}", "1e-9"])


@st.composite
def _specs(draw: st.DrawFn) -> str:
    parts = []
    if draw(st.booleans()):
        name = draw(st.sampled_from(sorted(WAVEFORMS)))
        count = draw(st.integers(WAVEFORMS[name], 8))
        if name == "pwl":
            count += count % 2
        values = draw(st.lists(_NUMBERS, min_size=count, max_size=count))
        bracket = draw(st.booleans())
        separator = draw(st.sampled_from([" ", ", ", "  "]))
        body = separator.join(values)
        parts.append(f"{name.upper()}({body})" if bracket else f"{name} {body}")
    if draw(st.booleans()):
        parts.append("AC " + " ".join(draw(st.lists(_NUMBERS, max_size=2))))
    return " ".join(parts)


@given(_specs())
def test_random_specifications_round_trip(spec: str) -> None:
    text = f"t\n.param vdd=1.8\nV1 a 0 {spec}\nR1 a 0 1k\n"
    circuit = from_spice(text)
    assert normalize_spec(circuit["v1"].spec) == circuit["v1"].spec  # canonical already
    assert from_spice(circuit.to_spice()) == circuit
    flat = circuit.flatten()
    assert "{" not in flat["v1"].spec
