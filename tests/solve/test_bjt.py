"""Bipolar transistors (Gummel–Poon, ngspice's bjtload.c): native vs plain ``ngspice -b``,
exact Jacobians, learning rules on a non-reciprocal transistor circuit, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from circuitlearn.circuit import Bipolar, Circuit, Model, Resistor, VoltageSource
from circuitlearn.circuit.devices import device_for
from circuitlearn.diagnostics.power import tellegen_check
from circuitlearn.errors import CircuitError, NetlistError
from circuitlearn.learn import LearningTask, make_estimator
from circuitlearn.netlist import from_spice
from circuitlearn.solve import solve_dc
from circuitlearn.solve.mna import compile_circuit

NETLISTS = Path(__file__).resolve().parents[2] / "netlists"
BJT_DECKS = ["bjt_bias", "bjt_mirror", "bjt_diffpair", "bjt_bandgap"]
RTOL, ATOL = 1e-6, 1e-7
"""The issue's agreement target with ngspice: 1e-6 relative + 1e-7 V; ``_agree`` ≤ 1 meets it."""
REGRESSION = 1e-3
"""Bound on ``_agree`` for the decks and cells: measured ≤ 1.5e-4 (ngspice at reltol 1e-9 is
the limit); a missing gmin per parallel copy gave 3e-2 on bjt_mirror."""


def _agree(text: str, folder: Path) -> float:
    """Worst |native − ngspice| / (ATOL + RTOL·|ngspice|) over node voltages and V currents."""
    from tests.netlist.ngspice_reference import ngspice_op

    reference = ngspice_op(text, folder)
    op = solve_dc(from_spice(text))
    assert op.converged, op.message
    worst = 0.0
    for node, v in op.voltages.items():
        key = f"v({node})" if node.isdigit() else node
        ref = reference[key]
        worst = max(worst, abs(v - ref) / (ATOL + RTOL * abs(ref)))
    for name, i in op.currents.items():
        ref = reference[f"{name}#branch"]
        worst = max(worst, abs(i - ref) / (1e-15 + RTOL * abs(ref)))
    return worst


@pytest.mark.ngspice
@pytest.mark.parametrize("deck", BJT_DECKS)
def test_decks_agree_with_plain_ngspice(deck: str, tmp_path: Path) -> None:
    assert _agree((NETLISTS / f"{deck}.cir").read_text(), tmp_path) <= REGRESSION


CELLS = {
    "npn_irb": "q1 c b e qn\n.model qn npn (is=2e-16 bf=80 rb=500 rbm=40 irb=2m vaf=30 ikf=5m)",
    "pnp_irb": "q1 e b c qp\n.model qp pnp (is=2e-16 bf=60 rb=300 rbm=20 irb=1m re=3 rc=8)",
    "npn_leaks": "q1 c b e qn 3 m=2\n.model qn npn (ise=20 ne=1.7 isc=1e-14 nc=1.8 br=3 var=9)",
    "pnp_lateral_sub": "q1 e b c s qp area=2\n.model qp pnp (is=1e-15 bf=40 subs=-1 ikr=1m)",
    "npn_vertical_sub": "q1 c b e s qn\n.model qn npn (is=1e-15 bf=70 subs=1 rc=20 nf=1.05 nr=1.1)",
}


@pytest.mark.ngspice
def test_a_vendor_model_card_runs_natively(tmp_path: Path) -> None:
    """A 2N2222 card as vendors ship it: SPICE2-style case, Vceo/Icrating datasheet fields (which
    ngspice ignores with a warning), charge parameters."""
    text = (
        "vendor 2n2222\nvcc c 0 5\nvb bb 0 0.9\nrb bb b 1k\nq1 c b 0 Q2N2222\n"
        ".model Q2N2222 NPN(Is=14.34f Xti=3 Eg=1.11 Vaf=74.03 Bf=255.9 Ne=1.307 Ise=14.34f "
        "Ikf=.2847 Xtb=1.5 Br=6.092 Nc=2 Isc=0 Ikr=0 Rc=1 Cjc=7.306p Mjc=.3416 Vjc=.75 Fc=.5 "
        "Cje=22.01p Mje=.377 Vje=.75 Tr=46.91n Tf=411.1p Itf=.6 Vtf=1.7 Xtf=3 Rb=10 Vceo=40 "
        "Icrating=800m)\n.op\n.end\n"
    )
    assert from_spice(text).models["q2n2222"].native_issue() is None
    assert _agree(text, tmp_path) <= REGRESSION


@pytest.mark.ngspice
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_single_transistor_cells_agree_with_ngspice(cell: str, tmp_path: Path) -> None:
    """IRB's tan law, ISE > 1e-4 as a multiple of IS, m copies with their own gmin, PNP, a
    substrate node to collector' (vertical) or base' (lateral), positional area."""
    supply = "-5" if "pnp" in cell else "5"
    text = (
        f"{cell}\nvcc vcc 0 {supply}\nvbb bb 0 {float(supply) * 0.16}\nvs s 0 -2\n"
        "rbb bb b 2k\nrl vcc c 1k\nre e 0 200\nrs s 0 1meg\n"
        f"{CELLS[cell].replace('q1 e b c', 'q1 c b e')}\n.op\n.end\n"
    )
    assert _agree(text, tmp_path) <= REGRESSION


TEMPERATURES = [
    ("is=1e-15 bf=100", ".temp 50", "qm", 1.2),
    (
        "is=1e-15 xtb=1.5 xti=3.5 eg=1.15 ise=1e-14 ne=1.6 isc=1e-14 nc=1.8 br=2",
        ".temp 100",
        "qm",
        1.2,
    ),
    (
        "is=1e-15 xtb=1.5 tnom=50 vaf=50 tvaf1=1e-3 ikf=5m tikf1=2e-3 rb=100 trb1=3e-3 re=2 "
        "tre1=1e-3 rc=5 trc2=1e-5",
        ".temp 0",
        "qm",
        1.2,
    ),
    (
        "tlev=1 xtb=0.01 tbr1=1e-3 br=3 nf=1.02 tnf1=1e-4 ne=1.7 tne1=1e-3 ise=1e-14",
        ".temp 75",
        "qm",
        1.2,
    ),
    (
        "is=1e-15 bf=60 xtb=1.2 rb=200 rbm=50 trm1=2e-3 irb=1m tirb1=1e-3",
        ".temp -20",
        "qm dtemp=10",
        -1.2,
    ),
    ("ise=50 ne=1.8", ".temp 60", "qm temp=80", 1.2),
    ("rb=100 trb1=5e-3", ".temp 70", "qm", 1.2),  # RBM stays RB(TNOM): RB(T) becomes qb-dependent
]


@pytest.mark.ngspice
@pytest.mark.parametrize(("model", "temp", "instance", "vin"), TEMPERATURES)
def test_temperature_follows_ngspice(
    model: str, temp: str, instance: str, vin: float, tmp_path: Path
) -> None:
    """``bjttemp.c``'s TLEV 0/1 laws: IS(T) with EG/XTI, betas with XTB (or TBF1/TBR1), leakage
    with NE/NC, polynomial coefficients of VAF, IKF, RB, RBM, IRB, RE, RC, NF, NE; TNOM, .temp,
    instance temp= and dtemp= (measured ≤ 2e-13 V)."""
    kind, supply = ("pnp", -5) if vin < 0 else ("npn", 5)
    text = (
        f"temperature\nvcc vcc 0 {supply}\nvin in 0 {vin}\nrin in b 10k\nrc vcc c 2k\n"
        f"re e 0 470\nq1 c b e {instance}\n.model qm {kind} ({model})\n{temp}\n.op\n.end\n"
    )
    assert _agree(text, tmp_path) <= REGRESSION


@pytest.mark.ngspice
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    kind=st.sampled_from(["npn", "pnp"]),
    isat=st.floats(1e-17, 1e-13),
    bf=st.floats(20, 500),
    br=st.floats(0.1, 10),
    nf=st.floats(1.0, 1.3),
    vaf=st.floats(10, 200),
    ikf=st.floats(1e-4, 1e-1),
    ise=st.floats(1e-16, 1e-12),
    ne=st.floats(1.2, 2.5),
    rb=st.one_of(st.just(0.0), st.floats(1.0, 500.0)),
    re=st.one_of(st.just(0.0), st.floats(0.1, 10.0)),
    vin=st.floats(0.5, 3.0),
)
def test_random_gummel_poon_parameters_agree_with_ngspice(
    tmp_path: Path,
    kind: str,
    isat: float,
    bf: float,
    br: float,
    nf: float,
    vaf: float,
    ikf: float,
    ise: float,
    ne: float,
    rb: float,
    re: float,
    vin: float,
) -> None:
    sign = 1.0 if kind == "npn" else -1.0
    model = (
        f".model qm {kind} (is={isat:.6e} bf={bf:.6g} br={br:.6g} nf={nf:.6g} vaf={vaf:.6g} "
        f"ikf={ikf:.6e} ise={ise:.6e} ne={ne:.6g} rb={rb:.6g} re={re:.6g} rc=2)"
    )
    text = (
        f"random gp\nvcc vcc 0 {sign * 5}\nvin in 0 {sign * vin}\nrin in b 10k\n"
        f"rc vcc c 2k\nre e 0 470\nq1 c b e qm\n{model}\n.op\n.end\n"
    )
    assert _agree(text, tmp_path) <= 1.0


AREA_CASES = {
    "npn_sat_area2": ("npn", "sat", "area=2", "bf=100"),
    "npn_sat_area6": ("npn", "sat", "area=6", "bf=100"),
    "pnp_sat_area2_m3": ("pnp", "sat", "area=2 m=3", "bf=100"),
    "npn_rev_area2_leaks": ("npn", "rev", "area=2", "bf=100 isc=1e-15 ise=1e-15 ikr=1m br=3"),
    "pnp_rev_area2_m3_leaks": ("pnp", "rev", "area=2 m=3", "isc=1e-15 ise=1e-15 ikr=1m ikf=10m"),
    "npn_sat_areab": ("npn", "sat", "areab=3", "bf=100 isc=1e-15"),
    "npn_sat_areac_vertical": ("npn", "sat", "area=2 areac=5", "bf=100 isc=1e-15"),
    "npn_rev_lateral_sub_areac": ("npn", "rev", "s area=2 areac=0.5", "subs=-1 isc=2e-15 br=2"),
    "pnp_rev_lateral_areac": ("pnp", "rev", "area=2 areac=0.5 areab=7", "isc=1e-15 ikr=1m"),
    "pnp_sat_vertical_sub_areab": ("pnp", "sat", "s areab=3 m=2", "subs=1 isc=1e-15 br=4"),
    "npn_rev_sub_all_areas": ("npn", "rev", "s area=2 areab=3 areac=0.5 m=2", "isc=1e-15 ikr=1m"),
    "npn_sat_hot_area3": ("npn", "sat", "area=3 dtemp=30", "isc=1e-15 nc=1.8 xtb=1.5 br=2"),
    "npn_sat_irb_area": ("npn", "sat", "area=2 areab=3 m=2", "rb=200 rbm=20 irb=1m re=2 rc=5"),
    "pnp_rev_rbm_area": ("pnp", "rev", "area=3 m=2", "rb=100 rbm=10 rc=3 isc=1e-15"),
}
"""(type, region, instance, model) with the base–collector junction forward-biased
(saturation, reverse-active) and an area, AREAB or AREAC other than 1, on 3- and 4-terminal
cards (``s`` starts the instance: a substrate node), vertical and lateral (SUBS)."""


def _area_deck(kind: str, region: str, instance: str, model: str) -> str:
    """A transistor driven into saturation (5 V through 10k into the base, 10k collector load)
    or reverse-active (collector grounded, emitter load), the substrate at −2 V when wired."""
    s = 1 if kind == "npn" else -1
    sub, rest = (" s", instance[2:]) if instance.startswith("s ") else ("", instance)
    load, drive, card = (
        ("c", 5, f"q1 c b 0{sub}") if region == "sat" else ("e", 2, f"q1 0 b e{sub}")
    )
    return (
        f"{region} {kind}\nvcc vcc 0 {5 * s}\nvin in 0 {drive * s}\nrin in b 10k\n"
        f"rl vcc {load} 10k\nvs s 0 {-2 * s}\nrs s 0 1meg\n{card} qm {rest}\n"
        f".model qm {kind} ({model})\n.op\n.end\n"
    )


@pytest.mark.ngspice
@pytest.mark.parametrize("case", sorted(AREA_CASES))
def test_base_collector_areas_follow_ngspice(case: str, tmp_path: Path) -> None:
    """``bjttemp.c`` scales the base–collector transport current by AREA and by AREAB (vertical)
    or AREAC (lateral), both AREA by default, so a plain area counts twice there, and its
    leakage ISC by AREAB or AREAC alone; every stamp is then times m. Where the base–collector
    junction conducts, IS·area·m there gave 1.8e-2 V (area 2) to 4.6e-2 V (area 6) on the
    collector or emitter, and AREAB/AREAC were refused; measured now ≤ 3.3e-14 V, 1.3e-8 of the
    1e-6 + 1e-7 V target."""
    kind, region, instance, model = AREA_CASES[case]
    text = _area_deck(kind, region, instance, model)
    op = solve_dc(from_spice(text))
    outer = "c" if region == "sat" else "0"
    vbc = (1 if kind == "npn" else -1) * (op.voltages["b"] - op.voltages.get(outer, 0.0))
    assert vbc > 0.3, vbc  # the base–collector junction conducts
    assert _agree(text, tmp_path) <= REGRESSION


def test_area_and_copies_scale_the_base_collector_junction_as_ngspice() -> None:
    """IS·AREA·AREAB (vertical) or IS·AREA·AREAC (lateral) times m for the base–collector
    transport current, ISC·AREAB or ISC·AREAC times m for its leakage; the base–emitter side
    IS·AREA·m and ISE·AREA·m. So area 2 with m 3 is not area 6 (12 IS against 36 IS)."""
    model = ".model qn npn (is=1e-16 ise=1e-15 isc=1e-14)\n.model qp pnp (is=1e-16 isc=1e-14)\n"
    cards = {
        "q1 c b 0 qn area=2": (2, 4, 2, 2),
        "q1 c b 0 qn area=2 m=3": (6, 12, 6, 6),
        "q1 c b 0 qn area=6": (6, 36, 6, 6),
        "q1 c b 0 qn areab=3 areac=5": (1, 3, 1, 3),
        "q1 c b 0 qp area=2 areab=3": (2, 4, 0, 2),
        "q1 c b 0 qp area=2 areac=0.5 m=2": (4, 2, 0, 1),
    }
    for card, (isat, isat_bc, ise, isc) in cards.items():
        system = compile_circuit(from_spice(f"t\nv1 c 0 5\nr1 c b 10k\n{card}\n{model}"))
        p = system.groups["q"].params
        got = [p[k][0] / s for k, s in (("isat", 1e-16), ("isat_bc", 1e-16), ("ise", 1e-15))]
        got.append(p["isc"][0] / 1e-14)
        assert got == pytest.approx([isat, isat_bc, ise, isc], rel=1e-12), card


def _group_case(kind: str, nonlinear_rb: bool, irb: bool) -> tuple:
    c = Circuit("jac")
    params = {"is": 1e-15, "bf": 90.0, "br": 3.0, "vaf": 40.0, "var": 8.0, "ikf": 3e-3}
    params |= {"ikr": 1e-3, "ise": 1e-14, "isc": 1e-14, "rc": 5.0, "re": 2.0}
    if nonlinear_rb:
        params |= {"rb": 300.0, "rbm": 30.0} | ({"irb": 1e-4} if irb else {})
    c.add_model(Model("qm", kind, params))
    c.add(VoltageSource("v1", "x", "0", 1.0))
    c.add(Resistor("r1", "x", "c", 1e3))
    c.add(Resistor("r2", "x", "b", 1e4))
    c.add(Resistor("r3", "e", "0", 1e2))
    c.add(Resistor("r4", "s", "0", 1e6))
    areas = {"areab": 2.5, "areac": 0.7}  # the base–collector junction's own area
    c.add(Bipolar("q1", "c", "b", "e", "qm", substrate="s", area=1.5, m=2.0, params=areas))
    return compile_circuit(c), c


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(["npn", "pnp"]),
    nonlinear_rb=st.booleans(),
    irb=st.booleans(),
    x=st.lists(st.floats(-1.0, 1.0), min_size=12, max_size=12),
)
def test_jacobian_equals_finite_differences_at_random_bias_points(
    kind: str, nonlinear_rb: bool, irb: bool, x: list[float]
) -> None:
    """K = ∂r/∂x exactly (both junctions in every region, the base resistance's own slope)."""
    system, _ = _group_case(kind, nonlinear_rb, irb)
    state = np.array(x[: system.n]) * 0.9
    jac = system.jacobian(state).toarray()
    h = 1e-6
    fd = np.empty_like(jac)
    for j in range(system.n):
        step = np.zeros(system.n)
        step[j] = h
        fd[:, j] = (system.residual(state + step) - system.residual(state - step)) / (2 * h)
    scale = np.abs(fd).max()
    assert np.allclose(jac, fd, rtol=1e-5, atol=1e-7 * scale), np.abs(jac - fd).max() / scale


def test_pnp_is_the_mirror_image_of_npn() -> None:
    """Flipping every voltage of an NPN circuit gives the PNP circuit's solution, negated (both
    vertical: the substrate's gmin leads to the collector' in both)."""
    texts = {
        kind: f"t\nv1 vcc 0 {s}5\nvb bb 0 {s}1.2\nrb bb b 10k\nrc vcc c 1k\nre e 0 100\n"
        f"q1 c b e qm\n.model qm {kind} (is=1e-15 bf=80 vaf=50 ikf=10m rb=20 rbm=5 irb=1m subs=1)\n"
        for kind, s in (("npn", ""), ("pnp", "-"))
    }
    npn = solve_dc(from_spice(texts["npn"])).voltages
    pnp = solve_dc(from_spice(texts["pnp"])).voltages
    for node, v in npn.items():
        assert pnp[node] == pytest.approx(-v, rel=1e-12, abs=1e-13)


LEARN_DECK = """two-stage BJT amplifier (non-reciprocal), every resistor trainable
vcc vcc 0 5
vin in 0 0.8
rin in b1 10k
r1 vcc b1 100k
rc1 vcc c1 5k
re1 e1 0 1k
q1 c1 b1 e1 qn
r2 c1 b2 20k
rb2 b2 0 20k
rc2 vcc out 4k
re2 e2 0 1k
q2 out b2 e2 qn
rl out 0 50k
.model qn npn (is=1e-15 bf=120 vaf=50 ikf=20m ise=1e-14 ne=1.6 br=2)
"""


def _learn_task() -> LearningTask:
    return LearningTask(from_spice(LEARN_DECK), "r*", {"out": 2.5})


def _gradient(method: str, backend: str = "native", **options: object) -> np.ndarray:
    values = make_estimator(method, **options).compute_gradient(_learn_task(), backend=backend)
    return np.array(list(values.values.values()))


def _error(estimate: np.ndarray, exact: np.ndarray) -> float:
    return float(np.linalg.norm(estimate - exact) / np.linalg.norm(exact))


def test_exact_gradient_matches_finite_differences_of_the_cost() -> None:
    """The adjoint through the transistors' Jacobian equals dC/dG by central differences."""
    assert _error(_gradient("fd"), _gradient("exact")) <= 1e-6


def test_aep_and_dyadic_handle_the_non_reciprocal_jacobian_where_ep_fails() -> None:
    exact = _gradient("exact")
    assert _error(_gradient("dyadic"), exact) <= 1e-10  # measured 2e-15
    errors = [_error(_gradient("aep", beta=b), exact) for b in (4e-10, 2e-10, 1e-10)]
    slopes = np.diff(np.log(errors)) / np.diff(np.log([4e-10, 2e-10, 1e-10]))
    assert np.all(np.abs(slopes - 2.0) < 0.2), slopes  # centred AEP: error ∝ β²
    assert _error(_gradient("aep", beta=1e-11), exact) <= 1e-4  # measured 1.5e-5
    assert _error(_gradient("ep", beta=1e-11), exact) > 0.5  # EP's vector field is blind here


@pytest.mark.ngspice
def test_learning_phases_with_transistors_run_on_ngspice() -> None:
    exact = _gradient("exact")
    assert _error(_gradient("dyadic", backend="ngspice"), exact) <= 1e-8
    assert _error(_gradient("aep", backend="ngspice", beta=1e-11), exact) <= 1e-4


def test_batched_engine_gives_the_single_sample_gradients() -> None:
    from circuitlearn.learn.batched import BatchEngine

    task = _learn_task()
    engine = BatchEngine(task)
    for method, options in (("exact", {}), ("aep", {"beta": 1e-11}), ("dyadic", {})):
        single = make_estimator(method, **options).compute_gradient(task).vector
        batched = engine.gradient(make_estimator(method, **options), engine.batch(size=1)).vector
        assert _error(batched, single) <= 1e-6, method


def test_applicability_names_transistors_as_nonlinear_and_nonreciprocal() -> None:
    from circuitlearn.diagnostics.applicability import analyze_applicability

    circuit = from_spice(LEARN_DECK)
    for method in ("ep", "exact"):
        reasons = analyze_applicability(circuit, ["r*"], method=method).reasons
        assert any("bipolar transistor(s) q1, q2" in r for r in reasons), reasons
        biased = [r for r in reasons if "non-reciprocal circuit (q1, q2)" in r]
        assert len(biased) == (1 if method == "ep" else 0), reasons


def test_power_balances_on_every_bjt_deck() -> None:
    for deck in BJT_DECKS:
        circuit = from_spice(NETLISTS / f"{deck}.cir")
        result = tellegen_check(circuit, solve_dc(circuit))
        assert result.ok, (deck, result.relative)


def test_cards_round_trip_and_read_like_ngspice() -> None:
    text = (
        "t\nv1 c 0 5\nvs s 0 -1\nq1 c b 0 qm 2\nq2 c b 0 s qm area=3 m=2 off\nr1 c b 100k\n"
        "q3 c b 0 qm areab=2 areac=2 area=2 dtemp=0\n.model qm npn (bf=50 va=20 c2=3)\n"
    )
    circuit = from_spice(text)
    assert circuit["q1"] == Bipolar("q1", "c", "b", "0", "qm", area=2.0)
    assert circuit["q2"] == Bipolar("q2", "c", "b", "0", "qm", "s", 3.0, 2.0, True)
    assert circuit["q2"].spice_card() == "q2 c b 0 s qm area=3 m=2 off"
    assert circuit.models["qm"].params == {"bf": 50.0, "vaf": 20.0, "ise": 3.0}
    assert from_spice(circuit.to_spice()) == circuit
    assert device_for(circuit["q1"]).reciprocal is False
    assert solve_dc(circuit).converged


@pytest.mark.parametrize(
    ("deck", "error", "match"),
    [
        ("q1 c b 0 qx\n", NetlistError, r"bipolar transistor q1: no known bipolar model after 3"),
        ("q1 c b 0 d1\n.model d1 d\n", NetlistError, r"q1: model d1 is a d model; expected npn"),
        ("q1 c b 0 s t qm\n", NetlistError, r"q1: five nodes \(a thermal node\) are not read"),
        ("q1 c b 0 qm foo=2\n", NetlistError, r"q1: unsupported parameter foo="),
        ("q1 c b 0 qm 2 area=3\n", NetlistError, r"q1: area given twice"),
        ("q1 c b 0 qm area=-1\n", NetlistError, r"bipolar transistor q1: area must be positive"),
    ],
)
def test_bad_cards_fail_in_one_line(deck: str, error: type, match: str) -> None:
    models = "" if ".model" in deck else ".model qm npn\n"
    with pytest.raises(error, match=match):
        from_spice(f"t\nv1 c 0 5\nr1 c b 10k\n{deck}{models}")


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"bf": 0.0}, r"model qm: parameter bf must be positive; got 0.0"),
        ({"rb": -1.0}, r"model qm: parameter rb must be ≥ 0; got -1.0"),
        ({"nf": -1.0}, r"model qm: parameter nf must be positive"),
        ({"vaf": -20.0}, r"model qm: parameter vaf must be ≥ 0"),
        ({"xyz": 1.0}, r"model qm \(npn\): unknown parameter 'xyz'"),
    ],
)
def test_bad_model_parameters_are_refused_naming_the_model(params: dict, match: str) -> None:
    with pytest.raises(CircuitError, match=match):
        Model("qm", "npn", params)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (".model qm npn (iss=1e-15)", r"q1 \(model qm\): parameter iss changes the DC answer"),
        (".model qm npn (nkf=0.6)", r"q1 \(model qm\): parameter nkf changes the DC answer"),
        (".model qm npn (level=4)", r"q1 \(model qm\): bipolar transistor level 4 is not"),
        (".model qm npn (tlev=3)\n.temp 50", r"q1 \(model qm\): TLEV=3 away from TNOM is not"),
        (".model qm npn (tnom=30 tis1=1e-3)", r"parameter tis1 \(TLEV 3\) away from TNOM is not"),
    ],
)
def test_native_refusals_name_element_and_model(extra: str, match: str) -> None:
    circuit = from_spice(f"t\nv1 c 0 5\nr1 c b 10k\nq1 c b 0 qm\n{extra}\n")
    with pytest.raises(CircuitError, match=match + r".*\(use --backend ngspice\)$"):
        solve_dc(circuit)


def test_a_vanishing_series_resistance_is_refused_naming_the_transistor() -> None:
    circuit = from_spice("t\nv1 c 0 5\nr1 c b 10k\nq1 c b 0 qm\n.model qm npn (re=1e-320)\n")
    with pytest.raises(CircuitError, match=r"^bipolar transistor q1 \(model qm\): RE = 9.99989e"):
        solve_dc(circuit)


SERIES_DECK = LEARN_DECK.replace("br=2)", "br=2 rb=50 rc=20 re=2)").replace(
    " qn\nr2", " qn 2 m=3\nr2"
)
"""LEARN_DECK with RB, RC, RE and, on q2, area 2 and m = 3 (series resistances ÷ 6)."""


def _series_task() -> LearningTask:
    return LearningTask(from_spice(SERIES_DECK), "r*", {"out": 2.5})


def _vector(method: str, task: LearningTask, backend: str = "native", **options: object) -> Any:
    return make_estimator(method, **options).compute_gradient(task, backend=backend).vector


def test_dyadic_and_aep_make_series_resistances_explicit_and_match_the_gradient() -> None:
    """RB, RC, RE (and area, m) become explicit resistors in the twin and AEP phases: Dyadic EP
    equals the exact gradient, itself checked by finite differences, and AEP's centred error
    falls as β². Measured: fd 1.1e-8, dyadic 5.7e-13; AEP 5.5e-4 at the default β (3.0e-11 S,
    set by NUDGE_LINEARITY), 6.1e-3 at 1e-10 S and 1.5e-3 at 5e-11 S (slope 2.02)."""
    task = _series_task()
    exact = make_estimator("exact").compute_gradient(task).vector
    fd = make_estimator("fd").compute_gradient(task).vector
    assert _error(fd, exact) <= 1e-6
    assert _error(make_estimator("dyadic").compute_gradient(task).vector, exact) <= 1e-10
    assert np.all(np.abs(exact) > 0)
    aep = make_estimator("aep").compute_gradient(task)
    assert _error(aep.vector, exact) <= 2e-3 and _error(aep.vector, fd) <= 2e-3
    assert set(aep.phases) == {"free", "aep_pos", "aep_neg"}
    betas = (1e-10, 5e-11)
    errors = [_error(_vector("aep", task, beta=b), fd) for b in betas]
    slope = np.log(errors[0] / errors[1]) / np.log(betas[0] / betas[1])
    assert abs(slope - 2.0) < 0.2, (errors, slope)


def test_aep_phases_with_series_resistors_follow_a_descent_step() -> None:
    """The compiled AEP phase (with its ``r_series_K`` resistors, so not the free circuit's
    resistor list) is shared by ``with_conductances`` and gets the new conductances by name.
    Measured 1.6e-6 from a freshly compiled task (the free states differ by rounding, which the
    phases' sub-µV moves magnify); with the old conductances left in it, no phase solves."""
    task = _series_task()
    _vector("aep", task)
    assert len(task.phase_systems) == 1
    stepped = task.with_conductances(task.conductances * np.linspace(0.8, 1.2, len(task.trainable)))
    fresh = LearningTask(stepped.circuit, "r*", {"out": 2.5})
    assert _error(_vector("aep", stepped), _vector("aep", fresh)) <= 1e-4
    assert len(stepped.phase_systems) == 1 and fresh.phase_systems is not stepped.phase_systems


def test_aep_on_bjt_bias_keeps_its_phases_on_their_branch() -> None:
    """bjt_bias (RB, RC): at the voltage-bounded β (6.4e-9 S) the AEP phases' second-order
    response is half their first-order move (η = 0.5) and the negative phase's branch through
    the free state folds at 0.53 β: no operating point there, reported naming the phase and β.
    The default β keeps η at NUDGE_LINEARITY (β/50): measured 2.1e-4 from the exact gradient."""
    from circuitlearn.errors import ConvergenceError
    from circuitlearn.learn.estimators import (
        NUDGE_LINEARITY,
        default_beta,
        nudge_curvature,
        nudge_sensitivity,
    )

    circuit = from_spice(NETLISTS / "bjt_bias.cir")
    task = LearningTask(circuit, "r*", {"2": 2.078, "3": 5.723})
    free = task.solve()
    exact = make_estimator("exact").compute_gradient(task, free=free).vector
    beta = default_beta(task, free)
    assert beta * nudge_curvature(task, free, beta) <= NUDGE_LINEARITY * 1.05
    bounded = 1e-5 / nudge_sensitivity(task, free)  # the NUDGE_VOLTAGE bound alone
    assert beta < bounded / 40
    assert _error(make_estimator("aep").compute_gradient(task, free=free).vector, exact) <= 1e-3
    with pytest.raises(
        ConvergenceError,
        match=r"^learning phase aep_neg at beta = \S+ has no operating point: .*continuation in "
        r"beta from the free state reached 0\.5\d* x beta .*try a smaller beta",
    ):
        make_estimator("aep", beta=bounded).compute_gradient(task, free=free)


@pytest.mark.ngspice
def test_aep_phases_with_series_resistances_export_and_run_on_ngspice(tmp_path: Path) -> None:
    """The AEP phase netlist names the nodes behind the series resistors (``r_series_K``, model
    copy ``series_m0`` with RB = RC = RE = 0), reads back, and solves on ngspice to the native
    gradient from the free state (its ``.nodeset`` cards; a cold solve finds another operating
    point of the phase, 1e-4 V away). Measured: 3.8e-7 on SERIES_DECK; 4.8e-3 on bjt_bias,
    where the phase moves the nodes by ~0.1 µV and ngspice's update test (reltol·|x| ≈ 2e-9 V)
    is 1.5 % of that."""
    from circuitlearn.learn.api import export_phases

    task = _series_task()
    native = make_estimator("aep").compute_gradient(task)
    spice = make_estimator("aep").compute_gradient(task, backend="ngspice")
    assert _error(spice.vector, native.vector) <= 1e-5
    files = export_phases(task.circuit, "aep", "r*", {"out": 2.5}, None, tmp_path / "s.cir")
    text = files[1].read_text()
    assert "r_series_0 " in text and ".model series_m0 npn" in text
    warm = make_estimator("aep").phase_plan(task, native.phases["free"]).warm_start()
    read = solve_dc(from_spice(files[1]), x0=warm)  # cold, it finds another point 1e-4 V away
    phase = native.phases["aep_pos"]
    for node in task.circuit.nodes:
        assert read.voltage(node) == pytest.approx(phase.voltage(node), abs=1e-12)
    bias = LearningTask(from_spice(NETLISTS / "bjt_bias.cir"), "r*", {"2": 2.078, "3": 5.723})
    assert _error(_vector("aep", bias, "ngspice"), _vector("aep", bias)) <= 2e-2


IRB_DECK = """bipolar stages with IRB base resistances (NPN, then PNP with area 2 and m = 3)
vcc vcc 0 5
vb in 0 0.9
rin in b 2k
rc1 vcc c 1k
q1 c b e qn
re1 e 0 100
q2 out c e2 qp 2 m=3
rl out 0 500
re2 vcc e2 50
.model qn npn (is=2e-16 bf=80 rb=500 rbm=40 irb=20u vaf=30 ikf=5m ise=1e-14 isc=1e-15 re=2 rc=5)
.model qp pnp (is=2e-16 bf=60 rb=300 rbm=20 irb=50u re=3 rc=8 var=10)
"""
"""Base currents 0.82 and 0.22 × IRB: the tan law's closed form (z > 0.15); both transistors
active."""
RB_DECKS = {
    "rbm": LEARN_DECK.replace("br=2)", "br=2 rb=50 rbm=10)"),
    "irb_series": LEARN_DECK.replace("br=2)", "br=2 rb=200 rbm=20 irb=5m rc=10 re=1)"),
    "irb": IRB_DECK,
}
"""Current-dependent base resistances: RBM ≠ RB (RB/qb law), IRB at base currents ~1e-3 × IRB
(the tan law's series, z < 0.15) and IRB_DECK."""
HOT_RB_DECK = (
    LEARN_DECK.replace(
        "br=2)", "br=2 rb=200 rbm=20 irb=1m trb1=5e-3 trm1=2e-3 tirb1=1e-3 xtb=1.2)"
    ).replace("q1 c1 b1 e1 qn", "q1 c1 b1 e1 qn dtemp=-20")
    + ".temp 70\n"
)
"""An IRB law away from TNOM (.temp, dtemp=, RB, RBM, IRB coefficients), baked in as numbers."""
SAT_RB_DECK = """saturated NPN (IRB) and PNP (RBM) with areas: the base–collector junction conducts
vcc vcc 0 5
vee vee 0 -5
rin vcc b 10k
rl vcc c 10k
q1 c b 0 qn area=2 areab=3 m=2
rin2 vee b2 10k
rl2 vee c2 10k
q2 c2 b2 0 qp area=3 m=2
.model qn npn (rb=200 rbm=20 irb=1m re=2 rc=5 isc=1e-15 br=2)
.model qp pnp (rb=100 rbm=10 rc=3 isc=1e-15)
"""
"""Current-dependent base resistances in saturation, where the explicit form's base current
holds the base–collector junction's area (AREA·AREAB) as the device does."""


def _rb_task(name: str) -> LearningTask:
    outputs = {"irb": {"b": 0.85, "out": 4.7}}.get(name, {"out": 2.5})
    return LearningTask(from_spice(RB_DECKS[name]), "r*", outputs)


@pytest.mark.parametrize("name", list(RB_DECKS))
def test_dyadic_and_aep_run_on_a_current_dependent_base_resistance(name: str) -> None:
    """The twin and AEP phases hold a current-dependent RB as RB in parallel with a behavioural
    source of the internal junction voltages (``b_series_K``): Dyadic EP equals the exact
    gradient (itself checked by finite differences) and AEP's centred error falls as β².
    Measured (fd, dyadic, AEP at the default β): rbm 1.3e-8, 7.5e-14, 9.2e-4; irb_series
    1.2e-8, 1.3e-13, 9.2e-4; irb 1.3e-8, 1.1e-13, 1.7e-4. β² slope: 2.00 (rbm), 2.01
    (irb_series)."""
    task = _rb_task(name)
    exact = _vector("exact", task)
    assert np.all(np.abs(exact) > 0)
    assert _error(_vector("fd", task), exact) <= 1e-6
    assert _error(_vector("dyadic", task), exact) <= 1e-10
    assert _error(_vector("aep", task), exact) <= 2e-3
    free = task.solve()
    aep = make_estimator("aep").phase_plan(task, free).circuit
    assert any(e.name.startswith("b_series_") for e in aep)
    twin = make_estimator("dyadic").phase_plan(task, free).circuit
    assert not any(e.name.startswith("b_series_") for e in twin)  # transposed into G sources
    if name != "irb":  # there 1e-10 S is 20 × the default β, beyond the β² regime
        betas = (1e-10, 5e-11)
        errors = [_error(_vector("aep", task, beta=b), exact) for b in betas]
        slope = np.log(errors[0] / errors[1]) / np.log(betas[0] / betas[1])
        assert abs(slope - 2.0) < 0.2, (errors, slope)


def _rb_deck(deck: str) -> str:
    """A deck's text: a netlists/ deck, one of RB_DECKS, HOT_RB_DECK (``hot``) or SAT_RB_DECK
    (``sat``)."""
    if deck in ("hot", "sat"):
        return HOT_RB_DECK if deck == "hot" else SAT_RB_DECK
    return RB_DECKS[deck] if deck in RB_DECKS else (NETLISTS / f"{deck}.cir").read_text()


@pytest.mark.parametrize(
    "deck", ["bjt_bias", "bjt_diffpair", "bjt_mirror", "bjt_bandgap", *RB_DECKS, "hot", "sat"]
)
def test_explicit_series_resistors_give_the_same_operating_point(deck: str) -> None:
    """Constant series resistances as resistors, a current-dependent RB as RB beside a
    behavioural source: the same operating point, internal nodes included; bjt_bandgap has none
    and is returned unchanged. The bound is Newton's rounding floor, which depends on the
    machine: measured ≤ 1.3e-13 V on one, 1.1e-12 V (bjt_bias, collector) on another, where
    restarting Newton from its own bjt_bias solution moves that node by 2.7e-12 V."""
    from circuitlearn.learn.task import explicit_series

    circuit = from_spice(_rb_deck(deck)).flatten()
    explicit, moved = explicit_series(circuit, "")
    assert (explicit is circuit) == (not moved)
    assert bool(moved) == (deck != "bjt_bandgap")
    laws = [e for e in explicit if e.name.startswith("b_series_")]
    assert bool(laws) == (deck not in ("bjt_bias", "bjt_bandgap"))
    free, other = solve_dc(circuit), solve_dc(explicit)
    floor = 1e-11  # [V]
    assert max(abs(free.voltages[n] - other.voltages[n]) for n in free.voltages) <= floor
    system = compile_circuit(circuit)
    x = system.state_from(free)
    for internal, node in moved.items():
        assert abs(x[system.node_index[internal]] - other.voltages[node]) <= floor


@pytest.mark.ngspice
@pytest.mark.parametrize("deck", ["bjt_diffpair", "bjt_mirror", *RB_DECKS, "hot", "sat"])
def test_the_behavioural_base_resistance_runs_on_ngspice_as_its_transistor(deck: str) -> None:
    """ngspice solves the explicit form (a transistor copy without RB, RBM, IRB; RB beside a B
    source) to its own operating point of the transistor with that RB law, within the issue's
    1e-6 relative + 1e-7 V. Measured ≤ 5.6e-6 of that bound (IRB_DECK)."""
    from circuitlearn.learn.task import explicit_series

    circuit = from_spice(_rb_deck(deck)).flatten()
    explicit, moved = explicit_series(circuit, "")
    assert moved
    reference = solve_dc(circuit, backend="ngspice")
    op = solve_dc(explicit, backend="ngspice")
    worst = max(
        abs(op.voltages[n] - v) / (ATOL + RTOL * abs(v)) for n, v in reference.voltages.items()
    )
    assert worst <= 1e-3


@pytest.mark.ngspice
def test_phases_with_a_current_dependent_base_resistance_run_on_ngspice() -> None:
    """AEP and Dyadic EP on ngspice, their phase netlists holding the behavioural base
    resistance, give the native gradients. Measured: 2.1e-12 (dyadic), 3.0e-5 (AEP; its phases
    move the nodes by ~1 µV, where ngspice's update test is a sizeable part of the move)."""
    task = _rb_task("irb")
    for method in ("dyadic", "aep"):
        assert _error(_vector(method, task, "ngspice"), _vector(method, task)) <= 1e-4
