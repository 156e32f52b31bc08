"""The native DC solver: damped Newton with SPICE limiting, then gmin and source stepping.

:func:`solve_native` compiles the circuit (:mod:`circuitlearn.solve.mna`) and climbs the homotopy
ladder ``newton`` → ``gmin`` → ``source``; each rung is a function of its own
(:func:`direct_newton`, :func:`gmin_stepping`, :func:`source_stepping`) returning a
:class:`RungResult`, so each can be called and tested alone. The result is an
:class:`~circuitlearn.solve.result.OperatingPoint` recording every step tried.

Convergence needs both a small update (``reltol``·|x| + ``vntol`` for voltages, + ``abstol`` for
currents) and a small residual (``reltol``·Σ|terms| + ``abstol`` per KCL row, + ``vntol`` per
branch row), with no junction limiting active. The defaults are much tighter than ngspice's
because equilibrium propagation takes differences of nearby operating points.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse.linalg as spla

from circuitlearn.circuit import Circuit
from circuitlearn.errors import CircuitError, ConvergenceError
from circuitlearn.solve.mna import MNASystem, compile_circuit
from circuitlearn.solve.result import MESSAGES, HomotopyStep, OperatingPoint

__all__ = [
    "ABSTOL",
    "DEFAULT_OPTIONS",
    "GMIN_START",
    "MAX_ITERATIONS",
    "MAX_STEP",
    "RELTOL",
    "SOURCE_STEPS",
    "VNTOL",
    "RungResult",
    "check_options",
    "direct_newton",
    "gmin_stepping",
    "newton",
    "solve_native",
    "source_stepping",
]

RELTOL = 1e-9
"""Relative tolerance on updates and residuals (ngspice ``reltol`` default: 1e-3)."""

VNTOL = 1e-12
"""Absolute voltage tolerance [V] (ngspice ``vntol`` default: 1e-6 V)."""

ABSTOL = 1e-15
"""Absolute current tolerance [A] (ngspice ``abstol`` default: 1e-12 A)."""

MAX_ITERATIONS = 100
"""Newton iterations allowed per solve or homotopy step (ngspice ``itl1`` default: 100)."""

MAX_STEP = 1e3
"""Damping: largest node-voltage change per Newton iteration [V]; a longer step is scaled down
as a whole. It only guards against runaway steps: junction limiting (pnjlim, fetlim, limvds) is
the real damping, as in ngspice, which has no such cap. A small cap (≈ 10 V) was measured to
*hurt*: it lets limited junction voltages run ahead of the node voltages."""

GMIN_START = 1e-2
"""First shunt conductance [S] of gmin stepping, lowered a decade per step to 0 (ngspice's dynamic
gmin stepping also starts at 1e-2 S over its ``gminsteps`` = 10)."""

SOURCE_STEPS = 10
"""Initial number of source-stepping steps from 0 to 100 % (ngspice ``srcsteps`` default: 10);
the step adapts (×1.5 on success, ÷4 on failure)."""

DEFAULT_OPTIONS: dict[str, Any] = {
    "reltol": RELTOL,
    "vntol": VNTOL,
    "abstol": ABSTOL,
    "max_iterations": MAX_ITERATIONS,
    "max_step": MAX_STEP,
    "gmin_start": GMIN_START,
    "source_steps": SOURCE_STEPS,
    "homotopy": True,
}
"""Valid ``options`` keys of :func:`solve_native` and their defaults: the tolerances above,
``max_iterations`` per Newton solve, ``max_step`` [V], ``gmin_start`` [S], ``source_steps``, and
``homotopy`` (``False`` stops after plain Newton instead of climbing the ladder)."""


def check_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    """Defaults updated with ``options``; unknown keys or bad values raise :class:`CircuitError`."""
    merged = dict(DEFAULT_OPTIONS)
    for key, value in (options or {}).items():
        name = str(key).lower()
        if name not in DEFAULT_OPTIONS:
            raise CircuitError(
                f"native solver: unknown option {key!r}; "
                f"valid options are {', '.join(sorted(DEFAULT_OPTIONS))}"
            )
        if name == "homotopy":
            merged[name] = bool(value)
            continue
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not np.isfinite(value)
            or value <= 0
        ):
            raise CircuitError(
                f"native solver: option {name} must be a positive number; got {value!r}"
            )
        merged[name] = int(value) if name in ("max_iterations", "source_steps") else float(value)
    return merged


@dataclass
class RungResult:
    """What one homotopy rung produced."""

    x: np.ndarray
    converged: bool
    iterations: int
    steps: list[HomotopyStep] = field(default_factory=list)
    residual_norms: list[float] = field(default_factory=list)
    singular: str | None = None
    """The unknown named as the cause when the Jacobian was singular."""


def newton(
    system: MNASystem,
    x0: np.ndarray,
    options: Mapping[str, Any],
    *,
    source_scale: float = 1.0,
    gshunt: float = 0.0,
    cold: bool = False,
) -> RungResult:
    """Damped Newton–Raphson with SPICE junction limiting at fixed homotopy parameters.

    Parameters
    ----------
    system : MNASystem
    x0 : ndarray
        Starting unknowns.
    options : mapping
        As returned by :func:`check_options`.
    source_scale : float
        Factor on every independent source.
    gshunt : float [S]
        Extra conductance from every node to ground.
    cold : bool
        Start junctions at ngspice's initial voltages (vcrit, VTO) instead of those at ``x0``.
    """
    x = np.array(x0, dtype=float)
    state = system.initial_state() if cold else system.raw_state(x, source_scale)
    is_node = _node_mask(system)
    reltol, vntol, abstol = options["reltol"], options["vntol"], options["abstol"]
    res_floor = np.where(is_node, abstol, vntol)
    dx_floor = np.where(is_node, vntol, abstol)
    norms: list[float] = []
    for iteration in range(1, options["max_iterations"] + 1):
        ev = system.evaluate(x, source_scale=source_scale, gshunt=gshunt, old_state=state)
        state = ev.state
        norms.append(float(np.max(np.abs(ev.residual), initial=0.0)))
        try:
            dx = _solve(system, ev.jacobian_data, -ev.residual)
        except _SingularError as exc:
            return RungResult(x, False, iteration, residual_norms=norms, singular=exc.unknown)
        if not np.all(np.isfinite(dx)):
            return RungResult(x, False, iteration, residual_norms=norms)
        step = float(np.max(np.abs(dx[is_node]), initial=0.0))
        if step > options["max_step"]:
            dx *= options["max_step"] / step
        x_new = x + dx
        res_ok = bool(np.all(np.abs(ev.residual) <= reltol * ev.scale + res_floor))
        dx_ok = bool(np.all(np.abs(dx) <= reltol * np.maximum(np.abs(x_new), np.abs(x)) + dx_floor))
        x = x_new
        if res_ok and dx_ok and not bool(ev.limited):
            return RungResult(x, True, iteration, residual_norms=norms)
    return RungResult(x, False, options["max_iterations"], residual_norms=norms)


def direct_newton(
    system: MNASystem, x0: np.ndarray | None, options: Mapping[str, Any]
) -> RungResult:
    """Rung 1: plain Newton from ``x0`` (cold start from 0 V with ngspice's junction guesses)."""
    cold = x0 is None
    start = np.zeros(system.n) if cold else x0
    result = newton(system, start, options, cold=cold)
    result.steps = [HomotopyStep("newton", 0.0, result.iterations, result.converged)]
    return result


def gmin_stepping(
    system: MNASystem, x0: np.ndarray | None, options: Mapping[str, Any]
) -> RungResult:
    """Rung 2: a shunt conductance from every node to ground, lowered a decade per step to 0.

    A failed step is retried halfway (in log scale) between the last good value and the failed
    one, up to four times.
    """
    values = [
        options["gmin_start"] / 10.0**k
        for k in range(int(np.log10(options["gmin_start"] / 1e-12)) + 1)
    ]
    values.append(0.0)
    x = np.zeros(system.n) if x0 is None else np.array(x0, dtype=float)
    out = RungResult(x, False, 0)
    last_good: float | None = None
    k = 0
    retries = 0
    cold = x0 is None
    while k < len(values):
        g = values[k]
        step = newton(system, x, options, gshunt=g, cold=cold)
        out.iterations += step.iterations
        out.residual_norms += step.residual_norms
        out.steps.append(HomotopyStep("gmin", g, step.iterations, step.converged))
        if step.converged:
            x, last_good, cold, retries = step.x, g, False, 0
            k += 1
            continue
        if last_good is None or retries >= 4:
            out.x, out.singular = x, step.singular
            return out
        retries += 1
        values.insert(k, float(np.sqrt(last_good * g)) if g > 0 else last_good / 10.0)
    out.x, out.converged = x, True
    return out


def source_stepping(
    system: MNASystem, x0: np.ndarray | None, options: Mapping[str, Any]
) -> RungResult:
    """Rung 3: every independent source ramped from 0 to 100 %, the step adapting to success."""
    x = np.zeros(system.n)
    out = RungResult(x, False, 0)
    scale, delta, cold = 0.0, 1.0 / options["source_steps"], True
    good: float | None = None
    while True:
        step = newton(system, x, options, source_scale=scale, cold=cold)
        out.iterations += step.iterations
        out.residual_norms += step.residual_norms
        out.steps.append(HomotopyStep("source", scale, step.iterations, step.converged))
        if step.converged:
            x, cold = step.x, False
            if scale >= 1.0:
                out.x, out.converged = x, True
                return out
            if good is not None:
                delta *= 1.5
            good = scale
        else:
            if good is None or delta < 1e-6:
                out.x, out.singular = x, step.singular
                return out
            delta /= 4.0
        scale = min(1.0, good + delta)


RUNGS = {"newton": direct_newton, "gmin": gmin_stepping, "source": source_stepping}
"""The homotopy ladder in order."""


def solve_native(
    circuit: Circuit | MNASystem,
    *,
    x0: np.ndarray | OperatingPoint | None = None,
    options: Mapping[str, Any] | None = None,
    raise_on_failure: bool = False,
) -> OperatingPoint:
    """DC operating point with the native solver.

    Parameters
    ----------
    circuit : Circuit or MNASystem
        A circuit (compiled here) or an already compiled system (reused as is).
    x0 : OperatingPoint or ndarray, optional
        Warm start; junction limiting then starts from the voltages at ``x0``.
    options : mapping, optional
        Keys of :data:`DEFAULT_OPTIONS`; unknown keys raise :class:`CircuitError`.
    raise_on_failure : bool
        Raise :class:`ConvergenceError` (carrying the result) when no rung converges.

    Returns
    -------
    OperatingPoint
        ``strategy`` is the rung that converged; ``homotopy`` lists every step tried.

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Diode, Model, Resistor, VoltageSource
    >>> c = Circuit(); _ = c.add_model(Model("dm", "d"))
    >>> _ = c.add(VoltageSource("v1", "in", "0", 5.0)); _ = c.add(Resistor("r1", "in", "a", 1e3))
    >>> _ = c.add(Diode("d1", "a", "0", "dm"))
    >>> op = solve_native(c)
    >>> op.converged, op.strategy, round(op.voltage("a"), 4)
    (True, 'newton', 0.6929)
    """
    opts = check_options(options)
    system = circuit if isinstance(circuit, MNASystem) else compile_circuit(circuit)
    start = _start(system, x0)
    if system.is_linear:
        result = _linear(system, opts)
        return _finish(system, result, "newton", raise_on_failure)
    steps: list[HomotopyStep] = []
    norms: list[float] = []
    iterations = 0
    singular = None
    rungs = list(RUNGS.items()) if opts["homotopy"] else [("newton", direct_newton)]
    for name, rung in rungs:
        result = rung(system, start if name != "source" else None, opts)
        steps += result.steps
        norms += result.residual_norms
        iterations += result.iterations
        singular = singular or result.singular
        if result.converged:
            break
    result.steps, result.residual_norms, result.iterations = steps, norms, iterations
    result.singular = singular
    return _finish(system, result, name, raise_on_failure)


def _linear(system: MNASystem, options: Mapping[str, Any]) -> RungResult:
    """Linear fast path: one factorisation, one solve (iterations = 1)."""
    x = np.zeros(system.n)
    ev = system.evaluate(x)
    try:
        x = _solve(system, ev.jacobian_data, -ev.residual)
    except _SingularError as exc:
        return RungResult(x, False, 1, [HomotopyStep("newton", 0.0, 1, False)], [], exc.unknown)
    ok = bool(np.all(np.isfinite(x)))
    return RungResult(
        x,
        ok,
        1,
        [HomotopyStep("newton", 0.0, 1, ok)],
        [float(np.max(np.abs(ev.residual), initial=0.0))],
    )


def _finish(
    system: MNASystem, result: RungResult, strategy: str, raise_on_failure: bool
) -> OperatingPoint:
    x = result.x
    ev = system.evaluate(x, jacobian=False)
    is_node = _node_mask(system)
    kcl = np.abs(ev.residual[is_node])
    max_residual = float(np.max(kcl, initial=0.0))
    worst = None
    if result.converged:
        message = MESSAGES["converged"]
    else:
        if kcl.size:
            worst = system.unknowns[int(np.argmax(kcl))]
        if result.singular is not None:
            message = (
                f"{MESSAGES['singular']} at {result.singular} "
                "(check what fixes its voltage or current)"
            )
            worst = worst if result.singular.startswith("i(") else result.singular
        elif len(result.steps) > 1:
            message = (
                f"{MESSAGES['homotopy_failed']}; "
                f"largest residual {max_residual:.3g} A at node {worst}"
            )
        else:
            message = (
                f"{MESSAGES['max_iterations']}; "
                f"largest residual {max_residual:.3g} A at node {worst}"
            )
    op = OperatingPoint(
        voltages=system.voltages(x),
        currents=system.currents(x),
        converged=result.converged,
        iterations=result.iterations,
        strategy=strategy,
        max_residual=max_residual,
        message=message,
        backend="native",
        homotopy=result.steps,
        residual_norms=result.residual_norms,
        state=x,
        worst_node=worst,
    )
    if raise_on_failure and not op.converged:
        raise ConvergenceError(
            f"native DC solve of {system.circuit.title!r} failed: {message}", result=op
        )
    return op


def _start(system: MNASystem, x0: np.ndarray | OperatingPoint | None) -> np.ndarray | None:
    if x0 is None:
        return None
    if isinstance(x0, OperatingPoint):
        return system.state_from(x0)
    x = np.asarray(x0, dtype=float)
    if x.shape != (system.n,) or not np.all(np.isfinite(x)):
        raise CircuitError(
            f"x0: expected {system.n} finite values (the system's unknowns); got shape {x.shape}"
        )
    return x.copy()


def _node_mask(system: MNASystem) -> np.ndarray:
    mask = np.zeros(system.n, dtype=bool)
    mask[: len(system.node_index)] = True
    return mask


class _SingularError(Exception):
    def __init__(self, unknown: str) -> None:
        self.unknown = unknown
        super().__init__(unknown)


def _solve(system: MNASystem, data: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve K·dx = rhs with SuperLU (COLAMD ordering, threshold partial pivoting).

    SciPy's SuperLU cannot reuse a symbolic factorisation; passing the first ordering back with
    ``permc_spec="NATURAL"`` was measured to be far slower (the row pivoting then loses the
    diagonal: 4 s instead of 0.03 s per factorisation on a 12k-unknown mesh), so each iteration
    orders afresh — cheap next to the numeric factorisation.
    """
    if system.n == 0:
        return np.zeros(0)
    matrix = system.matrix(data)
    try:
        return spla.splu(matrix).solve(rhs)
    except RuntimeError:
        raise _SingularError(_singular_unknown(system, matrix)) from None


def _singular_unknown(system: MNASystem, matrix: Any) -> str:
    """Name the unknown most involved in the singularity (empty row/column, else null vector)."""
    dense_ok = system.n <= 1500
    absm = abs(matrix)
    rows = np.asarray(absm.max(axis=1).todense()).ravel()
    cols = np.asarray(absm.max(axis=0).todense()).ravel()
    for norms in (rows, cols):
        if np.any(norms == 0):
            return system.unknowns[int(np.argmin(norms))]
    if dense_ok:
        _, _, vt = np.linalg.svd(matrix.toarray())
        return system.unknowns[int(np.argmax(np.abs(vt[-1])))]
    return system.unknowns[int(np.argmin(rows))]
