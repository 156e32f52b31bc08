"""Solving learning phases: compile each phase circuit once, then only change values.

A :class:`PhaseSpec` describes the phases of one gradient estimate: a structure key, a function
building the phase circuit, and the values of the elements that change between phases and between
calls (nudging currents, clamp voltages, the AEP mirror's gains). On the native backend the
compiled :class:`~circuitlearn.solve.mna.MNASystem` of a phase circuit is kept in the task's
:attr:`~circuitlearn.learn.task.LearningTask.phase_systems` under its key, which tasks derived by
``with_conductances`` share, so a later estimate with the same structure (the next step of a
descent on one task) skips building and compiling the circuit; on ngspice every phase is written
out and solved as a netlist. (Mini-batch training does not come here: it uses
:class:`~circuitlearn.learn.batched.BatchEngine`.)

Values change through the vectorised ``MNASystem.set_conductances`` / ``set_values_at`` without
circuit sync (the AEP mirror has thousands of elements, and rebuilding one element dataclass per
value would cost more than a linear solve); the compiled system's ``circuit`` then keeps its
build-time values of these elements.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

import numpy as np

from circuitlearn.circuit import Circuit
from circuitlearn.errors import ConvergenceError
from circuitlearn.learn.phases import PhasePlan
from circuitlearn.learn.task import LearningTask
from circuitlearn.solve import OperatingPoint
from circuitlearn.solve.mna import MNASystem, compile_circuit
from circuitlearn.solve.newton import solve_native
from circuitlearn.solve.result import MESSAGES

__all__ = ["CONTINUATION_MIN_STEP", "PhaseSpec", "solve_spec"]


@dataclass
class PhaseSpec:
    """The phases of one estimate, before any circuit is built.

    Attributes
    ----------
    key : hashable or None
        Structure of the phase circuit (two specs with equal keys build circuits that differ only
        in the values of ``names``); None disables caching.
    build : callable
        Returns the phase circuit (any values for ``names``).
    names : list of str
        Elements whose main values :attr:`variants` give.
    variants : dict
        Phase name → values aligned with ``names``.
    warm_voltages, warm_currents : dict
        Starting point: the free state, extended to the phase circuit's new nodes and sources.
    beta : float or None
        The nudge strength β [S] (CL: η) these phases were built with, resolved once here so the
        local rule divides by the same value.
    origin : ndarray or None
        The values of ``names`` at β = 0, where the warm start (the free state) solves every
        phase exactly; a phase whose Newton solve from there fails is continued in β from them
        (:func:`solve_spec`). None: no such values (solved with the full homotopy ladder).
    """

    key: Hashable | None
    build: Callable[[], Circuit]
    names: list[str]
    variants: dict[str, np.ndarray]
    warm_voltages: dict[str, float] = field(default_factory=dict)
    warm_currents: dict[str, float] = field(default_factory=dict)
    beta: float | None = None
    origin: np.ndarray | None = None

    def plan(self) -> PhasePlan:
        """The phases as a :class:`~circuitlearn.learn.phases.PhasePlan` (circuits built now)."""
        circuit = self.build()
        variants = {
            p: dict(zip(self.names, np.asarray(v, dtype=float).tolist(), strict=True))
            for p, v in self.variants.items()
        }
        return PhasePlan(circuit, variants, dict(self.warm_voltages), dict(self.warm_currents))


CONTINUATION_MIN_STEP = 1e-3
"""Smallest step, as a fraction of β, of the continuation of a learning phase in β
(:func:`solve_spec`); a phase that cannot advance by this much has reached the fold of its
branch (or a point where Newton cannot follow it), and is reported instead of solved."""


def solve_spec(task: LearningTask, spec: PhaseSpec, backend: str) -> dict[str, OperatingPoint]:
    """Operating point of every phase of ``spec`` (native: cached compilation, warm start).

    Natively each phase is a Newton solve from the free state. A phase is the branch of
    solutions through the free state as β grows from 0 (where the free state solves it exactly),
    so where that solve fails and ``spec.origin`` gives the values at β = 0, the phase is
    continued along β from the free state (steps adapting, down to
    :data:`CONTINUATION_MIN_STEP` × β) rather than handed to gmin or source stepping, which
    start cold and may settle on another operating point of the phase circuit.

    Raises
    ------
    ConvergenceError
        A phase without an operating point (on ngspice: none found from the ``.nodeset`` warm
        start; natively: none on the branch through the free state), naming the phase and β.
    """
    if backend != "native":
        plan = spec.plan()
        warm = plan.warm_start() if plan.warm_voltages else None
        out = {}
        for name, circuit in plan.circuits().items():
            try:
                out[name] = _solve_circuit(task, backend, circuit, warm)
            except ConvergenceError as exc:
                raise _phase_error(name, spec, str(exc), exc.result) from None
        return out
    cache = task.phase_systems
    system = cache.get(spec.key) if spec.key is not None else None
    if system is None:
        system = compile_circuit(spec.build())
        if spec.key is not None:
            cache[spec.key] = system
    _copy_conductances(task.system, system)
    warm = None
    if spec.warm_voltages:
        op = OperatingPoint(
            dict(spec.warm_voltages),
            dict(spec.warm_currents),
            True,
            0,
            "newton",
            np.nan,
            "warm start",
            "native",
        )
        warm = system.state_from(op)
    index = system.value_index(spec.names)
    out = {}
    for phase, values in spec.variants.items():
        values = np.asarray(values, dtype=float)
        reached = 0.0
        if warm is None or spec.origin is None:
            system.set_values_at(index, values)
            op = solve_native(system, x0=warm)
        else:
            origin = np.asarray(spec.origin, dtype=float)
            op, reached = _continued(system, index, origin, values, warm)
        if not op.converged:
            raise _phase_error(phase, spec, op.message, op, reached)
        out[phase] = op
    return out


def _solve_circuit(
    task: LearningTask, backend: str, circuit: Circuit, warm: OperatingPoint | None
) -> OperatingPoint:
    """A phase circuit on a simulator backend, from the warm start; an answer that stopped
    short of the native convergence test is run again from itself, once (as ngspice's own cold
    solves are): a phase moves the free state by little (~0.1 µV on bjt_bias's AEP phase), so
    ngspice's update test (reltol·|x|, 2e-9 V there) is a sizeable part of the move."""
    try:
        return task.solve(backend, circuit=circuit, x0=warm)
    except ConvergenceError as exc:
        first = exc.result
        if not (
            isinstance(first, OperatingPoint) and first.message.startswith(MESSAGES["unverified"])
        ):
            raise
    return task.solve(backend, circuit=circuit, x0=first)


def _continued(
    system: MNASystem, index: np.ndarray, origin: np.ndarray, values: np.ndarray, x: np.ndarray
) -> tuple[OperatingPoint, float]:
    """The phase with ``values`` solved from the state ``x`` that solves it with ``origin``:
    Newton at once, else along origin + λ(values − origin) with λ from 0 to 1 (step doubled
    after a success, quartered after a failure). Returns the operating point and the λ reached
    (1 on success; a failure's ``message`` says where it stopped)."""
    plain = {"homotopy": False}
    system.set_values_at(index, values)
    op = solve_native(system, x0=x, options=plain)
    if op.converged:
        return op, 1.0
    reached, step = 0.0, 0.5
    while True:
        target = min(1.0, reached + step)
        system.set_values_at(
            index, values if target == 1.0 else origin + target * (values - origin)
        )
        trial = solve_native(system, x0=x, options=plain)
        if trial.converged:
            reached, x = target, trial.state
            if reached >= 1.0:
                trial.strategy = "beta continuation"
                return trial, reached
            step *= 2.0
            continue
        step /= 4.0
        if step < CONTINUATION_MIN_STEP:
            system.set_values_at(index, values)
            op.message = (
                f"{op.message}; continuation in beta from the free state reached "
                f"{reached:.3g} x beta and could not go on (the branch of the phase folds or "
                "Newton cannot follow it)"
            )
            return op, reached


def _phase_error(
    phase: str, spec: PhaseSpec, detail: str, result: object, reached: float = 0.0
) -> ConvergenceError:
    """The :class:`ConvergenceError` of a phase without an operating point: which phase, at which
    β, and what to try (a tenth of the β that was reached, or of β)."""
    beta = "" if spec.beta is None else f" at beta = {spec.beta:.3g}"
    hint = (
        ""
        if spec.beta is None
        else f"; try a smaller beta (e.g. {(reached or 1.0) * spec.beta / 10:.2g}), which keeps "
        "the phase nearer its linearisation at the free state"
    )
    return ConvergenceError(
        f"learning phase {phase}{beta} has no operating point: {detail}{hint}", result=result
    )


def _copy_conductances(free_system: MNASystem, system: MNASystem) -> None:
    """Write the free circuit's resistor conductances into a (cached) phase ``system``.

    The phase circuit usually has the free circuit's resistors in the same order; one whose
    devices' series resistances were made explicit resistors (``phases.explicit_task``) has more
    (``r_series*``, constant), and the free ones are written by name. A phase without all of the
    free circuit's resistors (the twin, which is never cached) keeps its own values.
    """
    names = free_system.resistor_names
    if system.resistor_names == names:
        system.set_conductances(free_system.conductances, sync_circuit=False)
        return
    position = {name: k for k, name in enumerate(system.resistor_names)}
    if not all(name in position for name in names):
        return
    values = system.conductances
    values[[position[name] for name in names]] = free_system.conductances
    system.set_conductances(values, sync_circuit=False)
