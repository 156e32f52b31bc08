"""PySpice 1.5 circuits in and out through the netlist text (Circuit.from_pyspice/to_pyspice)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from circuitlearn.circuit import Circuit
from circuitlearn.errors import CircuitError, NetlistError
from circuitlearn.netlist import from_spice
from circuitlearn.solve import solve_dc
from circuitlearn.solve.ngspice import ngspice_available, run_ngspice_batch

PySpiceNetlist = pytest.importorskip("PySpice.Spice.Netlist")

PACKAGE = Path(__file__).resolve().parents[2] / "circuitlearn"
DECKS = sorted((PACKAGE.parent / "netlists").glob("*.cir"))


@pytest.mark.parametrize("deck", DECKS, ids=[p.stem for p in DECKS])
def test_every_deck_round_trips_through_pyspice(deck: Path) -> None:
    circuit = from_spice(deck)
    pyspice = circuit.to_pyspice()
    assert isinstance(pyspice, PySpiceNetlist.Circuit)
    assert str(pyspice).startswith(f".title {circuit.title}\n")
    back = Circuit.from_pyspice(pyspice)
    assert back == circuit
    assert back.title == circuit.title


@pytest.mark.ngspice
@pytest.mark.skipif(not ngspice_available("subprocess"), reason="no ngspice binary")
@pytest.mark.parametrize("deck", DECKS, ids=[p.stem for p in DECKS])
def test_pyspice_text_runs_in_ngspice(deck: Path) -> None:
    """What PySpice would hand to ngspice (``str()`` + an analysis) gives the native answer."""
    circuit = from_spice(deck)
    text = str(circuit.to_pyspice()) + ".options reltol=1e-9 vntol=1e-12 abstol=1e-15\n.op\n.end\n"
    run = run_ngspice_batch(text)
    assert run.returncode == 0, run.tail()
    values = run.plots[0].as_dict()
    for node, value in solve_dc(circuit).voltages.items():
        assert values[f"v({node})"] == pytest.approx(value, rel=1e-9, abs=1e-12), node


def _ebana_style() -> object:
    """A small network built as PySpice users and EBANA do: units, models, a subcircuit."""
    from PySpice.Unit import u_kOhm, u_mA, u_V

    class Pair(PySpiceNetlist.SubCircuit):
        def __init__(self) -> None:
            super().__init__("pair", "a", "k")
            self.D(1, "a", "k", model="dm")
            self.D(2, "k", "a", model="dm")

    p = PySpiceNetlist.Circuit("EBANA-style layer")
    p.parameter("rbase", "1k")
    p.V("in1", "x1", p.gnd, 1.2 @ u_V)
    p.V("in2", "x2", p.gnd, -0.9 @ u_V)
    p.R(1, "x1", "h", 2 @ u_kOhm)
    p.R(2, "x2", "h", "{rbase*3}")
    p.subcircuit(Pair())
    p.X("d", "pair", "h", p.gnd)
    p.model("dm", "D", IS=1e-14, N=1.2)
    p.I("nudge", p.gnd, "h", 0.1 @ u_mA)
    p.R(3, 1, 2, 1000)
    p.R(4, 2, p.gnd, 1000)
    p.V(5, 1, p.gnd, 1)
    return p


def test_pyspice_built_circuit_reads_with_its_units_and_subcircuits() -> None:
    circuit = Circuit.from_pyspice(_ebana_style(), check=True)
    assert circuit.title == "EBANA-style layer"
    assert circuit["r1"].resistance == 2000.0
    assert circuit["vin2"].dc == -0.9
    assert circuit["inudge"].dc == pytest.approx(1e-4)
    assert set(circuit.subcircuits) == {"pair"}
    flat = circuit.flatten()
    assert flat["r2"].resistance == 3000.0
    assert {"d.xd.d1", "d.xd.d2"} <= {e.name for e in flat}
    op = solve_dc(circuit)
    assert op.converged and op.voltages["2"] == pytest.approx(0.5, rel=1e-12)
    assert Circuit.from_pyspice(circuit.to_pyspice()) == circuit


def test_pyspice_include_is_read(tmp_path: Path) -> None:
    library = tmp_path / "models.lib"
    library.write_text("* diode models\n.model dm D (is=1e-14 n=1.2)\n")
    p = PySpiceNetlist.Circuit("include")
    p.include(str(library))
    p.V(1, "a", p.gnd, 1)
    p.R(1, "a", "b", 1000)
    p.D(1, "b", p.gnd, model="dm")
    circuit = Circuit.from_pyspice(p)
    assert circuit.models["dm"].params == {"is": 1e-14, "n": 1.2}
    assert solve_dc(circuit).converged


def test_errors_name_the_pyspice_line() -> None:
    p = PySpiceNetlist.Circuit("bad")
    p.V(1, "a", p.gnd, 1)
    p.R(1, "a", p.gnd, "{1+}")  # (a negative R is no error: ngspice 39 runs it)
    with pytest.raises(NetlistError, match=r"^<PySpice circuit 'bad'>:3: resistor r1: bad expr"):
        Circuit.from_pyspice(p)


def test_wrong_types_are_named() -> None:
    with pytest.raises(CircuitError, match=r"from_pyspice: expected a PySpice Circuit .*got str"):
        Circuit.from_pyspice("V1 a 0 1")
    from circuitlearn.solve.pyspice_adapter import to_pyspice

    with pytest.raises(CircuitError, match="to_pyspice: expected a circuitlearn Circuit; got"):
        to_pyspice(PySpiceNetlist.Circuit("x"))


def test_pyspice_is_imported_only_by_the_adapters() -> None:
    allowed = {PACKAGE / "solve" / "ngspice.py", PACKAGE / "solve" / "pyspice_adapter.py"}
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules = [
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        ] + [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
        if any(m.split(".")[0] == "PySpice" for m in modules):
            assert path in allowed, f"{path} imports PySpice"
