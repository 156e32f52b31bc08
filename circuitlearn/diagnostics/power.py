"""Power: dissipation per learning phase, element terminal currents and Tellegen's theorem.

Tellegen's theorem: for node voltages v and *any* element currents that satisfy KCL,
Σ_elements Σ_terminals v_t·i_t = 0 (i_t: current entering the element at terminal t), i.e. the
power absorbed by all elements sums to zero. :func:`tellegen_check` computes every element's
terminal currents from its own model equation at the solved node voltages (resistors from Ohm's
law, sources from their values or branch currents, diodes and MOSFETs from the device equations of
:mod:`circuitlearn.solve.devices`) and sums the powers element by element — an assembly independent
of the solver's KCL rows, so a wrong stamp, sign or missing current shows up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from circuitlearn.circuit import (
    CCCS,
    CCVS,
    GROUND,
    VCCS,
    VCVS,
    Capacitor,
    Circuit,
    CurrentSource,
    Inductor,
    Resistor,
    VoltageSource,
)
from circuitlearn.circuit.devices import device_for
from circuitlearn.errors import CircuitError
from circuitlearn.solve.mna import MNASystem, compile_circuit
from circuitlearn.solve.result import OperatingPoint

__all__ = [
    "TELLEGEN_RTOL",
    "TellegenResult",
    "dissipated_power",
    "element_currents",
    "phase_power",
    "tellegen_check",
]

TELLEGEN_RTOL = 1e-9
"""Largest |Σ P_e| / Σ|P_e| accepted: the native solver's KCL tolerance (1e-12 A absolute,
tight relative) leaves the balance at ~1e-12 relative or below on well-scaled circuits."""


@dataclass(frozen=True)
class TellegenResult:
    """Outcome of :func:`tellegen_check`.

    Attributes
    ----------
    total : float
        Σ over elements of the absorbed power Σ_t v_t·i_t [W]; 0 up to rounding.
    scale : float
        Σ |absorbed power| [W], the normalisation.
    relative : float
        |total| / scale (0 when nothing carries power).
    powers : dict[str, float]
        Absorbed power per element [W] (sources delivering power are negative).
    ok : bool
        ``relative <= rtol``.
    """

    total: float
    scale: float
    relative: float
    powers: dict[str, float]
    ok: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "scale": self.scale,
            "relative": self.relative,
            "ok": self.ok,
            "powers": dict(self.powers),
        }


def dissipated_power(
    circuit: Circuit, voltages: Mapping[str, float], resistors: list[str] | None = None
) -> float:
    """Σ G·ΔV² [W] over the resistors (all, or ``resistors``) at node ``voltages``.

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor
    >>> c = Circuit()
    >>> _ = c.add(Resistor("r1", "a", "0", 1e3)); _ = c.add(Resistor("r2", "a", "b", 2e3))
    >>> dissipated_power(c, {"a": 1.0, "b": 0.0})
    0.0015
    """
    flat = circuit if circuit.is_flat() else circuit.flatten()
    chosen = flat.elements_of(Resistor) if resistors is None else [flat[n] for n in resistors]
    if not chosen:
        return 0.0
    g = np.array([r.conductance for r in chosen])
    drop = _node_values(voltages, [r.n1 for r in chosen]) - _node_values(
        voltages, [r.n2 for r in chosen]
    )
    return float(np.sum(g * drop * drop))


def phase_power(
    circuit: Circuit, phases: Mapping[str, OperatingPoint], resistors: list[str] | None = None
) -> dict[str, float]:
    """Resistive dissipation Σ G·ΔV² [W] of each learning phase, at the conductances of ``circuit``.

    Parameters
    ----------
    circuit : Circuit
        The trained circuit (a phase's extra nudging or clamping sources dissipate nothing).
    phases : mapping phase name → OperatingPoint
        E.g. ``Gradient.phases``.
    resistors : list of str, optional
        Restrict the sum (e.g. to the trainable resistors); all resistors by default.
    """
    flat = circuit.flatten()
    return {name: dissipated_power(flat, op.voltages, resistors) for name, op in phases.items()}


def element_currents(
    system: MNASystem, x: np.ndarray, branch_currents: Mapping[str, float] | None = None
) -> dict[str, dict[str, float]]:
    """Current entering every element at each terminal [A], from the elements' own equations.

    Parameters
    ----------
    system : MNASystem
        The compiled circuit.
    x : ndarray
        Its solved state (``system.state_from(op)``; a native state carries internal nodes).
    branch_currents : mapping name → A, optional
        Branch currents of V/E/H elements as the solver reported them (``OperatingPoint.currents``,
        ngspice's sign); missing or non-finite ones are taken from the system at ``x``.

    Returns
    -------
    dict element → {terminal node: current [A]}
        Terminals sharing a node are summed. Diodes and MOSFETs with series resistances are
        reported at their external terminals (the series resistor belongs to the element).
    """
    x = np.asarray(x, dtype=float)
    flat = system.circuit
    v = dict(system.voltages(x))
    v[GROUND] = 0.0
    branch = system.currents(x)
    if branch_currents is not None:
        branch.update({k: float(i) for k, i in branch_currents.items() if np.isfinite(i)})
    out: dict[str, dict[str, float]] = {}

    def add(name: str, node: str, current: float) -> None:
        terminals = out.setdefault(name, {})
        terminals[node] = terminals.get(node, 0.0) + float(current)

    for element in flat:
        if isinstance(element, Resistor):
            i = (v[element.n1] - v[element.n2]) / float(element.resistance)
            add(element.name, element.n1, i), add(element.name, element.n2, -i)
        elif isinstance(element, (VoltageSource, VCVS, CCVS)):
            i = branch[element.name]
            add(element.name, element.pos, i), add(element.name, element.neg, -i)
        elif isinstance(element, CurrentSource):
            add(element.name, element.pos, element.dc), add(element.name, element.neg, -element.dc)
        elif isinstance(element, VCCS):
            i = float(element.transconductance) * (v[element.ctrl_pos] - v[element.ctrl_neg])
            add(element.name, element.pos, i), add(element.name, element.neg, -i)
        elif isinstance(element, CCCS):
            i = float(element.gain) * branch[element.control]
            add(element.name, element.pos, i), add(element.name, element.neg, -i)
        elif isinstance(element, Capacitor):  # open at DC
            add(element.name, element.n1, 0.0), add(element.name, element.n2, 0.0)
        elif isinstance(element, Inductor):  # a 0 V branch: its current is an unknown
            i = x[system.branch_index[element.name]]
            add(element.name, element.n1, i), add(element.name, element.n2, -i)
        elif device_for(element) is None:
            raise CircuitError(
                f"element_currents: no current equation for {element.kind} {element.name}",
                element=element.name,
            )
    e = system.extended(x)
    for group in system.groups.values():  # residual blocks: current leaving each terminal
        terminals = group.terminals
        values = np.asarray(group.evaluate(e, None)[0])[: len(terminals) * len(group.names)]
        values = values.reshape(len(terminals), len(group.names))  # rows after: branch equations
        for j, name in enumerate(group.names):
            element = flat[name]
            for t, attribute in enumerate(terminals):
                add(name, getattr(element, attribute), values[t, j])
            for node in element.nodes:  # terminals without DC current (a MOSFET's gate)
                add(name, node, 0.0)
    return out


def tellegen_check(
    circuit: Circuit | MNASystem,
    op: OperatingPoint,
    *,
    rtol: float = TELLEGEN_RTOL,
) -> TellegenResult:
    """Tellegen's theorem at an operating point: Σ_elements Σ_terminals v_t·i_t = 0.

    Parameters
    ----------
    circuit : Circuit or MNASystem
    op : OperatingPoint
        A solution of that circuit, from either backend: the native state is used when present;
        the internal nodes of series resistances that ngspice does not report (diode RS, MOSFET
        RD/RS) are solved for by ``MNASystem.state_from`` with the external nodes held.
    rtol : float
        Accepted |Σ P| / Σ|P|.

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> from circuitlearn.solve import solve_dc
    >>> c = Circuit(); _ = c.add(VoltageSource("v1", "in", "0", 2.0))
    >>> _ = c.add(Resistor("r1", "in", "out", 1e3)); _ = c.add(Resistor("r2", "out", "0", 1e3))
    >>> result = tellegen_check(c, solve_dc(c))
    >>> result.ok, round(result.powers["v1"], 9), round(result.powers["r1"], 9)
    (True, -0.002, 0.001)
    """
    system = circuit if isinstance(circuit, MNASystem) else compile_circuit(circuit)
    x = system.state_from(op)
    v = dict(system.voltages(x))
    v[GROUND] = 0.0
    currents = element_currents(system, x, op.currents)
    powers = {
        name: float(sum(v[node] * i for node, i in terminals.items()))
        for name, terminals in currents.items()
    }
    values = np.array(list(powers.values()))
    total = float(np.sum(values))
    scale = float(np.sum(np.abs(values)))
    relative = abs(total) / scale if scale > 0 else 0.0
    return TellegenResult(total, scale, relative, powers, relative <= rtol)


def _node_values(voltages: Mapping[str, float], nodes: list[str]) -> np.ndarray:
    try:
        return np.array([0.0 if n == GROUND else voltages[n] for n in nodes], dtype=float)
    except KeyError as exc:
        raise CircuitError(
            f"dissipated_power: no voltage for node {exc.args[0]!r}", node=str(exc.args[0])
        ) from None
