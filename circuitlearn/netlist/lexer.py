"""Netlist text → cards → tokens, with the physical line of every card kept for error messages.

SPICE reading rules applied here (checked against ``ngspice -b``, version 39):

- the first line is the title, whatever it contains;
- ``*`` as the first non-blank character makes a comment line;
- ``;`` and ``//`` anywhere, and ``$`` at the start of a line or after white space, start a
  comment (``b$x`` stays a node name, as in ngspice);
- a line starting with ``+`` continues the previous card, even across blank and comment lines;
- ``.control`` ... ``.endc`` blocks (an unterminated one runs to the end of the file) and
  everything after ``.end`` are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from circuitlearn.errors import NetlistError

__all__ = [
    "Card",
    "Scope",
    "Token",
    "decode",
    "split_cards",
    "subckt_scopes",
    "tokenize",
    "visible_in",
]

T = TypeVar("T")

_INLINE_COMMENT = re.compile(r";|//|(?:^|(?<=\s))\$")


@dataclass(frozen=True)
class Card:
    """One logical card: continuation lines joined, comments removed.

    Parameters
    ----------
    line : int
        Physical line number (1-based) of the card's first line.
    text : str
        The card's text, continuation lines joined with a space.
    """

    line: int
    text: str
    path: str | None = None
    """The file the card comes from when it is not the top netlist (``.include``, ``.lib``)."""


@dataclass(frozen=True)
class Token:
    """A word of a card: a plain word, an expression (``{...}`` or ``'...'``) or ``= ( ) ,``."""

    text: str
    kind: str  # "word", "expr" or "punct"

    @property
    def is_word(self) -> bool:
        return self.kind == "word"


Scope = tuple[int, ...]
"""Where a card stands: the indices of the ``.subckt`` cards around it, outermost first (a
``.subckt`` card itself and its ``.ends`` belong to the body they delimit)."""


def subckt_scopes(cards: Sequence[Card]) -> list[Scope]:
    """Each card's :data:`Scope`, for definitions that ngspice scopes by subcircuit (``.model``,
    ``.func``)."""
    scopes: list[Scope] = []
    scope: Scope = ()
    for index, card in enumerate(cards):
        head = card.text[:7].lower()
        if head.startswith(".subckt"):
            scope = (*scope, index)
        scopes.append(scope)
        if head.startswith(".ends") and scope:
            scope = scope[:-1]
    return scopes


def visible_in(scope: Scope, own: Mapping[Scope, Mapping[str, T]]) -> dict[str, T]:
    """The definitions seen in ``scope``: those of each enclosing scope, inner ones hiding outer
    ones of the same name (``own``: each scope's own definitions)."""
    merged: dict[str, T] = {}
    for depth in range(len(scope) + 1):
        merged.update(own.get(scope[:depth], {}))
    return merged


def decode(data: bytes, *, path: str | None = None) -> str:
    """Decode a netlist file's bytes as UTF-8 text, rejecting binary files clearly.

    Raises
    ------
    NetlistError
        For NUL bytes or bytes that are not UTF-8.
    """
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise NetlistError(
            "this is a binary file (it contains NUL bytes), not a SPICE netlist",
            path=path,
            line=line,
        )
    # a DOS end-of-file mark (Ctrl-Z, 0x1a) ends old vendor libraries; ngspice ignores it
    if data.rstrip().endswith(b"\x1a"):
        data = data.rstrip()[:-1]
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise NetlistError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save the netlist as UTF-8 or ASCII",
            path=path,
            line=line,
        ) from None


def split_cards(
    text: str, *, path: str | None = None, title: bool = True
) -> tuple[str, list[Card], list[Card]]:
    """Split netlist text into its title, its cards and the cards of skipped blocks.

    ``title=False`` reads an included file, whose first line is a card like the others (the
    returned title is then empty). Cards of an included file carry its ``path``.

    Returns
    -------
    title : str
    cards : list of Card
        Cards up to ``.end`` (excluded), outside ``.control`` blocks.
    skipped : list of Card
        One card per ``.control`` block (its first line), for the record of ignored cards.

    Raises
    ------
    NetlistError
        Empty netlist, NUL characters or a leading continuation line.
    """
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise NetlistError(
            "this is binary data (it contains NUL characters), not a SPICE netlist",
            path=path,
            line=line,
        )
    lines = [raw.rstrip("\r") for raw in text.split("\n")]
    if title and not any(raw.strip() for raw in lines):
        raise NetlistError("empty netlist: expected a title line and element cards", path=path)
    heading = lines[0].strip() if title else ""
    card_path = None if title else path
    cards: list[Card] = []
    skipped: list[Card] = []
    in_control = False
    first = 2 if title else 1
    for number, raw in enumerate(lines[first - 1 :], start=first):
        stripped = raw.strip()
        if in_control:
            if stripped.lower().startswith(".endc"):
                in_control = False
            elif stripped.lower().split()[:1] == [".end"]:
                in_control = False  # ngspice 39 ends the block and the deck at '.end'
                break
            continue
        if not stripped or stripped.startswith("*"):
            continue
        content = _INLINE_COMMENT.split(stripped, maxsplit=1)[0].strip()
        if stripped.startswith("+"):
            if not cards:
                raise NetlistError(
                    "continuation line ('+') with no card before it to continue",
                    path=path,
                    line=number,
                    text=raw,
                )
            previous = cards[-1]
            joined = f"{previous.text} {content[1:].strip()}".strip()
            cards[-1] = Card(previous.line, joined, card_path)
            continue
        if not content:
            continue
        word = content.split()[0].lower()
        if word == ".control":
            in_control = True
            skipped.append(Card(number, ".control", card_path))
            continue
        if word == ".end":
            break
        cards.append(Card(number, content, card_path))
    # an unterminated .control block runs to the end of the file: ngspice 39 warns ("Missing
    # .endc statement") and reads the circuit before it, so it is skipped like any other block
    return heading, cards, skipped


_TOKEN = re.compile(r"\s*(?:(?P<punct>[=(),])|(?P<quote>')|(?P<brace>\{)|(?P<word>[^\s=(),'{]+))")


def tokenize(card: Card, *, path: str | None = None) -> list[Token]:
    """Split a card into tokens; ``{...}`` (nested) and ``'...'`` are one expression token each.

    Raises
    ------
    NetlistError
        For an unbalanced brace or quote.
    """
    text = card.text
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only trailing white space is left
            break
        if match["punct"]:
            tokens.append(Token(match["punct"], "punct"))
            position = match.end()
        elif match["word"]:
            tokens.append(Token(match["word"], "word"))
            position = match.end()
        elif match["quote"]:
            end = text.find("'", match.end())
            if end < 0:
                raise NetlistError(
                    "unterminated quoted expression: add the closing '",
                    path=path,
                    line=card.line,
                    text=text,
                )
            tokens.append(Token(text[match.end() : end], "expr"))
            position = end + 1
        else:
            end = _matching_brace(text, match.end() - 1)
            if end < 0:
                raise NetlistError(
                    "unbalanced '{' in expression: add the closing '}'",
                    path=path,
                    line=card.line,
                    text=text,
                )
            tokens.append(Token(text[match.end() : end], "expr"))
            position = end + 1
    return tokens


def _matching_brace(text: str, start: int) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
    return -1
