"""Expression and control-card forms of public ngspice decks (``.func``, ``.if``, Monte Carlo
functions, behavioural resistors, B-source logic, RKM values, transient noise sources): each
deck here is a minimal one of our own, compared on both backends with plain ``ngspice -b``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ngspice_reference import assert_agrees, ngspice_op

from circuitlearn import from_spice
from circuitlearn.circuit.expressions import resolve_params
from circuitlearn.errors import CircuitError, NetlistError
from circuitlearn.solve import solve_dc

pytestmark = pytest.mark.ngspice

BACKENDS = ["native", "ngspice"]


def _agree(deck: str, tmp_path: Path, backend: str, **read: object) -> dict[str, float]:
    """Every node voltage of ``deck`` on ``backend`` equals ngspice -b to 1e-6 rel + 1e-7 V;
    returns the voltages."""
    reference = ngspice_op(deck, tmp_path)
    return assert_agrees(solve_dc(from_spice(deck, **read), backend=backend), reference, backend)


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


BEHAVIOURAL_RESISTORS = """behavioural R and C: B sources I = V(a,b)/(expr), I = expr*ddt(V(a,b))
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
def test_behavioural_resistors_and_capacitors_are_b_sources_as_in_ngspice(
    tmp_path: Path, backend: str
) -> None:
    _agree(BEHAVIOURAL_RESISTORS, tmp_path, backend)
    circuit = from_spice(BEHAVIOURAL_RESISTORS)
    assert circuit["br20"].spice_card() == (
        "br20 20 0 i=v(20,0)/(1k*v(200)) tc1=0.001 reciproctc=1"
    )
    again = from_spice(circuit.to_spice())
    assert solve_dc(again).voltages == pytest.approx(solve_dc(circuit).voltages, abs=1e-12)


MONTE_CARLO = """Monte Carlo functions, drawn by the reader
.param r0 = agauss(1k, 100, 1) r1 = 'gauss(2k, 0.1, 3)'
V1 a 0 1
R1 a b {r0}
R2 b c r={aunif(1k, 200)}
R3 c d {unif(1k, 0.5) + limit(100, 50)}
D1 d 0 dm
.model dm d (is=agauss(1e-14, 1e-15, 1) n={aunif(1.5, 0.2)})
.op
.end
"""


def test_monte_carlo_draws_are_seeded_and_shared_by_both_backends(tmp_path: Path) -> None:
    # ngspice draws from its own generator: circuitlearn draws the samples itself and writes
    # them into the deck, so both backends solve the same sample, and plain ngspice -b on the
    # written deck agrees
    circuit = from_spice(MONTE_CARLO)
    native = solve_dc(circuit)
    spice = solve_dc(circuit, backend="ngspice")
    assert native.voltages == pytest.approx(spice.voltages, rel=1e-6, abs=1e-7)
    reference = ngspice_op(circuit.to_spice(), tmp_path)
    for node, value in native.voltages.items():
        assert abs(value - reference[node]) <= 1e-6 * abs(value) + 1e-7, node
    # reproducible; the seed comes from seed=, else .options seed=, else MONTE_CARLO_SEED
    assert solve_dc(from_spice(MONTE_CARLO)).voltages == native.voltages
    assert solve_dc(from_spice(MONTE_CARLO, seed=1)).voltages == native.voltages
    other = solve_dc(from_spice(MONTE_CARLO, seed=2)).voltages
    assert other["b"] != native.voltages["b"]
    with_option = MONTE_CARLO.replace(".op", ".options seed=2\n.op")
    assert solve_dc(from_spice(with_option)).voltages == other


MONTE_CARLO_INSTANCES = """Monte Carlo draws per subcircuit instance, as ngspice 39 draws them
.subckt rs a b rd={aunif(1k, 0.2k)}
.param rp={agauss(1k, 0.1k, 1)}
R1 a b {agauss(1k, 0.1k, 1)}
R2 a m {rp}
R3 m b {rd}
D1 b 0 dm
.model dm d is=agauss(1e-14, 5e-15, 1)
X1 a b inner
.ends
.subckt inner a b
R4 a b {aunif(2k, 1k)}
R7 a b {limit(2k, 1k)}
.ends
.param rtop=agauss(1k, 0.1k, 1)
V1 x 0 1
X1 x y rs
R5 y 0 {rtop}
V2 p 0 1
X2 p q rs
R6 q 0 1k
.op
.end
"""


def test_monte_carlo_draws_are_per_subcircuit_instance(tmp_path: Path) -> None:
    # ngspice 39 draws each instance's values anew (element values, body .params, .subckt
    # defaults, model parameters, nested instances): measured with ngspice -b, listing expand
    circuit = from_spice(MONTE_CARLO_INSTANCES)
    flat = circuit.flatten()
    for name in ("r.x{}.r1", "r.x{}.r2", "r.x{}.r3", "r.x{}.x1.r4"):
        assert flat[name.format(1)].resistance != flat[name.format(2)].resistance, name
    assert {flat["r.x1.x1.r7"].resistance, flat["r.x2.x1.r7"].resistance} <= {1e3, 3e3}
    assert flat.models["x1:dm"].params["is"] != flat.models["x2:dm"].params["is"]
    # both backends solve the same sample, which plain ngspice -b on the flat deck agrees with
    native = solve_dc(circuit)
    spice = solve_dc(circuit, backend="ngspice")
    assert native.voltages == pytest.approx(spice.voltages, rel=1e-6, abs=1e-7)
    reference = ngspice_op(flat.to_spice(), tmp_path)
    for node, value in native.voltages.items():
        assert abs(value - reference[node]) <= 1e-6 * abs(value) + 1e-7, node
    # reproducible, seeded, also through a written deck (which leaves ngspice its own draws)
    assert circuit.flatten().to_spice() == flat.to_spice()
    again = from_spice(circuit.to_spice()).flatten()
    assert [e.spice_card() for e in again] == [e.spice_card() for e in flat]
    other = from_spice(MONTE_CARLO_INSTANCES, seed=2).flatten()
    assert other["r.x1.r1"].resistance != flat["r.x1.r1"].resistance
    assert "agauss(0, 1, 1)" in circuit.to_spice()
    ngspice_op(circuit.to_spice(), tmp_path)  # a deck plain ngspice runs


def test_monte_carlo_samples_follow_ngspice_definitions() -> None:
    # agauss(nom, avar, sig): sd avar/sig; gauss: sd nom*rvar/sig; aunif/unif: uniform within
    # nom ± avar (nom*rvar); limit: nom ± avar exactly
    params = " ".join(
        f"a{k}=agauss(1,0.3,3) g{k}=gauss(2,0.3,3) u{k}=aunif(1,0.5) f{k}=unif(2,0.5) "
        f"l{k}=limit(1,0.25)"
        for k in range(500)
    )
    circuit = from_spice(f"mc\n.param {params}\nV1 a 0 1\nR1 a 0 1k\n")
    env = resolve_params(circuit.params)
    values = {kind: np.array([env[f"{kind}{k}"] for k in range(500)]) for kind in "agufl"}
    assert abs(values["a"].mean() - 1) < 0.02 and abs(values["a"].std() - 0.1) < 0.015
    assert abs(values["g"].mean() - 2) < 0.04 and abs(values["g"].std() - 0.2) < 0.03
    assert values["u"].min() >= 0.5 and values["u"].max() < 1.5
    assert abs(values["u"].std() - 0.5 / np.sqrt(3)) < 0.03
    assert values["f"].min() >= 1 and values["f"].max() < 3
    assert set(values["l"]) == {0.75, 1.25}


def test_a_monte_carlo_call_with_a_wrong_argument_count_is_one_line() -> None:
    with pytest.raises(NetlistError, match=r":2: agauss\(\) takes 3 arguments"):
        from_spice("t\n.param a=agauss(1, 2)\nV1 a 0 1\nR1 a 0 1k\n")


def test_simulate_seed_sets_the_monte_carlo_draws(tmp_path: Path, capsys) -> None:
    from circuitlearn.cli import main

    deck = tmp_path / "mc.cir"
    deck.write_text(MONTE_CARLO)
    runs = {}
    for seed in ("1", "2"):
        assert main(["simulate", str(deck), "--seed", seed, "--json"]) == 0
        runs[seed] = json.loads(capsys.readouterr().out)["voltages"]
    assert runs["1"] == solve_dc(from_spice(MONTE_CARLO)).voltages
    assert runs["2"] == solve_dc(from_spice(MONTE_CARLO, seed=2)).voltages
    assert main(["simulate", str(deck), "--seed", "-1"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


USER_FUNCTIONS = """.func user functions, expanded in place
vp p 0 102
vn n 0 101
rp p 0 1k
.func foo0() '1013.0'
.func bar(p) 'v(p)+p'
.func baz(n,vp) 'n+i(vp)+vp'
.func moo(x,p,n) 'x<p?p:x>n?n:x'
.func twice(x) {2*x}
.param xoo = 100
.func fun(a, xoo) 'a*xoo'
.param c = 'max(twice(3))' d = {min(7)} e = fun(xoo, 2)
V1 a 0 '100*foo0()'
B2 b 0 v = 'bar(17.0)'
B3 c 0 v = 'baz(17.0, 10000)'
V4 d 0 {moo(6, 3, 5) + twice(twice(1))}
V5 e 0 {c + d + e}
R1 a 0 1k
R2 b 0 1k
R3 c 0 1k
R4 d 0 1k
R5 e 0 1k
.subckt s q
.func twice(x) 'x*3'
R1 q 0 {1k*twice(1)}
.ends
X1 a s
.op
.end
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_user_functions_expand_as_in_ngspice(tmp_path: Path, backend: str) -> None:
    # v(p) and i(vp) in a body name a node and a source, not the parameters p and vp; a .func
    # in a .subckt is local; min/max of one argument compare it with 1, as ngspice 39 does
    voltages = _agree(USER_FUNCTIONS, tmp_path, backend)
    assert voltages["b"] == pytest.approx(119)
    assert voltages["c"] == pytest.approx(17 - 0.102 + 10000)  # i(vp) = -102 mA
    assert voltages["e"] == pytest.approx(6 + 1 + 200)
    circuit = from_spice(USER_FUNCTIONS)
    assert solve_dc(from_spice(circuit.to_spice()), backend=backend).voltages == pytest.approx(
        voltages, abs=1e-9
    )


@pytest.mark.parametrize(
    ("cards", "match"),
    [
        (".func f(x) {f(x)+1}\nV1 a 0 {f(1)}\n", r":3: \.func f calls itself"),
        (".func f(x) {g(x)}\n.func g(x) {f(x)}\nV1 a 0 {f(1)}\n", r":4: \.func f calls itself"),
        (".func f(x,y) {x+y}\nV1 a 0 {f(1)}\n", r":3: call of \.func f: takes 2 arguments, got 1"),
        (".func f(x {x}\nV1 a 0 1\n", r":2: \.func: expected '\.func NAME\(arg, \.\.\.\)"),
        (".subckt s q\n.func f(x) {x}\n.ends\nV1 a 0 {f(1)}\n", r"unknown function 'f'"),
    ],
)
def test_user_function_errors_are_one_line(cards: str, match: str) -> None:
    # ngspice 39 crashes on a recursive .func and stops on a wrong argument count
    with pytest.raises(NetlistError, match=match) as error:
        from_spice(f"t\n{cards}R1 a 0 1k\n")
    assert "\n" not in str(error.value)


CONDITIONALS = """conditional cards, nested
.param select = 3 select2 = 3
.param a = 2
.if (a = 2)
.param b = 5
.else
.param b = 7
.endif
V1 1 0 {b}
.if (select == 1)
R1 1 0 1
.elseif (select == 2)
R1 1 0 10
.elseif (select == 3)
  .if (select2 == 1)
  R1 1 0 100
  .elseif (select2 = 3)
  R1 1 0 300
  .else
  R1 1 0 400
  .endif
.else
R1 1 0 10000
.endif
.IF(b > 6)
R2 1 2 10
.ELSE
R2 1 2 20
.ENDIF
.if (a < 2)
.model dm d is=1e-12
.else
.model dm d is=1e-15
.endif
D1 2 0 dm
.op
.end
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_if_blocks_select_cards_as_in_ngspice(tmp_path: Path, backend: str) -> None:
    # measured with ngspice 39: a .param inside a branch is read whichever branch is taken
    # (so b = 7, its last definition), element and .model cards only in the taken branch
    _agree(CONDITIONALS, tmp_path, backend)
    circuit = from_spice(CONDITIONALS)
    assert circuit["r1"].resistance == 300 and circuit["r2"].resistance == 10
    assert circuit.models["dm"].params == {"is": 1e-15}


@pytest.mark.parametrize(
    ("cards", "match"),
    [
        (".endif\n", r":2: \.endif without a matching \.if"),
        (".else\n", r":2: \.else without a matching \.if"),
        (".if (1)\n", r"unterminated \.if block"),
        (".if (nope > 1)\nR2 a 0 1\n.endif\n", r":2: \.if: cannot evaluate the condition"),
        (".if\n.endif\n", r":2: \.if: expected a condition"),
    ],
)
def test_if_block_errors_are_one_line(cards: str, match: str) -> None:
    with pytest.raises(NetlistError, match=match) as error:
        from_spice(f"t\n{cards}V1 a 0 1\nR1 a 0 1k\n")
    assert "\n" not in str(error.value)


RKM_VALUES = """values with characters after their scale factor
V1 1 0 1
R1 1 2 4K7
R2 2 0 2m5
R3 2 3 2meg5
R4 3 0 27R56
R5 2 0 1.5kohm2
C1 2 0 4p7
.op
.end
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_rkm_values_read_as_plain_ngspice_reads_them(tmp_path: Path, backend: str) -> None:
    # plain ngspice 39 ignores what follows a number and its scale: 4K7 is 4k, not 4.7k
    _agree(RKM_VALUES, tmp_path, backend)
    circuit = from_spice(RKM_VALUES)
    assert [circuit[f"r{k}"].resistance for k in range(1, 6)] == [4e3, 2e-3, 2e6, 27, 1.5e3]


def test_a_negative_resistor_runs_on_ngspice_and_is_refused_natively(tmp_path: Path) -> None:
    deck = "negative resistor\nV1 1 0 1\nR1 1 2 1k\nR2 2 0 -1.7\nR3 2 0 1\n.op\n.end\n"
    reference = ngspice_op(deck, tmp_path)
    assert solve_dc(from_spice(deck), backend="ngspice").voltages["2"] == pytest.approx(
        reference["v(2)"], rel=1e-6
    )
    refusal = r"^resistor with a negative or infinite value r2: not modelled .*--backend ngspice\)$"
    with pytest.raises(CircuitError, match=refusal):
        solve_dc(from_spice(deck))


TEMP_EXPRESSION = """.temp from a parameter defined after it
.temp {envtemp*2}
.param envtemp=40
V1 a 0 1
R1 a b 1k tc1=0.01
D1 b 0 dm
.model dm d is=1e-14
R2 a c {1k + temper}
R3 c 0 1k
.op
.end
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_temp_takes_an_expression_of_params(tmp_path: Path, backend: str) -> None:
    _agree(TEMP_EXPRESSION, tmp_path, backend)
    circuit = from_spice(TEMP_EXPRESSION)
    assert circuit.temperature == 80 and ".temp 80" in circuit.to_spice()
    with pytest.raises(NetlistError, match=r":2: \.temp: unknown parameter 'nope'"):
        from_spice("t\n.temp {nope}\nV1 a 0 1\nR1 a 0 1k\n")


LOGIC = """PSPICE logic operators in B sources
v8 8 0 0.7
v9 9 0 0
v7 7 0 -0.3
B1 1 0 V=~(~v(9)&v(8)) + 0.5
B2 2 0 V=~v(8)
B3 3 0 V=v(8)|v(9)
B5 5 0 V=v(8)&v(7)
B6 6 0 V=~v(7) + 2*(v(9)&v(8)) + 4*(v(8)|v(9)&v(9))
B10 10 0 V=(v(8) > 0.5) & (v(7) < 0) | 0
B11 11 0 V=~0.3 + ~-1 + ~0
B12 12 0 I=1m*(1 + v(8)&v(12)) + v(12)/1k
.op
.end
"""


@pytest.mark.parametrize("backend", BACKENDS)
def test_pspice_logic_operators_read_as_ngspice_psa_mode(tmp_path: Path, backend: str) -> None:
    # ngspice 39 reads ~ & | only in its PSPICE mode (ngbehavior=psa), as ! && ||: the
    # reference runs the deck with them written so (the values were checked in psa mode)
    plain = LOGIC.replace("~", "!").replace("&", "&&").replace("|", "||")
    reference = ngspice_op(plain, tmp_path)
    result = solve_dc(from_spice(LOGIC), backend=backend)
    assert result.converged, result.message
    for node, value in result.voltages.items():
        assert value == pytest.approx(reference[f"v({node})"], rel=1e-6, abs=1e-7), node
    assert [result.voltages[n] for n in ("1", "2", "3", "5", "6", "10", "11")] == pytest.approx(
        [0.5, 0, 1, 1, 4, 1, 1], abs=1e-12
    )
    assert from_spice(LOGIC)["b1"].spice_card() == "b1 1 0 v=!(!v(9)&&v(8)) + 0.5"


def test_pspice_logic_operators_have_zero_derivatives() -> None:
    # as ngspice's ! && || (PTdifferentiate): a step function, 0 away from its jumps
    from circuitlearn.circuit.behavioral import parse_b_expression
    from circuitlearn.circuit.behavioral_eval import evaluate_expression

    at = {("v", "a"): 0.3, ("v", "b"): -0.2}
    tree = parse_b_expression("~v(a) + (v(a)&v(b)) + 3*(v(a)|v(b)) + v(a)")
    value, grad = evaluate_expression(tree, at)
    assert value == pytest.approx(0 + 1 + 3 + 0.3)
    assert grad.get(("v", "a"), 0.0) == pytest.approx(1.0) and grad.get(("v", "b"), 0.0) == 0


RESISTOR_MODELS = """resistor models: an expression with temper, a zero effective width
.temp 50
.model rtest r r='1000 + temper'
.model rzero r rsh=1000 narrow=1u
V1 1 0 5
R1 1 2 rtest
R2 2 0 1k
R3 2 0 rzero l=11u w=2u
.op
.end
"""


def test_resistor_model_expressions_and_zero_width_as_in_ngspice(tmp_path: Path) -> None:
    # ngspice 39: r='1000 + temper' at the circuit temperature; W - 2*NARROW = 0 gives an
    # infinite resistance (an open resistor), kept for ngspice and refused natively
    reference = ngspice_op(RESISTOR_MODELS, tmp_path)
    spice = solve_dc(from_spice(RESISTOR_MODELS), backend="ngspice").voltages
    assert spice["2"] == pytest.approx(reference["v(2)"], rel=1e-6)
    assert spice["2"] == pytest.approx(5 * 1000 / (1050 + 1000), rel=1e-9)
    with pytest.raises(CircuitError, match=r"^resistor with a negative or infinite value r3 "):
        solve_dc(from_spice(RESISTOR_MODELS))
    native = solve_dc(from_spice(RESISTOR_MODELS.replace("R3 2 0 rzero l=11u w=2u\n", "")))
    assert native.voltages["2"] == pytest.approx(reference["v(2)"], rel=1e-6)


def test_a_deck_whose_circuit_only_a_control_script_loads_is_named_so() -> None:
    # ngspice's MC_ring_ts.sp: an unterminated .control script that sources the circuit
    with pytest.raises(NetlistError, match=r"no elements outside its \.control block"):
        from_spice("script\n.control\nsource ring.net\nop\n")


def test_pspice_limit_clamp_and_dc_before_a_function_are_not_misread() -> None:
    # limit(x, lo, hi) in a vendor model's VALUE= is PSPICE's clamp, not ngspice's random
    # limit(nom, var); 'DC trnoise(...)' and 'DC sin(...)' give DC 0 in ngspice 39 (measured)
    circuit = from_spice(
        "t\nG1 0 a VALUE={LIMIT(2*V(b), 0, 1)}\nV1 b 0 1\nR1 a 0 1k\n"
        "V2 c 0 DC trnoise(1m 1u 1.0 0.1m)\nV3 d 0 dc sin(0.5 1 1k)\nR2 c d 1k\nR3 d 0 1k\n"
    )
    assert "LIMIT(2*V(b), 0, 1)" in circuit["g1"].rest
    assert circuit["v2"].dc == 0 and circuit["v3"].dc == 0


def test_param_errors_are_reported_in_card_order() -> None:
    # .if conditions read the .params ahead; a bad one is still reported where the reader
    # meets it, after an error on an earlier card
    with pytest.raises(NetlistError, match=r":2: resistor r1: bad number"):
        from_spice("t\nR1 a 0 x1\n.param p = {1 +}\nV1 a 0 1\n")


STRING_PARAMS = """string parameters: d_lut tables read back through a DAC
.param and="0001" or="0111"
.param both=or{and}
.model l_and d_lut table_values=and
aand [ d1 d2 ] o_and l_and
.subckt pgate 1 2 out table="0000"
.model poly d_lut table_values=table
ap [ 1 2 ] out poly
.ends
.subckt pgate3 1 2 3 out table="00000000"
.model poly3 d_lut table_values={table}
ap3 [ 1 2 3 ] out poly3
.ends
xor d1 d2 o_or pgate table=or
xnone d1 d2 o_none pgate
xboth d1 d2 d3 o_both pgate3 table=both
v1 a1 0 1
v2 a2 0 0
v3 a3 0 0
aadc [ a1 a2 a3 ] [ d1 d2 d3 ] adc
.model adc adc_bridge in_low=0.5 in_high=0.5
adac [ o_and o_or o_none o_both ] [ y_and y_or y_none y_both ] dac
.model dac dac_bridge out_low=0 out_high=2
r1 y_and 0 1k
r2 y_or 0 1k
r3 y_none 0 1k
r4 y_both 0 1k
.op
.end
"""


def test_string_parameters_reach_code_models_as_in_ngspice(tmp_path: Path) -> None:
    # ngspice 39's numparam: a "quoted" .param is a string, or{and} concatenates, a string
    # passes on by name to a subcircuit instance and into a code model's parameter (bare or
    # {name}); a quoted .subckt default is a number ("0000" is 0)
    voltages = _agree(STRING_PARAMS, tmp_path, "ngspice")
    assert voltages["y_or"] == 2 and voltages["y_both"] == 2  # the default table gives 0
    flat = from_spice(STRING_PARAMS).flatten()
    tables = {
        m.name: str(m.params["table_values"]) for m in flat.models.values() if m.kind == "d_lut"
    }
    assert tables == {
        "l_and": "0001",
        "xor:poly": "0111",
        "xnone:poly": "0.0",
        "xboth:poly3": "01110001",
    }
    # no instance, no expression, yet not flat: the table names a .param that flattening reads
    top = from_spice(
        't\n.param and="0001"\n.model l_and d_lut table_values=and\n'
        "aand [ d1 d2 ] o_and l_and\n.end\n"
    )
    assert not top.is_flat() and top.flatten().is_flat()
    again = from_spice(from_spice(STRING_PARAMS).to_spice()).flatten()
    assert {m.name: m.params for m in again.models.values()} == {
        m.name: m.params for m in flat.models.values()
    }


@pytest.mark.parametrize(
    ("cards", "match"),
    [
        ('.param s="01"\nR1 a 0 {s*2}', r":3: .*string parameter 's' in expression 's\*2'"),
        ('.param s="ab"\nR1 a 0 {s}', r":3: .*string parameter 's' = 'ab' is not a number"),
        ('.param s="01" t=s{x}', r":2: .param t: .*'x' is unknown"),
    ],
)
def test_string_parameter_errors_are_one_line(cards: str, match: str) -> None:
    with pytest.raises(NetlistError, match=match) as info:
        from_spice(f"t\n{cards}\nV1 a 0 1\nR9 a 0 1k\n", check=True)
    assert "\n" not in str(info.value)
