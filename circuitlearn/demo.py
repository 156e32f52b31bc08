"""``circuitlearn demo``: a small end-to-end example that runs in well under a minute.

It builds a Kendall-style network (differential inputs, a resistor crossbar, diode-clamped hidden
nodes, nudging current sources on the outputs), sweeps one input through the native solver with
warm starts, repeats the sweep on ngspice when it is installed, then trains conductances for a
few steps to reproduce a teacher network of the same shape (another seed) on a handful of inputs,
with the exact gradient, Equilibrium Propagation and Asymmetric EP side by side, twice: on the
network itself (reciprocal) and on the same network with one-way VCVS buffers after the hidden
nodes (non-reciprocal). It writes to a run directory:

- ``network.cir``: the network as an ngspice-runnable netlist;
- ``transfer.png``: hidden and output voltages against the swept input, native (lines) and
  ngspice (dots): the diodes' soft clamping is the network's nonlinearity;
- ``backends.png``: the largest native − ngspice voltage difference at each sweep point;
- ``loss.png``: the training loss per step for each learning rule: on the reciprocal network EP
  and AEP follow the exact gradient (the curves coincide); with the buffers EP is biased and
  stalls, while AEP still follows the exact gradient;
- ``results.json``: the numbers behind the figures (what :meth:`DemoReport.to_dict` returns).

matplotlib is imported only when the figures are drawn (its object API, no pyplot state).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from circuitlearn._random import check_random_state
from circuitlearn.circuit import LayeredNetwork, kendall_network
from circuitlearn.errors import BackendError, CircuitError, ConvergenceError
from circuitlearn.learn import LearningTask, make_estimator
from circuitlearn.learn.optim import G_FLOOR, Optimizer, relative_lr
from circuitlearn.solve import OperatingPoint, solve_dc

__all__ = [
    "DEMO_LAYERS",
    "DEMO_STEPS",
    "DEMO_SWEEP",
    "DEMO_TRAINING",
    "NGSPICE_OPTIONS",
    "DemoReport",
    "run_demo",
]

DEMO_LAYERS: tuple[int, tuple[int, ...], int] = (2, (6,), 2)
"""(inputs, hidden layer sizes, outputs) of the demo network."""

DEMO_SWEEP: tuple[float, float, int] = (-3.0, 3.0, 61)
"""Input x0 sweep: (start [V], stop [V], points); x1 stays at 0.5 V."""

_FIXED_INPUT = 0.5
"""Value of the second input x1 during the sweep [V]."""

DEMO_STEPS = 25
"""Default number of training steps (gradient-descent updates) per learning rule."""

DEMO_TRAINING: dict[str, Any] = {
    "samples": 6,
    "input_range": (-2.0, 2.0),
    "methods": ("exact", "ep", "aep"),
    "lr_fraction": 0.05,
    "g_floor": G_FLOOR,
    "networks": {"reciprocal": None, "feed-forward": 2.0},
}
"""Training setup: number of input samples (uniform in ``input_range`` [V]), learning rules, the
learning rate as a fraction of ‖G‖/‖∂C/∂G‖ at the start (one rate for every rule, set from the
exact gradient; units S²/V²), the conductance floor [S] applied after each update, and the
networks trained: name → ``amplifier_gain`` of :func:`~circuitlearn.circuit.kendall_network`
(None: no buffers)."""

NGSPICE_OPTIONS: dict[str, float] = {"reltol": 1e-9, "vntol": 1e-12, "abstol": 1e-15}
"""ngspice tolerances for the comparison: at its defaults (reltol 1e-3, vntol 1 µV) ngspice stops
within about a microvolt, which would hide the agreement of the two solvers' equations."""


@dataclass
class DemoReport:
    """What the demo did and where its files are."""

    out_dir: Path
    files: dict[str, Path]
    network: dict[str, Any]
    native: dict[str, Any]
    ngspice: dict[str, Any]
    seconds: float
    training: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def figures(self) -> list[Path]:
        """The PNG files written."""
        return [p for p in self.files.values() if p.suffix == ".png"]

    def to_dict(self) -> dict[str, Any]:
        """The ``circuitlearn demo --json`` object."""
        return {
            "out_dir": str(self.out_dir),
            "figures": [str(p) for p in self.figures],
            "files": {k: str(v) for k, v in self.files.items()},
            "network": self.network,
            "native": self.native,
            "ngspice": self.ngspice,
            "training": self.training,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """Human-readable report, ending with where the figures are."""
        net = self.network
        lines = [
            f"circuitlearn demo: Kendall network {net['layers']} ({net['elements']} elements, "
            f"{net['trainable']} trainable resistors), seed {net['seed']}",
            f"native:  {self.native['points']} operating points, all converged: "
            f"{self.native['all_converged']}, {self.native['iterations']} Newton iterations, "
            f"{self.native['seconds']:.2f} s",
        ]
        if self.ngspice["status"] == "ok":
            lines.append(
                f"ngspice: {self.ngspice['points']} operating points, "
                f"{self.ngspice['seconds']:.2f} s; "
                f"largest |native - ngspice| = {self.ngspice['max_abs_difference']:.3g} V"
            )
        else:
            lines.append(f"ngspice: {self.ngspice['status']} ({self.ngspice.get('reason', '')})")
        if self.training:
            lines.append(
                f"training: {self.training['steps']} steps on {self.training['samples']} samples "
                "(mean cost [V²], first -> last):"
            )
            for network, result in self.training["networks"].items():
                lines.append(f"  {network} network:")
                for method, run in result["methods"].items():
                    lines.append(
                        f"    {method:<6} {run['loss'][0]:.3e} -> {run['loss'][-1]:.3e}, "
                        f"cosine with exact gradient at step 0: {run['cosine_vs_exact']:.6f}, "
                        f"{run['seconds']:.1f} s"
                    )
        lines += self.notes
        lines.append(f"figures in {self.out_dir}:")
        lines += [f"  {p}" for p in self.figures]
        lines.append(f"netlist and numbers: {self.files['netlist']}, {self.files['results']}")
        lines.append(f"done in {self.seconds:.1f} s")
        return "\n".join(lines)


def run_demo(
    out_dir: str | Path = "circuitlearn-demo",
    *,
    seed: int = 0,
    ngspice: bool = True,
    steps: int = DEMO_STEPS,
) -> DemoReport:
    """Run the demo and write its files to ``out_dir`` (created if needed).

    Parameters
    ----------
    out_dir : path
        Run directory.
    seed : int
        Seeds the network's conductances.
    ngspice : bool
        Also solve on ngspice (skipped with a note when ngspice is not installed).
    steps : int
        Training steps per learning rule (0: no training).

    Returns
    -------
    DemoReport
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise CircuitError(f"demo: steps must be an integer >= 0; got {steps!r}")
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_in, hidden, n_out = DEMO_LAYERS
    net = kendall_network(n_in, hidden, n_out, seed=seed)
    sweep = np.linspace(*DEMO_SWEEP[:2], DEMO_SWEEP[2])
    probes = [*net.hidden_nodes[0], *net.output_nodes]

    netlist = out / "network.cir"
    netlist.write_text(
        net.with_inputs([sweep[0], _FIXED_INPUT]).to_spice() + "\n", encoding="utf-8"
    )

    native = _sweep(net, sweep, probes, "native")
    if not native["all_converged"]:
        raise ConvergenceError(
            f"demo: the native solver did not converge at x0 = {native['first_failure']} V"
        )
    ngspice_result: dict[str, Any] = {"status": "skipped", "reason": "--no-ngspice"}
    if ngspice:
        try:
            ngspice_result = _sweep(net, sweep, probes, "ngspice")
        except BackendError as exc:
            ngspice_result = {"status": "unavailable", "reason": str(exc).splitlines()[0]}
    notes: list[str] = []
    if ngspice_result["status"] == "ok":
        ngspice_result["options"] = dict(NGSPICE_OPTIONS)
        diff = np.abs(np.asarray(native["voltages"]) - np.asarray(ngspice_result["voltages"]))
        if not ngspice_result["all_converged"]:
            diff[~np.asarray(ngspice_result.pop("converged"))] = np.nan
            notes.append(f"ngspice did not converge at x0 = {ngspice_result['first_failure']} V")
        ngspice_result.pop("converged", None)
        ngspice_result["max_abs_difference"] = float(np.nanmax(diff))
        per_point = np.nanmax(diff, axis=1)
        ngspice_result["per_point_max_difference"] = [
            None if np.isnan(v) else float(v) for v in per_point
        ]

    files = {"netlist": netlist}
    files["transfer"] = _plot_transfer(out / "transfer.png", sweep, probes, native, ngspice_result)
    if ngspice_result["status"] == "ok":
        files["backends"] = _plot_backends(out / "backends.png", sweep, ngspice_result)
    training = _train_all(seed=seed, steps=steps) if steps else {}
    if training:
        files["loss"] = _plot_loss(out / "loss.png", training)
    files["results"] = out / "results.json"
    report = DemoReport(
        out_dir=out,
        files=files,
        network={
            "layers": f"{n_in}-{'-'.join(map(str, hidden))}-{n_out}",
            "elements": len(net.circuit),
            "trainable": len(net.trainable),
            "seed": seed,
            "sweep": {
                "input": net.input_sources[0],
                "start": float(sweep[0]),
                "stop": float(sweep[-1]),
                "points": int(sweep.size),
                "fixed_x1": _FIXED_INPUT,
            },
            "probes": probes,
        },
        native={k: v for k, v in native.items() if k not in ("first_failure", "converged")},
        ngspice={k: v for k, v in ngspice_result.items() if k != "first_failure"},
        seconds=time.perf_counter() - start,
        training=training,
        notes=notes,
    )
    files["results"].write_text(json.dumps(report.to_dict(), indent=1) + "\n", encoding="utf-8")
    return report


def _sweep(
    net: LayeredNetwork, sweep: np.ndarray, probes: list[str], backend: str
) -> dict[str, Any]:
    """Solve the network at every sweep point (warm-started on the native backend)."""
    start = time.perf_counter()
    previous: OperatingPoint | None = None
    voltages, iterations, converged = [], 0, []
    for x0 in sweep:
        circuit = net.with_inputs([x0, _FIXED_INPUT])
        warm = (
            previous
            if backend == "native" and previous is not None and previous.converged
            else None
        )
        options = NGSPICE_OPTIONS if backend == "ngspice" else None
        op = solve_dc(circuit, backend=backend, x0=warm, options=options)
        voltages.append([op.voltage(p) for p in probes])
        iterations += op.iterations
        converged.append(op.converged)
        previous = op
    failures = [float(x) for x, ok in zip(sweep, converged, strict=True) if not ok]
    return {
        "status": "ok",
        "points": int(sweep.size),
        "all_converged": not failures,
        "first_failure": failures[0] if failures else None,
        "iterations": int(iterations),
        "seconds": round(time.perf_counter() - start, 3),
        "voltages": voltages,
        "converged": converged,
    }


def _train_all(*, seed: int, steps: int) -> dict[str, Any]:
    """Train every network of :data:`DEMO_TRAINING` with every learning rule."""
    setup = DEMO_TRAINING
    networks = {
        name: _train(seed=seed, steps=steps, amplifier_gain=gain)
        for name, gain in setup["networks"].items()
    }
    return {"steps": steps, "samples": int(setup["samples"]), "networks": networks}


def _train(*, seed: int, steps: int, amplifier_gain: float | None) -> dict[str, Any]:
    """Fit a demo network to a teacher of the same shape (seed + 1) with each learning rule."""
    setup = DEMO_TRAINING
    n_inputs, hidden, n_outputs = DEMO_LAYERS
    student, teacher = (
        kendall_network(n_inputs, hidden, n_outputs, seed=s, amplifier_gain=amplifier_gain)
        for s in (seed, seed + 1)
    )
    rng = check_random_state(seed)
    inputs = rng.uniform(*setup["input_range"], size=(setup["samples"], n_inputs))
    targets = [
        [solve_dc(teacher.with_inputs(x)).voltage(node) for node in teacher.output_nodes]
        for x in inputs
    ]
    tasks = [
        LearningTask(
            student.circuit,
            list(student.trainable),
            dict(zip(student.output_nodes, y, strict=True)),
            inputs=student.input_values(x),
        )
        for x, y in zip(inputs, targets, strict=True)
    ]
    g0 = tasks[0].conductances
    exact0 = _mean_gradient(make_estimator("exact"), tasks)[1]
    lr = relative_lr(g0, exact0, setup["lr_fraction"])
    runs: dict[str, Any] = {}
    for method in setup["methods"]:
        start = time.perf_counter()
        estimator = make_estimator(method)
        conductances, losses, first = g0, [], None
        optimizer = Optimizer("sgd", lr=lr, floor=setup["g_floor"])
        for step in range(steps + 1):
            current = [task.with_conductances(conductances) for task in tasks]
            loss, gradient = _mean_gradient(estimator, current)
            losses.append(loss)
            first = gradient if first is None else first
            if step < steps:
                conductances, _ = optimizer.step(conductances, gradient)
        cosine = float(first @ exact0 / (np.linalg.norm(first) * np.linalg.norm(exact0)))
        runs[method] = {
            "estimator": repr(estimator),
            "loss": losses,
            "cosine_vs_exact": cosine,
            "seconds": round(time.perf_counter() - start, 3),
        }
    return {
        "amplifier_gain": amplifier_gain,
        "teacher_seed": seed + 1,
        "learning_rate": lr,
        "methods": runs,
    }


def _mean_gradient(estimator: Any, tasks: list[LearningTask]) -> tuple[float, np.ndarray]:
    """Mean cost [V²] and mean dC/dG over the samples' tasks."""
    gradients = [estimator.compute_gradient(task) for task in tasks]
    loss = float(np.mean([g.cost for g in gradients]))
    return loss, np.mean([g.vector for g in gradients], axis=0)


def _plot_loss(path: Path, training: dict[str, Any]) -> Path:
    from matplotlib.figure import Figure

    networks = training["networks"]
    fig = Figure(figsize=(4.6 * len(networks), 3.6), layout="constrained")
    axes = fig.subplots(1, len(networks), squeeze=False)[0]
    styles = {
        "exact": ("k", "-", 3.0),
        "ep": ("tab:blue", "--", 1.8),
        "aep": ("tab:orange", ":", 1.8),
    }
    for ax, (network, result) in zip(axes, networks.items(), strict=True):
        for method, run in result["methods"].items():
            color, style, width = styles.get(method, (None, "-", 1.5))
            ax.semilogy(run["loss"], style, color=color, lw=width, label=method)
        ax.set_xlabel("training step")
        ax.set_ylabel("mean cost C [V²]")
        ax.set_title(f"{network} network")
        ax.legend()
    fig.suptitle(f"fitting a teacher network ({training['samples']} samples)")
    fig.savefig(path, dpi=110)
    return path


def _plot_transfer(
    path: Path,
    sweep: np.ndarray,
    probes: list[str],
    native: dict[str, Any],
    ngspice: dict[str, Any],
) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    axes = fig.subplots(1, 2)
    v_native = np.asarray(native["voltages"])
    v_ngspice = np.asarray(ngspice["voltages"]) if ngspice["status"] == "ok" else None
    groups = [
        [i for i, p in enumerate(probes) if p.startswith("h")],
        [i for i, p in enumerate(probes) if p.startswith("out")],
    ]
    for ax, group, title in zip(
        axes, groups, ("hidden nodes (diode-clamped)", "outputs"), strict=True
    ):
        for i in group:
            (line,) = ax.plot(sweep, v_native[:, i], label=probes[i])
            if v_ngspice is not None:
                ax.plot(sweep[::4], v_ngspice[::4, i], "o", ms=3, color=line.get_color())
        ax.set_xlabel("input x0 [V] (pair +x0 / -x0)")
        ax.set_ylabel("node voltage [V]")
        ax.set_title(title + ("; dots: ngspice" if v_ngspice is not None else ""))
        ax.axhline(0.0, color="k", lw=0.5)
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle("Kendall-style network, native solver")
    fig.savefig(path, dpi=110)
    return path


def _plot_backends(path: Path, sweep: np.ndarray, ngspice: dict[str, Any]) -> Path:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3.6), layout="constrained")
    ax = fig.subplots()
    diff = np.maximum(np.array(ngspice["per_point_max_difference"], dtype=float), 1e-18)
    ax.semilogy(sweep, diff, "o-", ms=3)
    ax.set_xlabel("input x0 [V]")
    ax.set_ylabel("max |V_native - V_ngspice| [V]")
    ax.set_title("native solver vs ngspice")
    fig.savefig(path, dpi=110)
    return path
