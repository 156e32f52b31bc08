"""The reader and writer against the real ``ngspice -b`` (version 39): decks run, written netlists
give the same operating point, flattening names match ngspice's, digit model names agree."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from netlist_strategies import circuits

from circuitlearn.circuit import (
    Circuit,
    Expression,
    Resistor,
    Subcircuit,
    SubcircuitInstance,
    VoltageSource,
)
from circuitlearn.netlist import from_spice, reads_as_number

pytestmark = pytest.mark.ngspice

CONTROL = ".control\nop\nprint all\nquit\n.endc\n.end\n"
PARSE_ERRORS = re.compile(
    r"error on line|could not find|unknown|is not a valid|ignored|mismatch|undefined|cannot|syntax",
    re.IGNORECASE,
)


def run_ngspice(text: str, tmp_path: Path, name: str = "deck.cir") -> tuple[int, str]:
    """Run ``ngspice -b`` on a deck; returns (exit code, stdout+stderr)."""
    binary = shutil.which("ngspice")
    if binary is None:
        pytest.skip(
            "the ngspice binary is needed for these checks (only the shared library was found)"
        )
    models = Path(__file__).resolve().parents[2] / "netlists" / "models"
    if models.is_dir():  # decks include model files relative to themselves
        shutil.copytree(models, tmp_path / "models", dirs_exist_ok=True)
    deck = tmp_path / name
    deck.write_text(text)
    done = subprocess.run(
        [binary, "-b", str(deck)], capture_output=True, text=True, timeout=60, check=False
    )
    return done.returncode, done.stdout + done.stderr


TIGHT = ".options reltol=1e-9 vntol=1e-12 abstol=1e-15"
"""Tight tolerances, so that two equivalent decks agree far below the 1e-6 we compare to."""


def operating_point(text: str, tmp_path: Path) -> dict[str, float]:
    """Node voltages and branch currents ngspice prints for a deck (its .op/.end replaced)."""
    lines = text.splitlines()
    body = [lines[0], TIGHT] + [
        line for line in lines[1:] if line.strip().lower() not in {".op", ".end"}
    ]
    code, output = run_ngspice("\n".join(body) + "\n" + CONTROL, tmp_path)
    assert code == 0, output
    assert not PARSE_ERRORS.search(output), output
    values = dict(re.findall(r"^(\S+) = (\S+)$", output, re.MULTILINE))
    assert values, output
    # ngspice prints a numeric node's voltage as v(1) (netlists/numeric_nodes.cir), others bare
    return {re.sub(r"^v\((.+)\)$", r"\1", k): float(v) for k, v in values.items()}


def test_every_deck_runs_in_ngspice(netlist_paths: list[Path], tmp_path: Path) -> None:
    for path in netlist_paths:
        code, output = run_ngspice(path.read_text(), tmp_path, path.name)
        assert code == 0, f"{path.name}: {output}"
        assert not PARSE_ERRORS.search(output), f"{path.name}: {output}"


def _same(a: dict[str, float], b: dict[str, float]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-12), key


def test_written_decks_give_the_same_operating_point(
    netlist_paths: list[Path], tmp_path: Path
) -> None:
    for path in netlist_paths:
        original = operating_point(path.read_text(), tmp_path)
        circuit = from_spice(path)
        _same(operating_point(circuit.to_spice(), tmp_path), original)


def test_flattening_names_and_values_match_ngspice(
    netlist_paths: list[Path], tmp_path: Path
) -> None:
    """Our flat circuit has ngspice's node names (x1.n1) and source names (v.x1.v1), and the
    flattened deck (expressions evaluated) gives ngspice the same answer as the hierarchical one."""
    for path in netlist_paths:
        circuit = from_spice(path)
        original = operating_point(path.read_text(), tmp_path)
        flat = circuit.flatten()
        nodes = {k for k in original if not k.endswith("#branch")}
        sources = {k.removesuffix("#branch") for k in original if k.endswith("#branch")}
        assert nodes == set(flat.nodes), path.name
        voltage_defined = {  # and inductors: 0 V branches at DC, and B sources with V=
            e.name
            for e in flat
            if isinstance(e, VoltageSource)
            or e.letter in ("e", "h", "l")
            or getattr(e, "quantity", "") == "v"
        }
        assert sources == voltage_defined, path.name
        _same(operating_point(flat.to_spice(), tmp_path), original)


def test_subcircuit_element_names_match_ngspice(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "netlists" / "subckt_param.cir").read_text()
    body = [line for line in text.splitlines() if line.strip().lower() not in {".op", ".end"}]
    code, output = run_ngspice(
        "\n".join(body) + "\n.control\nop\nshow r\nquit\n.endc\n.end\n", tmp_path
    )
    assert code == 0, output
    shown = {
        name
        for line in output.splitlines()
        if line.strip().startswith("device")
        for name in line.split()[1:]
    }
    flat = from_spice(text).flatten()
    assert shown == {e.name for e in flat if e.letter == "r"}
    assert "r.x1.x1.r1a" in shown


NAMES = [
    "1n4148",
    "2n7000",
    "2sk1234",
    "1smb4148",
    "12abc",
    "1a",
    "3x",
    "1_a",
    "1.5a",
    "1e",
    "1ee",
    "1kohm",
    "1ka",
    "1v",
    "1megx",
    "1mila",
    "1e3x",
    "1e-3a",
    "1ohm",
    "1f4148",
    "1abc4",
    "1e3",
    "1k",
    "1n",
    "1",
    "1meg",
    "1mil",
    "10u",
    "1nf",
    "1.5",
    "1h",
    "1kohms",
    "1pfarad",
    "1uhenry",
    "1ff",
    "1fh",
    "0x1a",
]


@pytest.mark.parametrize("name", NAMES)
def test_digit_model_name_rule_matches_ngspice(name: str, tmp_path: Path) -> None:
    text = f"probe\n.model {name} D(is=1e-14)\nv1 a 0 1\nr1 a b 1k\nd1 b 0 {name}\n"
    _, output = run_ngspice(text + CONTROL, tmp_path)
    ngspice_rejects = "could not find a valid modelname" in output
    assert ngspice_rejects == reads_as_number(name)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(circuit=circuits())
def test_random_written_circuits_parse_in_ngspice(circuit: Circuit, tmp_path: Path) -> None:
    # No analysis (random circuits may be singular): ngspice only reads the deck, then exits 1
    # with "no simulations run"; any card it could not read is reported before that.
    _, output = run_ngspice(circuit.to_spice(analysis=None), tmp_path)
    assert "no simulations run" in output, output
    assert not re.search(
        r"error on line|could not find|is not a valid|ignored|unknown", output, re.IGNORECASE
    ), output


@st.composite
def hierarchies(draw: st.DrawFn) -> Circuit:
    """Solvable resistor hierarchies with parameters: defaults, instance overrides, local
    ``.param``s using globals, and a nested instance whose parameter is an expression."""
    ohms = st.sampled_from([100.0, 470.0, 1e3, 2.2e3, 1e4])
    c = Circuit("random hierarchy")
    c.set_param("rg", draw(ohms))
    c.set_param("rh", Expression(draw(st.sampled_from(["rg*2", "rg+500", "sqrt(rg)*10"]))))
    leaf = Circuit("leaf")
    leaf.set_param("loc", Expression(draw(st.sampled_from(["k*2", "k+rg", "max(k, rh)"]))))
    leaf.add(Resistor("r1", "p", "n1", Expression("k")))
    leaf.add(Resistor("r2", "n1", "q", Expression("loc")))
    leaf.add(Resistor("r3", "n1", "0", Expression("rh")))
    c.add_subcircuit(Subcircuit("leaf", ("p", "q"), leaf, {"k": draw(ohms)}))
    outer = Circuit("outer")
    outer.add(SubcircuitInstance("x1", ("a", "m"), "leaf", {"k": Expression("s*3")}))
    outer.add(Resistor("ra", "m", "b", Expression("s")))
    outer.add(Resistor("rm", "m", "0", draw(ohms)))
    c.add_subcircuit(Subcircuit("outer", ("a", "b"), outer, {"s": draw(ohms)}))
    nodes = ["in", "n1", "n2", "n3"]
    c.add(VoltageSource("v1", "in", "0", draw(st.floats(-5, 5))))
    for node in nodes:
        c.add(Resistor(f"rgnd_{node}", node, "0", draw(ohms)))
    for index in range(draw(st.integers(1, 4))):
        a, b = draw(st.sampled_from(nodes)), draw(st.sampled_from(nodes))
        if draw(st.booleans()):
            params = {"k": draw(ohms)} if draw(st.booleans()) else {}
            c.add(SubcircuitInstance(f"xl{index}", (a, b), "leaf", params))
        else:
            params = {"s": Expression("rg*1.5")} if draw(st.booleans()) else {}
            c.add(SubcircuitInstance(f"xo{index}", (a, b), "outer", params))
    return c


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(circuit=hierarchies())
def test_random_hierarchies_flatten_like_ngspice(circuit: Circuit, tmp_path: Path) -> None:
    """ngspice evaluates the hierarchical deck's parameters itself; our flattened deck must give
    the same node names and the same operating point."""
    _same(
        operating_point(circuit.flatten().to_spice(), tmp_path),
        operating_point(circuit.to_spice(), tmp_path),
    )


def test_local_model_names_match_ngspice(tmp_path: Path) -> None:
    text = (
        "local models\n.model top d is=1e-14\n"
        ".subckt inner n\n.model dl D(is=1e-14)\nd1 n 0 dl\nd2 n 0 top\n.ends\n"
        ".subckt outer n\n.model dl D(is=2e-14)\nx1 n inner\nd3 n 0 dl\n.ends\n"
        "v1 a 0 1\nrs a b 1k\nx2 b outer\n"
    )
    code, output = run_ngspice(text + ".control\nop\nshow d\nquit\n.endc\n.end\n", tmp_path)
    assert code == 0, output
    rows = {
        line.split()[0]: line.split()[1:]
        for line in output.splitlines()
        if line.split()[:1] in (["device"], ["model"])
    }
    shown = dict(zip(rows["device"], rows["model"], strict=True))
    flat = from_spice(text).flatten()
    assert shown == {e.name: e.model for e in flat if e.letter == "d"}
    assert shown["d.x2.x1.d1"] == "x2.x1:dl"


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(circuit=circuits())
def test_random_circuits_flatten_to_ngspice_device_names(circuit: Circuit, tmp_path: Path) -> None:
    """Every element type inside subcircuits: ngspice's device list (``show all``, which needs
    no solve) equals the element names of our flat circuit."""
    deck = circuit.to_spice(analysis=None).removesuffix(".end")
    _, output = run_ngspice(deck + ".control\nshow all\nquit\n.endc\n.end\n", tmp_path)
    shown = {
        name
        for line in output.splitlines()
        if line.split()[:1] == ["device"]
        for name in line.split()[1:]
    }
    assert shown == {e.name for e in circuit.flatten()}, output
