"""Entry points the CLI calls: :func:`compute_gradient` and :func:`export_phases`.

``circuitlearn gradient`` maps to :func:`compute_gradient` (its :meth:`Gradient.to_dict` is the
``--json`` object of docs/cli.md) and ``circuitlearn export-phase`` to :func:`export_phases`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from circuitlearn.circuit import Circuit
from circuitlearn.circuit.units import format_value
from circuitlearn.errors import CircuitError
from circuitlearn.learn.batch_csv import BatchTable, read_batch_csv
from circuitlearn.learn.batched import BatchEngine, BatchGradient
from circuitlearn.learn.estimators import Gradient, GradientEstimator
from circuitlearn.learn.methods import make_estimator, names
from circuitlearn.learn.report import DEFAULT_METHODS, GradientReport, compare_gradients
from circuitlearn.learn.task import NGSPICE_TIGHT, LearningTask

__all__ = [
    "PHASE_METHODS",
    "batch_gradient",
    "compute_gradient",
    "export_phases",
    "gradient_report",
    "load_circuit",
]

PHASE_METHODS = names(phases=True)
"""Methods with learning-phase circuits (what ``export-phase`` accepts)."""


def load_circuit(netlist_or_circuit: str | Path | Circuit) -> Circuit:
    """A :class:`Circuit` from a netlist path (or the circuit itself)."""
    if isinstance(netlist_or_circuit, Circuit):
        return netlist_or_circuit
    from circuitlearn.netlist import from_spice

    return from_spice(Path(netlist_or_circuit))


def compute_gradient(
    netlist_or_circuit: str | Path | Circuit,
    trainable_globs: str | Iterable[str],
    outputs: Mapping[str, float],
    method: str = "exact",
    variant: str = "centered",
    beta: float | None = None,
    backend: str = "native",
    cost: str = "mse",
    clamp: str | None = None,
) -> Gradient:
    """dC/dG of a netlist's trainable resistors for output targets, by one method.

    Parameters
    ----------
    netlist_or_circuit : path or Circuit
    trainable_globs : str or iterable of str
        Resistor names or globs, case-insensitive (``r*``).
    outputs : mapping node → target [V]
    method : {"exact", "fd", "ep", "cl", "aep", "dyadic"}
    variant : {"centered", "positive", "negative"}
        For ep, cl, aep.
    beta : float, optional
        Nudge strength [S] (cl: clamping factor; fd: relative step); default per method
        (:func:`~circuitlearn.learn.estimators.default_beta`).
    backend : {"native", "ngspice"}
    cost : {"mse", "cross_entropy"}
    clamp : {"matched", "relative"}, optional
        Coupled learning only (see :class:`~circuitlearn.learn.estimators.CoupledLearning`):
        ``matched`` (default) tends to the gradient; ``relative`` is Stern et al.'s v + η(y − v).

    Returns
    -------
    Gradient
        ``to_dict()`` gives ``{"method", "beta", "cost", "parameters", "gradient"}``.

    Raises
    ------
    NetlistError, CircuitError, ConvergenceError, BackendError

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> c = Circuit(); _ = c.add(VoltageSource("v1", "a", "0", 1.0))
    >>> _ = c.add(Resistor("r1", "a", "b", 1e3)); _ = c.add(Resistor("r2", "b", "0", 1e3))
    >>> g = compute_gradient(c, "r*", {"b": 0.3}, method="exact")
    >>> {k: round(v, 6) for k, v in g.to_dict()["gradient"].items()}
    {'r1': 50.0, 'r2': -50.0}
    """
    task = LearningTask(load_circuit(netlist_or_circuit), trainable_globs, outputs, cost=cost)
    return _estimator(method, variant, beta, clamp).compute_gradient(task, backend=backend)


def _estimator(
    method: str, variant: str, beta: float | None, clamp: str | None
) -> GradientEstimator:
    options = {}
    if clamp is not None:
        if str(method).lower() != "cl":
            raise CircuitError(f"clamp={clamp!r} applies to coupled learning (cl) only")
        options["clamp"] = clamp
    return make_estimator(method, beta=beta, variant=variant, **options)


def batch_gradient(
    netlist_or_circuit: str | Path | Circuit,
    trainable_globs: str | Iterable[str],
    outputs: Mapping[str, float],
    batch: str | Path | BatchTable | None = None,
    method: str = "exact",
    variant: str = "centered",
    beta: float | None = None,
    backend: str = "native",
    cost: str = "mse",
    clamp: str | None = None,
) -> BatchGradient:
    """The gradient of the mean cost over a batch of samples (``gradient --batch``).

    ``batch`` is a CSV file (see :mod:`circuitlearn.learn.batch_csv`), a :class:`BatchTable`, or
    None for the one sample the netlist and ``outputs`` define. Parameters as
    :func:`compute_gradient`; on the native backend every sample's phases are solved together by
    :class:`~circuitlearn.learn.batched.BatchEngine`.

    Returns
    -------
    BatchGradient
        ``to_dict()`` gives the ``gradient --json`` keys plus ``batch_size``.

    Raises
    ------
    NetlistError, CircuitError, DataError, ConvergenceError, BackendError

    Examples
    --------
    >>> import numpy as np
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> c = Circuit(); _ = c.add(VoltageSource("v1", "a", "0", 1.0))
    >>> _ = c.add(Resistor("r1", "a", "b", 1e3)); _ = c.add(Resistor("r2", "b", "0", 1e3))
    >>> table = BatchTable({"v1": np.array([1.0, 2.0])}, np.array([[0.3], [0.3]]))
    >>> g = batch_gradient(c, "r*", {"b": 0.3}, table, method="exact")
    >>> g.batch_size, {k: round(v, 6) for k, v in g.values.items()}
    (2, {'r1': 200.0, 'r2': -200.0})
    """
    circuit = load_circuit(netlist_or_circuit)
    task = LearningTask(circuit, trainable_globs, outputs, cost=cost)
    if batch is not None and not isinstance(batch, BatchTable):
        batch = read_batch_csv(
            batch, task.circuit, dict(zip(task.outputs, task.targets, strict=True))
        )
    engine = BatchEngine(task)
    samples = engine.batch(size=1) if batch is None else engine.batch(batch.inputs, batch.targets)
    return engine.gradient(_estimator(method, variant, beta, clamp), samples, backend=backend)


def export_phases(
    circuit: str | Path | Circuit,
    method: str,
    trainable: str | Iterable[str],
    outputs: Mapping[str, float],
    beta: float | None,
    path: str | Path,
    *,
    variant: str = "centered",
    cost: str = "mse",
    backend: str = "native",
) -> list[Path]:
    """Write the learning-phase circuits of ``method`` as ngspice-runnable netlists.

    The free state is solved first (on ``backend``), since every phase depends on it (nudging
    currents, clamp voltages, the AEP mirror, the twin's small-signal values). Files: for
    ``path = out/amp.cir``, ``out/amp_free.cir`` (the free phase) and one ``out/amp_<phase>.cir``
    per phase: ``ep_pos``/``ep_neg``, ``cl_pos``/``cl_neg``, ``aep_pos``/``aep_neg`` (a one-sided
    variant writes only its own sign), ``twin``. Each deck has ``.options`` with the tight
    tolerances of :data:`~circuitlearn.learn.task.NGSPICE_TIGHT`, ``.nodeset`` cards at the free
    state (a corrected phase may have other, far operating points) and an ``.op`` card.

    Returns
    -------
    list of Path
        The files written, free phase first.

    Raises
    ------
    CircuitError
        A method without phases (exact, fd), bad task settings.
    """
    key = str(method).lower()
    if key not in PHASE_METHODS:
        raise CircuitError(
            f"export-phase: method {method!r} has no learning phases; "
            f"expected one of {', '.join(PHASE_METHODS)}"
        )
    task = LearningTask(load_circuit(circuit), trainable, outputs, cost=cost)
    estimator = make_estimator(key, beta=beta, variant=variant)
    free = task.solve(backend)
    plan = estimator.phase_plan(task, free)
    assert plan is not None
    target = Path(path)
    stem = target.stem if target.suffix else target.name
    folder = target.parent
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    free_circuit = task.circuit.copy()
    free_circuit.title = f"{task.circuit.title} [free]"
    for name, phase in {"free": free_circuit, **plan.circuits()}.items():
        out = folder / f"{stem}_{name}.cir"
        lines = phase.to_spice(options=NGSPICE_TIGHT).split("\n")
        if name != "free" and plan.warm_voltages:
            nodes = set(phase.nodes)
            lines[-2:-2] = [
                f".nodeset v({node})={format_value(v)}"
                for node, v in plan.warm_voltages.items()
                if node in nodes
            ]
        out.write_text("\n".join(lines) + "\n")
        written.append(out)
    return written


def gradient_report(
    netlist_or_circuit: str | Path | Circuit,
    trainable_globs: str | Iterable[str],
    outputs: Mapping[str, float],
    methods: Iterable[str] = DEFAULT_METHODS,
    *,
    variant: str = "centered",
    beta: float | None = None,
    backend: str = "native",
    cost: str = "mse",
    plot: str | Path | None = None,
) -> GradientReport:
    """Compare ``methods`` with the exact gradient on a netlist; optionally save the scatter PNG.

    ``report.to_text()`` prints the summary and per-parameter tables; ``report.to_dict()`` is
    JSON-ready. See :func:`~circuitlearn.learn.report.compare_gradients`.
    """
    task = LearningTask(load_circuit(netlist_or_circuit), trainable_globs, outputs, cost=cost)
    report = compare_gradients(task, methods, backend=backend, beta=beta, variant=variant)
    if plot is not None:
        report.plot(plot)
    return report
