"""Issue 11, item 2: ``.include`` and ``.lib FILE SECTION`` of vendor model files, relative to the
including file, with a depth limit and cycle detection; errors name the file and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from ngspice_reference import ngspice_op as operating_point

from circuitlearn import from_spice
from circuitlearn.errors import NetlistError
from circuitlearn.netlist.include import MAX_INCLUDE_DEPTH
from circuitlearn.solve import solve_dc

LIBRARY = """* vendor diode library: no title line in an included file
.lib typ
.model dfast d (is=1e-12 n=1.5)
.include inner.inc
.endl typ
.lib slow
.model dfast d (is=1e-15)
.endl
"""
DECK = """deck in a sibling folder
.lib ../models/vendor.lib {section}
V1 a 0 1
R1 a b {{rin}}
D1 b 0 dfast
.op
.end
"""


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "models").mkdir()
    (tmp_path / "decks").mkdir()
    (tmp_path / "models" / "vendor.lib").write_text(LIBRARY)
    (tmp_path / "models" / "inner.inc").write_text(".param rin=2k\n")
    for section in ("typ", "slow"):
        (tmp_path / "decks" / f"{section}.cir").write_text(DECK.format(section=section))
    return tmp_path


def test_lib_section_and_nested_include_relative_to_their_files(tree: Path) -> None:
    typ = from_spice(tree / "decks" / "typ.cir")
    assert typ.models["dfast"].params == {"is": 1e-12, "n": 1.5}
    assert typ.params == {"rin": 2000.0}
    assert from_spice(typ.to_spice()) == typ  # the written deck is self-contained
    with pytest.raises(NetlistError, match="unknown parameter"):
        from_spice(tree / "decks" / "slow.cir", check=True)  # slow has no inner.inc


def test_section_definitions_in_the_deck_are_skipped(tree: Path) -> None:
    text = "t\n.lib unused\n.model dx d (is=1)\nR9 q 0 1\n.endl unused\nV1 a 0 1\nR1 a 0 1k\n"
    circuit = from_spice(text)
    assert [e.name for e in circuit] == ["v1", "r1"] and not circuit.models


def _chain(tmp_path: Path, length: int) -> Path:
    for k in range(length):
        (tmp_path / f"f{k}.inc").write_text(f"* level {k}\n.include f{k + 1}.inc\n")
    (tmp_path / f"f{length}.inc").write_text("R1 a 0 1k\n")
    deck = tmp_path / "deck.cir"
    deck.write_text("chain\nV1 a 0 1\n.include f0.inc\n")
    return deck


def test_depth_limit(tmp_path: Path) -> None:
    assert len(from_spice(_chain(tmp_path, MAX_INCLUDE_DEPTH - 1))) == 2
    with pytest.raises(NetlistError, match=f"nested more than {MAX_INCLUDE_DEPTH} files deep"):
        from_spice(_chain(tmp_path, MAX_INCLUDE_DEPTH + 3))


def test_cycle_names_the_chain(tmp_path: Path) -> None:
    (tmp_path / "a.inc").write_text("R1 a 0 1k\n.include b.inc\n")
    (tmp_path / "b.inc").write_text("* comment\n.inc 'a.inc'\n")
    deck = tmp_path / "deck.cir"
    deck.write_text("cycle\nV1 a 0 1\n.include a.inc\n")
    with pytest.raises(
        NetlistError, match=r"include cycle: .*deck\.cir:3 -> .*a\.inc:2 -> .*b\.inc:2"
    ) as info:
        from_spice(deck)
    assert info.value.path.endswith("b.inc") and info.value.line == 2


@pytest.mark.parametrize(
    ("card", "match"),
    [
        (".include missing.inc", r"deck\.cir:3: cannot read included file '.*missing\.inc'"),
        (".lib lib.inc nosuch", r"deck\.cir:3: \.lib: no section 'nosuch'"),
        (".include a b", r"\.include: expected one file name; got 'b' after it"),
        (".endl", r"\.endl without a '\.lib NAME' section"),
        (".lib open\nR2 a 0 1", r"deck\.cir:3: unterminated \.lib section"),
    ],
)
def test_include_errors_are_located(tmp_path: Path, card: str, match: str) -> None:
    (tmp_path / "lib.inc").write_text(".lib typ\nR5 a 0 1\n.endl\n")
    deck = tmp_path / "deck.cir"
    deck.write_text(f"t\nV1 a 0 1\n{card}\nR1 a 0 1k\n")
    with pytest.raises(NetlistError, match=match):
        from_spice(deck)


def test_errors_inside_an_included_file_name_that_file(tmp_path: Path) -> None:
    (tmp_path / "bad.inc").write_text("* models\n\nR7 a 0 0\n")
    deck = tmp_path / "deck.cir"
    deck.write_text("t\nV1 a 0 1\n.include bad.inc\n")
    with pytest.raises(NetlistError, match=r"bad\.inc:3: resistor r7: resistance must be positive"):
        from_spice(deck)


@pytest.mark.ngspice
def test_included_deck_matches_ngspice(tree: Path, tmp_path: Path) -> None:
    deck = tree / "decks" / "typ.cir"
    circuit = from_spice(deck)
    # ngspice reads the original files (run in the deck's folder, as the relative paths need)
    reference = operating_point(deck.read_text(), deck.parent)
    assert reference["b"] == pytest.approx(0.7267776, rel=1e-6)
    for backend in ("native", "ngspice"):
        assert solve_dc(circuit, backend=backend).voltages["b"] == pytest.approx(
            reference["b"], rel=1e-6
        )


@pytest.mark.parametrize(
    ("included", "match"),
    [
        ("* sub\nD9 a 0 nomodel\n", r"sub\.inc:2: diode d9: unknown model 'nomodel'"),
        ("\n.param k={j}\n.param j={k}\n", r"sub\.inc:2: \.param k: circular definition"),
        ("R8 q1 q2 1k\n", r"sub\.inc:1: floating nodes q1, q2"),
        (
            ".subckt s p\n\nC1 p n 1p\nR2 n m 1k\n.ends\n",
            r"sub\.inc:4: floating nodes x1\.m, x1\.n",
        ),
    ],
)
def test_late_errors_in_included_files_name_that_file(
    tmp_path: Path, included: str, match: str
) -> None:
    (tmp_path / "sub.inc").write_text(included)
    deck = tmp_path / "deck.cir"
    extra = "X1 a s\n" if ".subckt" in included else ""
    deck.write_text(f"t\nV1 a 0 1\nR1 a 0 1k\n.include sub.inc\n{extra}")
    with pytest.raises(NetlistError, match=match):
        from_spice(deck, check=True)
