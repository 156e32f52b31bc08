"""Behavioural sources for the native solver: B-source expressions compiled to array code.

Each expression tree (:mod:`circuitlearn.circuit.behavioral`) is reduced to a *shape*: its
structure with the controlling quantities (``v(node)``, ``i(element)``) numbered ``x0, x1, ...``
and its numbers lifted out as per-element constants. B elements that share a shape (an EBANA
layer of identical activations with different nodes and coefficients) are evaluated together:
one compiled closure per shape maps the controlling values of all its elements, ``X[..., e, k]``,
to the values and their exact gradients ∂f/∂x_k (forward mode), with no Python work per
element. Batches (leading axes of ``X``) come for free.

Every function and operator follows ngspice 39's B-source code (``ptfuncs.c`` for values,
``inpptree.c``'s ``PTdifferentiate`` for derivatives, ``asrcload.c`` for the stamps):

- ``a/b`` divides by b ± 1e-32 (``PTfudge_factor`` = gmin·1e-20), so 1/0 is 1e32, not an error;
- ``a^b``, ``a**b`` and ``pow(a, b)`` are |a|^b; ``pwr(a, b)`` is sgn(a)·|a|^b;
- ``exp(u)`` is 1e99 above u = 227.9559242 (its derivative too); ``ln(0)`` and ``log10(0)`` are
  −1e99; ``ln``, ``log10`` and ``sqrt`` of a negative number stop the solve with a
  :class:`~circuitlearn.errors.CircuitError` naming the element (ngspice: "out of range");
- ``sin``, ``cos`` reduce their argument modulo 2π and ``tan`` modulo π first, as ngspice does;
- ``u(0)`` = 0.5, d/du ``uramp`` = ``u``, the derivatives of ``u``, comparisons, ``floor``,
  ``ceil``, ``nint`` are 0, those of ``min``/``max`` follow the branch taken, ``pwl``
  extrapolates its end segments and its slope at a breakpoint is the right segment's;
- a ternary evaluates both branches but only the taken one's errors count.

Values are then scaled by the instance factor (``m``, ``tc1``/``tc2``; see
:data:`~circuitlearn.circuit.behavioral.B_INSTANCE_PARAMS`). There is no junction limiting: ngspice
has none for B sources either.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from circuitlearn.circuit.behavioral import BehavioralSource, Node
from circuitlearn.circuit.behavioral_compile import (
    DIVISION_FUDGE,
    ERRORS,
    EXP_CAP_ARG,
    Compiled,
    compile_shape,
)
from circuitlearn.errors import CircuitError

__all__ = [
    "DIVISION_FUDGE",
    "EXP_CAP_ARG",
    "BehavioralGroup",
    "build_behavioral_group",
    "compile_shape",
    "evaluate_expression",
    "instance_factor",
]


@dataclass
class _Block:
    """Elements sharing one shape: their compiled function and index arrays."""

    function: Compiled
    elements: np.ndarray  # positions in the group
    variables: np.ndarray  # (n_e, n_vars) extended indices of the controlling quantities
    constants: np.ndarray  # (n_e, n_consts)
    slots: np.ndarray  # (n_e, n_vars) positions in the group's flat gradient vector


@dataclass
class BehavioralGroup:
    """All B elements of a circuit: fixed stamp positions and the compiled shapes.

    Terminal and variable indices point into the extended vector (unknowns, fixed nodes, ground);
    ``branch`` is the branch-current unknown of each V= element (−1 for I= elements). Residual
    rows: the current leaving n+ into each element (f for I=, its branch current for V=), the
    same at n− with the opposite sign, then v(n+) − v(n−) − f in the branch row of each V=
    element. Jacobian: ±∂f/∂x_k at (n±, x_k) for I=, the ±1 incidence and −∂f/∂x_k at
    (branch, x_k) for V=.
    """

    names: list[str]
    expressions: list[str]
    is_voltage: np.ndarray
    pos: np.ndarray
    neg: np.ndarray
    branch: np.ndarray
    factor: np.ndarray
    blocks: list[_Block]
    var_rows: np.ndarray  # flat gradient position -> element position
    var_cols: np.ndarray  # flat gradient position -> extended column
    terminals: tuple[str, ...] = ("pos", "neg")
    _layout: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        voltage = self.is_voltage
        self._layout = {
            "v_elements": np.flatnonzero(voltage),
            "i_slots": np.flatnonzero(~voltage[self.var_rows]),
            "v_slots": np.flatnonzero(voltage[self.var_rows]),
        }

    @property
    def residual_rows(self) -> np.ndarray:
        """Extended rows of the residual values returned by :meth:`evaluate`."""
        return np.concatenate([self.pos, self.neg, self.branch[self._layout["v_elements"]]])

    @property
    def jacobian_entries(self) -> tuple[np.ndarray, np.ndarray]:
        """Extended (rows, cols) of the Jacobian values returned by :meth:`evaluate`."""
        i_s, v_s, v_el = (
            self._layout["i_slots"],
            self._layout["v_slots"],
            self._layout["v_elements"],
        )
        p, n, k = self.pos[v_el], self.neg[v_el], self.branch[v_el]
        owner = self.var_rows
        rows = [self.pos[owner[i_s]], self.neg[owner[i_s]], p, n, k, k, self.branch[owner[v_s]]]
        cols = [self.var_cols[i_s], self.var_cols[i_s], k, k, p, n, self.var_cols[v_s]]
        return np.concatenate(rows), np.concatenate(cols)

    @property
    def control_mask(self) -> np.ndarray:
        """True for the Jacobian entries that are derivatives of an expression (not the ±1
        incidence of V= branches): the part the learning rules mirror or transpose."""
        i_s, v_s = self._layout["i_slots"], self._layout["v_slots"]
        n_v = len(self._layout["v_elements"])
        return np.concatenate(
            [np.ones(2 * len(i_s), bool), np.zeros(4 * n_v, bool), np.ones(len(v_s), bool)]
        )

    def raw_state(self, e: np.ndarray) -> dict[str, np.ndarray]:
        """No limited quantities (ngspice limits no B source)."""
        return {}

    def initial_state(self) -> dict[str, np.ndarray]:
        """No starting junction voltages: a cold start evaluates at the given x."""
        return {}

    def values(self, e: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expression values f (factor applied) per element, and the flat gradient ∂f/∂x_k
        (``var_rows``/``var_cols`` order), at the extended vector ``e``."""
        lead = e.shape[:-1]
        f = np.empty((*lead, len(self.names)))
        grad = np.zeros((*lead, len(self.var_rows)))
        for block in self.blocks:
            x = e[..., block.variables]
            with np.errstate(all="ignore"):
                value, gradient, bad = block.function(x, block.constants)
            value = np.broadcast_to(value, x.shape[:-1])
            if bad is not None and np.any(bad):
                self._raise(block, np.broadcast_to(bad, x.shape[:-1]))
            scale = self.factor[block.elements]
            f[..., block.elements] = value * scale
            if gradient is not None and block.slots.size:
                grad[..., block.slots.ravel()] = (gradient * scale[:, None]).reshape(*lead, -1)
        if not np.all(np.isfinite(f)) or not np.all(np.isfinite(grad)):
            n, n_vars = len(self.names), len(self.var_rows)
            bad = ~np.isfinite(f.reshape(-1, n)).all(axis=0)
            bad[self.var_rows[~np.isfinite(grad.reshape(-1, n_vars)).all(axis=0)]] = True
            index = int(np.flatnonzero(bad)[0])
            raise CircuitError(
                f"behavioural source {self.names[index]}: {self.expressions[index]!r} does not "
                "give a finite value or derivative at a Newton iterate (overflow, 0 to a negative "
                "power, or a function outside its domain)",
                element=self.names[index],
            )
        return f, grad

    def evaluate(
        self, e: np.ndarray, old: Mapping[str, np.ndarray] | None, gmin: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Residual values, Jacobian values, magnitudes, state ({}) and limited flags (none).

        See :meth:`circuitlearn.solve.devices.DiodeGroup.evaluate` for the contract.
        """
        f, grad = self.values(e)
        v_el = self._layout["v_elements"]
        i_s, v_s = self._layout["i_slots"], self._layout["v_slots"]
        k = self.branch[v_el]
        current = f.copy()
        current[..., v_el] = e[..., k]
        vp, vn = e[..., self.pos[v_el]], e[..., self.neg[v_el]]
        f_v = f[..., v_el]
        res = np.concatenate([current, -current, vp - vn - f_v], axis=-1)
        g_i = grad[..., i_s]
        ones = np.ones((*e.shape[:-1], len(v_el)))
        jac = np.concatenate([g_i, -g_i, ones, -ones, ones, -ones, -grad[..., v_s]], axis=-1)
        size = np.abs(current)
        mag = np.concatenate([size, size, np.abs(vp) + np.abs(vn) + np.abs(f_v)], axis=-1)
        return res, jac, mag, {}, np.zeros((*e.shape[:-1], 1), dtype=bool)

    def _raise(self, block: _Block, bad: np.ndarray) -> None:
        flat = bad.reshape(-1, bad.shape[-1])
        column = int(np.flatnonzero(flat.any(axis=0))[0])
        code = int(flat[:, column].max())
        index = int(block.elements[column])
        name = self.names[index]
        raise CircuitError(
            f"behavioural source {name}: {ERRORS[code]} in {self.expressions[index]!r} at a "
            "Newton iterate (ngspice stops with 'out of range' there too); keep the argument "
            "in range, e.g. with max() or a ternary",
            element=name,
        )


def instance_factor(element: BehavioralSource, temperature: float) -> float:
    """The factor ngspice's ``asrcload.c`` applies to a B source's value and derivatives.

    (1 + tc1·ΔT + tc2·ΔT²), inverted with ``reciproctc=1``, times ``m`` (divided with
    ``reciprocm=1``); ΔT = (``temp`` or the circuit temperature) + ``dtemp`` − 27 °C [K].
    """
    p = {k: float(v) for k, v in element.params.items()}
    delta = p.get("temp", temperature) + p.get("dtemp", 0.0) - 27.0
    factor = 1.0 + p.get("tc1", 0.0) * delta + p.get("tc2", 0.0) * delta * delta
    if p.get("reciproctc", 0.0) == 1.0:
        factor = 1.0 / factor
    m = p.get("m", 1.0)
    return factor / m if p.get("reciprocm", 0.0) == 1.0 else factor * m


def build_behavioral_group(
    elements: Sequence[BehavioralSource],
    index: Callable[[str], int],
    branch: Callable[[str], int],
    temperature: float,
) -> BehavioralGroup:
    """The B elements of a flat circuit as a :class:`BehavioralGroup`.

    ``index`` maps a node to its extended index, ``branch`` an element to the extended index of
    its branch current (both raise ``KeyError`` for unknown names); ``temperature`` [°C] is the
    circuit's (``temper``, ``tc1``/``tc2``).

    Raises
    ------
    CircuitError
        A ``v()`` of a node the circuit does not have, an ``i()`` of an element without a branch
        current, or an unresolved ``.param`` name, naming the element.
    """
    by_shape: dict[tuple, list[tuple[int, list[int], list[float]]]] = {}
    var_rows: list[int] = []
    var_cols: list[int] = []
    slots: dict[int, list[int]] = {}
    currents = {e.name: e for e in elements if e.quantity == "i"}
    for position, element in enumerate(elements):
        refs: list[Node] = []
        consts: list[float] = []
        try:
            tree = _inline_currents(element.tree, currents, temperature, (element.name,))
            key = _canonical(tree, refs, consts, temperature)
        except CircuitError as exc:
            raise CircuitError(
                f"behavioural source {element.name}: {exc}", element=element.name
            ) from None
        columns = [_column(element, ref, index, branch) for ref in refs]
        slots[position] = list(range(len(var_rows), len(var_rows) + len(columns)))
        var_rows += [position] * len(columns)
        var_cols += columns
        by_shape.setdefault(key, []).append((position, columns, consts))
    blocks = []
    for key, members in by_shape.items():
        positions = np.array([m[0] for m in members], dtype=int)
        blocks.append(
            _Block(
                compile_shape(key),
                positions,
                np.array([m[1] for m in members], dtype=int).reshape(len(members), -1),
                np.array([m[2] for m in members], dtype=float).reshape(len(members), -1),
                np.array([slots[p] for p in positions], dtype=int).reshape(len(members), -1),
            )
        )
    return BehavioralGroup(
        [e.name for e in elements],
        [e.expression for e in elements],
        np.array([e.quantity == "v" for e in elements], dtype=bool),
        np.array([index(e.pos) for e in elements], dtype=int),
        np.array([index(e.neg) for e in elements], dtype=int),
        np.array([branch(e.name) if e.quantity == "v" else -1 for e in elements], dtype=int),
        np.array([instance_factor(e, temperature) for e in elements], dtype=float),
        blocks,
        np.array(var_rows, dtype=int),
        np.array(var_cols, dtype=int),
    )


def evaluate_expression(
    tree: Node, values: Mapping[tuple[str, str], float], temperature: float = 27.0
) -> tuple[float, dict[tuple[str, str], float]]:
    """Value and gradient of one expression at given controlling values (a reference helper).

    ``values`` maps ``("v", node)`` and ``("i", element)`` to numbers; the gradient has the same
    keys.

    Examples
    --------
    >>> from circuitlearn.circuit.behavioral import parse_b_expression
    >>> value, grad = evaluate_expression(parse_b_expression("v(a)^2 + 3*v(a,b)"),
    ...                                   {("v", "a"): 2.0, ("v", "b"): 1.0})
    >>> value, grad[("v", "a")], grad[("v", "b")]
    (7.0, 7.0, -3.0)
    """
    refs: list[Node] = []
    consts: list[float] = []
    key = _canonical(tree, refs, consts, temperature)
    x = np.array([[values[(r[0], r[1])] for r in refs]], dtype=float).reshape(1, len(refs))
    c = np.array([consts], dtype=float).reshape(1, len(consts))
    with np.errstate(all="ignore"):
        value, grad, bad = compile_shape(key)(x, c)
    if bad is not None and np.any(bad):
        raise CircuitError(f"{ERRORS[int(np.max(bad))]} in B-source expression")
    value = float(np.broadcast_to(value, (1,))[0])
    gradient = np.zeros((1, len(refs))) if grad is None else grad
    return value, {(r[0], r[1]): float(gradient[0, k]) for k, r in enumerate(refs)}


def _inline_currents(
    node: Node,
    currents: Mapping[str, BehavioralSource],
    temperature: float,
    chain: tuple[str, ...],
) -> Node:
    """``i(bX)`` of an ``I=`` B source replaced by its current, factor × expression (ngspice
    measures it with a 0 V source in series: the same value, +f from n+ into the source)."""
    kind = node[0]
    if kind == "i" and node[1] in currents:
        if node[1] in chain:
            raise CircuitError(
                f"i({node[1]}) depends on itself through {' -> '.join((*chain, node[1]))}"
            )
        source = currents[node[1]]
        inner = _inline_currents(source.tree, currents, temperature, (*chain, node[1]))
        return ("bin", "*", ("num", instance_factor(source, temperature)), inner)
    if kind == "neg":
        return ("neg", _inline_currents(node[1], currents, temperature, chain))
    if kind == "bin":
        left = _inline_currents(node[2], currents, temperature, chain)
        return ("bin", node[1], left, _inline_currents(node[3], currents, temperature, chain))
    if kind == "chain":
        first = _inline_currents(node[2], currents, temperature, chain)
        terms = tuple((op, _inline_currents(t, currents, temperature, chain)) for op, t in node[3])
        return ("chain", node[1], first, terms)
    if kind == "call":
        args = tuple(_inline_currents(a, currents, temperature, chain) for a in node[2])
        return ("call", node[1], args)
    if kind == "tern":
        return ("tern", *(_inline_currents(a, currents, temperature, chain) for a in node[1:]))
    if kind == "pwl":
        return ("pwl", _inline_currents(node[1], currents, temperature, chain), node[2])
    return node


def _column(
    element: BehavioralSource,
    ref: Node,
    index: Callable[[str], int],
    branch: Callable[[str], int],
) -> int:
    try:
        return index(ref[1]) if ref[0] == "v" else branch(ref[1])
    except (KeyError, CircuitError):
        pass
    if ref[0] == "v":
        raise CircuitError(
            f"behavioural source {element.name}: v({ref[1]}): the circuit has no node {ref[1]!r}",
            element=element.name,
        )
    raise CircuitError(
        f"behavioural source {element.name}: i({ref[1]}): {ref[1]!r} is not an element with a "
        "branch current (V, E, H, L or a B source)",
        element=element.name,
    )


def _canonical(node: Node, refs: list[Node], consts: list[float], temperature: float) -> tuple:
    """The shape of ``node``: controlling quantities → ("x", k), numbers → ("c", j)."""
    kind = node[0]
    if kind == "num":
        consts.append(float(node[1]))
        return ("c", len(consts) - 1)
    if kind in ("v", "i"):
        ref = (kind, node[1])
        if ref not in refs:
            refs.append(ref)
        return ("x", refs.index(ref))
    if kind == "temper":
        consts.append(float(temperature))
        return ("c", len(consts) - 1)
    if kind in ("time", "hertz"):
        consts.append(0.0)
        return ("c", len(consts) - 1)
    if kind in ("param", "brace"):
        raise CircuitError(
            f"unresolved parameter {node[1]!r} in its expression (flatten the circuit first)"
        )
    if kind == "neg":
        return ("neg", _canonical(node[1], refs, consts, temperature))
    if kind == "bin":
        return (
            "bin",
            node[1],
            _canonical(node[2], refs, consts, temperature),
            _canonical(node[3], refs, consts, temperature),
        )
    if kind == "chain":
        first = _canonical(node[2], refs, consts, temperature)
        terms = tuple((op, _canonical(t, refs, consts, temperature)) for op, t in node[3])
        return ("chain", node[1], first, terms)
    if kind == "call":
        return ("call", node[1], tuple(_canonical(a, refs, consts, temperature) for a in node[2]))
    if kind == "tern":
        return ("tern", *(_canonical(a, refs, consts, temperature) for a in node[1:]))
    # pwl: the points must be constants; they are part of the shape
    points = []
    for point in node[2]:
        inner_refs: list[Node] = []
        inner: list[float] = []
        shape = _canonical(point, inner_refs, inner, temperature)
        if inner_refs:
            raise CircuitError("pwl(x, x1, y1, ...): the points must be constants")
        with np.errstate(all="ignore"):
            value = compile_shape(shape)(np.zeros((1, 0)), np.array([inner]))[0]
        points.append(float(np.broadcast_to(value, (1,))[0]))
    xs = points[0::2]
    if any(b <= a for a, b in itertools.pairwise(xs)):
        raise CircuitError("pwl(x, x1, y1, ...): the abscissae must be ascending")
    return ("pwl", _canonical(node[1], refs, consts, temperature), tuple(points))
