"""Power per phase and Tellegen's theorem on every example deck (native backend)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from circuitlearn.circuit import Circuit, CurrentSource, Resistor, VoltageSource
from circuitlearn.diagnostics.power import (
    dissipated_power,
    element_currents,
    phase_power,
    tellegen_check,
)
from circuitlearn.errors import CircuitError
from circuitlearn.netlist import from_spice
from circuitlearn.solve import solve_dc
from circuitlearn.solve.mna import compile_circuit

DECKS = sorted((Path(__file__).resolve().parents[2] / "netlists").glob("*.cir"))


@pytest.mark.parametrize("deck", DECKS, ids=[p.stem for p in DECKS])
def test_tellegen_holds_on_every_deck(deck: Path) -> None:
    circuit = from_spice(deck)
    op = solve_dc(circuit)
    if not op.converged:
        pytest.xfail(f"native solve of {deck.name} did not converge: {op.message}")
    result = tellegen_check(circuit, op)
    assert result.ok, (deck.name, result.relative)
    assert result.scale > 0
    system = compile_circuit(circuit)
    currents = element_currents(system, system.state_from(op))
    assert set(currents) == {e.name for e in system.circuit}
    for name, terminals in currents.items():  # every element conserves charge
        assert abs(sum(terminals.values())) <= 1e-12 * max(
            1e-12, max(abs(i) for i in terminals.values())
        ), name


def test_tellegen_detects_a_wrong_state() -> None:
    circuit = from_spice(DECKS[[p.stem for p in DECKS].index("resistor_network")])
    op = solve_dc(circuit)
    system = compile_circuit(circuit)
    x = system.state_from(op)
    node = max(system.node_index, key=lambda n: abs(x[system.node_index[n]]))
    x[system.node_index[node]] *= 1.01
    bad = replace(op, state=x)
    assert not tellegen_check(system, bad).ok


def test_sources_deliver_what_resistors_dissipate() -> None:
    c = Circuit("mixed")
    for element in (
        VoltageSource("v1", "in", "0", 2.0),
        Resistor("r1", "in", "a", 1e3),
        Resistor("r2", "a", "0", 2e3),
        CurrentSource("i1", "0", "a", 1e-3),
    ):
        c.add(element)
    op = solve_dc(c)
    result = tellegen_check(c, op)
    assert result.ok
    supplied = -(result.powers["v1"] + result.powers["i1"])
    assert supplied == pytest.approx(dissipated_power(c, op.voltages), rel=1e-12)
    # v(a) = (2/1k + 1m) / (1/1k + 1/2k) = 2 V: r1 carries nothing, r2 dissipates 2 mW
    assert op.voltage("a") == pytest.approx(2.0, rel=1e-12)
    assert phase_power(c, {"free": op}, ["r2"])["free"] == pytest.approx(2e-3, rel=1e-12)


def test_dissipated_power_is_vectorised_sum() -> None:
    rng = np.random.default_rng(0)
    c = Circuit("star")
    g = rng.uniform(1e-4, 1e-3, 5)
    for j, gj in enumerate(g):
        c.add(Resistor(f"r{j}", f"n{j}", "0", 1.0 / gj))
    v = {f"n{j}": float(x) for j, x in enumerate(rng.normal(size=5))}
    assert dissipated_power(c, v) == pytest.approx(
        float(np.sum(g * np.array(list(v.values())) ** 2)), rel=1e-12
    )
    with pytest.raises(CircuitError, match="no voltage for node 'n4'"):
        dissipated_power(c, {k: x for k, x in v.items() if k != "n4"})


def test_tellegen_uses_the_reported_source_currents() -> None:
    """A wrong sign on i(V) as reported by a solver breaks the balance (ngspice convention)."""
    circuit = from_spice(DECKS[[p.stem for p in DECKS].index("resistor_network")])
    op = solve_dc(circuit)
    assert tellegen_check(circuit, op).ok
    flipped = replace(op, currents={name: -i for name, i in op.currents.items()})
    assert not tellegen_check(circuit, flipped).ok


@pytest.mark.ngspice
@pytest.mark.parametrize("deck", DECKS, ids=[p.stem for p in DECKS])
def test_tellegen_holds_on_ngspice_operating_points(deck: Path) -> None:
    circuit = from_spice(deck)
    op = solve_dc(
        circuit, backend="ngspice", options={"reltol": 1e-9, "abstol": 1e-15, "vntol": 1e-12}
    )
    assert op.converged, op.message
    result = tellegen_check(circuit, op)
    assert result.ok, (deck.name, result.relative)
