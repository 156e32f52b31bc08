"""Issue 11, item 3: ``.global`` nodes, ``.temp`` (diodes and level-1 MOSFETs follow it
natively, as ngspice's ``diotemp.c`` and ``mos1temp.c``) and ``TEMPER``, checked against
``ngspice -b``."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from ngspice_reference import ngspice_op as operating_point

from circuitlearn import from_spice
from circuitlearn.circuit import Circuit
from circuitlearn.errors import CircuitError, NetlistError
from circuitlearn.solve import solve_dc

GLOBAL_DECK = """global supply
.global vdd
V1 vdd 0 2
.subckt load out
R1 vdd out 1k
R2 out 0 3k
.ends
X1 o1 load
X2 o2 load
R3 o1 o2 1k
.op
.end
"""
HOT_DECK = """diode at 50 C
.temp 50
V1 a 0 2
R1 a o 1k
D1 o 0 dm
.model dm d (is=1e-14 n=1.2)
.op
.end
"""


def test_global_nodes_are_shared_by_every_subcircuit() -> None:
    circuit = from_spice(GLOBAL_DECK)
    assert circuit.global_nodes == ["vdd"]
    flat = circuit.flatten()
    assert flat["r.x1.r1"].nodes == ("vdd", "o1") and flat["r.x2.r1"].nodes == ("vdd", "o2")
    assert from_spice(circuit.to_spice()) == circuit
    assert solve_dc(circuit).voltages["o1"] == pytest.approx(1.5)


def test_temperature_round_trips() -> None:
    circuit = from_spice(HOT_DECK)
    assert circuit.temperature == 50.0
    assert ".temp 50" in circuit.to_spice().splitlines()
    assert from_spice(circuit.to_spice()) == circuit
    assert solve_dc(circuit).converged
    options = from_spice(HOT_DECK.replace(".temp 50", ".options temp=60"))
    assert options.temperature == 60.0 and "temp" not in options.options  # written as .temp
    assert from_spice(options.to_spice()) == options
    linear = from_spice("t\n.temp 80\nV1 a 0 1\nR1 a b 1k\nR2 b 0 1k\n")
    assert solve_dc(linear).voltages["b"] == pytest.approx(0.5)  # R without TC: no change


@pytest.mark.parametrize(
    ("card", "match"),
    [
        (".temp 27 50", r"\.temp: expected one temperature"),
        (".temp {t}", r"\.temp: unknown parameter .t."),
        (".temp -300", r"above -273\.15 °C"),
        (".options tnom=50", r"only tnom=27 is modelled"),
        (".global a b=1", r"\.global: expected node names"),
    ],
)
def test_temperature_and_global_errors(card: str, match: str) -> None:
    with pytest.raises(NetlistError, match=match):
        from_spice(f"t\nV1 a 0 1\nR1 a 0 1k\n{card}\n", check=True)


def test_titles_with_line_breaks_are_refused() -> None:
    with pytest.raises(CircuitError, match="a title is one line"):
        Circuit("ok\n.control\nshell touch pwned\n.endc")
    circuit = Circuit("fine")
    with pytest.raises(CircuitError, match="a title is one line"):
        circuit.title = "x\r\n.control"
    circuit.title = "  "
    assert circuit.title == "circuit"


@pytest.mark.ngspice
def test_global_and_temperature_match_ngspice(tmp_path: Path) -> None:
    reference = operating_point(GLOBAL_DECK, tmp_path)
    for backend in ("native", "ngspice"):
        voltages = solve_dc(from_spice(GLOBAL_DECK), backend=backend).voltages
        for node in ("o1", "o2", "vdd"):
            assert voltages[node] == pytest.approx(reference[node], rel=1e-6)
    hot = operating_point(HOT_DECK, tmp_path)
    cold = operating_point(HOT_DECK.replace(".temp 50", ""), tmp_path)
    assert hot["o"] < cold["o"] - 0.01  # ngspice does model the diode's temperature
    assert solve_dc(from_spice(HOT_DECK), backend="ngspice").voltages["o"] == pytest.approx(
        hot["o"], rel=1e-6
    )


DIODES = """diodes away from 27 C
V1 a 0 1
R1 a b 1k
D1 b 0 dm
.model dm d (is=1e-14 n=1.3)
V2 z 0 10
R2 z y 1k
D2 0 y dz area=2
.model dz d (is=1e-14 n=1.1 rs=3 bv=5.1 ibv=2m)
V3 p 0 2
R3 p q 10
D3 q 0 dk
.model dk d (is=1e-12 ikf=1m rs=1 eg=0.69 xti=2)
V4 s 0 2
R4 s u 1
D4 u 0 dtiny
.model dtiny d (is=1e-30)
V5 w 0 1
R5 w x 1k
D5 x 0 dn
.model dn d (is=1e-14 tnom=50)
.temp {temp}
.op
.end
"""


@pytest.mark.ngspice
@pytest.mark.parametrize("temp", [0, 27, 50, 100])
def test_diode_temperature_matches_ngspice(temp: float, tmp_path: Path) -> None:
    """IS(T), Vt(T), breakdown, IKF, RS, EG/XTI, the IS floor and a model TNOM (measured: 5e-16)."""
    deck = DIODES.format(temp=temp)
    reference = operating_point(deck, tmp_path)
    circuit = from_spice(deck)
    for backend in ("native", "ngspice"):
        voltages = solve_dc(circuit, backend=backend).voltages
        for node in ("b", "y", "q", "u", "x"):
            assert voltages[node] == pytest.approx(reference[node], rel=1e-9), (backend, node)


@pytest.mark.parametrize("bad", ["hot", math.nan, math.inf, 10**400, -300, True])
def test_temperature_assignment_is_checked(bad: object) -> None:
    circuit = Circuit("t")
    with pytest.raises(CircuitError, match="temperature must be"):
        circuit.temperature = bad
    assert circuit.temperature == 27.0


MOSFETS = """level-1 MOSFETs away from 27 C
VDD d 0 3
VG g 0 1.5
VB b 0 -0.5
R1 d o 10k
M1 o g 0 b nm w=20u l=2u
.model nm nmos (vto=0.7 kp=110u gamma=0.4 phi=0.7 lambda=0.04 is=1e-14)
R2 d p 20k
M2 p g 0 0 nm2
.model nm2 nmos (vto=0.5 kp=50u gamma=0.5 phi=0.6 tnom=50 l=1u w=5u)
VS s 0 3
M3 q g s s pm w=10u l=1u
.model pm pmos (vto=-0.8 kp=40u gamma=0.5 phi=0.65 lambda=0.05 is=1e-13)
R3 q 0 5k
R4 b x 1meg
M5 x x 0 0 nm
R6 d r 10k
M6 r g 0 0 nm w=20u l=2u temp=60
R7 d t 10k
M7 t g 0 0 nm w=20u l=2u dtemp=15
.temp {temp}
.op
.end
"""


@pytest.mark.ngspice
@pytest.mark.parametrize("temp", [-20, 27, 50, 120])
def test_mosfet_temperature_matches_ngspice(temp: float, tmp_path: Path) -> None:
    """KP, PHI, VBI, IS and Vt at T, a model TNOM, PMOS, body bias, a reverse-biased bulk
    junction, instance temp= and dtemp= (measured: 2e-15)."""
    deck = MOSFETS.format(temp=temp)
    reference = operating_point(deck, tmp_path)
    circuit = from_spice(deck)
    for backend in ("native", "ngspice"):
        voltages = solve_dc(circuit, backend=backend).voltages
        for node in ("o", "p", "q", "x", "r", "t"):
            assert voltages[node] == pytest.approx(reference[node], rel=1e-9), (backend, node)


RESISTOR_TC_DECK = """resistor temperature coefficients
.temp 60
.model rm r (tc1=2e-3 tc2=1e-5 tnom=20)
.model rme r (r=2k tce=0.5)
v1 a 0 1
r1 a 0 1k tc1=0.01
r2 a 0 2k tc1=0.004 tc2=3e-5
r3 a 0 rm 1.5k
r4 a 0 rm 1.5k tc1=-1e-3
r5 a 0 3k tc1=0.01 temp=100
r6 a 0 3k tc1=0.01 dtemp=-20
r7 a 0 rme
r8 a 0 4k tce=0.3 m=2
v2 b 0 1
r9 b 0 1k tc1=0.01 temp=100 dtemp=10
.op
.end
"""


def test_resistor_temperature_coefficients_match_ngspice(tmp_path: Path) -> None:
    """tc1/tc2 (instance over model), TCE, a model TNOM, instance temp= (dtemp= then ignored)
    and dtemp=, folded into each value at the deck's .temp; equal to ngspice -b."""
    circuit = from_spice(RESISTOR_TC_DECK)
    assert circuit["r1"].resistance == pytest.approx(1e3 * (1 + 0.01 * 33), rel=1e-15)
    assert circuit["r5"].resistance == pytest.approx(3e3 * (1 + 0.01 * 73), rel=1e-15)
    reference = operating_point(RESISTOR_TC_DECK, tmp_path)
    op = solve_dc(circuit)
    for source in ("v1", "v2"):
        assert op.currents[source] == pytest.approx(reference[f"{source}#branch"], rel=1e-12)
    assert from_spice(circuit.to_spice()) == circuit


@pytest.mark.parametrize(
    ("cards", "celsius"),
    [
        (".options temp=75", 75.0),
        (".options temp=75\n.temp 30", 30.0),  # .temp wins, in either order (ngspice 39)
        (".temp 30\n.options temp=75", 30.0),
    ],
)
def test_options_temp_is_the_circuit_temperature(
    cards: str, celsius: float, tmp_path: Path
) -> None:
    text = HOT_DECK.replace(".temp 50", cards).replace("R1 a o 1k", "R1 a o 1k tc1=0.002")
    circuit = from_spice(text)
    assert circuit.temperature == celsius and "temp" not in circuit.options
    reference = operating_point(text, tmp_path)
    assert solve_dc(circuit).voltages["o"] == pytest.approx(reference["o"], rel=1e-12)


def test_temperature_coefficient_needs_numbers() -> None:
    with pytest.raises(NetlistError, match=r"r1: tc1=/tc2=/tce= need a numeric value"):
        from_spice("t\n.param r=1k\nV1 a 0 1\nR1 a 0 {r} tc1=0.01\n.temp 50\n")
