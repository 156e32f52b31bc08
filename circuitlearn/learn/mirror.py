"""Linear MNA terms realised as circuit elements: the building block of the AEP and twin phases.

:func:`realize_terms` adds to a flat circuit the elements whose MNA stamps add
``T x + const`` to the residual r(x) of the free circuit's system, row by row:

- a KCL row of node n gets the current ``Σ_j T_nj x_j + const_n`` *leaving* n: one VCCS
  ``g_<tag>_<n>_<j> n 0 v_j 0 T_nj`` per node column, one CCCS ``f_<tag>_<n>_<j> n 0 VSENSE T_nj``
  per branch-current column, and one current source ``i_<tag>_<n> n 0 const_n``;
- a branch row of element b (V, E or H; ``v_p − v_n − law = 0``) gets ``Σ_j T_bj x_j + const_b``:
  b's ``+`` terminal is moved to a new node and the gap is bridged by controlled voltages in series
  (``e_<tag>_<b>_<j>`` for node columns, ``h_<tag>_<b>_<j>`` for current columns, and a DC
  source ``v_<tag>_<b>`` for the constant), whose voltages add up to −(T x + const)_b.

A branch current of an E or H element is made readable by ngspice's F/H elements through a 0 V
sense source ``v_<tag>_sense_<name>`` in series with it; V sources are referenced directly.
Fixed (eliminated) nodes are not unknowns, so their columns never appear. Unknown indices in
element names are those of the free system (``system.unknowns``), so names are deterministic.
"""

from __future__ import annotations

from dataclasses import replace

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
    Element,
    VoltageSource,
)
from circuitlearn.errors import CircuitError
from circuitlearn.learn.task import copy_flat
from circuitlearn.solve.mna import MNASystem

__all__ = ["ASYMMETRY_RTOL", "antisymmetric_part", "realize_terms"]

ASYMMETRY_RTOL = 1e-12
"""Entries of K − Kᵀ smaller than this times |K_ij| + |K_ji| are rounding (sums of the same
stamps in another order), not non-reciprocity, and are dropped."""


def antisymmetric_part(system: MNASystem, x: np.ndarray) -> sp.csr_matrix:
    """A = K − Kᵀ at ``x`` (K = ∂r/∂x of ``system``), rounding noise removed.

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> from circuitlearn.solve.mna import compile_circuit
    >>> c = Circuit(); _ = c.add(VoltageSource("v1", "a", "0", 1.0))
    >>> _ = c.add(Resistor("r1", "a", "b", 1e3)); _ = c.add(Resistor("r2", "b", "0", 1e3))
    >>> antisymmetric_part(compile_circuit(c), np.zeros(1)).nnz
    0
    """
    k = system.jacobian(x).tocsr()
    kt = k.T.tocsr()
    a = (k - kt).tocoo()
    mag = (abs(k) + abs(kt)).tocsr()
    scale = np.asarray(mag[a.row, a.col]).ravel()
    keep = np.abs(a.data) > ASYMMETRY_RTOL * scale
    return sp.csr_matrix((a.data[keep], (a.row[keep], a.col[keep])), shape=k.shape)


def realize_terms(
    circuit: Circuit,
    system: MNASystem,
    terms: sp.spmatrix,
    const: np.ndarray | None,
    tag: str,
    x_ref: np.ndarray,
    *,
    build: bool = True,
) -> tuple[Circuit | None, dict[str, float], dict[str, float], dict[str, float]]:
    """Add elements realising ``terms @ x + const`` in the residual of ``system``'s circuit.

    Parameters
    ----------
    circuit : Circuit
        A flat circuit with the element names and nodes of ``system.circuit`` (it may differ in
        values or carry extra elements); it is copied, not changed.
    system : MNASystem
        Defines the unknown indices of ``terms`` (rows and columns) and ``const``.
    terms : sparse matrix (n, n)
    const : ndarray (n,) or None
    tag : str
        Name tag of the new elements and nodes (``"aep"``, ``"twin"``).
    x_ref : ndarray (n,)
        A state of ``system``; the voltages of the new nodes and currents of the new sources at
        it are returned as a warm start.
    build : bool
        False: only compute the values (for a circuit built earlier with the same pattern of
        ``terms`` and non-zeros of ``const``, whose element names are the same).

    Returns
    -------
    circuit : Circuit or None
        None when not ``build``.
    values : dict
        Main value of every new element that depends on ``terms``/``const``, in a fixed order.
    voltages : dict
        New node → voltage [V] at ``x_ref``.
    currents : dict
        New sense source → current [A] at ``x_ref``.

    Raises
    ------
    CircuitError
        A term touching a device-internal node (MOSFET drain/source resistance), naming it.
    """
    t = sp.coo_matrix(terms)
    keep = t.data != 0
    rows, cols, vals = t.row[keep], t.col[keep], t.data[keep]
    const = np.zeros(system.n) if const is None else np.asarray(const, dtype=float)
    n_nodes = len(system.node_index)
    branch_of = {index: name for name, index in system.branch_index.items()}
    touched = set(np.unique(np.concatenate([rows, cols, np.flatnonzero(const)])).tolist())
    circuit_nodes = set(system.circuit.nodes) if touched else set()
    for index in sorted(touched):
        label = system.unknowns[int(index)]
        if int(index) < n_nodes and label not in circuit_nodes:
            raise CircuitError(
                f"{tag} phase: the correction touches the device-internal node {label!r}; "
                "give the device's model rd = rs = 0 and use explicit resistors instead",
                node=label,
            )
    e = system.extended(np.asarray(x_ref, dtype=float))
    out = copy_flat(circuit) if build else None
    values: dict[str, float] = {}

    def add(element: Element, value: float | None = None) -> None:
        if value is not None:
            values[element.name] = value
        if out is not None:
            out.add(element)

    new_v: dict[str, float] = {}
    new_i: dict[str, float] = {}
    sensed = {branch_of[int(j)] for j in np.unique(cols) if int(j) >= n_nodes}
    sense = {}
    for name in sensed:
        sense[name] = (
            name if isinstance(system.circuit[name], VoltageSource) else f"v_{tag}_sense_{name}"
        )
    order = np.lexsort((cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    bounds = np.searchsorted(rows, np.arange(system.n + 1))
    chain_rows = {int(i) for i in np.unique(rows) if i >= n_nodes} | {
        int(i) for i in np.flatnonzero(const) if i >= n_nodes
    }

    def control(j: int) -> tuple[str, float, bool]:
        """(node or sense source, its value at x_ref, is_current) of column j."""
        if j < n_nodes:
            return system.unknowns[j], float(e[j]), False
        return sense[branch_of[j]], float(e[j]), True

    for i in range(n_nodes):
        lo, hi = bounds[i], bounds[i + 1]
        node = system.unknowns[i]
        for j, value in zip(cols[lo:hi].tolist(), vals[lo:hi].tolist(), strict=True):
            ctrl, _, is_current = control(j)
            if is_current:
                add(CCCS(f"f_{tag}_{i}_{j}", node, GROUND, ctrl, value), value)
            else:
                add(VCCS(f"g_{tag}_{i}_{j}", node, GROUND, ctrl, GROUND, value), value)
        if const[i] != 0:
            add(CurrentSource(f"i_{tag}_{i}", node, GROUND, float(const[i])), float(const[i]))

    needs_sense = {name for name, source in sense.items() if source != name}
    for name in sorted({branch_of[i] for i in chain_rows} | needs_sense):
        element = system.circuit[name]
        b = system.branch_index[name]
        start = element.pos
        node = start
        v_node = float(e[system.extended_index(start)]) if start != GROUND else 0.0
        fresh = (f"{tag}_{name}_{k}" for k in range(1, system.n + 2))

        if name in needs_sense:
            nxt = next(fresh)
            add(VoltageSource(sense[name], node, nxt, 0.0))
            new_i[sense[name]] = float(e[b])
            new_v[nxt] = v_node
            node = nxt
        if b in chain_rows:
            lo, hi = bounds[b], bounds[b + 1]
            for j, value in zip(cols[lo:hi].tolist(), vals[lo:hi].tolist(), strict=True):
                ctrl, x_j, is_current = control(j)
                nxt = next(fresh)
                if is_current:
                    add(CCVS(f"h_{tag}_{b}_{j}", node, nxt, ctrl, -value), -value)
                else:
                    add(VCVS(f"e_{tag}_{b}_{j}", node, nxt, ctrl, GROUND, -value), -value)
                v_node -= -value * x_j
                new_v[nxt] = v_node
                node = nxt
            if const[b] != 0:
                nxt = next(fresh)
                add(VoltageSource(f"v_{tag}_{b}", node, nxt, float(-const[b])), float(-const[b]))
                v_node -= float(-const[b])
                new_v[nxt] = v_node
                node = nxt
        if out is not None:
            out.replace(replace(out[name], pos=node))
    return out, values, new_v, new_i
