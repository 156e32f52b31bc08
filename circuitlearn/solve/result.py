"""One result type for every backend: :class:`OperatingPoint`.

Native and ngspice solves both return it, converged or not (SciPy ``OptimizeResult`` style);
``to_dict()`` is exactly the ``circuitlearn simulate --json`` object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["MESSAGES", "HomotopyStep", "OperatingPoint"]

MESSAGES: dict[str, str] = {
    "converged": "converged",
    "max_iterations": "Newton iterations exhausted before convergence",
    "singular": "singular Jacobian",
    "homotopy_failed": "gmin and source stepping both failed",
    "backend_failed": "the backend reported a failure",
    "not_finite": "the backend returned non-finite values",
    "unverified": "the answer fails the native convergence test",
}
"""The shared table of result messages (keys are stable; texts are for people)."""


@dataclass(frozen=True)
class HomotopyStep:
    """One rung of the homotopy ladder: which, at what parameter value, and how it went."""

    rung: str
    """``"newton"``, ``"gmin"`` or ``"source"``."""
    value: float
    """gmin [S] for gmin stepping, source scale (0..1] for source stepping, 0 for plain Newton."""
    iterations: int
    converged: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "rung": self.rung,
            "value": self.value,
            "iterations": self.iterations,
            "converged": self.converged,
        }


@dataclass
class OperatingPoint:
    """A DC operating point with its diagnostics.

    Attributes
    ----------
    voltages : dict[str, float]
        Node voltages [V] by lower-case node name (ground excluded).
    currents : dict[str, float]
        Branch currents [A] of voltage sources (V, and E/H where the backend reports them), with
        ngspice's sign for ``i(Vname)``: positive when current enters the source at its + node.
    converged : bool
    iterations : int
        Newton iterations in total (all homotopy rungs).
    strategy : str
        The rung that produced the answer: ``"newton"``, ``"gmin"`` or ``"source"``.
    max_residual : float
        Largest KCL residual at the solution [A] (NaN when the backend cannot tell).
    message : str
        From :data:`MESSAGES`, possibly with detail appended.
    backend : str
        ``"native"`` or ``"ngspice"``.
    homotopy : list of HomotopyStep
        Every step tried, in order.
    residual_norms : list of float
        Per-iteration max-norm of the residual (native only).
    state : numpy.ndarray or None
        The native solver's unknown vector (``None`` for ngspice).
    worst_node : str or None
        Node with the largest residual when not converged.
    """

    voltages: dict[str, float]
    currents: dict[str, float]
    converged: bool
    iterations: int
    strategy: str
    max_residual: float
    message: str
    backend: str
    homotopy: list[HomotopyStep] = field(default_factory=list)
    residual_norms: list[float] = field(default_factory=list)
    state: np.ndarray | None = field(default=None, repr=False)
    worst_node: str | None = None

    def __repr__(self) -> str:
        return (
            f"OperatingPoint(backend={self.backend!r}, converged={self.converged}, "
            f"iterations={self.iterations}, strategy={self.strategy!r}, "
            f"max_residual={self.max_residual:.3g}, nodes={len(self.voltages)})"
        )

    def voltage(self, node: str) -> float:
        """Voltage of ``node`` [V]; ground (``0``/``gnd``) is 0."""
        key = node.lower()
        if key in ("0", "gnd"):
            return 0.0
        return self.voltages[key]

    def to_dict(self) -> dict[str, Any]:
        """The ``simulate --json`` object: backend, converged, iterations, strategy, voltages,
        currents, max_residual (plus message and homotopy)."""
        return {
            "backend": self.backend,
            "converged": bool(self.converged),
            "iterations": int(self.iterations),
            "strategy": self.strategy,
            "voltages": {k: float(v) for k, v in self.voltages.items()},
            "currents": {k: float(v) for k, v in self.currents.items()},
            "max_residual": _json_float(self.max_residual),
            "message": self.message,
            "homotopy": [s.to_dict() for s in self.homotopy],
        }


def _json_float(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
