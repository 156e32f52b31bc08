"""Element and model cards public decks use that the native solver does not model (XSPICE code
models, HFETs, PSpice switches, behavioural E/G/F/H in subcircuits, SOI instance parameters):
kept as written, run by the ngspice backend with ``ngspice -b``'s answer, refused natively in
one line. Each deck here is a minimal one of our own."""

from __future__ import annotations

from pathlib import Path

import pytest
from ngspice_reference import assert_agrees
from ngspice_reference import ngspice_op as operating_point

from circuitlearn import from_spice
from circuitlearn.circuit import CodeModelInstance, Model
from circuitlearn.circuit.models import ModelText
from circuitlearn.errors import CircuitError
from circuitlearn.solve import solve_dc

pytestmark = pytest.mark.ngspice


def _agree(deck: str, reference: dict[str, float], *, backend: str = "ngspice") -> dict:
    """Every node voltage of ``deck`` on ``backend`` equals ngspice -b to 1e-6 rel + 1e-7 V."""
    return assert_agrees(solve_dc(from_spice(deck), backend=backend), reference, backend)


def _refused(deck: str, match: str) -> None:
    with pytest.raises(CircuitError, match=match) as info:
        solve_dc(from_spice(deck))
    assert "\n" not in str(info.value)
    assert "--backend ngspice" in str(info.value)


def _round_trip(deck: str) -> None:
    circuit = from_spice(deck)
    assert from_spice(circuit.to_spice()) == circuit


ASWITCH_DECK = """XSPICE switches, at the top and in a subcircuit
v1 a 0 1.5
r1 a b 1k
a1 %vd(a 0) %gd(b 0) sw3
.model sw3 aswitch(cntl_off=0 cntl_on=2 r_off=1e6 r_on=10 log=TRUE)
.subckt sub in out
a1 IN mid %gd(Out 0) swp
r4 mid 0 1k
.model swp pswitch(cntl_off=0.5 cntl_on=1.7 r_off=1e5
+ r_on=100 log=FALSE)
r2 in out 2k
.ends
x1 a c sub
r3 c 0 1k
.op
.end
"""


def test_xspice_code_models_run_on_ngspice_and_are_refused_natively(tmp_path: Path) -> None:
    voltages = _agree(ASWITCH_DECK, operating_point(ASWITCH_DECK, tmp_path))
    assert set(voltages) == {"a", "b", "c", "x1.mid"}
    flat = from_spice(ASWITCH_DECK).flatten()
    switch = flat["a.x1.a1"]
    assert isinstance(switch, CodeModelInstance)
    assert switch.spice_card() == "a.x1.a1 a x1.mid %gd(c 0) x1:swp"
    _refused(ASWITCH_DECK, r"^XSPICE code model a1 \(model sw3\): not modelled by the native")
    _round_trip(ASWITCH_DECK)


DIGITAL_DECK = """an AND gate between bridges: digital nodes have no voltage
v1 a1 0 1
v2 a2 0 {vb}
.param vb=1
r1 a1 0 1k
r2 a2 0 1k
aadc [ a1 a2 ] [ d1 ~d2 ] adc
.model adc adc_bridge in_low=0.5 in_high=0.5
aand [ d1 d2 ] o_and l_and
.model l_and d_lut table_values="0001"
aff d1 d2 null null q ~qb ff
.model ff d_dff
adac [ o_and q ] [ out out2 ] dac
.model dac dac_bridge(out_low=0.25 out_high=2)
r3 out 0 1k
r4 out2 0 1k
.op
.end
"""


def test_event_driven_nodes_are_left_out_of_the_answer(tmp_path: Path) -> None:
    reference = operating_point(DIGITAL_DECK, tmp_path)
    assert "d1" not in reference
    voltages = _agree(DIGITAL_DECK, reference)
    assert {"a1", "a2", "out"} <= set(voltages) and "d1" not in voltages
    assert voltages["out"] == pytest.approx(0.25)  # d2 is inverted: the AND gate is low
    _round_trip(DIGITAL_DECK)


def test_code_model_parameters_are_kept_verbatim() -> None:
    deck = (
        "t\nv1 in 0 0.5\nr1 out 0 1k\na1 in out tf\n"
        ".model tf pwl(x_array=[-1 0 1] y_array=[ -2 0 {2*k} ] input_domain=0.01 fraction=TRUE)\n"
        ".param k=1.5\n"
    )
    model = from_spice(deck).models["tf"]
    assert model.params["x_array"] == ModelText("[-1 0 1]")
    assert model.params["fraction"] == "TRUE" and model.params["input_domain"] == 0.01
    assert model.spice_card() == (
        ".model tf pwl (x_array=[-1 0 1] y_array=[ -2 0 {2*k} ] input_domain=0.01 fraction=TRUE)"
    )
    _round_trip(deck)
    assert Model("s", "aswitch", {"log": ModelText("TRUE")}).native_issue() == (
        "XSPICE code model models (aswitch) are not modelled natively"
    )


HFET_DECK = """HFET inverter stage in a subcircuit
.subckt inv vdd in out
z1 vdd out out aload l=1u w=10u
z2 out in 0 adrv l=1u w=10u
.ends
vdd 1 0 2
vin 2 0 0.2
x1 1 2 3 inv
.model adrv nhfet level=5 rd=60 rs=60 m=2.57 lambda=0.17
+ vs=1.5e5 mu=0.385 vt0=0.3 eta=1.32 sigma0=0.04 js1s=1e-12 js1d=1e-12 nmax=6e15
.model aload nhfet level=5 rd=60 rs=60 m=2.57 lambda=0.17
+ vs=1.5e5 mu=0.385 vt0=-0.3 eta=1.32 sigma0=0.04 js1s=1e-12 js1d=1e-12 nmax=6e15
.op
.end
"""


def test_hfet_models_run_on_ngspice_and_are_refused_natively(tmp_path: Path) -> None:
    _agree(HFET_DECK, operating_point(HFET_DECK, tmp_path))
    _refused(HFET_DECK, r"^MESFET or HFET z\.x1\.z1 \(model aload\): not modelled by the native")
    _round_trip(HFET_DECK)


VSWITCH_DECK = """PSpice switches: VON/VOFF (a pswitch in ngspice's PSpice mode) and VT/VH (an sw)
v1 in 0 0.8
r1 in a 1k
s1 a 0 in 0 smooth
.model smooth vswitch(ron=50 roff=1e6 von=1 voff=0.2)
.subckt clamp p n ctl
s1 p n ctl 0 sharp off
.model sharp vswitch(vt=0.5 vh=0.1 ron=10)
.ends
r2 in b 2k
x1 b 0 in clamp
.op
.end
"""


def test_pspice_vswitch_runs_as_ngspice_pspice_mode_reads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the reference: ngspice -b in its PSpice compatibility mode (.spiceinit in its directory)
    (tmp_path / ".spiceinit").write_text("set ngbehavior=ltpsa\n")
    monkeypatch.chdir(tmp_path)
    reference = operating_point(VSWITCH_DECK, tmp_path)
    voltages = _agree(VSWITCH_DECK, reference)
    assert 0.01 < voltages["a"] < 0.79 and voltages["b"] < 0.01  # both switches matter
    _refused(VSWITCH_DECK, r"^voltage-controlled switch s1 \(model smooth\): not modelled")
    _round_trip(VSWITCH_DECK)
    bad = VSWITCH_DECK.replace("von=1 voff=0.2", "")
    with pytest.raises(CircuitError, match=r"^model smooth: a vswitch model needs VON/VOFF"):
        solve_dc(from_spice(bad), backend="ngspice")


BEHAVIOURAL_DECK = """behavioural E, G, F, H inside subcircuits with parameters
.subckt amp in out params: k=2
E1 e1 0 POLY(2) (in,0) e2 0 0.1 {k} 0.5
E2 e2 0 VALUE={k*V(in)/3}
G1 0 g1 TABLE {V(in,0)} ((-1,-1m)(0,0)(1,2m))
R1 g1 0 1k
Vs g1 s 0
R2 s 0 1meg
F1 0 f1 POLY(1) Vs 0 {k*100}
R3 f1 0 1k
H1 h1 0 POLY(1) vs 0 10k
R4 h1 0 1k
G2 0 out cur={k*1m*v(e1)+i(Vs)}
R5 out 0 1k
.ends
V1 a 0 0.4
X1 a b amp k=3
X2 a c amp
.op
.end
"""


def test_behavioural_sources_in_subcircuits_are_renamed_when_flattened(tmp_path: Path) -> None:
    voltages = _agree(BEHAVIOURAL_DECK, operating_point(BEHAVIOURAL_DECK, tmp_path))
    assert voltages["b"] != pytest.approx(voltages["c"])  # the instance parameter matters
    flat = from_spice(BEHAVIOURAL_DECK).flatten()
    assert flat["e.x1.e1"].spice_card() == "e.x1.e1 x1.e1 0 POLY(2) (a,0) x1.e2 0 0.1 3 0.5"
    assert flat["f.x2.f1"].spice_card() == "f.x2.f1 0 x2.f1 POLY(1) v.x2.vs 0 200"
    assert flat["g.x1.g2"].spice_card() == "g.x1.g2 0 b cur={3*1m*v(x1.e1)+i(v.x1.vs)}"
    _refused(BEHAVIOURAL_DECK, r"^behavioural VCVS \(POLY/VALUE/TABLE\) e\.x1\.e1: not modelled")
    _round_trip(BEHAVIOURAL_DECK)
    short = BEHAVIOURAL_DECK.replace("POLY(2) (in,0) e2 0 0.1 {k} 0.5", "POLY(2) (in,0) e2")
    with pytest.raises(CircuitError, match=r"e1 in subcircuit amp: POLY\(2\) needs 4 controlling"):
        from_spice(short).flatten()


PSPICE_DECK = """a PSpice-mode macro model: IF, |, TEMP and a VSWITCH
.subckt sense in out
G1 0 out VALUE={IF(V(in)>0.5 | V(in)<-0.5, 1m, 0)}
R1 out 0 1k
E1 t 0 VALUE={TEMP/100 + V(in)}
R2 t 0 1k
S1 out 0 in 0 sw
.model sw vswitch(ron=100 roff=1e6 von=2 voff=1)
.ends
V1 a 0 0.8
X1 a b sense
.op
.end
"""


def test_pspice_mode_functions_and_parameters_are_defined_for_ngspice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".spiceinit").write_text("set ngbehavior=ltpsa\n")
    monkeypatch.chdir(tmp_path)
    voltages = _agree(PSPICE_DECK, operating_point(PSPICE_DECK, tmp_path))
    assert voltages["b"] == pytest.approx(1.0, rel=1e-3)  # IF's condition holds through '|'
    assert voltages["x1.t"] == pytest.approx(0.8 + 0.27)  # TEMP is the circuit temperature


BINNED_SCALE_DECK = """BSIM4 bins picked with the scaled L and W
.options scale=1e-6
.model nch.1 nmos (level=54 version=4.7 lmin=0.1u lmax=20u wmin=0.1u wmax=10u vth0=0.3)
.model nch.2 nmos (level=54 version=4.7 lmin=0.1u lmax=20u wmin=10u wmax=100u vth0=0.5)
vdd d 0 1
vg g 0 0.8
rd d dd 1k
m1 dd g 0 0 nch l=0.1 w=20
m2 dd g 0 0 nch l=1 w=2
.op
.end
"""


def test_binned_models_are_picked_with_the_scaled_size(tmp_path: Path) -> None:
    _agree(BINNED_SCALE_DECK, operating_point(BINNED_SCALE_DECK, tmp_path))
    flat = from_spice(BINNED_SCALE_DECK).flatten()
    assert (flat["m1"].model, flat["m2"].model) == ("nch.2", "nch.1")
    unscaled = BINNED_SCALE_DECK.replace(".options scale=1e-6\n", "")
    with pytest.raises(CircuitError, match=r"^MOSFET m1: no bin of model nch holds l=0\.1 w=20 "):
        from_spice(unscaled).flatten()
    tiny = BINNED_SCALE_DECK.replace("w=2\n", "w=200\n")
    with pytest.raises(CircuitError, match=r"l=1e-06 w=0\.0002 \(\.options scale=1e-06\)"):
        from_spice(tiny).flatten()


SOI_DECK = """an SOI inverter: four nodes (the back gate e) and SOI instance parameters
.model nsoi nmos (level=10 version=4.4 tox=2n)
.model psoi pmos (level=10 version=4.4 tox=2n)
vdd dd 0 1
vin in 0 0.3
.subckt inv dd in out
mn out in 0 0 nsoi w=1u l=0.15u as=1p ad=1p pdbcp=0u frbody=1
mp out in dd 0 psoi w=2u l=0.15u pdbcp=0.1u
.ends
x1 dd in out inv
.op
.end
"""


def test_soi_cards_with_four_nodes_keep_their_instance_parameters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # ngspice's B4SOI writes b4soiv1check.log where it runs
    _agree(SOI_DECK, operating_point(SOI_DECK, tmp_path))
    flat = from_spice(SOI_DECK).flatten()
    assert flat["m.x1.mn"].spice_card() == (
        "m.x1.mn out in 0 0 nsoi w=1u l=0.15u as=1p ad=1p pdbcp=0u frbody=1"
    )
    _refused(SOI_DECK, r"^MOSFET \(VDMOS or SOI, kept for ngspice\) m\.x1\.mn \(model nsoi\)")
    _round_trip(SOI_DECK)


DIODE_TEMP_DECK = """diodes at their own temperatures: temp= replaces .temp, dtemp= offsets it
.temp 60
.model dm d (is=1e-14 n=1.2 rs=2 bv=5 ibv=1u tnom=25)
v1 a 0 0.75
r1 a b1 100
d1 b1 0 dm
r2 a b2 100
d2 b2 0 dm temp=125
r3 a b3 100
d3 b3 0 dm dtemp=-30 area=2
v2 c 0 -8
r4 c k 1k
d4 k 0 dm temp=0
.subckt hot p params: t=80
d1 p 0 dm temp={t} dtemp=10
.ends
r5 a b5 100
x1 b5 hot t=100
.op
.end
"""


@pytest.mark.parametrize("backend", ["native", "ngspice"])
def test_diode_instance_temperatures_are_modelled(tmp_path: Path, backend: str) -> None:
    voltages = _agree(DIODE_TEMP_DECK, operating_point(DIODE_TEMP_DECK, tmp_path), backend=backend)
    assert voltages["b2"] < voltages["b1"] < voltages["b3"]  # hotter junctions drop less
    assert voltages["k"] < -5.0  # d4 conducts in breakdown at 0 °C
    flat = from_spice(DIODE_TEMP_DECK).flatten()
    assert flat["d.x1.d1"].spice_card() == "d.x1.d1 b5 0 dm temp=100 dtemp=10"
    _round_trip(DIODE_TEMP_DECK)
