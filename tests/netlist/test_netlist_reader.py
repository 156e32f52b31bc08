"""Reading each supported card, suffixes, continuations, comments, parameters and subcircuits."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

import circuitlearn
from circuitlearn.circuit import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    CurrentSource,
    Diode,
    Expression,
    Mosfet,
    Resistor,
    SubcircuitInstance,
    VoltageSource,
)
from circuitlearn.netlist import flat_origins, from_spice, reads_as_number


def deck(*cards: str, title: str = "test deck") -> str:
    """Netlist text from a title and cards."""
    return "\n".join([title, *cards, ".end"]) + "\n"


def test_exported_from_package() -> None:
    assert circuitlearn.from_spice is from_spice


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        ("R1 a b 1k", Resistor("r1", "a", "b", 1000.0)),
        ("r1 a b r=2.2k", Resistor("r1", "a", "b", 2200.0)),
        ("V1 a 0 DC 1.5", VoltageSource("v1", "a", "0", 1.5)),
        ("V1 a 0 1.5", VoltageSource("v1", "a", "0", 1.5)),
        ("V1 a 0 dc=1.5", VoltageSource("v1", "a", "0", 1.5)),
        ("V1 a 0", VoltageSource("v1", "a", "0", 0.0)),
        ("V1 a 0 DC 2 AC 1 0", VoltageSource("v1", "a", "0", 2.0, "ac 1 0")),
        ("I1 0 a DC 1m", CurrentSource("i1", "0", "a", 1e-3)),
        ("i1 0 a -2u", CurrentSource("i1", "0", "a", -2e-6)),
        ("E1 o 0 p n 1e5", VCVS("e1", "o", "0", "p", "n", 1e5)),
        ("G1 o 0 p n 2m", VCCS("g1", "o", "0", "p", "n", 2e-3)),
        ("F1 o 0 Vs 3", CCCS("f1", "o", "0", "vs", 3.0)),
        ("H1 o 0 Vs 1k", CCVS("h1", "o", "0", "vs", 1000.0)),
    ],
)
def test_element_cards(card: str, expected: object) -> None:
    c = from_spice(deck("vs s 0 0", "rs s 0 1", card))
    name = card.split()[0].lower()
    assert c[name] == expected


def test_diode_and_mosfet_cards() -> None:
    c = from_spice(
        deck(
            ".model dmod D(is=1e-12 n=1.5)",
            ".model nch NMOS (vto=0.7 kp=110u lambda=0.02)",
            "D1 a 0 dmod",
            "D2 a 0 dmod AREA = 2",
            "M1 d g 0 0 nch W=10u L=1u",
            "M2 d g 0 0 nch",
            "vdd d 0 1",
            "vg g 0 1",
            "ra a 0 1k",
        )
    )
    assert c["d1"] == Diode("d1", "a", "0", "dmod", 1.0)
    assert c["d2"] == Diode("d2", "a", "0", "dmod", 2.0)
    assert c["m1"] == Mosfet("m1", "d", "g", "0", "0", "nch", 1e-5, 1e-6)
    assert c["m2"].w is None and c["m2"].l is None
    assert c.models["dmod"].params == {"is": 1e-12, "n": 1.5}
    assert c.models["nch"].kind == "nmos" and c.models["nch"].value("kp") == pytest.approx(110e-6)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1", 1.0),
        ("1k", 1e3),
        ("1K", 1e3),
        ("2.2meg", 2.2e6),
        ("2.2MEG", 2.2e6),
        ("3g", 3e9),
        ("1t", 1e12),
        ("4.7m", 4.7e-3),
        ("10u", 1e-5),
        ("5n", 5e-9),
        ("6p", 6e-12),
        ("7f", 7e-15),
        ("1mil", 25.4e-6),
        ("1e3", 1e3),
        ("1.5e-3k", 1.5),
        ("10kohm", 1e4),
        (".5", 0.5),
    ],
)
def test_engineering_suffixes(text: str, value: float) -> None:
    c = from_spice(deck(f"r1 a 0 {text}", "v1 a 0 1"))
    assert c["r1"].resistance == pytest.approx(value, rel=1e-15)


def test_continuation_lines_across_blank_and_comment_lines() -> None:
    c = from_spice("title\nv1 a 0\n+ dc\n\n* a comment in between\n+ 2\nr1 a\n+ 0 1k\n")
    assert c["v1"].dc == 2.0
    assert c["r1"] == Resistor("r1", "a", "0", 1000.0)
    assert c.origin == {"v1": 2, "r1": 7}


def test_comments() -> None:
    text = (
        "title * is not a comment marker here\n"
        "* full-line comment\n"
        "   * indented comment\n"
        "v1 a 0 1 ; inline semicolon comment\n"
        "r1 a b$x 1k $ dollar after white space is a comment\n"
        "r2 b$x 0 1k;no space needed before a semicolon\n"
        "r3 a 0 2k\t$ tab before dollar\n"
        "// C++-style comment line\n"
        "r4 a 0 3k// and inline\n"
    )
    c = from_spice(text)
    assert c.title == "title * is not a comment marker here"
    assert [e.name for e in c] == ["v1", "r1", "r2", "r3", "r4"]
    assert c["r4"].resistance == 3000.0
    assert c["r1"].n2 == "b$x"  # '$' inside a word is part of the name, as in ngspice
    assert c["r2"].resistance == 1000.0
    assert c["r3"].resistance == 2000.0


def test_names_are_lower_cased_and_gnd_is_ground() -> None:
    c = from_spice(deck("VIN IN GND DC 1", "RLOAD IN Gnd 1K"))
    assert c["vin"] == VoltageSource("vin", "in", "0", 1.0)
    assert c["rload"].nodes == ("in", "0")


@pytest.mark.parametrize("name", ["1n4148", "2n7000", "2sk1234", "1kohm", "1e3x", "1a", "3x"])
def test_digit_model_names_that_ngspice_accepts(name: str) -> None:
    c = from_spice(deck(f".model {name} D(is=1e-14)", "v1 a 0 1", "r1 a b 1k", f"d1 b 0 {name}"))
    assert c["d1"].model == name
    assert name in c.models


@pytest.mark.parametrize("name", ["1k", "1e3", "10u", "1meg", "1nf", "1kohms", "1.5", "1"])
def test_digit_model_names_that_read_as_numbers_are_rejected(name: str) -> None:
    assert reads_as_number(name)
    with pytest.raises(
        circuitlearn.NetlistError, match=rf":4: diode d1: model name '{name}' reads as a number"
    ):
        from_spice(deck(f".model {name} D(is=1e-14)", "v1 a 0 1", f"d1 a 0 {name}"))


def test_digit_subcircuit_names_are_accepted() -> None:
    c = from_spice(deck(".subckt 1k p q", "rx p q 1k", ".ends 1k", "v1 a 0 1", "x1 a 0 1k"))
    assert c["x1"].subckt == "1k"


def test_params_and_expressions() -> None:
    c = from_spice(
        deck(
            ".param a=1k b={a*2}",
            ".param c = 'a+b'  d=a/2",
            "v1 x 0 1",
            "r1 x y {b}",
            "r2 y 0 'c * 2'",
        )
    )
    assert c.params == {
        "a": 1000.0,
        "b": Expression("a*2"),
        "c": Expression("a+b"),
        "d": Expression("a/2"),
    }
    assert c["r1"].resistance == Expression("b")
    flat = c.flatten()
    assert flat["r1"].resistance == 2000.0
    assert flat["r2"].resistance == 6000.0


def test_model_without_parentheses_and_with_commas() -> None:
    c = from_spice(
        deck(".model d1 d is=2e-14, n=1.1", ".model d2 D ( is=3e-14 )", "v1 a 0 1", "dx a 0 d1")
    )
    assert c.models["d1"].params == {"is": 2e-14, "n": 1.1}
    assert c.models["d2"].params == {"is": 3e-14}


def test_model_level_one_is_accepted() -> None:
    c = from_spice(
        deck(".model n1 nmos level=1 vto=1", ".model dd d level=1", "v1 a 0 1", "m1 a a 0 0 n1")
    )
    assert c.models["n1"].params["level"] == 1.0
    assert c.models["dd"].params["level"] == 1.0  # kept as written
    assert c.models["dd"].native_issue() is None and c.models["n1"].native_issue() is None


def test_subcircuits_with_params_and_nesting() -> None:
    text = deck(
        ".param rbase=1k",
        ".subckt inner a b rv=2k",
        "r1 a n1 {rv}",
        "r2 n1 b 1k",
        ".ends inner",
        ".subckt outer p q params: scale=1",
        ".param rloc={scale*rbase}",
        "x1 p m inner rv={rloc}",
        "r1 m q 1k",
        ".ends",
        "v1 in 0 1",
        "x1 in 0 outer scale=2",
        "x2 in 0 inner",
    )
    c = from_spice(text)
    assert list(c.subcircuits) == ["inner", "outer"]
    outer = c.subcircuits["outer"]
    assert outer.ports == ("p", "q") and outer.params == {"scale": 1.0}
    assert outer.body.params == {"rloc": Expression("scale*rbase")}
    assert c["x1"] == SubcircuitInstance("x1", ("in", "0"), "outer", {"scale": 2.0})
    assert outer.body.origin == {"x1": 9, "r1": 10}
    flat = c.flatten()
    # ngspice 39's names (checked against `ngspice -b` in test_ngspice.py)
    assert {e.name for e in flat} == {
        "v1",
        "r.x1.x1.r1",
        "r.x1.x1.r2",
        "r.x1.r1",
        "r.x2.r1",
        "r.x2.r2",
    }
    assert flat["r.x1.x1.r1"].resistance == 2000.0  # rloc = scale*rbase = 2k
    assert flat["r.x2.r1"].resistance == 2000.0  # default rv
    assert set(flat.nodes) == {"in", "x1.m", "x1.x1.n1", "x2.n1"}


def test_nested_subckt_definition() -> None:
    c = from_spice(
        deck(
            ".subckt top a",
            ".subckt leaf p",
            "r1 p 0 1k",
            ".ends leaf",
            "x1 a leaf",
            ".ends top",
            "v1 n 0 1",
            "x1 n top",
        )
    )
    assert "leaf" in c.subcircuits["top"].body.subcircuits
    assert [e.name for e in c.flatten()] == ["v1", "r.x1.x1.r1"]


def test_ignored_cards_are_recorded() -> None:
    text = (
        "title\nv1 a 0 1\nr1 a 0 1k\n.op\n.dc v1 0 1 0.1\n"
        ".options reltol=1e-6 noacct temp=27\n.temp 27\n.print dc v(a)\n"
        ".control\nrun\nplot v(a)\n.endc\n.save all\n.end\nafter end is not read\n"
    )
    c = from_spice(text)
    assert c.ignored_cards == [
        (4, ".op"),
        (5, ".dc v1 0 1 0.1"),
        (6, ".options reltol=1e-6 noacct temp=27"),
        (8, ".print dc v(a)"),
        (9, ".control"),
        (13, ".save all"),
    ]
    assert len(c) == 2


def test_title_card() -> None:
    c = from_spice("first line\n.title The real title\nr1 a 0 1\n")
    assert c.title == "The real title"


def test_source_rules_path_and_text(tmp_path: Path) -> None:
    file = tmp_path / "d.cir"
    file.write_text(deck("v1 a 0 1", "r1 a 0 1k"))
    from_path = from_spice(file)
    from_str_path = from_spice(str(file))
    from_bytes = from_spice(file.read_bytes())
    from_text = from_spice(file.read_text())
    assert from_path == from_str_path == from_bytes == from_text
    assert from_path.source_path == str(file)
    assert from_text.source_path is None
    assert from_spice(file.read_text(), path="named.cir").source_path == "named.cir"


def test_crlf_and_utf8_bom() -> None:
    c = from_spice(("\ufefftitle\r\nv1 a 0 1\r\nr1 a 0 1k\r\n").encode())
    assert c.title == "title" and c["r1"].resistance == 1000.0


def test_origin_survives_deepcopy() -> None:
    c = from_spice(deck("v1 a 0 1", "r1 a 0 1k"))
    d = copy.deepcopy(c)
    assert d.origin == {"v1": 2, "r1": 3} and d.origin is not c.origin
    assert c.copy().origin == c.origin


def test_check_accepts_valid_decks(netlist_paths: list[Path]) -> None:
    for path in netlist_paths:
        circuit = from_spice(path, check=True)
        assert len(circuit) > 0
        assert circuit.source_path == str(path)
        assert set(circuit.origin) == {e.name for e in circuit}


def test_local_models_and_params_in_subcircuits() -> None:
    c = from_spice(
        deck(
            ".subckt clamp n k=1",
            ".model dl D(is={1e-14*k})",
            ".param rs={k*100}",
            "d1 n 0 dl",
            "r1 n 0 {rs}",
            ".ends clamp",
            "v1 a 0 1",
            "x1 a clamp k=2",
            "x2 a clamp",
        )
    )
    body = c.subcircuits["clamp"].body
    assert list(body.models) == ["dl"] and body.params == {"rs": Expression("k*100")}
    assert not c.models  # the model is local to the subcircuit
    flat = c.flatten()
    assert flat.models["x1:dl"].params == {"is": 2e-14}
    assert flat.models["x2:dl"].params == {"is": 1e-14}
    assert flat["d.x1.d1"].model == "x1:dl"
    assert flat["r.x1.r1"].resistance == 200.0 and flat["r.x2.r1"].resistance == 100.0


def test_title_without_space() -> None:
    assert from_spice("x\n.title(v2) run\nr1 a 0 1\n").title == "(v2) run"


def test_flat_origins_point_at_the_defining_cards(netlist_paths: list[Path]) -> None:
    c = from_spice(next(p for p in netlist_paths if p.name == "subckt_param.cir"))
    origins = flat_origins(c)
    lines = c.source_path and Path(c.source_path).read_text().splitlines()
    assert set(origins) == {e.name for e in c.flatten()}
    assert lines[origins["r.x1.x1.r1a"] - 1].startswith("R1a top n1")
    assert lines[origins["r.x2.rload"] - 1].startswith("Rload out 0")
    assert lines[origins["v1"] - 1].startswith("V1 in 0")


def test_params_forward_references_and_redefinition_as_ngspice() -> None:
    # ngspice 39: a .param may use one defined later, and a later definition replaces an
    # earlier one everywhere (checked with ngspice -b: b = 2k below)
    c = from_spice(
        deck(".param b={a*2}", ".param c=5", ".param a=1k", ".param a=1k/2", "r1 x 0 {b}")
    )
    assert list(c.params) == ["a", "b", "c"]
    assert c.params["a"] == Expression("1k/2")
    assert c.flatten()["r1"].resistance == 1000.0
    again = from_spice(c.to_spice())
    assert again == c and list(again.params) == ["a", "b", "c"]


def test_params_in_written_order_are_kept() -> None:
    c = from_spice(deck(".param z=1 y={z} x=3 w={x+y}", "r1 a 0 {w}"))
    assert list(c.params) == ["z", "y", "x", "w"]
