"""Learning rules on circuits with B-source nonlinearities: train gradients against finite
differences, through the phase circuits (native and ngspice) and the batched engine."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import NETLIST_DIR

from circuitlearn.circuit.behavioral import BehavioralSource
from circuitlearn.learn import LearningTask
from circuitlearn.learn.api import batch_gradient, compute_gradient
from circuitlearn.learn.phases import aep_circuit, twin_circuit
from circuitlearn.netlist import from_spice
from circuitlearn.solve import solve_dc

DECK = """EBANA-like cell: B activation, B amplifier, feedback through a VCCS
vin in 0 0.6
vb bias 0 -0.3
r1 in h 2k
r2 bias h 5k
bd1 h 0 I=1e-9*(exp(v(h)/0.05)-1) + 1e-5*tanh(v(h)/0.1)
bamp a 0 V=3*v(h) + 0.1*v(h)^2
r3 a o 3k
r4 o 0 4k
gx o 0 h 0 1e-5
.end
"""
TARGETS = {"o": 0.2}


@pytest.fixture(scope="module")
def reference() -> dict[str, float]:
    """Central finite differences of the cost (the ``fd`` method), the check of every rule."""
    return compute_gradient(from_spice(DECK), "r*", TARGETS, method="fd").values


def _relative(got: dict[str, float], want: dict[str, float]) -> float:
    return max(abs(got[k] - want[k]) / abs(want[k]) for k in want)


def test_exact_gradient_matches_finite_differences(reference: dict[str, float]) -> None:
    """The adjoint uses the B sources' exact Jacobian: equal to differences to 1e-7 relative."""
    exact = compute_gradient(from_spice(DECK), "r*", TARGETS, method="exact").values
    assert _relative(exact, reference) < 1e-7


@pytest.mark.parametrize("method", ["aep", "dyadic"])
def test_phase_rules_match_finite_differences(method: str, reference: dict[str, float]) -> None:
    """AEP's mirror and the Dyadic twin built as circuits with B elements (the V= amplifier
    mirrored/transposed through its expression's derivatives) reach the gradient."""
    got = compute_gradient(from_spice(DECK), "r*", TARGETS, method=method, beta=1e-9).values
    assert _relative(got, reference) < 1e-6


def test_plain_ep_misses_the_amplified_path(reference: dict[str, float]) -> None:
    """EP alone is wrong here (the B amplifier is not reciprocal): r1/r2 see no nudge at all."""
    got = compute_gradient(from_spice(DECK), "r*", TARGETS, method="ep", beta=1e-9).values
    assert abs(got["r1"]) < 1e-6 * abs(reference["r1"])
    assert got["r3"] == pytest.approx(reference["r3"], rel=1e-6)


@pytest.mark.parametrize("method", ["exact", "aep", "dyadic"])
def test_batched_engine_matches_finite_differences(
    method: str, reference: dict[str, float]
) -> None:
    got = batch_gradient(from_spice(DECK), "r*", TARGETS, method=method, beta=1e-9).values
    assert _relative(got, reference) < 1e-6


@pytest.mark.ngspice
@pytest.mark.parametrize("method", ["aep", "dyadic"])
def test_phases_on_ngspice(method: str, reference: dict[str, float]) -> None:
    got = compute_gradient(
        from_spice(DECK), "r*", TARGETS, method=method, beta=1e-7, backend="ngspice"
    ).values
    assert _relative(got, reference) < 1e-6


def test_twin_keeps_v_sources_as_zero_branches() -> None:
    """In the twin the V= amplifier is a V=0 branch (its derivatives are realised transposed),
    and the I= activation is replaced by its linearisation; the AEP phase keeps both B sources."""
    task = LearningTask(from_spice(DECK), "r*", TARGETS)
    free = task.solve()
    twin = twin_circuit(task, 1e-6, free)
    amp = twin["bamp"]
    assert isinstance(amp, BehavioralSource) and amp.expression == "0"
    assert "bd1" not in [e.name for e in twin]
    aep, _, _ = aep_circuit(task, 0.0, free)
    assert aep["bd1"] == task.circuit["bd1"]
    op = solve_dc(aep)  # without nudge, the mirror keeps the free state
    for node in task.circuit.nodes:
        assert op.voltages[node] == pytest.approx(free.voltages[node], abs=1e-9)


def test_ebana_deck_gradient(reference: dict[str, float]) -> None:
    """netlists/bsource_ebana.cir (two B-activated hidden units, amplifiers, i() feedback):
    AEP and Dyadic equal the exact gradient."""
    circuit = from_spice(Path(NETLIST_DIR) / "bsource_ebana.cir")
    targets = {"out": 0.3}
    exact = compute_gradient(circuit, "r*", targets, method="exact").values
    fd = compute_gradient(circuit, "r*", targets, method="fd").values
    assert _relative(exact, fd) < 1e-6
    for method in ("aep", "dyadic"):
        got = compute_gradient(circuit, "r*", targets, method=method, beta=1e-9).values
        assert _relative(got, exact) < 1e-6, method
    assert np.isfinite(list(exact.values())).all()


@pytest.mark.parametrize("method", ["exact", "aep", "dyadic"])
def test_batch_of_samples_equals_the_mean_of_single_gradients(method: str) -> None:
    """Eight input samples through netlists/bsource_ebana.cir solved together (the B sources
    evaluated for every sample at once) give the mean of the single-sample exact gradients."""
    from circuitlearn.learn.batch_csv import BatchTable

    circuit = from_spice(Path(NETLIST_DIR) / "bsource_ebana.cir")
    rng = np.random.default_rng(1)
    v1, v2 = rng.uniform(0.5, 1.5, 8), rng.uniform(-1.0, 0.0, 8)
    table = BatchTable({"vin1": v1, "vin2": v2}, np.full((8, 1), 0.3))
    got = batch_gradient(circuit, "r*", {"out": 0.3}, table, method=method, beta=1e-9).values
    mean: dict[str, float] = {}
    for a, b in zip(v1, v2, strict=True):
        single = circuit.copy()
        single.set_value("vin1", float(a))
        single.set_value("vin2", float(b))
        for key, value in compute_gradient(single, "r*", {"out": 0.3}).values.items():
            mean[key] = mean.get(key, 0.0) + value / len(v1)
    assert _relative(got, mean) < 1e-8


def test_ep_is_exact_with_two_terminal_b_activations() -> None:
    """B activations whose current depends only on their own terminal voltages (EBANA's
    diodes) have symmetric Jacobians: plain EP needs no mirror and equals the exact gradient."""
    deck = """EBANA activations only
vin1 in1 0 1.1
vin2 in2 0 -0.4
vbp bp 0 0.25
vbn bn 0 -0.25
r1 in1 h 2k
r2 in2 h 3k
r3 h o 4k
r4 o 0 6k
bdp h bp I=1e-12*(exp(v(h,bp)/0.025)-1)
bdn bn h I=1e-12*(exp(v(bn,h)/0.025)-1)
bo o 0 I=1e-5*tanh(v(o)/0.2)
.end
"""
    exact = compute_gradient(from_spice(deck), "r*", {"o": 0.1}, method="exact").values
    ep = compute_gradient(from_spice(deck), "r*", {"o": 0.1}, method="ep", beta=1e-9).values
    assert _relative(ep, exact) < 1e-8  # measured 7e-10 (centered EP, beta = 1e-9)
