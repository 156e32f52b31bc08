"""Issue 11 acceptance audit: card forms found in public decks (ngspice's own examples, vendor
libraries) that ngspice 39 reads and circuitlearn refused or misread. Each deck here is a minimal
one of our own; both backends are compared with plain ``ngspice -b``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from ngspice_reference import ngspice_op as operating_point

from circuitlearn import from_spice
from circuitlearn.circuit import Expression
from circuitlearn.errors import CircuitError, NetlistError
from circuitlearn.solve import solve_dc

pytestmark = pytest.mark.ngspice


def _agree(deck: str, reference: dict[str, float], *, backend: str = "native") -> None:
    """Every node voltage of ``deck`` on ``backend`` equals ngspice -b to 1e-6 rel + 1e-7 V."""
    result = solve_dc(from_spice(deck), backend=backend)
    assert result.converged, result.message
    compared = 0
    for node, value in result.voltages.items():
        expected = reference.get(node, reference.get(f"v({node})"))
        if expected is None:
            continue
        compared += 1
        assert abs(value - expected) <= 1e-6 * abs(expected) + 1e-7, (backend, node, value)
    assert compared == len(result.voltages), (reference, result.voltages)


TEMPER_DECK = """temper in values, .params and models
.temp 50
.param rr = {10k + 40*temper}
V1 a 0 1
R1 a b {rr}
R2 b 0 r={5k + 20*TEMPER}
V2 c 0 0.6
D1 c d dm
R3 d 0 100
.model dm d (is={1e-14*(1 + temper/100)})
.subckt half p q
R1 p q {1k + temper}
.ends
X1 b e half
R4 e 0 1k
.op
.end
"""


@pytest.mark.parametrize("backend", ["native", "ngspice"])
def test_temper_is_the_circuit_temperature_in_every_expression(
    tmp_path: Path, backend: str
) -> None:
    # ngspice 39 evaluates TEMPER in .param, element values and model parameters
    _agree(TEMPER_DECK, operating_point(TEMPER_DECK, tmp_path), backend=backend)
    flat = from_spice(TEMPER_DECK).flatten()
    assert flat["r1"].resistance == pytest.approx(12e3)
    assert flat["r.x1.r1"].resistance == pytest.approx(1050.0)
    cold = from_spice(TEMPER_DECK.replace(".temp 50", ".temp 27"))
    assert cold.flatten()["r1"].resistance == pytest.approx(11080.0)


def test_a_param_named_temper_replaces_it() -> None:
    deck = "t\n.param temper=100\nV1 a 0 1\nR1 a 0 {temper}\n"
    assert from_spice(deck).flatten()["r1"].resistance == pytest.approx(100.0)


VERSION_DECK = """BSIM4 with a version string
.model n1 nmos level=54 version=4.8.2 toxe=3n
.model p1 pmos (level = 54 version = 4.5.0)
V1 d 0 1.2
V2 g 0 0.9
M1 d g 0 0 n1 l=0.1u w=1u
R1 d 0 10k
.op
.end
"""


def test_model_version_strings_are_kept_for_ngspice(tmp_path: Path) -> None:
    circuit = from_spice(VERSION_DECK)
    assert str(circuit.models["n1"].params["version"]) == "4.8.2"
    assert "version=4.5.0" in circuit.models["p1"].spice_card()
    assert from_spice(circuit.to_spice()) == circuit
    _agree(VERSION_DECK, operating_point(VERSION_DECK, tmp_path), backend="ngspice")
    refusal = r"m1 \(model n1\): MOSFET level 54 .*--backend ngspice"
    with pytest.raises(CircuitError, match=refusal):
        solve_dc(circuit)
    with pytest.raises(NetlistError, match=r"bad number '4\.8\.2'"):
        from_spice("t\n.model n1 nmos level=54 vth0=4.8.2\nV1 a 0 1\nR1 a 0 1k\n")


def test_ground_in_global_and_csparam_are_accepted(tmp_path: Path) -> None:
    deck = """globals
.global vdd gnd
.global 0
.csparam steps = 3
V1 vdd gnd 2
.subckt load out
R1 vdd out 1k
R2 out gnd 3k
.ends
X1 o load
.op
.end
"""
    circuit = from_spice(deck)
    assert circuit.global_nodes == ["vdd"]
    assert any(text.lower().startswith(".csparam") for _, text in circuit.ignored_cards)
    reference = operating_point(deck, tmp_path)
    _agree(deck, reference)
    _agree(deck, reference, backend="ngspice")


def test_a_model_parameter_given_twice_takes_the_last_value(tmp_path: Path) -> None:
    deck = "twice\n.model dm d (is=1e-14 n=2 is=1e-12 n=1)\nI1 0 a 1m\nD1 a b dm\nR1 b 0 10\n.end\n"
    model = from_spice(deck).models["dm"]
    assert model.params == {"is": 1e-12, "n": 1.0}
    _agree(deck, operating_point(deck, tmp_path))


RESISTOR_DECK = """resistor and source keywords
.temp 50
V1 a 0 1
R1 a b 1k TC=2.25M,-15U
R2 b 0 1k tc=1m noisy=0
V2 c 0 dc=0.5 ac=1
R3 c 0 1k
.op
.end
"""


@pytest.mark.parametrize("backend", ["native", "ngspice"])
def test_resistor_tc_pair_noisy_and_source_ac_equals(tmp_path: Path, backend: str) -> None:
    # plain ngspice reads TC=a,b only in PSpice compatibility mode (vendor libraries use it);
    # the reference deck spells it tc1=/tc2=, which is what circuitlearn reads it as
    reference = operating_point(
        RESISTOR_DECK.replace("TC=2.25M,-15U", "tc1=2.25m tc2=-15u"), tmp_path
    )
    _agree(RESISTOR_DECK, reference, backend=backend)
    flat = from_spice(RESISTOR_DECK).flatten()
    assert flat["r1"].resistance == pytest.approx(1e3 * (1 + 2.25e-3 * 23 - 15e-6 * 23**2))
    assert from_spice(RESISTOR_DECK)["v2"].spec == "ac 1"


COUPLED_DECK = """coupled inductors with parameter expressions
.param kval = 0.5
.subckt pair a b l11=1u l22=4u l12=1u
L1 a 0 {l11}
L2 b 0 {l22}
K1 L1 L2 {l12/sqrt(abs(l11*l22))}
.ends
V1 in 0 1
R1 in x 1k
R2 y 0 1k
X1 x y pair l12=1.5u
R3 in u 2k
L3 u 0 1u
L4 w 0 1u
R4 w 0 1k
K2 L3 L4 {kval}
.op
.end
"""


def test_opaque_cards_get_their_brace_expressions_evaluated(tmp_path: Path) -> None:
    flat = from_spice(COUPLED_DECK).flatten()
    assert flat["k.x1.k1"].spice_card() == "k.x1.k1 l.x1.l1 l.x1.l2 0.75"
    assert flat["k2"].spice_card().lower() == "k2 l3 l4 0.5"
    _agree(COUPLED_DECK, operating_point(COUPLED_DECK, tmp_path), backend="ngspice")


def test_a_fatal_ngspice_error_is_quoted(tmp_path: Path) -> None:
    # ngspice exits on an undefined parameter ('Cannot compute substitute'); its words reach the
    # user, not the failure of the cleanup command (run in a child: the library stays unusable)
    deck = tmp_path / "bad.cir"
    deck.write_text("bad\nV1 a 0 1\nR1 a b 1k\nL1 b 0 1u\nL2 c 0 1u\nR2 c 0 1k\nK1 L1 L2 {kval}\n")
    done = subprocess.run(
        [sys.executable, "-m", "circuitlearn", "simulate", str(deck), "--backend", "ngspice"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 2, done.stderr
    assert "destroy all" not in done.stderr and "Undefined parameter [kval]" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


SCOPED_MODELS_DECK = """a local .model hides the outer one of that name
V1 a 0 1
X1 a b outer
R1 b 0 1k
X2 a c outer2
R2 c 0 1k
D1 a d dx
R3 d 0 1k
.subckt outer p q
R1 p q rm
D1 p n dx
R2 n 0 1k
X1 q 0 inner
.subckt inner s t
R1 s t rm
.model rm r r=8k
.ends
.model rm r r=2k
.model dx d is=1e-12
.ends
.subckt outer2 p q
R1 p q rm
.ends
.model rm r r=4k
.model dx d is=1e-14
.op
.end
"""


@pytest.mark.parametrize("backend", ["native", "ngspice"])
def test_a_model_inside_a_subcircuit_hides_the_outer_one(tmp_path: Path, backend: str) -> None:
    # the resistor's value is read from its model when the card is read: the model visible in
    # the card's own .subckt (defined anywhere in its body) wins, as in ngspice
    flat = from_spice(SCOPED_MODELS_DECK).flatten()
    assert flat["r.x1.r1"].resistance == 2e3 and flat["r.x2.r1"].resistance == 4e3
    assert flat["r.x1.x1.r1"].resistance == 8e3
    _agree(SCOPED_MODELS_DECK, operating_point(SCOPED_MODELS_DECK, tmp_path), backend=backend)


VBIC_DECK = """a VBIC card keeps its own parameter names
V1 c 0 2
I1 0 b 2u
Q1 c b 0 0 qv
.model qv npn level=4 is=1e-16 bf=120 nf=1 pe=0.9 me=0.4 pc=0.7 mc=0.3 tref=27 vef=20 rbx=50
.op
.end
"""


def test_gummel_poon_aliases_stay_off_other_bipolar_levels(tmp_path: Path) -> None:
    # ngspice's VBIC has its own PE/ME/PC/MC/TREF; renaming them to Gummel-Poon's VJE/MJE/...
    # (unknown to VBIC, so ignored) changed ngspice's answer
    model = from_spice(VBIC_DECK).models["qv"]
    assert {"pe", "me", "pc", "mc", "tref"} <= set(model.params)
    gummel_poon = from_spice(VBIC_DECK.replace("level=4 ", "")).models["qv"]
    assert {"vje", "mje", "vjc", "mjc", "tnom"} <= set(gummel_poon.params)
    _agree(VBIC_DECK, operating_point(VBIC_DECK, tmp_path), backend="ngspice")


def test_spice2_output_options_run_natively(tmp_path: Path) -> None:
    # SPICE2/HSPICE output and timestep options of old decks (ngspice's rtlinv.cir, schmitt.cir)
    deck = """old options
.options post lvlcod=2 lvltim=1 limpts=100 limtim=2 numdgt=8 cptime=10
V1 a 0 5
R1 a b 1k
D1 b 0 dm
.model dm d is=1e-14
.op
.end
"""
    _agree(deck, operating_point(deck, tmp_path))


VDMOS_DECK = """power MOSFETs (VDMOS) between LTspice-style rails
V1 +V 0 12
V2 -V 0 -12
V3 g 0 4.5
V4 h 0 -4
R1 +V d1 10
M1 d1 g 0 nfet
R2 -V d2 10
M2 d2 h 0 pfet
.model nfet VDMOS (nchan Vto=3 Kp=5 Rd=10m Rs=5m mfg=Acme Vds=60 Ron=20m)
.model pfet vdmos pchan vto=-2.5 kp=2 bv=-12 rb=1k
.op
.end
"""


def test_vdmos_cards_run_on_ngspice_and_are_refused_natively(tmp_path: Path) -> None:
    circuit = from_spice(VDMOS_DECK)
    assert circuit["m1"].nodes == ("d1", "g", "0") and circuit["m1"].model == "nfet"
    assert circuit.models["pfet"].spice_card().startswith(".model pfet vdmos (pchan vto=-2.5")
    assert from_spice(circuit.to_spice()) == circuit
    _agree(VDMOS_DECK, operating_point(VDMOS_DECK, tmp_path), backend="ngspice")
    refusal = r"MOSFET \(VDMOS or SOI, kept for ngspice\) m1 \(model nfet\): not modelled"
    with pytest.raises(CircuitError, match=refusal):
        solve_dc(circuit)


THERMAL_DECK = """self-heating devices with a thermal node
V1 a 0 0.8
R1 a b 10
D1 b 0 tj dth thermal
R2 tj 0 1meg
.model dth d (is=1e-12 rs=0.2 rth0=100)
V2 c 0 3
I1 0 e 20u
Q1 c e 0 0 dt qv
R3 dt 0 1meg
.model qv npn level=4 is=1e-16 bf=100 rth=200
.op
.end
"""


def test_thermal_node_cards_run_on_ngspice_and_are_refused_natively(tmp_path: Path) -> None:
    circuit = from_spice(THERMAL_DECK)
    assert circuit["d1"].nodes == ("b", "0", "tj") and circuit["d1"].model == "dth"
    assert circuit["q1"].nodes == ("c", "e", "0", "0", "dt") and circuit["q1"].model == "qv"
    assert from_spice(circuit.to_spice()) == circuit
    _agree(THERMAL_DECK, operating_point(THERMAL_DECK, tmp_path), backend="ngspice")
    with pytest.raises(CircuitError, match=r"diode with a thermal node d1 \(model dth\)"):
        solve_dc(circuit)


SMALL_FORMS_DECK = """micro sign, sqr(), resistance as a model default
I1 0 a 2\u00b5
R1 a 0 50k
V1 b 0 {sqr(3)}
R2 b c resistance=1k noise=0 bv_max=100
R3 c 0 myres
.model myres r(resistance=2k)
.op
.end
"""


@pytest.mark.parametrize("backend", ["native", "ngspice"])
def test_micro_sign_sqr_and_resistance_defaults(tmp_path: Path, backend: str) -> None:
    # ngspice's regression decks misc/convergence.cir (2µ), parser/xpressn-1.cir (sqr) and
    # model/instance-defaults.cir (an instance parameter as a model default)
    flat = from_spice(SMALL_FORMS_DECK).flatten()
    assert flat["i1"].dc == 2e-6 and flat["v1"].dc == 9.0
    assert flat["r2"].resistance == 1e3 and flat["r3"].resistance == 2e3
    _agree(SMALL_FORMS_DECK, operating_point(SMALL_FORMS_DECK, tmp_path), backend=backend)


def test_monte_carlo_functions_are_refused_in_built_expressions() -> None:
    # the reader draws agauss() & co. (test_netlist_expr_decks.py); a built Expression cannot
    with pytest.raises(CircuitError, match=r"agauss\(\) .* draws a random value"):
        Expression("agauss(1k, 0.1, 3)")


BINNED_DECK = """BSIM4 bins picked by L and W
I1 0 a 5u
M1 a a 0 0 nch l=2u w=5u
I2 0 b 5u
M2 b b 0 0 nch l=2u w=20u
X1 c bin
I3 0 c 5u
.subckt bin d
M1 d d 0 0 nch l=2u w=5u
.ends
.model nch.1 nmos (level=54 version=4.8 vth0=0.5 lmin=1u lmax=10u wmin=1u wmax=10u)
.model nch.2 nmos (level=54 version=4.8 vth0=0.8 lmin=1u lmax=10u wmin=10u wmax=100u)
.op
.end
"""


def test_binned_models_are_picked_by_length_and_width(tmp_path: Path) -> None:
    # ngspice's tests/regression/model/binning-1.cir and measure/mos-meas-dc.sp name 'nch'
    flat = from_spice(BINNED_DECK).flatten()
    assert (flat["m1"].model, flat["m2"].model, flat["m.x1.m1"].model) == (
        "nch.1",
        "nch.2",
        "nch.1",
    )
    _agree(BINNED_DECK, operating_point(BINNED_DECK, tmp_path), backend="ngspice")
    with pytest.raises(CircuitError, match=r"m1: no bin of model nch holds l=2e-05 w=5e-06"):
        from_spice(BINNED_DECK.replace("M1 a a 0 0 nch l=2u", "M1 a a 0 0 nch l=20u")).flatten()


SOI_DECK = """BSIMSOI inverter with a back gate
V1 vdd 0 1.2
V2 in 0 0
MP1 out in vdd 0 bp p1 l=0.2u w=2u
MN1 out in 0 0 bn n1 l=0.2u w=1u
R1 bp vdd 1meg
R2 bn 0 1meg
.model n1 nmos level=10 tox=3n
.model p1 pmos level=10 tox=3n
.op
.end
"""


def test_soi_mosfets_with_a_back_gate_run_on_ngspice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ngspice's examples/soi: drain gate source, the back gate e and the body p before the model
    monkeypatch.chdir(tmp_path)  # ngspice's B4SOI writes b4soiv1check.log into the working folder
    circuit = from_spice(SOI_DECK)
    assert circuit["mn1"].nodes == ("out", "in", "0", "0", "bn") and circuit["mn1"].model == "n1"
    assert from_spice(circuit.to_spice()) == circuit
    _agree(SOI_DECK, operating_point(SOI_DECK, tmp_path), backend="ngspice")
    with pytest.raises(CircuitError, match=r"mp1 \(model p1\): not modelled by the native"):
        solve_dc(circuit)


def test_a_dos_end_of_file_mark_ends_a_library(tmp_path: Path) -> None:
    # vendor libraries (ngspice's examples/probe/TL072.301) end with Ctrl-Z
    (tmp_path / "lib.mod").write_bytes(b".model dm d (is=1e-14)\r\n\x1a")
    deck = tmp_path / "deck.cir"
    deck.write_text("ctrl-z\n.include lib.mod\nV1 a 0 1\nR1 a b 1k\nD1 b 0 dm\n.end\n")
    assert from_spice(deck).models["dm"].params == {"is": 1e-14}


def test_end_closes_an_unterminated_control_block() -> None:
    # PySpice's spice-examples/ac-coupled-amplifier.cir: '.control / run / plot ... / .end'
    circuit = from_spice("t\nV1 a 0 1\nR1 a 0 1k\n.control\nrun\nplot v(a)\n.end\nR2 a 0 1k\n")
    assert [e.name for e in circuit] == ["v1", "r1"]
    # with no .end either, the block runs to the end of the file: ngspice 39 warns "Missing
    # .endc statement" and simulates the circuit before it (PySpice's test_pole_zero.cir)
    circuit = from_spice("t\nV1 a 0 1\nR1 a 0 1k\n.control\nrun\nR2 a 0 1k\n")
    assert [e.name for e in circuit] == ["v1", "r1"]
    assert circuit.ignored_cards == [(4, ".control")]
