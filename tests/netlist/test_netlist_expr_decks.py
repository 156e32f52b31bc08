"""Expression and control-card forms of public ngspice decks (``.func``, ``.if``, Monte Carlo
functions, behavioural resistors, B-source logic, RKM values, transient noise sources): each
deck here is a minimal one of our own, compared on both backends with plain ``ngspice -b``."""

from __future__ import annotations

from pathlib import Path

import pytest
from ngspice_reference import ngspice_op

from circuitlearn import from_spice
from circuitlearn.errors import NetlistError
from circuitlearn.solve import solve_dc

pytestmark = pytest.mark.ngspice

BACKENDS = ["native", "ngspice"]


def _agree(deck: str, tmp_path: Path, backend: str, **read: object) -> dict[str, float]:
    """Every node voltage of ``deck`` on ``backend`` equals ngspice -b to 1e-6 rel + 1e-7 V;
    returns the voltages."""
    reference = ngspice_op(deck, tmp_path)
    result = solve_dc(from_spice(deck, **read), backend=backend)
    assert result.converged, result.message
    for node, value in result.voltages.items():
        expected = reference.get(node, reference.get(f"v({node})"))
        assert expected is not None, (node, reference)
        assert abs(value - expected) <= 1e-6 * abs(expected) + 1e-7, (backend, node, value)
    return result.voltages


NOISE_SOURCES = """transient noise and random sources: their operating-point values
.param tt=1m
V1 a 0 trnoise(20n 0.5n 0 0)
R1 a x 1k
V2 b 0 dc 0 trrandom (2 'tt' 0 1)
R2 b x 1k
V3 c 0 sine(0.3 1 1k 0 0 90)
R3 c x 1k
V4 d 0 trrandom(1 {tt} 0.5 3 0.2)
R4 d x 1k
V5 e 0 trnoise(0 0 0 0 5m 1m 2m) ac 1
R5 e x 1k
V6 f 0 dc 0.7 sine(0.3 1 1k)
R6 f x 1k
R7 x 0 1k
.op
.end
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_trnoise_trrandom_and_sine_take_ngspice_operating_point_values(
    tmp_path: Path, backend: str
) -> None:
    voltages = _agree(NOISE_SOURCES, tmp_path, backend)
    assert voltages["c"] == pytest.approx(1.3) and voltages["d"] == pytest.approx(0.2)
    assert "sin(0.3 1 1k 0 0 90)" in from_spice(NOISE_SOURCES).to_spice()


BEHAVIOURAL_RESISTORS = """behavioural resistors and capacitors become B sources I = V(a,b)/(expr), I = expr*ddt(V(a,b))
.param rload=2k
.temp 127
V1 1 0 2
V2 200 0 1
R1 1 2 1k
R2 2 0 1k tc1=0.001
R10 1 20 1k
R20 20 0 '1k*v(200)' tc1=0.001
R3 1 3 r = {1k + v(2)}  tc1=0.001 m=2
R4 3 0 R = (time<12ms ? {rload} : time<20ms ? {rload/2} : {2*rload})
.subckt half p q
R1 p q r={500 + 100*v(p,q)}
.ends
X1 3 4 half
R5 4 0 1k
C1 4 0 C = {1n*(1+v(4))} ic=0
.op
.end
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_behavioural_resistors_and_capacitors_are_b_sources_as_in_ngspice(tmp_path: Path, backend: str) -> None:
    _agree(BEHAVIOURAL_RESISTORS, tmp_path, backend)
    circuit = from_spice(BEHAVIOURAL_RESISTORS)
    assert circuit["br20"].spice_card() == (
        "br20 20 0 i=v(20,0)/(1k*v(200)) tc1=0.001 reciproctc=1"
    )
    again = from_spice(circuit.to_spice())
    assert solve_dc(again).voltages == pytest.approx(solve_dc(circuit).voltages, abs=1e-12)
