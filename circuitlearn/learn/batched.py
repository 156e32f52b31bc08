"""Batched gradients: every phase of every sample of a mini-batch on one compiled network.

:class:`BatchEngine` compiles a task's circuit once. A mini-batch is a set of per-sample values
(independent source values and output targets, :class:`Batch`); for it the engine solves the free
phase of all samples in one batched Newton, then each learning phase of all samples in another,
and applies the local rule with array products. Nothing is compiled per step: changing the
conductances only rewrites the compiled values (:meth:`BatchEngine.set_conductances`), which
are a pure function of the conductances, so a system updated in place and one compiled afresh
with the same conductances solve bit for bit alike.

The phases are the MNA form of the phase circuits of :mod:`circuitlearn.learn.phases` (which
remain the definition, and what is exported and run on ngspice), written on the free system's
unknowns with per-sample values:

- **EP nudge**: r(x) + s·β·c(x0) = 0 (the nudging currents −β ∂C/∂v at the free state);
- **CL clamp**: the output rows replaced by v_k = v_k(x0) − s·η·w_k;
- **AEP**: r(x) + s·β·c(x0) − (K0 − K0ᵀ)(x − x0) = 0, K0 each sample's free-state Jacobian (the
  mirror's gains, e.g. MOSFET transconductances, and its DC offsets are per sample);
- **twin** (Dyadic EP): its MNA matrix is K0ᵀ, so d = −β K0⁻ᵀ c is one batched linear solve;
- **exact**: the adjoint K0ᵀ μ = c, the same solve.

The local rule of resistor (a, b) averaged over the batch, mean_s (v_a − v_b)(q_a − q_b) with q
the phase difference divided by β, is a matrix product Vᵀ·Q over the batch for large batches
(a GEMM, as for a crossbar Σ_s ΔV_i ΔV_j), and a direct product for small ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from circuitlearn.circuit.devices import device_for
from circuitlearn.errors import CircuitError, ConvergenceError
from circuitlearn.learn.estimators import (
    LINEAR_BETA_FRACTION,
    VARIANTS,
    Adjoint,
    AsymmetricEP,
    CoupledLearning,
    DyadicEP,
    EquilibriumProp,
    FiniteDifference,
    GradientEstimator,
    capped_beta,
)
from circuitlearn.learn.methods import make_fixed_estimator
from circuitlearn.learn.phases import clamped_circuit
from circuitlearn.learn.task import LearningTask
from circuitlearn.solve.arrays import get_backend
from circuitlearn.solve.batch import (
    BatchSolver,
    InputColumns,
    batch_sources,
    newton_batch,
    solve_batch,
)
from circuitlearn.solve.mna import Evaluation, MNASystem, SourceValues, compile_circuit
from circuitlearn.solve.newton import check_options

__all__ = [
    "DIRECT_RULE_LIMIT",
    "Batch",
    "BatchEngine",
    "BatchGradient",
    "engine_with_estimator",
]


DIRECT_RULE_LIMIT = 2_000_000
"""Largest samples × trainable resistors for which the local rule is applied per resistor and
sample (the same arithmetic as the single-sample path); above it the rule is a matrix product."""

SOLVE_CHUNK = 250
"""Most samples per batched free-phase solve when predicting or evaluating many samples
(:attr:`BatchEngine.solve_chunk`). Each sample's answer does not depend on it; larger chunks run
slower (DRN-XS, trained: 2,000 samples per solve took 1.3–1.5× as long per sample as 250, their
per-iteration arrays outgrowing the caches) and hold more memory."""

CHUNK_VALUES = 2**19
"""Jacobian values (samples × nonzeros, 4 MB) per batched solve when evaluating many samples:
DRN-XS (2,110 nonzeros) gets 248 samples, DRN-1H (21,514) 24, which took 2.3 ms of CPU per image
against 3.5 ms in chunks of 250 (trained, 0.23 ms for DRN-XS from 50 to 250 samples alike)."""


@dataclass(frozen=True)
class Batch:
    """Per-sample values of a mini-batch.

    Attributes
    ----------
    inputs : mapping source name → ndarray (n_samples,)
        Values [V or A] of independent V or I sources; sources not named keep their value.
        An :class:`~circuitlearn.solve.batch.InputColumns` (one samples × sources array) is
        placed without an array per source.
    targets : ndarray (n_samples, n_outputs)
        Output targets (class probabilities for the cross-entropy).
    """

    inputs: Mapping[str, np.ndarray]
    targets: np.ndarray

    @property
    def size(self) -> int:
        return int(np.shape(self.targets)[0])


@dataclass
class BatchGradient:
    """The gradient of the mean cost over a mini-batch, and how it was obtained.

    Attributes
    ----------
    method : str
    beta : ndarray (n_samples,) or None
        Nudge strength of each sample [S] (CL: η; fd: relative step); None for ``exact``.
    costs : ndarray (n_samples,)
        C of every sample at its free state.
    trainable : list of str
        Trainable resistors, the order of ``conductances`` and ``vector``.
    conductances : ndarray
        Their conductances G [S].
    vector : ndarray
        d(mean C)/dG, in parameter order.
    iterations : ndarray (n_samples,)
        Newton iterations of each sample's free phase.
    conducting_fraction : float or None
        Fraction of the circuit's diodes forward-biased above :data:`CONDUCTING_VOLTAGE` over
        the batch's free states (None without diodes).
    states : ndarray (n_samples, n_unknowns)
        Free-phase unknowns of every sample.
    """

    method: str
    beta: np.ndarray | None
    costs: np.ndarray
    trainable: list[str]
    conductances: np.ndarray
    vector: np.ndarray
    iterations: np.ndarray
    conducting_fraction: float | None
    states: np.ndarray = field(repr=False)

    @property
    def batch_size(self) -> int:
        return len(self.costs)

    @property
    def cost(self) -> float:
        """Mean cost over the batch."""
        return float(np.mean(self.costs))

    @property
    def parameters(self) -> dict[str, float]:
        """Trainable resistor → G [S]."""
        return dict(zip(self.trainable, self.conductances.tolist(), strict=True))

    @property
    def values(self) -> dict[str, float]:
        """Trainable resistor → d(mean C)/dG."""
        return dict(zip(self.trainable, self.vector.tolist(), strict=True))

    def to_dict(self) -> dict[str, Any]:
        """The ``circuitlearn gradient --batch --json`` object.

        ``beta`` is the batch's nudge strength when one value served every sample, else the mean
        of the per-sample values, which ``beta_range`` then bounds.
        """
        out: dict[str, Any] = {"method": self.method, "beta": None}
        if self.beta is not None:
            low, high = float(np.min(self.beta)), float(np.max(self.beta))
            out["beta"] = low if low == high else float(np.mean(self.beta))
            if low != high:
                out["beta_range"] = [low, high]
        out.update(
            cost=self.cost,
            parameters=self.parameters,
            gradient=self.values,
            batch_size=self.batch_size,
        )
        return out


class BatchEngine:
    """One compiled network that computes mini-batch gradients with any estimator.

    Parameters
    ----------
    task : LearningTask
        Circuit, trainable resistors, outputs and cost; its inputs and targets are the defaults
        of sources and targets a :class:`Batch` does not give.
    options : mapping, optional
        Native solver options (see :func:`~circuitlearn.solve.newton.check_options`).
    system : MNASystem, optional
        A compiled system of ``task.circuit`` for the engine to take over instead of compiling
        its own (its values are rewritten from then on), e.g. the one that a throwaway copy of
        the task compiled to find its default β (DRN-1H takes tens of seconds to compile).

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> c = Circuit(); _ = c.add(VoltageSource("v1", "a", "0", 1.0))
    >>> _ = c.add(Resistor("r1", "a", "b", 1e3)); _ = c.add(Resistor("r2", "b", "0", 1e3))
    >>> engine = BatchEngine(LearningTask(c, "r*", {"b": 0.3}))
    >>> batch = Batch({"v1": np.array([1.0, 2.0])}, np.array([[0.3], [0.3]]))
    >>> g = engine.gradient(Adjoint(), batch)
    >>> g.batch_size, round(g.cost, 6)  # ½(0.5 − 0.3)² and ½(1.0 − 0.3)², averaged
    (2, 0.1325)
    """

    def __init__(
        self,
        task: LearningTask,
        options: Mapping[str, Any] | None = None,
        *,
        system: MNASystem | None = None,
    ) -> None:
        self.task = task
        self.options = check_options(options)
        if system is None:
            system = compile_circuit(task.circuit)
        elif len(system.circuit) != len(task.circuit):
            raise CircuitError(
                f"BatchEngine: system is not a compiled copy of the task's circuit (it has "
                f"{len(system.circuit)} elements, the task's circuit {len(task.circuit)})"
            )
        self.system: MNASystem = system
        self._base = system.conductances
        position = {name: k for k, name in enumerate(system.resistor_names)}
        try:
            self._trainable = np.array([position[name] for name in task.trainable], dtype=int)
        except KeyError as exc:
            raise CircuitError(
                f"BatchEngine: system is not a compiled copy of the task's circuit (no trainable "
                f"resistor {exc.args[0]!r})",
                element=str(exc.args[0]),
            ) from None
        self._others = np.setdiff1d(np.arange(len(self._base)), self._trainable)
        self._trainable_at = _run_or_index(self._trainable)
        self._ends = (
            np.array([system.extended_index(a) for a, _ in task.resistor_nodes], dtype=int),
            np.array([system.extended_index(b) for _, b in task.resistor_nodes], dtype=int),
        )
        self._out_rows = np.array([system.node_index[node] for node in task.outputs], dtype=int)
        self._n_nodes = len(system.node_index)
        self.solver = BatchSolver.of(system)
        self._transposed: tuple[BatchSolver, np.ndarray] | None = None
        self._union: tuple[BatchSolver, np.ndarray, np.ndarray] | None = None
        self._clamp: tuple[np.ndarray, np.ndarray] | None = None
        self._clamp_checked = False
        self._gemm_index: _GemmPlan | None = None
        self._switches = self._switch_terminals()
        self.set_conductances(task.conductances)

    # -- parameters ---------------------------------------------------------------------------
    @property
    def conductances(self) -> np.ndarray:
        """Trainable conductances G [S] (a copy)."""
        return self.system.conductances_at(self._trainable_at)

    def set_conductances(self, g: np.ndarray) -> None:
        """Write the trainable conductances [S]; other resistors keep their compiled values.

        The compiled values are a pure function of ``g`` (no history), which makes a resumed
        training run identical to an uninterrupted one.
        """
        g = np.asarray(g, dtype=float)
        if g.shape != self._trainable.shape:
            raise CircuitError(
                f"BatchEngine: expected {len(self._trainable)} positive finite conductances "
                f"[S]; got shape {g.shape}"
            )
        try:
            self.system.set_conductances_at(self._trainable_at, g)
        except CircuitError as exc:
            raise CircuitError(
                f"BatchEngine: expected positive finite conductances [S]; {exc}",
                element=exc.element,
            ) from None
        if self._others.size:  # their compiled values, whatever was written since
            self.system.set_conductances_at(self._others, self._base[self._others])

    def batch(
        self,
        inputs: Mapping[str, Sequence[float] | np.ndarray] | None = None,
        targets: Sequence[Sequence[float]] | np.ndarray | None = None,
        size: int | None = None,
    ) -> Batch:
        """A :class:`Batch`, filling what is not given from the task (its targets, its inputs).

        Raises
        ------
        CircuitError
            Inconsistent sample counts or target widths.
        """
        arrays: Mapping[str, np.ndarray]
        if isinstance(inputs, InputColumns):  # one array already: kept as it is
            arrays, sizes = inputs, {inputs.values.shape[0]}
        else:
            arrays = {
                str(k).lower(): np.atleast_1d(np.asarray(v, dtype=float))
                for k, v in dict(inputs or {}).items()
            }
            sizes = {a.shape[0] for a in arrays.values()}
        if targets is not None:
            y = np.atleast_2d(np.asarray(targets, dtype=float))
            sizes.add(y.shape[0])
        if size is not None:
            sizes.add(int(size))
        if len(sizes) != 1:
            raise CircuitError(
                "batch: inputs and targets must have the same number of samples; "
                f"got {sorted(sizes)}"
            )
        n = sizes.pop()
        if targets is None:
            y = np.tile(self.task.targets, (n, 1))
        if y.shape != (n, len(self.task.outputs)):
            raise CircuitError(
                f"batch: targets must have one column per output ({len(self.task.outputs)}); "
                f"got shape {y.shape}"
            )
        return Batch(arrays, y)

    # -- gradients ----------------------------------------------------------------------------
    def gradient(
        self,
        estimator: GradientEstimator,
        batch: Batch,
        *,
        backend: str = "native",
        x0: np.ndarray | None = None,
    ) -> BatchGradient:
        """d(mean C)/dG over ``batch`` with ``estimator`` (any of the six rules).

        ``backend="ngspice"`` (and finite differences on any backend) averages single-sample
        gradients whose phases are solved as circuits, one sample at a time. ``x0`` (one state for
        all samples, or one per sample, e.g. each sample's state of the previous epoch)
        warm-starts the free phases; by default they start cold, from ngspice's junction
        guesses.

        Raises
        ------
        ConvergenceError
            A sample's free phase has no operating point.
        CircuitError
            Bad batch values (unknown sources, non-finite values), outputs that coupled
            learning cannot clamp.
        """
        if backend != "native" or isinstance(estimator, FiniteDifference):
            return self._averaged(estimator, batch, backend)
        free = self._free(batch, x0=x0)
        v_out = free.x[:, self._out_rows]
        cost = self.task.cost
        c = np.zeros_like(free.x)
        c[:, self._out_rows] = cost.gradients(v_out, batch.targets)
        beta: np.ndarray | None
        if isinstance(estimator, Adjoint):
            mu = self._solve_transposed(free.jacobian, c)
            vector, beta = self._rule(free, [(-mu, None)]), None
        elif isinstance(estimator, DyadicEP):
            beta = self._beta(estimator.beta, free, c)
            d = self._solve_transposed(free.jacobian, -beta[:, None] * c)
            vector = self._rule(free, [(d / beta[:, None], None)])
        elif isinstance(estimator, (EquilibriumProp, AsymmetricEP, CoupledLearning)):
            vector, beta = self._phases(estimator, free, c, batch)
        else:
            raise CircuitError(f"BatchEngine: no batched form of {type(estimator).__name__}")
        return BatchGradient(
            method=estimator.method,
            beta=beta,
            costs=cost.values(v_out, batch.targets),
            trainable=self.task.trainable,
            conductances=self.conductances,
            vector=vector,
            iterations=free.iterations,
            conducting_fraction=self.conducting_fraction(free.x, free.sources),
            states=free.x,
        )

    @property
    def solve_chunk(self) -> int:
        """Samples per batched solve when evaluating or predicting many (:data:`CHUNK_VALUES`)."""
        return int(np.clip(CHUNK_VALUES // max(self.solver.nnz, 1), 16, SOLVE_CHUNK))

    @property
    def output_rows(self) -> np.ndarray:
        """Positions of the output nodes in the unknown vector."""
        return self._out_rows.copy()

    def free_solution(
        self, batch: Batch, x0: np.ndarray | None = None
    ) -> tuple[np.ndarray, SourceValues]:
        """Free-phase unknowns of every sample (samples × unknowns) and the batch's sources;
        ``x0`` warm-starts as in :meth:`gradient`."""
        free = self._free(batch, jacobian=False, x0=x0)
        return free.x, free.sources

    def conducting_fraction(self, x: np.ndarray, sources: SourceValues) -> float | None:
        """Fraction of the devices conducting over every sample (each device's own criterion:
        a diode forward-biased above 0.4 V, a MOSFET's channel on ...; ``None``: no such device)."""
        if self._switches is None:
            return None
        return float(np.mean(self.conducting(x, sources)))

    @property
    def switch_names(self) -> tuple[str, ...]:
        """The devices with a conduction criterion, in the order of :meth:`conducting`."""
        return () if self._switches is None else self._switches[3]

    def clamped(self, x: np.ndarray, sources: SourceValues, nodes: Sequence[str]) -> np.ndarray:
        """Fraction of the samples in which each of ``nodes`` is clamped: the devices at it
        conduct more (small-signal) than its resistors, so that its voltage follows them rather
        than its inputs (a saturated hidden unit, or a rectifying one that is off).

        Unlike :meth:`conducting`, this does not depend on where the devices' rails sit: with
        overlapping rails every clamp is forward-biased, and what matters is by how much.
        """
        return np.mean(self._clamp_mask(x, sources, nodes)[0], axis=0)

    def clamped_sides(
        self, x: np.ndarray, sources: SourceValues, nodes: Sequence[str], midpoint: float = 0.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Fractions of the samples in which each of ``nodes`` is clamped above ``midpoint`` [V]
        (between the rails) and below it: a unit clamped on one side for every sample is a
        constant, dead for learning, while one that switches sides is a working binary unit."""
        mask, voltages = self._clamp_mask(x, sources, nodes)
        high = voltages > midpoint
        return np.mean(mask & high, axis=0), np.mean(mask & ~high, axis=0)

    def _clamp_mask(
        self, x: np.ndarray, sources: SourceValues, nodes: Sequence[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per sample and node: clamped (see :meth:`clamped`), and the node voltages [V]."""
        rows = np.array([self.system.node_index[node] for node in nodes], dtype=int)
        linear, devices = self.system.node_conductances(x, rows, sources)
        return devices > linear, np.atleast_2d(x)[:, rows]

    def conducting(self, x: np.ndarray, sources: SourceValues) -> np.ndarray:
        """Fraction of the samples in which each of :attr:`switch_names` conducts."""
        if self._switches is None:
            return np.zeros(0)
        e = self._extended(x, sources)
        plus, minus, threshold, _ = self._switches
        return np.mean(e[:, plus] - e[:, minus] > threshold, axis=0)

    # -- phases -------------------------------------------------------------------------------
    def _phases(
        self, estimator: Any, free: _Free, c: np.ndarray, batch: Batch
    ) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(estimator, CoupledLearning):
            self._check_clamp()
            beta = (
                np.full(len(c), estimator.beta)
                if estimator.beta is not None
                else np.full(len(c), 1e-3)
                if estimator.clamp == "relative"
                else self._beta(None, free, c)
            )
            w = c[:, self._out_rows]
            if estimator.clamp == "matched":
                w = np.einsum("sko,so->sk", self._output_resistance(free), w)
        else:
            beta = self._beta(estimator.beta, free, c)
        hi, lo = VARIANTS[estimator.variant]
        states = {0: free.x}
        converged = np.ones(len(c), dtype=bool)
        for s in (hi, lo):
            if s == 0:
                continue
            if isinstance(estimator, CoupledLearning):
                clamp = free.x[:, self._out_rows] - s * beta[:, None] * w
                term: Any = _ClampTerm(self._clamp_plan(), self.solver, self._out_rows, clamp)
            elif isinstance(estimator, AsymmetricEP):
                term = _MirrorTerm(self._union_plan(), s * beta[:, None] * c, free)
            else:
                term = _NudgeTerm(self.solver, s * beta[:, None] * c)
            x = free.x.copy()
            x, ok, _ = newton_batch(
                self.system, free.sources, x, self.options, cold=False, term=term
            )
            states[s] = x
            converged &= ok
        scale = (hi - lo) * beta
        pairs = [(states[hi], states[lo])]
        vector = self._rule(free, [(None, pair) for pair in pairs], scale, converged)
        failed = np.flatnonzero(~converged)
        if failed.size:  # rescued one by one through the phase circuits and their homotopy
            rescued = [g.vector for g in self._per_sample(estimator, batch, failed)]
            vector = vector + np.sum(rescued, axis=0) / len(c)
        return vector, beta

    def _check_clamp(self) -> None:
        """Refuse outputs that cannot be clamped, as the clamped phase circuit does."""
        if not self._clamp_checked:
            clamped_circuit(self.task, np.zeros(len(self.task.outputs)))
            self._clamp_checked = True

    def _beta(self, given: float | None, free: _Free, c: np.ndarray) -> np.ndarray:
        """β of every sample [S]: the given one, else the single-sample default rule's."""
        n = len(c)
        if given is not None:
            return np.full(n, float(given))
        mean_g = float(np.mean(self.conductances))
        if self.system.is_linear:
            return np.full(n, LINEAR_BETA_FRACTION * mean_g)
        nodes = self._n_nodes
        solves = (
            lambda rhs: self.solver.solve(free.jacobian, rhs),  # EP: K0
            lambda rhs: self._solve_transposed(free.jacobian, rhs),  # AEP: K0ᵀ
        )
        units = [solve(c) for solve in solves]
        moves = np.concatenate([np.abs(u[:, :nodes]) for u in units], axis=1)
        sensitivity = np.max(moves, axis=1, initial=0.0)
        probe = capped_beta(mean_g, sensitivity)
        # nudge_curvature per sample: the remainder of Newton's first step from x0, ± each move
        r0 = self.system.evaluate(free.x, sources=free.sources, jacobian=False).residual
        eta = np.zeros(n)
        for solve, unit in zip(solves, units, strict=True):
            move = -probe[:, None] * unit
            size = np.max(np.abs(move[:, :nodes]), axis=1, initial=0.0)
            for d in (move, -move):
                at = self.system.evaluate(free.x + d, sources=free.sources, jacobian=False)
                rest = at.residual - r0 - self.solver.matvec(free.jacobian, d)
                step = np.max(np.abs(solve(rest)[:, :nodes]), axis=1, initial=0.0)
                moved = size > 0.0
                eta[moved] = np.maximum(eta[moved], step[moved] / size[moved])
        return capped_beta(mean_g, sensitivity, eta / probe)

    def _output_resistance(self, free: _Free) -> np.ndarray:
        """R_out of every sample [Ω] (samples × outputs × outputs)."""
        n_samples, k = len(free.x), len(self._out_rows)
        out = np.empty((n_samples, k, k))
        for j, row in enumerate(self._out_rows):
            rhs = np.zeros_like(free.x)
            rhs[:, row] = 1.0
            out[:, :, j] = self.solver.solve(free.jacobian, rhs)[:, self._out_rows]
        return out

    def _per_sample(
        self,
        estimator: GradientEstimator,
        batch: Batch,
        samples: np.ndarray | None = None,
        backend: str = "native",
    ) -> list[Any]:
        """Single-sample gradients (phases solved as circuits) of ``samples`` of ``batch``."""
        samples = np.arange(batch.size) if samples is None else samples
        task = self.task.with_conductances(self.conductances)
        out = []
        for s in samples.tolist():
            inputs = {name: float(values[s]) for name, values in batch.inputs.items()}
            one = LearningTask(
                task.circuit,
                task.trainable,
                task.outputs,
                targets=batch.targets[s].tolist(),
                cost=task.cost,
                inputs=inputs,
            )
            out.append(estimator.compute_gradient(one, backend=backend))
        return out

    def _averaged(self, estimator: GradientEstimator, batch: Batch, backend: str) -> BatchGradient:
        """The mean of single-sample gradients (finite differences, the ngspice backend)."""
        grads = self._per_sample(estimator, batch, backend=backend)
        betas = [g.beta for g in grads]
        return BatchGradient(
            method=estimator.method,
            beta=None if betas[0] is None else np.array(betas, dtype=float),
            costs=np.array([g.cost for g in grads]),
            trainable=self.task.trainable,
            conductances=self.conductances,
            vector=np.mean([g.vector for g in grads], axis=0),
            iterations=np.array([g.phases["free"].iterations for g in grads]),
            conducting_fraction=None,
            states=np.empty((0, self.system.n)),
        )

    # -- linear algebra -----------------------------------------------------------------------
    def _solve_transposed(self, jacobian: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        if self._transposed is None:
            self._transposed = self.solver.transpose()
        solver, order = self._transposed
        return solver.solve(jacobian[:, order], rhs)

    def _union_plan(self) -> tuple[BatchSolver, np.ndarray, np.ndarray]:
        if self._union is None:
            self._union = self.solver.with_transpose()
        return self._union

    def _clamp_plan(self) -> tuple[np.ndarray, np.ndarray]:
        """(entries in the output rows, diagonal entries of the output rows) of K's pattern."""
        if self._clamp is None:
            rows, cols = self.solver.coordinates()
            in_rows = np.isin(rows, self._out_rows)
            diag = np.array(
                [np.flatnonzero((rows == r) & (cols == r))[0] for r in self._out_rows], dtype=int
            )
            self._clamp = (np.flatnonzero(in_rows), diag)
        return self._clamp

    # -- local rule ---------------------------------------------------------------------------
    def _rule(
        self,
        free: _Free,
        parts: list[tuple[np.ndarray | None, tuple[np.ndarray, np.ndarray] | None]],
        scale: np.ndarray | None = None,
        mask: np.ndarray | None = None,
    ) -> np.ndarray:
        """mean_s of (v_a − v_b)·(q_a − q_b) per trainable resistor (module notes).

        Each part gives q directly (unknown-vector rows) or as a pair of phase states whose
        difference, divided by ``scale`` per sample, is q. Samples outside ``mask`` count as 0.
        """
        n_samples = len(free.x)
        a, b = self._ends
        v = self._extended(free.x, free.sources)
        weight = np.ones(n_samples) if mask is None else mask.astype(float)
        total = np.zeros(len(a))
        direct = n_samples * len(a) <= DIRECT_RULE_LIMIT
        for q, pair in parts:
            if direct:
                drop0 = v[:, a] - v[:, b]
                if pair is not None:
                    hi = self._extended(pair[0], free.sources)
                    lo = self._extended(pair[1], free.sources)
                    delta = (hi[:, a] - hi[:, b]) - (lo[:, a] - lo[:, b])
                    contrib = delta * drop0 / scale[:, None]
                else:
                    qe = self._extended_diff(q)
                    contrib = (qe[:, a] - qe[:, b]) * drop0
                contrib[weight == 0] = 0.0
                total += contrib.sum(axis=0)
            else:
                diff = (pair[0] - pair[1]) / scale[:, None] if pair is not None else q
                diff = diff * weight[:, None]
                total += self._gemm_rule(v, diff)
        return total / n_samples

    def _gemm_rule(self, v: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Σ_s (v_a − v_b)(q_a − q_b) per resistor from M = Vᵀ Q and its diagonal D.

        q is zero off the unknown nodes, so the sum is [a unknown](D_a − M_ba) +
        [b unknown](D_b − M_ab): one gather from M per unknown end (a crossbar from fixed
        inputs needs only M_ab), the diagonal terms from the short vector D. A crossbar from the
        inputs that opens the resistors (:class:`_CrossbarBlock`) reads M's block as a slice
        (DRN-1H: 1.6 M resistors, three gathers fewer).
        """
        nodes = self._n_nodes
        if self._gemm_index is None:
            self._gemm_index = _GemmPlan.of(*self._ends, nodes)
        plan = self._gemm_index
        m = get_backend().matmul(np.ascontiguousarray(v.T), q[:, :nodes])
        diagonal = np.zeros(nodes + 1)  # the last entry stands for a fixed end (q = 0 there)
        diagonal[:nodes] = np.einsum("sj,sj->j", v[:, :nodes], q[:, :nodes])
        total = np.empty(len(self._ends[0]))
        block = plan.block
        if block is not None:  # D_u − M_fu (a fixed end's D is 0)
            np.subtract(
                diagonal[block.col : block.col + block.cols],
                m[block.row : block.row + block.rows, block.col : block.col + block.cols],
                out=total[: block.size].reshape(block.rows, block.cols),
            )
        rest = total[plan.start :]
        np.add(np.take(diagonal, plan.slots[0]), np.take(diagonal, plan.slots[1]), out=rest)
        flat_m = m.ravel()
        for flat, resistors in plan.gathers:
            if resistors is None:
                rest -= np.take(flat_m, flat)
            else:
                rest[resistors] -= np.take(flat_m, flat)
        return total

    def _extended(self, x: np.ndarray, sources: SourceValues) -> np.ndarray:
        tail = np.broadcast_to(sources.tail, (len(x), sources.tail.shape[-1]))
        return np.concatenate([x, tail], axis=1)

    def _extended_diff(self, q: np.ndarray) -> np.ndarray:
        """q on the extended vector: zero at fixed nodes and ground."""
        return np.concatenate([q, np.zeros((len(q), self.system._n_ext - self.system.n))], axis=1)

    # -- free phase ---------------------------------------------------------------------------
    def _free(self, batch: Batch, *, jacobian: bool = True, x0: np.ndarray | None = None) -> _Free:
        n = batch.size
        if n == 0:
            raise CircuitError("batch: no samples")
        inputs: Mapping[str, np.ndarray] = batch.inputs
        if not inputs:  # every sample shares the task's sources
            name = next(iter(self._any_source()), None)
            if name is None:
                raise CircuitError("batch: the circuit has no independent source to vary")
            inputs = {name: np.full(n, float(self.system.circuit[name].dc))}
        sources, _ = batch_sources(self.system, inputs)
        result = solve_batch(self.system, inputs, options=self.options, sources=sources, x0=x0)
        if not np.all(result.converged):
            bad = np.flatnonzero(~result.converged)
            raise ConvergenceError(
                f"batch: the free phase of sample(s) {bad[:10].tolist()} did not converge",
                result=result,
            )
        x = result.states
        data = self.system.evaluate(x, sources=sources).jacobian_data if jacobian else None
        return _Free(x, sources, data, result.iterations)

    def _any_source(self) -> list[str]:
        from circuitlearn.circuit import CurrentSource, VoltageSource

        return [e.name for e in self.system.circuit.elements_of(VoltageSource, CurrentSource)]

    def _switch_terminals(
        self,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]] | None:
        """(plus, minus, threshold, names): one conducts when V(plus) − V(minus) > threshold, as
        its device declares (:meth:`~circuitlearn.circuit.devices.Device.conduction`)."""
        circuit = self.system.circuit
        ext = self.system.extended_index
        rows: list[tuple[int, int, float, str]] = []
        for element in circuit:
            device = device_for(element)
            model = getattr(element, "model", None)
            rule = (
                None
                if device is None
                else device.conduction(element, circuit.models.get(model) if model else None)
            )
            if rule is not None:
                plus, minus, threshold = rule
                rows.append((ext(plus), ext(minus), threshold, element.name))
        if not rows:
            return None
        plus, minus, threshold, names = zip(*rows, strict=True)
        return np.array(plus), np.array(minus), np.array(threshold), tuple(names)


def engine_with_estimator(
    task: LearningTask,
    method: str,
    *,
    beta: float | None = None,
    variant: str = "centered",
    options: Mapping[str, Any] | None = None,
) -> tuple[BatchEngine, GradientEstimator, float | None]:
    """An engine for ``task`` and the estimator of ``method`` with β fixed once at the task's
    conductances (:func:`~circuitlearn.learn.methods.make_fixed_estimator`), from one compile:
    β is found on a copy of the task, whose compiled system the engine then takes over. The
    task itself stays uncompiled."""
    derived = task.with_conductances({})
    estimator, fixed_beta = make_fixed_estimator(method, derived, beta=beta, variant=variant)
    return BatchEngine(task, options, system=derived.system), estimator, fixed_beta


@dataclass
class _Free:
    """Free-phase solution of a batch."""

    x: np.ndarray
    sources: SourceValues
    jacobian: Any
    iterations: np.ndarray


class _NudgeTerm:
    """EP's nudged phase: constant per-sample currents s·β·c added to the KCL rows."""

    def __init__(self, solver: BatchSolver, add: np.ndarray) -> None:
        self.solver = solver
        self.add = add

    def apply(
        self, active: np.ndarray, x: np.ndarray, ev: Evaluation
    ) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        add = self.add[active]

        def scale_of(rows: np.ndarray) -> np.ndarray:
            return ev.scale_of(rows) + np.abs(add[rows])

        return ev.residual + add, ev.jacobian_data, scale_of


class _MirrorTerm:
    """AEP's phase: the nudge plus −(K0 − K0ᵀ)(x − x0) with each sample's free Jacobian K0.

    K0 − K0ᵀ is kept once, as a sparse matrix, when it is the same in every sample: when only
    diagonal entries vary between samples (the diodes of a DRN network, tied to a rail), which
    cancel in it. AEP gradients on DRN-XS with amplifiers take 15 % less time than with a copy
    per sample.
    """

    def __init__(
        self, plan: tuple[BatchSolver, np.ndarray, np.ndarray], add: np.ndarray, free: _Free
    ) -> None:
        self.solver, self.at, self.at_swapped = plan
        self.add = add
        self.x0 = free.x
        mirror = np.zeros((len(free.x), self.solver.nnz))
        mirror[:, self.at] += free.jacobian
        mirror[:, self.at_swapped] -= free.jacobian
        self.mirror: np.ndarray | None = mirror
        self.shared: sp.csr_matrix | None = None
        if len(mirror) > 1 and np.array_equal(mirror, np.broadcast_to(mirror[0], mirror.shape)):
            self.mirror = None
            self.shared_values = mirror[0]
            self.shared = self.solver.matrix(self.shared_values).tocsr()
            self.elsewhere = np.setdiff1d(np.arange(self.solver.nnz), self.at)

    def apply(
        self, active: np.ndarray, x: np.ndarray, ev: Evaluation
    ) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        step = x - self.x0[active]
        if self.mirror is not None:
            mirror = self.mirror[active]
            data = -mirror
            data[:, self.at] += ev.jacobian_data
            correction = self.solver.matvec(mirror, step)
        else:
            data = np.empty((len(step), self.solver.nnz))
            values = self.shared_values
            data[:, self.elsewhere] = -values[self.elsewhere]
            data[:, self.at] = ev.jacobian_data - values[self.at]
            correction = np.asarray((self.shared @ step.T).T)
        add = self.add[active]

        def scale_of(rows: np.ndarray) -> np.ndarray:
            return ev.scale_of(rows) + np.abs(add[rows]) + np.abs(correction[rows])

        return ev.residual + add - correction, data, scale_of


class _ClampTerm:
    """CL's clamped phase: output rows replaced by v_k − clamp_k = 0."""

    def __init__(
        self,
        plan: tuple[np.ndarray, np.ndarray],
        solver: BatchSolver,
        rows: np.ndarray,
        clamp: np.ndarray,
    ) -> None:
        self.entries, self.diag = plan
        self.solver = solver
        self.rows = rows
        self.clamp = clamp

    def apply(
        self, active: np.ndarray, x: np.ndarray, ev: Evaluation
    ) -> tuple[np.ndarray, np.ndarray, Callable[[np.ndarray], np.ndarray]]:
        residual = ev.residual.copy()
        clamp = self.clamp[active]
        residual[:, self.rows] = x[:, self.rows] - clamp
        data = ev.jacobian_data.copy()
        data[:, self.entries] = 0.0
        data[:, self.diag] = 1.0

        def scale_of(rows: np.ndarray) -> np.ndarray:
            scale = ev.scale_of(rows)
            scale[:, self.rows] = np.abs(clamp[rows])
            return scale

        return residual, data, scale_of


@dataclass(frozen=True)
class _CrossbarBlock:
    """Resistors 0 … rows·cols − 1 that join fixed node ``row + k // cols`` (extended index) to
    unknown node ``col + k % cols``: a crossbar from the inputs, in its rows' order."""

    row: int
    col: int
    rows: int
    cols: int

    @property
    def size(self) -> int:
        return self.rows * self.cols

    @classmethod
    def of(
        cls, fixed: np.ndarray, unknown: np.ndarray, one_fixed: np.ndarray
    ) -> _CrossbarBlock | None:
        """The block the resistors open with (ends split into ``fixed`` / ``unknown``), if
        they open with at least two rows of one."""
        if fixed.size == 0 or not one_fixed[0]:
            return None
        first_row = fixed == fixed[0]
        cols = int(np.argmin(first_row)) if not first_row.all() else fixed.size
        rows = fixed.size // cols
        if rows < 2:
            return None
        span = rows * cols
        k = np.arange(span)
        ok = (
            (
                (fixed[:span] == fixed[0] + k // cols)
                & (unknown[:span] == unknown[0] + k % cols)
                & one_fixed[:span]
            )
            .reshape(rows, cols)
            .all(axis=1)
        )
        rows = rows if ok.all() else int(np.argmin(ok))
        if rows < 2:
            return None
        return cls(int(fixed[0]), int(unknown[0]), rows, cols)


@dataclass(frozen=True)
class _GemmPlan:
    """Where :meth:`BatchEngine._gemm_rule` reads: an opening crossbar block (or none), then for
    the resistors from ``start`` on each end's slot in D (``nodes`` for a fixed end) and the
    flat positions in M of M_ab and M_ba over those whose b (resp. a) is an unknown node, with
    those resistors (``None``: all of them), counted from ``start``."""

    block: _CrossbarBlock | None
    start: int
    slots: tuple[np.ndarray, np.ndarray]
    gathers: list[tuple[np.ndarray, np.ndarray | None]]

    @classmethod
    def of(cls, a: np.ndarray, b: np.ndarray, nodes: int) -> _GemmPlan:
        a_fixed, b_fixed = a >= nodes, b >= nodes
        block = _CrossbarBlock.of(
            np.where(a_fixed, a, b), np.where(a_fixed, b, a), a_fixed != b_fixed
        )
        start = 0 if block is None else block.size
        a, b = a[start:], b[start:]
        slots = (np.where(a < nodes, a, nodes), np.where(b < nodes, b, nodes))
        gathers: list[tuple[np.ndarray, np.ndarray | None]] = []
        for row, col in ((a, b), (b, a)):
            at = np.flatnonzero(col < nodes)
            if at.size == len(col):
                gathers.append((row * nodes + col, None))
            elif at.size:
                gathers.append((row[at] * nodes + col[at], at))
        return cls(block, start, slots, gathers)


def _run_or_index(positions: np.ndarray) -> np.ndarray | slice:
    """``positions`` as a slice when they are one increasing run (reads and writes without
    gathers), else as they are."""
    if positions.size and np.array_equal(
        positions, np.arange(positions[0], positions[0] + positions.size)
    ):
        return slice(int(positions[0]), int(positions[0]) + positions.size)
    return positions
