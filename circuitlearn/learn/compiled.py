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
from circuitlearn.learn.phases import PhasePlan
from circuitlearn.learn.task import LearningTask
from circuitlearn.solve import OperatingPoint
from circuitlearn.solve.mna import compile_circuit
from circuitlearn.solve.newton import solve_native

__all__ = ["PhaseSpec", "solve_spec"]


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
    """

    key: Hashable | None
    build: Callable[[], Circuit]
    names: list[str]
    variants: dict[str, np.ndarray]
    warm_voltages: dict[str, float] = field(default_factory=dict)
    warm_currents: dict[str, float] = field(default_factory=dict)
    beta: float | None = None

    def plan(self) -> PhasePlan:
        """The phases as a :class:`~circuitlearn.learn.phases.PhasePlan` (circuits built now)."""
        circuit = self.build()
        variants = {
            p: dict(zip(self.names, np.asarray(v, dtype=float).tolist(), strict=True))
            for p, v in self.variants.items()
        }
        return PhasePlan(circuit, variants, dict(self.warm_voltages), dict(self.warm_currents))


def solve_spec(task: LearningTask, spec: PhaseSpec, backend: str) -> dict[str, OperatingPoint]:
    """Operating point of every phase of ``spec`` (native: cached compilation, warm start)."""
    if backend != "native":
        plan = spec.plan()
        warm = plan.warm_start() if plan.warm_voltages else None
        return {
            name: task.solve(backend, circuit=circuit, x0=warm)
            for name, circuit in plan.circuits().items()
        }
    cache = task.phase_systems
    system = cache.get(spec.key) if spec.key is not None else None
    if system is None:
        system = compile_circuit(spec.build())
        if spec.key is not None:
            cache[spec.key] = system
    free_system = task.system
    if system.resistor_names == free_system.resistor_names:
        system.set_conductances(free_system.conductances, sync_circuit=False)
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
        system.set_values_at(index, values)
        out[phase] = solve_native(system, x0=warm, raise_on_failure=True)
    return out
