"""Compile a circuit into a fixed-pattern sparse MNA system: :func:`compile_circuit`.

The unknown vector x holds the voltages of the nodes that are not fixed (circuit nodes, then
internal nodes of series resistances), then the branch currents ``i(name)`` of voltage-defined
elements (V sources that are not eliminated, E, H). A node driven by a grounded V source is
*fixed*: it is an input, not an unknown, and the source's current is recovered after the solve
from KCL at that node.

Residual r(x): KCL rows = sum of currents *leaving* the node; branch rows = the element's voltage
law (V: v_p − v_n − V; E: v_p − v_n − gain·(v_cp − v_cn); H: v_p − v_n − R·i_ctrl); the branch
current i_b flows from p through the element to n (+i_b in row p, −i_b in row n). All stamps are
index arrays computed once; an evaluation only refills values (see ``docs/architecture.md``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from circuitlearn.circuit import (
    CCCS,
    CCVS,
    GROUND,
    VCCS,
    VCVS,
    Circuit,
    CurrentSource,
    Diode,
    Mosfet,
    Resistor,
    VoltageSource,
    check_topology,
)
from circuitlearn.errors import CircuitError
from circuitlearn.solve.devices import GMIN, build_groups
from circuitlearn.solve.layered import SchurPlan
from circuitlearn.solve.result import OperatingPoint

__all__ = [
    "DENSE_INPUT_LIMIT",
    "Evaluation",
    "MNASystem",
    "SourceValues",
    "compile_circuit",
]

DENSE_INPUT_LIMIT = 4_000_000
"""Largest (unknown rows × fixed nodes) block kept dense for batched source evaluation (used
when ≥ 5 % full, e.g. the input crossbar of a layered network); batched sources then cover only
the unknown rows."""

_MAIN_VALUE = {
    Resistor: "resistance",
    VoltageSource: "dc",
    CurrentSource: "dc",
    VCVS: "gain",
    VCCS: "transconductance",
    CCCS: "gain",
    CCVS: "transresistance",
}


def compile_circuit(circuit: Circuit) -> MNASystem:
    """Flatten ``circuit``, check its topology and build its :class:`MNASystem`.

    Raises
    ------
    CircuitError
        Floating nodes, voltage-source loops, invalid MOSFET geometry (naming the culprit).

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> c = Circuit(); _ = c.add(VoltageSource("v1", "in", "0", 2.0))
    >>> _ = c.add(Resistor("r1", "in", "out", 1e3)); _ = c.add(Resistor("r2", "out", "0", 1e3))
    >>> system = compile_circuit(c)
    >>> system.unknowns, system.fixed_nodes
    (['out'], {'in': ('v1', 2.0)})
    """
    return MNASystem(circuit)


@dataclass
class SourceValues:
    """Independent-source data of one evaluation (1-D, or one row per sample)."""

    tail: np.ndarray
    """Extended-vector tail: fixed-node voltages [V], then ground (0)."""
    const: np.ndarray
    """Residual part that does not depend on x (fixed nodes and sources), extended rows."""
    const_abs: np.ndarray
    """Its magnitudes, for relative residual tolerances."""


@dataclass
class Evaluation:
    """One evaluation of the (companion) system at x: what a Newton iteration needs."""

    residual: np.ndarray
    """r at the unknown rows [A or V]."""
    jacobian_data: np.ndarray | None
    """Values of K on the fixed CSC pattern (last axis); ``None`` when not requested."""
    scale: np.ndarray
    """Per-row sum of |terms| (for relative residual tolerances)."""
    extended_residual: np.ndarray
    """Residual on the extended rows (fixed nodes and ground included when evaluated ``full``)."""
    state: dict[str, dict[str, np.ndarray]]
    """Limited device voltages, per group ("d", "m")."""
    limited: np.ndarray
    """Whether any device was limited (per sample in a batch)."""


class MNASystem:
    """The native MNA form of a flat circuit; see :func:`compile_circuit` and the module notes.

    Attributes
    ----------
    circuit : Circuit
        The flat circuit (kept in step by :meth:`set_values`).
    unknowns : list of str
        Labels of x: node names, then ``i(name)`` for branch currents.
    node_index, branch_index : dict
        Unknown node → index; element with a branch current → index.
    fixed_nodes : dict
        Node → (source name, voltage [V]) for nodes eliminated by a grounded V source.
    resistor_names : list of str
        Resistors in circuit order (the order of :attr:`conductances`).
    """

    def __init__(self, circuit: Circuit) -> None:
        flat = _flat_copy(circuit)
        check_topology(flat)
        self.circuit = flat
        self._build_indices(flat)
        self._build_linear(flat)
        self._build_devices(flat)
        self._build_pattern()

    # -- public API ---------------------------------------------------------------------------
    @property
    def n(self) -> int:
        """Number of unknowns."""
        return len(self.unknowns)

    @property
    def is_linear(self) -> bool:
        """True when the circuit has no diode or MOSFET."""
        return not self.groups

    @property
    def conductances(self) -> np.ndarray:
        """Resistor conductances [S] in :attr:`resistor_names` order (a copy)."""
        return self._params[self._resistor_params].copy()

    @conductances.setter
    def conductances(self, values: np.ndarray) -> None:
        self.set_conductances(values)

    def set_conductances(self, values: np.ndarray, *, sync_circuit: bool = True) -> None:
        """Set every resistor's conductance [S] (:attr:`resistor_names` order).

        ``sync_circuit=False`` skips rewriting the elements of :attr:`circuit` (much faster on
        large circuits in training loops; :attr:`circuit` then keeps the compiled values).
        """
        values = np.asarray(values, dtype=float)
        if (
            values.shape != self._resistor_params.shape
            or not np.all(values > 0)
            or not np.all(np.isfinite(values))
        ):
            raise CircuitError(
                f"conductances: expected {len(self._resistor_params)} positive finite values [S]; "
                f"got shape {values.shape}"
            )
        self._params[self._resistor_params] = values
        if sync_circuit:
            for name, g in zip(self.resistor_names, values, strict=True):
                self.circuit.replace(self.circuit[name].with_conductance(float(g)))
        self._values_changed()

    def set_values(self, mapping: Mapping[str, float], *, sync_circuit: bool = True) -> None:
        """Change element main values (R [Ω], V/I dc, E/F gain, G [S], H [Ω]) without recompiling.

        ``sync_circuit=False`` skips rewriting the elements of :attr:`circuit` (values are still
        validated as numbers; see :meth:`set_conductances`).
        """
        for name, value in mapping.items():
            key = name.lower()
            slot = self._value_slot(name)
            element = self.circuit[key]
            value = float(value)
            if sync_circuit or isinstance(element, Resistor):  # validates (R > 0, finite)
                new = element.with_values(**{_MAIN_VALUE[type(element)]: value})
                if sync_circuit:
                    self.circuit.replace(new)
            self._params[slot] = 1.0 / value if isinstance(element, Resistor) else value
        self._values_changed()

    def value_index(self, names: Sequence[str]) -> np.ndarray:
        """Positions of the main values of elements ``names``, for :meth:`set_values_at`.

        Computed once, the index lets a training loop assign thousands of values per step in one
        vectorised write instead of a lookup per name.

        Raises
        ------
        CircuitError
            An unknown element, or one whose value cannot change after compilation (D, M).
        """
        return np.fromiter((self._value_slot(name) for name in names), dtype=int, count=len(names))

    def set_values_at(self, index: np.ndarray, values: np.ndarray) -> None:
        """Set main values by a :meth:`value_index` index (units as :meth:`set_values`).

        The vectorised form of ``set_values(..., sync_circuit=False)``: :attr:`circuit` keeps
        its compiled values of these elements.

        Raises
        ------
        CircuitError
            ``index`` not from :meth:`value_index`, a shape mismatch, or a resistance that is
            not positive and finite (naming the resistor).
        """
        index = np.asarray(index, dtype=int)
        values = np.asarray(values, dtype=float)
        if index.ndim != 1 or values.shape != index.shape:
            raise CircuitError(
                f"set_values_at: expected one value per index entry ({index.shape}); "
                f"got shape {values.shape}"
            )
        if index.size and (
            index.min() < 0 or index.max() >= len(self._params) or not self._settable[index].all()
        ):
            raise CircuitError("set_values_at: index is not from MNASystem.value_index")
        resistor = self._is_resistor_slot[index]
        if resistor.any():
            ohms = values[resistor]
            bad = ~((ohms > 0) & np.isfinite(ohms))
            if bad.any():  # the resistor's own check raises, naming it
                slot = int(index[resistor][bad][0])
                name = next(k for k, v in self._value_param.items() if v == slot)
                self.circuit[name].with_values(resistance=float(ohms[bad][0]))
            values = values.copy()
            values[resistor] = 1.0 / ohms
        self._params[index] = values
        self._values_changed()

    def copy(self, *, circuit: Circuit | None = None) -> MNASystem:
        """A copy that shares the compiled pattern and owns its values.

        Much cheaper than compiling again (no flattening, topology check or stamping): the copy
        changes values independently of this system.

        Parameters
        ----------
        circuit : Circuit, optional
            The copy's :attr:`circuit`: this system's flat circuit with at most other element
            values (e.g. already updated by the caller, then mirrored with
            ``sync_circuit=False``). Default: a copy of :attr:`circuit` sharing its elements.

        Raises
        ------
        CircuitError
            ``circuit`` has another number of elements than this system's circuit.
        """
        if circuit is not None and len(circuit) != len(self.circuit):
            raise CircuitError(
                f"MNASystem.copy: circuit {circuit.title!r} has {len(circuit)} elements; "
                f"expected the {len(self.circuit)} of the compiled circuit"
            )
        out = copy.copy(self)
        out.circuit = _shared_copy(self.circuit) if circuit is None else circuit
        out._params = self._params.copy()
        out.fixed_nodes = dict(self.fixed_nodes)
        out._source_cache = dict(self._source_cache)
        return out

    def _value_slot(self, name: str) -> int:
        """Parameter slot of element ``name``'s main value (CircuitError naming it if none)."""
        key = name.lower()
        if key not in self._value_param:
            if key in self.circuit:
                element = self.circuit[key]
                raise CircuitError(
                    f"{element.kind} {key}: its value cannot be changed after compilation",
                    element=key,
                )
            raise CircuitError(f"set_values: no element named {name!r}", element=name)
        return self._value_param[key]

    def residual(self, x: np.ndarray) -> np.ndarray:
        """r(x) at the unknown rows (no junction limiting)."""
        return self.evaluate(np.asarray(x, dtype=float), jacobian=False).residual

    def jacobian(self, x: np.ndarray) -> sp.csc_matrix:
        """K = ∂r/∂x at x on the fixed sparsity pattern."""
        return self.matrix(self.evaluate(np.asarray(x, dtype=float)).jacobian_data)

    def matrix(self, data: np.ndarray) -> sp.csc_matrix:
        """A CSC matrix on the fixed pattern from its values."""
        return sp.csc_matrix((data, self._indices, self._indptr), shape=(self.n, self.n))

    def extended(self, x: np.ndarray, source_scale: float | np.ndarray = 1.0) -> np.ndarray:
        """x extended with the fixed-node voltages (times ``source_scale``) and ground (0 V)."""
        return self._extend(x, self.sources(source_scale))

    def sources(
        self,
        source_scale: float = 1.0,
        fixed: np.ndarray | None = None,
        b: np.ndarray | None = None,
    ) -> SourceValues:
        """The constant part of the residual for given source values.

        Parameters
        ----------
        source_scale : float
            Factor on every independent source (source stepping).
        fixed : ndarray, optional
            Fixed-node voltages [V] (n_fixed, or samples × n_fixed); default the circuit's.
        b : ndarray, optional
            Independent-source vector on the extended rows (n_ext or samples × n_ext).
        """
        self._refresh()
        default = fixed is None and b is None
        if default and source_scale in self._source_cache:
            return self._source_cache[source_scale]
        fixed = self.fixed_values if fixed is None else fixed
        b = self._b if b is None else b
        tail = np.concatenate([source_scale * fixed, np.zeros((*fixed.shape[:-1], 1))], axis=-1)
        if (
            tail.ndim == 2 and self._A_fixed_dense is not None
        ):  # dense input block: BLAS, unknown rows
            const = tail @ self._A_fixed_dense.T + source_scale * b[..., : self.n]
            const_abs = np.abs(tail) @ np.abs(self._A_fixed_dense.T) + np.abs(
                source_scale * b[..., : self.n]
            )
        else:
            const = _apply(self._A_fixed, tail) + source_scale * b
            const_abs = _apply(self._A_fixed_abs, np.abs(tail)) + np.abs(source_scale * b)
        values = SourceValues(tail, const, const_abs)
        if default:
            if len(self._source_cache) > 64:  # source stepping visits many scales
                self._source_cache.clear()
            self._source_cache[float(source_scale)] = values
        return values

    def evaluate(
        self,
        x: np.ndarray,
        *,
        source_scale: float = 1.0,
        gshunt: float = 0.0,
        old_state: Mapping[str, Mapping[str, np.ndarray]] | None = None,
        sources: SourceValues | None = None,
        full: bool = False,
        jacobian: bool = True,
    ) -> Evaluation:
        """Evaluate residual and Jacobian values at x (1-D, or 2-D: one row per sample).

        ``old_state`` switches on SPICE junction limiting: devices are linearised at the limited
        voltages (companion model). ``gshunt`` [S] adds a conductance from every node to ground
        (gmin stepping); ``source_scale`` multiplies every independent source (source stepping)
        unless ``sources`` (from :meth:`sources`, e.g. one row per sample) is given.
        ``full`` also computes the rows of fixed nodes and ground (``extended_residual``);
        ``jacobian=False`` skips the Jacobian (``jacobian_data`` is then ``None``).
        """
        self._refresh()
        src = self.sources(source_scale) if sources is None else sources
        e = self._extend(x, src)
        rows = self._n_ext if full else self.n
        if src.const.shape[-1] < rows:
            raise CircuitError("MNASystem.evaluate: full=True needs sources computed for every row")
        ops = self._row_ops[full]
        lin = _apply(ops["A"], x) + src.const[..., :rows]
        mag = _apply(ops["A_abs"], np.abs(x)) + src.const_abs[..., :rows]
        jac = (
            np.broadcast_to(self._jac_linear, (*x.shape[:-1], self._nnz)).copy()
            if jacobian
            else None
        )
        limited = np.zeros(x.shape[:-1], dtype=bool)
        state: dict[str, dict[str, np.ndarray]] = {}
        for key, group in self.groups.items():
            res_v, jac_v, mag_v, st, lim = group.evaluate(
                e, None if old_state is None else old_state[key]
            )
            lin = lin + _apply(ops[key], res_v)
            mag = mag + _apply(ops[key], mag_v)
            if jacobian:
                jac += _apply(self._jac_scatter[key], jac_v)
            state[key] = st
            limited = limited | lim.any(axis=-1)
        if gshunt:
            lin[..., self._node_rows] += gshunt * e[..., self._node_rows]
            if jacobian:
                jac[..., self._diag_slots] += gshunt
        return Evaluation(lin[..., : self.n], jac, mag[..., : self.n], lin, state, limited)

    def raw_state(
        self, x: np.ndarray, source_scale: float | np.ndarray = 1.0
    ) -> dict[str, dict[str, np.ndarray]]:
        """Unlimited device voltages at x (the limiting reference for a warm start)."""
        e = self.extended(x, source_scale)
        return {key: group.raw_state(e) for key, group in self.groups.items()}

    def initial_state(self) -> dict[str, dict[str, np.ndarray]]:
        """ngspice's starting junction voltages (MODEINITJCT) for a cold start."""
        return {key: group.initial_state() for key, group in self.groups.items()}

    def voltages(self, x: np.ndarray) -> dict[str, float]:
        """All circuit node voltages [V], fixed nodes included (internal nodes left out)."""
        e = self.extended(np.asarray(x, dtype=float))
        return dict(zip(self.nodes, e[self._node_columns].tolist(), strict=True))

    def currents(self, x: np.ndarray) -> dict[str, float]:
        """Branch currents [A] of V sources (eliminated ones included), E and H; ngspice's sign."""
        x = np.asarray(x, dtype=float)
        r_ext = self.evaluate(x, full=True, jacobian=False).extended_residual
        names, kinds, index, sign = self._current_plan
        values = np.empty(len(names))
        values[kinds] = x[index[kinds]]
        values[~kinds] = -sign[~kinds] * r_ext[index[~kinds]]
        return dict(zip(names, values.tolist(), strict=True))

    def state_from(self, op: OperatingPoint) -> np.ndarray:
        """x from an operating point of any backend (native state reused when it fits).

        Internal nodes of series resistances missing from ``op`` (ngspice reports none) are
        solved for with the external nodes held at ``op``'s voltages.
        """
        if op.state is not None and np.shape(op.state) == (self.n,):
            return np.array(op.state, dtype=float)
        x = np.zeros(self.n)
        for node, index in self.node_index.items():
            outer = self._internal_of.get(node, node)
            try:
                x[index] = op.voltages[outer]
            except KeyError:
                raise CircuitError(
                    f"state_from: the operating point has no voltage for node {outer}", node=outer
                ) from None
        for name, index in self.branch_index.items():
            x[index] = op.currents.get(name, 0.0)
        missing = np.array(
            [self.node_index[node] for node in self._internal_of if node not in op.voltages],
            dtype=int,
        )
        return self._solve_internal(x, missing) if missing.size else x

    def _solve_internal(self, x: np.ndarray, rows: np.ndarray, iterations: int = 50) -> np.ndarray:
        """Newton on the unknowns ``rows`` alone (the rest held), with junction limiting."""
        state = self.raw_state(x)
        for _ in range(iterations):
            ev = self.evaluate(x, old_state=state)
            state = ev.state
            sub = self.matrix(ev.jacobian_data)[rows][:, rows].toarray()
            dx = np.linalg.lstsq(sub, -ev.residual[rows], rcond=None)[0]
            x[rows] += dx
            if not ev.limited and np.all(np.abs(dx) <= 1e-12 * np.abs(x[rows]) + 1e-15):
                break
        return x

    @property
    def source_vector(self) -> np.ndarray:
        """Independent-source part of the residual on the extended rows (a copy)."""
        self._refresh()
        return self._b.copy()

    @property
    def fixed_sign(self) -> np.ndarray:
        """+1 where a fixed node is a source's + terminal, −1 where it is its − terminal."""
        return self._fixed_sign.copy()

    @property
    def schur_plan(self) -> SchurPlan | None:
        """The layered fast path's elimination plan (``None`` when the pattern has none)."""
        if not hasattr(self, "_schur_plan"):
            self._schur_plan = SchurPlan.from_pattern(self._indices, self._indptr, self.n)
        return self._schur_plan

    @property
    def pattern(self) -> tuple[np.ndarray, np.ndarray]:
        """CSC ``indices`` and ``indptr`` of the Jacobian's fixed sparsity pattern."""
        return self._indices, self._indptr

    def source_stamps(self, name: str) -> list[tuple[int, float]]:
        """(extended row, sign) pairs where source ``name``'s value enters the source vector."""
        rows, signs, slots = self._src
        slot = self._value_param[name.lower()]
        return [(int(r), float(s)) for r, s, k in zip(rows, signs, slots, strict=True) if k == slot]

    def extended_index(self, node: str) -> int:
        """Index of ``node`` in the extended vector (unknowns, fixed nodes, ground)."""
        return self._ext[node]

    # -- compilation --------------------------------------------------------------------------
    def _build_indices(self, flat: Circuit) -> None:
        controls = {e.control for e in flat if isinstance(e, (CCCS, CCVS))}
        self.fixed_nodes: dict[str, tuple[str, float]] = {}
        self._eliminated: dict[str, tuple[str, float]] = {}
        for element in flat.elements_of(VoltageSource):
            if element.name in controls or (element.pos == GROUND) == (element.neg == GROUND):
                continue
            node, sign = (element.pos, 1.0) if element.neg == GROUND else (element.neg, -1.0)
            if node in self.fixed_nodes:
                continue
            self.fixed_nodes[node] = (element.name, sign * float(element.dc))
            self._eliminated[element.name] = (node, sign)
        self.nodes: list[str] = list(flat.nodes)
        """Circuit node names (ground and internal nodes excluded), the keys of :meth:`voltages`."""
        nodes = [node for node in self.nodes if node not in self.fixed_nodes]
        self._internal_of: dict[str, str] = {}
        for element in flat:
            model = flat.models.get(getattr(element, "model", ""), None)
            if isinstance(element, Diode) and model.value("rs") > 0:
                self._internal_of[f"{element.name}#internal"] = element.anode
            if isinstance(element, Mosfet):
                if model.value("rd") > 0:
                    self._internal_of[f"{element.name}#drain"] = element.drain
                if model.value("rs") > 0:
                    self._internal_of[f"{element.name}#source"] = element.source
        nodes += list(self._internal_of)
        branches = [
            e.name
            for e in flat
            if isinstance(e, (VCVS, CCVS))
            or (isinstance(e, VoltageSource) and e.name not in self._eliminated)
        ]
        self.unknowns = nodes + [f"i({b})" for b in branches]
        self.node_index = {node: i for i, node in enumerate(nodes)}
        self.branch_index = {b: len(nodes) + k for k, b in enumerate(branches)}
        n = len(self.unknowns)
        self._ext = dict(self.node_index)
        for k, node in enumerate(self.fixed_nodes):
            self._ext[node] = n + k
        self._ext[GROUND] = n + len(self.fixed_nodes)
        self._n_ext = n + len(self.fixed_nodes) + 1
        self._node_rows = np.arange(len(nodes))
        self._node_columns = np.array([self._ext[node] for node in self.nodes], dtype=int)
        plan = [
            (e.name, True, self.branch_index[e.name], 0.0)
            if e.name in self.branch_index
            else (
                e.name,
                False,
                self._ext[self._eliminated[e.name][0]],
                self._eliminated[e.name][1],
            )
            for e in flat
            if e.name in self.branch_index or e.name in self._eliminated
        ]
        self._current_plan = (
            [p[0] for p in plan],
            np.array([p[1] for p in plan], dtype=bool),
            np.array([p[2] for p in plan], dtype=int),
            np.array([p[3] for p in plan], dtype=float),
        )

    def _build_linear(self, flat: Circuit) -> None:
        params: list[float] = [1.0]  # slot 0 holds the constant 1 of ±1 incidence entries
        rows: list[int] = []
        cols: list[int] = []
        signs: list[float] = []
        slots: list[int] = []
        src_rows: list[int] = []
        src_signs: list[float] = []
        src_slots: list[int] = []
        ext = self._ext

        def entry(r: int, c: int, sign: float, slot: int) -> None:
            rows.append(r)
            cols.append(c)
            signs.append(sign)
            slots.append(slot)

        def conductance(a: int, b: int, slot: int) -> None:
            entry(a, a, 1.0, slot)
            entry(a, b, -1.0, slot)
            entry(b, a, -1.0, slot)
            entry(b, b, 1.0, slot)

        def branch(k: int, p: int, m: int) -> None:
            entry(p, k, 1.0, 0)
            entry(m, k, -1.0, 0)
            entry(k, p, 1.0, 0)
            entry(k, m, -1.0, 0)

        self._value_param: dict[str, int] = {}
        resistor_slots: list[int] = []
        self.resistor_names: list[str] = []
        fixed_slots: dict[str, int] = {}
        for element in flat:
            if isinstance(element, (Diode, Mosfet)):
                continue
            slot = len(params)
            value = float(getattr(element, _MAIN_VALUE[type(element)]))
            params.append(1.0 / value if isinstance(element, Resistor) else value)
            self._value_param[element.name] = slot
            nodes = [ext[node] for node in element.nodes]
            if isinstance(element, Resistor):
                conductance(nodes[0], nodes[1], slot)
                resistor_slots.append(slot)
                self.resistor_names.append(element.name)
            elif isinstance(element, CurrentSource):
                src_rows += [nodes[0], nodes[1]]
                src_signs += [1.0, -1.0]
                src_slots += [slot, slot]
            elif isinstance(element, VCCS):
                p, m, cp, cn = nodes
                entry(p, cp, 1.0, slot)
                entry(p, cn, -1.0, slot)
                entry(m, cp, -1.0, slot)
                entry(m, cn, 1.0, slot)
            elif isinstance(element, CCCS):
                k = self.branch_index[element.control]
                entry(nodes[0], k, 1.0, slot)
                entry(nodes[1], k, -1.0, slot)
            elif isinstance(element, VoltageSource) and element.name in self._eliminated:
                fixed_slots[self._eliminated[element.name][0]] = slot
            else:
                k = self.branch_index[element.name]
                branch(k, nodes[0], nodes[1])
                if isinstance(element, VoltageSource):
                    src_rows.append(k)
                    src_signs.append(-1.0)
                    src_slots.append(slot)
                elif isinstance(element, VCVS):
                    entry(k, nodes[2], -1.0, slot)
                    entry(k, nodes[3], 1.0, slot)
                else:
                    entry(k, self.branch_index[element.control], -1.0, slot)
        # fixed-node sign: a source "v 0 node V" fixes the node at −V
        self._fixed_sign = np.array(
            [self._eliminated[self.fixed_nodes[node][0]][1] for node in self.fixed_nodes],
            dtype=float,
        )
        self._fixed_slot_index = np.array(
            [fixed_slots[node] for node in self.fixed_nodes], dtype=int
        )
        self._lin = (
            np.array(rows, dtype=int),
            np.array(cols, dtype=int),
            np.array(signs),
            np.array(slots, dtype=int),
        )
        self._src = (
            np.array(src_rows, dtype=int),
            np.array(src_signs),
            np.array(src_slots, dtype=int),
        )
        self._params = np.array(params)
        self._resistor_params = np.array(resistor_slots, dtype=int)

    @property
    def fixed_values(self) -> np.ndarray:
        """Voltages [V] of the fixed nodes, in :attr:`fixed_nodes` order."""
        return self._fixed_sign * self._params[self._fixed_slot_index]

    def _build_devices(self, flat: Circuit) -> None:
        self.groups, series = build_groups(flat, self._ext)
        rows, cols, signs, slots = (list(a) for a in self._lin)
        params = list(self._params)
        for a, b, g in series:  # RS / RD: linear conductances to internal nodes
            slot = len(params)
            params.append(g)
            for r, c, sign in ((a, a, 1.0), (a, b, -1.0), (b, a, -1.0), (b, b, 1.0)):
                rows.append(r)
                cols.append(c)
                signs.append(sign)
                slots.append(slot)
        self._lin = (
            np.array(rows, dtype=int),
            np.array(cols, dtype=int),
            np.array(signs),
            np.array(slots, dtype=int),
        )
        self._params = np.array(params)
        self.gmin = GMIN

    def _build_pattern(self) -> None:
        n, n_ext = self.n, self._n_ext
        rows, cols, _, _ = self._lin
        all_rows = [rows, self._node_rows]
        all_cols = [cols, self._node_rows]
        for group in self.groups.values():
            r, c = group.jacobian_entries
            all_rows.append(r)
            all_cols.append(c)
        r = np.concatenate(all_rows)
        c = np.concatenate(all_cols)
        keep = (r < n) & (c < n)
        keys = np.unique(c[keep] * n + r[keep])
        self._nnz = len(keys)
        self._indices = (keys % n).astype(np.int32)
        self._indptr = np.concatenate([[0], np.cumsum(np.bincount(keys // n, minlength=n))]).astype(
            np.int32
        )

        def scatter(rr: np.ndarray, cc: np.ndarray) -> sp.csr_matrix:
            ok = (rr < n) & (cc < n)
            slot = np.searchsorted(keys, cc[ok] * n + rr[ok])
            return sp.csr_matrix(
                (np.ones(ok.sum()), (slot, np.flatnonzero(ok))), shape=(self._nnz, len(rr))
            )

        self._lin_scatter = scatter(rows, cols)
        self._diag_slots = np.searchsorted(keys, self._node_rows * n + self._node_rows)
        self._jac_scatter = {k: scatter(*g.jacobian_entries) for k, g in self.groups.items()}
        self._res_scatter = {
            k: sp.csr_matrix(
                (np.ones(len(g.residual_rows)), (g.residual_rows, np.arange(len(g.residual_rows)))),
                shape=(n_ext, len(g.residual_rows)),
            )
            for k, g in self.groups.items()
        }
        self._settable = np.zeros(len(self._params), dtype=bool)
        self._settable[list(self._value_param.values())] = True
        self._is_resistor_slot = np.zeros(len(self._params), dtype=bool)
        self._is_resistor_slot[self._resistor_params] = True
        self._values_changed()

    def _values_changed(self) -> None:
        """Note new parameter values: fixed nodes now, value-derived matrices at next use."""
        self._stale = True
        self._source_cache: dict[float, SourceValues] = {}
        for (node, (name, _)), value in zip(
            list(self.fixed_nodes.items()), self.fixed_values, strict=True
        ):
            self.fixed_nodes[node] = (name, float(value))

    def _refresh(self) -> None:
        """Rebuild what depends on the parameter values if they changed since the last use.

        Deferred so that several value updates before a solve (conductances, then sources)
        cost one rebuild.
        """
        if not self._stale:
            return
        self._stale = False
        rows, cols, signs, slots = self._lin
        values = signs * self._params[slots]
        n, n_ext = self.n, self._n_ext
        self._A = sp.csr_matrix((values, (rows, cols)), shape=(n_ext, n_ext))
        self._A_unknown = self._A[:, :n].tocsr()
        self._row_ops: dict[bool, dict[str, sp.csr_matrix]] = {}
        for full in (False, True):
            rows = n_ext if full else n
            unknown = self._A_unknown[:rows]
            self._row_ops[full] = {"A": unknown, "A_abs": abs(unknown)}
            self._row_ops[full].update({k: m[:rows] for k, m in self._res_scatter.items()})
        self._A_fixed = self._A[:, n:].tocsr()
        self._A_fixed_abs = abs(self._A_fixed)
        block = self._A_fixed[:n]
        size = block.shape[0] * block.shape[1]
        dense = 0 < size <= DENSE_INPUT_LIMIT and block.nnz >= 0.05 * size
        self._A_fixed_dense = block.toarray() if dense else None
        src_rows, src_signs, src_slots = self._src
        self._b = np.bincount(
            src_rows, weights=src_signs * self._params[src_slots], minlength=n_ext
        ).astype(float)
        self._jac_linear = self._lin_scatter @ values

    def _extend(self, x: np.ndarray, src: SourceValues) -> np.ndarray:
        if x.ndim == 2 and src.tail.ndim == 1:
            return np.concatenate(
                [x, np.broadcast_to(src.tail, (x.shape[0], src.tail.size))], axis=1
            )
        return np.concatenate([x, src.tail], axis=-1)


def _flat_copy(circuit: Circuit) -> Circuit:
    """The flat circuit the system owns: ``flatten()``, or a cheap copy when already flat.

    Elements are immutable, so an already flat circuit (e.g. from a builder) is copied by sharing
    its elements instead of re-validating each one (2–3 s saved on DRN-XS's 160k elements).
    """
    if not circuit.is_flat():
        return circuit.flatten()
    circuit.validate()
    return _shared_copy(circuit)


def _shared_copy(circuit: Circuit) -> Circuit:
    """A copy of a flat circuit sharing its (immutable) elements and models."""
    flat = Circuit(circuit.title)
    flat.extend(circuit.elements)
    for model in circuit.models.values():
        flat.add_model(model)
    return flat


def _apply(matrix: sp.spmatrix, values: np.ndarray) -> np.ndarray:
    """matrix @ values along the last axis (values 1-D or samples × k)."""
    if values.ndim == 1:
        return matrix @ values
    return (matrix @ values.T).T
