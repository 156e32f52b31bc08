"""Linear MNA terms realised as circuit elements: the building blocks of the AEP and twin phases.

:func:`transpose_sources` swaps the ports of the linear controlled sources (the Director–Rohrer
adjoint network, with DC offsets for AEP); :func:`realize_terms` adds to a flat circuit the
elements whose MNA stamps add ``T x + const`` to the residual r(x) of the free circuit's system,
row by row:

- a KCL row of node n gets the current ``Σ_j T_nj x_j + const_n`` *leaving* n: one VCCS
  ``g_<tag>_<n>_<j> n 0 v_j 0 T_nj`` per node column, one CCCS ``f_<tag>_<n>_<j> n 0 VSENSE T_nj``
  per branch-current column, and one current source ``i_<tag>_<n> n 0 const_n``;
- a branch row of element b (V, E or H; ``v_p − v_n − law = 0``) gets ``Σ_j T_bj x_j + const_b``:
  b's ``+`` terminal is moved to a new node and the gap is bridged by controlled voltages in series
  (``e_<tag>_<b>_<j>`` for node columns, ``h_<tag>_<b>_<j>`` for current columns, and a DC
  source ``v_<tag>_<b>`` for the constant), whose voltages add up to −(T x + const)_b.

A branch current of an E or H element is made readable by ngspice's F/H elements through a 0 V
sense source ``v_<tag>_sense_<name>`` in series with it; V sources (and the sources that replace
transposed E/H elements, see ``rename``) are referenced directly.
Fixed (eliminated) nodes are not unknowns, so their columns never appear. Unknown indices in
element names are those of the free system (``system.unknowns``), so names are deterministic.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass, replace

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
from circuitlearn.solve.mna import MNASystem

__all__ = ["Transposed", "realize_terms", "transpose_sources"]


def realize_terms(
    circuit: Circuit,
    system: MNASystem,
    terms: sp.spmatrix,
    const: np.ndarray | None,
    tag: str,
    x_ref: np.ndarray,
    *,
    build: bool = True,
    rename: Mapping[str, str] | None = None,
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
    rename : mapping, optional
        Branch element of ``system`` → the voltage source that carries its branch in ``circuit``
        (an E or H element replaced by a V source); such branches need no sense source.
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
    out = circuit.copy() if build else None
    values: dict[str, float] = {}

    def add(element: Element, value: float | None = None) -> None:
        if value is not None:
            values[element.name] = value
        if out is not None:
            out.add(element)

    new_v: dict[str, float] = {}
    new_i: dict[str, float] = {}
    rename = dict(rename or {})
    sensed = {branch_of[int(j)] for j in np.unique(cols) if int(j) >= n_nodes}
    sense = {}
    for name in sensed:
        if name in rename:
            sense[name] = rename[name]
        elif isinstance(system.circuit[name], VoltageSource):
            sense[name] = name
        else:
            sense[name] = f"v_{tag}_sense_{name}"
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

    needs_sense = {name for name, source in sense.items() if source == f"v_{tag}_sense_{name}"}
    for name in sorted({branch_of[i] for i in chain_rows} | needs_sense):
        carrier = rename.get(name, name)
        element = system.circuit[name]
        b = system.branch_index[name]
        start = element.pos
        node = start
        v_node = float(e[system.extended_index(start)]) if start != GROUND else 0.0
        fresh = (f"{tag}_{carrier}_{k}" for k in range(1, system.n + 2))

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
            out.replace(replace(out[carrier], pos=node))
    return out, values, new_v, new_i


@dataclass
class Transposed:
    """The free circuit with its linear controlled sources transposed (Director–Rohrer).

    ``circuit`` holds every element, with each VCCS's ports swapped and each E/H replaced by a
    voltage source ``v_<tag>_<name>`` (same nodes) whose ``dc`` is in ``values``; ``terms`` and
    ``const`` are what :func:`realize_terms` must still add (with ``rename``) so that the MNA rows
    become those of r(x) − (C − Cᵀ)(x − x_ref) for the controlled-source stamps C.
    """

    circuit: Circuit | None
    terms: sp.csr_matrix
    const: np.ndarray
    rename: dict[str, str]
    values: dict[str, float]


def transpose_sources(
    circuit: Circuit,
    system: MNASystem,
    tag: str,
    x_ref: np.ndarray,
    *,
    offsets: bool = True,
    build: bool = True,
) -> Transposed:
    """Swap the ports of the free circuit's linear controlled sources (the adjoint network).

    With C the control stamps of the G/E/F/H elements (C_ij: derivative of row i's residual with
    respect to the controlling unknown j), the circuit ``r(x) − C x + Cᵀ x + const`` is built:

    - VCCS ``g p n cp cn gm`` → ``g cp cn p n gm`` (ports swapped; an element of its own);
    - VCVS ``e p n cp cn A`` → a voltage source ``v_<tag>_e`` p n, plus (in ``terms``) the current
      −A·i at the control port: a CCCS controlled by that source;
    - CCCS ``f p n vc g`` → removed, plus g·(v_p − v_n) in the branch row of ``vc``;
    - CCVS ``h p n vc R`` → a voltage source ``v_<tag>_h`` p n, plus −R·i_h in the branch row
      of ``vc``.

    With ``offsets`` the constant (C − Cᵀ) x_ref and the controlled sources' dependence on fixed
    nodes (inputs) are kept, so that the result equals r(x) − (C − Cᵀ)(x − x_ref): the AEP mirror
    of these elements, exact at x_ref. Without, the sources are purely transposed (twin).
    """
    n = system.n
    e = system.extended(np.asarray(x_ref, dtype=float))
    ext = system.extended_index
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    swapped: list[int] = []  # entries of VCCS elements (realised by the swapped element itself)
    rename: dict[str, str] = {}
    out = circuit.copy() if build else None
    for element in _controlled_sources(system):
        if isinstance(element, VCCS):
            p, m, cp, cn = (ext(x) for x in element.nodes)
            gm = float(element.transconductance)
            swapped += range(len(rows), len(rows) + 4)
            rows += [p, p, m, m]
            cols += [cp, cn, cp, cn]
            vals += [gm, -gm, -gm, gm]
            if out is not None:
                out.replace(
                    VCCS(
                        element.name,
                        element.ctrl_pos,
                        element.ctrl_neg,
                        element.pos,
                        element.neg,
                        gm,
                    )
                )
        elif isinstance(element, VCVS):
            b = system.branch_index[element.name]
            gain = float(element.gain)
            rows += [b, b]
            cols += [ext(element.ctrl_pos), ext(element.ctrl_neg)]
            vals += [-gain, gain]
            rename[element.name] = f"v_{tag}_{element.name}"
        elif isinstance(element, CCCS):
            k = system.branch_index[element.control]
            gain = float(element.gain)
            rows += [ext(element.pos), ext(element.neg)]
            cols += [k, k]
            vals += [gain, -gain]
            if out is not None:
                out.remove(element.name)
        elif isinstance(element, CCVS):
            rows.append(system.branch_index[element.name])
            cols.append(system.branch_index[element.control])
            vals.append(-float(element.transresistance))
            rename[element.name] = f"v_{tag}_{element.name}"
    n_ext = len(e)
    rows_a, cols_a, vals_a = np.array(rows, dtype=int), np.array(cols, dtype=int), np.array(vals)
    keep = rows_a < n
    c_ext = sp.csr_matrix((vals_a[keep], (rows_a[keep], cols_a[keep])), shape=(n, n_ext))
    c = c_ext[:, :n]
    const = np.zeros(n)
    own = np.ones(len(rows_a), dtype=bool)
    own[swapped] = False
    if offsets:
        const = c_ext[:, n:] @ e[n:] + (c - c.T) @ e[:n]
        # a swapped VCCS whose output node was fixed now reads that fixed voltage: remove it
        extra = ~own & ~keep & (cols_a < n)
        np.subtract.at(const, cols_a[extra], vals_a[extra] * e[rows_a[extra]])
    sel = own & keep & (cols_a < n)
    terms = sp.csr_matrix((vals_a[sel], (cols_a[sel], rows_a[sel])), shape=(n, n))
    values: dict[str, float] = {}
    for name, source in rename.items():
        b = system.branch_index[name]
        values[source] = float(-const[b])
        const[b] = 0.0
        if out is not None:
            element = out[name]
            out.remove(name)
            out.add(VoltageSource(source, element.pos, element.neg, values[source]))
    return Transposed(out, terms.tocsr(), const, rename, values)


_CONTROLLED: weakref.WeakKeyDictionary[MNASystem, list[Element]] = weakref.WeakKeyDictionary()


def _controlled_sources(system: MNASystem) -> list[Element]:
    """The G/E/F/H elements of a compiled system (found once per system: circuits can hold 10⁵
    resistors and a learning step should not scan them)."""
    if system not in _CONTROLLED:
        _CONTROLLED[system] = system.circuit.elements_of(VCCS, VCVS, CCCS, CCVS)
    return _CONTROLLED[system]
