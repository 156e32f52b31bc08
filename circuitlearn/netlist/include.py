"""``.include`` and ``.lib``: pull vendor model files into a netlist, as ngspice 39 does.

- ``.include FILE`` (also ``.inc``) inserts every card of FILE (an included file has no title
  line);
- ``.lib FILE SECTION`` inserts the cards between ``.lib SECTION`` and ``.endl`` in FILE;
- a ``.lib NAME`` … ``.endl`` block met while reading defines a section: it is skipped unless a
  ``.lib FILE NAME`` asks for it.

File names may be quoted and are relative to the directory of the file that names them (to the
working directory for netlist text). Includes nest up to :data:`MAX_INCLUDE_DEPTH` files deep; a
file that includes itself, directly or not, is an error naming the chain of ``file:line``.
"""

from __future__ import annotations

import re
from pathlib import Path

from circuitlearn.errors import NetlistError
from circuitlearn.netlist.lexer import Card, decode, split_cards

__all__ = ["MAX_INCLUDE_DEPTH", "expand_includes"]

MAX_INCLUDE_DEPTH = 16
"""Deepest chain of ``.include``/``.lib`` files read (the top netlist is depth 0)."""

_DIRECTIVE = re.compile(r"^(\.\w+)\s+(\"[^\"]*\"|'[^']*'|\S+)(?:\s+(\S+))?\s*$")


def expand_includes(cards: list[Card], *, path: str | None) -> tuple[list[Card], list[Card]]:
    """Replace ``.include``/``.lib`` cards by the cards they name; drop section definitions.

    Returns the expanded cards and the skipped ``.control`` blocks of the included files.

    Raises
    ------
    NetlistError
        At the ``.include``/``.lib`` card: a missing or unreadable file, a missing section, a
        cycle, nesting past :data:`MAX_INCLUDE_DEPTH`; at a stray ``.endl``.
    """
    expander = _Expander()
    base = Path(path).parent if path else Path.cwd()
    out = expander.expand(cards, path=path, base=base, chain=())
    return out, expander.skipped


class _Expander:
    def __init__(self) -> None:
        self.skipped: list[Card] = []
        self.cache: dict[Path, list[Card]] = {}

    def expand(
        self,
        cards: list[Card],
        *,
        path: str | None,
        base: Path,
        chain: tuple[tuple[Path, str, str], ...],
    ) -> list[Card]:
        """``chain``: (file, section, 'file:line' of the card that opened it) being read."""
        out: list[Card] = []
        index = 0
        while index < len(cards):
            card = cards[index]
            index += 1
            word = card.text.split(None, 1)[0].lower()
            if word == ".endl":
                raise _error(card, path, ".endl without a '.lib NAME' section to close")
            if word not in {".include", ".inc", ".lib"}:
                out.append(card)
                continue
            match = _DIRECTIVE.match(card.text)
            if match is None:
                usage = ".lib FILE SECTION" if word == ".lib" else f"{word} FILE"
                raise _error(card, path, f"{word}: expected '{usage}'")
            target, section = match[2].strip("\"'"), match[3]
            if word == ".lib" and section is None:  # a section definition: skip to its .endl
                index = _section_end(cards, index - 1, path)
                continue
            if word != ".lib" and section is not None:
                raise _error(
                    card, path, f"{word}: expected one file name; got {section!r} after it"
                )
            out += self.include(card, path, base / target, (section or "").lower(), chain)
        return out

    def include(
        self,
        card: Card,
        path: str | None,
        file: Path,
        section: str,
        chain: tuple[tuple[Path, str, str], ...],
    ) -> list[Card]:
        where = f"{card.path or path or '<netlist>'}:{card.line}"
        resolved = file.resolve()
        if any(p == resolved and s == section for p, s, _ in chain):
            links = " -> ".join(w for _, _, w in (*chain, (resolved, section, where)))
            raise _error(card, path, f"include cycle: {links} reads {file} again")
        if len(chain) >= MAX_INCLUDE_DEPTH:
            raise _error(
                card, path, f"includes nested more than {MAX_INCLUDE_DEPTH} files deep at {file}"
            )
        cards = self.read(card, path, file)
        if section:
            cards = _section(cards, section, card, path, file)
        return self.expand(
            cards, path=str(file), base=file.parent, chain=(*chain, (resolved, section, where))
        )

    def read(self, card: Card, path: str | None, file: Path) -> list[Card]:
        if file not in self.cache:
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise _error(
                    card, path, f"cannot read included file {str(file)!r}: {exc.strerror or exc}"
                ) from None
            _, cards, skipped = split_cards(
                decode(data, path=str(file)), path=str(file), title=False
            )
            self.skipped += skipped
            self.cache[file] = cards
        return self.cache[file]


def _section(cards: list[Card], name: str, card: Card, path: str | None, file: Path) -> list[Card]:
    """The cards of section ``name`` (between ``.lib name`` and its ``.endl``)."""
    for index, candidate in enumerate(cards):
        words = candidate.text.lower().split()
        if len(words) == 2 and words[0] == ".lib" and words[1] == name:
            end = _section_end(cards, index, str(file))
            return cards[index + 1 : end - 1]
    raise _error(card, path, f".lib: no section {name!r} in {file}")


def _section_end(cards: list[Card], start: int, path: str | None) -> int:
    """Index just past the ``.endl`` closing the section opened at ``cards[start]``."""
    depth = 0
    for index in range(start, len(cards)):
        words = cards[index].text.lower().split()
        if words[0] == ".lib" and len(words) == 2:
            depth += 1
        elif words[0] == ".endl":
            depth -= 1
            if depth == 0:
                return index + 1
    raise _error(cards[start], path, "unterminated .lib section: add '.endl' after its last card")


def _error(card: Card, path: str | None, message: str) -> NetlistError:
    return NetlistError(message, path=card.path or path, line=card.line, text=card.text)
