"""The compile-time half of an MNA system: :class:`MNAStamps` (layout, stamps, pattern).

Compilation numbers the unknowns (free nodes, internal nodes of series resistances, branch
currents), writes every linear element's stamp as index arrays (row, column, sign, parameter
slot) with its initial value, and fixes the Jacobian's sparsity pattern and the scatter matrices
that map element contributions into it. None of this changes when element values do:
:class:`~circuitlearn.solve.mna.MNASystem` adds the values and the evaluation on top.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from circuitlearn.circuit import (
    CCCS,
    CCVS,
    GROUND,
    MAIN_VALUE,
    VCCS,
    VCVS,
    Capacitor,
    Circuit,
    CurrentSource,
    Inductor,
    OpaqueElement,
    Resistor,
    VoltageSource,
)
from circuitlearn.circuit.devices import device_for
from circuitlearn.errors import CircuitError
from circuitlearn.solve.devices import GMIN, build_groups
from circuitlearn.solve.layered import SchurPlan

__all__ = ["MNAStamps", "check_native", "flat_copy"]

_CONDUCTANCE_SIGNS = (1.0, -1.0, -1.0, 1.0)
"""Signs of a conductance's stamp at (a, a), (a, b), (b, a), (b, b)."""


def check_native(flat: Circuit) -> None:
    """Refuse, in one line naming the element, what the native solver does not model.

    Raises
    ------
    CircuitError
        An element kept as an opaque card (J, S, W, T ...), or an element of a registered
        device whose model or instance the native solver cannot reproduce
        (:meth:`~circuitlearn.circuit.devices.Device.native_issue`). Temperatures are modelled
        where the device module says so (``.temp``, a model's TNOM, instance ``temp=``/``dtemp=``).
    """
    fix = " (use --backend ngspice)"
    for element in flat:
        if isinstance(element, OpaqueElement):
            model = f" (model {element.model})" if element.model else ""
            raise CircuitError(
                f"{element.kind} {element.name}{model}: not modelled by the native solver{fix}",
                element=element.name,
            )
        device = device_for(element)
        if device is not None:
            name = getattr(element, "model", "")
            model = flat.models[name] if name else None
            issue = device.native_issue(element, model, flat.temperature)
            if issue is not None:
                shown = f" (model {name})" if name else ""
                raise CircuitError(
                    f"{element.kind} {element.name}{shown}: {issue}{fix}", element=element.name
                )


class MNAStamps:
    """Unknown layout, linear stamps and Jacobian pattern of a flat, topology-checked circuit.

    The base of :class:`~circuitlearn.solve.mna.MNASystem` (see there for the public
    attributes); the parameter vector it builds holds the compiled initial values.
    """

    def __init__(self, flat: Circuit) -> None:
        check_native(flat)
        self._build_indices(flat)
        self._build_linear(flat)
        self._build_devices(flat)
        self._build_pattern()

    @property
    def n(self) -> int:
        """Number of unknowns."""
        return len(self.unknowns)

    @property
    def is_linear(self) -> bool:
        """True when the circuit has no registered (nonlinear) device."""
        return not self.groups

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
        devices = [(e, device) for e in flat if (device := device_for(e)) is not None]
        for element, device in devices:  # sources whose current a device reads (a B source's i(v1))
            controls |= device.branch_controls(element)
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
        for element, device in devices:
            model = flat.models.get(getattr(element, "model", ""), None)
            self._internal_of.update(device.internal_nodes(element, model))
        nodes += list(self._internal_of)
        device_branches = {e.name for e, device in devices if device.has_branch(e)}
        branches = [
            e.name
            for e in flat
            if isinstance(e, (VCVS, CCVS, Inductor))
            or (isinstance(e, VoltageSource) and e.name not in self._eliminated)
            or e.name in device_branches
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
            if (e.name in self.branch_index and not isinstance(e, Inductor))
            or e.name in self._eliminated
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
            if isinstance(element, Resistor):  # most elements: their four entries in one go
                slot = len(params)
                params.append(1.0 / float(element.resistance))
                self._value_param[element.name] = slot
                a, b = ext[element.n1], ext[element.n2]
                rows.extend((a, a, b, b))
                cols.extend((a, b, a, b))
                signs.extend(_CONDUCTANCE_SIGNS)
                slots.extend((slot, slot, slot, slot))
                resistor_slots.append(slot)
                self.resistor_names.append(element.name)
                continue
            if isinstance(element, Capacitor) or device_for(element) is not None:  # C: open
                continue
            if isinstance(element, Inductor):  # a 0 V branch at DC: v_p − v_n = 0
                branch(self.branch_index[element.name], ext[element.n1], ext[element.n2])
                continue
            slot = len(params)
            value = float(getattr(element, MAIN_VALUE[type(element)]))
            params.append(value)
            self._value_param[element.name] = slot
            nodes = [ext[node] for node in element.nodes]
            if isinstance(element, CurrentSource):
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
        first = int(self._resistor_params[0]) if len(resistor_slots) else 0
        contiguous = np.array_equal(
            self._resistor_params, np.arange(first, first + len(resistor_slots))
        )
        self._resistor_offset = first if contiguous else None
        """Slot of the first resistor when the resistors' slots are one run (builders' circuits),
        so that a run of resistors reads and writes as a slice (see ``MNASystem``)."""

    def _build_devices(self, flat: Circuit) -> None:
        self.groups, series = build_groups(flat, self._ext, self.branch_index)
        if series:  # RS, RD, RC ...: linear conductances to internal nodes, stamped after the rest
            a = np.array([entry[0] for entry in series], dtype=int)
            b = np.array([entry[1] for entry in series], dtype=int)
            new_slots = len(self._params) + np.arange(len(series))
            rows, cols, signs, slots = self._lin
            self._lin = (
                np.concatenate([rows, np.stack([a, a, b, b], axis=1).ravel()]),
                np.concatenate([cols, np.stack([a, b, a, b], axis=1).ravel()]),
                np.concatenate([signs, np.tile(_CONDUCTANCE_SIGNS, len(series))]),
                np.concatenate([slots, np.repeat(new_slots, 4)]),
            )
            series_g = np.array([entry[2] for entry in series], dtype=float)
            self._params = np.concatenate([self._params, series_g])
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

        def scatter(rr: np.ndarray, cc: np.ndarray) -> tuple[np.ndarray, sp.csr_matrix]:
            """The Jacobian slots a group's entries add to, and the matrix summing them there.

            Only the touched slots: adding a full-width product back into the batched
            Jacobian cost 6 ms per 100 samples on DRN-1H, where its diodes touch 5 % of it.
            """
            ok = (rr < n) & (cc < n)
            slot = np.searchsorted(keys, cc[ok] * n + rr[ok])
            touched, into = np.unique(slot, return_inverse=True)
            return touched, sp.csr_matrix(
                (np.ones(ok.sum()), (into, np.flatnonzero(ok))), shape=(touched.size, len(rr))
            )

        self._diag_slots = np.searchsorted(keys, self._node_rows * n + self._node_rows)
        self._jac_scatter = {k: scatter(*g.jacobian_entries) for k, g in self.groups.items()}
        res_scatter = {
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
        unknown_col = cols < n
        self._lin_unknown = _CSRPattern(self._lin, unknown_col, (n_ext, n))
        self._lin_fixed = _CSRPattern(self._lin, ~unknown_col, (n_ext, n_ext - n), col_offset=n)
        top_rows, top_cols = self._lin_unknown.positions(n)
        self._jac_of_lin = np.searchsorted(keys, top_cols * n + top_rows)
        self._res_scatter_rows = {
            full: {k: m[: n_ext if full else n] for k, m in res_scatter.items()}
            for full in (False, True)
        }
        self.structure_cache: dict[Hashable, Any] = {}
        """Objects derived from the layout alone (the batched solver, source placements), built
        by their users on first need and shared with copies, which have the same layout."""


class _CSRPattern:
    """The CSR layout of a sum of linear stamps, so that new values cost a weighted
    ``bincount`` instead of a COO-to-CSR conversion (a sort) at every conductance update.

    Stamp k adds ``signs[k] * params[slots[k]]`` at ``(rows[k], cols[k])``; ``entries`` selects
    the stamps that fall in this matrix. Duplicated positions are summed and the layout keeps
    zeros, so it does not depend on the values.
    """

    def __init__(
        self,
        stamps: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        entries: np.ndarray,
        shape: tuple[int, int],
        col_offset: int = 0,
    ) -> None:
        rows, cols, signs, slots = (a[entries] for a in stamps)
        self.shape = shape
        self._signs, self._slots = signs, slots
        keys, self._position = np.unique(rows * shape[1] + cols - col_offset, return_inverse=True)
        self._nnz = len(keys)
        self._indices = (keys % shape[1]).astype(np.int32)
        self._indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(keys // shape[1], minlength=shape[0]))]
        ).astype(np.int32)
        self._row_stamps: dict[Hashable, Any] = {}

    def matrix(self, params: np.ndarray) -> sp.csr_matrix:
        """The matrix for the parameter values ``params``."""
        data = np.bincount(
            self._position, weights=self._signs * params[self._slots], minlength=self._nnz
        )
        return sp.csr_matrix((data, self._indices, self._indptr), shape=self.shape)

    def rows(self, params: np.ndarray, n_rows: int) -> sp.csr_matrix:
        """The first ``n_rows`` rows of :meth:`matrix`, summing only the stamps that fall there
        (in the same order, so the values are those of :meth:`matrix` to the bit).

        Stamps that open with a repeating run (a crossbar's diagonal terms: DRN-1H's 1.6 M
        input conductances onto 1,024 hidden diagonals) are summed as the column sums of their
        parameters reshaped, row after row as the stamps come (DRN-1H: 7.8 -> 0.5 ms).
        """
        end = int(self._indptr[n_rows])
        if n_rows not in self._row_stamps:
            inside = self._position < end
            stamps = (self._position[inside], self._signs[inside], self._slots[inside])
            self._row_stamps[n_rows] = (_PeriodicRun.of(*stamps), stamps)
        run, (position, signs, slots) = self._row_stamps[n_rows]
        if run is None:
            data = np.bincount(position, weights=signs * params[slots], minlength=end)
        else:
            data = np.zeros(end)
            block = params[run.first : run.first + run.repeats * run.positions.size]
            sums = np.add.reduce(block.reshape(run.repeats, run.positions.size), axis=0)
            data[run.positions] = sums if run.sign == 1.0 else run.sign * sums
            after = slice(run.repeats * run.positions.size, None)
            np.add.at(data, position[after], signs[after] * params[slots[after]])
        return sp.csr_matrix(
            (data, self._indices[:end], self._indptr[: n_rows + 1]),
            shape=(n_rows, self.shape[1]),
        )

    def dense_transposed(self, params: np.ndarray, n_rows: int) -> np.ndarray:
        """The first ``n_rows`` rows of :meth:`matrix`, transposed, as a dense C-ordered array
        (n_cols × n_rows): the right-hand factor of a row-per-sample product ``X @ M.T``.

        Summed straight from the stamps: a crossbar's stamps come in the order of its
        conductances, which is the transposed layout's, so the sum writes in order (DRN-1H's
        1.6 M input stamps: 4 ms, against 12 ms for the CSR rows and their ``toarray``).
        Each entry sums its stamps in stamp order, as :meth:`rows` does. When the stamps fill
        one rectangle, one stamp an entry, with one sign and consecutive parameters (a crossbar
        from the inputs), the rectangle is those parameters reshaped (DRN-1H: 5.9 -> 2.6 ms).
        """
        plan = self._dense_plan(n_rows)
        if isinstance(plan, _StampRectangle):
            values = np.zeros((self.shape[1], n_rows))
            block = params[plan.first : plan.first + plan.rows * plan.cols]
            target = values[plan.row : plan.row + plan.rows, plan.col : plan.col + plan.cols]
            np.multiply(block.reshape(plan.rows, plan.cols), plan.sign, out=target)
            return values
        flat, signs, slots = plan
        size = self.shape[1] * n_rows
        values = np.bincount(flat, weights=signs * params[slots], minlength=size)
        return values.reshape(self.shape[1], n_rows)

    def dense_nonpositive(self, params: np.ndarray, n_rows: int) -> bool:
        """Whether every entry of :meth:`dense_transposed` is ≤ 0 (its absolute values are then
        its negation), known without reading it when the stamps fill one rectangle."""
        plan = self._dense_plan(n_rows)
        if not isinstance(plan, _StampRectangle) or plan.sign > 0:
            return False
        block = params[plan.first : plan.first + plan.rows * plan.cols]
        return bool(block.size == 0 or block.min() >= 0.0)

    def _dense_plan(
        self, n_rows: int
    ) -> _StampRectangle | tuple[np.ndarray, np.ndarray, np.ndarray]:
        """How :meth:`dense_transposed` fills its array: one rectangle, or a sum of stamps."""
        key = ("dense", n_rows)
        if key not in self._row_stamps:
            inside = self._position < self._indptr[n_rows]
            row_of = np.repeat(np.arange(n_rows), np.diff(self._indptr[: n_rows + 1]))
            position = self._position[inside]
            flat = self._indices[position].astype(np.int64) * n_rows + row_of[position]
            stamps = (flat, self._signs[inside], self._slots[inside])
            self._row_stamps[key] = _StampRectangle.of(*stamps, n_rows) or stamps
        return self._row_stamps[key]

    def positions(self, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
        """Row and column of each stored value of the first ``n_rows`` rows, in CSR order."""
        counts = np.diff(self._indptr[: n_rows + 1])
        return np.repeat(np.arange(n_rows), counts), self._indices[: self._indptr[n_rows]]

    def density(self, n_rows: int) -> float:
        """Fraction of the first ``n_rows`` rows' positions in the layout."""
        size = n_rows * self.shape[1]
        return self._indptr[n_rows] / size if size else 0.0


@dataclass(frozen=True)
class _StampRectangle:
    """Stamps that fill the rectangle [row, row + rows) × [col, col + cols) of a dense array,
    one each, in row-major order, all with ``sign``, from parameters first, first + 1, ..."""

    row: int
    col: int
    rows: int
    cols: int
    sign: float
    first: int

    @classmethod
    def of(
        cls, flat: np.ndarray, signs: np.ndarray, slots: np.ndarray, width: int
    ) -> _StampRectangle | None:
        """The rectangle of stamps at flat positions ``flat`` of an array ``width`` wide, if
        they form one."""
        if flat.size == 0 or np.any(signs != signs[0]):
            return None
        if np.any(slots != slots[0] + np.arange(slots.size)):
            return None
        row, col = divmod(int(flat[0]), width)
        cols = int(flat[-1]) % width - col + 1
        if cols <= 0 or flat.size % cols:
            return None
        rows = flat.size // cols
        k = np.arange(flat.size)
        if np.any(flat != (row + k // cols) * width + col + k % cols):
            return None
        return cls(row, col, rows, cols, float(signs[0]), int(slots[0]))


@dataclass(frozen=True)
class _PeriodicRun:
    """Stamps that open with ``repeats`` rounds of one stamp at each of ``positions`` (distinct),
    all with ``sign``, from parameters first, first + 1, ... in order."""

    positions: np.ndarray
    repeats: int
    sign: float
    first: int

    MIN_STAMPS = 10_000
    """Fewer stamps than this in the run: a plain ``bincount`` (no gain in summing by rows)."""

    @classmethod
    def of(cls, position: np.ndarray, signs: np.ndarray, slots: np.ndarray) -> _PeriodicRun | None:
        """The run the stamps open with, if it has at least :attr:`MIN_STAMPS` stamps."""
        if position.size < cls.MIN_STAMPS:
            return None
        again = np.flatnonzero(position == position[0])
        width = int(again[1]) if again.size > 1 else 0
        if width == 0 or np.unique(position[:width]).size != width:
            return None
        span = np.flatnonzero(slots != slots[0] + np.arange(slots.size))
        span = int(span[0]) if span.size else slots.size
        same = np.flatnonzero(signs != signs[0])
        span = min(span, int(same[0]) if same.size else signs.size)
        repeats = span // width
        head = position[: repeats * width].reshape(repeats, width)
        ok = np.all(head == position[:width], axis=1)
        repeats = int(np.argmin(ok)) if not ok.all() else repeats
        if repeats < 2 or repeats * width < cls.MIN_STAMPS:
            return None
        return cls(position[:width].copy(), repeats, float(signs[0]), int(slots[0]))


def flat_copy(circuit: Circuit) -> Circuit:
    """The flat circuit the system owns: ``flatten()``, or a cheap copy when already flat.

    Elements are immutable, so an already flat circuit (e.g. from a builder) is copied by sharing
    its elements instead of re-validating each one (2–3 s saved on DRN-XS's 160k elements).
    """
    if not circuit.is_flat():
        return circuit.flatten()
    circuit.validate()
    return circuit.copy()
