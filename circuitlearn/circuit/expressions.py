"""``.param`` expressions: kept as text in the model, evaluated safely when a circuit is flattened.

Supported: numbers with engineering suffixes, parameter names, ``+ - * / **`` (and ``^``),
parentheses, and the functions ``sqrt exp log log10 abs min max pow sin cos tan atan``.
Nothing else is evaluated (no attribute access, no calls to arbitrary names).
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Mapping
from dataclasses import dataclass

from circuitlearn.circuit.units import try_parse_value

__all__ = ["Expression", "Value", "evaluate", "expression_names", "resolve_params"]

_FUNCTIONS = {
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "ln": math.log,
    "log10": math.log10,
    "abs": abs,
    "min": min,
    "max": max,
    "pow": math.pow,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "atan": math.atan,
}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[a-zA-Z]*)|(?P<name>[a-zA-Z_][\w.]*)|(?P<op>\*\*|[-+*/^(),]))"
)


@dataclass(frozen=True)
class Expression:
    """A parameter expression such as ``{rload*2}``, stored without braces, lower-cased.

    Examples
    --------
    >>> Expression("2*R0").text
    '2*r0'
    >>> str(Expression("a+1"))
    '{a+1}'
    """

    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", self.text.strip().strip("{}'\"").strip().lower())
        _to_python(self.text)  # syntax check at construction

    def __str__(self) -> str:
        return "{" + self.text + "}"

    def evaluate(self, env: Mapping[str, float]) -> float:
        """Value of the expression given resolved parameter values."""
        return evaluate(self.text, env)


Value = float | Expression
"""An element value: a number, or an expression resolved when the circuit is flattened."""


def expression_names(text: str) -> set[str]:
    """Parameter names an expression refers to (function names excluded)."""
    names = set()
    for node in ast.walk(ast.parse(_to_python(text), mode="eval")):
        if isinstance(node, ast.Name) and node.id not in _FUNCTIONS:
            names.add(node.id)
    return names


def evaluate(text: str, env: Mapping[str, float]) -> float:
    """Evaluate an expression; unknown names and unsupported syntax raise ``ValueError``.

    Examples
    --------
    >>> evaluate("2k*a + sqrt(4)", {"a": 3})
    6002.0
    """
    tree = ast.parse(_to_python(text), mode="eval")
    value = _eval(tree.body, env, text)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"expression {text!r} does not give a finite number; got {value!r}")
    return float(value)


def resolve_params(
    params: Mapping[str, Value], outer: Mapping[str, float] | None = None
) -> dict[str, float]:
    """Resolve ``.param`` definitions in order; later ones may use earlier ones and ``outer``."""
    env: dict[str, float] = dict(outer or {})
    for name, value in params.items():
        env[name] = value.evaluate(env) if isinstance(value, Expression) else float(value)
    return env


def _to_python(text: str) -> str:
    """Rewrite SPICE expression tokens (suffixed numbers, ``^``) as Python source."""
    out: list[str] = []
    position = 0
    text = text.strip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise ValueError(f"cannot read expression {text!r} at {text[position:]!r}")
        position = match.end()
        if match["num"] is not None:
            number = try_parse_value(match["num"])
            if number is None:
                raise ValueError(f"bad number {match['num']!r} in expression {text!r}")
            out.append(repr(number))
        elif match["name"] is not None:
            name = match["name"].lower()
            if "." in name:
                raise ValueError(f"bad name {name!r} in expression {text!r}")
            out.append(name)
        else:
            out.append("**" if match["op"] == "^" else match["op"])
        if text[position:].strip() == "":
            break
    source = " ".join(out)
    if not source:
        raise ValueError("empty expression")
    try:
        ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"cannot read expression {text!r}: {exc.msg}") from None
    return source


def _eval(node: ast.AST, env: Mapping[str, float], text: str) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise ValueError(f"unknown parameter {node.id!r} in expression {text!r}")
        return float(env[node.id])
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left, env, text), _eval(node.right, env, text)
        try:
            return _BINARY[type(node.op)](left, right)
        except (ZeroDivisionError, OverflowError) as exc:
            raise ValueError(f"expression {text!r}: {exc}") from None
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand, env, text))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        args = [_eval(arg, env, text) for arg in node.args]
        try:
            return float(_FUNCTIONS[node.func.id](*args))
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"expression {text!r}: {node.func.id}: {exc}") from None
    raise ValueError(f"unsupported syntax in expression {text!r}")
