"""Circuit elements: one small frozen dataclass per SPICE element letter.

Each element knows its nodes, its values (numbers, or ``.param`` expressions resolved at flatten
time), how to check them, and its ngspice card. Names and nodes are lower-cased as ngspice does;
ground is ``"0"`` (``gnd`` is an alias).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from operator import attrgetter
from typing import Any, ClassVar

from circuitlearn.circuit.expressions import Expression, Value
from circuitlearn.circuit.units import format_value
from circuitlearn.circuit.waveforms import normalize_spec
from circuitlearn.errors import CircuitError

__all__ = [
    "CCCS",
    "CCVS",
    "DIODE_INSTANCE_PARAMS",
    "ELEMENT_CLASSES",
    "GROUND",
    "MOS_INSTANCE_PARAMS",
    "VCCS",
    "VCVS",
    "Capacitor",
    "CurrentSource",
    "Diode",
    "Element",
    "Inductor",
    "Mosfet",
    "Resistor",
    "SubcircuitInstance",
    "VoltageSource",
    "model_name",
    "normalize_node",
]

GROUND = "0"
"""Name of the reference node; ``gnd`` is read as ``0``."""

_GROUND_ALIASES = {"0", "gnd"}
_NOT_IN_NAMES = set(" \t\n\r\f\v(){}=,;'\"")


def normalize_node(node: object, *, element: str | None = None) -> str:
    """Lower-case a node name and map ground aliases to ``"0"``."""
    if not isinstance(node, (str, int)) or isinstance(node, bool):
        raise CircuitError(
            f"{element or 'element'}: node names must be strings; got {node!r}", element=element
        )
    text = _node_text(str(node))
    if text is None:
        # a leading '+' is fine (LTspice's +V, read by ngspice): a node never starts a line
        raise CircuitError(
            f"{element or 'element'}: invalid node name {node!r} (no white space, line breaks, "
            "brackets, '=', ',', ';', quotes, '//' or a leading . *)",
            element=element,
        )
    return text


@lru_cache(maxsize=1 << 16)
def _node_text(node: str) -> str | None:
    """The normalised name, or ``None`` if invalid. Cached: a network's elements name the same
    few thousand nodes over and over (DRN-1H: 3.2 M node fields)."""
    text = node.strip().lower()
    if not _is_word(text) or text[0] in ".*":
        return None
    return GROUND if text in _GROUND_ALIASES else text


def _is_word(text: str) -> bool:
    """Whether ``text`` is one non-empty SPICE word: printable, none of the separators."""
    return bool(text) and text.isprintable() and _NOT_IN_NAMES.isdisjoint(text) and "//" not in text


def _format(value: Value) -> str:
    return str(value) if isinstance(value, Expression) else format_value(value)


@dataclass(frozen=True)
class Element:
    """Base of all elements: a name, nodes, and validated values.

    Subclasses declare ``letter`` (SPICE prefix), ``node_fields`` (ordered node attributes),
    and ``constraints`` mapping value fields to ``"positive"``, ``"nonzero"`` or ``"finite"``.
    """

    name: str

    letter: ClassVar[str] = ""
    kind: ClassVar[str] = ""
    node_fields: ClassVar[tuple[str, ...]] = ()
    constraints: ClassVar[dict[str, str]] = {}
    _read_nodes: ClassVar[Callable[[Element], tuple[str, ...]]] = staticmethod(lambda _: ())

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # read millions of times on large networks (DRN-1H: 13 M reads to set it up)
        cls._read_nodes = staticmethod(_node_reader(cls.node_fields))

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise CircuitError(
                f"{self.kind or 'element'} name must be a non-empty string; got {self.name!r}"
            )
        name = self.name.strip().lower()
        if not _is_word(name):
            raise CircuitError(
                f"element name {self.name!r} is not a single SPICE word (no white space, line "
                "breaks, brackets, '=', ',', ';', quotes or '//')",
                element=name,
            )
        if self.letter and not name.startswith(self.letter):
            raise CircuitError(
                f"{self.kind} {name}: its name must start with {self.letter!r} as in SPICE "
                f"(e.g. {self.letter}{name})",
                element=name,
            )
        object.__setattr__(self, "name", name)
        for node_field in self.node_fields:
            object.__setattr__(
                self, node_field, normalize_node(getattr(self, node_field), element=name)
            )
        for value_field, rule in self.constraints.items():
            object.__setattr__(self, value_field, _check_value(self, value_field, rule))

    @property
    def nodes(self) -> tuple[str, ...]:
        """The element's nodes, in SPICE card order."""
        return self._read_nodes(self)

    def values(self) -> dict[str, Value]:
        """The element's numeric (or expression) values by field name."""
        return {f: getattr(self, f) for f in self.constraints}

    def with_values(self, **changes: Any) -> Element:
        """A copy with some fields changed, validated like a new element."""
        return replace(self, **changes)

    def spice_card(self) -> str:
        """The ngspice card for this element."""
        raise NotImplementedError


def _node_reader(node_fields: tuple[str, ...]) -> Callable[[Element], tuple[str, ...]]:
    """A function returning an element's ``node_fields`` values as a tuple, in C for ≥ 2."""
    if len(node_fields) >= 2:
        return attrgetter(*node_fields)
    if node_fields:
        read = attrgetter(node_fields[0])
        return lambda element: (read(element),)
    return lambda _: ()


def _real(value: object) -> float:
    """``value`` as a float (numpy scalars and integers too); NaN when it is not a real number."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except OverflowError:  # an integer beyond floats
        return math.inf


def _check_value(element: Element, name: str, rule: str) -> Value:
    """Validate the field ``name`` of ``element`` against ``rule``."""
    return _checked(getattr(element, name), element, name, rule)


def _checked(value: object, element: Element, label: str, rule: str) -> Value:
    """Turn ``value`` into a float or Expression, or raise naming ``element`` and ``label``."""
    who = f"{element.kind} {element.name}"
    if isinstance(value, Expression):
        return value
    if isinstance(value, str):
        try:
            return Expression(value)
        except ValueError as exc:
            raise CircuitError(f"{who}: {label}: {exc}", element=element.name) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CircuitError(f"{who}: {label} must be a number; got {value!r}", element=element.name)
    try:
        value = float(value)
    except OverflowError:
        raise CircuitError(
            f"{who}: {label} is too large for a float; got an integer of "
            f"{len(str(abs(value)))} digits",
            element=element.name,
        ) from None
    if not math.isfinite(value):
        raise CircuitError(f"{who}: {label} must be finite; got {value!r}", element=element.name)
    if rule == "positive" and value <= 0:
        hint = (
            " (remove the element or use a small conductance instead)"
            if element.letter == "r"
            else ""
        )
        raise CircuitError(
            f"{who}: {label} must be positive; got {value!r}{hint}", element=element.name
        )
    return value


@dataclass(frozen=True)
class Resistor(Element):
    """Linear resistor. Card: ``rNAME n1 n2 RESISTANCE [ac=R_AC]``; current = (v1 − v2)/R.

    Trainable parameters are conductances; see :attr:`conductance`. ``ac`` is ngspice's
    resistance for AC analyses, kept for the netlist (no effect at DC).
    """

    n1: str = ""
    n2: str = ""
    resistance: Value = 1.0
    ac: Value | None = None

    letter: ClassVar[str] = "r"
    kind: ClassVar[str] = "resistor"
    node_fields: ClassVar[tuple[str, ...]] = ("n1", "n2")
    constraints: ClassVar[dict[str, str]] = {"resistance": "positive"}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ac is not None:
            object.__setattr__(self, "ac", _check_value(self, "ac", "positive"))

    def values(self) -> dict[str, Value]:
        if self.ac is None:
            return {"resistance": self.resistance}
        return {"resistance": self.resistance, "ac": self.ac}

    @property
    def conductance(self) -> float:
        """Conductance 1/R [S] (numeric resistances only)."""
        if isinstance(self.resistance, Expression):
            raise CircuitError(
                f"resistor {self.name}: resistance {self.resistance} is an unresolved "
                "expression; flatten the circuit first",
                element=self.name,
            )
        return 1.0 / self.resistance

    def with_conductance(self, conductance: float) -> Resistor:
        """A copy with conductance ``conductance`` [S].

        Only the resistance changes, and it is checked here, so the copy skips the validation
        of a new element (exports and training write 10⁵–10⁶ of them at a time).
        """
        g = conductance if type(conductance) is float else _real(conductance)
        resistance = 1.0 / g if g > 0 else math.nan
        if not (math.isfinite(g) and math.isfinite(resistance)):
            raise CircuitError(
                f"resistor {self.name}: conductance must be positive and finite; "
                f"got {conductance!r}",
                element=self.name,
            )
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__)
        object.__setattr__(copy, "resistance", resistance)
        return copy

    def spice_card(self) -> str:
        ac = "" if self.ac is None else f" ac={_format(self.ac)}"
        return f"{self.name} {self.n1} {self.n2} {_format(self.resistance)}{ac}"


@dataclass(frozen=True)
class Capacitor(Element):
    """Capacitor: an open circuit at DC. Card: ``cNAME n1 n2 CAPACITANCE [ic=V] [m=M]``.

    ``params`` keeps the instance parameters for the netlist (``ic``, ``m``, ``tc1`` ...).
    """

    n1: str = ""
    n2: str = ""
    capacitance: Value = 0.0
    params: dict[str, Value] = field(default_factory=dict)

    letter: ClassVar[str] = "c"
    kind: ClassVar[str] = "capacitor"
    node_fields: ClassVar[tuple[str, ...]] = ("n1", "n2")
    constraints: ClassVar[dict[str, str]] = {"capacitance": "finite"}

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "params", _checked_params(self, self.params))

    def __hash__(self) -> int:
        return hash((self.name, self.n1, self.n2, self.capacitance))

    def spice_card(self) -> str:
        return f"{self.name} {self.n1} {self.n2} {_format(self.capacitance)}{_params(self.params)}"


@dataclass(frozen=True)
class Inductor(Element):
    """Inductor: a short circuit (a 0 V branch) at DC. Card: ``lNAME n1 n2 INDUCTANCE [ic=I]``.

    Its branch current ``i(lNAME)`` flows from ``n1`` through the inductor to ``n2``.
    """

    n1: str = ""
    n2: str = ""
    inductance: Value = 0.0
    params: dict[str, Value] = field(default_factory=dict)

    letter: ClassVar[str] = "l"
    kind: ClassVar[str] = "inductor"
    node_fields: ClassVar[tuple[str, ...]] = ("n1", "n2")
    constraints: ClassVar[dict[str, str]] = {"inductance": "finite"}

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "params", _checked_params(self, self.params))

    def __hash__(self) -> int:
        return hash((self.name, self.n1, self.n2, self.inductance))

    def spice_card(self) -> str:
        return f"{self.name} {self.n1} {self.n2} {_format(self.inductance)}{_params(self.params)}"


@dataclass(frozen=True)
class VoltageSource(Element):
    """Independent voltage source. Card: ``vNAME p n DC V [SPEC]``; v(p) − v(n) = V at DC.

    ``spec`` keeps a transient function and AC values (``pulse(0 1 1n) ac 1``) as canonical
    text for the netlist (:mod:`~circuitlearn.circuit.waveforms`); it has no effect at DC.

    Its branch current ``i(vNAME)`` has ngspice's sign: positive when current flows from the
    circuit into the source at ``p`` and through it to ``n`` (a source driving a load reads < 0).
    """

    pos: str = ""
    neg: str = ""
    dc: Value = 0.0
    spec: str = ""

    letter: ClassVar[str] = "v"
    kind: ClassVar[str] = "voltage source"
    node_fields: ClassVar[tuple[str, ...]] = ("pos", "neg")
    constraints: ClassVar[dict[str, str]] = {"dc": "finite"}

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "spec", _checked_spec(self))

    def spice_card(self) -> str:
        return _source_card(self)


@dataclass(frozen=True)
class CurrentSource(Element):
    """Independent current source. Card: ``iNAME p n DC I [SPEC]``; I flows from p through it to n.

    ``spec`` is as for :class:`VoltageSource`.

    So a positive I *leaves* node ``p`` and is *injected into* node ``n``.
    """

    pos: str = ""
    neg: str = ""
    dc: Value = 0.0
    spec: str = ""

    letter: ClassVar[str] = "i"
    kind: ClassVar[str] = "current source"
    node_fields: ClassVar[tuple[str, ...]] = ("pos", "neg")
    constraints: ClassVar[dict[str, str]] = {"dc": "finite"}

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "spec", _checked_spec(self))

    def spice_card(self) -> str:
        return _source_card(self)


@dataclass(frozen=True)
class Diode(Element):
    """Junction diode (ngspice level-1 model). Card: ``dNAME anode cathode MODEL [area=A] [m=M]
    [temp=T] [dtemp=DT]``.

    I = A·M·IS·(exp(V/(N·Vt)) − 1) + GMIN·V, with series resistance RS/(A·M); the multiplicity
    M (parallel copies) scales like the area. ``params`` holds the device temperature
    (:data:`DIODE_INSTANCE_PARAMS`): ``temp`` [°C] replaces the circuit's, else ``dtemp`` offsets
    it, as in ngspice.
    """

    anode: str = ""
    cathode: str = ""
    model: str = ""
    area: Value = 1.0
    m: Value = 1.0
    params: dict[str, Value] = field(default_factory=dict)

    letter: ClassVar[str] = "d"
    kind: ClassVar[str] = "diode"
    node_fields: ClassVar[tuple[str, ...]] = ("anode", "cathode")
    constraints: ClassVar[dict[str, str]] = {"area": "positive", "m": "positive"}

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "model", model_name(self, self.model))
        params = _checked_params(self, self.params, DIODE_INSTANCE_PARAMS, ("area", "m"))
        object.__setattr__(self, "params", params)

    def __hash__(self) -> int:
        return hash((self.name, self.nodes, self.model, self.area, self.m))

    def spice_card(self) -> str:
        # ngspice 39 rejects a positional area ("could not find a valid modelname"): write area=.
        area = "" if self.area == 1.0 else f" area={_format(self.area)}"
        multiplicity = "" if self.m == 1.0 else f" m={_format(self.m)}"
        extra = _params(self.params)
        return f"{self.name} {self.anode} {self.cathode} {self.model}{area}{multiplicity}{extra}"


DIODE_INSTANCE_PARAMS = frozenset({"temp", "dtemp"})
"""Diode instance parameters besides AREA and M: the device temperature, modelled natively."""


@dataclass(frozen=True)
class VCVS(Element):
    """Voltage-controlled voltage source. Card: ``eNAME p n cp cn GAIN``.

    v(p) − v(n) = GAIN·(v(cp) − v(cn)).
    """

    pos: str = ""
    neg: str = ""
    ctrl_pos: str = ""
    ctrl_neg: str = ""
    gain: Value = 1.0

    letter: ClassVar[str] = "e"
    kind: ClassVar[str] = "VCVS"
    node_fields: ClassVar[tuple[str, ...]] = ("pos", "neg", "ctrl_pos", "ctrl_neg")
    constraints: ClassVar[dict[str, str]] = {"gain": "finite"}

    def spice_card(self) -> str:
        controls = f"{self.ctrl_pos} {self.ctrl_neg}"
        return f"{self.name} {self.pos} {self.neg} {controls} {_format(self.gain)}"


@dataclass(frozen=True)
class VCCS(Element):
    """Voltage-controlled current source. Card: ``gNAME p n cp cn GM``.

    A current GM·(v(cp)−v(cn)) flows from ``p`` through the source to ``n`` (leaves p, enters n).
    """

    pos: str = ""
    neg: str = ""
    ctrl_pos: str = ""
    ctrl_neg: str = ""
    transconductance: Value = 0.0

    letter: ClassVar[str] = "g"
    kind: ClassVar[str] = "VCCS"
    node_fields: ClassVar[tuple[str, ...]] = ("pos", "neg", "ctrl_pos", "ctrl_neg")
    constraints: ClassVar[dict[str, str]] = {"transconductance": "finite"}

    def spice_card(self) -> str:
        return (
            f"{self.name} {self.pos} {self.neg} {self.ctrl_pos} {self.ctrl_neg} "
            f"{_format(self.transconductance)}"
        )


@dataclass(frozen=True)
class CCCS(Element):
    """Current-controlled current source. Card: ``fNAME p n VCTRL GAIN``.

    A current GAIN·i(VCTRL) flows from ``p`` through the source to ``n``; VCTRL is a voltage source.
    """

    pos: str = ""
    neg: str = ""
    control: str = ""
    gain: Value = 1.0

    letter: ClassVar[str] = "f"
    kind: ClassVar[str] = "CCCS"
    node_fields: ClassVar[tuple[str, ...]] = ("pos", "neg")
    constraints: ClassVar[dict[str, str]] = {"gain": "finite"}

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "control", _control_name(self, self.control))

    def spice_card(self) -> str:
        return f"{self.name} {self.pos} {self.neg} {self.control} {_format(self.gain)}"


@dataclass(frozen=True)
class CCVS(Element):
    """Current-controlled voltage source. Card: ``hNAME p n VCTRL R``; v(p)−v(n) = R·i(VCTRL)."""

    pos: str = ""
    neg: str = ""
    control: str = ""
    transresistance: Value = 0.0

    letter: ClassVar[str] = "h"
    kind: ClassVar[str] = "CCVS"
    node_fields: ClassVar[tuple[str, ...]] = ("pos", "neg")
    constraints: ClassVar[dict[str, str]] = {"transresistance": "finite"}

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "control", _control_name(self, self.control))

    def spice_card(self) -> str:
        return f"{self.name} {self.pos} {self.neg} {self.control} {_format(self.transresistance)}"


@dataclass(frozen=True)
class Mosfet(Element):
    """MOSFET. Card: ``mNAME d g s b MODEL [W=..] [L=..] [m=.. ad=.. ...]``.

    Solved natively with ngspice's level 1 (Shichman–Hodges); other levels run on ngspice.
    ``w`` and ``l`` default to the model card's W and L, else ngspice's DEFW = DEFL = 100 µm,
    when ``None``. ``params`` keeps the other instance parameters (:data:`MOS_INSTANCE_PARAMS`).
    """

    drain: str = ""
    gate: str = ""
    source: str = ""
    bulk: str = ""
    model: str = ""
    w: Value | None = None
    l: Value | None = None
    params: dict[str, Value] = field(default_factory=dict)

    letter: ClassVar[str] = "m"
    kind: ClassVar[str] = "MOSFET"
    node_fields: ClassVar[tuple[str, ...]] = ("drain", "gate", "source", "bulk")
    constraints: ClassVar[dict[str, str]] = {}

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "model", model_name(self, self.model))
        for name in ("w", "l"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _check_value(self, name, "positive"))
        params = _checked_params(self, self.params, MOS_INSTANCE_PARAMS, ("w", "l"))
        object.__setattr__(self, "params", params)

    def __hash__(self) -> int:
        return hash((self.name, self.nodes, self.model, self.w, self.l))

    def values(self) -> dict[str, Value]:
        return {k: v for k, v in (("w", self.w), ("l", self.l)) if v is not None}

    def spice_card(self) -> str:
        sizes = "".join(f" {k}={_format(v)}" for k, v in self.values().items())
        nodes = f"{self.drain} {self.gate} {self.source} {self.bulk}"
        return f"{self.name} {nodes} {self.model}{sizes}{_params(self.params)}"


MOS_INSTANCE_PARAMS = frozenset({"m", "ad", "as", "pd", "ps", "nrd", "nrs", "temp", "dtemp"})
"""MOSFET instance parameters besides W and L (kept; ``m`` is solved natively)."""


@dataclass(frozen=True)
class SubcircuitInstance(Element):
    """Subcircuit call. Card: ``xNAME n1 n2 ... SUBCKT [param=value ...]``."""

    ports: tuple[str, ...] = ()
    subckt: str = ""
    params: dict[str, Value] = field(default_factory=dict)

    letter: ClassVar[str] = "x"
    kind: ClassVar[str] = "subcircuit instance"

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.ports, str) or not isinstance(self.ports, (tuple, list)):
            raise CircuitError(
                f"subcircuit instance {self.name}: ports must be a sequence of node names",
                element=self.name,
            )
        object.__setattr__(
            self, "ports", tuple(normalize_node(p, element=self.name) for p in self.ports)
        )
        object.__setattr__(self, "subckt", model_name(self, self.subckt, what="subcircuit"))
        params: dict[str, Value] = {}
        for key, value in dict(self.params).items():
            name = str(key).strip().lower()
            if not name.isidentifier() or not name.isascii():
                raise CircuitError(
                    f"subcircuit instance {self.name}: invalid parameter name {key!r} "
                    "(use letters, digits and _)",
                    element=self.name,
                )
            params[name] = _checked(value, self, f"parameter {name}", "finite")
        object.__setattr__(self, "params", params)

    @property
    def nodes(self) -> tuple[str, ...]:
        return self.ports

    def __hash__(self) -> int:
        return hash((self.name, self.ports, self.subckt, tuple(self.params.items())))

    def spice_card(self) -> str:
        params = "".join(f" {k}={_format(v)}" for k, v in self.params.items())
        return f"{self.name} {' '.join(self.ports)} {self.subckt}{params}"


def _checked_spec(element: VoltageSource | CurrentSource) -> str:
    spec = element.spec
    if not isinstance(spec, str):
        raise CircuitError(
            f"{element.kind} {element.name}: spec must be text such as 'pulse(0 1 1n) ac 1'; "
            f"got {spec!r}",
            element=element.name,
        )
    try:
        text = normalize_spec(spec)
    except ValueError as exc:
        raise CircuitError(f"{element.kind} {element.name}: {exc}", element=element.name) from None
    if isinstance(element, CurrentSource) and re.search(r"(?:^| )(?:r|td)=", text):
        raise CircuitError(
            f"{element.kind} {element.name}: PWL options r= and td= are for voltage sources "
            "only (ngspice 39: 'unknown parameter')",
            element=element.name,
        )
    return text


def _source_card(element: VoltageSource | CurrentSource) -> str:
    spec = f" {element.spec}" if element.spec else ""
    return f"{element.name} {element.pos} {element.neg} dc {_format(element.dc)}{spec}"


def _checked_params(
    element: Element,
    params: object,
    known: frozenset[str] | None = None,
    fields: tuple[str, ...] = (),
) -> dict[str, Value]:
    """Instance parameters ``name=value``: names are words, values numbers or expressions;
    with ``known``, a name outside it is refused with the list (``fields``, the element's own
    value fields, listed first)."""
    if not isinstance(params, dict):
        raise CircuitError(
            f"{element.kind} {element.name}: params must be a dict; got {params!r}",
            element=element.name,
        )
    checked: dict[str, Value] = {}
    for key, value in params.items():
        name = str(key).strip().lower()
        if not name.isidentifier():
            raise CircuitError(
                f"{element.kind} {element.name}: invalid parameter name {key!r} "
                "(use letters, digits and _)",
                element=element.name,
            )
        checked[name] = _checked(value, element, f"parameter {name}", "finite")
    unknown = sorted(set(checked) - known) if known is not None else []
    if unknown:
        raise CircuitError(
            f"{element.kind} {element.name}: unknown instance parameter {unknown[0]!r}; known: "
            f"{', '.join([*fields, *sorted(known or ())])}",
            element=element.name,
        )
    return checked


def _params(params: dict[str, Value]) -> str:
    return "".join(f" {k}={_format(v)}" for k, v in params.items())


def model_name(element: Element, name: object, what: str = "model") -> str:
    text = name.strip().lower() if isinstance(name, str) else ""
    if (
        not text
        or any(c in _NOT_IN_NAMES or not c.isprintable() for c in text)
        or text[0] in ".*+"
        or "//" in text
    ):
        raise CircuitError(
            f"{element.kind} {element.name}: needs a {what} name (one SPICE word); got {name!r}",
            element=element.name,
        )
    return text


def _control_name(element: Element, name: object) -> str:
    text = model_name(element, name, what="controlling voltage source")
    if not text.startswith("v"):
        raise CircuitError(
            f"{element.kind} {element.name}: the controlling element must be a voltage source "
            f"(name starting with 'v'); got {text!r}",
            element=element.name,
        )
    return text


ELEMENT_CLASSES: dict[str, type[Element]] = {
    cls.letter: cls
    for cls in (
        Resistor,
        Capacitor,
        Inductor,
        VoltageSource,
        CurrentSource,
        Diode,
        VCVS,
        VCCS,
        CCCS,
        CCVS,
        Mosfet,
        SubcircuitInstance,
    )
}
"""Element class by SPICE letter."""


def element_fields(cls: type[Element]) -> list[str]:
    """Constructor fields of an element class (for writers and fuzzers)."""
    return [f.name for f in fields(cls)]
