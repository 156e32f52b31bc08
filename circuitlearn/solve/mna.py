"""Compile a circuit into a fixed-pattern sparse MNA system: :func:`compile_circuit`.

The unknown vector x holds the voltages of the nodes that are not fixed (circuit nodes, then
internal nodes of series resistances), then the branch currents ``i(name)`` of voltage-defined
elements (V sources that are not eliminated, E, H). A node driven by a grounded V source is
*fixed*: it is an input, not an unknown, and the source's current is recovered after the solve
from KCL at that node.

Residual r(x): KCL rows = sum of currents *leaving* the node; branch rows = the element's voltage
law (V: v_p − v_n − V; E: v_p − v_n − gain·(v_cp − v_cn); H: v_p − v_n − R·i_ctrl); the branch
current i_b flows from p through the element to n (+i_b in row p, −i_b in row n). All stamps are
index arrays computed once (:mod:`circuitlearn.solve.stamps`, the base of :class:`MNASystem`); an
evaluation only refills values, and value updates rebuild the value-dependent matrices once, at
the next use (see ``docs/architecture.md``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from circuitlearn.circuit import GROUND, MAIN_VALUE, Circuit, Resistor, check_topology
from circuitlearn.errors import CircuitError
from circuitlearn.solve.deck_options import check_native_options
from circuitlearn.solve.result import OperatingPoint
from circuitlearn.solve.stamps import MNAStamps, flat_copy

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


def compile_circuit(circuit: Circuit) -> MNASystem:
    """Flatten ``circuit``, check its topology and build its :class:`MNASystem`.

    Raises
    ------
    CircuitError
        Floating nodes, voltage-source loops, invalid MOSFET geometry (naming the culprit),
        deck ``.options`` the native models do not honour (``rshunt``, a non-default ``gmin``...),
        and anything that is not a :class:`Circuit` (a file name: read it with ``from_spice``).

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> c = Circuit(); _ = c.add(VoltageSource("v1", "in", "0", 2.0))
    >>> _ = c.add(Resistor("r1", "in", "out", 1e3)); _ = c.add(Resistor("r2", "out", "0", 1e3))
    >>> system = compile_circuit(c)
    >>> system.unknowns, system.fixed_nodes
    (['out'], {'in': ('v1', 2.0)})
    """
    if not isinstance(circuit, Circuit):
        raise CircuitError(
            f"native solver: expected a Circuit; got {type(circuit).__name__} "
            "(read a netlist file with circuitlearn.from_spice(path) first)"
        )
    check_native_options(circuit)
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
    scale: np.ndarray | None
    """Per-row sum of |terms| (for relative residual tolerances); ``None`` when evaluated
    without ``magnitudes`` (then :meth:`scale_of` forms it for the samples asked)."""
    extended_residual: np.ndarray
    """Residual on the extended rows (fixed nodes and ground included when evaluated ``full``)."""
    state: dict[str, dict[str, np.ndarray]]
    """Limited device voltages, per group ("d", "m")."""
    limited: np.ndarray
    """Whether any device was limited (per sample in a batch)."""
    deferred: Callable[[np.ndarray], np.ndarray] | None = None
    """What :meth:`scale_of` computes when ``scale`` was not."""

    def scale_of(self, samples: np.ndarray) -> np.ndarray:
        """:attr:`scale` of the ``samples`` (rows of a batch), formed now if it was deferred:
        the same values, for the few samples whose update is already small enough."""
        if self.deferred is None:
            return self.scale[samples]
        return self.deferred(samples)


class MNASystem(MNAStamps):
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
        flat = flat_copy(circuit)
        check_topology(flat)
        self.circuit = flat
        super().__init__(flat)
        self._values_changed()

    # -- public API ---------------------------------------------------------------------------
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
        self._values_changed(sources=False)

    def conductances_at(self, index: np.ndarray | slice) -> np.ndarray:
        """Conductances [S] of the resistors at positions ``index`` (an index array or a slice)
        of :attr:`resistor_names`: a copy, gathered once (not the whole :attr:`conductances`
        first), or copied as one block when ``index`` is a slice."""
        slots = self._resistor_slots(index)
        values = self._params[slots]
        return values.copy() if isinstance(slots, slice) else values

    def set_conductances_at(self, index: np.ndarray | slice, values: np.ndarray) -> None:
        """Set the conductances [S] of the resistors at positions ``index`` (an index array or a
        slice) of :attr:`resistor_names`; the others keep theirs, and :attr:`circuit` its
        compiled values.

        The training-loop form of ``set_conductances(..., sync_circuit=False)`` for a subset
        (the trainable resistors): one check and one write, without a full-length copy (a
        block write for a slice: DRN-1H's 1.6 M conductances are one run).

        Raises
        ------
        CircuitError
            A shape mismatch, or a value that is not positive and finite (naming its resistor).
        """
        values = np.asarray(values, dtype=float)
        positions = np.arange(len(self._resistor_params))[index]  # a view for a slice
        if values.shape != positions.shape:
            raise CircuitError(
                f"conductances: expected one value per resistor ({positions.shape}); got shape "
                f"{values.shape}"
            )
        # min and max: two passes without temporaries (NaN reaches both) on 1.6 M values
        if values.size and not (values.min() > 0 and values.max() < np.inf):
            k = int(np.flatnonzero(~((values > 0) & np.isfinite(values)))[0])
            name = self.resistor_names[int(positions[k])]
            raise CircuitError(
                f"conductances: resistor {name}: G = {values[k]!r} S is not positive and finite",
                element=name,
            )
        self._params[self._resistor_slots(index)] = values
        self._values_changed(sources=False)

    def _resistor_slots(self, index: np.ndarray | slice) -> np.ndarray | slice:
        """The parameter slots of resistor positions ``index``: a slice when ``index`` is a
        slice with step 1 and the resistors' slots are one run, else an index array."""
        if isinstance(index, slice) and self._resistor_offset is not None:
            start, stop, step = index.indices(len(self._resistor_params))
            if step == 1:
                offset = self._resistor_offset
                return slice(offset + start, offset + max(stop, start))
        return self._resistor_params[index]

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
                new = element.with_values(**{MAIN_VALUE[type(element)]: value})
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
        out.circuit = self.circuit.copy() if circuit is None else circuit
        out._params = self._params.copy()
        out.fixed_nodes = dict(self.fixed_nodes)
        out._source_cache = dict(self._source_cache)
        if not self._stale:  # the lazily added row operators belong to each copy's own values
            out._row_ops = dict(self._row_ops)
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
            tail.ndim == 2 and self._A_fixed_dense_T is not None
        ):  # dense input block: BLAS, unknown rows
            const = tail @ self._A_fixed_dense_T + source_scale * b[..., : self.n]
            if self._A_fixed_dense_negated:  # |t|·|a| = −(|t|·a) for a ≤ 0, to the bit
                const_abs = np.abs(tail) @ self._A_fixed_dense_T
                np.negative(const_abs, out=const_abs)
            else:
                const_abs = np.abs(tail) @ self._A_fixed_dense_abs_T
            const_abs = const_abs + np.abs(source_scale * b[..., : self.n])
        else:
            a_fixed, a_fixed_abs = self._fixed_matrices()
            const = _apply(a_fixed, tail) + source_scale * b
            const_abs = _apply(a_fixed_abs, np.abs(tail)) + np.abs(source_scale * b)
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
        magnitudes: bool = True,
    ) -> Evaluation:
        """Evaluate residual and Jacobian values at x (1-D, or 2-D: one row per sample).

        ``old_state`` switches on SPICE junction limiting: devices are linearised at the limited
        voltages (companion model). ``gshunt`` [S] adds a conductance from every node to ground
        (gmin stepping); ``source_scale`` multiplies every independent source (source stepping)
        unless ``sources`` (from :meth:`sources`, e.g. one row per sample) is given.
        ``full`` also computes the rows of fixed nodes and ground (``extended_residual``);
        ``jacobian=False`` skips the Jacobian (``jacobian_data`` is then ``None``).
        ``magnitudes=False`` (x 2-D) defers the row scales to :meth:`Evaluation.scale_of`:
        batched Newton needs them only for the samples whose update is already small.
        """
        self._refresh()
        src = self.sources(source_scale) if sources is None else sources
        e = self._extend(x, src)
        rows = self._n_ext if full else self.n
        if src.const.shape[-1] < rows:
            raise CircuitError("MNASystem.evaluate: full=True needs sources computed for every row")
        ops = self._ops(full)
        lin = _apply(ops["A"], x) + src.const[..., :rows]
        device_mags: list[tuple[str, np.ndarray]] = []
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
            device_mags.append((key, mag_v))
            if jacobian:
                slots, summed = self._jac_scatter[key]
                jac[..., slots] += _apply(summed, jac_v)
            state[key] = st
            limited = limited | lim.any(axis=-1)
        if gshunt:
            lin[..., self._node_rows] += gshunt * e[..., self._node_rows]
            if jacobian:
                jac[..., self._diag_slots] += gshunt

        def magnitudes_of(at: np.ndarray | slice) -> np.ndarray:
            """Per-row sums of |terms| of the samples ``at`` (all: ``...``)."""
            const_abs = np.broadcast_to(src.const_abs, (*x.shape[:-1], src.const_abs.shape[-1]))
            mag = _apply(ops["A_abs"], np.abs(x[at])) + const_abs[at][..., :rows]
            for key, mag_v in device_mags:
                mag = mag + _apply(ops[key], mag_v[at])
            return mag[..., : self.n]

        if not magnitudes and x.ndim == 2:
            return Evaluation(lin[..., : self.n], jac, None, lin, state, limited, magnitudes_of)
        return Evaluation(lin[..., : self.n], jac, magnitudes_of(...), lin, state, limited)

    def node_conductances(
        self, x: np.ndarray, rows: np.ndarray, sources: SourceValues | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Small-signal conductances [S] from the nodes at unknown ``rows`` to the rest of the
        circuit at x: ``(linear, devices)``, through the linear elements (resistors) and through
        the nonlinear devices (diagonal of the Jacobian, split; shaped like x[..., rows])."""
        slots = self._diag_slots[np.asarray(rows, dtype=int)]
        diagonal = self.evaluate(x, sources=sources).jacobian_data[..., slots]
        linear = np.broadcast_to(self._jac_linear[slots], diagonal.shape)
        return linear, diagonal - linear

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
            if outer == GROUND:  # the internal node of a diode whose anode is ground
                continue
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
        x = self._solve_internal(x, missing) if missing.size else x
        unknown = [k for name, k in self.branch_index.items() if name not in op.currents]
        return self._solve_branches(x, np.array(unknown, dtype=int)) if unknown else x

    def _solve_branches(self, x: np.ndarray, columns: np.ndarray) -> np.ndarray:
        """Branch currents ``columns`` (inductors: ngspice reports none) from KCL at the nodes,
        the other unknowns held: they enter the node rows linearly (±1)."""
        ev = self.evaluate(x, old_state=self.raw_state(x))
        rows = np.arange(len(self.node_index))
        incidence = self.matrix(ev.jacobian_data)[rows][:, columns].toarray()
        x[columns] += np.linalg.lstsq(incidence, -ev.residual[rows], rcond=None)[0]
        return x

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
    def fixed_values(self) -> np.ndarray:
        """Voltages [V] of the fixed nodes, in :attr:`fixed_nodes` order."""
        return self._fixed_sign * self._params[self._fixed_slot_index]

    def _values_changed(self, *, sources: bool = True) -> None:
        """Note new parameter values: fixed nodes now (``sources=False``: only conductances
        changed, which fixed nodes do not depend on), value-derived matrices at next use."""
        self._stale = True
        self._source_cache: dict[float, SourceValues] = {}
        if not sources:
            return
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
        n = self.n
        unknown, fixed = self._lin_unknown, self._lin_fixed
        # the unknowns' rows now; the fixed nodes' rows (full=True: source currents) when asked,
        # which cuts this rebuild on a crossbar (DRN-1H: 67 -> 42 ms at every training step)
        a = unknown.rows(self._params, n)
        self._row_ops: dict[bool, dict[str, sp.csr_matrix]] = {
            False: {"A": a, "A_abs": abs(a), **self._res_scatter_rows[False]}
        }
        self._fixed_ops: tuple[sp.csr_matrix, sp.csr_matrix] | None = None
        dense = 0 < n * fixed.shape[1] <= DENSE_INPUT_LIMIT and fixed.density(n) >= 0.05
        self._A_fixed_dense_T = fixed.dense_transposed(self._params, n) if dense else None
        # |A| = −A for a crossbar from the inputs (off-diagonal −G): not stored, negated later
        self._A_fixed_dense_negated = dense and fixed.dense_nonpositive(self._params, n)
        self._A_fixed_dense_abs_T = (
            None
            if self._A_fixed_dense_T is None or self._A_fixed_dense_negated
            else np.abs(self._A_fixed_dense_T)
        )
        src_rows, src_signs, src_slots = self._src
        self._b = np.bincount(
            src_rows, weights=src_signs * self._params[src_slots], minlength=self._n_ext
        ).astype(float)
        self._jac_linear = np.zeros(self._nnz)
        self._jac_linear[self._jac_of_lin] = a.data

    def _ops(self, full: bool) -> dict[str, sp.csr_matrix]:
        """The linear row operators of :meth:`evaluate` (``full``: the fixed nodes' rows too)."""
        if full not in self._row_ops:
            a = self._lin_unknown.matrix(self._params)
            self._row_ops[full] = {"A": a, "A_abs": abs(a), **self._res_scatter_rows[full]}
        return self._row_ops[full]

    def _fixed_matrices(self) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """The fixed nodes' columns on every extended row, and their absolute values."""
        if self._fixed_ops is None:
            a = self._lin_fixed.matrix(self._params)
            self._fixed_ops = (a, abs(a))
        return self._fixed_ops

    def _extend(self, x: np.ndarray, src: SourceValues) -> np.ndarray:
        if x.ndim == 2 and src.tail.ndim == 1:
            return np.concatenate(
                [x, np.broadcast_to(src.tail, (x.shape[0], src.tail.size))], axis=1
            )
        return np.concatenate([x, src.tail], axis=-1)


def _apply(matrix: sp.spmatrix, values: np.ndarray) -> np.ndarray:
    """matrix @ values along the last axis (values 1-D or samples × k)."""
    if values.ndim == 1:
        return matrix @ values
    return (matrix @ values.T).T
