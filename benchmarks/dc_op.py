"""DC operating point: native solver vs ngspice 39, timed in the same run (issue 4).

Cases
-----
drn_xs
    Kendall-style DRN-XS: 784 differential input pairs (1,568 grounded sources), 100 hidden nodes
    clamped by diode pairs, 10 outputs, random conductances (``kendall_network(784, 100, 10)``).
    Its default diode rails (0, 0) V leave every diode off (the hidden nodes of a random network
    sit near 0 V), so this case times an effectively linear network.
    Native: one cold ``solve_native`` on the compiled system (compilation reported apart).
    ngspice: one ``op`` in a loaded shared-mode session (parsing/loading reported apart).
mesh_10k
    A 100 × 100 grid: random resistors on the edges (10 % diodes with RS), a leak resistor to
    ground at every node, an NMOS at 5 % of the nodes gated by a neighbour, three driving sources.
    ngspice: ``solve_ngspice`` (parse + op) once.
drn_xs_batch1000
    DRN-XS over 1,000 random input vectors. Native: ``solve_batch`` (all samples at once; the
    exact layered Schur path), run in a child process whose peak RSS is reported. ngspice:
    ``alter`` + ``op`` per sample in one session, timed on a subset and extrapolated to 1,000
    (the subset size is in the notes); answers compared on that subset.
drn_xs_conducting, drn_xs_batch1000_conducting
    The same two DRN-XS cases in the conducting regime of ``benchmarks/epoch.py``: diode rails
    (low, high) = (0.6, −0.6) V, so every hidden diode is about 0.6 V forward and carries a current
    comparable to the node's resistive currents. ``hidden_conducting_fraction`` is the fraction of
    diodes forward-biased above 0.4 V.

ngspice runs without circuitlearn's check of its answer (``verify=False``): only its own solve
is timed.

Goals (issue 4): ratio ≥ 1000 (drn_xs), ≥ 3 (mesh_10k), ≥ 10,000 (drn_xs_batch1000) with peak
memory < 2 GiB. Run ``python benchmarks/dc_op.py [--json]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from typing import Any

import numpy as np
from _runner import main, timed  # the script's folder is on sys.path when run as a script

from circuitlearn.circuit import Circuit, Diode, Model, Mosfet, Resistor, VoltageSource
from circuitlearn.circuit.builders import kendall_network
from circuitlearn.solve.batch import solve_batch
from circuitlearn.solve.mna import compile_circuit
from circuitlearn.solve.newton import solve_native

SEED = 0
N_BATCH = 1000


CONDUCTING_BIAS = (0.6, -0.6)
"""Diode rails [V] of the conducting regime (see the module notes)."""

NGSPICE_OPTIONS = {"verify": False}


def drn_xs(bias: tuple[float, float] = (0.0, 0.0)):
    """The DRN-XS layered network (784 inputs → 100 hidden → 10 outputs)."""
    return kendall_network(784, 100, 10, seed=SEED, bias_voltages=bias)


def conducting_fraction(circuit, voltages: np.ndarray, nodes: list[str]) -> float:
    """Fraction of diodes forward-biased above 0.4 V (rows of ``voltages``: samples)."""
    column = {node: k for k, node in enumerate(nodes)}
    column["0"] = None
    diodes = circuit.elements_of(Diode)
    v = np.column_stack([voltages, np.zeros(len(voltages))])
    a = [column[d.anode] if d.anode != "0" else -1 for d in diodes]
    k = [column[d.cathode] if d.cathode != "0" else -1 for d in diodes]
    return float(np.mean(v[:, a] - v[:, k] > 0.4))


def batch_inputs(net, n_samples: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Random input vectors in [0, 1] and the source values they give, per sample."""
    x = np.random.default_rng(SEED + 1).uniform(0.0, 1.0, (n_samples, net.n_inputs))
    values = {
        name: x[:, k // 2] * (1.0 if name.endswith("p") else -1.0)
        for k, name in enumerate(net.input_sources)
    }
    return x, values


def mesh(side: int = 100, seed: int = SEED) -> Circuit:
    """A side × side grid of random resistors, diodes and NMOS transistors (see module notes)."""
    rng = np.random.default_rng(seed)
    c = Circuit(f"mesh {side}x{side}")
    c.add_model(Model("dm", "d", {"is": 1e-14, "rs": 10.0}))
    c.add_model(Model("nm", "nmos", {"vto": 0.6, "kp": 1e-4, "lambda": 0.02}))

    def node(i: int, j: int) -> str:
        return f"n{i}_{j}"

    c.add(VoltageSource("vhi", node(0, 0), "0", 5.0))
    c.add(VoltageSource("vmid", node(side // 2, side // 2), "0", 2.5))
    c.add(VoltageSource("vlo", node(side - 1, side - 1), "0", 0.5))
    k = 0
    for i in range(side):
        for j in range(side):
            for a, b in ((i, j + 1), (i + 1, j)):
                if a >= side or b >= side:
                    continue
                k += 1
                if rng.random() < 0.1:
                    c.add(Diode(f"d{k}", node(i, j), node(a, b), "dm"))
                else:
                    c.add(Resistor(f"r{k}", node(i, j), node(a, b), float(rng.uniform(1e3, 1e4))))
            if rng.random() < 0.05:
                k += 1
                gate = node(min(side - 1, i + 1), max(0, j - 1))
                c.add(Mosfet(f"m{k}", node(i, j), gate, "0", "0", "nm", w=2e-6, l=1e-6))
            k += 1
            c.add(Resistor(f"r{k}", node(i, j), "0", float(rng.uniform(1e5, 1e6))))
    return c


def max_diff(a: dict[str, float], b: dict[str, float]) -> float:
    return max(abs(a[k] - b[k]) for k in b)


def case_drn_xs(args: argparse.Namespace) -> dict[str, Any]:
    return _drn_xs("drn_xs", (0.0, 0.0))


def case_drn_xs_conducting(args: argparse.Namespace) -> dict[str, Any]:
    return _drn_xs("drn_xs_conducting", CONDUCTING_BIAS)


def _drn_xs(name: str, bias: tuple[float, float]) -> dict[str, Any]:
    from circuitlearn.solve.ngspice import NgspiceSession

    net = drn_xs(bias)
    x, _ = batch_inputs(net, 1)
    circuit = net.with_inputs(x[0])
    compile_s, system = timed(lambda: compile_circuit(circuit))
    native_s, op = timed(lambda: solve_native(system), repeat=5)
    with NgspiceSession(circuit, options=NGSPICE_OPTIONS) as session:
        first_s, _ = timed(session.op)  # parses and loads the deck, then runs op
        ngspice_s, ref = timed(session.op, repeat=2)
    nodes = list(op.voltages)
    fraction = conducting_fraction(circuit, np.array([[op.voltages[n] for n in nodes]]), nodes)
    return {
        "name": name,
        "native_s": native_s,
        "ngspice_s": ngspice_s,
        "ratio": ngspice_s / native_s,
        "max_abs_diff_V": max_diff(op.voltages, ref.voltages),
        "goal": "≥ 1000×",
        "native_compile_s": compile_s,
        "ngspice_first_op_s": first_s,
        "native_iterations": op.iterations,
        "ngspice_iterations": ref.iterations,
        "hidden_conducting_fraction": fraction,
        "notes": (
            f"rails {bias} V, {fraction:.0%} of diodes conducting; "
            f"op only on both sides; native compile {compile_s:.2f} s, "
            f"ngspice load + first op {first_s:.2f} s"
        ),
    }


def case_mesh_10k(args: argparse.Namespace) -> dict[str, Any]:
    from circuitlearn.solve.ngspice import solve_ngspice

    circuit = mesh()
    compile_s, system = timed(lambda: compile_circuit(circuit))
    native_s, op = timed(lambda: solve_native(system), repeat=3)
    ngspice_s, ref = timed(lambda: solve_ngspice(circuit, options=NGSPICE_OPTIONS))
    return {
        "name": "mesh_10k",
        "native_s": native_s,
        "ngspice_s": ngspice_s,
        "ratio": ngspice_s / native_s,
        "max_abs_diff_V": max_diff(op.voltages, ref.voltages),
        "goal": "≥ 3×",
        "native_compile_s": compile_s,
        "native_iterations": op.iterations,
        "ngspice_iterations": ref.iterations,
        "unknowns": system.n,
        "notes": f"{system.n} unknowns; ngspice time includes parsing; compile {compile_s:.2f} s",
    }


def _native_batch(n_samples: int, keep: int, bias: tuple[float, float]) -> dict[str, Any]:
    """Child process: build, compile and batch-solve DRN-XS; report times and peak memory."""
    net = drn_xs(bias)
    _, values = batch_inputs(net, n_samples)
    compile_s, system = timed(lambda: compile_circuit(net.circuit))
    solve_s, result = timed(lambda: solve_batch(system, values), repeat=2)
    return {
        "compile_s": compile_s,
        "solve_s": solve_s,
        "converged": int(result.converged.sum()),
        "iterations": float(result.iterations.mean()),
        "nodes": result.nodes,
        "voltages": result.voltages[:keep].tolist(),
        "conducting": conducting_fraction(net.circuit, result.voltages, result.nodes),
        "peak_rss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    }


def case_drn_xs_batch1000(args: argparse.Namespace) -> dict[str, Any]:
    return _drn_xs_batch("drn_xs_batch1000", (0.0, 0.0), args)


def case_drn_xs_batch1000_conducting(args: argparse.Namespace) -> dict[str, Any]:
    return _drn_xs_batch("drn_xs_batch1000_conducting", CONDUCTING_BIAS, args)


def _drn_xs_batch(name: str, bias: tuple[float, float], args: argparse.Namespace) -> dict[str, Any]:
    from circuitlearn.solve.ngspice import NgspiceSession

    subset = args.ngspice_samples
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        native = pool.apply(_native_batch, (N_BATCH, subset, bias))
    net = drn_xs(bias)
    x, _ = batch_inputs(net, N_BATCH)
    diffs = []
    with NgspiceSession(net.circuit, options=NGSPICE_OPTIONS) as session:
        session.op()  # parse and load once, not timed per sample
        start = time.perf_counter()
        for k in range(subset):
            session.alter_many(net.input_values(x[k]))
            ref = session.op()
            row = dict(zip(native["nodes"], native["voltages"][k], strict=True))
            diffs.append(max_diff(row, ref.voltages))
        per_sample = (time.perf_counter() - start) / subset
    ngspice_s = per_sample * N_BATCH
    return {
        "name": name,
        "native_s": native["solve_s"],
        "ngspice_s": ngspice_s,
        "ratio": ngspice_s / native["solve_s"],
        "max_abs_diff_V": max(diffs),
        "goal": "≥ 10000×, < 2 GiB",
        "native_compile_s": native["compile_s"],
        "native_peak_rss_MiB": native["peak_rss_MiB"],
        "native_converged": native["converged"],
        "native_mean_iterations": native["iterations"],
        "hidden_conducting_fraction": native["conducting"],
        "ngspice_per_sample_s": per_sample,
        "notes": (
            f"rails {bias} V, {native['conducting']:.0%} of diodes conducting; "
            f"ngspice alter+op timed on {subset} samples, extrapolated to {N_BATCH}; "
            f"native peak RSS {native['peak_rss_MiB']:.0f} MiB "
            f"(child process, build+compile+solve); compile {native['compile_s']:.2f} s"
        ),
    }


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ngspice-samples",
        type=int,
        default=3,
        help="samples of the batch case run by ngspice (extrapolated to 1000)",
    )


if __name__ == "__main__":
    sys.exit(
        main(
            "dc_op",
            [
                case_drn_xs,
                case_drn_xs_conducting,
                case_mesh_10k,
                case_drn_xs_batch1000,
                case_drn_xs_batch1000_conducting,
            ],
            description=__doc__,
            extra=_options,
        )
    )
