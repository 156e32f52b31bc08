"""The ``.param`` expression grammar: ngspice 39's operators, precedence and functions.

The expected values were printed by ``ngspice -b``; :func:`test_table_matches_ngspice` checks the
table against ngspice when it is installed."""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from circuitlearn.circuit.expressions import (
    MAX_NESTING,
    Expression,
    evaluate,
    expression_names,
)

NGSPICE_VALUES: dict[str, float] = {
    "2^3^2": 64.0,
    "2**3**2": 64.0,
    "-2^2": -4.0,
    "-3 ** 2": -9.0,
    "(-8)^3": 512.0,
    "(-8)^(1/3)": 2.0,
    "2^-2": 0.25,
    "0^0": 1.0,
    "3*2^2": 12.0,
    "log(100)": 4.605170185988092,
    "ln(10)": 2.302585092994046,
    "log10(1000)": 3.0,
    "1 < 2 ? 3 : 4": 3.0,
    "1 + 1 ? 5 : 6": 5.0,
    "0 ? 2 : 3 + 10": 13.0,
    "1?2:0?3:4": 2.0,
    "0 ? 1/0 : 7": 7.0,
    "(1==1) && (2>3)": 0.0,
    "1 && 2 || 0": 1.0,
    "1 || 0": 1.0,
    "3 <> 4": 1.0,
    "2 == 2.0": 1.0,
    "2 >= 2": 1.0,
    "2 < 3 < 1": 0.0,
    "1+2 > 2": 1.0,
    "!0": 1.0,
    "!1 + 1": 1.0,
    "!(2>1)": 0.0,
    "5 % 3": 2.0,
    "-5 % 3": -2.0,
    "5 % -3": 2.0,
    "7 \\ 2": 3.0,
    "-7 \\ 2": -3.0,
    "int(-2.5)": -2.0,
    "int(2.7)": 2.0,
    "nint(2.5)": 2.0,
    "nint(3.5)": 4.0,
    "nint(-2.5)": -2.0,
    "floor(-1.5)": -2.0,
    "ceil(-1.5)": -1.0,
    "pwr(-2,3)": 8.0,
    "pwr(-2,0.5)": 1.4142135623730951,
    "pow(-2,3)": -8.0,
    "pow(2,3)": 8.0,
    "sgn(-3)": -1.0,
    "abs(-2)": 2.0,
    "min(3,1)": 1.0,
    "max(1,2)": 2.0,
    "sqrt(4)": 2.0,
    "exp(1)": math.e,
    "sin(1)": 0.8414709848078965,
    "cos(0)": 1.0,
    "tan(1)": 1.5574077246549023,
    "asin(0.5)": 0.5235987755982989,
    "acos(0.5)": 1.0471975511965979,
    "atan(1)": 0.7853981633974483,
    "arctan(1)": 0.7853981633974483,
    "sinh(1)": 1.1752011936438014,
    "cosh(1)": 1.5430806348152437,
    "tanh(1)": 0.7615941559557649,
    "asinh(1)": 0.881373587019543,
    "acosh(2)": 1.3169578969248166,
    "atanh(0.5)": 0.5493061443340549,
    "2*-3": -6.0,
    "1k*2": 2000.0,
}
"""Expression → the value ngspice 39 gives it (printed to 7 digits; the exact value here)."""


@pytest.mark.parametrize(("text", "value"), NGSPICE_VALUES.items())
def test_values_match_ngspice(text: str, value: float) -> None:
    assert evaluate(text, {}) == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("1/0", "float division by zero"),
        ("exp(1000)", "overflows"),
        ("sqrt(-1)", "out of the function's domain"),
        ("log(-1)", "out of the function's domain"),
        ("pow(-2,0.5)", "out of the function's domain"),
        ("1e400", "overflows"),
        ("temper + 1", "TEMPER, the circuit temperature, has a value when a circuit is flattened"),
        ("pi", "unknown parameter 'pi'"),
    ],
)
def test_evaluation_errors_are_value_errors(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        evaluate(text, {})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("min(3,1,2)", "min takes 2 arguments; got 3"),  # ngspice silently gives 2 here
        ("atan2(1,1)", "unknown function 'atan2'"),
        ("1 ? 2", "expected ':'"),
        ("(1+2", "expected '\\)'"),
        ("1 +", "ends too early"),
        ("a.b", "bad name"),
        ("1 2", "unexpected 2.0"),
        ("", "empty expression"),
        ("1\n.control", "line break"),
    ],
)
def test_syntax_errors_name_the_problem(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Expression(text)


def test_only_the_taken_ternary_branch_is_evaluated() -> None:
    assert evaluate("x != 0 ? 1/x : 0", {"x": 0.0}) == 0.0
    assert evaluate("x != 0 ? 1/x : 0", {"x": 4.0}) == 0.25
    assert expression_names("x > 0 ? y : z") == {"x", "y", "z"}


def test_long_expressions_do_not_recurse() -> None:
    """A 10,000-term sum works; nesting beyond MAX_NESTING is a ValueError, not RecursionError."""
    assert evaluate("+".join(["1"] * 10_000), {}) == 10_000.0
    assert evaluate("*".join(["a"] * 1_000), {"a": 1.0}) == 1.0
    assert evaluate("(" * MAX_NESTING + "1" + ")" * MAX_NESTING, {}) == 1.0
    deep = "(" * (MAX_NESTING + 1) + "1" + ")" * (MAX_NESTING + 1)
    with pytest.raises(ValueError, match="nested more than"):
        Expression(deep)
    with pytest.raises(ValueError, match="nested more than"):
        Expression("-" * 5_000 + "1")


@given(st.lists(st.integers(-50, 50), min_size=1, max_size=40))
def test_sums_and_products_follow_left_to_right_evaluation(numbers: list[int]) -> None:
    text = " - ".join(str(n) for n in numbers).replace("- -", "+ ")
    expected = float(numbers[0]) - sum(float(n) for n in numbers[1:])
    assert evaluate(text, {}) == expected


@pytest.mark.ngspice
def test_table_matches_ngspice(tmp_path: Path) -> None:
    """Every expression of the table, as a .param driving a source, printed by ``ngspice -b``."""
    binary = shutil.which("ngspice")
    if binary is None:
        pytest.skip("the ngspice binary is needed for this check")
    lines = ["expressions"]
    for k, text in enumerate(NGSPICE_VALUES):
        lines += [f".param p{k} = {{{text}}}", f"V{k} n{k} 0 {{p{k}}}", f"R{k} n{k} 0 1"]
    deck = tmp_path / "expressions.cir"
    deck.write_text("\n".join(lines) + "\n.control\nset numdgt=15\nop\nprint all\n.endc\n.end\n")
    done = subprocess.run([binary, "-b", str(deck)], capture_output=True, text=True, timeout=60)
    printed = dict(re.findall(r"^(\S+) = (\S+)$", done.stdout, re.MULTILINE))
    for k, (text, value) in enumerate(NGSPICE_VALUES.items()):
        assert float(printed[f"n{k}"]) == pytest.approx(value, rel=1e-12, abs=1e-15), text
        assert evaluate(text, {}) == pytest.approx(float(printed[f"n{k}"]), rel=1e-12), text
