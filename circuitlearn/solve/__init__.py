"""Solvers: one entry point, :func:`solve_dc`, and one result type, :class:`OperatingPoint`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from circuitlearn.circuit import Circuit
from circuitlearn.errors import CircuitError
from circuitlearn.solve.result import MESSAGES, HomotopyStep, OperatingPoint

__all__ = ["BACKENDS", "MESSAGES", "HomotopyStep", "OperatingPoint", "solve_dc"]

BACKENDS = ("native", "ngspice")
"""Names accepted by ``solve_dc(..., backend=...)``."""


def solve_dc(
    circuit: Circuit,
    *,
    backend: str = "native",
    x0: np.ndarray | OperatingPoint | None = None,
    options: Mapping[str, Any] | None = None,
    raise_on_failure: bool = False,
) -> OperatingPoint:
    """DC operating point of ``circuit`` on the chosen backend.

    Parameters
    ----------
    circuit : Circuit
    backend : {"native", "ngspice"}
    x0 : OperatingPoint or array, optional
        Warm start (native backend).
    options : mapping, optional
        Solver options; unknown keys raise an error listing the valid ones. Native: see
        ``newton.DEFAULT_OPTIONS``; ngspice: ``.options`` plus ``spice_options`` (``"native"``
        tolerances by default, or the ``"deck"``'s own) and ``verify`` (see ``solve_ngspice``).
    raise_on_failure : bool
        Raise :class:`~circuitlearn.errors.ConvergenceError` instead of returning
        ``converged=False``.
    """
    if backend == "native":
        from circuitlearn.solve.newton import solve_native as solver
    elif backend == "ngspice":
        from circuitlearn.solve.ngspice import solve_ngspice as solver
    else:
        raise CircuitError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    return solver(circuit, x0=x0, options=options, raise_on_failure=raise_on_failure)
