"""Random learning circuits for the tests of circuitlearn.learn (seeded, small, well posed)."""

from __future__ import annotations

import numpy as np

from circuitlearn.circuit import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    Circuit,
    CurrentSource,
    Diode,
    Model,
    Mosfet,
    Resistor,
    VoltageSource,
)
from circuitlearn.learn import LearningTask

__all__ = ["mos_feedback_circuit", "random_circuit", "random_task", "relative_error"]


def relative_error(estimate: np.ndarray, exact: np.ndarray) -> float:
    """‖estimate − exact‖ / ‖exact‖."""
    return float(np.linalg.norm(np.asarray(estimate) - np.asarray(exact)) / np.linalg.norm(exact))


def random_circuit(
    seed: int,
    n: int = 6,
    *,
    nonreciprocal: bool = False,
    diodes: bool = False,
    mosfets: bool = False,
) -> Circuit:
    """A connected random network driven by one source, optionally with D, G/E/F/H and M elements.

    Conductances are drawn in [1e-4, 1e-3] S; controlled-source gains are small enough that the
    circuit stays far from singular. The network's resistors are ``r<k>``; those in series with
    the controlled sources ``re``, ``rs``, ``rh``.
    """
    rng = np.random.default_rng(seed)
    c = Circuit(f"random {seed}")
    c.add(VoltageSource("vin", "n0", "0", float(rng.uniform(0.5, 2.0))))
    c.add(CurrentSource("ib", "0", f"n{n - 1}", float(rng.uniform(-2e-4, 2e-4))))

    def g() -> float:
        return float(rng.uniform(1e-4, 1e-3))

    k = 0
    for i in range(1, n):
        j = int(rng.integers(0, i))
        c.add(Resistor(f"r{k}", f"n{j}", f"n{i}", 1.0 / g()))
        k += 1
    for _ in range(n // 2):
        i, j = rng.choice(n, size=2, replace=False)
        c.add(Resistor(f"r{k}", f"n{i}", f"n{j}", 1.0 / g()))
        k += 1
    for i in range(1, n):
        c.add(Resistor(f"r{k}", f"n{i}", "0", 1.0 / g()))
        k += 1
    if diodes:
        c.add_model(Model("dm", "d", {"is": 1e-12, "n": 1.2}))
        for m in range(2):
            i = int(rng.integers(1, n))
            c.add(Diode(f"d{m}", f"n{i}", "0", "dm"))
            c.add(Diode(f"dr{m}", "0", f"n{i}", "dm"))
    if nonreciprocal:
        a, b, p = (f"n{i}" for i in rng.choice(np.arange(1, n), size=3, replace=False))
        c.add(VCCS("g1", p, "0", a, b, float(rng.uniform(-3e-4, 3e-4))))
        c.add(VCVS("e1", "ne", "0", a, "0", float(rng.uniform(0.3, 0.9))))
        c.add(Resistor("re", "ne", p, 1.0 / g()))
        c.add(Resistor("rs", b, "ns", 1.0 / g()))
        c.add(VoltageSource("vs", "ns", "0", 0.0))
        c.add(CCCS("f1", "0", a, "vs", float(rng.uniform(-0.5, 0.5))))
        c.add(CCVS("h1", "nh", "0", "vs", float(rng.uniform(-500.0, 500.0))))
        c.add(Resistor("rh", "nh", a, 1.0 / g()))
    if mosfets:  # an NMOS whose gate and source are network nodes, loaded back into the network
        c.add_model(Model("nch", "nmos", {"vto": 0.4, "kp": 5e-5, "lambda": 0.05}))
        c.add(VoltageSource("vdd", "vdd", "0", 3.0))
        gate, source, back = (f"n{i}" for i in rng.choice(np.arange(1, n), size=3, replace=False))
        c.add(Mosfet("m1", "nd", gate, source, "0", "nch", w=2e-6, l=1e-6))
        c.add(Resistor("rm", "vdd", "nd", 1.0 / g()))
        c.add(Resistor("rmo", "nd", back, 1.0 / g()))
    return c


def random_task(seed: int, n: int = 6, **kwargs: bool) -> LearningTask:
    """A :class:`LearningTask` on :func:`random_circuit` with two outputs and random targets."""
    rng = np.random.default_rng(seed + 1)
    circuit = random_circuit(seed, n, **kwargs)
    outs = rng.choice(np.arange(1, n), size=2, replace=False)
    targets = {f"n{i}": float(rng.uniform(-0.5, 1.0)) for i in outs}
    return LearningTask(circuit, "r*", targets)


def mos_feedback_circuit() -> Circuit:
    """NMOS stage with source degeneration and gate feedback driving a PMOS stage.

    The gates are unknowns, so the MOSFETs' transconductances make K non-symmetric (the AEP
    mirror and the twin need their small-signal stamps); its AEP phase also has a far second
    operating point (gate near 13 V) that a cold solve finds.
    """
    c = Circuit("mos feedback")
    c.add_model(Model("nch", "nmos", {"vto": 0.7, "kp": 110e-6, "lambda": 0.02}))
    c.add_model(Model("pch", "pmos", {"vto": -0.7, "kp": 50e-6, "lambda": 0.03}))
    c.add(VoltageSource("vdd", "vdd", "0", 5.0))
    c.add(VoltageSource("vin", "in", "0", 1.6))
    c.add(Resistor("rin", "in", "g", 10e3))
    c.add(Resistor("rgs", "g", "0", 100e3))
    c.add(Mosfet("m1", "d", "g", "s", "0", "nch", w=10e-6, l=1e-6))
    c.add(Resistor("rs", "s", "0", 1e3))
    c.add(Resistor("rd", "vdd", "d", 10e3))
    c.add(Resistor("rf", "d", "g", 200e3))
    c.add(Mosfet("m2", "o", "d", "vdd", "vdd", "pch", w=20e-6, l=1e-6))
    c.add(Resistor("ro", "o", "0", 20e3))
    return c
