"""``.func`` user functions, expanded in place as ngspice 39 does before reading the cards.

``.func name(a, b) {body}`` defines a function usable in ``.param`` values, element and model
values and B-source expressions. Each call ``name(x, y)`` is replaced by ``((body))`` with every
parameter name of the body replaced by its argument in parentheses; names inside ``v(...)`` and
``i(...)`` are node and element names, not parameters, and stay (ngspice's
``tests/regression/func/func-1.cir``). A ``.func`` inside a ``.subckt`` is visible in that body
only, hiding one of the same name outside it. A call with the wrong number of arguments and a
function that calls itself (ngspice 39 crashes) are one-line errors naming the card.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from circuitlearn.circuit.expressions import call_arguments
from circuitlearn.errors import NetlistError
from circuitlearn.netlist.lexer import Card, Scope, subckt_scopes, visible_in

__all__ = ["expand_functions"]

MAX_EXPANSION_DEPTH = 64
"""Deepest chain of calls a ``.func`` body may make (a deeper one is taken for recursion)."""

MAX_EXPANDED_LENGTH = 1_000_000
"""Longest text one call may expand to (nested calls that double their argument grow fast)."""

_DEFINITION = re.compile(
    r"^\.func\s+([a-z_]\w*)\s*\(([^()]*)\)\s*=?\s*(.+)$", re.IGNORECASE | re.DOTALL
)
_BODY_WORD = re.compile(
    r"(?P<probe>\b[vi]\s*\([^()]*\))|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[a-zA-Z]*)"
    r"|(?P<name>[a-zA-Z_]\w*)"
)


@dataclass(frozen=True)
class _Function:
    params: tuple[str, ...]
    body: str
    card: Card


def expand_functions(cards: list[Card], path: str | None) -> list[Card]:
    """The cards without their ``.func`` definitions, every call of one expanded."""
    scopes = subckt_scopes(cards)
    defined: dict[Scope, dict[str, _Function]] = {}
    for card, scope in zip(cards, scopes, strict=True):
        if card.text[:5].lower() == ".func":
            name, function = _definition(card, path)
            defined.setdefault(scope, {})[name] = function
    out: list[Card] = []
    for card, where in zip(cards, scopes, strict=True):
        if card.text[:5].lower() == ".func":
            continue
        visible = visible_in(where, defined)
        text = _expand(card.text, visible, card, path, 0) if visible else card.text
        out.append(card if text == card.text else Card(card.line, text, card.path))
    return out


def _definition(card: Card, path: str | None) -> tuple[str, _Function]:
    match = _DEFINITION.match(card.text.strip())
    if match is None:
        raise _error(card, path, ".func: expected '.func NAME(arg, ...) {expression}'")
    params = tuple(p.strip().lower() for p in match[2].split(",") if p.strip())
    for param in params:
        if not param.isidentifier():
            raise _error(card, path, f".func {match[1].lower()}: bad parameter name {param!r}")
    body = match[3].strip()
    if len(body) >= 2 and (body[0], body[-1]) in {("'", "'"), ("{", "}")}:
        body = body[1:-1]
    return match[1].lower(), _Function(params, body.strip(), card)


def _expand(
    text: str, functions: dict[str, _Function], card: Card, path: str | None, depth: int
) -> str:
    """``text`` with every call of ``functions`` expanded (their bodies expanded in turn)."""
    call = re.compile(r"\b(" + "|".join(map(re.escape, functions)) + r")\s*\(", re.IGNORECASE)
    out: list[str] = []
    position = 0
    while True:
        match = call.search(text, position)
        if match is None:
            break
        name = match[1].lower()
        end, args = call_arguments(text, match.end())
        if end < 0:
            raise _error(card, path, f"call of .func {name}: missing ')'")
        args = [a.strip() for a in args]
        if args == [""]:
            args = []
        function = functions[name]
        if len(args) != len(function.params):
            raise _error(
                card,
                path,
                f"call of .func {name}: takes {len(function.params)} argument"
                f"{'' if len(function.params) == 1 else 's'}, got {len(args)}",
            )
        if depth >= MAX_EXPANSION_DEPTH:
            raise _error(
                card, path, f".func {name} calls itself (directly or through other functions)"
            )
        args = [_expand(a, functions, card, path, depth) for a in args]
        body = _substitute(function.body, dict(zip(function.params, args, strict=True)))
        expanded = _expand(body, functions, card, path, depth + 1)
        if len(expanded) > MAX_EXPANDED_LENGTH:
            raise _error(
                card, path, f"call of .func {name}: expands to more than "
                f"{MAX_EXPANDED_LENGTH:,} characters"
            )  # fmt: skip
        out += [text[position : match.start()], f"({expanded})"]
        position = end
    return "".join(out) + text[position:]


def _substitute(body: str, args: dict[str, str]) -> str:
    """``body`` with each parameter name replaced by its argument, in parentheses."""

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name is not None and name.lower() in args:
            return f"({args[name.lower()]})"
        return match[0]

    return _BODY_WORD.sub(replace, body)


def _error(card: Card, path: str | None, message: str) -> NetlistError:
    return NetlistError(message, path=card.path or path, line=card.line, text=card.text)
