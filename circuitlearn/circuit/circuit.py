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

from circuitlearn.circuit.elements import (
    CCCS,
    CCVS,
    GROUND,
    VCCS,
    VCVS,
    Capacitor,
    CurrentSource,
    Diode,
    Element,
    Inductor,
    Mosfet,
    OpaqueElement,
    Resistor,
    SubcircuitInstance,
    VoltageSource,
    normalize_node,
)
from circuitlearn.circuit.expressions import Expression, Value, expression_names, resolve_params
from circuitlearn.circuit.models import Model, check_word
from circuitlearn.circuit.units import format_value
from circuitlearn.circuit.waveforms import resolve_spec
from circuitlearn.errors import CircuitError

__all__ = [
    "MAIN_VALUE",
    "MAX_FLAT_ELEMENTS",
    "MAX_INSTANCE_DEPTH",
    "NOMINAL_TEMPERATURE",
    "Circuit",
    "Subcircuit",
]

MAX_FLAT_ELEMENTS = 1_000_000
"""Most elements :meth:`Circuit.flatten` creates (a few nested subcircuits multiply quickly)."""

MAX_INSTANCE_DEPTH = 100
"""Deepest chain of subcircuit instances :meth:`Circuit.flatten` expands."""

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
        self.models: dict[str, Model] = {}
        self.subcircuits: dict[str, Subcircuit] = {}
        self.params: dict[str, Value] = {}
        self.origin: dict[str, int] = {}
        """Element name → netlist line it was read from (set by ``netlist.from_spice``)."""
        self.source_path: str | None = None
        """The netlist file this circuit was read from, if any."""
        self.ignored_cards: list[tuple[int, str]] = []
        """(line, card) of analysis/output cards the reader skipped (``.op``, ``.control``...)."""
        self.global_nodes: list[str] = []
        """Nodes named by ``.global``: the same node inside every subcircuit (never prefixed)."""
        self.temperature: float = NOMINAL_TEMPERATURE
        """Circuit temperature [°C] set by ``.temp``; written back as ``.temp``."""
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

    def set_temperature(self, celsius: float) -> None:
        """Set the circuit temperature [°C] (ngspice's ``.temp``)."""
        if isinstance(celsius, bool) or not isinstance(celsius, (int, float)):
            raise CircuitError(f"temperature must be a number [°C]; got {celsius!r}")
        value = float(celsius)
        if not math.isfinite(value) or value <= -273.15:
            raise CircuitError(f"temperature must be finite and above -273.15 °C; got {celsius!r}")
        self.temperature = value

    def add(self, element: Element) -> Element:
        """Add an element; its name must be new in this circuit."""
        if not isinstance(element, Element):
            raise CircuitError(
                f"expected a circuit element (Resistor, Diode, ...); got {element!r}"
            )
        if element.name in self._elements:
            raise CircuitError(f"duplicate element name {element.name!r}", element=element.name)
        self._elements[element.name] = element
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

    def set_param(self, name: str, value: Value | str) -> None:
        """Define or change a ``.param`` (numbers or expressions of earlier parameters)."""
        self.params[_param_name(name, ".param")] = _param_value(value, f".param {name}")

    def remove(self, name: str) -> Element:
        """Remove and return an element."""
        try:
            return self._elements.pop(name.lower())
        except KeyError:
            raise CircuitError(f"no element named {name!r}", element=name) from None

    def replace(self, element: Element) -> None:
        """Replace the element of the same name (keeps its position)."""
        if element.name not in self._elements:
            raise CircuitError(f"no element named {element.name!r}", element=element.name)
        self._elements[element.name] = element

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
        out.models = dict(self.models)
        out.subcircuits = _copy.deepcopy(self.subcircuits)
        out.params = dict(self.params)
        out.origin = dict(self.origin)
        out.source_path = self.source_path
        out.ignored_cards = list(self.ignored_cards)
        out.options = dict(self.options)
        out.global_nodes = list(self.global_nodes)
        out.temperature = self.temperature
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
        seen: dict[str, None] = {}
        for element in self._elements.values():
            for node in element.nodes:
                if node != GROUND:
                    seen.setdefault(node, None)
        return tuple(seen)

    def elements_of(self, *types: type[Element]) -> list[Element]:
        """Elements that are instances of any of ``types``."""
        return [e for e in self._elements.values() if isinstance(e, types)]

    def is_flat(self) -> bool:
        """True when there are no subcircuit instances and no unresolved expressions."""
        return not any(
            isinstance(e, SubcircuitInstance) or _has_expression(e) for e in self._elements.values()
        ) and not any(
            isinstance(v, Expression) for m in self.models.values() for v in m.params.values()
        )

    # -- checks and transformations ---------------------------------------------------------
    def validate(self) -> None:
        """Check references: models, subcircuits, controlling sources, parameter names.

        Raises
        ------
        CircuitError
            Naming the element and the missing reference.
        """
        _validate_scope(
            self._elements.values(),
            self.models,
            self.subcircuits,
            set(self.params),
            outer_models={},
            where="",
        )

    def flatten(self) -> Circuit:
        """The solver-ready form: subcircuits expanded, expressions evaluated, models resolved."""
        self.validate()
        _check_expansion(self)
        env = _resolve(self.params, {}, "the top level")
        flat = Circuit(self.title)
        flat.temperature = self.temperature
        flat.options = dict(self.options)
        flat.source_path = self.source_path
        models = {name: _resolve_model(m, env) for name, m in self.models.items()}
        _expand(
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
        params = "".join(f" {k}={_fmt(v)}" for k, v in self.params.items())
        lines = [f".subckt {self.name} {' '.join(self.ports)}{params}"]
        lines += [f".param {k}={_fmt(v)}" for k, v in self.body.params.items()]
        lines += [m.spice_card() for m in self.body.models.values()]
        for sub in self.body.subcircuits.values():
            lines += sub.spice_lines()
        lines += [e.spice_card() for e in self.body.elements]
        lines.append(f".ends {self.name}")
        return lines


_NAMES_INSIDE = set("befghkw")
"""Opaque cards whose text names nodes or elements (B/E/G/F/H expressions and POLY, K, W)."""

MAIN_VALUE: dict[type[Element], str] = {
    Resistor: "resistance",
    VoltageSource: "dc",
    CurrentSource: "dc",
    VCVS: "gain",
    VCCS: "transconductance",
    CCCS: "gain",
    CCVS: "transresistance",
    Diode: "area",
}
"""The value ``--set NAME=VALUE`` changes, per element type."""


def _option_text(name: str, value: float | str | bool) -> str:
    if value is True:
        return name
    return f"{name}={value if isinstance(value, str) else format_value(value)}"


def _check_expansion(circuit: Circuit) -> None:
    """Refuse, before expanding anything, a hierarchy deeper than :data:`MAX_INSTANCE_DEPTH` or
    one that flattens to more than :data:`MAX_FLAT_ELEMENTS`, naming the chain of instances."""
    sizes: dict[int, tuple[int, tuple[str, ...]]] = {}

    def size(
        elements: Iterable[Element], subcircuits: Mapping[str, Subcircuit], chain: tuple[str, ...]
    ) -> tuple[int, tuple[str, ...]]:
        total, heaviest, heaviest_chain = 0, 0, ()
        for element in elements:
            if not isinstance(element, SubcircuitInstance):
                total += 1
                continue
            sub = subcircuits.get(element.subckt)
            link = f"{element.name} ({element.subckt})"
            if sub is None or any(link.endswith(f"({sub.name})") for link in chain):
                continue  # unknown or recursive: validate() and _expand() report those
            if len(chain) >= MAX_INSTANCE_DEPTH:
                raise CircuitError(
                    f"subcircuit instances nested more than {MAX_INSTANCE_DEPTH} deep: "
                    f"{' -> '.join(chain[:4])} -> ... -> {link}",
                    element=chain[0].split()[0],
                )
            if id(sub) not in sizes:
                inner = {**subcircuits, **sub.body.subcircuits}
                sizes[id(sub)] = size(sub.body.elements, inner, (*chain, link))
            count, below = sizes[id(sub)]
            total += count
            if count > heaviest:
                heaviest, heaviest_chain = count, (link, *below)
            if total > MAX_FLAT_ELEMENTS:
                path = " -> ".join((*chain, *heaviest_chain))
                raise CircuitError(
                    f"flattening would create more than {MAX_FLAT_ELEMENTS:,} elements "
                    f"(each level multiplies the one below): {path}",
                    element=(chain or heaviest_chain)[0].split()[0],
                )
        return total, heaviest_chain

    size(circuit.elements, circuit.subcircuits, ())


def _param_name(name: object, who: str) -> str:
    key = str(name).strip().lower()
    if not key.isidentifier() or not key.isascii():
        raise CircuitError(f"{who}: invalid parameter name {name!r} (use letters, digits and _)")
    return key


def _param_value(value: object, who: str) -> Value:
    if isinstance(value, Expression):
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


def _fmt(value: Value) -> str:
    return str(value) if isinstance(value, Expression) else format_value(value)


def _has_expression(element: Element) -> bool:
    """True when a value, an instance parameter or a source specification holds an expression."""
    return (
        any(isinstance(v, Expression) for v in element.values().values())
        or "{" in getattr(element, "spec", "")
        or (
            isinstance(element, (Capacitor, Inductor, Mosfet))
            and any(isinstance(v, Expression) for v in element.params.values())
        )
    )


def _resolved_extras(element: Element, env: Mapping[str, float]) -> dict[str, Any]:
    """Source specifications and C/L/M instance parameters with their expressions evaluated."""
    if isinstance(element, (VoltageSource, CurrentSource)) and "{" in element.spec:
        return {"spec": resolve_spec(element.spec, env)}
    if isinstance(element, (Capacitor, Inductor, Mosfet)) and element.params:
        return {
            "params": {
                k: v.evaluate(env) if isinstance(v, Expression) else v
                for k, v in element.params.items()
            }
        }
    return {}


def _resolve(
    params: Mapping[str, Value], outer: Mapping[str, float], where: str
) -> dict[str, float]:
    try:
        return resolve_params(params, outer)
    except ValueError as exc:
        raise CircuitError(f".param in {where}: {exc}") from None


def _resolve_model(model: Model, env: Mapping[str, float]) -> Model:
    if not any(isinstance(v, Expression) for v in model.params.values()):
        return model
    try:
        params = {
            k: (v.evaluate(env) if isinstance(v, Expression) else v)
            for k, v in model.params.items()
        }
    except ValueError as exc:
        raise CircuitError(f"model {model.name}: {exc}") from None
    return replace(model, params=params)


def _validate_scope(
    elements: Iterable[Element],
    models: Mapping[str, Model],
    subcircuits: Mapping[str, Subcircuit],
    params: set[str],
    *,
    outer_models: Mapping[str, Model],
    where: str,
) -> None:
    elements = list(elements)
    names = {e.name for e in elements}
    for element in elements:
        who = f"{element.kind} {element.name}{where}"
        if (
            isinstance(element, OpaqueElement)
            and element.model
            and element.model not in models
            and element.model not in outer_models
        ):
            raise CircuitError(
                f"{who}: unknown model {element.model!r} (add a .model card)",
                element=element.name,
            )
        if isinstance(element, (Diode, Mosfet)):
            model = models.get(element.model) or outer_models.get(element.model)
            if model is None:
                raise CircuitError(
                    f"{who}: unknown model {element.model!r} (add a .model card)",
                    element=element.name,
                )
            wanted = ("d",) if isinstance(element, Diode) else ("nmos", "pmos")
            if model.kind not in wanted:
                raise CircuitError(
                    f"{who}: model {model.name} is a {model.kind} model; "
                    f"expected {' or '.join(wanted)}",
                    element=element.name,
                )
        if isinstance(element, (CCCS, CCVS)) and element.control not in names:
            raise CircuitError(
                f"{who}: controlling voltage source {element.control!r} not found",
                element=element.name,
            )
        if isinstance(element, SubcircuitInstance):
            sub = subcircuits.get(element.subckt)
            if sub is None:
                raise CircuitError(
                    f"{who}: unknown subcircuit {element.subckt!r} (add a .subckt definition)",
                    element=element.name,
                )
            if len(sub.ports) != len(element.ports):
                raise CircuitError(
                    f"{who}: subcircuit {sub.name} has {len(sub.ports)} ports; "
                    f"got {len(element.ports)} nodes",
                    element=element.name,
                )
            unknown = set(element.params) - set(sub.params) - set(sub.body.params)
            if unknown:
                raise CircuitError(
                    f"{who}: subcircuit {sub.name} has no parameter(s) "
                    f"{', '.join(sorted(unknown))}",
                    element=element.name,
                )
        for key, value in element.values().items():
            if isinstance(value, Expression):
                missing = expression_names(value.text) - params
                if missing:
                    raise CircuitError(
                        f"{who}: {key} uses unknown parameter(s) {', '.join(sorted(missing))}",
                        element=element.name,
                    )


def _expand(
    scope: Circuit,
    elements: Iterable[Element],
    env: Mapping[str, float],
    *,
    path: tuple[str, ...],
    port_map: Mapping[str, str],
    models: Mapping[str, Model],
    subcircuits: Mapping[str, Subcircuit],
    flat: Circuit,
    stack: tuple[str, ...],
    global_nodes: frozenset[str],
) -> None:
    """Recursively copy ``elements`` into ``flat`` with ngspice names and evaluated values."""
    prefix = ".".join(reversed(path))

    def node(name: str) -> str:
        if name == GROUND or name in global_nodes:
            return name
        if name in port_map:
            return port_map[name]
        return f"{prefix}.{name}" if prefix else name

    def local(name: str) -> str:
        return f"{name[0]}.{prefix}.{name}" if prefix else name

    for element in elements:
        changes: dict[str, Any] = {}
        for key, value in element.values().items():
            if isinstance(value, Expression):
                try:
                    changes[key] = value.evaluate(env)
                except ValueError as exc:
                    raise CircuitError(
                        f"{element.kind} {element.name}: {key}: {exc}", element=element.name
                    ) from None
        try:
            changes.update(_resolved_extras(element, env))
        except ValueError as exc:
            who = f"{element.kind} {element.name}"
            raise CircuitError(f"{who}: {exc}", element=element.name) from None
        if isinstance(element, SubcircuitInstance):
            sub = subcircuits[element.subckt]
            if sub.name in stack:
                raise CircuitError(
                    f"subcircuit {sub.name} instantiates itself (through {' -> '.join(stack)})",
                    element=element.name,
                )
            defaults = _resolve(sub.params, env, f"subcircuit {sub.name}")
            inner_env = dict(defaults)
            for key, value in element.params.items():
                try:
                    inner_env[key] = (
                        value.evaluate(env) if isinstance(value, Expression) else float(value)
                    )
                except ValueError as exc:
                    raise CircuitError(
                        f"{element.kind} {element.name}: {key}: {exc}", element=element.name
                    ) from None
            # as in ngspice, an instance value also replaces a .param of the body of that name
            body = {k: v for k, v in sub.body.params.items() if k not in element.params}
            inner_env = _resolve(body, inner_env, f"subcircuit {sub.name}")
            inner_models = dict(models)
            inner_path = (element.name, *path)
            for model in sub.body.models.values():
                resolved = _resolve_model(model, inner_env)
                # ngspice 39 names a local model "x2.x1:dl" (instance path, colon, model name)
                inner_models[model.name] = replace(
                    resolved, name=f"{'.'.join(reversed(inner_path))}:{model.name}"
                )
            _validate_scope(
                sub.body.elements,
                inner_models,
                {**subcircuits, **sub.body.subcircuits},
                set(inner_env),
                outer_models={},
                where=f" in subcircuit {sub.name}",
            )
            ports = {p: node(n) for p, n in zip(sub.ports, element.ports, strict=True)}
            _expand(
                sub.body,
                sub.body.elements,
                inner_env,
                path=inner_path,
                port_map=ports,
                models=inner_models,
                subcircuits={**subcircuits, **sub.body.subcircuits},
                flat=flat,
                stack=(*stack, sub.name),
                global_nodes=global_nodes,
            )
            continue
        for node_field in element.node_fields:
            changes[node_field] = node(getattr(element, node_field))
        changes["name"] = local(element.name)
        if isinstance(element, (CCCS, CCVS)):
            changes["control"] = local(element.control)
        if isinstance(element, OpaqueElement):
            if path and element.name[0] in _NAMES_INSIDE:
                raise CircuitError(
                    f"{element.kind} {element.name} in subcircuit {scope.title}: its card names "
                    "nodes or elements that cannot be renamed when flattening (use it at the "
                    "top level)",
                    element=element.name,
                )
            changes["terminals"] = tuple(node(n) for n in element.terminals)
        if isinstance(element, (Diode, Mosfet)) or getattr(element, "model", ""):
            model = models[element.model]
            changes["model"] = model.name
            if model.name not in flat.models:
                flat.add_model(model)
        try:
            flat.add(replace(element, **changes))
        except CircuitError as exc:
            raise CircuitError(
                f"{exc} (while expanding {scope.title if not path else 'instance ' + path[0]})",
                element=element.name,
            ) from None
