"""Round trips: ``from_spice(c.to_spice()) == c`` for the catalogue and for random circuits."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from netlist_strategies import circuits

from circuitlearn.circuit import Circuit
from circuitlearn.netlist import from_spice


def test_catalogue_round_trips(netlist_paths: list[Path]) -> None:
    for path in netlist_paths:
        circuit = from_spice(path)
        text = circuit.to_spice()
        again = from_spice(text)
        assert again == circuit, path.name
        assert again.to_spice() == text, path.name  # writing is a fixed point
        assert again.flatten() == circuit.flatten(), path.name


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits())
def test_random_circuits_round_trip_exactly(circuit: Circuit) -> None:
    circuit.validate()
    text = circuit.to_spice()
    again = from_spice(text)
    assert again == circuit
    assert again.to_spice() == text
    assert list(again.origin) == [e.name for e in circuit]
    lines = text.splitlines()
    first_top = max((i for i, line in enumerate(lines) if line.startswith(".ends")), default=0)
    assert again.origin == {e.name: lines.index(e.spice_card(), first_top) + 1 for e in circuit}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(circuits())
def test_random_circuits_flatten_and_read_back(circuit: Circuit) -> None:
    flat = circuit.flatten()
    assert flat.is_flat()
    assert from_spice(flat.to_spice()) == flat
