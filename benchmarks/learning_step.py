"""Cost of one AEP gradient against one EP gradient, measured in the same run.

Circuits:

- ``drn_xs``: the DRN-XS network of Kendall et al. (784 inputs as 1,568 differential sources, 100
  hidden nodes each clamped by a diode pair, 10 outputs; 157,800 trainable resistors), built by
  :func:`circuitlearn.circuit.kendall_network`. Reciprocal: AEP's mirror is empty.
- ``nonrecip_1k``: a seeded random 1,000-node circuit (about 2,500 resistors, 40 diodes, 100 VCCS,
  25 each of VCVS / CCCS / CCVS) driven by 10 sources, 2 outputs: a large mirror.

For each, the free state is solved once; then each method's gradient is timed ``cold`` (first
call: phase circuit built and compiled) and ``warm`` (median of repeats: the compiled phase is
reused and only values change, as in training). Answers are checked next to the timings:
relative error of EP and AEP against the exact (adjoint) gradient.

Usage: ``python benchmarks/learning_step.py [--json] [--repeats N]``. Writes
``benchmarks/results/learning_step.csv``. Goal: AEP ≤ 1.3 × EP.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from circuitlearn.circuit import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    Circuit,
    Diode,
    Model,
    Resistor,
    VoltageSource,
    kendall_network,
)
from circuitlearn.learn import LearningTask, make_estimator

RESULTS = Path(__file__).resolve().parent / "results" / "learning_step.csv"


def drn_xs(seed: int = 0) -> LearningTask:
    """DRN-XS with random inputs in [−1, 1] V and targets 0.1 V."""
    net = kendall_network(784, [100], 10, seed=seed)
    rng = np.random.default_rng(seed)
    circuit = net.with_inputs(rng.uniform(-1.0, 1.0, 784))
    return LearningTask(circuit, list(net.trainable), {node: 0.1 for node in net.output_nodes})


def nonreciprocal_1k(seed: int = 0, n: int = 1000) -> LearningTask:
    """A random non-reciprocal 1,000-node circuit (see the module notes)."""
    rng = np.random.default_rng(seed)
    c = Circuit("random non-reciprocal 1k")
    c.add_model(Model("dm", "d", {"is": 1e-12, "n": 1.2}))

    def g() -> float:
        return float(rng.uniform(1e-4, 1e-3))

    for k in range(10):
        c.add(VoltageSource(f"vin{k}", f"n{k}", "0", float(rng.uniform(-1.0, 1.0))))
    r = 0
    for i in range(10, n):
        for j in rng.choice(i, size=2, replace=False):
            c.add(Resistor(f"r{r}", f"n{j}", f"n{i}", 1.0 / g()))
            r += 1
    for i in rng.choice(np.arange(10, n), size=n // 2, replace=False):
        c.add(Resistor(f"r{r}", f"n{i}", "0", 1.0 / g()))
        r += 1
    for k, i in enumerate(rng.choice(np.arange(10, n), size=20, replace=False)):
        c.add(Diode(f"du{k}", f"n{i}", "0", "dm"))
        c.add(Diode(f"dd{k}", "0", f"n{i}", "dm"))
    nodes = np.arange(10, n)
    for k in range(100):
        p, a, b = rng.choice(nodes, size=3, replace=False)
        c.add(VCCS(f"g{k}", f"n{p}", "0", f"n{a}", f"n{b}", float(rng.uniform(-1e-4, 1e-4))))
    for k in range(25):
        p, a, b, q = rng.choice(nodes, size=4, replace=False)
        c.add(VCVS(f"e{k}", f"ne{k}", "0", f"n{a}", "0", float(rng.uniform(0.2, 0.8))))
        c.add(Resistor(f"re{k}", f"ne{k}", f"n{p}", 1.0 / g()))
        c.add(Resistor(f"rs{k}", f"n{b}", f"ns{k}", 1.0 / g()))
        c.add(VoltageSource(f"vs{k}", f"ns{k}", "0", 0.0))
        c.add(CCCS(f"f{k}", "0", f"n{q}", f"vs{k}", float(rng.uniform(-0.5, 0.5))))
        c.add(CCVS(f"h{k}", f"nh{k}", "0", f"vs{k}", float(rng.uniform(-300.0, 300.0))))
        c.add(Resistor(f"rh{k}", f"nh{k}", f"n{a}", 1.0 / g()))
    return LearningTask(c, "r*", {f"n{n - 1}": 0.1, f"n{n - 2}": -0.1})


def bench(name: str, task: LearningTask, repeats: int) -> dict[str, object]:
    """Timings [s] and accuracy of EP and AEP on one task."""
    t0 = time.perf_counter()
    free = task.solve()
    free_s = time.perf_counter() - t0
    exact = make_estimator("exact").compute_gradient(task, free=free).vector
    row: dict[str, object] = {
        "circuit": name,
        "unknowns": task.system.n,
        "trainable": len(task.trainable),
        "free_s": free_s,
    }
    for method in ("ep", "aep"):
        estimator = make_estimator(method)
        t0 = time.perf_counter()
        grad = estimator.compute_gradient(task, free=free)
        row[f"{method}_cold_s"] = time.perf_counter() - t0
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            grad = estimator.compute_gradient(task, free=free)
            times.append(time.perf_counter() - t0)
        row[f"{method}_warm_s"] = statistics.median(times)
        row[f"{method}_rel_error"] = float(
            np.linalg.norm(grad.vector - exact) / np.linalg.norm(exact)
        )
    row["ratio_warm"] = row["aep_warm_s"] / row["ep_warm_s"]  # type: ignore[operator]
    row["ratio_cold"] = row["aep_cold_s"] / row["ep_cold_s"]  # type: ignore[operator]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=5, help="warm repeats per method (median)")
    args = parser.parse_args()
    rows = [
        bench("drn_xs", drn_xs(), args.repeats),
        bench("nonrecip_1k", nonreciprocal_1k(), args.repeats),
    ]
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with RESULTS.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*rows[0], "date"])
        writer.writeheader()
        for row in rows:
            writer.writerow({**row, "date": meta["date"]})
    goal = all(float(r["ratio_warm"]) <= 1.3 for r in rows)  # type: ignore[arg-type]
    if args.json:
        print(
            json.dumps({"name": "learning_step", "rows": rows, "goal_aep_le_1.3x_ep": goal, **meta})
        )
        return
    print(f"learning_step ({meta['date']}, {meta['machine']}, Python {meta['python']})")
    print(
        f"{'circuit':<12} {'unknowns':>8} {'trainable':>9} {'free':>7} "
        f"{'EP cold':>8} {'AEP cold':>8} "
        f"{'EP warm':>8} {'AEP warm':>8} {'AEP/EP':>6} {'EP err':>8} {'AEP err':>8}"
    )
    for r in rows:
        print(
            f"{r['circuit']:<12} {r['unknowns']:>8} {r['trainable']:>9} {r['free_s']:>7.3f} "
            f"{r['ep_cold_s']:>8.3f} "
            f"{r['aep_cold_s']:>8.3f} {r['ep_warm_s']:>8.4f} {r['aep_warm_s']:>8.4f} "
            f"{r['ratio_warm']:>6.2f} "
            f"{r['ep_rel_error']:>8.1e} {r['aep_rel_error']:>8.1e}"
        )
    print(f"goal AEP <= 1.3 x EP (warm): {'met' if goal else 'NOT met'}; times in seconds")


if __name__ == "__main__":
    main()
