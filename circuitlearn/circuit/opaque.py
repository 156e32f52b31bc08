"""Elements the native solver does not model, kept as written for ngspice ("opaque cards").

J, Z, S, W, T, O, U, Y and K cards, E/G/F/H in their POLY/VALUE/TABLE forms, model-based
C and L, resistors with a negative or infinite value, M cards of VDMOS and SOI models, D/Q cards
with a thermal node: the reader keeps their nodes, the model they name and the rest of the card
verbatim; the ngspice backend runs them
unchanged and the native solver refuses them, naming them.
"""

from __future__ import annotations

from dataclasses import dataclass

from circuitlearn.circuit.elements import Element, model_name, normalize_node
from circuitlearn.errors import CircuitError

__all__ = ["OpaqueElement"]

_OPAQUE_KINDS: dict[str, str] = {
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
    "z": "MESFET",
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
