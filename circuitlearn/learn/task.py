"""What to learn: :class:`LearningTask` (circuit, trainable conductances, outputs, targets, cost).

Conventions (docs/math.md): the parameters are the conductances G = 1/R [S] of the trainable
resistors; gradients are dC/dG [V²/S for the MSE]. Trainable resistors are named by names or
globs, matched case-insensitively against the flat circuit's resistors (``r*``, ``r.x1.*``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from circuitlearn.circuit import GROUND, Circuit, Resistor, VoltageSource
from circuitlearn.circuit.behavioral import BehavioralSource
from circuitlearn.circuit.devices.base import SeriesLaw
from circuitlearn.errors import CircuitError, ConvergenceError
from circuitlearn.learn.costs import Cost, make_cost
from circuitlearn.solve import BACKENDS, OperatingPoint, solve_dc
from circuitlearn.solve.mna import MNASystem, compile_circuit
from circuitlearn.solve.stamps import flat_copy

__all__ = ["NGSPICE_TIGHT", "LearningTask", "resolve_trainable"]

NGSPICE_TIGHT: dict[str, float] = {"reltol": 1e-9, "abstol": 1e-15, "vntol": 1e-12}
"""ngspice ``.options`` used for learning phases: EP-type rules take differences of nearby
operating points, so ngspice's defaults (reltol 1e-3, abstol 1e-12 A, vntol 1e-6 V) are far too
loose; these match the native solver's defaults."""


def resolve_trainable(circuit: Circuit, patterns: str | Iterable[str]) -> list[str]:
    """Resistor names of the flat ``circuit`` matching any name or glob in ``patterns``.

    Matching is case-insensitive; the result keeps circuit order.

    Raises
    ------
    CircuitError
        A pattern that matches no resistor (naming it and the resistors there are), or no
        pattern at all.

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> c = Circuit(); _ = c.add(VoltageSource("v1", "a", "0", 1.0))
    >>> _ = c.add(Resistor("r1", "a", "b", 1e3)); _ = c.add(Resistor("rload", "b", "0", 1e3))
    >>> resolve_trainable(c, ["R1"]), resolve_trainable(c, "r*")
    (['r1'], ['r1', 'rload'])
    """
    if isinstance(patterns, str):
        patterns = [patterns]
    patterns = [str(p).strip().lower() for p in patterns]
    if not patterns:
        raise CircuitError(
            "trainable: expected at least one resistor name or glob (e.g. 'r*'); got none"
        )
    resistors = [e.name for e in circuit if isinstance(e, Resistor)]
    known = set(resistors)
    chosen: set[str] = set()
    for pattern in patterns:
        hits = (
            [pattern]
            if pattern in known
            else fnmatch.filter(resistors, pattern)
            if _is_glob(pattern)
            else []
        )
        if not hits:
            shown = ", ".join(resistors[:8]) + (" ..." if len(resistors) > 8 else "")
            raise CircuitError(
                f"trainable: {pattern!r} matches no resistor; the circuit's resistors are "
                f"{shown or '(none)'} (use a name or a glob such as 'r*')"
            )
        chosen.update(hits)
    return [name for name in resistors if name in chosen]


def _is_glob(pattern: str) -> bool:
    return any(ch in pattern for ch in "*?[")


class LearningTask:
    """A circuit, its trainable conductances, output nodes with targets, and a cost.

    Parameters
    ----------
    circuit : Circuit
        Flattened here (a copy: the caller's circuit is never changed).
    trainable : str or iterable of str
        Resistor names or globs (case-insensitive).
    outputs : mapping node → target [V], or sequence of nodes
        Output nodes; with a sequence, ``targets`` gives the values in the same order.
    targets : sequence of float, optional
        Targets when ``outputs`` is a sequence (class probabilities for the cross-entropy).
    cost : {"mse", "cross_entropy"} or Cost
    inputs : mapping source name → value, optional
        Independent source values (V [V] or I [A]) set before solving.

    Raises
    ------
    CircuitError
        Unknown trainable glob, unknown or fixed output node, target count mismatch, unknown
        input source.

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> c = Circuit(); _ = c.add(VoltageSource("v1", "a", "0", 1.0))
    >>> _ = c.add(Resistor("r1", "a", "b", 1e3)); _ = c.add(Resistor("r2", "b", "0", 1e3))
    >>> task = LearningTask(c, "r*", {"b": 0.3})
    >>> task
    LearningTask(trainable=2, outputs={'b': 0.3}, cost=MeanSquaredError(), inputs={})
    >>> round(task.cost_of(task.solve()), 6)
    0.02
    """

    def __init__(
        self,
        circuit: Circuit,
        trainable: str | Iterable[str],
        outputs: Mapping[str, float] | Sequence[str],
        targets: Sequence[float] | None = None,
        cost: str | Cost = "mse",
        inputs: Mapping[str, float] | None = None,
    ) -> None:
        if not isinstance(circuit, Circuit):
            raise CircuitError(f"LearningTask: expected a Circuit; got {type(circuit).__name__}")
        flat = flat_copy(circuit)  # a builder's network is flat already: shared, not rebuilt
        self.inputs = {str(k).lower(): float(v) for k, v in dict(inputs or {}).items()}
        for name, value in self.inputs.items():
            if name not in flat:
                raise CircuitError(
                    f"LearningTask: input source {name!r} is not in the circuit", element=name
                )
            flat.set_value(name, value)
        self.circuit = flat
        self.trainable = resolve_trainable(flat, trainable)
        if isinstance(outputs, Mapping):
            if targets is not None:
                raise CircuitError(
                    "LearningTask: give targets either in the outputs mapping or as targets, "
                    "not both"
                )
            nodes = [str(n).lower() for n in outputs]
            values = [float(v) for v in outputs.values()]
        else:
            nodes = [str(n).lower() for n in outputs]
            if targets is None or len(targets) != len(nodes):
                raise CircuitError(
                    f"LearningTask: {len(nodes)} output nodes need as many targets; got "
                    f"{None if targets is None else len(targets)}"
                )
            values = [float(v) for v in targets]
        self.outputs = nodes
        self.targets = np.array(values, dtype=float)
        self.cost = make_cost(cost)
        self._check_outputs()
        pairs = [(flat[name].n1, flat[name].n2) for name in self.trainable]
        self.resistor_nodes = pairs
        nodes = list(flat.nodes)
        position = {node: k for k, node in enumerate(nodes)}
        position[GROUND] = len(nodes)
        self._node_order = nodes
        self._ends = (
            np.array([position[a] for a, _ in pairs], dtype=int),
            np.array([position[b] for _, b in pairs], dtype=int),
        )
        self._system: MNASystem | None = None
        self._conductances: np.ndarray | None = None
        self.tag = _free_tag(flat)
        """Suffix of the learning phases' internal names (``i_nudge{tag}_0``, ``aep{tag}``):
        empty unless the circuit already uses such a name."""
        self.phase_systems: dict[Hashable, MNASystem] = {}
        """Compiled learning-phase systems by structure key (shared with derived tasks)."""

    def __repr__(self) -> str:
        outs = dict(zip(self.outputs, self.targets.tolist(), strict=True))
        return (
            f"LearningTask(trainable={len(self.trainable)}, outputs={outs}, cost={self.cost!r}, "
            f"inputs={self.inputs})"
        )

    # -- parameters -----------------------------------------------------------------------
    @property
    def conductances(self) -> np.ndarray:
        """Trainable conductances G [S], in :attr:`trainable` order (a copy)."""
        if self._conductances is None:
            self._conductances = np.array(
                [self.circuit[name].conductance for name in self.trainable]
            )
        return self._conductances.copy()

    @property
    def parameters(self) -> dict[str, float]:
        """{resistor name: G [S]}."""
        return dict(zip(self.trainable, self.conductances.tolist(), strict=True))

    def with_conductances(self, conductances: Mapping[str, float] | np.ndarray) -> LearningTask:
        """A copy of the task with some trainable conductances [S] changed.

        The compiled native system is carried over with the new values written into its
        parameters (no recompilation: a training step on DRN-XS would otherwise spend seconds
        compiling), and compiled phase circuits stay shared (they read conductances from it).

        Raises
        ------
        CircuitError
            A name that is not trainable, or a conductance that is not positive and finite.
        """
        if not isinstance(conductances, Mapping):
            values = np.asarray(conductances, dtype=float)
            if values.shape != (len(self.trainable),):
                raise CircuitError(
                    f"with_conductances: expected {len(self.trainable)} conductances [S]; "
                    f"got shape {values.shape}"
                )
            conductances = dict(zip(self.trainable, values.tolist(), strict=True))
        position = {name: k for k, name in enumerate(self.trainable)}
        unknown = [name for name in conductances if name not in position]
        if unknown:
            raise CircuitError(
                f"with_conductances: {unknown[0]!r} is not a trainable resistor", element=unknown[0]
            )
        circuit = self.circuit.copy()
        for name, g in conductances.items():
            circuit.replace(circuit[name].with_conductance(float(g)))
        task = LearningTask.__new__(LearningTask)
        task.__dict__.update(self.__dict__)
        task.circuit = circuit
        task._conductances = None
        task._system = None
        if self._system is not None:
            task._system = _updated_system(self._system, circuit, conductances)
        return task

    # -- solving --------------------------------------------------------------------------
    @property
    def system(self) -> MNASystem:
        """The native MNA system of the task's circuit (compiled once, cached)."""
        if self._system is None:
            self._system = compile_circuit(self.circuit)
        return self._system

    def solve(
        self, backend: str = "native", circuit: Circuit | None = None, x0: Any = None
    ) -> OperatingPoint:
        """Operating point of the task's circuit (or of a phase ``circuit``) on ``backend``.

        ``x0`` is a warm start (native: array or OperatingPoint; ngspice: an OperatingPoint,
        written as ``.nodeset`` cards), needed where a phase circuit has several operating points.

        Raises
        ------
        ConvergenceError
            When the solver finds no operating point (a gradient from it would be meaningless).
        """
        if backend not in BACKENDS:
            raise CircuitError(
                f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}"
            )
        target: Any = (
            self.system if circuit is None and backend == "native" else (circuit or self.circuit)
        )
        if backend == "native":
            from circuitlearn.solve.newton import solve_native

            op = solve_native(target, x0=x0)
        else:
            start = x0 if isinstance(x0, OperatingPoint) else None
            op = solve_dc(target, backend="ngspice", x0=start, options=NGSPICE_TIGHT)
        if not op.converged:
            title = (circuit or self.circuit).title
            raise ConvergenceError(f"{backend} solve of {title!r} failed: {op.message}", result=op)
        return op

    def output_voltages(self, op: OperatingPoint) -> np.ndarray:
        """Output voltages [V] at ``op``, in :attr:`outputs` order."""
        return np.array([op.voltage(node) for node in self.outputs])

    def cost_of(self, op: OperatingPoint) -> float:
        """C at ``op``."""
        return self.cost.value(self.output_voltages(op), self.targets)

    def cost_gradient(self, op: OperatingPoint) -> np.ndarray:
        """∂C/∂v_k at ``op`` (one value per output)."""
        return self.cost.gradient(self.output_voltages(op), self.targets)

    def drops(self, op: OperatingPoint) -> np.ndarray:
        """Voltage drops v_a − v_b [V] across the trainable resistors at ``op``."""
        v = np.array([op.voltages[node] for node in self._node_order] + [0.0])
        return v[self._ends[0]] - v[self._ends[1]]

    # -- checks ---------------------------------------------------------------------------
    def _check_outputs(self) -> None:
        if not self.outputs:
            raise CircuitError("LearningTask: expected at least one output node; got none")
        nodes = set(self.circuit.nodes)
        driven = {
            (e.pos if e.neg == GROUND else e.neg): e.name
            for e in self.circuit.elements_of(VoltageSource)
            if (e.pos == GROUND) != (e.neg == GROUND)
        }
        for node in self.outputs:
            if node == GROUND or node not in nodes:
                raise CircuitError(
                    f"LearningTask: output node {node!r} is not a node of the circuit", node=node
                )
            if node in driven:
                raise CircuitError(
                    f"LearningTask: output node {node!r} is fixed by voltage source "
                    f"{driven[node]}; "
                    "choose a node whose voltage the circuit computes",
                    node=node,
                )
        if len(set(self.outputs)) != len(self.outputs):
            raise CircuitError(f"LearningTask: duplicate output nodes in {self.outputs}")


INTERNAL_STEMS = (
    *("i_nudge", "v_clamp", "r_twin", "twin", "aep", "r_series", "b_series", "series"),
    *(f"{letter}_{tag}" for tag in ("aep", "twin") for letter in "gfiehv"),
)
"""Name stems of the elements and nodes the learning phases add."""


def explicit_series(circuit: Circuit, tag: str) -> tuple[Circuit, dict[str, str]]:
    """The flat ``circuit`` with every device's series resistances (bipolar RB, RC, RE; MOSFET
    RD, RS) as explicit elements, so that the learning phases, which are netlists, can name the
    nodes behind them: the same equations (``Device.explicit_series`` gives what the native
    device stamps), a constant resistance as a resistor ``r_series{tag}_K``, a current-dependent
    one (bipolar RB with IRB or RBM ≠ RB) as such a resistor in parallel with a behavioural
    current source ``b_series{tag}_K`` of the device's internal voltages, new nodes
    ``series{tag}_K`` and models ``series{tag}_mK`` (copies with the resistances 0). Returns the
    circuit (``circuit`` itself when no device has any) and {internal node (``q1#base``): its
    new node}.
    """
    from dataclasses import replace

    from circuitlearn.circuit.devices import device_for

    out: Circuit | None = None
    moved: dict[str, str] = {}
    models: dict[str, str] = {}
    count = 0
    for element in circuit:
        device = device_for(element)
        name = getattr(element, "model", "")
        if device is None or not name:
            continue
        model = circuit.models[name]
        found = device.explicit_series(element, model, circuit.temperature)
        if found is None:
            continue
        resistances, zeroed = found
        if out is None:
            out = circuit.copy()
        if name not in models:
            models[name] = f"series{tag}_m{len(models)}"
            params = {**model.params, **{k: 0.0 for k in zeroed}}
            out.add_model(replace(model, name=models[name], params=params))
        labels = {field: f"{tag}_{count + k}" for k, field in enumerate(resistances)}
        count += len(labels)
        nodes = {field: f"series{label}" for field, label in labels.items()}
        inner = {field: nodes.get(field, getattr(element, field)) for field in element.node_fields}
        for field, resistance in resistances.items():
            outer, label = getattr(element, field), labels[field]
            if isinstance(resistance, SeriesLaw):
                out.add(Resistor(f"r_series{label}", outer, nodes[field], resistance.resistance))
                law = resistance.excess(inner)
                out.add(BehavioralSource(f"b_series{label}", outer, nodes[field], "i", law))
            else:
                out.add(Resistor(f"r_series{label}", outer, nodes[field], resistance))
            moved[f"{element.name}#{field}"] = nodes[field]
        out.replace(replace(element, model=models[name], **nodes))
    return (circuit if out is None else out), moved


def _free_tag(circuit: Circuit) -> str:
    """The first suffix (``""``, ``"1"``, ...) whose internal names the circuit does not use."""
    names = [e.name for e in circuit] + list(circuit.nodes) + list(circuit.models)
    for k in range(len(names) + 1):
        tag = "" if k == 0 else str(k)
        stems = tuple(f"{stem}{tag}_" for stem in INTERNAL_STEMS)
        if not any(name.startswith(stems) for name in names):
            return tag
    raise CircuitError("no free name for the learning phases' elements")  # unreachable


def _updated_system(
    system: MNASystem, circuit: Circuit, conductances: Mapping[str, float]
) -> MNASystem:
    """A copy of a compiled system with new resistor conductances [S].

    ``circuit`` is the already updated flat circuit the copy refers to, so the compiled values
    are set without circuit sync (which would re-create every resistor dataclass).
    """
    index = {name: k for k, name in enumerate(system.resistor_names)}
    values = system.conductances
    values[[index[name] for name in conductances]] = np.fromiter(
        conductances.values(), dtype=float, count=len(conductances)
    )
    out = system.copy(circuit=circuit)
    out.set_conductances(values, sync_circuit=False)
    return out
