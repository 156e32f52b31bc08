"""Issue 11, items 4 and 5: real model cards and elements the native solver does not model.

SPICE2 model cards, node pairs in brackets, subcircuit parameters set by an instance, resistor
models with m= and scale=, diode IKF / IS floor / m=, MOS m= / negative LD / model L and W, and
opaque cards (Q, S, B, POLY sources, MOS level 8) that ngspice runs and the native solver refuses
in one line. Numbers are checked against plain ``ngspice -b`` on the same deck."""

from __future__ import annotations

from pathlib import Path

import pytest
from ngspice_reference import ngspice_op as operating_point

from circuitlearn import from_spice
from circuitlearn.circuit import VCVS, Bipolar, Model, Resistor
from circuitlearn.cli import main
from circuitlearn.errors import CircuitError, NetlistError
from circuitlearn.solve import solve_dc

NATIVE_DECKS: dict[str, tuple[str, str, float]] = {
    # name: (deck body, node or "i(v1)", the value ngspice -b prints)
    "spice2_model": ("V1 d 0 1\nV2 g 0 1\nM1 d g 0 0 nm\n.model nm nmos vto 0.5 kp 1e-4", "i(v1)",
                     -1.25e-5),
    "negative_ld": ("V1 d 0 1\nV2 g 0 1\nM1 d g 0 0 nm l=10u w=10u\n"
                    ".model nm nmos (vto=0.5 kp=1e-4 ld=-1u)", "i(v1)", -1.041667e-5),
    "model_lw": ("V1 d 0 1\nV2 g 0 1\nM1 d g 0 0 nm\n.model nm nmos (vto=0.5 kp=1e-4 l=10u w=20u)",
                 "i(v1)", -2.5e-5),
    "mos_m": ("V1 d 0 1\nV2 g 0 1\nM1 d g 0 0 nm m=3\n.model nm nmos (vto=0.5 kp=1e-4)", "i(v1)",
              -3.75e-5),
    "diode_ikf": ("V1 a 0 1\nR1 a b 1k\nD1 b 0 dm\n.model dm d (is=1e-14 ikf=1e-4)", "b",
                  0.6687649),
    "diode_is_floor": ("V1 a 0 2\nR1 a b 1\nD1 b 0 dm\n.model dm d (is=1e-30)", "b", 1.641071),
    "diode_is_floor_area": ("V1 a 0 2\nR1 a b 1\nD1 b 0 dm area=1000\n.model dm d (is=1e-30)", "b",
                            1.472367),
    "diode_m": ("V1 a 0 1\nR1 a b 1k\nD1 b 0 dm m=4 area=2\n.model dm d (is=1e-14 rs=10 ikf=1m)",
                "b", None),
    "resistor_rsh": ("V1 a 0 1\nR1 a 0 rmod L=10u W=1u\n.model rmod r (rsh=100)", "i(v1)", -1e-3),
    "resistor_rsh_default_w": ("V1 a 0 1\nR1 a 0 rmod L=10u\n.model rmod r (rsh=100)", "i(v1)",
                               -1e-2),
    "resistor_narrow_short": ("V1 a 0 1\nR1 a 0 rmod L=10u W=2u\n"
                              ".model rmod r (rsh=100 narrow=0.5u short=1u)", "i(v1)", -1.25e-3),
    "resistor_model_r": ("V1 a 0 1\nR1 a 0 rmod\n.model rmod r (r=2k)", "i(v1)", -5e-4),
    "resistor_model_lw": ("V1 a 0 1\nR1 a 0 rmod\n.model rmod r (rsh=100 l=10u w=1u)", "i(v1)",
                          -1e-3),
    "resistor_value_wins": ("V1 a 0 1\nR1 a 0 rmod 1k\n.model rmod r (r=2k)", "i(v1)", -1e-3),
    "resistor_m_scale": ("V1 a 0 1\nR1 a 0 r=1k m=4 scale=2", "i(v1)", -2e-3),
    "resistor_ac": ("V1 a 0 1\nR1 a 0 1k ac=5k", "i(v1)", -1e-3),
    "node_pairs": ("V1 a 0 1\nR1 a 0 1k\nE1 (b 0) (a 0) -10\nR2 b 0 1k", "b", -10.0),
    "instance_sets_body_param": ("V1 a 0 1\n.subckt s p j=1\n.param k=1k\n.param kk={k*2}\n"
                                 "R1 p 0 {kk*j}\n.ends\nX1 a s k=2k", "i(v1)", -2.5e-4),
}  # fmt: skip


def _value(op_voltages: dict, op_currents: dict, key: str) -> float:
    return op_currents[key[2:-1]] if key.startswith("i(") else op_voltages[key]


@pytest.mark.parametrize("name", NATIVE_DECKS)
def test_native_solver_reads_real_model_cards(name: str) -> None:
    body, key, expected = NATIVE_DECKS[name]
    circuit = from_spice(f"{name}\n{body}\n")
    assert from_spice(circuit.to_spice()) == circuit
    op = solve_dc(circuit)
    if expected is not None:
        assert _value(op.voltages, op.currents, key) == pytest.approx(expected, rel=1e-5)


@pytest.mark.ngspice
@pytest.mark.parametrize("name", NATIVE_DECKS)
def test_real_model_cards_match_ngspice(name: str, tmp_path: Path) -> None:
    body, key, expected = NATIVE_DECKS[name]
    deck = f"{name}\n{body}\n.op\n.end\n"
    reference = operating_point(deck, tmp_path)
    ref = reference[f"{key[2:-1]}#branch"] if key.startswith("i(") else reference[key]
    if expected is not None:
        assert ref == pytest.approx(expected, rel=1e-5)
    circuit = from_spice(deck)
    for backend in ("native", "ngspice"):
        op = solve_dc(circuit, backend=backend)
        assert _value(op.voltages, op.currents, key) == pytest.approx(ref, rel=1e-6), backend
    written = operating_point(circuit.to_spice(), tmp_path)
    assert written == pytest.approx(reference, rel=1e-9)


def test_parsed_forms() -> None:
    c = from_spice("t\n" + NATIVE_DECKS["node_pairs"][0] + "\n")
    assert c["e1"] == VCVS("e1", "b", "0", "a", "0", -10.0)
    c = from_spice("t\n" + NATIVE_DECKS["resistor_m_scale"][0] + "\n")
    assert c["r1"].resistance == 500.0
    c = from_spice("t\n" + NATIVE_DECKS["resistor_ac"][0] + "\n")
    assert c["r1"] == Resistor("r1", "a", "0", 1000.0, 5000.0)
    assert c["r1"].spice_card() == "r1 a 0 1000 ac=5000"
    c = from_spice("t\n" + NATIVE_DECKS["spice2_model"][0] + "\n")
    assert c.models["nm"] == Model("nm", "nmos", {"vto": 0.5, "kp": 1e-4})


OPAQUE_DECK = """opaque cards run by ngspice
V1 vcc 0 5
V2 in 0 0.7
R1 vcc c 1k
Q1 c in 0 q2n area=2
.model q2n npn (bf=100 is=1e-15)
E1 b 0 POLY(1) in 0 0 2
R2 b 0 1k
B1 bb 0 V=v(in)*3
R3 bb 0 1k
S1 d 0 in 0 sw1
.model sw1 sw (vt=0.5 ron=1 roff=1meg)
R4 d vcc 1k
C1 c 0 cmod 1p
.model cmod c (cj=1)
.op
.end
"""


def test_opaque_cards_are_written_back_verbatim_and_refused_natively() -> None:
    circuit = from_spice(OPAQUE_DECK)
    assert circuit["q1"] == Bipolar("q1", "c", "in", "0", "q2n", area=2.0)  # native Q now
    assert circuit["e1"].spice_card() == "e1 b 0 POLY(1) in 0 0 2"
    assert circuit["b1"].spice_card() == "b1 bb 0 v=v(in)*3"  # a native B source now
    assert from_spice(circuit.to_spice()) == circuit
    with pytest.raises(
        CircuitError,
        match=r"^behavioural VCVS \(POLY/VALUE/TABLE\) e1: not modelled by the native solver "
        r"\(use --backend ngspice\)$",
    ):
        solve_dc(circuit)


def test_bsim_deck_runs_on_ngspice_and_is_refused_natively() -> None:
    text = (
        "bsim\nV1 d 0 1.8\nV2 g 0 1.2\nM1 d g 0 0 nch l=0.18u w=1u ad=1p\n"
        ".model nch nmos level=8 version=3.3 tox=4e-9 vth0=0.4\n"
        ".model unusedp pmos level=8 xyz=1 vth0=-0.4\n"  # a parameter of another, unused model
    )
    circuit = from_spice(text)
    with pytest.raises(CircuitError, match=r"^MOSFET m1 \(model nch\): MOSFET level 8 is not "):
        solve_dc(circuit)


@pytest.mark.parametrize(
    ("card", "match"),
    [
        ("D1 a 0 dm\n.model dm d (ikr=1m)", r"diode d1 \(model dm\): parameter ikr changes"),
        ("M1 a a 0 0 nm\n.model nm nmos (tox=1n)", r"parameter tox changes the DC answer"),
    ],
)
def test_native_refusals_name_element_and_model(card: str, match: str) -> None:
    circuit = from_spice(f"t\nV1 a 0 1\nR1 a 0 1k\n{card}\n")
    with pytest.raises(CircuitError, match=match + r".*\(use --backend ngspice\)$"):
        solve_dc(circuit)


@pytest.mark.parametrize(
    ("card", "match"),
    [
        ("E1 b 0 POLY(2) p 0\n.ends\nX1 a s", r"e1 in subcircuit s: POLY\(2\) needs 4 contr"),
        ("Q1 c p 0 qx\n.ends\nX1 a s", r"bipolar transistor q1: no known bipolar model"),
    ],
)
def test_opaque_cards_in_subcircuits(card: str, match: str) -> None:
    with pytest.raises(NetlistError, match=match):
        from_spice(f"t\nV1 a 0 1\nR1 a 0 1k\n.subckt s p\nR2 p 0 1k\n{card}\n", check=True)


KW_SUBCKT_DECK = """coupled inductors and a current-controlled switch in a subcircuit
v1 a 0 1
x1 a o1 cell
x2 a o2 cell
.subckt cell in out
.model wsw csw (it=1m ron=10 roff=1meg)
vs in m 0
r1 m 0 500
l1 m n 1u
l2 p 0 2u
k1 l1 l2 0.5
w1 n out vs wsw
r2 out p 1k
r3 n 0 10k
.ends
.op
.end
"""


def test_k_and_w_cards_in_subcircuits_flatten_like_ngspice(tmp_path: Path) -> None:
    """K's inductors, W's controlling source and its local model get ngspice's flat names; the
    flat deck gives ngspice -b the hierarchical deck's vectors (names and values)."""
    flat = from_spice(KW_SUBCKT_DECK).flatten()
    assert flat["k.x1.k1"].spice_card() == "k.x1.k1 l.x1.l1 l.x1.l2 0.5"
    assert flat["w.x2.w1"].spice_card() == "w.x2.w1 x2.n o2 v.x2.vs x2:wsw"
    assert "x2:wsw" in flat.models
    reference = operating_point(KW_SUBCKT_DECK, tmp_path)
    got = operating_point(flat.to_spice(), tmp_path, "flat.cir")
    assert got.keys() == reference.keys()
    for key, value in reference.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key


def test_opaque_transistor_in_a_subcircuit_flattens_with_its_local_model() -> None:
    text = (
        "t\nV1 a 0 5\n.subckt amp c b\n.model qn npn (bf=50)\nQ1 c b 0 qn\n.ends\n"
        "X1 c a amp\nR1 a c 1k\n"
    )
    flat = from_spice(text).flatten()
    assert flat["q.x1.q1"].spice_card() == "q.x1.q1 c a 0 x1:qn"
    assert "x1:qn" in flat.models


@pytest.mark.ngspice
def test_opaque_deck_matches_ngspice(tmp_path: Path) -> None:
    reference = operating_point(OPAQUE_DECK, tmp_path)
    circuit = from_spice(OPAQUE_DECK)
    voltages = solve_dc(circuit, backend="ngspice").voltages
    for node in ("c", "b", "bb", "d"):
        assert voltages[node] == pytest.approx(reference[node], rel=1e-6), node
    assert operating_point(circuit.to_spice(), tmp_path) == pytest.approx(reference, rel=1e-9)


@pytest.mark.ngspice
def test_opaque_terminals_count_as_dc_paths(tmp_path: Path) -> None:
    """The emitter reaches ground only through Q1: not a floating node (ngspice solves it)."""
    deck = "t\nV1 vcc 0 5\nV2 b 0 0.8\nR1 vcc c 1k\nQ1 c b e q2n\nC1 e 0 1n\n.model q2n npn\n"
    reference = operating_point(deck + ".op\n.end\n", tmp_path)
    voltages = solve_dc(from_spice(deck, check=True), backend="ngspice").voltages
    assert voltages["e"] == pytest.approx(reference["e"], rel=1e-6)


def test_cli_refuses_an_opaque_card_natively_in_one_line(tmp_path: Path, capsys) -> None:
    deck = tmp_path / "bjt.cir"
    deck.write_text(OPAQUE_DECK)
    assert main(["simulate", str(deck)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.endswith("(use --backend ngspice)"), err


def test_unknown_parameters_stop_only_the_native_solver_and_only_when_used() -> None:
    """ngspice ignores a parameter it does not know ('unrecognized parameter'): the deck reads,
    and the native solver refuses the model only when an element uses it."""
    text = (
        "t\nV1 a 0 1\nR1 a b 1k\nD1 b 0 dgood\n.model dgood d (is=1e-14)\n"
        ".model dtypo d (iss=1e-14)\n.model nold nmos (vto=1 ucrit=1e4)\n"
    )
    circuit = from_spice(text)
    assert circuit.models["dtypo"].params == {"iss": 1e-14}
    assert solve_dc(circuit).converged  # the unused models do not matter
    used = from_spice(text.replace("D1 b 0 dgood", "D1 b 0 dtypo"))
    with pytest.raises(CircuitError, match=r"diode d1 \(model dtypo\): parameter iss is unknown"):
        solve_dc(used)
    with pytest.raises(CircuitError, match="unknown parameter 'iss'"):
        Model("dtypo", "d", {"iss": 1e-14})  # the Python API stays strict
