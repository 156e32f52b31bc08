"""Flattening: subcircuits expanded with ngspice 39's names, expressions evaluated.

The machinery behind :meth:`Circuit.flatten <circuitlearn.circuit.Circuit.flatten>` and
:meth:`Circuit.validate <circuitlearn.circuit.Circuit.validate>`: reference checks per scope, the
expansion limits checked before anything is expanded, and the recursive copy with flat names
(``r.x1.r1``, node ``x1.n1``, local model ``x1:dm``; ``.global`` nodes keep their name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from circuitlearn.circuit.devices import device_for
from circuitlearn.circuit.elements import (
    CCCS,
    CCVS,
    GROUND,
    Capacitor,
    CurrentSource,
    Element,
    Inductor,
    SubcircuitInstance,
    VoltageSource,
)
from circuitlearn.circuit.expressions import (
    Expression,
    StringParam,
    Value,
    evaluate,
    expression_names,
    param_value,
    resolve_params,
)
from circuitlearn.circuit.models import CODE_MODELS, Model, ModelText
from circuitlearn.circuit.opaque import CodeModelInstance, OpaqueElement, rename_ports
from circuitlearn.circuit.units import format_value
from circuitlearn.circuit.waveforms import resolve_spec
from circuitlearn.errors import CircuitError

if TYPE_CHECKING:
    from circuitlearn.circuit.circuit import Circuit, Subcircuit

__all__ = [
    "MAX_FLAT_ELEMENTS",
    "MAX_INSTANCE_DEPTH",
    "check_expansion",
    "expand",
    "has_expression",
    "resolve_model",
    "resolve_scope",
    "resolved_extras",
    "validate_scope",
]

MAX_FLAT_ELEMENTS = 1_000_000
"""Most elements :meth:`Circuit.flatten` creates (a few nested subcircuits multiply quickly)."""

MAX_INSTANCE_DEPTH = 100
"""Deepest chain of subcircuit instances :meth:`Circuit.flatten` expands."""


_NAMES_INSIDE = set("befgh")
"""Opaque cards whose text names nodes or elements (behavioural E/G/F/H: POLY, VALUE, TABLE;
B), renamed by :func:`behavioural_rest`. K and W name elements at fixed places."""

_POLY = re.compile(r"^poly\s*\(\s*(\d+)\s*\)\s*", re.IGNORECASE)
_POLY_TOKEN = re.compile(r"[(),]|[^\s(),]+")
_REFERENCE = re.compile(
    r"(?P<ref>\b(?P<kind>[vi])\s*\((?P<args>[^()]*)\))|(?P<name>\b[a-z_]\w*\b)(?!\s*\()",
    re.IGNORECASE,
)


def behavioural_rest(
    letter: str,
    rest: str,
    env: Mapping[str, float],
    node: Callable[[str], str],
    element: Callable[[str], str],
) -> str:
    """The text of a behavioural E/G/F/H (or B) card after its two nodes, as a flat deck needs
    it (ngspice renames the same way when it flattens): ``POLY(n)``'s controlling node pairs
    (E, G) or sources (F, H) renamed and its ``{}`` coefficients left to :func:`_evaluated_rest`;
    in any other form (``VALUE={...}``, ``TABLE {...} = ...``, ``V=...``), every ``v(a)``,
    ``v(a,b)`` node and ``i(vx)`` element renamed and every ``.param`` name given its value.

    Examples
    --------
    >>> node = lambda n: n if n == "0" else "x1." + n
    >>> behavioural_rest("e", "POLY(2) (a,0) b 0 0 1 {k}", {"k": 2.0}, node, str)
    'POLY(2) (x1.a,0) x1.b 0 0 1 {k}'
    >>> behavioural_rest("g", "VALUE={k*V(a,b)+I(vs)}", {"k": 2.0}, node, lambda e: "v.x1." + e)
    'VALUE={2*v(x1.a,x1.b)+i(v.x1.vs)}'
    """
    poly = _POLY.match(rest)
    if poly is not None:
        wanted = int(poly.group(1)) * (2 if letter in "eg" else 1)
        out, position, renamed = [rest[: poly.end()]], poly.end(), 0
        for match in _POLY_TOKEN.finditer(rest, poly.end()):
            if renamed == wanted:
                break
            out.append(rest[position : match.start()])
            text = match.group(0)
            if text not in "(),":
                text = node(text.lower()) if letter in "eg" else element(text.lower())
                renamed += 1
            out.append(text)
            position = match.end()
        if renamed < wanted:
            raise ValueError(f"POLY({poly.group(1)}) needs {wanted} controlling names")
        return "".join(out) + rest[position:]

    def rename(match: re.Match[str]) -> str:
        if match["ref"]:
            args = [a.strip().lower() for a in match["args"].split(",")]
            names = [node(a) for a in args] if match["kind"].lower() == "v" else [element(args[0])]
            return f"{match['kind'].lower()}({','.join(names)})"
        name = match["name"]
        return format_value(env[name.lower()]) if name.lower() in env else name

    return _REFERENCE.sub(rename, rest)


def check_expansion(circuit: Circuit) -> None:
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
                continue  # unknown or recursive: validate() and expand() report those
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


def has_expression(element: Element) -> bool:
    """True when a value, an instance parameter or a source specification holds an expression."""
    return (
        any(isinstance(v, Expression) for v in element.values().values())
        or "{" in getattr(element, "spec", "")
        or (
            (isinstance(element, (Capacitor, Inductor)) or device_for(element) is not None)
            and any(isinstance(v, Expression) for v in getattr(element, "params", {}).values())
        )
        or (device_for(element) is not None and device_for(element).has_parameters(element))
    )


def resolved_extras(element: Element, env: Mapping[str, float]) -> dict[str, Any]:
    """Source specifications and C/L/M instance parameters with their expressions evaluated."""
    if isinstance(element, (VoltageSource, CurrentSource)) and "{" in element.spec:
        return {"spec": resolve_spec(element.spec, env)}
    if (isinstance(element, (Capacitor, Inductor)) or device_for(element) is not None) and getattr(
        element, "params", None
    ):
        return {
            "params": {
                k: v.evaluate(env) if isinstance(v, Expression) else v
                for k, v in element.params.items()
            }
        }
    return {}


def resolve_scope(
    params: Mapping[str, Value | StringParam], outer: Mapping[str, float | str], where: str
) -> dict[str, float | str]:
    try:
        return resolve_params(params, outer)
    except ValueError as exc:
        raise CircuitError(f".param in {where}: {exc}") from None


def model_needs_resolving(model: Model, names: Collection[str]) -> bool:
    """Whether :func:`resolve_model` would change ``model`` in a scope defining ``names``."""
    code = model.kind in CODE_MODELS
    return any(
        isinstance(v, Expression) or (code and isinstance(v, ModelText) and v.lower() in names)
        for v in model.params.values()
    )


def resolve_model(model: Model, env: Mapping[str, float | str]) -> Model:
    """``model`` with its expressions evaluated in ``env``; a code model's parameter that names
    a parameter (``table_values=table``, or ``{table}``) takes its value, a string parameter's
    text too, as ngspice 39's numparam substitutes it."""
    code = model.kind in CODE_MODELS

    def value(v: Any) -> Any:
        if code and isinstance(v, ModelText) and v.lower() in env:
            v = Expression(v)
        if not isinstance(v, Expression):
            return v
        resolved = param_value(v, env) if code else v.evaluate(env)
        return ModelText(resolved) if isinstance(resolved, str) else resolved

    if not model_needs_resolving(model, env):
        return model
    try:
        params = {k: value(v) for k, v in model.params.items()}
    except ValueError as exc:
        raise CircuitError(f"model {model.name}: {exc}") from None
    return replace(model, params=params)


def validate_scope(
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
        device = device_for(element)
        if device is not None and device.model_kinds():
            model = models.get(element.model) or outer_models.get(element.model)
            if model is None:
                bins = _bins(element.model, {**outer_models, **models})
                model = bins[0] if bins else None
            if model is None:
                raise CircuitError(
                    f"{who}: unknown model {element.model!r} (add a .model card)",
                    element=element.name,
                )
            wanted = device.model_kinds()
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


def expand(
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
    draw: Callable[[str], float],
) -> None:
    """Recursively copy ``elements`` into ``flat`` with ngspice names and evaluated values;
    ``draw(kind)`` gives each subcircuit instance its own Monte Carlo draws."""
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
            changes.update(resolved_extras(element, env))
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
            drawn = {name: draw(kind) for name, kind in sub.draws.items()}
            defaults = resolve_scope(sub.params, {**env, **drawn}, f"subcircuit {sub.name}")
            inner_env = dict(defaults)
            for key, value in element.params.items():
                try:
                    inner_env[key] = param_value(value, env)
                except ValueError as exc:
                    raise CircuitError(
                        f"{element.kind} {element.name}: {key}: {exc}", element=element.name
                    ) from None
            # as in ngspice, an instance value also replaces a .param of the body of that name
            body = {k: v for k, v in sub.body.params.items() if k not in element.params}
            inner_env = resolve_scope(body, inner_env, f"subcircuit {sub.name}")
            inner_models = dict(models)
            inner_path = (element.name, *path)
            for model in sub.body.models.values():
                resolved = resolve_model(model, inner_env)
                # ngspice 39 names a local model "x2.x1:dl" (instance path, colon, model name)
                inner_models[model.name] = replace(
                    resolved, name=f"{'.'.join(reversed(inner_path))}:{model.name}"
                )
            validate_scope(
                sub.body.elements,
                inner_models,
                {**subcircuits, **sub.body.subcircuits},
                set(inner_env),
                outer_models={},
                where=f" in subcircuit {sub.name}",
            )
            ports = {p: node(n) for p, n in zip(sub.ports, element.ports, strict=True)}
            expand(
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
                draw=draw,
            )
            continue
        for node_field in element.node_fields:
            changes[node_field] = node(getattr(element, node_field))
        changes["name"] = local(element.name)
        device = device_for(element)
        if device is not None:
            try:
                changes.update(device.flat_fields(element, env, node, local))
            except ValueError as exc:
                raise CircuitError(
                    f"{element.kind} {element.name}: {exc}", element=element.name
                ) from None
        if isinstance(element, (CCCS, CCVS)):
            changes["control"] = local(element.control)
        if isinstance(element, OpaqueElement):
            changes["terminals"] = tuple(node(n) for n in element.terminals)
            rest = element.rest
            if element.name[0] in _NAMES_INSIDE:
                try:
                    rest = behavioural_rest(element.name[0], rest, env, node, local)
                except ValueError as exc:
                    raise CircuitError(
                        f"{element.kind} {element.name}"
                        f"{f' in subcircuit {scope.title}' if path else ''}: {exc}",
                        element=element.name,
                    ) from None
            rest = _evaluated_rest(rest, env)
            if path and element.name[0] in "kw":
                rest = _renamed_rest(replace(element, rest=rest), local, models, flat)
            changes["rest"] = rest
            if isinstance(element, CodeModelInstance):
                changes["ports"] = rename_ports(element.ports, node, local)
        if getattr(element, "model", ""):
            if element.model in models:
                model = models[element.model]
            else:
                model = _select_bin(element, changes, models, flat.options.get("scale", 1.0))
            changes["model"] = model.name
            if model.name not in flat.models:
                flat.add_model(model)
        try:
            flat.add(element if _unchanged(element, changes) else replace(element, **changes))
        except CircuitError as exc:
            raise CircuitError(
                f"{exc} (while expanding {scope.title if not path else 'instance ' + path[0]})",
                element=element.name,
            ) from None


def _unchanged(element: Element, changes: Mapping[str, Any]) -> bool:
    """Whether flattening leaves ``element`` as it is (a top-level element with numeric values):
    then the frozen element itself goes into the flat circuit, without a validated copy (most
    of the flattening time of a network of 10⁵ resistors)."""
    for key, value in changes.items():
        old = getattr(element, key)
        if old is value:
            continue
        if type(old) is not type(value) or isinstance(old, Expression):
            return False
        try:
            if not bool(old == value):
                return False
        except (TypeError, ValueError):  # e.g. arrays: compare by identity only
            return False
    return True


def _bins(name: str, models: Mapping[str, Model]) -> list[Model]:
    """The binned models ``name.1``, ``name.2`` ... of a model name, as ngspice names them."""
    prefix = f"{name}."
    return [
        model
        for key, model in models.items()
        if key.startswith(prefix) and key[len(prefix) :].isdigit()
    ]


_BIN_DEFAULTS = {"lmin": 0.0, "lmax": 1.0, "wmin": 0.0, "wmax": 1.0}
"""ngspice's bin bounds when a binned model card omits them [m]."""


def _select_bin(
    element: Element, changes: Mapping[str, Any], models: Mapping[str, Model], scale: object
) -> Model:
    """The bin of a binned model (``nch.1``, ``nch.2`` ...) whose LMIN <= L < LMAX and
    WMIN <= W < WMAX hold for the element's L and W (100 µm when not given), as ngspice picks it:
    with ``.options scale`` the card's L and W are multiplied by it first (``inpgmod.c``)."""
    if not isinstance(scale, (int, float)) or isinstance(scale, bool):
        raise CircuitError(f".options scale={scale!r}: expected a number", element=element.name)
    size = {}
    for key in ("l", "w"):
        value = changes.get(key, getattr(element, key, None))
        size[key] = 100e-6 if value is None else float(value) * scale
    for model in _bins(element.model, models):
        bound = {k: float(model.params.get(k, v)) for k, v in _BIN_DEFAULTS.items()}
        if (
            bound["lmin"] <= size["l"] < bound["lmax"]
            and bound["wmin"] <= size["w"] < bound["wmax"]
        ):
            return model
    scaled = f" (.options scale={scale:g})" if scale != 1.0 else ""
    raise CircuitError(
        f"{element.kind} {element.name}: no bin of model {element.model} holds "
        f"l={size['l']:g} w={size['w']:g}{scaled} (binned models {element.model}.1, .2 ...)",
        element=element.name,
    )


_BRACED = re.compile(r"\{([^{}]*)\}")


def _evaluated_rest(rest: str, env: Mapping[str, float]) -> str:
    """An opaque card's text with each ``{expr}`` of parameters replaced by its value in ``env``
    (the flat deck has no ``.param`` cards, and inside a subcircuit the values are per instance,
    e.g. K's coupling ``{l12/sqrt(l11*l22)}``); a brace naming anything else stays as written."""

    def value(match: re.Match[str]) -> str:
        text = match.group(1)
        try:
            if not expression_names(text) <= set(env):
                return match.group(0)
            return format_value(evaluate(text, env))
        except ValueError:
            return match.group(0)

    return _BRACED.sub(value, rest)


def _renamed_rest(
    element: OpaqueElement,
    local: Callable[[str], str],
    models: Mapping[str, Model],
    flat: Circuit,
) -> str:
    """The rest of a K or W card inside a subcircuit with ngspice's flat names: K's two
    inductors (``l.x1.l1``), W's controlling source (``v.x1.vs``) and its local switch model."""
    words = element.rest.split()
    count = 2 if element.name[0] == "k" else 1
    if len(words) < count + (element.name[0] == "w"):
        raise CircuitError(
            f"{element.kind} {element.name}: expected "
            + ("two inductor names and a coupling" if count == 2 else "a source and a model"),
            element=element.name,
        )
    words[:count] = [local(word.lower()) for word in words[:count]]
    if element.name[0] == "w" and words[1].lower() in models:
        model = models[words[1].lower()]
        words[1] = model.name
        if model.name not in flat.models:
            flat.add_model(model)
    return " ".join(words)
