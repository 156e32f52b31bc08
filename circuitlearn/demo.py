"""``circuitlearn demo``: a small end-to-end example that runs in well under a minute.

It builds a Kendall-style network (differential inputs, a resistor crossbar, diode-clamped hidden
nodes, nudging current sources on the outputs), sweeps one input through the native solver with
warm starts, repeats the sweep on ngspice when it is installed, and writes to a run directory:

- ``network.cir``: the network as an ngspice-runnable netlist;
- ``transfer.png``: hidden and output voltages against the swept input, native (lines) and
  ngspice (dots): the diodes' soft clamping is the network's nonlinearity;
- ``backends.png``: the largest native − ngspice voltage difference at each sweep point;
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

from circuitlearn.circuit import LayeredNetwork, kendall_network
from circuitlearn.errors import BackendError, ConvergenceError
from circuitlearn.solve import OperatingPoint, solve_dc

__all__ = ["DEMO_LAYERS", "DEMO_SWEEP", "NGSPICE_OPTIONS", "DemoReport", "run_demo"]

DEMO_LAYERS: tuple[int, tuple[int, ...], int] = (2, (6,), 2)
"""(inputs, hidden layer sizes, outputs) of the demo network."""

DEMO_SWEEP: tuple[float, float, int] = (-3.0, 3.0, 61)
"""Input x0 sweep: (start [V], stop [V], points); x1 stays at 0.5 V."""

_FIXED_INPUT = 0.5
"""Value of the second input x1 during the sweep [V]."""

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
        lines += self.notes
        lines.append(f"figures in {self.out_dir}:")
        lines += [f"  {p}" for p in self.figures]
        lines.append(f"netlist and numbers: {self.files['netlist']}, {self.files['results']}")
        lines.append(f"done in {self.seconds:.1f} s")
        return "\n".join(lines)


def run_demo(
    out_dir: str | Path = "circuitlearn-demo", *, seed: int = 0, ngspice: bool = True
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

    Returns
    -------
    DemoReport
    """
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
