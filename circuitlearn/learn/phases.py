"""Learning phases as circuits: nudged (EP), clamped (CL), corrected (AEP) and twin (Dyadic EP).

Every phase is the free circuit transformed by added elements, so it runs on both solvers and
exports as an ngspice netlist (``to_spice``). Signs follow docs/math.md §2–§5 with r = KCL currents
*leaving* each node:

- **nudge** (EP, AEP): inject −β ∂C/∂v_k into output k (MSE: β (y_k − v_k)) with a current source
  ``i_nudge_<k> 0 out``, its value taken at the free state. This has the same first-order response
  as the state-dependent nudge r(x) + β c(x) of docs/math.md §3, and keeps the phase *linear in β*
  on a linear circuit, so there the centred and one-sided estimates are exact for any β.
- **clamp** (CL): a voltage source ``v_clamp_<k> out 0 target``.
- **AEP correction**: r(x) + β c(x) − (K0 − K0ᵀ)(x − x0) = 0 with K0 the free-state Jacobian,
  realised by :func:`~circuitlearn.learn.mirror.realize_terms` (tag ``aep``) on the task whose
  devices' series resistances are explicit elements (:func:`explicit_task`): resistors, and for
  a bipolar transistor's current-dependent base resistance a behavioural source beside one.
- **twin** (Dyadic EP, the adjoint network): the small-signal free circuit at x0 (independent
  sources zeroed, each diode replaced by its conductance ``r_twin_<d>``, each MOSFET by its
  small-signal VCCS stamps), transposed by adding −(K0 − K0ᵀ) (tag ``twin``), so its MNA matrix
  is K0ᵀ; driven by ``i_nudge_<k> 0 out −β c_k``. Its node voltages are d = −β K0⁻ᵀ c, for any β.

A :class:`PhasePlan` is one phase circuit plus the value changes that give each of its phases
(the ± nudges of a centred estimate differ only in the nudging values), so the native solver
compiles it once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from circuitlearn.circuit import (
    GROUND,
    Circuit,
    CurrentSource,
    VoltageSource,
    check_topology,
)
from circuitlearn.circuit.devices import DEVICES, device_for
from circuitlearn.errors import CircuitError
from circuitlearn.learn.mirror import realize_terms, transpose_sources
from circuitlearn.learn.task import LearningTask, explicit_series
from circuitlearn.solve import OperatingPoint
from circuitlearn.solve.mna import MNASystem

__all__ = [
    "PhasePlan",
    "aep_circuit",
    "aep_parts",
    "clamped_circuit",
    "device_stamps",
    "free_state",
    "nudge_values",
    "nudged_circuit",
    "twin_circuit",
]


@dataclass
class PhasePlan:
    """A phase circuit and, per phase, the element values that turn it into that phase.

    Attributes
    ----------
    circuit : Circuit
        The phase circuit (flat) with the first phase's values.
    variants : dict
        Phase name → {element name: main value} (a V/I source's dc, a VCCS's transconductance).
    warm_voltages, warm_currents : dict
        A starting point near the phases' solutions: the free state, extended to new nodes.
    """

    circuit: Circuit
    variants: dict[str, dict[str, float]]
    warm_voltages: dict[str, float] = field(default_factory=dict)
    warm_currents: dict[str, float] = field(default_factory=dict)

    def circuits(self) -> dict[str, Circuit]:
        """Each phase as its own circuit (phase name → Circuit)."""
        out = {}
        for name, values in self.variants.items():
            circuit = self.circuit.copy()
            if not self.circuit.title.endswith(f"[{name}]"):
                circuit.title = f"{self.circuit.title} [{name}]"
            for element, value in values.items():
                circuit.set_value(element, value)
            out[name] = circuit
        return out

    def warm_start(self) -> OperatingPoint:
        """The warm start as an operating point (voltages and source currents only)."""
        return OperatingPoint(
            dict(self.warm_voltages),
            dict(self.warm_currents),
            True,
            0,
            "newton",
            np.nan,
            "warm start",
            "native",
        )


def free_state(task: LearningTask, free: OperatingPoint) -> np.ndarray:
    """x0 of the task's native system from a free operating point of any backend."""
    return task.system.state_from(free)


def explicit_task(task: LearningTask, free: OperatingPoint) -> tuple[LearningTask, OperatingPoint]:
    """The task with its devices' series resistances as explicit elements
    (:func:`~circuitlearn.learn.task.explicit_series`), so that a phase netlist can name the
    nodes behind them, and ``free`` on it (the internal nodes' voltages under their new names);
    ``(task, free)`` unchanged when no device has any."""
    if not any(_series(task.system)):  # looks at the devices only (DRN-XS: 6 µs, not 20 ms)
        return task, free
    circuit, moved = explicit_series(task.circuit, task.tag)
    if not moved:
        return task, free
    x0 = free_state(task, free)
    index = task.system.node_index
    voltages = {**free.voltages, **{new: float(x0[index[old]]) for old, new in moved.items()}}
    out = LearningTask.__new__(LearningTask)
    out.__dict__.update(task.__dict__)
    out.circuit = circuit
    out._system = None
    out._conductances = None
    out.phase_systems = {}
    op = OperatingPoint(
        voltages, dict(free.currents), True, 0, free.strategy, np.nan, "explicit series", "native"
    )
    return out, op


def nudge_values(task: LearningTask, beta: float, free: OperatingPoint) -> dict[str, float]:
    """Values [A] of the nudging sources ``i_nudge_<k>`` for strength ``beta`` [S].

    −β ∂C/∂v_k, taken at the free state.
    """
    c = task.cost_gradient(free)
    return {f"i_nudge{task.tag}_{k}": float(-beta * c[k]) for k in range(len(task.outputs))}


def nudged_circuit(
    task: LearningTask, beta: float, free: OperatingPoint, base: Circuit | None = None
) -> Circuit:
    """``base`` (default the task's circuit) plus ``i_nudge_<k> 0 out −β ∂C/∂v_k`` per output."""
    out = (task.circuit if base is None else base).copy()
    for (name, value), node in zip(
        nudge_values(task, beta, free).items(), task.outputs, strict=True
    ):
        out.add(CurrentSource(name, GROUND, node, value))
    return out


def clamped_circuit(task: LearningTask, voltages: np.ndarray) -> Circuit:
    """The task's circuit with output k clamped by ``v_clamp_<k> out 0`` to ``voltages[k]`` [V]."""
    out = task.circuit.copy()
    for k, (node, value) in enumerate(
        zip(task.outputs, np.asarray(voltages, dtype=float).tolist(), strict=True)
    ):
        out.add(VoltageSource(f"v_clamp{task.tag}_{k}", node, GROUND, value))
    try:
        check_topology(out)
    except CircuitError as exc:
        raise CircuitError(
            f"coupled learning: cannot clamp the outputs {task.outputs}: {exc}; "
            "an output driven by "
            "a V/E/H element cannot be clamped, choose other outputs"
        ) from None
    return out


def device_stamps(system: MNASystem, x: np.ndarray) -> sp.csr_matrix:
    """Non-reciprocal devices' part of K = ∂r/∂x at ``x`` (unknown block): their small-signal
    stamps (MOSFETs, bipolar transistors ...).

    Reciprocal devices (diodes) are left out: their stamps are symmetric and never need
    mirroring.
    """
    out = sp.csr_matrix((system.n, system.n))
    e = system.extended(x)
    for device in DEVICES:
        if device.reciprocal or device.letter not in system.groups:
            continue
        group = system.groups[device.letter]
        jac = group.evaluate(e, None)[1]
        rows, cols = group.jacobian_entries
        ok = (rows < system.n) & (cols < system.n)
        mask = device.learning_entries(group)
        if mask is not None:  # e.g. a B source's ±1 branch incidence stays an element
            ok &= mask
        out = out + sp.csr_matrix((jac[ok], (rows[ok], cols[ok])), shape=(system.n, system.n))
    return out.tocsr()


def _series(system: MNASystem) -> Iterator[bool]:
    """Per device element of ``system``: whether it has series resistances that
    :func:`explicit_task` makes explicit (``Device.explicit_series``)."""
    flat = system.circuit
    for device in DEVICES:
        if device.letter not in system.groups:
            continue
        for name in system.groups[device.letter].names:
            element = flat[name]
            model_name = getattr(element, "model", "")
            model = flat.models[model_name] if model_name else None
            yield device.explicit_series(element, model, flat.temperature) is not None


def aep_parts(
    task: LearningTask, free: OperatingPoint, *, build: bool = True
) -> tuple[Circuit | None, dict[str, float], dict[str, float], dict[str, float]]:
    """The AEP correction of the task's circuit at ``free`` (without nudge).

    Linear controlled sources are transposed with DC offsets (:func:`transpose_sources`), MOSFETs
    and bipolar transistors mirrored by −(K_m − K_mᵀ)(x − x0) (:func:`realize_terms`), after
    their series resistances have become explicit elements (:func:`explicit_task`), so
    that the mirror's terms at the nodes behind them have names. Returns the corrected circuit
    (None unless ``build``), the values of its state-dependent elements, and warm-start voltages
    and currents of its new nodes and sources (those behind explicit series resistances included).
    """
    explicit, free_explicit = explicit_task(task, free)
    series_v = {n: v for n, v in free_explicit.voltages.items() if n not in free.voltages}
    task, free = explicit, free_explicit
    system = task.system
    x0 = free_state(task, free)
    tr = transpose_sources(task.circuit, system, f"aep{task.tag}", x0, offsets=True, build=build)
    k_m = device_stamps(system, x0)
    a_m = (k_m - k_m.T).tocsr()
    a_m.eliminate_zeros()
    circuit, values, new_v, new_i = realize_terms(
        task.circuit if tr.circuit is None else tr.circuit,
        system,
        tr.terms - a_m,
        tr.const + a_m @ x0,
        f"aep{task.tag}",
        x0,
        build=build,
        rename=tr.rename,
    )
    for name, source in tr.rename.items():
        new_i[source] = float(x0[system.branch_index[name]])
    return circuit, {**tr.values, **values}, {**series_v, **new_v}, new_i


def aep_circuit(
    task: LearningTask, beta: float, free: OperatingPoint
) -> tuple[Circuit, dict[str, float], dict[str, float]]:
    """The AEP learning phase: r(x) + βc − (K0 − K0ᵀ)(x − x0) = 0 as a circuit (docs/math.md §4).

    Returns the circuit and the warm-start voltages and currents of its new nodes and sources.
    On a reciprocal circuit (R, D, V, I) K0 is symmetric and this is the EP nudged circuit.
    Devices' series resistances are explicit elements in it (:func:`explicit_task`).

    Examples
    --------
    >>> from circuitlearn.circuit import VCCS, Circuit, Resistor, VoltageSource
    >>> c = Circuit("amp"); _ = c.add(VoltageSource("v1", "a", "0", 1.0))
    >>> _ = c.add(Resistor("r1", "a", "b", 1e3)); _ = c.add(Resistor("r2", "b", "0", 1e3))
    >>> _ = c.add(VCCS("g1", "0", "c", "b", "0", 1e-3)); _ = c.add(Resistor("r3", "c", "0", 1e3))
    >>> task = LearningTask(c, "r*", {"c": 0.2})
    >>> phase, _, _ = aep_circuit(task, 1e-6, task.solve())
    >>> for card in phase.to_spice().splitlines()[4:-2]:
    ...     print(card)
    g1 b 0 0 c 0.001
    r3 c 0 1000
    i_aep_0 b 0 dc 0.0005
    i_aep_1 c 0 dc -0.0005
    i_nudge_0 0 c dc -3e-07
    """
    corrected, _, new_v, new_i = aep_parts(task, free)
    assert corrected is not None
    return nudged_circuit(task, beta, free, corrected), new_v, new_i


def twin_circuit(task: LearningTask, beta: float, free: OperatingPoint) -> Circuit:
    """The Dyadic-EP twin (adjoint network) at the free state, driven by −β ∂C/∂v (module notes),
    of the task whose devices' series resistances are explicit elements (:func:`explicit_task`).

    Examples
    --------
    >>> from circuitlearn.circuit import VCCS, Circuit, Resistor, VoltageSource
    >>> c = Circuit("amp"); _ = c.add(VoltageSource("v1", "a", "0", 1.0))
    >>> _ = c.add(Resistor("r1", "a", "b", 1e3)); _ = c.add(Resistor("r2", "b", "0", 1e3))
    >>> _ = c.add(VCCS("g1", "0", "c", "b", "0", 1e-3)); _ = c.add(Resistor("r3", "c", "0", 1e3))
    >>> task = LearningTask(c, "r*", {"c": 0.2})
    >>> print(twin_circuit(task, 1e-6, task.solve()).to_spice())
    amp [twin]
    v1 a 0 dc 0
    r1 a b 1000
    r2 b 0 1000
    g1 b 0 0 c 0.001
    r3 c 0 1000
    i_nudge_0 0 c dc -3e-07
    .op
    .end
    """
    task, free = explicit_task(task, free)
    system = task.system
    flat = system.circuit
    x0 = free_state(task, free)
    e = system.extended(x0)
    tr = transpose_sources(task.circuit, system, f"twin{task.tag}", x0, offsets=False)
    assert tr.circuit is not None
    twin = Circuit(f"{flat.title} [twin]")
    blocks: dict[str, np.ndarray] = {}  # each device element's Jacobian values at the free state
    for group in system.groups.values():
        jac = np.asarray(group.evaluate(e, None)[1])
        if jac.size % len(group.names):  # entries per element vary (B sources): no blocks
            continue
        per = jac.reshape(-1, len(group.names))
        blocks.update({name: per[:, i] for i, name in enumerate(group.names)})
    for element in tr.circuit:
        device = device_for(element)
        if isinstance(element, (VoltageSource, CurrentSource)):
            twin.add(element.with_values(dc=0.0))
        elif device is not None:
            name = getattr(element, "model", "")
            model = flat.models[name] if name else None
            block = blocks.get(element.name, np.empty(0))
            linear = device.twin_elements(element, model, block, f"twin{task.tag}")
            for part in linear or ():  # None: realised below through the transposed stamps
                twin.add(part)
        else:
            twin.add(element)
    terms = tr.terms + device_stamps(system, x0).T
    twin = realize_terms(
        twin, system, terms, None, f"twin{task.tag}", np.zeros(system.n), rename=tr.rename
    )[0]
    c = task.cost_gradient(free)
    for k, node in enumerate(task.outputs):
        twin.add(CurrentSource(f"i_nudge{task.tag}_{k}", GROUND, node, float(-beta * c[k])))
    return twin
