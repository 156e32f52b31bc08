"""Every malformed netlist gives one NetlistError naming the file, the line and the culprit."""

from __future__ import annotations

from pathlib import Path

import pytest

from circuitlearn.errors import NetlistError
from circuitlearn.netlist import from_spice

T = "title\n"


@pytest.mark.parametrize(
    ("text", "line", "match"),
    [
        # unknown or unsupported element letters
        (T + "q1 c b e qmod\n", 2, r"bipolar transistor q1: no known bipolar model after 3 or 4"),
        (
            T + "A1 a 0 amod\n",
            2,
            r"XSPICE code model a1: its last word .amod. must name a code model; no \.model card",
        ),
        (
            T + "A1 a 0 dm\n.model dm d\n",
            2,
            r"XSPICE code model a1: .* a d model, not a code model",
        ),
        (
            T + "P1 a 0 b 0 pm\n",
            2,
            r"element p1: coupled multiconductor lines \(P\) are not supported",
        ),
        (
            T + "n1 a b c nmod\n",
            2,
            r"element n1: numerical devices \(N\) are not supported "
            r"\(supported elements: R C L V I D E G F H M X \(and A B J K O Q S T U W Y Z kept",
        ),
        (T + "1abc a b\n", 2, r"unknown card '1abc'"),
        (T + "= a b\n", 2, r"a card must start with an element name or a dot command"),
        (T + "# not a comment\n", 2, r"unknown card '#'"),
        # bad numbers and values
        (T + "r1 a 0 1kx!\n", 2, r"resistor r1: bad number '1kx!'"),
        (T + "r1 a 0 nan\n", 2, r"resistor r1: bad number 'nan' \(NaN and inf are not values\)"),
        (T + "v1 a 0 dc inf\n", 2, r"voltage source v1: bad number 'inf'"),
        (T + "r1 a 0 1e999\n", 2, r"resistor r1: number '1e999' overflows to infinity"),
        (T + "r1 a 0 0\n", 2, r"resistor r1: resistance must be positive; got 0.0"),
        (T + "r1 a 0 {1/0}\nv1 a 0 1\n", None, None),  # resolved at flatten time: see below
        (T + "r1 a 0 {a**}\n", 2, r"resistor r1: bad expression \{a\*\*\}"),
        (T + "r1 a 0 {a*2\n", 2, r"unbalanced '\{' in expression"),
        (T + "r1 a 0 'a*2\n", 2, r"unterminated quoted expression"),
        (T + "r1 a 0\n", 2, r"resistor r1: missing value; expected 'rNAME n1 n2 VALUE "),
        (T + "r1 a 0 1k r=2k\n", 2, r"resistor r1: value given twice"),
        (T + "r1 a 0 1k 2k\n", 2, r"resistor r1: unexpected '2k'"),
        (T + "r1 a 0 1k tcx=0.1\n", 2, r"resistor r1: unsupported parameter tcx="),
        (T + "v1 a 0 noise(0 0 0 0)\n", 2, r"voltage source v1: unexpected 'noise'"),
        (T + "v1 a 0 sin 0\n", 2, r"voltage source v1: sin needs at least 2 values"),
        (T + "v1 a 0 1 dc 2\n", 2, r"voltage source v1: DC value given twice"),
        (T + "v1 a 0 dc\n", 2, r"voltage source v1: 'dc' needs a value"),
        # too few nodes
        (
            T + "r1 a\n",
            2,
            r"resistor r1: too few nodes: expected 'rNAME n1 n2 VALUE .*'; got 1 of 2 nodes",
        ),
        (T + "e1 a 0 b\n", 2, r"VCVS e1: too few nodes"),
        (T + "g1 a 0\n", 2, r"VCCS g1: too few nodes"),
        (T + "f1 a 0\n", 2, r"CCCS f1: missing controlling voltage source"),
        (
            T + "m1 d g s nch\n",
            2,
            r"MOSFET m1: too few nodes: expected 'mNAME drain gate source bulk MODEL .*\(4 nodes, "
            r"bulk included, then the model\); got 'd g s nch'",
        ),
        (T + "m1 d g\n", 2, r"MOSFET m1: too few nodes"),
        (T + "d1 a 0\n", 2, r"diode d1: missing model name"),
        (T + "x1\n", 2, r"subcircuit instance x1: missing subcircuit name"),
        # diode / MOSFET instance parameters
        (
            T + ".model dm d\nv1 a 0 1\nd1 a 0 dm 2\n",
            4,
            r"diode d1: a positional area \(2\) is rejected by ngspice 39; write area=2",
        ),
        (T + ".model dm d\nv1 a 0 1\nd1 a 0 dm k=2\n", 4, r"diode d1: unsupported parameter k="),
        (
            T + ".model nm nmos\nm1 a a 0 0 nm w=1u l=1u ax=1p\n",
            3,
            r"MOSFET m1: unknown instance parameter 'ax'",
        ),
        (T + ".model nm nmos\nm1 a a 0 0 nm 10u 1u\n", 3, r"MOSFET m1: unexpected '10u'"),
        # missing references
        (T + "v1 a 0 1\nd1 a 0 dmod\n", 3, r"diode d1: unknown model 'dmod' \(add a .model card\)"),
        (
            T + ".model dm nmos\nv1 a 0 1\nd1 a 0 dm\n",
            4,
            r"diode d1: model dm is a nmos model; expected d",
        ),
        (T + "v1 a 0 1\nx1 a 0 foo\n", 3, r"subcircuit instance x1: unknown subcircuit 'foo'"),
        (
            T + ".subckt s p q\nr1 p q 1\n.ends\nx1 a s\n",
            5,
            r"subcircuit instance x1: subcircuit s has 2 ports; got 1 nodes",
        ),
        (
            T + ".subckt s p\nr1 p 0 1\n.ends\nx1 a s k=1\n",
            5,
            r"subcircuit instance x1: subcircuit s has no parameter\(s\) k",
        ),
        (T + "r1 a 0 1\nf1 b 0 vx 2\n", 3, r"CCCS f1: controlling voltage source 'vx' not found"),
        (T + "h1 b 0 r1 2\n", 2, r"CCVS h1: the controlling element must be a voltage source"),
        (T + "r1 a 0 {rx}\n", 2, r"resistor r1: resistance uses unknown parameter\(s\) rx"),
        (
            T + ".subckt s p\nd1 p 0 nomodel\n.ends\nv1 a 0 1\nx1 a s\n",
            3,
            r"diode d1: unknown model 'nomodel' \(add a .model card\) \(in subcircuit s\)",
        ),
        (T + ".param a={b*2}\nr1 x 0 {a}\n", 2, r".param a: unknown parameter 'b'"),
        # subcircuit structure
        (
            T + "v1 a 0 1\n.subckt foo a b\nr1 a b 1k\n",
            3,
            r"unterminated .subckt foo: add '.ends foo'",
        ),
        (T + ".ends\n", 2, r".ends without a matching .subckt"),
        (
            T + ".subckt foo a\nr1 a 0 1\n.ends bar\n",
            4,
            r".ends bar closes .subckt foo \(opened at line 2\)",
        ),
        (T + ".subckt foo a 0\n.ends\n", 2, r"subcircuit foo: ground \(0\) cannot be a port"),
        (T + ".subckt foo a\n.ends\n.subckt FOO b\n.ends\n", 4, r"duplicate subcircuit name 'foo'"),
        # duplicates
        (T + "r1 a 0 1k\nR1 a 0 2k\n", 3, r"duplicate element name 'r1'"),
        (T + ".model m d\n.model M d\n", 3, r"duplicate model name 'm'"),
        (
            T + ".param a={b}\n.param b={c+1}\n.param c=a\nr1 x 0 1\n",
            2,
            r".param a: circular definition a -> b -> c -> a",
        ),
        (
            T + ".subckt s p\n.param k={k*2}\n.ends\nr1 x 0 1\n",
            3,
            r".param k: circular definition k -> k",
        ),
        # models
        (
            T + ".model q1 bjt\n",
            2,
            r"model q1: unknown model type 'bjt'; ngspice 39 reads d, nmos, pmos, npn",
        ),
        (T + ".model nm nmos phi=-1\n", 2, r"model nm: parameter phi must be positive"),
        (T + ".model dd d is=-1\n", 2, r"model dd: parameter is must be positive"),
        (T + ".model dd\n", 2, r".model: missing model name or type"),
        # dot cards
        (
            T + ".option noacct TNOM = 25 gmin=1e-12\n",
            2,
            r".option: only tnom=27 is modelled; got tnom=25",
        ),
        (T + ".include no/such/models.lib\n", 2, r"cannot read included file"),
        (T + ".func f(x) {x*2}\nr1 a 0 {f(1, 2)}\n", 3, r"call of .func f: takes 1 argument"),
        (T + ".foo 1\n", 2, r"unsupported card .foo"),
        (T + ".param\n", 2, r".param: expected name=value pairs"),
        (T + ".param a\n", 2, r".param: expected name=value; got 'a'"),
        (T + ".param a=\n", 2, r".param a: missing value after '='"),
        (T + ".param 1a=2\n", 2, r".param: invalid parameter name '1a'"),
        # structure
        (T + "+ r1 a 0 1k\n", 2, r"continuation line \('\+'\) with no card before it"),
        (T + "r1 a 0 1 x=\n", 2, r"resistor r1: parameter x= has no value"),
        (T + "r1 a 0 1 k=1 k=2\n", 2, r"resistor r1: parameter k is given twice"),
        (
            T + "x1 a s k=1 b\n",
            2,
            r"subcircuit instance x1: unexpected 'b' after name=value parameters",
        ),
        (T + "r1 a( 0 1\n", 2, r"resistor r1: unexpected '\('"),
        (T + "r1 'a' 0 1\n", 2, r"resistor r1: expected a node name; got 'a'"),
    ],
)
def test_malformed_cards(text: str, line: int | None, match: str | None) -> None:
    if match is None:
        with pytest.raises(
            NetlistError,
            match=r"deck.cir:2: resistor r1: resistance: expression '1/0': float division by zero",
        ):
            from_spice(text, path="deck.cir", check=True)
        return
    with pytest.raises(NetlistError, match=rf"^deck\.cir:{line}: {match}") as info:
        from_spice(text, path="deck.cir")
    error = info.value
    assert error.path == "deck.cir"
    assert error.line == line
    assert error.text and error.text in text  # the offending card, as written
    assert "\n" not in str(error)


def test_error_carries_the_card_text() -> None:
    with pytest.raises(NetlistError) as info:
        from_spice("title\nv1 a 0 1\nR7 a\n+ 0 0\n", path="x.cir")
    assert info.value.line == 3  # the physical line of the card's first line
    assert info.value.text == "R7 a 0 0"
    assert str(info.value).endswith(": 'R7 a 0 0'")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"^<netlist>: empty netlist"),
        ("\n \n\t\n", r"^<netlist>: empty netlist"),
        ("just a title\n* and a comment\n.op\n.end\n", r"the netlist has no elements"),
    ],
)
def test_empty_netlists(text: str, match: str) -> None:
    with pytest.raises(NetlistError, match=match):
        from_spice(text)


def test_binary_file(tmp_path: Path) -> None:
    file = tmp_path / "image.cir"
    file.write_bytes(b"title\nr1 a 0 1k\n\x89PNG\x00\x01\x02")
    with pytest.raises(
        NetlistError, match=r"image.cir:3: this is a binary file \(it contains NUL bytes\)"
    ) as info:
        from_spice(file)
    assert info.value.line == 3


def test_undecodable_file(tmp_path: Path) -> None:
    file = tmp_path / "latin1.cir"
    file.write_bytes("title\nr1 a 0 1k\n* résumé\n".encode("latin-1"))
    with pytest.raises(NetlistError, match=r"latin1.cir:3: not UTF-8 text \(byte 0xe9"):
        from_spice(file)


def test_nul_in_text() -> None:
    with pytest.raises(NetlistError, match=r"<netlist>:2: this is binary data"):
        from_spice("title\nr1 a 0 1\x00\n")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NetlistError, match=r"nope.cir: cannot read the netlist file: No such file"):
        from_spice(tmp_path / "nope.cir")
    with pytest.raises(NetlistError, match=r"cannot read the netlist file"):
        from_spice(str(tmp_path / "nope.cir"))


def test_wrong_source_type() -> None:
    with pytest.raises(NetlistError, match=r"expected netlist text, bytes or a path; got int"):
        from_spice(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "line", "match"),
    [
        (T + "v1 a 0 1\nr1 a 0 1k\nv2 a 0 2\n", 4, r"loop of voltage sources v1 -> v2"),
        (T + "v1 a a 1\nr1 a 0 1k\n", 2, r"loop of voltage sources v1"),
        (
            T + "v1 a 0 1\nr1 a 0 1k\ne1 a 0 b 0 2\nr2 b 0 1\n",
            4,
            r"loop of voltage sources v1 -> e1",
        ),
        (T + "v1 a 0 1\nr1 a 0 1k\nr2 b c 1k\n", 4, r"floating nodes b, c: no DC path to ground"),
        (T + "v1 a 0 1\nr1 a 0 1k\ni1 a b 1m\n", 4, r"floating node b: no DC path to ground"),
        (
            T + ".subckt s p\nr1 p n1 1k\nr2 n2 n3 1k\n.ends\nv1 a 0 1\nr0 a 0 1\nx1 a s\n",
            4,
            r"floating nodes x1.n2, x1.n3",
        ),
        (
            T + ".subckt s p\nv1 p 0 1\n.ends\nv1 a 0 1\nr0 a 0 1\nx1 a s\n",
            3,
            r"loop of voltage sources v1 -> v.x1.v1",
        ),
        (
            T + ".subckt s p r=1\nr1 p 0 {r}\n.ends\nv1 a 0 1\nx1 a s r=-1\n",
            3,
            r"resistor r.x1.r1: resistance must be positive; got -1.0 "
            r".*\(while expanding instance x1\)",
        ),
    ],
)
def test_topology_errors_with_check(text: str, line: int, match: str) -> None:
    from_spice(text)  # reads fine without the check
    with pytest.raises(NetlistError, match=rf"^deck\.cir:{line}: {match}") as info:
        from_spice(text, path="deck.cir", check=True)
    assert info.value.line == line
    assert info.value.text == text.splitlines()[line - 1]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            T + ".subckt s p\nx1 p s\n.ends\nv1 a 0 1\nx1 a s\n",
            r"deck.cir:3: subcircuit s instantiates itself through x1",
        ),
        (
            T + ".subckt s p\nxa p t\n.ends\n.subckt t p\nxb p s\n.ends\nv1 a 0 1\nx1 a s\n",
            r"deck.cir:3: subcircuit s instantiates itself through xa -> xb",
        ),
    ],
)
def test_self_instantiating_subcircuit(text: str, match: str) -> None:
    with pytest.raises(NetlistError, match=match):
        from_spice(text, path="deck.cir")
