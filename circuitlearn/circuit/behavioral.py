"""Behavioural sources (``B`` cards): ngspice 39's B-source expression language and the element.

``bNAME n+ n- V=EXPR`` fixes v(n+) − v(n−) to EXPR; ``bNAME n+ n- I=EXPR`` drives the current EXPR
from n+ through the source to n− (it leaves n+), as ngspice's ``asrcload.c`` stamps them. EXPR is
read with ngspice's B-source grammar (``inpptree-parser.y``), which is *not* the ``.param``
grammar of :mod:`~circuitlearn.circuit.expressions`:

================================  ====================================================
``c ? a : b``                     ternary (right-associative, lowest)
``||``, ``&&``                    logical or, and (0 or 1)
``== != <> < <= > >=``            comparisons: ``a < b`` is ``lt0(a-b)``; all left-associative
``+ -``, ``* /``                  sums, products (a divisor gets ±1e-32 added, ngspice's fudge)
``- + !`` (prefix)                negation, logical not
``~ & |``                         PSPICE's not, and, or: read as ``! && ||``, as ngspice 39's
                                  PSPICE compatibility mode rewrites them (plain ngspice
                                  refuses them)
``^`` and ``**``                  ``|a|^b`` (ngspice 39 without compatibility modes), left-assoc.
================================  ====================================================

Leaves: numbers with engineering suffixes, ``v(a)``, ``v(a,b)`` (= ``v(a) - v(b)``), ``i(vname)``
(branch current of a V, E, H, L or B(V=) element, ngspice's sign), ``temper`` [°C], ``time`` and
``hertz`` (0 at DC), ``pi``, ``e``, ``.param`` names and ``{...}`` blocks (``.param`` grammar),
both resolved when the circuit is flattened. Functions: see :data:`B_FUNCTIONS`; ``pwl(x, x1,
y1, x2, y2, ...)`` takes constant points with ascending abscissae and extrapolates linearly.

Expressions are parsed once (cached by text) into a tree of tuples, :data:`Node`; the native
solver compiles that tree into array code (:mod:`circuitlearn.solve.behavioral`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import ClassVar

from circuitlearn.circuit.elements import (
    Element,
    _checked_params,
    _format,
    normalize_node,
)
from circuitlearn.circuit.expressions import MAX_NESTING, Expression, Value, evaluate
from circuitlearn.circuit.units import try_parse_value
from circuitlearn.errors import CircuitError

__all__ = [
    "B_FUNCTIONS",
    "B_INSTANCE_PARAMS",
    "MAX_TREE_DEPTH",
    "BehavioralSource",
    "Node",
    "parse_b_expression",
    "resolve_b_expression",
]

Node = tuple
"""An expression tree node: ``("num", x)``, ``("v", node)``, ``("i", element)``,
``("param", name)``, ``("brace", text)``, ``("temper",)``, ``("time",)``, ``("hertz",)``,
``("neg", a)``, ``("bin", op, a, b)`` with op in ``+ - * / ^``, ``("chain", "+-" or "*/", a,
((op, b), (op, c), ...))`` for a left-to-right run of three or more terms (``a+b-c``, evaluated in
that order, as ngspice does, without a deep tree), ``("call", name, (args...))``,
``("tern", c, a, b)`` and ``("pwl", x, (x1, y1, ...))``."""

MAX_TREE_DEPTH = 1000
"""Deepest expression tree accepted (a run of 10,000 sums is one ``chain`` node, not 10,000
levels; this bounds the rest: comparisons, powers, nested calls)."""

B_FUNCTIONS: dict[str, int] = {
    **dict.fromkeys(
        (
            "abs", "acos", "acosh", "asin", "asinh", "atan", "atanh", "cos", "cosh", "exp", "ln",
            "log", "log10", "sgn", "sin", "sinh", "sqrt", "tan", "tanh", "u", "uramp", "u2",
            "ceil", "floor", "nint", "eq0", "ne0", "gt0", "lt0", "ge0", "le0", "ddt",
        ),
        1,
    ),
    **dict.fromkeys(("pow", "pwr", "min", "max"), 2),
}  # fmt: skip
"""ngspice 39's B-source functions (``inpptree.c``) → number of arguments (``pwl`` aside).
``ddt`` (a time derivative) is 0 in a DC operating point, as ngspice gives it."""

B_INSTANCE_PARAMS = ("tc1", "tc2", "temp", "dtemp", "m", "reciproctc", "reciprocm")
"""Instance parameters of a B card after its expression (``asrc``): the value is multiplied by
(1 + tc1·ΔT + tc2·ΔT²) (its reciprocal with ``reciproctc=1``), ΔT = (temp or circuit
temperature) + dtemp − 27 °C, and by ``m`` (divided with ``reciprocm=1``)."""

_CONSTANTS = {"pi": math.pi, "e": math.e}
_SPECIAL = {"temper", "time", "hertz"}
_BINARY_POWER = {
    "||": 2, "&&": 3, "==": 4, "!=": 4, "<>": 4,
    "<": 5, "<=": 5, ">": 5, ">=": 5, "+": 6, "-": 6, "*": 7, "/": 7, "^": 9,
}  # fmt: skip
_COMPARISON = {"==": "eq0", "!=": "ne0", "<>": "ne0", "<": "lt0", "<=": "le0", ">": "gt0"}
_COMPARISON[">="] = "ge0"
_PREFIX_POWER = 8
_TOKEN = re.compile(
    r"\s*(?:(?P<probe>[vi])\s*\(\s*(?P<a>[^\s,(){}]+)\s*(?:,\s*(?P<b>[^\s,(){}]+)\s*)?\)"
    r"|(?P<brace>\{[^{}]*\})"
    r"|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[a-zA-Z]*)"
    r"|(?P<name>[a-zA-Z_][\w]*)"
    r"|(?P<op>\*\*|==|!=|<>|<=|>=|&&|\|\||[-+*/^<>!?:(),]))"
)
_PARAM_WORD = re.compile(r"\s(" + "|".join(B_INSTANCE_PARAMS) + r")\s*=(?!=)", re.IGNORECASE)


@dataclass(frozen=True)
class BehavioralSource(Element):
    """ngspice behavioural source. Card: ``bNAME n+ n- V=EXPR`` or ``bNAME n+ n- I=EXPR``.

    ``quantity`` is ``"v"`` (v(n+) − v(n−) = EXPR; a branch current ``i(bNAME)`` with a voltage
    source's sign) or ``"i"`` (EXPR [A] flows from n+ through the source to n−). ``expression``
    is the B-source expression text (module notes); ``params`` the instance parameters
    :data:`B_INSTANCE_PARAMS`.

    Examples
    --------
    >>> b = BehavioralSource("b1", "a", "0", "i", "1e-12*(exp(V(a)/0.025)-1)")
    >>> b.spice_card()
    'b1 a 0 i=1e-12*(exp(v(a)/0.025)-1)'
    >>> sorted(b.controls()[0]), b.conducts
    (['a'], True)
    """

    pos: str = ""
    neg: str = ""
    quantity: str = "v"
    expression: str = ""
    params: dict[str, Value] = field(default_factory=dict)

    letter: ClassVar[str] = "b"
    kind: ClassVar[str] = "behavioural source"
    node_fields: ClassVar[tuple[str, ...]] = ("pos", "neg")

    def __post_init__(self) -> None:
        super().__post_init__()
        quantity = str(self.quantity).strip().lower()
        if quantity not in ("v", "i"):
            raise CircuitError(
                f"behavioural source {self.name}: quantity must be 'v' (V=...) or 'i' (I=...); "
                f"got {self.quantity!r}",
                element=self.name,
            )
        object.__setattr__(self, "quantity", quantity)
        if not isinstance(self.expression, str):
            raise CircuitError(
                f"behavioural source {self.name}: the expression must be text; "
                f"got {self.expression!r}",
                element=self.name,
            )
        text = _normalize(self.expression)
        try:
            parse_b_expression(text)
        except CircuitError as exc:
            raise CircuitError(
                f"behavioural source {self.name}: {exc}", element=self.name
            ) from None
        object.__setattr__(self, "expression", text)
        params = _checked_params(self, self.params)
        unknown = set(params) - set(B_INSTANCE_PARAMS)
        if unknown:
            raise CircuitError(
                f"behavioural source {self.name}: unknown instance parameter(s) "
                f"{', '.join(sorted(unknown))} (known: {' '.join(B_INSTANCE_PARAMS)})",
                element=self.name,
            )
        object.__setattr__(self, "params", params)

    def __hash__(self) -> int:
        return hash((self.name, self.pos, self.neg, self.quantity, self.expression))

    @property
    def tree(self) -> Node:
        """The parsed expression (:data:`Node`)."""
        return parse_b_expression(self.expression)

    @property
    def conducts(self) -> bool:
        """Whether it defines a DC path between its terminals: a V= source, or an I= source whose
        expression reads a node voltage (a current that depends on voltages)."""
        return self.quantity == "v" or bool(self.controls()[0])

    def controls(self) -> tuple[set[str], set[str]]:
        """Node names read by ``v()`` and element names read by ``i()`` (ground included)."""
        nodes: set[str] = set()
        currents: set[str] = set()
        for leaf in _leaves(self.tree):
            if leaf[0] == "v":
                nodes.add(leaf[1])
            elif leaf[0] == "i":
                currents.add(leaf[1])
        return nodes, currents

    def parameter_names(self) -> set[str]:
        """``.param`` names the expression and the instance parameters use."""
        from circuitlearn.circuit.expressions import expression_names

        names = {leaf[1] for leaf in _leaves(self.tree) if leaf[0] == "param"}
        for leaf in _leaves(self.tree):
            if leaf[0] == "brace":
                names |= expression_names(leaf[1])
        for value in self.params.values():
            if isinstance(value, Expression):
                names |= expression_names(value.text)
        return names

    def resolved(
        self,
        env: Mapping[str, float],
        node: Callable[[str], str] = str,
        element: Callable[[str], str] = str,
    ) -> dict[str, object]:
        """Field changes for a flat copy: ``.param`` names and ``{}`` blocks evaluated in ``env``,
        nodes of ``v()`` renamed by ``node`` and elements of ``i()`` by ``element``."""
        text = resolve_b_expression(self.expression, env, node, element)
        params = {
            k: v.evaluate(env) if isinstance(v, Expression) else v for k, v in self.params.items()
        }
        return {"expression": text, "params": params}

    def spice_card(self) -> str:
        # ngspice 39 fails on a negative instance value after a B expression ("dtemp=-13":
        # "unknown parameter (-)") but reads it in parentheses
        extra = "".join(
            f" {k}=({_format(v)})" if isinstance(v, float) and v < 0 else f" {k}={_format(v)}"
            for k, v in self.params.items()
        )
        return f"{self.name} {self.pos} {self.neg} {self.quantity}={self.expression}{extra}"


def parse_b_card(name: str, text: str) -> BehavioralSource:
    """A :class:`BehavioralSource` from the card text ``bNAME n+ n- V=EXPR [tc1=...]``.

    The expression may be quoted or wrapped in braces and have blanks around ``=``.

    Examples
    --------
    >>> parse_b_card("b1", "B1 out 0 V = '10*v(in)' m=2").spice_card()
    'b1 out 0 v=10*v(in) m=2'
    """
    words = text.split(None, 3)
    usage = "expected 'bNAME n+ n- V=expression' or 'bNAME n+ n- I=expression'"
    if len(words) < 4:
        raise CircuitError(f"behavioural source {name}: {usage}", element=name)
    pos, neg, rest = words[1], words[2], words[3]
    match = re.match(r"\s*([vi])\s*=(?!=)\s*", rest, re.IGNORECASE)
    if match is None:
        raise CircuitError(f"behavioural source {name}: {usage}; got {rest[:40]!r}", element=name)
    body = rest[match.end() :]
    params: dict[str, Value] = {}
    found = _PARAM_WORD.search(" " + body)
    if found is not None:
        tail = (" " + body)[found.start() :]
        body = (" " + body)[: found.start()]
        for key, value in re.findall(r"(\w+)\s*=\s*(\S+)", tail):
            number = try_parse_value(value[1:-1] if value[:1] + value[-1:] == "()" else value)
            params[key.lower()] = number if number is not None else value
        leftover = re.sub(r"(\w+)\s*=\s*(\S+)", "", tail).strip()
        if leftover:
            raise CircuitError(
                f"behavioural source {name}: cannot read {leftover!r} after the expression "
                f"(instance parameters: {' '.join(B_INSTANCE_PARAMS)})",
                element=name,
            )
    body = body.strip()
    if (len(body) >= 2 and body[0] == body[-1] == "'") or (
        body.startswith("{") and body.endswith("}") and _matching_brace(body) == len(body) - 1
    ):
        body = body[1:-1]
    return BehavioralSource(name, pos, neg, match.group(1).lower(), body, params)


def parse_b_expression(text: str) -> Node:
    """The tree of a B-source expression, or ``CircuitError`` naming what cannot be read.

    Examples
    --------
    >>> parse_b_expression("2*v(a,b)")
    ('bin', '*', ('num', 2.0), ('bin', '-', ('v', 'a'), ('v', 'b')))
    >>> parse_b_expression("v(a) > 1 ? 1 : -x")[0]
    'tern'
    """
    return _parse(_normalize(text))


def resolve_b_expression(
    text: str,
    env: Mapping[str, float] | None,
    node: Callable[[str], str] = str,
    element: Callable[[str], str] = str,
) -> str:
    """The expression with ``.param`` names and ``{}`` blocks replaced by their values in ``env``
    (kept as they are when ``env`` is None) and ``v()``/``i()`` references renamed: the text a
    flat circuit carries.

    Examples
    --------
    >>> resolve_b_expression("k*v(a) + {k*2}", {"k": 3}, node=lambda n: "x1." + n)
    '((3.0*v(x1.a))+6.0)'
    """

    def walk(n: Node) -> Node:
        kind = n[0]
        if env is None and kind in ("param", "brace"):
            return n
        if kind == "param":
            if n[1] not in env:
                raise CircuitError(f"unknown parameter {n[1]!r} in B-source expression {text!r}")
            return ("num", float(env[n[1]]))
        if kind == "brace":
            return ("num", evaluate(n[1], env or {}))
        if kind == "v":
            return ("v", node(n[1]))
        if kind == "i":
            return ("i", element(n[1]))
        if kind == "neg":
            return ("neg", walk(n[1]))
        if kind == "bin":
            return ("bin", n[1], walk(n[2]), walk(n[3]))
        if kind == "chain":
            return ("chain", n[1], walk(n[2]), tuple((op, walk(t)) for op, t in n[3]))
        if kind == "call":
            return ("call", n[1], tuple(walk(a) for a in n[2]))
        if kind == "tern":
            return ("tern", walk(n[1]), walk(n[2]), walk(n[3]))
        if kind == "pwl":
            return ("pwl", walk(n[1]), tuple(walk(a) for a in n[2]))
        return n

    return to_text(walk(parse_b_expression(text)))


def to_text(node: Node) -> str:
    """B-source text of a tree (fully parenthesised, numbers to 17 digits)."""
    kind = node[0]
    if kind == "num":
        return _number(node[1])
    if kind in ("v", "i"):
        return f"{kind}({node[1]})"
    if kind == "param":
        return node[1]
    if kind == "brace":
        return "{" + node[1] + "}"
    if kind in _SPECIAL:
        return kind
    if kind == "neg":
        return f"(-{to_text(node[1])})"
    if kind == "bin":
        return f"({to_text(node[2])}{node[1]}{to_text(node[3])})"
    if kind == "chain":
        return f"({to_text(node[2])}{''.join(op + to_text(t) for op, t in node[3])})"
    if kind == "call":
        return f"{node[1]}({','.join(to_text(a) for a in node[2])})"
    if kind == "tern":
        return f"({to_text(node[1])}?{to_text(node[2])}:{to_text(node[3])})"
    # pwl
    return f"pwl({','.join(to_text(a) for a in (node[1], *node[2]))})"


def _number(value: float) -> str:
    text = repr(float(value))
    return f"({text})" if text.startswith("-") else text


def _normalize(text: str) -> str:
    if any(c in text for c in "\n\r\f\v\"';"):
        raise CircuitError(
            f"B-source expression {text!r} contains a line break, quote or ';', "
            "which cannot appear inside a SPICE card"
        )
    text = " ".join(text.split()).lower()
    # PSPICE's logic operators, as ngspice 39 rewrites them (ngbehavior=psa): ~ & | are ! && ||
    text = re.sub(r"(?<!&)&(?!&)", "&&", text.replace("~", "!"))
    return re.sub(r"(?<!\|)\|(?!\|)", "||", text)


def _matching_brace(text: str) -> int:
    depth = 0
    for index, char in enumerate(text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return index
    return -1


def _leaves(node: Node) -> list[Node]:
    out: list[Node] = []
    stack = [node]
    while stack:
        n = stack.pop()
        children = _children(n)
        if children:
            stack += children
        else:
            out.append(n)
    return out


@lru_cache(maxsize=4096)
def _parse(text: str) -> Node:
    if not text:
        raise CircuitError("empty B-source expression")
    parser = _Parser(_tokens(text), text)
    tree = parser.expression(0, 0)
    if parser.position != len(parser.tokens):
        raise CircuitError(
            f"cannot read B-source expression {text!r}: unexpected "
            f"{parser.tokens[parser.position][1]!r}"
        )
    if _depth(tree) > MAX_TREE_DEPTH:
        raise CircuitError(
            f"B-source expression {text[:60]!r}... is nested more than {MAX_TREE_DEPTH} deep "
            "(a long run of comparisons or powers); split it over several sources"
        )
    return tree


def _tokens(text: str) -> list[tuple[str, object]]:
    tokens: list[tuple[str, object]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            if not text[position:].strip():
                break
            raise CircuitError(f"cannot read B-source expression {text!r} at {text[position:]!r}")
        position = match.end()
        if match["probe"] is not None:
            probe, a, b = match["probe"], match["a"], match["b"]
            if probe == "i":
                if b is not None:
                    raise CircuitError(f"i() takes one element name; got i({a},{b}) in {text!r}")
                tokens.append(("leaf", ("i", _element_name(a, text))))
            elif b is None:
                tokens.append(("leaf", ("v", normalize_node(a))))
            else:
                tokens.append(
                    ("leaf", ("bin", "-", ("v", normalize_node(a)), ("v", normalize_node(b))))
                )
        elif match["brace"] is not None:
            inner = match["brace"][1:-1].strip()
            Expression(inner)  # syntax check
            tokens.append(("leaf", ("brace", inner)))
        elif match["num"] is not None:
            number = try_parse_value(match["num"])
            if number is None or not math.isfinite(number):
                raise CircuitError(f"bad number {match['num']!r} in B-source expression {text!r}")
            tokens.append(("leaf", ("num", number)))
        elif match["name"] is not None:
            tokens.append(("name", match["name"]))
        else:
            op = match["op"]
            tokens.append(("op", "^" if op == "**" else op))
    return tokens


def _element_name(name: str, text: str) -> str:
    if not name[0].isalpha():
        raise CircuitError(f"i({name}): not an element name in B-source expression {text!r}")
    return name


class _Parser:
    """Precedence climbing with ngspice's B-source operator table."""

    def __init__(self, tokens: list[tuple[str, object]], text: str) -> None:
        self.tokens = tokens
        self.text = text
        self.position = 0

    def peek(self) -> tuple[str, object] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def expect(self, symbol: str) -> None:
        token = self.peek()
        if token != ("op", symbol):
            got = "the end" if token is None else repr(token[1])
            raise CircuitError(
                f"cannot read B-source expression {self.text!r}: expected {symbol!r}; got {got}"
            )
        self.position += 1

    def expression(self, min_power: int, depth: int) -> Node:
        if depth > MAX_NESTING:
            raise CircuitError(
                f"B-source expression {self.text[:60]!r}... is nested more than {MAX_NESTING} deep"
            )
        left = self.operand(depth)
        run_class, run = "", []  # a left-to-right run of + - (or * /) operands, kept flat
        while True:
            token = self.peek()
            if token is None or token[0] != "op":
                return _run(left, run_class, run)
            op = token[1]
            if op == "?" and min_power <= 1:
                left, run_class, run = _run(left, run_class, run), "", []
                self.position += 1
                middle = self.expression(0, depth + 1)
                self.expect(":")
                right = self.expression(1, depth + 1)
                left = ("tern", left, middle, right)
                continue
            power = _BINARY_POWER.get(op)  # type: ignore[arg-type]
            if power is None or power < min_power:
                return _run(left, run_class, run)
            self.position += 1
            right = self.expression(power + 1, depth + 1)
            op_class = "+-" if op in ("+", "-") else "*/" if op in ("*", "/") else ""
            if op_class and op_class == run_class:
                run.append((op, right))
                continue
            left, run_class, run = _run(left, run_class, run), op_class, []
            if op_class:
                run.append((op, right))
            else:
                left = _binary(op, left, right)  # type: ignore[arg-type]

    def operand(self, depth: int) -> Node:
        token = self.peek()
        if token is None:
            raise CircuitError(f"cannot read B-source expression {self.text!r}: it ends too early")
        self.position += 1
        kind, value = token
        if kind == "leaf":
            return value  # type: ignore[return-value]
        if kind == "op":
            if value == "(":
                inner = self.expression(0, depth + 1)
                self.expect(")")
                return inner
            if value in ("-", "+", "!"):
                arg = self.expression(_PREFIX_POWER, depth + 1)
                if value == "-":
                    return ("neg", arg)
                return arg if value == "+" else ("call", "eq0", (arg,))
            raise CircuitError(
                f"cannot read B-source expression {self.text!r}: unexpected {value!r}"
            )
        name = str(value)
        if self.peek() == ("op", "("):
            return self.call(name, depth)
        if name in _CONSTANTS:
            return ("num", _CONSTANTS[name])
        if name in _SPECIAL:
            return (name,)
        return ("param", name)

    def call(self, name: str, depth: int) -> Node:
        self.position += 1  # "("
        args: list[Node] = []
        if self.peek() != ("op", ")"):
            while True:
                args.append(self.expression(0, depth + 1))
                if self.peek() != ("op", ","):
                    break
                self.position += 1
        self.expect(")")
        if name == "pwl":
            if len(args) < 5 or len(args) % 2 == 0:
                raise CircuitError(
                    f"pwl(x, x1, y1, x2, y2, ...) needs x and at least two points; got "
                    f"{len(args)} arguments in B-source expression {self.text!r}"
                )
            return ("pwl", args[0], tuple(args[1:]))
        if name not in B_FUNCTIONS:
            raise CircuitError(
                f"unknown function {name!r} in B-source expression {self.text!r} "
                f"(known: {' '.join(sorted([*B_FUNCTIONS, 'pwl']))})"
            )
        wanted = B_FUNCTIONS[name]
        if len(args) != wanted:
            raise CircuitError(
                f"function {name} takes {wanted} argument{'s' if wanted > 1 else ''}; "
                f"got {len(args)} in B-source expression {self.text!r}"
            )
        return ("call", name, tuple(args))


def _run(left: Node, op_class: str, run: list[tuple[str, Node]]) -> Node:
    """``left`` followed by a run of same-precedence operations: one ``bin`` or a ``chain``."""
    if not run:
        return left
    if len(run) == 1:
        return ("bin", run[0][0], left, run[0][1])
    return ("chain", op_class, left, tuple(run))


def _depth(tree: Node) -> int:
    """Depth of a tree, computed without recursion."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        stack += [(child, level + 1) for child in _children(node)]
    return deepest


def _children(node: Node) -> list[Node]:
    kind = node[0]
    if kind == "neg":
        return [node[1]]
    if kind == "bin":
        return [node[2], node[3]]
    if kind == "chain":
        return [node[2], *(term for _, term in node[3])]
    if kind == "call":
        return list(node[2])
    if kind == "tern":
        return [node[1], node[2], node[3]]
    if kind == "pwl":
        return [node[1], *node[2]]
    return []


def _binary(op: str, left: Node, right: Node) -> Node:
    if op in ("+", "-", "*", "/", "^"):
        return ("bin", op, left, right)
    if op in _COMPARISON:
        return ("call", _COMPARISON[op], (("bin", "-", left, right),))
    test = "ne0" if op == "||" else "eq0"  # a||b = ne0(ne0(a)+ne0(b)); a&&b = eq0(eq0(a)+eq0(b))
    return ("call", test, (("bin", "+", ("call", test, (left,)), ("call", test, (right,))),))
