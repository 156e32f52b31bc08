"""The circuit container: elements, models, subcircuits and parameters, in insertion order.

A :class:`Circuit` is what users build, read from and write to netlists. Solvers work on its
*flat* form (:meth:`Circuit.flatten`): subcircuits expanded with ngspice's naming, expressions
evaluated, every model resolved.

Flattening names, as ngspice 39 does: element ``r1`` inside instance ``x1`` becomes ``r.x1.r1``
(letter, dot, instance path, dot, local name); internal node ``n1`` becomes ``x1.n1``; nested
instances give ``r.x2.x1.r1`` and ``x2.x1.n1``; a model local to a subcircuit becomes
``x2.x1:dm``. Ports map to the caller's nodes, ground stays ``0``.
"""

from __future__ import annotations

import copy as _copy
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from circuitlearn.circuit.devices import DEVICES
from circuitlearn.circuit.elements import (
    CCCS,
    CCVS,
    GROUND,
    VCCS,
    VCVS,
    CurrentSource,
    Element,
    Resistor,
    SubcircuitInstance,
    VoltageSource,
    normalize_node,
)
from circuitlearn.circuit.expressions import (
    DRAWS,
    MONTE_CARLO_SEED,
    Expression,
    StringParam,
    Value,
)
from circuitlearn.circuit.flatten import (
    MAX_FLAT_ELEMENTS,
    MAX_INSTANCE_DEPTH,
    check_expansion,
    expand,
    has_expression,
    model_needs_resolving,
    resolve_model,
    resolve_scope,
    validate_scope,
)
from circuitlearn.circuit.models import Model, check_word
from circuitlearn.circuit.units import format_value
from circuitlearn.errors import CircuitError

__all__ = [
    "MAIN_VALUE",
    "MAX_FLAT_ELEMENTS",
    "MAX_INSTANCE_DEPTH",
    "NOMINAL_TEMPERATURE",
    "Circuit",
    "Subcircuit",
]

NOMINAL_TEMPERATURE = 27.0
"""ngspice's default circuit and model temperature [°C] (TEMP = TNOM = 27 °C)."""


class Circuit:
    """A netlist as a Python object.

    Parameters
    ----------
    title : str
        First line of the netlist (SPICE ignores it as a card).

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> c = Circuit("divider")
    >>> c.add(VoltageSource("v1", "in", "0", 1.0))
    VoltageSource(name='v1', pos='in', neg='0', dc=1.0, spec='')
    >>> _ = c.add(Resistor("r1", "in", "out", 1e3)); _ = c.add(Resistor("r2", "out", "0", 1e3))
    >>> c.nodes
    ('in', 'out')
    >>> print(c.to_spice())
    divider
    v1 in 0 dc 1
    r1 in out 1000
    r2 out 0 1000
    .op
    .end
    """

    def __init__(self, title: str = "circuit") -> None:
        self.title = title
        self._elements: dict[str, Element] = {}
        self._nodes: tuple[str, ...] | None = None  # :attr:`nodes`, until the elements change
        self.models: dict[str, Model] = {}
        self.subcircuits: dict[str, Subcircuit] = {}
        self.params: dict[str, Value | StringParam] = {}
        self.origin: dict[str, int] = {}
        """Element name → netlist line it was read from (set by ``netlist.from_spice``)."""
        self.source_path: str | None = None
        """The netlist file this circuit was read from, if any."""
        self.ignored_cards: list[tuple[int, str]] = []
        """(line, card) of analysis/output cards the reader skipped (``.op``, ``.control``...)."""
        self.global_nodes: list[str] = []
        """Nodes named by ``.global``: the same node inside every subcircuit (never prefixed)."""
        self.temperature = NOMINAL_TEMPERATURE
        self.monte_carlo_seed = MONTE_CARLO_SEED
        """Seed of the Monte Carlo draws that :meth:`flatten` takes for each subcircuit instance
        (:attr:`Subcircuit.draws`); the reader sets it (``from_spice(seed=)``)."""
        self.options: dict[str, float | str | bool] = {}
        """The deck's ``.options`` (name → number, word, or ``True`` for a flag), written back by
        :meth:`to_spice`; the solvers honour or refuse them (see ``docs/netlist.md``)."""

    @property
    def title(self) -> str:
        """The netlist's first line; blank becomes ``"circuit"``, a line break is an error."""
        return self._title

    @title.setter
    def title(self, value: object) -> None:
        text = str(value)
        if len(text.splitlines()) > 1 or any(c in text for c in "\n\r\x00"):
            raise CircuitError(
                f"a title is one line of text; got {text[:60]!r} (remove its line breaks)"
            )
        self._title = text.strip() or "circuit"

    # -- building ---------------------------------------------------------------------------
    def add_global(self, node: str) -> None:
        """Declare a ``.global`` node: one node shared by the top level and every subcircuit."""
        name = normalize_node(node, element=".global")
        if name == GROUND:
            raise CircuitError(".global: ground (0) is already global")
        if name not in self.global_nodes:
            self.global_nodes.append(name)

    @property
    def temperature(self) -> float:
        """Circuit temperature [°C] (ngspice's ``.temp``, written back as ``.temp``)."""
        return self._temperature

    @temperature.setter
    def temperature(self, celsius: float) -> None:
        if isinstance(celsius, bool) or not isinstance(celsius, (int, float)):
            raise CircuitError(f"temperature must be a number [°C]; got {celsius!r}")
        try:
            value = float(celsius)
        except OverflowError:
            value = math.inf
        if not math.isfinite(value) or value <= -273.15:
            raise CircuitError(
                f"temperature must be finite and above -273.15 °C; got {repr(celsius)[:40]}"
            )
        self._temperature = value

    def set_temperature(self, celsius: float) -> None:
        """Set the circuit temperature [°C] (ngspice's ``.temp``)."""
        self.temperature = celsius

    def add(self, element: Element) -> Element:
        """Add an element; its name must be new in this circuit."""
        if not isinstance(element, Element):
            raise CircuitError(
                f"expected a circuit element (Resistor, Diode, ...); got {element!r}"
            )
        if element.name in self._elements:
            raise CircuitError(f"duplicate element name {element.name!r}", element=element.name)
        self._elements[element.name] = element
        self._nodes = None
        return element

    def extend(self, elements: Iterable[Element]) -> Circuit:
        """Add several elements; returns the circuit for chaining."""
        for element in elements:
            self.add(element)
        return self

    def add_model(self, model: Model) -> Model:
        """Add a ``.model``; its name must be new."""
        if model.name in self.models:
            raise CircuitError(f"duplicate model name {model.name!r}")
        self.models[model.name] = model
        return model

    def add_subcircuit(self, subcircuit: Subcircuit) -> Subcircuit:
        """Add a ``.subckt`` definition; its name must be new."""
        if subcircuit.name in self.subcircuits:
            raise CircuitError(f"duplicate subcircuit name {subcircuit.name!r}")
        self.subcircuits[subcircuit.name] = subcircuit
        return subcircuit

    def set_param(self, name: str, value: Value | StringParam | str) -> None:
        """Define or change a ``.param`` (numbers, expressions of earlier parameters, or a
        :class:`StringParam`)."""
        self.params[_param_name(name, ".param")] = _param_value(value, f".param {name}")

    def remove(self, name: str) -> Element:
        """Remove and return an element."""
        try:
            element = self._elements.pop(name.lower())
        except KeyError:
            raise CircuitError(f"no element named {name!r}", element=name) from None
        self._nodes = None
        return element

    def replace(self, element: Element) -> None:
        """Replace the element of the same name (keeps its position)."""
        if element.name not in self._elements:
            raise CircuitError(f"no element named {element.name!r}", element=element.name)
        self._elements[element.name] = element
        self._nodes = None

    def set_value(self, name: str, value: float) -> None:
        """Set an element's main value (R, V/I dc, gain...), as ``simulate --set`` does."""
        element = self[name]
        main = MAIN_VALUE.get(type(element))
        if main is None:
            raise CircuitError(
                f"{element.kind} {element.name} has no single value to set", element=element.name
            )
        self.replace(replace(element, **{main: value}))

    def copy(self) -> Circuit:
        """An independent copy: containers are copied, frozen elements and models are shared.

        Sharing the immutable elements makes copying a 10⁵-resistor network cheap (learning
        phases copy circuits often); subcircuit definitions, which are mutable, are deep-copied.
        """
        out = Circuit(self.title)
        out._elements = dict(self._elements)
        out._nodes = self._nodes
        out.models = dict(self.models)
        out.subcircuits = _copy.deepcopy(self.subcircuits)
        out.params = dict(self.params)
        out.origin = dict(self.origin)
        out.source_path = self.source_path
        out.ignored_cards = list(self.ignored_cards)
        out.options = dict(self.options)
        out.global_nodes = list(self.global_nodes)
        out.temperature = self.temperature
        out.monte_carlo_seed = self.monte_carlo_seed
        return out

    # -- reading ----------------------------------------------------------------------------
    @property
    def elements(self) -> tuple[Element, ...]:
        """All elements in insertion order."""
        return tuple(self._elements.values())

    def __getitem__(self, name: str) -> Element:
        try:
            return self._elements[name.lower()]
        except KeyError:
            raise CircuitError(f"no element named {name!r}", element=name) from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._elements

    def __iter__(self) -> Iterator[Element]:
        return iter(self._elements.values())

    def __len__(self) -> int:
        return len(self._elements)

    def __repr__(self) -> str:
        return f"Circuit({self.title!r}, {len(self)} elements, {len(self.nodes)} nodes)"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Circuit):
            return NotImplemented
        return (
            self.elements == other.elements
            and self.models == other.models
            and self.subcircuits == other.subcircuits
            and self.params == other.params
            and self.options == other.options
            and self.global_nodes == other.global_nodes
            and self.temperature == other.temperature
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def nodes(self) -> tuple[str, ...]:
        """Non-ground nodes in order of first appearance."""
        if self._nodes is None:  # elements are frozen: only add, remove and replace change it
            seen: dict[str, None] = {}
            for element in self._elements.values():
                for node in element.nodes:
                    if node != GROUND:
                        seen.setdefault(node, None)
            self._nodes = tuple(seen)
        return self._nodes

    def elements_of(self, *types: type[Element]) -> list[Element]:
        """Elements that are instances of any of ``types``."""
        return [e for e in self._elements.values() if isinstance(e, types)]

    def is_flat(self) -> bool:
        """True when there are no subcircuit instances and no unresolved expressions."""
        names = {*self.params, "temper"}
        return not any(
            isinstance(e, SubcircuitInstance) or has_expression(e) for e in self._elements.values()
        ) and not any(model_needs_resolving(m, names) for m in self.models.values())

    # -- checks and transformations ---------------------------------------------------------
    def validate(self) -> None:
        """Check references: models, subcircuits, controlling sources, parameter names.

        Raises
        ------
        CircuitError
            Naming the element and the missing reference.
        """
        validate_scope(
            self._elements.values(),
            self.models,
            self.subcircuits,
            set(self.params) | {"temper"},
            outer_models={},
            where="",
        )

    def flatten(self) -> Circuit:
        """The solver-ready form: subcircuits expanded, expressions evaluated, models resolved."""
        self.validate()
        check_expansion(self)
        # TEMPER is the circuit temperature [°C] in every expression (ngspice 39: .param, element
        # values, model parameters), unless a .param of that name replaces it
        env = resolve_scope(self.params, {"temper": self.temperature}, "the top level")
        # the instances' draws: a stream of their own, apart from the reader's (same seed)
        rng = np.random.default_rng(np.random.SeedSequence(self.monte_carlo_seed, spawn_key=(1,)))
        flat = Circuit(self.title)
        flat.monte_carlo_seed = self.monte_carlo_seed
        flat.temperature = self.temperature
        flat.options = dict(self.options)
        flat.source_path = self.source_path
        models = {name: resolve_model(m, env) for name, m in self.models.items()}
        expand(
            self,
            self._elements.values(),
            env,
            path=(),
            port_map={},
            models=models,
            subcircuits=self.subcircuits,
            flat=flat,
            stack=(),
            global_nodes=frozenset(self.global_nodes),
            draw=lambda kind: DRAWS[kind](rng),
        )
        for model in models.values():
            if model.name not in flat.models:
                flat.add_model(model)
        return flat

    @classmethod
    def from_pyspice(cls, circuit: Any, *, check: bool = False) -> Circuit:
        """Read a PySpice 1.5 ``Circuit`` through its netlist text (``str(circuit)``).

        See :func:`circuitlearn.solve.pyspice_adapter.from_pyspice` (imported here lazily: the
        circuit layer does not depend on PySpice or the reader).
        """
        from circuitlearn.solve.pyspice_adapter import from_pyspice

        return from_pyspice(circuit, check=check)

    def to_pyspice(self) -> Any:
        """This circuit as a PySpice 1.5 ``Circuit`` holding :meth:`to_spice`'s text as raw SPICE.

        See :func:`circuitlearn.solve.pyspice_adapter.to_pyspice` (imported lazily).
        """
        from circuitlearn.solve.pyspice_adapter import to_pyspice

        return to_pyspice(self)

    def to_spice(
        self,
        *,
        analysis: str | None = ".op",
        options: Mapping[str, float | str | bool] | None = None,
    ) -> str:
        """ngspice-runnable netlist text (title line first, ``.end`` last).

        Parameters
        ----------
        analysis : str or None
            Analysis card to include (``".op"`` by default; ``None`` for none).
        options : mapping, optional
            ``.options`` such as ``{"reltol": 1e-9}``, written over the circuit's own
            :attr:`options` (``True`` writes a flag, ``False`` leaves it out).
        """
        lines = [self.title]
        if self.global_nodes:
            lines.append(".global " + " ".join(self.global_nodes))
        if self.temperature != NOMINAL_TEMPERATURE:
            lines.append(f".temp {format_value(self.temperature)}")
        merged = {**self.options, **(options or {})}
        cards = [_option_text(k, v) for k, v in merged.items() if v is not False]
        if cards:
            lines.append(".options " + " ".join(cards))
        lines += [f".param {k}={_fmt(v)}" for k, v in self.params.items()]
        lines += [m.spice_card() for m in self.models.values()]
        for sub in self.subcircuits.values():
            lines += sub.spice_lines()
        lines += [e.spice_card() for e in self._elements.values()]
        if analysis:
            lines.append(analysis)
        lines.append(".end")
        for line in lines:  # nothing assigned after construction may add a card ngspice runs
            if len(line.splitlines()) > 1 or "\r" in line or "\n" in line:
                raise CircuitError(
                    f"to_spice: a line break inside {line[:60]!r} would start a new card; "
                    "names, values and the title must be one line"
                )
        return "\n".join(lines)


@dataclass
class Subcircuit:
    """A ``.subckt NAME ports... [param=default ...]`` definition.

    ``body`` is a :class:`Circuit` holding the subcircuit's elements, local models and ``.param``s.
    """

    name: str
    ports: tuple[str, ...]
    body: Circuit = field(default_factory=Circuit)
    params: dict[str, Value] = field(default_factory=dict)
    draws: dict[str, str] = field(default_factory=dict)
    """Monte Carlo draws of the body (placeholder parameter → kind, ``z`` ``u`` or ``s``, see
    :data:`~circuitlearn.circuit.expressions.DRAWS`): each instance draws its own when
    flattened, as ngspice 39 does."""

    def __post_init__(self) -> None:
        self.name = check_word(self.name, "subcircuit name")
        self.ports = tuple(normalize_node(p, element=f"subcircuit {self.name}") for p in self.ports)
        if GROUND in self.ports:
            raise CircuitError(f"subcircuit {self.name}: ground (0) cannot be a port")
        if len(set(self.ports)) != len(self.ports):
            raise CircuitError(f"subcircuit {self.name}: duplicate port names in {self.ports}")
        self.params = {
            _param_name(k, f"subcircuit {self.name}"): _param_value(v, f"subcircuit {self.name}")
            for k, v in dict(self.params).items()
        }

    def spice_lines(self) -> list[str]:
        """The definition as netlist lines, ``.subckt`` to ``.ends``."""
        # a written deck leaves the per-instance draws to its reader (ngspice draws its own):
        # defaults, first, as the .subckt line's own defaults may use them
        params = "".join(f" {k}={_DRAW_CALLS[kind]}" for k, kind in self.draws.items())
        params += "".join(f" {k}={_fmt(v)}" for k, v in self.params.items())
        lines = [f".subckt {self.name} {' '.join(self.ports)}{params}"]
        lines += [f".param {k}={_fmt(v)}" for k, v in self.body.params.items()]
        lines += [m.spice_card() for m in self.body.models.values()]
        for sub in self.body.subcircuits.values():
            lines += sub.spice_lines()
        lines += [e.spice_card() for e in self.body.elements]
        lines.append(f".ends {self.name}")
        return lines


_DRAW_CALLS = {"z": "{agauss(0, 1, 1)}", "u": "{aunif(0, 1)}", "s": "{limit(0, 1)}"}
"""The ngspice call that draws each kind of placeholder of :attr:`Subcircuit.draws`."""

MAIN_VALUE: dict[type[Element], str] = {
    Resistor: "resistance",
    VoltageSource: "dc",
    CurrentSource: "dc",
    VCVS: "gain",
    VCCS: "transconductance",
    CCCS: "gain",
    CCVS: "transresistance",
    **{d.element_class: d.main_value for d in DEVICES if d.main_value is not None},
}
"""The value ``--set NAME=VALUE`` changes, per element type."""


def _option_text(name: str, value: float | str | bool) -> str:
    if value is True:
        return name
    return f"{name}={value if isinstance(value, str) else format_value(value)}"


def _param_name(name: object, who: str) -> str:
    key = str(name).strip().lower()
    if not key.isidentifier() or not key.isascii():
        raise CircuitError(f"{who}: invalid parameter name {name!r} (use letters, digits and _)")
    return key


def _param_value(value: object, who: str) -> Value | StringParam:
    if isinstance(value, (Expression, StringParam)):
        return value
    try:
        if isinstance(value, str):
            return Expression(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number or an expression; got {value!r}")
        number = float(value)
    except (ValueError, OverflowError) as exc:
        raise CircuitError(f"{who}: {exc}") from None
    if not math.isfinite(number):
        raise CircuitError(f"{who}: value must be finite; got {value!r}")
    return number


def _fmt(value: Value | StringParam) -> str:
    return str(value) if isinstance(value, (Expression, StringParam)) else format_value(value)
