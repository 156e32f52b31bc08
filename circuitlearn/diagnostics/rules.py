"""The energy form of the EP / CL local rule, for the conservation-law order studies.

:mod:`circuitlearn.learn` applies the *product* local rule ĝ = ΔV_0·(ΔV_hi − ΔV_lo)/((hi − lo)·β),
i.e. (1/β)(x_β − x0)ᵀ∂r/∂G (docs/math.md §3). Summed against the conductances it gives
∇E(x0)·(x_hi − x_lo)/β with E = ½ΣG·ΔV² the dissipated co-content, and ∇E(x0) vanishes by KCL at
the free state whenever every conductive element is a trainable resistor: where the law applies,
those rules conserve Q = ½ΣG² *exactly*, at any β or η.

The drift rates of docs/math.md §7 belong to the *energy* form ĝ = ½(ΔV_hi² − ΔV_lo²)/((hi − lo)·β)
(Scellier & Bengio's EP: the β-derivative of ∂E/∂G), for which Σ G·ĝ = (E_hi − E_lo)/((hi−lo)β).
:class:`EnergyFormRule` applies it to the phases of a learn estimator, so the order studies can
measure those rates. Two nudges for EP:

- ``frozen`` (learn's phases): nudging currents −β ∂C/∂v fixed at their free-state values; the
  phase is linear in β, so one-sided drift is exactly ∓(β/2)eᵀR_out e and centred drift is 0;
- ``state``: docs/math.md §3's state-dependent nudge r(x) + β c(x) — for the MSE a conductance ±β
  from each output to its target (a self-controlled VCCS, so −β works too); centred drift O(β²).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from circuitlearn.circuit import GROUND, VCCS, Circuit, VoltageSource
from circuitlearn.errors import CircuitError
from circuitlearn.learn.estimators import (
    VARIANTS,
    CoupledLearning,
    EquilibriumProp,
    GradientEstimator,
)
from circuitlearn.learn.task import LearningTask
from circuitlearn.solve import OperatingPoint

__all__ = ["NUDGES", "EnergyFormRule", "state_nudged_circuit"]

NUDGES = ("frozen", "state")
"""EP nudges of :class:`EnergyFormRule`."""

_SIGN_NAME = {1: "pos", -1: "neg"}


def state_nudged_circuit(task: LearningTask, beta: float) -> Circuit:
    """The task's circuit plus a state-dependent MSE nudge β·(y_k − v_k) into each output.

    Realised as ``v_nudge_target_<k> nudge_target_<k> 0 y_k`` and a self-controlled VCCS
    ``g_nudge_<k> 0 out nudge_target_<k> out β`` (a conductance β to the target; β may be < 0).

    Raises
    ------
    CircuitError
        For a cost whose nudge is not linear in v (only the MSE has this exact circuit form).
    """
    if task.cost.name != "mse":
        raise CircuitError(
            "state-dependent nudge: only the MSE cost has an exact circuit form; got "
            f"{task.cost.name!r}"
        )
    out = task.circuit.copy()
    for k, (node, target) in enumerate(zip(task.outputs, task.targets.tolist(), strict=True)):
        anchor = f"nudge_target_{k}"
        out.add(VoltageSource(f"v_nudge_target_{k}", anchor, GROUND, float(target)))
        out.add(VCCS(f"g_nudge_{k}", GROUND, node, anchor, node, float(beta)))
    return out


class EnergyFormRule(GradientEstimator):
    """EP or CL with the energy-form local rule ½(ΔV_hi² − ΔV_lo²)/((hi − lo)·β).

    Parameters
    ----------
    base : EquilibriumProp or CoupledLearning
        Supplies β (or η), the variant and — except for the ``state`` nudge — the phases.
    nudge : {"frozen", "state"}
        EP nudge (see the module notes); CL always uses its clamps.

    Examples
    --------
    >>> from circuitlearn.learn.estimators import EquilibriumProp
    >>> EnergyFormRule(EquilibriumProp(beta=1e-6, variant="positive"), nudge="state")
    EnergyFormRule(base=EquilibriumProp(variant='positive', beta=1e-06), nudge='state')
    """

    method: ClassVar[str] = "energy"

    def __init__(self, base: EquilibriumProp | CoupledLearning, *, nudge: str = "frozen") -> None:
        if not isinstance(base, (EquilibriumProp, CoupledLearning)):
            raise CircuitError(
                f"EnergyFormRule: base must be EquilibriumProp or CoupledLearning; got {base!r}"
            )
        if nudge not in NUDGES:
            raise CircuitError(
                f"EnergyFormRule: unknown nudge {nudge!r}; expected one of {', '.join(NUDGES)}"
            )
        if nudge == "state" and not isinstance(base, EquilibriumProp):
            raise CircuitError(
                "EnergyFormRule: the state-dependent nudge is for EP; coupled learning clamps"
            )
        self.base = base
        self.nudge = nudge

    def _params(self) -> dict[str, Any]:
        return {"base": self.base, "nudge": self.nudge}

    def resolved_beta(self, task: LearningTask, free: OperatingPoint | None = None) -> float:
        """β (or η) the base estimator uses on ``task`` (at free state ``free``)."""
        return self.base.resolved_beta(task, free)

    def _estimate(
        self, task: LearningTask, free: OperatingPoint, backend: str
    ) -> tuple[np.ndarray, float, dict]:
        hi, lo = VARIANTS[self.base.variant]
        signs = [s for s in (hi, lo) if s != 0]
        prefix = self.base.method
        if self.nudge == "state":
            beta = self.resolved_beta(task, free)
            ops = {
                f"{prefix}_{_SIGN_NAME[s]}": task.solve(
                    backend, circuit=state_nudged_circuit(task, s * beta)
                )
                for s in signs
            }
        else:
            base = self.base.compute_gradient(task, backend=backend, free=free)
            beta = base.beta
            ops = {name: op for name, op in base.phases.items() if name != "free"}
        energy = {0: 0.5 * task.drops(free) ** 2}
        for s in signs:
            energy[s] = 0.5 * task.drops(ops[f"{prefix}_{_SIGN_NAME[s]}"]) ** 2
        return (energy[hi] - energy[lo]) / ((hi - lo) * beta), beta, ops
