"""Elements the native solver does not model, kept as written for ngspice ("opaque cards").

J, Z, S, W, T, O, U, Y and K cards, XSPICE ``A`` cards (:class:`CodeModelInstance`), E/G/F/H
in their POLY/VALUE/TABLE forms, model-based C and L, resistors with a negative or infinite
value, M cards of VDMOS and SOI models, D/Q cards with a thermal node: the reader keeps their
nodes, the model they name and the rest of the card verbatim; the ngspice backend runs them
unchanged and the native solver refuses them, naming them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from circuitlearn.circuit.elements import Element, model_name, normalize_node
from circuitlearn.errors import CircuitError

__all__ = ["CodeModelInstance", "OpaqueElement", "rename_ports"]

_OPAQUE_KINDS: dict[str, str] = {
    "a": "XSPICE code model",
    "b": "behavioural source",
    "c": "capacitor",
    "d": "diode with a thermal node",
    "e": "behavioural VCVS (POLY/VALUE/TABLE)",
    "f": "behavioural CCCS (POLY)",
    "g": "behavioural VCCS (POLY/VALUE/TABLE)",
    "h": "behavioural CCVS (POLY)",
    "j": "JFET",
    "k": "coupled inductors",
    "l": "inductor",
    "m": "MOSFET (VDMOS or SOI, kept for ngspice)",
    "o": "lossy transmission line",
    "q": "bipolar transistor",
    "r": "resistor with a negative or infinite value",
    "s": "voltage-controlled switch",
    "t": "transmission line",
    "u": "distributed RC line",
    "w": "current-controlled switch",
    "y": "transmission line",
    "z": "MESFET or HFET",
}
"""What an opaque element is, by letter (for messages)."""


@dataclass(frozen=True)
class OpaqueElement(Element):
    """An element the native solver does not model, kept as written for ngspice.

    Card: ``NAME node... [MODEL] REST``: ``terminals`` are its nodes, ``model`` the model it
    names (renamed with local models when flattened), ``rest`` the remaining text, verbatim.
    The ngspice backend runs it unchanged; the native solver refuses it, naming it.

    Examples
    --------
    >>> q = OpaqueElement("q1", ("c", "b", "0"), "q2n2222", "area=2")
    >>> q.spice_card(), q.kind
    ('q1 c b 0 q2n2222 area=2', 'bipolar transistor')
    """

    terminals: tuple[str, ...] = ()
    model: str = ""
    rest: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.name[0] not in _OPAQUE_KINDS:
            raise CircuitError(
                f"element {self.name}: letter {self.name[0].upper()!r} cannot be kept as an "
                f"opaque card (letters: {' '.join(sorted(_OPAQUE_KINDS)).upper()})",
                element=self.name,
            )
        if isinstance(self.terminals, str) or not isinstance(self.terminals, (tuple, list)):
            raise CircuitError(
                f"element {self.name}: terminals must be a sequence of node names",
                element=self.name,
            )
        object.__setattr__(
            self,
            "terminals",
            tuple(normalize_node(n, element=self.name) for n in self.terminals),
        )
        if self.model:
            object.__setattr__(self, "model", model_name(self, self.model))
        rest = self.rest
        if not isinstance(rest, str) or any(not c.isprintable() for c in rest):
            raise CircuitError(
                f"element {self.name}: the rest of its card must be one line of text; got {rest!r}",
                element=self.name,
            )
        object.__setattr__(self, "rest", " ".join(rest.split()))

    @property
    def kind(self) -> str:  # type: ignore[override]
        """What the element is (``bipolar transistor``, ``switch`` ...)."""
        return _OPAQUE_KINDS.get(self.name[:1], "element")

    @property
    def nodes(self) -> tuple[str, ...]:
        return self.terminals

    def spice_card(self) -> str:
        words = [self.name, *self.terminals, *([self.model] if self.model else [])]
        return " ".join([*words, *([self.rest] if self.rest else [])])


_PORT_TOKEN = re.compile(r"(?P<type>%[A-Za-z_]+)|(?P<punct>[\[\]()~,])|(?P<word>[^\s\[\]()~,%]+)")
"""Tokens of an A card's ports: a port type (``%vd``, ``%gd``, ``%d``, ``%vnam``), a bracket
(``[ ]`` vector, ``( )`` node pair), ``~`` (inverted digital input), ``,``, a node name."""


def rename_ports(ports: str, node: Callable[[str], str], source: Callable[[str], str] = str) -> str:
    """An A card's port text with every node renamed by ``node`` and every voltage source named
    after ``%vnam`` by ``source`` (``null``, an unconnected port, stays).

    Examples
    --------
    >>> rename_ports("%vd(a 0) %gd(b c) [d1 ~d2 null]", lambda n: n if n == "0" else "x1." + n)
    '%vd(x1.a 0) %gd(x1.b x1.c) [x1.d1 ~x1.d2 null]'
    """
    out: list[str] = []
    position, after_vnam = 0, False
    for match in _PORT_TOKEN.finditer(ports):
        out.append(ports[position : match.start()])
        text = match.group(0)
        if match["word"] and text.lower() != "null":
            text = source(text) if after_vnam else node(text)
        if match["type"] or match["word"]:
            after_vnam = (match["type"] or "").lower() == "%vnam"
        out.append(text)
        position = match.end()
    return "".join(out) + ports[position:]


def _port_nodes(ports: str) -> tuple[str, ...]:
    """The node names of an A card's port text, in order (not ``null``, not ``%vnam`` sources)."""
    nodes: list[str] = []
    after_vnam = False
    for match in _PORT_TOKEN.finditer(ports):
        if match["word"] and not after_vnam and match["word"].lower() != "null":
            nodes.append(match["word"])
        if match["type"] or match["word"]:
            after_vnam = (match["type"] or "").lower() == "%vnam"
    return tuple(nodes)


@dataclass(frozen=True)
class CodeModelInstance(OpaqueElement):
    """An XSPICE ``A`` element, kept as written for ngspice: ``aNAME PORTS... MODEL``.

    ``ports`` is the card's port text between the name and the model (``%vd(a 0) %gd(b 0)``,
    ``[d1 d2] out``, ``~en``, ``null``), whitespace-normalised; its node names become
    ``terminals`` (renamed with the ports when flattening). The model is a code model
    (:data:`~circuitlearn.circuit.models.CODE_MODELS`); nodes only code models touch may be
    event-driven (digital), which have no voltage.

    Examples
    --------
    >>> a = CodeModelInstance("a1", model="sw3", ports="%vd(In 0) %gd(out 0)")
    >>> a.spice_card(), a.nodes
    ('a1 %vd(in 0) %gd(out 0) sw3', ('in', '0', 'out', '0'))
    >>> CodeModelInstance("a2", model="m", ports="%vnam V1 [d1 null]").nodes
    ('d1',)
    """

    ports: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.ports, str) or any(not c.isprintable() for c in self.ports):
            raise CircuitError(
                f"element {self.name}: ports must be one line of text; got {self.ports!r}",
                element=str(self.name),
            )
        # node and source names are case-insensitive, as in ngspice: lower-cased like the others
        ports = rename_ports(" ".join(self.ports.split()), str.lower, str.lower)
        object.__setattr__(self, "ports", ports)
        object.__setattr__(self, "terminals", _port_nodes(ports))
        super().__post_init__()
        if not self.model:
            raise CircuitError(
                f"{self.kind} {self.name}: needs a code model name", element=self.name
            )

    def spice_card(self) -> str:
        return " ".join([self.name, *([self.ports] if self.ports else []), self.model])
