"""Convergence diagnostics of a training run: solves per phase and sample, loss, gradient alignment.

A :class:`ConvergenceReport` is fed once per step by any training loop: the phases' operating
points (Newton iterations, homotopy rung, KCL residual), the cost, and optionally the exact
gradient next to the estimate used, whose cosine tracks how well the learning rule follows the
true gradient over training (≈1 for EP on reciprocal circuits; far from 1 for plain EP on
non-reciprocal ones, docs/math.md §3).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from circuitlearn.errors import CircuitError
from circuitlearn.solve.result import OperatingPoint

__all__ = ["ConvergenceReport", "SolveRecord", "cosine_similarity", "kcl_residual"]


@dataclass(frozen=True)
class SolveRecord:
    """One DC solve of one phase for one sample at one training step."""

    step: int
    sample: int
    phase: str
    iterations: int
    strategy: str
    converged: bool
    max_residual: float
    """Largest KCL residual at the solution [A] (NaN when the backend cannot tell)."""


def cosine_similarity(
    a: Mapping[str, float] | Sequence[float], b: Mapping[str, float] | Sequence[float]
) -> float:
    """cos(a, b) = a·b/(‖a‖‖b‖) of two gradients (mappings are matched by name); NaN if one is 0.

    Examples
    --------
    >>> cosine_similarity({"r1": 1.0, "r2": 0.0}, {"r2": 1.0, "r1": 1.0})
    0.7071067811865475
    """
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        missing = sorted(set(a) ^ set(b))
        if missing:
            raise CircuitError(
                f"cosine_similarity: the gradients differ in parameters {', '.join(missing[:8])}"
            )
        names = list(a)
        x = np.array([a[n] for n in names], dtype=float)
        y = np.array([b[n] for n in names], dtype=float)
    else:
        x = np.asarray(a, dtype=float).reshape(-1)
        y = np.asarray(b, dtype=float).reshape(-1)
    scale = float(np.linalg.norm(x) * np.linalg.norm(y))
    return float(x @ y / scale) if scale > 0 else float("nan")


def kcl_residual(system: Any, op: OperatingPoint) -> float:
    """Largest KCL residual [A] of ``op`` re-evaluated by a compiled MNA system.

    Independent of what the backend reported (an ngspice operating point is checked against the
    native model equations).

    Parameters
    ----------
    system : circuitlearn.solve.mna.MNASystem
    op : OperatingPoint
    """
    x = system.state_from(op)
    residual = np.asarray(system.residual(x))
    rows = [system.node_index[n] for n in system.node_index]
    return float(np.max(np.abs(residual[rows]))) if rows else 0.0


@dataclass
class ConvergenceReport:
    """Solver and learning diagnostics accumulated over a training run.

    Attributes
    ----------
    records : list of SolveRecord
    losses : list of float
        Cost per step [V²].
    alignment : list of float
        cos(estimate, exact gradient) per step where the exact gradient was given.
    steps : int
        Steps recorded so far.

    Examples
    --------
    >>> from circuitlearn.solve.result import OperatingPoint
    >>> op = OperatingPoint({"out": 0.5}, {}, True, 3, "newton", 1e-15, "converged", "native")
    >>> report = ConvergenceReport()
    >>> report.record_step({"free": op, "nudged": op}, cost=0.125)
    >>> report.summary()["phases"]["free"]["mean_iterations"]
    3.0
    """

    records: list[SolveRecord] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    alignment: list[float] = field(default_factory=list)
    steps: int = 0

    def record_step(
        self,
        phases: Mapping[str, OperatingPoint] | Sequence[Mapping[str, OperatingPoint]],
        *,
        cost: float | None = None,
        estimate: Mapping[str, float] | None = None,
        exact: Mapping[str, float] | None = None,
    ) -> None:
        """Record one training step.

        Parameters
        ----------
        phases : mapping phase → OperatingPoint, or a sequence of them (one per sample)
        cost : float, optional
            Cost at this step [V²].
        estimate, exact : mapping name → dC/dG, optional
            The gradient the rule used and the exact one, for the alignment curve.
        """
        self.steps += 1
        per_sample = [phases] if isinstance(phases, Mapping) else list(phases)
        for sample, by_phase in enumerate(per_sample):
            for phase, op in by_phase.items():
                self.records.append(
                    SolveRecord(
                        self.steps,
                        sample,
                        phase,
                        int(op.iterations),
                        op.strategy,
                        bool(op.converged),
                        float(op.max_residual),
                    )
                )
        if cost is not None:
            self.losses.append(float(cost))
        if estimate is not None and exact is not None:
            self.alignment.append(cosine_similarity(estimate, exact))

    def iterations_by_phase(self) -> dict[str, np.ndarray]:
        """Newton iterations of every solve, per phase, in recording order."""
        phases: dict[str, list[int]] = {}
        for record in self.records:
            phases.setdefault(record.phase, []).append(record.iterations)
        return {phase: np.array(values) for phase, values in phases.items()}

    def failures(self) -> list[SolveRecord]:
        """Solves that did not converge."""
        return [r for r in self.records if not r.converged]

    def summary(self) -> dict[str, Any]:
        """Per phase: solves, mean/max iterations, strategies used, worst KCL residual; loss and
        alignment at the start and the end."""
        phases: dict[str, Any] = {}
        for phase in dict.fromkeys(r.phase for r in self.records):
            rows = [r for r in self.records if r.phase == phase]
            residuals = np.array([r.max_residual for r in rows])
            finite = residuals[np.isfinite(residuals)]
            phases[phase] = {
                "solves": len(rows),
                "mean_iterations": float(np.mean([r.iterations for r in rows])),
                "max_iterations": int(max(r.iterations for r in rows)),
                "strategies": dict(Counter(r.strategy for r in rows)),
                "failures": sum(not r.converged for r in rows),
                "max_residual": float(np.max(finite)) if finite.size else None,
            }
        return {
            "phases": phases,
            "steps": self.steps,
            "loss_initial": self.losses[0] if self.losses else None,
            "loss_final": self.losses[-1] if self.losses else None,
            "alignment_initial": self.alignment[0] if self.alignment else None,
            "alignment_final": self.alignment[-1] if self.alignment else None,
            "alignment_min": float(np.nanmin(self.alignment)) if self.alignment else None,
        }

    def to_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready."""
        return {
            "summary": self.summary(),
            "records": [asdict(r) for r in self.records],
            "losses": list(self.losses),
            "alignment": list(self.alignment),
        }
