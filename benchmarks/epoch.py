"""One training epoch of Kendall/DRN networks on Fashion-MNIST: native batched engine vs ngspice.

Cases
-----
drn_xs_ep
    DRN-XS (784 differential inputs → 100 diode-clamped hidden nodes → 10 outputs, 157,800
    conductances), centred EP, all 60,000 Fashion-MNIST training images, mini-batches of 100
    (the batch size of the Fashion-MNIST presets), projected SGD step after each batch.
drn_xs_aep_amp
    The same network with a bidirectional amplifier after every hidden node (forward voltage gain
    2, backward current gain 0.5: non-reciprocal), trained with centred AEP.
drn_1h_ep
    DRN-1H (1568 inputs → 1024 hidden → 10 outputs, 1.6 M conductances), centred EP.

Operating regime: the diode bias rails are (low, high) = (0.6, −0.6) V. A random network's hidden
nodes sit near 0 V (each is a conductance-weighted mean of the ± inputs), where the default
(0, 0) rails leave every diode off and the network linear; with these rails each hidden diode is
about 0.6 V forward there and carries a current comparable to the node's resistive currents, so
every Newton solve is genuinely nonlinear. ``hidden_conducting_fraction`` is the fraction of
diodes forward-biased above 0.4 V over the epoch's free states.

Native: each case runs in a child process (peak RSS measured there, dataset and build
included); the epoch time covers the training steps only (gradient + update for every batch),
not the build, compilation or evaluation. ngspice: the same phases per sample (``alter`` of the
inputs and the nudges/mirror offsets, then ``op``) in a loaded shared-mode session, timed on
``--ngspice-samples`` samples and extrapolated to the epoch; the native answer of the first timed
sample's phases is compared.

Goals (issue 9): ``drn_xs_ep`` ≤ 60 s (moonshot 15 s) and ≥ 10,000× ngspice; AEP ≤ 1.3× EP;
peak RSS ≤ 2 GiB (DRN-XS) and ≤ 4 GiB (DRN-1H). Run ``python benchmarks/epoch.py [--json]``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import time
from typing import Any

import numpy as np
from _runner import main  # the script's folder is on sys.path when run as a script

SEED = 0
BATCH_SIZE = 100
BIAS = (0.6, -0.6)
AMP = (2.0, 0.5)
CASES = {
    "drn_xs_ep": {"hidden": 100, "method": "ep", "amp": None},
    "drn_xs_aep_amp": {"hidden": 100, "method": "aep", "amp": AMP},
    "drn_1h_ep": {"hidden": 1024, "method": "ep", "amp": None},
}


def _network(hidden: int, amp: tuple[float, float] | None) -> Any:
    from circuitlearn.circuit import kendall_network

    return kendall_network(
        784,
        [hidden],
        10,
        seed=SEED,
        bias_voltages=BIAS,
        amplifier_gain=None if amp is None else amp[0],
        feedback_gain=None if amp is None else amp[1],
    )


def _data(n_train: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Pixels in [0, 1] (samples × 784) and one-hot targets of the Fashion-MNIST training set.

    The differential source voltages (x, −x) are made per batch, as the trainer does, so memory
    holds the images once.
    """
    from circuitlearn.data import load_fashion_mnist, one_hot_targets

    data = load_fashion_mnist()
    x, y = data.x_train[:n_train], data.y_train[:n_train]
    return x, one_hot_targets(y, 10, low=0.0, high=0.3)


def _inputs(sources: list[str], x: np.ndarray) -> dict[str, np.ndarray]:
    """{source: voltages} of a batch of images (the (x, −x) pairs)."""
    from circuitlearn.data import differential_pairs

    v = differential_pairs(x)
    return {s: v[:, j] for j, s in enumerate(sources)}


def _setup(case: str, n_train: int | None) -> tuple[Any, Any, Any, np.ndarray, np.ndarray]:
    from circuitlearn.learn import LearningTask, make_estimator
    from circuitlearn.learn.batched import BatchEngine

    spec = CASES[case]
    net = _network(spec["hidden"], spec["amp"])
    x, y = _data(n_train)
    first = {s: float(v[0]) for s, v in _inputs(list(net.input_sources), x[:1]).items()}
    task = LearningTask(
        net.circuit, list(net.trainable), list(net.output_nodes), targets=y[0], inputs=first
    )
    engine = BatchEngine(task)
    estimator = make_estimator(spec["method"], beta=1e-3 * float(np.mean(task.conductances)))
    return net, engine, estimator, x, y


def _native_epoch(case: str, n_train: int | None, ngspice_samples: int) -> dict[str, Any]:
    """Child process: build, then one training epoch; times, Newton iterations, peak RSS."""
    from circuitlearn.learn.optim import Optimizer

    started = time.perf_counter()
    net, engine, estimator, x, y = _setup(case, n_train)
    setup_s = time.perf_counter() - started
    sources = list(net.input_sources)
    g = engine.conductances
    optimizer = Optimizer("sgd", lr_fraction=0.05)  # the trainer's default descent
    iterations, conducting = [], []
    order = np.random.default_rng(SEED).permutation(len(x))
    start = time.perf_counter()
    for first in range(0, len(order), BATCH_SIZE):
        index = order[first : first + BATCH_SIZE]
        batch = engine.batch(_inputs(sources, x[index]), y[index])
        grad = engine.gradient(estimator, batch)
        g, _ = optimizer.step(g, grad.vector)
        engine.set_conductances(g)
        iterations.append(float(np.mean(grad.iterations)))
        conducting.append(grad.conducting_fraction)
    epoch_s = time.perf_counter() - start
    keep = max(ngspice_samples, 1)
    first_batch = engine.batch(_inputs(sources, x[:keep]), y[:keep])
    states, _ = engine.free_solution(first_batch)
    return {
        "epoch_s": epoch_s,
        "setup_s": setup_s,
        "samples": len(x),
        "newton_iterations": float(np.mean(iterations)),
        "hidden_conducting_fraction": float(np.mean(conducting)),
        "peak_rss_MiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "g": g,
        "free_outputs": states[:, engine.output_rows].tolist(),
        "beta": float(estimator.beta),
    }


def _ngspice_per_sample(case: str, native: dict[str, Any], samples: int) -> tuple[float, float]:
    """ngspice seconds per sample for the case's phases, and the worst output difference [V].

    Free phase: ``alter`` every input source, ``op``. Each nudged phase (EP: the builder's
    ``inudge_k`` sources; AEP: the phase circuit with its mirror, whose offsets are altered per
    sample): ``alter`` its per-sample values, ``op``.
    """
    from circuitlearn.learn import LearningTask, make_estimator
    from circuitlearn.solve.ngspice import NgspiceSession

    spec = CASES[case]
    net = _network(spec["hidden"], spec["amp"])
    x, y = _data(samples)
    g = native["g"]
    circuit = net.circuit.copy()
    for name, value in zip(net.trainable, g, strict=True):
        circuit.replace(circuit[name].with_conductance(float(value)))
    estimator = make_estimator(spec["method"], beta=native["beta"])
    worst = 0.0
    free_s = phase_s = 0.0
    with NgspiceSession(circuit) as session:
        session.op()  # parse and load once
        tasks, frees = [], []
        for k in range(samples):
            values = {
                s: float(v[0]) for s, v in _inputs(list(net.input_sources), x[k : k + 1]).items()
            }
            t0 = time.perf_counter()
            session.alter_many(values)
            free = session.op(raise_on_failure=True)
            free_s += time.perf_counter() - t0
            outputs = [free.voltages[n] for n in net.output_nodes]
            worst = max(
                worst, float(np.max(np.abs(np.subtract(outputs, native["free_outputs"][k]))))
            )
            task = LearningTask(circuit, list(net.trainable), list(net.output_nodes),
                                targets=y[k], inputs=values)  # fmt: skip
            tasks.append(task)
            frees.append(free)
    plan = estimator.phase_plan(tasks[0], frees[0])
    phase_circuit = plan.circuit
    with NgspiceSession(phase_circuit) as session:
        session.op()
        for task, free in zip(tasks, frees, strict=True):
            plan = estimator.phase_plan(task, free)
            t0 = time.perf_counter()
            session.alter_many({s: task.inputs[s] for s in net.input_sources})
            for values in plan.variants.values():
                session.alter_many(values)
                session.op(raise_on_failure=True)
            phase_s += time.perf_counter() - t0
    return (free_s + phase_s) / samples, worst


def _case(case: str, goal: str, args: argparse.Namespace) -> dict[str, Any]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        native = pool.apply(_native_epoch, (case, args.n_train, args.ngspice_samples))
    print(  # the native figures as soon as they exist (the ngspice part can take long)
        f"{case}: native epoch {native['epoch_s']:.4g} s, peak {native['peak_rss_MiB']:.0f} MiB, "
        f"Newton {native['newton_iterations']:.2f}; timing ngspice on {args.ngspice_samples} "
        "samples...",
        file=sys.stderr,
        flush=True,
    )
    per_sample: float | None = None
    worst: float | None = None
    if args.ngspice_samples:  # 0: not run (a 1.6 M-element deck takes ngspice long to load)
        per_sample, worst = _ngspice_per_sample(case, native, args.ngspice_samples)
    ngspice_epoch_s = None if per_sample is None else per_sample * native["samples"]
    return {
        "name": case,
        "samples": native["samples"],
        "batch_size": BATCH_SIZE,
        "epoch_s": native["epoch_s"],
        "ngspice_epoch_s": ngspice_epoch_s,
        "ratio": None if ngspice_epoch_s is None else ngspice_epoch_s / native["epoch_s"],
        "peak_rss_MiB": native["peak_rss_MiB"],
        "hidden_conducting_fraction": native["hidden_conducting_fraction"],
        "newton_iterations": native["newton_iterations"],
        "native_s": native["epoch_s"],
        "ngspice_s": ngspice_epoch_s,
        "max_abs_diff_V": worst,
        "goal": goal,
        "notes": (
            f"batch {BATCH_SIZE}; bias rails {BIAS} V; "
            + (
                "ngspice not run; "
                if per_sample is None
                else f"ngspice {per_sample:.3g} s/sample on {args.ngspice_samples} samples, "
                "extrapolated; "
            )
            + f"setup (data, build, compile) {native['setup_s']:.1f} s"
        ),
    }


def case_drn_xs_ep(args: argparse.Namespace) -> dict[str, Any]:
    return _case("drn_xs_ep", "≤ 60 s (15 s), ≥ 10,000×, < 2 GiB", args)


def case_drn_xs_aep_amp(args: argparse.Namespace) -> dict[str, Any]:
    return _case("drn_xs_aep_amp", "≤ 1.3× drn_xs_ep", args)


def case_drn_1h_ep(args: argparse.Namespace) -> dict[str, Any]:
    return _case("drn_1h_ep", "< 4 GiB", args)


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ngspice-samples", type=int, default=3,
        help="samples whose phases ngspice runs (extrapolated to the epoch); 0: no ngspice",
    )  # fmt: skip
    parser.add_argument(
        "--n-train", type=int, default=None,
        help="training samples (default: all 60,000; smaller for a quick look)",
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(
        main(
            "epoch",
            [case_drn_xs_ep, case_drn_xs_aep_amp, case_drn_1h_ep],
            description=__doc__,
            extra=_options,
        )
    )
