"""The device interface: what one device module declares, and what the rest of the package asks.

**Note for device authors (B sources and others).** A device is one module under
``circuitlearn/circuit/devices/`` that defines a :class:`Device` subclass and is named once in
:data:`circuitlearn.circuit.devices.DEVICES`. Nothing else changes: the netlist reader, the
flattener, the topology check, the MNA compiler, Newton, the learning phases (twin, AEP mirror),
power and applicability diagnostics all look devices up through the registry.

A device need not have a model or fixed terminals: its group (:class:`DeviceGroup`) reads any
entries of the *extended* vector (node voltages, internal nodes, and branch currents
``i(name)`` through :meth:`DeviceContext.branch`) and writes residual and Jacobian values at
fixed (row, column) positions. A behavioural source whose expression reads arbitrary node
voltages and branch currents declares those as the columns of its Jacobian entries; a device that
needs a branch-current unknown of its own (a ``V=`` source) asks for one with
:attr:`Device.own_branch`.

Layering: this module imports nothing above ``circuitlearn.circuit`` and not ``models.py`` (which
looks its tables up here); model objects reach a device as :class:`ModelCard`, the protocol that
:class:`~circuitlearn.circuit.models.Model` meets (``.name``, ``.kind``, ``.params``,
``.value()``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

from circuitlearn.circuit.elements import Element
from circuitlearn.circuit.expressions import Value

__all__ = [
    "CardReader",
    "Device",
    "DeviceContext",
    "DeviceGroup",
    "ModelCard",
    "ModelTable",
    "Series",
    "SeriesLaw",
]


@dataclass(frozen=True)
class ModelTable:
    """The ``.model`` parameters of one device family, as ngspice reads them.

    Parameters
    ----------
    kinds : tuple of str
        Model types (``d``; ``nmos``, ``pmos``; ``npn``, ``pnp``).
    family : str
        What the models describe, for messages ("diode", "MOSFET", "bipolar transistor").
    defaults : mapping
        DC parameters the native solver uses, with ngspice's defaults (``math.inf`` = off).
    ignored : frozenset
        Parameters ngspice knows that do not change a DC operating point (kept for round trips).
    unmodelled : frozenset
        Parameters that change a DC answer and the native solver does not model: a model giving
        one is refused natively (one line), and runs on ngspice.
    aliases : mapping
        ngspice's alternative names (``vaf`` → ``va`` ...), mapped to the canonical key.
    positive, nonnegative : frozenset
        Range checks (ngspice's, or what the native equations need), applied when built.
    native_levels : tuple of float
        ``level=`` values the native solver models; other levels are not checked for unknown
        parameters (their tables are ngspice's business) unless ``check_every_level``.
    """

    kinds: tuple[str, ...]
    family: str
    defaults: Mapping[str, float]
    ignored: frozenset[str] = frozenset()
    unmodelled: frozenset[str] = frozenset()
    aliases: Mapping[str, str] = field(default_factory=dict)
    positive: frozenset[str] = frozenset()
    nonnegative: frozenset[str] = frozenset()
    native_levels: tuple[float, ...] = (1.0,)
    check_every_level: bool = False

    @property
    def known(self) -> frozenset[str]:
        """Every parameter name ngspice reads for this family (``level`` included)."""
        return frozenset(self.defaults) | self.ignored | self.unmodelled | {"level"}

    def range_issue(self, key: str, value: float) -> str | None:
        """Why ``value`` is out of range for parameter ``key``, or ``None``."""
        if key in self.positive and not value > 0:
            return f"parameter {key} must be positive; got {value!r}"
        if key in self.nonnegative and value < 0:
            return f"parameter {key} must be ≥ 0; got {value!r}"
        return None


class ModelCard(Protocol):
    """A ``.model`` as a device reads it (:class:`circuitlearn.circuit.models.Model` is one;
    this package does not import it, since ``models.py`` looks its tables up here)."""

    name: str
    kind: str
    params: dict[str, Value]

    @property
    def polarity(self) -> int:
        """+1 for N-type devices, −1 for P-type."""

    def value(self, key: str) -> Value:
        """A parameter's value, given or the table's default."""

    def dc_params(self) -> dict[str, Value]:
        """Every DC parameter of the table, defaults filled in."""

    def native_issue(self) -> str | None:
        """Why the native solver cannot reproduce the model, or ``None``."""


@dataclass(frozen=True)
class Series:
    """A linear conductance [S] between two extended indices (a device's RS, RC, RE ...)."""

    a: int
    b: int
    conductance: float


@dataclass(frozen=True)
class SeriesLaw:
    """A series resistance that depends on the device's internal voltages, for
    ``explicit_series``: a resistor of ``resistance`` [Ω] in parallel with a behavioural current
    source carrying the rest of the current (the resistor keeps the node behind it on a DC path
    in every phase, the twin included, which replaces behavioural sources by controlled ones)."""

    resistance: float
    excess: Callable[[Mapping[str, str]], str]
    """Given the node of each terminal field once the series elements are explicit (field →
    node), the current [A] beyond the resistor's, from the terminal to the node behind it, as a
    B-source expression."""


class DeviceContext(Protocol):
    """What the MNA compiler tells a device while it compiles its group."""

    temperature: float
    """Circuit temperature [°C] (``.temp``)."""

    def index(self, node: str) -> int:
        """Extended index of a node (internal nodes ``name#suffix`` included)."""

    def branch(self, element: str) -> int:
        """Extended index of the branch current ``i(element)`` (a V, E, H, L or own branch)."""

    def model(self, name: str) -> ModelCard:
        """The flat circuit's ``.model`` named ``name``."""


class CardReader(Protocol):
    """What the netlist reader hands a device's card parser (tokens with ``text``, ``kind``
    ``"word"``/``"expr"``/``"punct"`` and ``is_word``)."""

    who: str
    """The element for messages, e.g. ``"diode d1"``."""
    positional: list[Any]
    """Tokens before the first ``name=value``."""
    keywords: dict[str, Any]
    """``name=value`` tokens by lower-cased name."""
    flags: set[str]
    """Words of :attr:`Device.flags` (``off``) that end the card or follow its ``name=value``
    parameters, taken out of the tokens above (a node may still be named ``off``)."""

    def error(self, message: str) -> Exception:
        """A located :class:`~circuitlearn.errors.NetlistError` to raise."""

    def nodes(self, count: int, usage: str) -> list[str]:
        """The first ``count`` positional tokens as node names (located error if missing)."""

    def model(self, index: int, usage: str) -> str:
        """Positional token ``index`` as a model name (refused when it reads as a number)."""

    def value(self, token: Any) -> Value:
        """A token as a number (engineering suffixes) or an expression."""

    def is_value(self, token: Any) -> bool:
        """Whether a token reads as a number or an expression."""

    def model_kind(self, name: str) -> str | None:
        """The type of the deck's ``.model`` named ``name`` (``None`` when there is none)."""

    def no_extra(self, rest: Sequence[Any], usage: str) -> None:
        """Refuse left-over positional tokens and unconsumed keywords."""


class DeviceGroup(Protocol):
    """Every element of one device type in a compiled circuit, as arrays (vectorised).

    ``residual_rows`` is made of ``len(terminals)`` blocks of ``len(names)`` rows; block k holds
    the current leaving the element's terminal ``terminals[k]`` (an internal node stands for
    its external terminal: the series resistance carries the same current). Blocks may repeat a
    terminal (a nonlinear base resistance: external and internal base rows).
    """

    names: list[str]
    terminals: tuple[str, ...]

    @property
    def residual_rows(self) -> np.ndarray: ...

    @property
    def jacobian_entries(self) -> tuple[np.ndarray, np.ndarray]: ...

    def raw_state(self, e: np.ndarray) -> dict[str, np.ndarray]:
        """Controlling voltages at ``e`` without limiting (a warm start's reference)."""

    def initial_state(self) -> dict[str, np.ndarray]:
        """ngspice's MODEINITJCT voltages; keys end in ``0`` (linearise there, no limiting)."""

    def evaluate(
        self, e: np.ndarray, old: Mapping[str, np.ndarray] | None, gmin: float = ...
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Companion values at ``e``, limited against ``old`` (``None``: no limiting).

        Returns the residual values (current leaving each of :attr:`residual_rows` [A], the
        companion model linearised at the limited voltages and evaluated at the raw ones), the
        Jacobian values (for :attr:`jacobian_entries` [S]), |current| per residual row (for
        relative tolerances), the limited state (next step's reference) and, per device,
        whether limiting changed a voltage.
        """


class Device(ABC):
    """One device type: card, model table, DC group, learning and diagnostic hooks.

    Subclasses set the class attributes and implement :meth:`read_card` and :meth:`compile`;
    the other hooks have defaults that suit a two-terminal reciprocal element.
    """

    letter: ClassVar[str]
    """SPICE letter of its cards (``d``, ``m``, ``q``, ``b``)."""
    element_class: ClassVar[type[Element]]
    """The frozen dataclass of its elements."""
    table: ClassVar[ModelTable | None] = None
    """Its ``.model`` parameters (``None``: the device takes no model)."""
    description: ClassVar[str] = ""
    """Plural noun for messages (``"diode(s)"``)."""
    reciprocal: ClassVar[bool] = True
    """True when its Jacobian stamps are symmetric: EP needs no mirror for it and the twin
    circuit may reuse a linear equivalent (:meth:`twin_elements`)."""
    nonlinear: ClassVar[bool] = True
    """False for devices whose DC law is linear (the conservation law can still apply)."""
    main_value: ClassVar[str | None] = None
    """The field ``--set NAME=VALUE`` changes (``area``), ``None`` when it has none."""
    alter_parameter: ClassVar[str | None] = None
    """The ngspice ``alter`` parameter for :attr:`main_value`."""
    own_branch: ClassVar[bool] = False
    """True when each element adds a branch-current unknown ``i(name)`` (a voltage law)."""
    flags: ClassVar[frozenset[str]] = frozenset()
    """Bare words its card may carry anywhere after the nodes, as ngspice's IF_FLAG
    parameters (``off``); the reader hands them over in :attr:`CardReader.flags`."""

    # -- circuit and netlist ------------------------------------------------------------------
    @abstractmethod
    def read_card(self, name: str, card: CardReader) -> Element:
        """Build an element from its card (tokens after the name)."""

    def read_text(self, name: str, text: str) -> Element | None:
        """Build an element from the card's whole text, for cards whose syntax the token reader
        cannot split (a B source's expression); ``None`` (the default) uses :meth:`read_card`.
        A ``CircuitError`` raised here is reported at the card's line."""
        return None

    def model_kinds(self) -> tuple[str, ...]:
        """Model types an element of this device may name (empty: no model)."""
        return self.table.kinds if self.table is not None else ()

    def has_branch(self, element: Element) -> bool:
        """Whether this element adds a branch-current unknown (default :attr:`own_branch`); its
        branch is also a voltage-defined branch for the source-loop check."""
        return self.own_branch

    def branch_controls(self, element: Element) -> set[str]:
        """Elements whose branch currents the element reads (their sources stay unknowns)."""
        return set()

    def flat_fields(
        self,
        element: Element,
        env: Mapping[str, float],
        node: Callable[[str], str],
        local: Callable[[str], str],
    ) -> dict[str, Any]:
        """Field changes for the flat copy besides nodes, name, model and params: what names
        nodes (renamed by ``node``) or elements (by ``local``) inside other fields, or holds
        ``.param`` expressions (values in ``env``). Default: nothing."""
        return {}

    def has_parameters(self, element: Element) -> bool:
        """Whether a field that :meth:`flat_fields` resolves still names ``.param`` values
        (the circuit then needs flattening before it is solved). Default: no."""
        return False

    def dc_paths(self, element: Element) -> list[tuple[str, str]]:
        """Node pairs the element connects at DC (topology: floating nodes)."""
        nodes = element.nodes
        return [(nodes[0], n) for n in nodes[1:]]

    # -- native solver ------------------------------------------------------------------------
    def native_issue(
        self, element: Element, model: ModelCard | None, temperature: float
    ) -> str | None:
        """Why the native solver cannot reproduce this element, or ``None`` (one line)."""
        return None if model is None else model.native_issue()

    def internal_nodes(self, element: Element, model: ModelCard | None) -> dict[str, str]:
        """Internal nodes ``name#suffix`` → the external node they stand behind."""
        return {}

    @abstractmethod
    def compile(
        self, elements: Sequence[Element], context: DeviceContext
    ) -> tuple[DeviceGroup, list[Series]]:
        """The group of ``elements`` and its linear series conductances."""

    # -- learning rules -----------------------------------------------------------------------
    def twin_elements(
        self, element: Element, model: ModelCard | None, jacobian: np.ndarray, tag: str
    ) -> list[Element] | None:
        """Linear elements whose stamps equal this element's Jacobian block (twin circuit).

        ``jacobian`` holds the element's values of the group's Jacobian entries (in order).
        ``None`` (the default for non-reciprocal devices) asks the caller to realise the
        transposed stamps with controlled sources instead.
        """
        return None

    def learning_entries(self, group: Any) -> np.ndarray | None:
        """Mask of the group's Jacobian entries the learning rules mirror (AEP) or transpose
        (twin) for a non-reciprocal device; ``None`` (the default): all of them."""
        return None

    def explicit_series(
        self, element: Element, model: ModelCard | None, temperature: float
    ) -> tuple[Mapping[str, float | SeriesLaw], tuple[str, ...]] | None:
        """The element's series resistances as the native device computes them, to be made
        explicit elements (``circuitlearn.learn.task.explicit_series``): ``({terminal field:
        resistance [Ω] (a resistor) or its :class:`SeriesLaw`}, model parameters to set to 0)``,
        or ``None`` when there are none. Default: none."""
        return None

    # -- diagnostics --------------------------------------------------------------------------
    def conduction(
        self, element: Element, model: ModelCard | None
    ) -> tuple[str, str, float] | None:
        """``(plus, minus, threshold)``: the element counts as conducting (it shapes the
        network's response) when V(plus) − V(minus) > threshold [V]; ``None`` (the default)
        when the notion does not apply. Used by the training diagnostics."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(letter={self.letter!r})"
