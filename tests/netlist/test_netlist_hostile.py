"""Issue 11, item 6: hostile input. Names and titles that would add cards to a written deck are
refused when built or assigned; analyses and ``.control`` blocks never reach ngspice; bad values
end in the project's exceptions; a subcircuit bomb is refused before it expands."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from circuitlearn import from_spice
from circuitlearn.circuit import (
    Circuit,
    Diode,
    Model,
    Resistor,
    Subcircuit,
    SubcircuitInstance,
    VoltageSource,
)
from circuitlearn.circuit.circuit import MAX_FLAT_ELEMENTS, MAX_INSTANCE_DEPTH
from circuitlearn.errors import CircuitError, CircuitLearnError, NetlistError
from circuitlearn.solve import solve_dc

SHELL = "\n.control\nshell touch {marker}\n.endc\n"
BAD_NAMES = ["a b", "a\nb", "a=b", "a\r.control", "a;b", "a'b", "a{b", "a//b"]


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_names_are_refused_everywhere_in_the_python_api(bad: str) -> None:
    builders = [
        lambda: Resistor(f"r{bad}", "a", "0", 1.0),
        lambda: Resistor("r1", bad, "0", 1.0),
        lambda: Diode("d1", "a", "0", bad),
        lambda: Model(bad, "d"),
        lambda: Model("dm", "d", {bad: 1.0}),
        lambda: Subcircuit(bad, ("p",)),
        lambda: Subcircuit("s", ("p",), params={bad: 1.0}),
        lambda: SubcircuitInstance("x1", ("a",), "s", {bad: 1.0}),
        lambda: SubcircuitInstance("x1", ("a",), bad),
        lambda: Circuit("t").set_param(bad, 1.0),
    ]
    for build in builders:
        with pytest.raises(CircuitError):
            build()


@pytest.mark.parametrize("bad", [".control", "*x", "+x"])
def test_names_that_start_like_a_card_are_refused(bad: str) -> None:
    builders = [lambda: Model(bad, "d"), lambda: Subcircuit(bad, ("p",))]
    if bad[0] != "+":  # a node never starts a line: ngspice reads LTspice's '+V' nodes
        builders.append(lambda: Resistor("r1", bad, "0", 1.0))
    for build in builders:
        with pytest.raises(CircuitError, match=r"not a single SPICE word|invalid node name"):
            build()


def _small() -> Circuit:
    c = Circuit("t")
    c.add(VoltageSource("v1", "a", "0", 1.0))
    c.add(Resistor("r1", "a", "0", 1e3))
    return c


def test_titles_and_later_assignments_cannot_add_cards(tmp_path: Path) -> None:
    hostile = SHELL.format(marker=tmp_path / "pwned")
    with pytest.raises(CircuitError, match="a title is one line"):
        Circuit("t" + hostile)
    circuit = _small()
    with pytest.raises(CircuitError, match="a title is one line"):
        circuit.title = "t" + hostile
    circuit.params["k" + hostile] = 1.0  # a dict edited behind our back
    with pytest.raises(CircuitError, match="would start a new card"):
        circuit.to_spice()
    sub = Subcircuit("s", ("p",))
    sub.params["k" + hostile] = 1.0
    circuit = _small()
    circuit.params.clear()
    circuit.add_subcircuit(sub)
    with pytest.raises(CircuitError, match="would start a new card"):
        circuit.to_spice()
    with pytest.raises(CircuitError, match="would start a new card"):
        _small().to_spice(analysis=".op" + hostile)


def test_analyses_and_control_blocks_are_recorded_not_written(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"t\nV1 a 0 1\nR1 a 0 1k\n.tran 1n 1u\n.dc V1 0 1 0.1{SHELL.format(marker=marker)}"
    circuit = from_spice(text)
    assert [card for _, card in circuit.ignored_cards] == [
        ".tran 1n 1u",
        ".dc V1 0 1 0.1",
        ".control",
    ]
    written = circuit.to_spice()
    assert ".control" not in written and "shell" not in written and ".tran" not in written


@pytest.mark.ngspice
def test_ngspice_backend_never_runs_a_control_block(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"t\nV1 a 0 1\nR1 a 0 1k{SHELL.format(marker=marker)}"
    assert solve_dc(from_spice(text), backend="ngspice").voltages["a"] == 1.0
    assert not marker.exists()


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: solve_dc("x.cir"), r"expected a Circuit; got str \(read a netlist file"),
        (lambda: Model("dm", "d", {"bv": math.inf}), r"parameter bv must be finite"),
        (lambda: Resistor("r1", "a", "0", 10**400), r"too large for a float"),
        (lambda: Model("nm", "nmos", {"phi": -1.0}), r"parameter phi must be positive"),
        (lambda: from_spice("no/such/deck.cir"), r"cannot read the netlist file"),
        (lambda: Circuit("t").set_param("a", 10**400), r"\.param a: int too large"),
    ],
)
def test_bad_values_raise_project_errors(make, match: str) -> None:
    with pytest.raises(CircuitLearnError, match=match):
        make()


def test_phi_below_zero_is_a_located_error_not_a_math_domain_error() -> None:
    text = "t\nV1 d 0 1\nM1 d d 0 0 nm\n.model nm nmos (vto=0.5 phi={-1})\n"
    with pytest.raises(NetlistError, match=r"phi must be positive"):
        from_spice(text, check=True)


def test_thousand_term_expression_works() -> None:
    value = "+".join(["1"] * 1000)
    circuit = from_spice(f"t\nV1 a 0 1\nR1 a 0 {{{value}}}\n")
    assert solve_dc(circuit).currents["v1"] == pytest.approx(-1e-3)


def _bomb(levels: int, fan_out: int) -> str:
    lines = ["bomb", "V1 a 0 1", ".subckt s0 p", "R1 p 0 1k", ".ends"]
    for k in range(1, levels + 1):
        lines += [f".subckt s{k} p", *(f"X{j} p s{k - 1}" for j in range(fan_out)), ".ends"]
    return "\n".join([*lines, f"X1 a s{levels}"]) + "\n"


def test_subcircuit_bomb_is_refused_before_it_expands() -> None:
    text = _bomb(levels=24, fan_out=10)  # 70-odd lines, 10**24 resistors
    start = time.perf_counter()
    with pytest.raises(NetlistError, match=rf"more than {MAX_FLAT_ELEMENTS:,} elements") as info:
        from_spice(text, check=True)
    assert time.perf_counter() - start < 5.0
    assert "x1 (s24) -> x0 (s23) -> x0 (s22)" in str(info.value)
    with pytest.raises(CircuitError, match="more than 1,000,000 elements"):
        solve_dc(from_spice(text))
    assert len(from_spice(_bomb(levels=5, fan_out=10)).flatten()) == 100_001


def test_instance_chains_deeper_than_the_limit_are_refused() -> None:
    with pytest.raises(NetlistError, match=rf"nested more than {MAX_INSTANCE_DEPTH} deep: x1 "):
        from_spice(_bomb(levels=MAX_INSTANCE_DEPTH + 20, fan_out=1), check=True)
    flat = from_spice(_bomb(levels=MAX_INSTANCE_DEPTH - 1, fan_out=1)).flatten()
    assert len(flat) == 2
