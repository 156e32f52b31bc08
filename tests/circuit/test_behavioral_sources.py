"""B sources in circuits: native operating points against plain ``ngspice -b``, flattening,
topology and the errors a user meets (one line naming the element or the card's line)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from circuitlearn.circuit import Circuit, Resistor, VoltageSource
from circuitlearn.circuit.behavioral import BehavioralSource
from circuitlearn.cli import main
from circuitlearn.errors import CircuitError, NetlistError
from circuitlearn.netlist import from_spice
from circuitlearn.solve import solve_dc

DECKS = {
    "ebana_activation": """diode-like B activation between two rails
vin in 0 1.5
vbp bp 0 0.1
vbn bn 0 -0.1
r1 in a 1k
r2 a 0 10k
bdp a bp I=1e-12*(exp(v(a,bp)/0.025)-1)
bdn bn a I=1e-12*(exp(v(bn,a)/0.025)-1)
""",
    "amplifier": """B-source amplifier with a load and a divider back to its input
vs s 0 0.05
rs s in 1k
rf out in 100k
b1 out 0 V=10*v(in)
rl out 0 2k
""",
    "limiter": """tanh and hard limiters driven through resistors
vin in 0 2.2
r1 in a 1k
b1 a 0 I=1m*tanh(v(a)/0.2)
b2 b 0 V=min(max(v(in), -1), 1)
r2 b c 1k
b3 c 0 I=v(c)^3/1k
""",
    "current_controlled": """current-controlled behavioural sources
vin in 0 1
vsense in a 0
r1 a 0 1k
b1 0 b I=2*i(vsense)
r2 b 0 500
b2 c 0 V=1k*i(vsense) + 100*i(b3)
rc c 0 1k
b3 d 0 V=0.5*v(b)
rd d 0 250
b4 e 0 V=500*i(b1) + 0.1*v(e2)
re e 0 1k
b5 e2 0 I=-v(e2)/2k + i(b1) m=2
""",
    "params_ternary": """comparator with parameters and a ternary
.param vth=0.4 hi=2 lo=-1 g=3
vin in 0 0.55
r1 in 0 1k
b1 cmp 0 V=v(in) > vth ? hi : lo
r2 cmp 0 1k
b2 q 0 V={g*2} * v(in) - (v(cmp) >= hi && v(in) < 1 ? 0.5 : 0)
r3 q 0 1k
b3 r 0 I=v(in) <= vth || v(q) > 3 ? -1m : pwl(v(in), 0, 0, 0.5, 1m, 1, 1.5m)
r4 r 0 1k
""",
    "instance_factors": """tc1/tc2, temp=/dtemp=, m= and their reciprocal forms at 40 C
.temp 40
v1 a 0 1
r1 a 0 1k
b1 o 0 V=2*v(a) tc1=0.01 reciproctc=1 m=4 reciprocm=1
r2 o 0 1k
b2 p 0 V=2*v(a)+temper/100 tc1=0.01 tc2=1e-3 temp=60 m=3
r3 p 0 1k
b3 q 0 I=-1m*v(a) dtemp=13 tc1=0.02
r4 q 0 1k
""",
}
"""The decks of the issue (EBANA activation, amplifier, limiters, current control, .params and
ternary, instance factors); :func:`test_decks_match_plain_ngspice` checks each against
``ngspice -b``."""

AGREEMENT_V = 1e-9
"""Largest |v_native − v_ngspice| [V] allowed (measured: ≤ 4.5e-16 V on every deck)."""


def _ngspice_voltages(text: str, folder: Path) -> dict[str, float]:
    binary = shutil.which("ngspice")
    if binary is None:
        pytest.skip("the ngspice binary is needed for this check")
    deck = folder / "deck.cir"
    deck.write_text(
        text
        + ".options reltol=1e-12 vntol=1e-15 abstol=1e-18\n"
        + ".control\nset numdgt=16\nop\nprint all\nquit\n.endc\n.end\n"
    )
    done = subprocess.run([binary, "-b", str(deck)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rror" not in done.stdout + done.stderr, done.stdout + done.stderr
    values = dict(re.findall(r"^(\S+) = (\S+)$", done.stdout, re.MULTILINE))
    return {k: float(v) for k, v in values.items() if not k.endswith("#branch")}


@pytest.mark.ngspice
@pytest.mark.parametrize("name", DECKS)
def test_decks_match_plain_ngspice(name: str, tmp_path: Path) -> None:
    """Every node voltage equals ngspice -b's to 1e-9 V (ngspice at tight tolerances)."""
    text = DECKS[name]
    op = solve_dc(from_spice(text + ".end\n"))
    assert op.converged, op.message
    reference = _ngspice_voltages(text, tmp_path)
    # ngspice adds a node of its own (d_vmeas_0) for i() of a B source: a 0 V sense source
    assert set(op.voltages) == {node for node in reference if "vmeas" not in node}
    for node, value in op.voltages.items():
        assert abs(value - reference[node]) <= AGREEMENT_V, (name, node)


def test_known_values() -> None:
    """Closed forms: the amplifier's gain with its feedback divider, the current mirror of i()."""
    op = solve_dc(from_spice(DECKS["amplifier"] + ".end\n"))
    # v(in) = (0.05/1k + 10 v(in)/100k) / (1/1k + 1/100k)
    vin = 0.05e-3 / (1e-3 + 1e-5 - 10e-5)
    assert op.voltages["in"] == pytest.approx(vin, rel=1e-14)
    assert op.voltages["out"] == pytest.approx(10 * vin, rel=1e-14)
    op = solve_dc(from_spice(DECKS["current_controlled"] + ".end\n"))
    assert op.currents["vsense"] == pytest.approx(1e-3, rel=1e-14)
    assert op.voltages["b"] == pytest.approx(2e-3 * 500, rel=1e-14)  # 2·i(vsense) into b
    assert op.currents["b3"] == pytest.approx(-0.5 / 250, rel=1e-14)  # ngspice's sign


def test_subcircuit_b_source_is_renamed_like_ngspice() -> None:
    """Inside a subcircuit, v() of ports and locals and i() of local sources get the flat names."""
    circuit = from_spice(
        "t\nv1 a 0 1\nx1 a o shaper\n.subckt shaper p o\nvloc p q 0\nrq q 0 2k\n"
        "bsh o 0 V=exp(-v(p)) + 100*i(vloc) + v(q)\nrsh o 0 5k\n.ends\n.end\n"
    )
    flat = circuit.flatten()
    assert flat["b.x1.bsh"].spice_card() == (
        "b.x1.bsh o 0 v=(exp((-v(a)))+(100.0*i(v.x1.vloc))+v(x1.q))"
    )
    op = solve_dc(circuit)
    assert op.voltages["o"] == pytest.approx(0.3678794411714423 + 100 * 5e-4 + 1.0, rel=1e-14)


def test_topology_sees_b_sources() -> None:
    """A V= source in a loop of voltage sources and a node fed only by a constant I= source are
    refused; an I= source whose current reads its node voltage is a DC path."""
    loop = Circuit("loop")
    loop.add(VoltageSource("v1", "a", "0", 1.0))
    loop.add(BehavioralSource("b1", "a", "0", "v", "2"))
    with pytest.raises(CircuitError, match="voltage"):
        solve_dc(loop)
    floating = Circuit("floating")
    floating.add(VoltageSource("v1", "a", "0", 1.0))
    floating.add(Resistor("r1", "a", "0", 1e3))
    floating.add(BehavioralSource("b1", "0", "b", "i", "1m"))
    with pytest.raises(CircuitError, match="b"):
        solve_dc(floating)
    floating.replace(BehavioralSource("b1", "0", "b", "i", "1m - v(b)/1k"))
    assert solve_dc(floating).voltages["b"] == pytest.approx(1.0, rel=1e-14)


def test_errors_name_the_element_or_line(tmp_path: Path) -> None:
    with pytest.raises(NetlistError, match=r"deck.cir:3: .*unknown function 'foo'"):
        from_spice("t\nv1 a 0 1\nb1 b 0 V=foo(v(a))\n", path="deck.cir")
    with pytest.raises(NetlistError, match=r"deck.cir:3: .*expected 'bNAME n\+ n- V=expression'"):
        from_spice("t\nv1 a 0 1\nb1 b 0 10*v(a)\n", path="deck.cir")
    circuit = from_spice("t\nv1 a 0 1\nr1 a 0 1k\nb1 b 0 V=i(r1)\nr2 b 0 1k\n")
    with pytest.raises(CircuitError, match=r"b1: i\(r1\): 'r1' is not an element with a branch"):
        solve_dc(circuit)
    circuit = from_spice("t\nv1 a 0 -1\nr1 a 0 1k\nb1 b 0 V=sqrt(v(a))\nr2 b 0 1k\n")
    with pytest.raises(CircuitError, match=r"^behavioural source b1: sqrt of a negative argument"):
        solve_dc(circuit)
    circuit = from_spice("t\nv1 a 0 1\nr1 a 0 1k\nb1 a 0 I=i(b2)\nb2 a 0 I=i(b1)\n")
    with pytest.raises(CircuitError, match=r"i\(b1\) depends on itself through b1 -> b2 -> b1"):
        solve_dc(circuit)
    with pytest.raises(CircuitError, match=r"unknown parameter 'gain'"):
        from_spice("t\nv1 a 0 1\nb1 b 0 V=gain*v(a)\nr2 b 0 1k\n").flatten()


def test_cli_reports_a_domain_error_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.cir"
    path.write_text("t\nv1 a 0 -1\nr1 a 0 1k\nb1 b 0 V=ln(v(a))\nr2 b 0 1k\n.end\n")
    assert main(["simulate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "behavioural source b1: ln of a negative argument" in err


def test_batched_states_share_one_evaluation() -> None:
    """The batched engine evaluates B sources for many samples at once (leading axis)."""
    import numpy as np

    from circuitlearn.solve.mna import compile_circuit

    system = compile_circuit(from_spice(DECKS["ebana_activation"] + ".end\n"))
    op = solve_dc(system)
    x = np.array([system.state_from(op)] * 3)
    x[1] += 0.01
    batched = system.evaluate(x)
    for row in range(3):
        single = system.evaluate(x[row])
        np.testing.assert_allclose(batched.residual[row], single.residual, rtol=1e-15, atol=0)
        np.testing.assert_allclose(
            batched.jacobian_data[row], single.jacobian_data, rtol=1e-15, atol=0
        )


@pytest.mark.ngspice
def test_negative_instance_values_are_written_for_ngspice(tmp_path: Path) -> None:
    """ngspice 39 fails on 'dtemp=-13' after a B expression; the card is written with
    'dtemp=(-13)', which it reads (and so does the reader): same answer on both backends."""
    circuit = Circuit("negative instance values")
    circuit.add(VoltageSource("v1", "a", "0", 1.0))
    circuit.add(BehavioralSource("b1", "q", "0", "i", "-1m*v(a)", {"dtemp": -13.0, "tc1": 0.02}))
    circuit.add(Resistor("r1", "q", "0", 1e3))
    card = circuit["b1"].spice_card()
    assert card == "b1 q 0 i=-1m*v(a) dtemp=(-13) tc1=0.02"
    assert from_spice(circuit.to_spice()) == circuit
    text = "\n".join(circuit.to_spice().splitlines()[:-2]) + "\n"  # without .op/.end
    reference = _ngspice_voltages(text, tmp_path)
    assert solve_dc(circuit).voltages["q"] == pytest.approx(reference["q"], rel=1e-14)
    assert reference["q"] == pytest.approx(1.0 * (1 + 0.02 * (27 - 13 - 27)), rel=1e-14)
