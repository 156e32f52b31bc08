"""Does the conservation law apply to a circuit and a learning task? Every reason it does not.

The law (docs/math.md §7) needs a cost that is invariant under scaling every conductive element's
parameter: voltage-source inputs, every conductive element a trainable resistor, a cost of node
voltages only, and plain gradient steps without clipping. :func:`analyze_applicability` checks
each condition on the circuit's structure and names the elements at fault; given an exact
gradient it also reports the Euler residual k·g/(‖k‖‖g‖), ≤ :data:`EULER_TOLERANCE` when the
law applies (a unit test of gradient code as much as of the circuit).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from circuitlearn.circuit import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    Circuit,
    CurrentSource,
    Resistor,
)
from circuitlearn.circuit.devices import DEVICES
from circuitlearn.diagnostics.conservation import QUANTITY_NAME, euler_residual
from circuitlearn.errors import CircuitError
from circuitlearn.learn.methods import names
from circuitlearn.learn.task import resolve_trainable
from circuitlearn.solve.stamps import flat_copy

__all__ = [
    "EULER_TOLERANCE",
    "EXACT_LIMIT_METHODS",
    "OPTIMIZERS_CONSERVING",
    "VOLTAGE_COSTS",
    "Applicability",
    "analyze_applicability",
    "nonreciprocal_elements",
]

EULER_TOLERANCE = 1e-10
"""Largest normalised Euler residual |k·g|/(‖k‖‖g‖) accepted as zero."""

VOLTAGE_COSTS = ("mse", "cross_entropy")
"""Costs that read node voltages only (so they inherit the circuit's scale invariance)."""

OPTIMIZERS_CONSERVING = ("sgd",)
"""Update rules under which the law holds: plain (per-edge scaled) gradient steps."""

EXACT_LIMIT_METHODS = names(exact_nonreciprocal=True)
"""Gradient methods whose estimate is the exact gradient (to their own accuracy) on any circuit;
``ep`` and ``cl`` are exact only on reciprocal circuits."""

_SHOWN = 8
"""How many element names a reason lists before summarising the rest."""


@dataclass(frozen=True)
class Applicability:
    """Verdict of :func:`analyze_applicability`.

    Attributes
    ----------
    applicable : bool
        True when no reason breaks the law.
    linear : bool
        True when the circuit has no diode or transistor.
    reasons : tuple of str
        Every reason the law does not apply, each naming the elements or setting at fault.
    euler_residual : float or None
        k·g/(‖k‖‖g‖) of the exact gradient, when one was given.
    trainable : tuple of str
        The trainable resistors the analysis used.
    """

    applicable: bool
    linear: bool
    reasons: tuple[str, ...]
    euler_residual: float | None
    trainable: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "quantity": QUANTITY_NAME,
            "applicable": self.applicable,
            "linear": self.linear,
            "reasons": list(self.reasons),
            "euler_residual": self.euler_residual,
            "trainable": list(self.trainable),
        }


def nonreciprocal_elements(flat: Circuit) -> list[str]:
    """Names of the elements of a flattened circuit (or one built without subcircuits, as the
    builders' are) whose stamps are not symmetric (controlled sources, transistors): on a
    circuit with any, EP's and CL's estimates are biased."""
    names = [e.name for e in flat.elements_of(VCVS, CCCS, VCCS, CCVS)]
    return names + [
        e.name for d in DEVICES if not d.reciprocal for e in flat.elements_of(d.element_class)
    ]


def analyze_applicability(
    circuit: Circuit,
    trainable: Iterable[str],
    *,
    method: str = "exact",
    cost: str = "mse",
    optimizer: str = "sgd",
    floor: float | None = None,
    gradient: Mapping[str, float] | None = None,
) -> Applicability:
    """Check whether the conservation law applies; list every reason it does not.

    Parameters
    ----------
    circuit : Circuit
        The circuit (flattened here).
    trainable : iterable of str
        Trainable resistor names or globs (case-insensitive, e.g. ``"r*"``).
    method : str
        Gradient method (``exact``, ``fd``, ``ep``, ``cl``, ``aep``, ``dyadic``): EP and CL are
        biased on non-reciprocal circuits, so their flows do not conserve Q there.
    cost : str
        Cost name; costs outside :data:`VOLTAGE_COSTS` (reading currents or power) break the law.
    optimizer : str
        ``"sgd"`` conserves; momentum, Adam and other stateful rules do not.
    floor : float [S], optional
        Conductance floor of the projection step; a trainable conductance at the floor is clipped.
    gradient : mapping name → dC/dG, optional
        The exact gradient at the current conductances, for the Euler residual.

    Returns
    -------
    Applicability

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource, CurrentSource
    >>> c = Circuit("divider")
    >>> for e in (VoltageSource("v1", "in", "0", 1.0), Resistor("r1", "in", "out", 1e3),
    ...           Resistor("r2", "out", "0", 1e3)):
    ...     _ = c.add(e)
    >>> analyze_applicability(c, ["r*"]).applicable
    True
    >>> verdict = analyze_applicability(c, ["r1"])
    >>> verdict.applicable, verdict.reasons[0][:43]
    (False, 'fixed (non-trainable) resistor(s) r2: their')
    """
    flat = flat_copy(circuit)
    names = resolve_trainable(flat, list(trainable))
    reasons: list[str] = []
    sources = [e for e in flat.elements_of(CurrentSource) if e.dc != 0.0]
    if sources:
        reasons.append(
            f"current source(s) {_list(e.name for e in sources)} drive the circuit with "
            "currents that do not "
            "scale with the conductances (use voltage-source inputs)"
        )
    trainable_set = set(names)  # not the list: O(N²) on networks of 10⁵ conductances
    fixed = [e.name for e in flat.elements_of(Resistor) if e.name not in trainable_set]
    if fixed:
        reasons.append(
            f"fixed (non-trainable) resistor(s) {_list(fixed)}: their conductance does not "
            "scale with the "
            "trainable ones (a load); make them trainable"
        )
    nonlinear: list[str] = []
    for device in DEVICES:
        devices = [e.name for e in flat.elements_of(device.element_class)]
        if devices and device.nonlinear:
            reasons.append(
                f"fixed nonlinear conductive element(s): {device.description} {_list(devices)}"
            )
            nonlinear += devices
    amplifiers = [e.name for e in flat.elements_of(VCCS, CCVS)]
    if amplifiers:
        reasons.append(
            f"controlled source(s) {_list(amplifiers)} (amplifiers) with a fixed "
            "transconductance or "
            "transresistance: a conductance scale that does not train"
        )
    nonreciprocal = nonreciprocal_elements(flat)
    if nonreciprocal and method not in EXACT_LIMIT_METHODS:
        reasons.append(
            f"method {method!r} on a non-reciprocal circuit ({_list(nonreciprocal)}): its "
            "estimate is the "
            "biased vector-field one whose flow does not conserve Q (use exact, aep or dyadic)"
        )
    if cost.lower() not in VOLTAGE_COSTS:
        reasons.append(
            f"cost {cost!r} is not a function of node voltages only (it reads currents or power); "
            f"conserving costs: {', '.join(VOLTAGE_COSTS)}"
        )
    if optimizer.lower() not in OPTIMIZERS_CONSERVING:
        reasons.append(
            f"optimizer {optimizer!r} is not plain gradient descent (momentum/Adam keep "
            "state): Q drifts"
        )
    if floor is not None:
        clipped = [n for n in names if flat[n].conductance <= floor]
        if clipped:
            reasons.append(
                f"trainable conductance(s) of {_list(clipped)} at the floor {floor:.3g} S: "
                "clipping breaks the "
                "gradient flow"
            )
    residual = None
    if gradient is not None:
        missing = [n for n in names if n not in gradient]
        if missing:
            raise CircuitError(
                f"analyze_applicability: gradient lacks trainable resistor(s) {_list(missing)}"
            )
        k = np.array([flat[n].conductance for n in names])
        residual = euler_residual(k, np.array([gradient[n] for n in names]))
        if not reasons and abs(residual) > EULER_TOLERANCE:
            reasons.append(
                f"Euler residual k·g/(‖k‖‖g‖) = {residual:.3g} exceeds "
                f"{EULER_TOLERANCE:.0e} although the "
                "structure allows the law: the gradient is not scale invariant (check the "
                "gradient code)"
            )
    linear = not nonlinear
    return Applicability(not reasons, linear, tuple(reasons), residual, tuple(names))


def _list(names: Iterable[str]) -> str:
    items = list(names)
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")
