"""``.param`` expressions: kept as text in the model, evaluated safely when a circuit is flattened.

The grammar is ngspice 39's (checked against ``ngspice -b``), from the loosest binding:

===========================  =====================================================
``c ? a : b``                ternary (right-associative; only the taken branch is evaluated)
``||``, ``&&``               logical or, and (results 0 or 1)
``== != <> < <= > >=``       comparisons, left-associative (``2 < 3 < 1`` is 0)
``+ -``                      sum, difference
``* / % \\``                 product, quotient, remainder (sign of the dividend), integer quotient
``- + !`` (prefix)           negation, logical not
``** ^``                     power of the magnitude, left-associative: ``|x|^y``, ``2^3^2`` = 64,
                             ``-2^2`` = −4
===========================  =====================================================

Functions: ``sqrt exp ln log`` (natural) ``log10 abs sgn int`` (truncates) ``nint`` (half to even)
``floor ceil pow`` (real power: ``pow(-2, 3)`` = −8) ``pwr`` (``|x|^y``) ``min max`` (two
arguments; one is compared with 1, as ngspice 39 does) and ``sin cos tan asin acos atan arctan
sinh cosh tanh asinh acosh atanh``. Numbers take engineering suffixes (``2k``). Nothing else is
evaluated. Expressions compile to a flat postfix program, so a 10,000-term sum neither recurses
nor overflows the stack; nesting deeper than :data:`MAX_NESTING` is an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from circuitlearn.circuit.units import try_parse_value
from circuitlearn.errors import CircuitError

__all__ = [
    "DRAWS",
    "FUNCTIONS",
    "MAX_NESTING",
    "MONTE_CARLO_SEED",
    "Expression",
    "StringParam",
    "Value",
    "call_arguments",
    "draw_random",
    "evaluate",
    "expression_names",
    "param_value",
    "resolve_params",
]

MAX_NESTING = 200
"""Deepest nesting of parentheses, prefix operators and ternaries an expression may have."""


def _power(x: float, y: float) -> float:
    return math.pow(abs(x), y)


def _sgn(x: float) -> float:
    return float((x > 0) - (x < 0))


FUNCTIONS: dict[str, tuple[int, Callable[..., float]]] = {
    "sqrt": (1, math.sqrt),
    "sqr": (1, lambda x: x * x),  # ngspice's numparam: the square
    "exp": (1, math.exp),
    "ln": (1, math.log),
    "log": (1, math.log),
    "log10": (1, math.log10),
    "abs": (1, abs),
    "sgn": (1, _sgn),
    "int": (1, lambda x: float(math.trunc(x))),
    "nint": (1, lambda x: float(round(x))),
    "floor": (1, lambda x: float(math.floor(x))),
    "ceil": (1, lambda x: float(math.ceil(x))),
    "sin": (1, math.sin),
    "cos": (1, math.cos),
    "tan": (1, math.tan),
    "asin": (1, math.asin),
    "acos": (1, math.acos),
    "atan": (1, math.atan),
    "arctan": (1, math.atan),
    "sinh": (1, math.sinh),
    "cosh": (1, math.cosh),
    "tanh": (1, math.tanh),
    "asinh": (1, math.asinh),
    "acosh": (1, math.acosh),
    "atanh": (1, math.atanh),
    "pow": (2, math.pow),
    "pwr": (2, _power),
    "min": (2, min),
    "max": (2, max),
}
"""Function name → (number of arguments, implementation), as ngspice 39's ``.param`` knows them."""

_BINARY: dict[str, tuple[int, Callable[[float, float], float]]] = {
    "||": (2, lambda a, b: float(bool(a) or bool(b))),
    "&&": (3, lambda a, b: float(bool(a) and bool(b))),
    "==": (4, lambda a, b: float(a == b)),
    "!=": (4, lambda a, b: float(a != b)),
    "<>": (4, lambda a, b: float(a != b)),
    "<": (4, lambda a, b: float(a < b)),
    "<=": (4, lambda a, b: float(a <= b)),
    ">": (4, lambda a, b: float(a > b)),
    ">=": (4, lambda a, b: float(a >= b)),
    "+": (5, lambda a, b: a + b),
    "-": (5, lambda a, b: a - b),
    "*": (6, lambda a, b: a * b),
    "/": (6, lambda a, b: a / b),
    "%": (6, math.fmod),
    "\\": (6, lambda a, b: float(math.trunc(a / b))),
    "**": (8, _power),
    "^": (8, _power),
}
_PREFIX: dict[str, Callable[[float], float]] = {
    "-": lambda a: -a,
    "+": lambda a: a,
    "!": lambda a: float(not a),
}
_PREFIX_POWER = 7
_TERNARY_POWER = 1
_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[a-zA-Z]*)|(?P<name>[a-zA-Z_][\w.]*)"
    r"|(?P<op>\*\*|==|!=|<>|<=|>=|&&|\|\||[-+*/^%\\<>!?:(),]))"
)

# A program is a list of instructions: ("num", value), ("name", name), ("op", symbol),
# ("neg"/"pos"/"not",), ("call", name), ("jz", target), ("jmp", target).
_Program = tuple[tuple, ...]


@dataclass(frozen=True)
class Expression:
    """A parameter expression such as ``{rload*2}``, stored without braces, lower-cased.

    Examples
    --------
    >>> Expression("2*R0").text
    '2*r0'
    >>> str(Expression("a+1"))
    '{a+1}'
    >>> Expression("a > 1 ? 2 : 3").evaluate({"a": 2})
    2.0
    """

    text: str

    def __post_init__(self) -> None:
        if not isinstance(self.text, str):
            raise CircuitError(f"an expression must be text; got {self.text!r}")
        text = self.text.strip().strip("{}'\"").strip().lower()
        if any(c in text for c in "\n\r\f\v{}'\""):
            raise CircuitError(
                f"expression {self.text!r} contains a line break, brace or quote, which cannot "
                "appear inside a SPICE expression"
            )
        object.__setattr__(self, "text", text)
        _compile(text)  # syntax check at construction

    def __str__(self) -> str:
        return "{" + self.text + "}"

    def evaluate(self, env: Mapping[str, float | str]) -> float:
        """Value of the expression given resolved parameter values. A lone ``{name}`` of a
        string parameter is its text read as a number, as ngspice 39 substitutes it."""
        named = env.get(self.text)
        if isinstance(named, str):
            number = try_parse_value(named)
            if number is None:
                raise CircuitError(f"string parameter {self.text!r} = {named!r} is not a number")
            return number
        return evaluate(self.text, env)


Value = float | Expression
"""An element value: a number, or an expression resolved when the circuit is flattened."""

_STRING_PART = re.compile(
    r'\s*(?:"(?P<literal>[^"]*)"|\{\s*(?P<braced>[a-z_]\w*)\s*\}|(?P<name>[a-z_]\w*))', re.I
)


@dataclass(frozen=True)
class StringParam:
    """A string-valued ``.param`` as ngspice 39's numparam reads it: ``"quoted"`` literals,
    names of string parameters and ``{name}``s, concatenated (``.param both=or{and}``).

    Its value passes on by name (``.param b=a``, a subcircuit instance's ``table=a``, a code
    model's ``table_values=table``); in an arithmetic expression it is undefined, as in ngspice.

    Examples
    --------
    >>> StringParam('or{and}').evaluate({"or": "0111", "and": "0001"})
    '01110001'
    >>> sorted(StringParam('"1"{a}b').names())
    ['a', 'b']
    """

    text: str

    def __post_init__(self) -> None:
        self.parts()  # syntax check at construction

    def __str__(self) -> str:
        return self.text

    def parts(self) -> list[tuple[bool, str]]:
        """(is a parameter name, text) of each concatenated part."""
        parts: list[tuple[bool, str]] = []
        position = 0
        text = self.text.strip()
        while position < len(text):
            match = _STRING_PART.match(text, position)
            if match is None:
                raise CircuitError(
                    f"cannot read string parameter {self.text!r} at {text[position:]!r}: expected "
                    '"text", a string parameter\'s name or {name}'
                )
            if match["literal"] is not None:
                parts.append((False, match["literal"]))
            else:
                parts.append((True, (match["braced"] or match["name"]).lower()))
            position = match.end()
        return parts

    def names(self) -> set[str]:
        """The parameters it concatenates."""
        return {text for is_name, text in self.parts() if is_name}

    def evaluate(self, env: Mapping[str, float | str]) -> str:
        """The concatenated text; every name must be a string parameter of ``env``."""
        out = []
        for is_name, text in self.parts():
            if not is_name:
                out.append(text)
                continue
            value = env.get(text)
            if not isinstance(value, str):
                what = "unknown" if value is None else "not a string"
                raise CircuitError(f"string parameter {self.text!r}: {text!r} is {what}")
            out.append(value)
        return "".join(out)


def param_value(value: Value | StringParam, env: Mapping[str, float | str]) -> float | str:
    """A parameter's value in ``env``: a number, or the text of a string parameter, which
    passes on by name (``{name}`` or a bare name) as ngspice 39's numparam does."""
    if isinstance(value, StringParam):
        return value.evaluate(env)
    if isinstance(value, Expression):
        named = env.get(value.text)
        return named if isinstance(named, str) else evaluate(value.text, env)
    return float(value)


_RANDOM = frozenset({"agauss", "gauss", "aunif", "unif", "limit"})
"""ngspice's statistical functions: each evaluation draws a new random value."""

MONTE_CARLO_SEED = 1
"""Seed of the Monte Carlo draws when neither ``from_spice(seed=)`` nor ``.options seed=`` sets
one."""

DRAWS: dict[str, Callable[[np.random.Generator], float]] = {
    "z": lambda rng: float(rng.standard_normal()),
    "u": lambda rng: float(rng.uniform(-1.0, 1.0)),
    "s": lambda rng: 1.0 if rng.uniform() < 0.5 else -1.0,
}
"""The random number of each kind of Monte Carlo draw: ``z`` (agauss, gauss) standard normal,
``u`` (aunif, unif) uniform in [−1, 1), ``s`` (limit) a sign."""

_RANDOM_CALL = re.compile(r"\b(agauss|gauss|aunif|unif|limit)\s*\(", re.IGNORECASE)
_RANDOM_ARGS = {"agauss": 3, "gauss": 3, "aunif": 2, "unif": 2, "limit": 2}


def draw_random(
    text: str,
    rng: np.random.Generator,
    *,
    braced: bool = False,
    placeholder: Callable[[str], str] | None = None,
) -> str:
    """``text`` with each call of ngspice's statistical functions replaced by the sample it draws,
    written as an expression of its (unevaluated) arguments and a drawn number, so that both
    backends, and a written deck, see the same sample.

    ``agauss(nom, avar, sig)`` → nom + avar/sig·z and ``gauss(nom, rvar, sig)`` → nom +
    nom·rvar/sig·z (z standard normal); ``aunif(nom, avar)`` → nom + avar·u and ``unif(nom,
    rvar)`` → nom + nom·rvar·u (u uniform in [−1, 1)); ``limit(nom, avar)`` → nom ± avar.
    Draws are taken in the order of the calls. Outside ``{...}`` and ``'...'`` (unless ``braced``:
    ``text`` is an expression already) the replacement is braced, so that a bare
    ``vth0=agauss(0.6, 0.1, 3)`` reads as an expression. With ``placeholder``, nothing is drawn:
    the number is the parameter ``placeholder(kind)`` names (kind ``z`` standard normal, ``u``
    uniform in [−1, 1), ``s`` the sign ±1), for a subcircuit body whose instances each draw
    their own (:data:`DRAWS`).

    Examples
    --------
    >>> draw_random("r1 a b {agauss(1k, 100, 1)}", np.random.default_rng(0))
    'r1 a b {((1k)+(100)/(1)*(0.1257302210933933))}'
    """
    out: list[str] = []
    position = 0
    depth, quoted = 0, False  # of {...} and '...' up to `position`
    for match in _RANDOM_CALL.finditer(text):
        if match.start() < position:
            continue  # inside the arguments of a call already replaced
        end, args = call_arguments(text, match.end())
        name = match[1].lower()
        if name == "limit" and len(args) == 3:
            continue  # PSPICE's limit(x, lo, hi), a clamp in behavioural sources: not random
        skipped = text[position : match.start()]
        depth += skipped.count("{") - skipped.count("}")
        quoted ^= skipped.count("'") % 2 == 1
        if end < 0 or len(args) != _RANDOM_ARGS[name]:
            raise CircuitError(
                f"{name}() takes {_RANDOM_ARGS[name]} arguments: cannot read "
                f"{text[match.start() : match.start() + 60]!r}"
            )
        args = [
            f"({draw_random(arg, rng, braced=True, placeholder=placeholder).strip()})"
            for arg in args
        ]
        kind = {"agauss": "z", "gauss": "z", "aunif": "u", "unif": "u", "limit": "s"}[name]
        number = placeholder(kind) if placeholder is not None else repr(DRAWS[kind](rng))
        if name in {"agauss", "gauss"}:
            spread = f"{args[1]}/{args[2]}"
            if name == "gauss":
                spread = f"{args[0]}*{spread}"
        else:
            spread = f"{args[0]}*{args[1]}" if name == "unif" else args[1]
        sample = f"({args[0]}+{spread}*({number}))"
        inside = braced or depth > 0 or quoted
        out += [skipped, sample if inside else "{" + sample + "}"]
        call = text[match.start() : end]
        depth += call.count("{") - call.count("}")
        quoted ^= call.count("'") % 2 == 1
        position = end
    return "".join(out) + text[position:]


def call_arguments(text: str, start: int) -> tuple[int, list[str]]:
    """End (after the closing parenthesis) and top-level arguments (text) of a call whose ``(``
    ends just before ``start``; end −1 when the parenthesis is never closed.

    Examples
    --------
    >>> call_arguments("f(a, g(b, c)) + 1", 2)
    (13, ['a', ' g(b, c)'])
    """
    depth, args, begin = 1, [], start
    for index in range(start, len(text)):
        char = text[index]
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                args.append(text[begin:index])
                return index + 1, args
        elif char == "," and depth == 1:
            args.append(text[begin:index])
            begin = index + 1
    return -1, args


def expression_names(text: str) -> set[str]:
    """Parameter names an expression refers to (function names excluded).

    Examples
    --------
    >>> sorted(expression_names("a*sqrt(b) + max(a, 2)"))
    ['a', 'b']
    """
    return {step[1] for step in _compile(text.strip().lower()) if step[0] == "name"}


def evaluate(text: str, env: Mapping[str, float | str]) -> float:
    """Evaluate an expression; unknown names and invalid operations raise ``CircuitError``
    (a ``ValueError``).

    Examples
    --------
    >>> evaluate("2k*a + sqrt(4)", {"a": 3})
    6002.0
    >>> evaluate("2^3^2", {}), evaluate("-2^2", {}), evaluate("0 ? 1/0 : 7", {})
    (64.0, -4.0, 7.0)
    """
    program = _compile(text.strip().lower())
    stack: list[float] = []
    position = 0
    try:
        while position < len(program):
            step = program[position]
            position += 1
            kind = step[0]
            if kind == "num":
                stack.append(step[1])
            elif kind == "name":
                stack.append(_lookup(step[1], env, text))
            elif kind == "op":
                right = stack.pop()
                stack.append(_BINARY[step[1]][1](stack.pop(), right))
            elif kind == "prefix":
                stack.append(_PREFIX[step[1]](stack.pop()))
            elif kind == "call":
                count, function = FUNCTIONS[step[1]]
                args = stack[-count:]
                del stack[-count:]
                stack.append(float(function(*args)))
            elif kind == "jz":
                if not stack.pop():
                    position = step[1]
            else:  # "jmp"
                position = step[1]
    except _UnknownNameError:
        raise
    except (ZeroDivisionError, OverflowError, ValueError) as exc:
        raise CircuitError(f"expression {text!r}: {_reason(exc)}") from None
    value = stack[-1]
    if not math.isfinite(value):
        raise CircuitError(f"expression {text!r} does not give a finite number; got {value!r}")
    return float(value)


def resolve_params(
    params: Mapping[str, Value | StringParam], outer: Mapping[str, float | str] | None = None
) -> dict[str, float | str]:
    """Resolve ``.param`` definitions in order; later ones may use earlier ones and ``outer``.
    String parameters resolve to their text."""
    env: dict[str, float | str] = dict(outer or {})
    for name, value in params.items():
        env[name] = param_value(value, env)
    return env


def _lookup(name: str, env: Mapping[str, float | str], text: str) -> float:
    if name in env:
        value = env[name]
        if isinstance(value, str):
            raise _UnknownNameError(
                f"string parameter {name!r} in expression {text!r}: ngspice 39 substitutes a "
                "string parameter only as a whole value ({name} or name)"
            )
        return float(value)
    hint = (
        " (TEMPER, the circuit temperature, has a value when a circuit is flattened)"
        if name == "temper"
        else ""
    )
    raise _UnknownNameError(f"unknown parameter {name!r} in expression {text!r}{hint}")


class _UnknownNameError(CircuitError):
    """A name with no value: reported as is, not wrapped as an evaluation error."""


def _reason(exc: Exception) -> str:
    if isinstance(exc, OverflowError):
        return "the result overflows"
    return str(exc) if str(exc) != "math domain error" else "argument out of the function's domain"


@lru_cache(maxsize=4096)
def _compile(text: str) -> _Program:
    """The postfix program of an expression, or ``CircuitError`` for bad syntax."""
    tokens = _tokens(text)
    parser = _Parser(tokens, text)
    parser.expression(0, 0)
    if parser.position != len(tokens):
        unexpected = tokens[parser.position]
        raise CircuitError(f"cannot read expression {text!r}: unexpected {unexpected!r}")
    return tuple(parser.code)


def _tokens(text: str) -> list[str | float]:
    tokens: list[str | float] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if not text[position:].strip():
                break
            raise CircuitError(f"cannot read expression {text!r} at {text[position:]!r}")
        position = match.end()
        if match["num"] is not None:
            number = try_parse_value(match["num"])
            if number is None:
                raise CircuitError(f"bad number {match['num']!r} in expression {text!r}")
            if not math.isfinite(number):
                raise CircuitError(f"number {match['num']!r} overflows in expression {text!r}")
            tokens.append(number)
        elif match["name"] is not None:
            if "." in match["name"]:
                raise CircuitError(f"bad name {match['name']!r} in expression {text!r}")
            tokens.append("$" + match["name"])
        else:
            tokens.append(match["op"])
    if not tokens:
        raise CircuitError("empty expression")
    return tokens


class _Parser:
    """Precedence climbing over the tokens, emitting a postfix program."""

    def __init__(self, tokens: list[str | float], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.position = 0
        self.code: list[tuple] = []

    def peek(self) -> str | float | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def expect(self, symbol: str) -> None:
        if self.peek() != symbol:
            got = self.peek()
            raise CircuitError(
                f"cannot read expression {self.text!r}: expected {symbol!r}; "
                f"got {'the end' if got is None else repr(got)}"
            )
        self.position += 1

    def expression(self, min_power: int, depth: int) -> None:
        if depth > MAX_NESTING:
            raise CircuitError(
                f"expression {self.text[:60]!r}... is nested more than {MAX_NESTING} deep"
            )
        self.operand(depth)
        while True:
            token = self.peek()
            if token == "?" and min_power <= _TERNARY_POWER:
                self.position += 1
                jump_false = len(self.code)
                self.code.append(("jz", -1))
                self.expression(0, depth + 1)
                self.expect(":")
                jump_end = len(self.code)
                self.code.append(("jmp", -1))
                self.code[jump_false] = ("jz", len(self.code))
                self.expression(_TERNARY_POWER, depth + 1)
                self.code[jump_end] = ("jmp", len(self.code))
                continue
            if not isinstance(token, str) or token not in _BINARY:
                return
            power = _BINARY[token][0]
            if power < min_power:
                return
            self.position += 1
            # every binary operator is left-associative: its right operand binds only tighter
            # ones, and this loop continues with the next operator of the same strength
            self.expression(power + 1, depth + 1)
            self.code.append(("op", token))

    def operand(self, depth: int) -> None:
        token = self.peek()
        if token is None:
            raise CircuitError(f"cannot read expression {self.text!r}: it ends too early")
        self.position += 1
        if isinstance(token, float):
            self.code.append(("num", token))
        elif token in _PREFIX:
            self.expression(_PREFIX_POWER, depth + 1)
            self.code.append(("prefix", token))
        elif token == "(":
            self.expression(0, depth + 1)
            self.expect(")")
        elif token.startswith("$"):
            name = token[1:]
            if self.peek() == "(":
                self.call(name, depth)
            else:
                self.code.append(("name", name))
        else:
            raise CircuitError(f"cannot read expression {self.text!r}: unexpected {token!r}")

    def call(self, name: str, depth: int) -> None:
        if name in _RANDOM:
            raise CircuitError(
                f"{name}() in expression {self.text!r} draws a random value (Monte Carlo): the "
                "netlist reader draws it (from_spice(seed=...)); a built Expression cannot"
            )
        if name not in FUNCTIONS:
            raise CircuitError(
                f"unknown function {name!r} in expression {self.text!r} "
                f"(known: {' '.join(sorted(FUNCTIONS))})"
            )
        self.position += 1  # "("
        count = 0
        if self.peek() != ")":
            while True:
                self.expression(0, depth + 1)
                count += 1
                if self.peek() != ",":
                    break
                self.position += 1
        self.expect(")")
        if name in {"min", "max"} and count == 1:
            # ngspice 39 compares a lone argument with 1 (measured: max(-3) = 1, min(7) = 1)
            self.code.append(("num", 1.0))
            count = 2
        wanted = FUNCTIONS[name][0]
        if count != wanted:
            raise CircuitError(
                f"function {name} takes {wanted} argument{'s' if wanted > 1 else ''}; "
                f"got {count} in expression {self.text!r}"
            )
        self.code.append(("call", name))
