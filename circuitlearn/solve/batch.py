"""Many operating points of one circuit for many input vectors: :func:`solve_batch`.

One compilation serves every sample. A linear circuit is factorised once and solved for all
right-hand sides at once. A nonlinear circuit runs Newton on all samples together: their
Jacobians form one block-diagonal sparse matrix factorised once per iteration (or, for layered
networks, the exact Schur elimination of :mod:`circuitlearn.solve.layered`); samples that
converge are frozen and leave the active set.
Samples that fail fall back, one by one, to the full homotopy ladder of
:func:`~circuitlearn.solve.newton.solve_native`. Failures are never dropped: ``converged`` is
per sample, a warning says how many failed, and an error is raised if all did.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from circuitlearn.circuit import Circuit, CurrentSource, VoltageSource
from circuitlearn.errors import CircuitError, ConvergenceError
from circuitlearn.solve.layered import BlockSchurPlan, Plan, plans_for
from circuitlearn.solve.mna import Evaluation, MNASystem, SourceValues, compile_circuit
from circuitlearn.solve.newton import check_options, solve_native
from circuitlearn.solve.result import OperatingPoint

__all__ = [
    "BatchResult",
    "BatchSolver",
    "InputColumns",
    "PhaseTerm",
    "batch_sources",
    "newton_batch",
    "solve_batch",
]


@dataclass
class BatchResult:
    """Operating points of one circuit for ``n_samples`` input vectors.

    Attributes
    ----------
    nodes : list of str
        Circuit node names (fixed nodes included), the columns of :attr:`voltages`.
    voltages : ndarray, shape (n_samples, n_nodes) [V]
    converged : ndarray of bool, shape (n_samples,)
    iterations : ndarray of int, shape (n_samples,)
        Newton iterations per sample (fallback homotopy iterations added for rescued samples).
    states : ndarray, shape (n_samples, n_unknowns)
        Native unknown vectors, usable as warm starts (``x0``) of a later batch.
    max_residual : ndarray, shape (n_samples,) [A]
    """

    nodes: list[str]
    voltages: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    states: np.ndarray
    max_residual: np.ndarray

    def __repr__(self) -> str:
        return (
            f"BatchResult(n_samples={len(self.converged)}, nodes={len(self.nodes)}, "
            f"converged={int(self.converged.sum())}/{len(self.converged)}, "
            f"mean_iterations={float(np.mean(self.iterations)) if len(self.iterations) else 0:.2f})"
        )

    def voltage(self, node: str) -> np.ndarray:
        """Voltages of ``node`` [V] over the samples."""
        return self.voltages[:, self.nodes.index(node.lower())]


def solve_batch(
    circuit: Circuit | MNASystem,
    inputs: Mapping[str, Any],
    *,
    x0: np.ndarray | BatchResult | OperatingPoint | None = None,
    options: Mapping[str, Any] | None = None,
    sources: SourceValues | None = None,
) -> BatchResult:
    """Solve the circuit once per input vector, all samples at once.

    Parameters
    ----------
    circuit : Circuit or MNASystem
    inputs : mapping source name → array of shape (n_samples,)
        DC values [V or A] of independent V or I sources, one per sample.
    x0 : ndarray (n_unknowns or n_samples × n_unknowns), BatchResult or OperatingPoint, optional
        Warm start (e.g. the states of a previous batch).
    options : mapping, optional
        Native solver options (see :data:`~circuitlearn.solve.newton.DEFAULT_OPTIONS`).
    sources : SourceValues, optional
        ``inputs`` as already placed by :func:`batch_sources` (saves placing them again).

    Raises
    ------
    CircuitError
        Unknown source names, inconsistent sample counts.
    ConvergenceError
        When no sample converges (a warning is issued when only some fail).

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> c = Circuit(); _ = c.add(VoltageSource("v1", "in", "0", 0.0))
    >>> _ = c.add(Resistor("r1", "in", "out", 1e3)); _ = c.add(Resistor("r2", "out", "0", 1e3))
    >>> solve_batch(c, {"v1": [1.0, 2.0, 4.0]}).voltage("out")
    array([0.5, 1. , 2. ])
    """
    opts = check_options(options)
    system = circuit if isinstance(circuit, MNASystem) else compile_circuit(circuit)
    if sources is None:
        sources, n_samples = batch_sources(system, inputs)
    else:
        n_samples = sources.const.shape[0]
    x = _warm_start(system, x0, n_samples)
    if system.is_linear:
        x = _linear_batch(system, sources)
        iterations = np.ones(n_samples, dtype=int)
        converged = np.all(np.isfinite(x), axis=1)
    else:
        x, converged, iterations = newton_batch(system, sources, x, opts, cold=x0 is None)
        _rescue(system, inputs, x, converged, iterations, opts)
    residual = system.evaluate(x, sources=sources, jacobian=False).residual[
        :, : len(system.node_index)
    ]
    max_residual = np.max(np.abs(residual), axis=1, initial=0.0)
    nodes = list(system.nodes)
    columns = np.array([system.extended_index(node) for node in nodes], dtype=int)
    voltages = np.concatenate([x, sources.tail], axis=1)[:, columns]
    failed = int((~converged).sum())
    result = BatchResult(nodes, voltages, converged, iterations, x, max_residual)
    if failed == n_samples and n_samples:
        raise ConvergenceError(
            f"solve_batch: none of the {n_samples} samples converged", result=result
        )
    if failed:
        warnings.warn(
            f"solve_batch: {failed} of {n_samples} samples did not converge (see result.converged)",
            RuntimeWarning,
            stacklevel=2,
        )
    return result


class InputColumns(Mapping[str, np.ndarray]):
    """Per-sample source values held as one array, samples × sources, and read as a mapping
    source name → column.

    The form a network's inputs take naturally (DRN-1H: 1,570 sources, a batch of 50 images),
    which :func:`batch_sources` places without building and stacking one array per source.

    Raises
    ------
    CircuitError
        ``values`` not 2-D with one column per name, or a name given twice.
    """

    def __init__(self, names: Sequence[str], values: np.ndarray) -> None:
        self.names = tuple(str(name).lower() for name in names)
        self.values = np.asarray(values, dtype=float)
        if self.values.ndim != 2 or self.values.shape[1] != len(self.names):
            raise CircuitError(
                f"InputColumns: expected samples × {len(self.names)} values (one column per "
                f"source); got shape {self.values.shape}"
            )
        if len(set(self.names)) != len(self.names):
            twice = sorted({n for n in self.names if self.names.count(n) > 1})
            raise CircuitError(f"InputColumns: sources named more than once: {twice}")
        self._column: dict[str, int] | None = None

    def __getitem__(self, name: str) -> np.ndarray:
        if self._column is None:
            self._column = {source: k for k, source in enumerate(self.names)}
        return self.values[:, self._column[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def rows(self, index: np.ndarray | slice) -> InputColumns:
        """The samples ``index`` (a part of a batch)."""
        return InputColumns(self.names, self.values[index])


def batch_sources(system: MNASystem, inputs: Mapping[str, Any]) -> tuple[SourceValues, int]:
    """Per-sample fixed-node voltages and source vectors for ``{source name: values}``.

    Vectorised over the sources (a network's 1,568 inputs are one array operation); the
    placement of each named source is worked out once per system and set of names.

    Raises
    ------
    CircuitError
        Unknown or non-source names, non-finite values, inconsistent sample counts.
    """
    if not inputs:
        raise CircuitError("solve_batch: inputs is empty; give {source name: values per sample}")
    if isinstance(inputs, InputColumns):  # already one array: no array per source
        names, values = inputs.names, inputs.values
    else:
        names = tuple(str(k).lower() for k in inputs)
        arrays = [np.atleast_1d(np.asarray(v, dtype=float)) for v in inputs.values()]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1 or len(next(iter(shapes))) != 1:
            raise CircuitError(
                "solve_batch: every input must be a 1-D array of the same length; "
                f"got shapes {sorted(shapes)}"
            )
        values = np.stack(arrays, axis=1)
    finite = np.all(np.isfinite(values), axis=0)
    if not finite.all():
        name = names[int(np.argmin(finite))]
        raise CircuitError(f"solve_batch: input {name} has non-finite values", element=name)
    plan = _source_plan(system, names)
    n_samples = values.shape[0]
    fixed = np.tile(system.fixed_values, (n_samples, 1))
    b = np.tile(system.source_vector, (n_samples, 1))
    fixed[:, plan.fixed_columns] = values[:, plan.fixed_inputs] * plan.fixed_signs
    if plan.rows.size:  # relative to each source's present value, which source_vector holds
        present = np.array([float(system.circuit[names[k]].dc) for k in plan.stamp_inputs])
        delta = values[:, plan.stamp_inputs] - present
        np.add.at(b, (slice(None), plan.rows), plan.signs * delta)
    return system.sources(1.0, fixed=fixed, b=b), n_samples


@dataclass(frozen=True)
class _SourcePlan:
    """Where each named source's value goes: fixed-node columns, or source-vector rows."""

    fixed_columns: np.ndarray
    fixed_inputs: np.ndarray
    fixed_signs: np.ndarray
    rows: np.ndarray
    signs: np.ndarray
    stamp_inputs: np.ndarray


def _source_plan(system: MNASystem, names: tuple[str, ...]) -> _SourcePlan:
    plans: dict[tuple[str, ...], _SourcePlan] = system.structure_cache.setdefault(
        "source plans", {}
    )
    if names in plans:
        return plans[names]
    fixed_names = {name: k for k, (name, _) in enumerate(system.fixed_nodes.values())}
    fixed_columns, fixed_inputs = [], []
    rows, signs, stamp_inputs = [], [], []
    for k, name in enumerate(names):
        element = system.circuit[name] if name in system.circuit else None  # noqa: SIM401
        if not isinstance(element, (VoltageSource, CurrentSource)):
            raise CircuitError(
                f"solve_batch: {name!r} is not an independent V or I source of the circuit; "
                "inputs must name sources",
                element=name,
            )
        if name in fixed_names:
            fixed_columns.append(fixed_names[name])
            fixed_inputs.append(k)
            continue
        for row, sign in system.source_stamps(name):
            rows.append(row)
            signs.append(sign)
            stamp_inputs.append(k)
    columns = np.array(fixed_columns, dtype=int)
    plan = _SourcePlan(
        columns,
        np.array(fixed_inputs, dtype=int),
        system.fixed_sign[columns],
        np.array(rows, dtype=int),
        np.array(signs, dtype=float),
        np.array(stamp_inputs, dtype=int),
    )
    if len(plans) > 16:
        plans.clear()
    plans[names] = plan
    return plan


def _warm_start(system: MNASystem, x0: Any, n_samples: int) -> np.ndarray:
    if x0 is None:
        return np.zeros((n_samples, system.n))
    if isinstance(x0, BatchResult):
        x0 = x0.states
    elif isinstance(x0, OperatingPoint):
        x0 = system.state_from(x0)
    x = np.asarray(x0, dtype=float)
    if x.shape == (system.n,):
        return np.tile(x, (n_samples, 1))
    if x.shape != (n_samples, system.n) or not np.all(np.isfinite(x)):
        raise CircuitError(
            f"solve_batch: x0 must have shape ({system.n},) or ({n_samples}, {system.n}); "
            f"got {x.shape}"
        )
    return x.copy()


def _linear_batch(system: MNASystem, sources: SourceValues) -> np.ndarray:
    """One factorisation, all right-hand sides."""
    n_samples = sources.const.shape[0]
    ev = system.evaluate(
        np.zeros((1, system.n)),
        sources=SourceValues(sources.tail[:1], sources.const[:1], sources.const_abs[:1]),
    )
    lu = spla.splu(system.matrix(ev.jacobian_data[0]))
    rhs = -sources.const[:, : system.n]
    if system.n == 0:
        return np.zeros((n_samples, 0))
    return np.asarray(lu.solve(np.ascontiguousarray(rhs.T))).T.reshape(n_samples, system.n)


class BatchSolver:
    """Solves K·x = rhs for many samples that share one sparsity pattern (one K per sample).

    Layered networks go through the exact Schur elimination of
    :class:`~circuitlearn.solve.layered.SchurPlan`; any other pattern through one SuperLU
    factorisation of the block-diagonal matrix (a singular block sends its sample to NaN).
    ``transpose`` and ``with_transpose`` give the solvers of Kᵀ and of K + Kᵀ-shaped matrices
    (same values, permuted), which the adjoint and the AEP phase need.
    """

    def __init__(self, indices: np.ndarray, indptr: np.ndarray, n: int) -> None:
        self.indices = np.asarray(indices, dtype=np.int32)
        self.indptr = np.asarray(indptr, dtype=np.int32)
        self.n = int(n)
        self._plans: list[Plan] | None = None

    @classmethod
    def of(cls, system: MNASystem) -> BatchSolver:
        """The solver of ``system``'s Jacobian pattern (kept in its ``structure_cache``)."""
        solver = system.structure_cache.get("batch solver")
        if solver is None:
            solver = cls(*system.pattern, system.n)
            # the block plan backs up an independent-set plan whose pivots decline (a layered
            # network with amplifiers); any other pattern goes to sparse LU, whose pivoting is
            # the safer default (vendor_diode's EP estimate moved by 8e-7 through blocks)
            schur = system.schur_plan
            block = (
                None
                if schur is None
                else BlockSchurPlan.from_pattern(solver.indices, solver.indptr, solver.n)
            )
            solver._plans = [p for p in (schur, block) if p is not None]
            system.structure_cache["batch solver"] = solver
        return solver

    @property
    def nnz(self) -> int:
        return len(self.indices)

    @property
    def plans(self) -> list[Plan]:
        """The elimination plans (layered fast paths) tried before sparse LU, in order."""
        if self._plans is None:
            self._plans = plans_for(self.indices, self.indptr, self.n)
        return self._plans

    def coordinates(self) -> tuple[np.ndarray, np.ndarray]:
        """(rows, cols) of every stored entry, in storage order."""
        cols = np.repeat(np.arange(self.n), np.diff(self.indptr))
        return self.indices.astype(np.int64), cols

    def transpose(self) -> tuple[BatchSolver, np.ndarray]:
        """The solver of Kᵀ and the permutation ``p`` with Kᵀ's data = K's ``data[..., p]``."""
        rows, cols = self.coordinates()
        order = np.lexsort((cols, rows))  # CSC of Kᵀ: columns of Kᵀ are rows of K
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=self.n))])
        return BatchSolver(cols[order], indptr, self.n), order

    def with_transpose(self) -> tuple[BatchSolver, np.ndarray, np.ndarray]:
        """The solver of the union pattern of K and Kᵀ, and where K's entries sit in it.

        Returns ``(solver, at, at_swapped)``: K's entry k (row i, column j) is the union's entry
        ``at[k]``, and the union's entry (j, i) is ``at_swapped[k]`` (so Kᵀ's values are
        written with ``data[:, at_swapped] = K_data``).
        """
        rows, cols = self.coordinates()
        keys = np.unique(np.concatenate([cols * self.n + rows, rows * self.n + cols]))
        indptr = np.concatenate([[0], np.cumsum(np.bincount(keys // self.n, minlength=self.n))])
        union = BatchSolver(keys % self.n, indptr, self.n)
        at = np.searchsorted(keys, cols * self.n + rows)
        at_swapped = np.searchsorted(keys, rows * self.n + cols)
        return union, at, at_swapped

    def matrix(self, values: np.ndarray) -> sp.csc_matrix:
        """The one matrix of this pattern with stored ``values``."""
        return sp.csc_matrix((values, self.indices, self.indptr), shape=(self.n, self.n))

    def matvec(self, data: np.ndarray, x: np.ndarray) -> np.ndarray:
        """K·x for every sample (rows of ``data`` and ``x``)."""
        if not hasattr(self, "_row_sum"):
            rows, cols = self.coordinates()
            self._cols = cols
            self._row_sum = sp.csr_matrix(
                (np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(self.n, len(rows))
            )
        return np.asarray((self._row_sum @ (data * x[:, self._cols]).T).T)

    def solve(self, data: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """x with K_s·x_s = rhs_s for every sample s; NaN rows for singular samples."""
        n_samples, n = rhs.shape
        if n == 0:
            return rhs.copy()
        for k, plan in enumerate(self.plans):
            solved = plan.solve(data, rhs)
            if solved is not None:
                if k:  # this plan worked where an earlier one declined: try it first next time
                    self._plans.insert(0, self._plans.pop(k))
                return solved
        nnz = self.nnz
        offsets = np.arange(n_samples, dtype=np.int64)
        big_indices = (self.indices[None, :] + (offsets * n)[:, None]).ravel()
        big_indptr = np.concatenate(
            [(self.indptr[:-1][None, :] + (offsets * nnz)[:, None]).ravel(), [n_samples * nnz]]
        )
        matrix = sp.csc_matrix(
            (data.ravel(), big_indices, big_indptr), shape=(n_samples * n, n_samples * n)
        )
        try:
            return spla.splu(matrix).solve(rhs.ravel()).reshape(n_samples, n)
        except RuntimeError:
            return self._sample_solve(data, rhs)

    def _sample_solve(self, data: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """Per-sample fallback when the block matrix is singular: singular samples get NaN."""
        out = np.full_like(rhs, np.nan)
        for k in range(rhs.shape[0]):
            matrix = self.matrix(data[k])
            try:
                out[k] = spla.splu(matrix).solve(rhs[k])
            except RuntimeError:
                continue
        return out


class PhaseTerm(Protocol):
    """What a learning phase adds to the free system's equations in :func:`newton_batch`.

    ``apply`` turns the free system's evaluation of the ``active`` samples into the phase's:
    residual, Jacobian values on ``solver``'s pattern, and the row scales (for the tolerances)
    as a function of the samples (rows of ``x``) they are asked for, built on
    :meth:`Evaluation.scale_of`.
    """

    solver: BatchSolver

    def apply(
        self, active: np.ndarray, x: np.ndarray, ev: Evaluation
    ) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]: ...


def newton_batch(
    system: MNASystem,
    sources: SourceValues,
    x: np.ndarray,
    options: Mapping[str, Any],
    *,
    cold: bool,
    term: PhaseTerm | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Newton over all samples at once; returns states, converged mask, iterations per sample.

    ``x`` (samples × unknowns) is the start and is updated in place; ``cold`` starts junctions
    at ngspice's initial voltages instead of those at ``x``; ``term`` turns the free equations
    into a learning phase's (see :class:`PhaseTerm`). Converged samples leave the active set.
    """
    n_samples, n = x.shape
    converged = np.zeros(n_samples, dtype=bool)
    iterations = np.zeros(n_samples, dtype=int)
    is_node = np.zeros(n, dtype=bool)
    is_node[: len(system.node_index)] = True
    reltol = options["reltol"]
    res_floor = np.where(is_node, options["abstol"], options["vntol"])
    dx_floor = np.where(is_node, options["vntol"], options["abstol"])
    solver = BatchSolver.of(system) if term is None else term.solver
    if cold:
        init = system.initial_state()
        state = {k: {q: np.tile(v, (n_samples, 1)) for q, v in g.items()} for k, g in init.items()}
    else:
        e = np.concatenate(
            [x, np.broadcast_to(sources.tail, (n_samples, sources.tail.shape[-1]))], axis=1
        )
        state = {k: g.raw_state(e) for k, g in system.groups.items()}
    tail, const, const_abs = (
        np.broadcast_to(a, (n_samples, a.shape[-1]))
        for a in (sources.tail, sources.const, sources.const_abs)
    )
    active = np.arange(n_samples)
    for _ in range(options["max_iterations"]):
        if active.size == 0:
            break
        if active.size == n_samples:  # no gathers while every sample is active (MBs a pass)
            src, sub_state = SourceValues(tail, const, const_abs), state
        else:
            src = SourceValues(tail[active], const[active], const_abs[active])
            sub_state = {k: {q: v[active] for q, v in g.items()} for k, g in state.items()}
        ev = system.evaluate(x[active], sources=src, old_state=sub_state, magnitudes=False)
        for k, g in ev.state.items():
            if set(g) != set(state[k]):  # after the cold first iteration (all samples active)
                state[k] = {q: np.empty((n_samples, v.shape[-1])) for q, v in g.items()}
            for q, v in g.items():
                state[k][q][active] = v
        if term is None:
            residual, data, scale_of = ev.residual, ev.jacobian_data, ev.scale_of
        else:
            residual, data, scale_of = term.apply(active, x[active], ev)
        dx = solver.solve(data, -residual)
        finite = np.all(np.isfinite(dx), axis=1)
        dx[~finite] = 0.0
        step = np.max(np.abs(dx[:, is_node]), axis=1, initial=0.0)
        dx *= np.minimum(1.0, options["max_step"] / np.maximum(step, 1e-300))[:, None]
        x_old = x[active]
        x_new = x_old + dx
        iterations[active] += 1
        dx_ok = np.all(
            np.abs(dx) <= reltol * np.maximum(np.abs(x_new), np.abs(x_old)) + dx_floor, axis=1
        )
        x[active] = x_new
        done = dx_ok & ~ev.limited & finite
        near = np.flatnonzero(done)  # the residual test only where the rest already holds
        if near.size:
            scale = scale_of(near)
            done[near] = np.all(np.abs(residual[near]) <= reltol * scale + res_floor, axis=1)
        converged[active[done]] = True
        active = active[~done & finite]
    return x, converged, iterations


def _rescue(
    system: MNASystem,
    inputs: Mapping[str, Any],
    x: np.ndarray,
    converged: np.ndarray,
    iterations: np.ndarray,
    opts: Mapping[str, Any],
) -> None:
    """Full homotopy ladder, sample by sample, for the samples batched Newton did not solve."""
    failed = np.flatnonzero(~converged)
    if failed.size == 0 or not opts["homotopy"]:
        return
    names = [str(k).lower() for k in inputs]
    values = {
        name: np.atleast_1d(np.asarray(v, dtype=float))
        for name, v in zip(names, inputs.values(), strict=True)
    }
    original = {name: float(system.circuit[name].dc) for name in names}
    try:
        for k in failed:
            system.set_values({name: values[name][k] for name in names})
            op = solve_native(system, options=opts)
            iterations[k] += op.iterations
            if op.converged:
                x[k], converged[k] = op.state, True
    finally:
        system.set_values(original)
