"""B-source expressions: ngspice 39's B grammar, values and exact derivatives.

The values of :data:`TABLE` are checked against plain ``ngspice -b`` (each expression drives a
``B`` voltage source; the controlling node voltages and branch current are fixed by sources);
the derivatives against central differences of the same compiled code and against closed forms.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from circuitlearn.circuit.behavioral import (
    BehavioralSource,
    parse_b_card,
    parse_b_expression,
    resolve_b_expression,
)
from circuitlearn.circuit.behavioral_eval import (
    build_behavioral_group,
    evaluate_expression,
)
from circuitlearn.errors import CircuitError

POINT = {("v", "a"): 0.3, ("v", "b"): -0.2, ("v", "in"): -0.5, ("i", "vx"): 5e-4}
"""Controlling values of the table: v(a), v(b), v(in) [V] and i(vx) [A]."""

TABLE = [
    "v(in)^3",  # |a|^b: 0.125, not -0.125
    "(v(in))**2.5",
    "pow(v(in),2.5)",
    "pwr(v(in),2.5)",
    "v(in) > -1 ? 2*3 : 7",
    "u(v(in))+uramp(-v(in))+min(v(in),1)+max(2,3)",
    "exp(300)",  # capped at 1e99
    "-2^2",
    "2^3^2",
    "pwl(v(in), -1, 0, 0, 1, 1, 3)",
    "pwl(v(a)+2, -1, 0, 0, 1, 1, 3) + pwl(v(b)-2, -1, 0, 0, 1, 1, 3)",  # extrapolated ends
    "sqrt(-v(in)) + abs(v(in)) + sgn(v(in))",
    "2<3<1",
    "!0 + (1&&0) + (0||2) + (v(a)>=0.3) + (v(a)<=v(b)) + (v(a)==0.3) + (v(a)!=0.3)",
    "i(vx)*1k",
    "pi + e",
    "v(a)*v(b)/v(a,b)",
    "tanh(3*v(a)) + atan(v(b)) + asinh(v(a)) + acosh(2+v(a)) + atanh(v(b))",
    "ln(v(a)) + log(2) + log10(100*v(a)) + exp(v(b)) + sqrt(v(a))",
    "sin(7+v(a)) + cos(8) + tan(2+v(b)) + sinh(v(a)) + cosh(v(b)) + asin(v(a)) + acos(v(b))",
    "nint(2.5)+nint(3.5)+floor(-0.5)+ceil(0.2)+u2(0.3)+u(0)",
    "eq0(0)+ne0(v(a))+gt0(v(b))+lt0(v(b))+ge0(0)+le0(v(a))",
    "v(a) > 0 ? (v(b) < 0 ? 1 : 2) : 3",
    "1e-12*(exp(v(a)/0.025)-1)",
    "10*v(in) + 2k*i(vx) - 3meg*1u",
    "pow(v(a), v(b)) + pwr(v(b), v(a)) + v(a)^v(a)",
    "max(v(a), v(b)) - min(v(a), v(b))",
    "ln(0) > -1e98 ? 1 : 2",
    "ddt(v(a)) + 1",  # a time derivative: 0 at DC
    "v(a)-v(b)-0.1*v(in)+2/v(a)/4*v(b)*3-1",  # runs of + - and * / evaluated left to right
]


def _ngspice_values(folder: Path, expressions: list[str]) -> list[float]:
    binary = shutil.which("ngspice")
    if binary is None:
        pytest.skip("the ngspice binary is needed for this check")
    lines = [
        "b-source table",
        "va a 0 0.3",
        "vb b 0 -0.2",
        "vin in 0 -0.5",
        "ix 0 y 5e-4",
        "vx y 0 0",
    ]
    lines += [f"b{k} o{k} 0 v={text}" for k, text in enumerate(expressions)]
    printed = "\n".join(f"print v(o{k})" for k in range(len(expressions)))
    lines.append(f".control\nset numdgt=16\nop\n{printed}\nquit\n.endc\n.end\n")
    deck = folder / "table.cir"
    deck.write_text("\n".join(lines))
    done = subprocess.run([binary, "-b", str(deck)], capture_output=True, text=True, timeout=60)
    found = dict(re.findall(r"^v\(o(\d+)\) = (\S+)$", done.stdout, re.MULTILINE))
    assert len(found) == len(expressions), done.stdout + done.stderr
    return [float(found[str(k)]) for k in range(len(expressions))]


@pytest.mark.ngspice
def test_table_matches_ngspice(tmp_path: Path) -> None:
    """Every value equals ngspice's to 1e-14 relative (vx carries i(vx) = +5e-4 A)."""
    expected = _ngspice_values(tmp_path, TABLE)
    for text, value in zip(TABLE, expected, strict=True):
        got = evaluate_expression(parse_b_expression(text), POINT)[0]
        assert got == pytest.approx(value, rel=1e-14, abs=1e-300), text


def test_semantics_that_differ_from_param_expressions() -> None:
    """|a|^b for ^ and **, 1/0 = 1e32 (ngspice's divisor fudge), exp capped, ln(0) = -1e99."""
    value = lambda text: evaluate_expression(parse_b_expression(text), POINT)[0]  # noqa: E731
    assert value("v(in)^3") == 0.125
    assert value("pwr(v(in), 3)") == -0.125
    assert value("1/(v(a)-0.3)") == pytest.approx(1e32)
    assert value("exp(228)") == 1e99
    assert value("ln(0)") == -1e99
    assert value("u(0)") == 0.5


@pytest.mark.parametrize("text", [t for t in TABLE if ("v(" in t or "i(" in t) and "==" not in t])
def test_gradient_matches_central_differences(text: str) -> None:
    """Forward-mode gradients equal central differences (the expressions with a comparison
    sitting exactly at ``POINT``, where they jump, left out)."""
    tree = parse_b_expression(text)
    grad = evaluate_expression(tree, POINT)[1]
    for key, slope in grad.items():
        h = 1e-6 * max(1.0, abs(POINT[key])) if key[0] == "v" else 1e-9
        up = evaluate_expression(tree, {**POINT, key: POINT[key] + h})[0]
        down = evaluate_expression(tree, {**POINT, key: POINT[key] - h})[0]
        assert slope == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-6), (text, key)


def test_closed_form_derivatives() -> None:
    """Exact derivatives, not differences: d/dv of v^3, tanh, a diode law, pwl, min/max, ternary."""
    at = {("v", "a"): 0.3, ("v", "b"): -0.2}
    check = {
        "v(a)^3": 3 * 0.3**2,
        "tanh(2*v(a))": 2 * (1 - math.tanh(0.6) ** 2),
        "1e-12*(exp(v(a)/0.025)-1)": 1e-12 * math.exp(12.0) / 0.025,
        "pwl(v(a), 0, 0, 0.3, 1, 1, 2)": 1 / 0.7,  # at a breakpoint: the right segment
        "min(v(a), 2*v(a))": 1.0,
        "v(a) > 0 ? v(a)^2 : -v(a)": 0.6,
        "sqrt(v(a))": 0.5 / math.sqrt(0.3),
        "ln(v(a))": 1 / 0.3,
        "uramp(v(a))": 1.0,
        "abs(v(a)-1)": -1.0,
    }
    for text, slope in check.items():
        grad = evaluate_expression(parse_b_expression(text), at)[1]
        assert grad[("v", "a")] == pytest.approx(slope, rel=1e-15), text
    grad = evaluate_expression(parse_b_expression("v(a,b)*v(a)"), at)[1]
    assert grad == {("v", "a"): pytest.approx(2 * 0.3 + 0.2), ("v", "b"): pytest.approx(-0.3)}


def test_untaken_ternary_branch_does_not_fail() -> None:
    """sqrt of a negative in the branch not taken is no error; in the taken one it is."""
    tree = parse_b_expression("v(a) > 0 ? sqrt(v(a)) : sqrt(-v(a))")
    assert evaluate_expression(tree, {("v", "a"): -4.0})[0] == 2.0
    with pytest.raises(CircuitError, match="sqrt of a negative argument"):
        evaluate_expression(parse_b_expression("sqrt(v(a))"), {("v", "a"): -4.0})


def test_group_evaluates_shared_shapes_at_once() -> None:
    """Elements of one shape (different nodes and numbers) evaluate as one block, equal to each
    element alone; a batch of states (leading axis) gives the same as one state at a time."""
    nodes = ["n0", "n1", "n2", "n3"]
    elements = [
        BehavioralSource(f"b{k}", nodes[k], "0", "i", f"{k + 1}e-12*(exp(v({nodes[k]})/0.025)-1)")
        for k in range(4)
    ] + [BehavioralSource("b9", "n3", "0", "v", "10*v(n0,n1) + tanh(v(n2))")]
    index = {n: k for k, n in enumerate([*nodes, "i(b9)", "0"])}
    group = build_behavioral_group(elements, index.__getitem__, lambda e: index[f"i({e})"], 27.0)
    assert len(group.blocks) == 2
    rng = np.random.default_rng(0)
    e = np.concatenate([rng.uniform(-0.2, 0.5, (3, 5)), np.zeros((3, 1))], axis=1)
    f, grad = group.values(e)
    for row in range(3):
        single_f, single_grad = group.values(e[row])
        np.testing.assert_array_equal(single_f, f[row])
        np.testing.assert_array_equal(single_grad, grad[row])
        for k, element in enumerate(elements):
            refs = {("v", n): e[row, index[n]] for n in nodes}
            value, slopes = evaluate_expression(element.tree, refs)
            assert f[row, k] == pytest.approx(value, rel=1e-15)
            for slot in np.flatnonzero(group.var_rows == k):
                node = nodes[int(group.var_cols[slot])]
                assert grad[row, slot] == pytest.approx(slopes[("v", node)], rel=1e-15)


def test_instance_factor_and_unknown_references() -> None:
    """tc1/tc2 at .temp 50, m=; a v() of a missing node and an i() of a resistor are refused."""
    source = BehavioralSource("b1", "o", "0", "v", "5*v(in)", {"tc1": 0.01, "tc2": 1e-4, "m": 2})
    index = {"o": 0, "in": 1, "0": 2}
    group = build_behavioral_group([source], index.__getitem__, lambda e: 3, 50.0)
    f, _ = group.values(np.array([0.0, 0.5, 0.0, 0.0]))
    assert f[0] == pytest.approx(2 * 2.5 * (1 + 0.01 * 23 + 1e-4 * 23**2), rel=1e-15)
    missing = BehavioralSource("b2", "o", "0", "i", "v(zz)")
    with pytest.raises(CircuitError, match=r"b2: v\(zz\): the circuit has no node 'zz'"):
        build_behavioral_group([missing], index.__getitem__, lambda e: 3, 27.0)

    def no_branch(name: str) -> int:
        raise KeyError(name)

    resistor = BehavioralSource("b3", "o", "0", "i", "i(r1)")
    with pytest.raises(CircuitError, match=r"b3: i\(r1\): 'r1' is not an element with a branch"):
        build_behavioral_group([resistor], index.__getitem__, no_branch, 27.0)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("foo(v(a))", "unknown function 'foo'"),
        ("min(1)", "function min takes 2 arguments; got 1"),
        ("v(a) +", "ends too early"),
        ("7 % 3", "cannot read B-source expression"),  # ngspice's B grammar has no %
        ("(1+2", "expected ')'"),
        ("i(a,b)", "i() takes one element name"),
        ("pwl(v(a), 1, 0)", "at least two points"),
        ("", "empty B-source expression"),
    ],
)
def test_bad_expressions_are_refused(text: str, message: str) -> None:
    with pytest.raises(CircuitError, match=re.escape(message)):
        BehavioralSource("b1", "o", "0", "v", text)


def test_card_forms_and_round_trip() -> None:
    """Quotes, braces, blanks around '=', trailing instance parameters; the card reads back."""
    for text, card in [
        ("B1 out 0 V = '10*v(in)' m=2", "b1 out 0 v=10*v(in) m=2"),
        ("b2 out 0 v={2*v(in)}", "b2 out 0 v=2*v(in)"),
        ("b3 a b I=v(a,b) > 0 ? 1m : -2m tc1=0.01", "b3 a b i=v(a,b) > 0 ? 1m : -2m tc1=0.01"),
    ]:
        element = parse_b_card(text.split()[0].lower(), text)
        assert element.spice_card() == card
        assert parse_b_card(element.name, element.spice_card()) == element
    with pytest.raises(CircuitError, match="expected 'bNAME n\\+ n- V=expression'"):
        parse_b_card("b4", "b4 out 0 10*v(in)")
    with pytest.raises(CircuitError, match="unknown instance parameter"):
        BehavioralSource("b5", "o", "0", "v", "1", {"foo": 1.0})


def test_resolution_renames_and_substitutes() -> None:
    """Flattening: .param names and {} blocks become numbers, v()/i() references are renamed."""
    text = resolve_b_expression(
        "k*v(a) + {k*2} + i(v1) + pwl(v(a), 0, 0, 1, k)",
        {"k": 3.0},
        node=lambda n: f"x1.{n}",
        element=lambda e: f"{e[0]}.x1.{e}",
    )
    assert text == "((3.0*v(x1.a))+6.0+i(v.x1.v1)+pwl(v(x1.a),0.0,0.0,1.0,3.0))"
    assert parse_b_expression(text)  # reads back
    with pytest.raises(CircuitError, match="unknown parameter 'q'"):
        resolve_b_expression("q*v(a)", {})


def test_long_runs_are_flat_and_deep_nesting_is_refused() -> None:
    """A 5,000-term sum (generated decks) is one chain node, evaluated left to right with its
    exact gradient; 1,500 chained comparisons are refused in one line instead of a
    RecursionError."""
    text = "+".join(f"{k % 7 + 1}*v(a)" for k in range(5000))
    tree = parse_b_expression(text)
    assert tree[0] == "chain" and len(tree[3]) == 4999
    value, grad = evaluate_expression(tree, {("v", "a"): 0.5})
    weights = sum(k % 7 + 1 for k in range(5000))
    assert value == pytest.approx(0.5 * weights, rel=1e-14)
    assert grad[("v", "a")] == pytest.approx(weights, rel=1e-14)
    with pytest.raises(CircuitError, match="nested more than 1000 deep"):
        parse_b_expression("<".join(["v(a)"] * 1500))
