"""Fuzzing: mutated, truncated or garbage netlists raise only circuitlearn's errors, quickly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from circuitlearn.errors import CircuitLearnError
from circuitlearn.netlist import from_spice

NETLISTS = sorted((Path(__file__).resolve().parents[2] / "netlists").glob("*.cir"))
TEXTS = [p.read_text() for p in NETLISTS]
PER_EXAMPLE_SECONDS = 2.0
"""A read must never take more CPU time than this, however bad the input (a hang guard).

CPU time of this process, not wall-clock time, so other jobs on a shared machine cannot fail it."""

SPICE_SNIPPETS = [
    "{", "}", "'", "=", "(", ")", ",", ";", "$", " $", "*", "\n*", "\n+", "+", ".", "\n", "\t",
    "\r", "\x00", "\x0b", "\u00e9", "\u2028", "dc", "ac", ".subckt s a b", ".ends", ".ends s",
    ".param a=",
    "{a*", "x1 a s", "1e999", "nan", "-", "0", "gnd", "1n4148", "1k", ".model m d", "area=", "w=",
    ".control", ".endc", ".end", "\n.end\n", "((((", "**", "/0", "{1/0}", ".title(", "\n.title",
    "\n.temp 27", "\n.options temp=", "params:", ".model n nmos", "\nm1 a b c d ", "\nf1 a b ",
    "\nh1 0 a v1 ", "\nx9 a b ", "\n.param ", "\n.subckt q a\n", "\nx1 a q\n", "\nv9 a a 1\n",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A catalogue deck with a few random edits: deletions, insertions, swaps, truncation."""
    text = draw(st.sampled_from(TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        operation = draw(st.sampled_from(["delete", "insert", "truncate", "swap", "duplicate"]))
        start = draw(st.integers(0, len(text)))
        if operation == "delete":
            text = text[:start] + text[start + draw(st.integers(1, 20)) :]
        elif operation == "insert":
            snippet = draw(st.one_of(st.sampled_from(SPICE_SNIPPETS), st.text(max_size=4)))
            text = text[:start] + snippet + text[start:]
        elif operation == "truncate":
            text = text[:start]
        else:
            lines = text.split("\n")
            a, b = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            if operation == "swap":
                lines[a], lines[b] = lines[b], lines[a]
            else:
                lines.insert(b, lines[a])
            text = "\n".join(lines)
    return text


def _read_within_time(source: str | bytes, *, check: bool) -> None:
    start = time.process_time()
    try:
        circuit = from_spice(source, check=check)
    except CircuitLearnError as error:
        assert str(error)  # every error has a message
        assert "\n" not in str(error)  # one line, for the CLI
    else:
        assert from_spice(circuit.to_spice()) == circuit
    assert time.process_time() - start < PER_EXAMPLE_SECONDS


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated(), check=st.booleans())
def test_mutated_decks_raise_only_circuitlearn_errors(text: str, check: bool) -> None:
    # bytes, so that a one-line fragment is read as text rather than as a file name
    _read_within_time(text.encode("utf-8", "surrogatepass"), check=check)


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300))
def test_random_bytes_raise_only_circuitlearn_errors(data: bytes) -> None:
    _read_within_time(data, check=True)


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(
        alphabet=st.sampled_from(sorted(set("".join(SPICE_SNIPPETS)) | set("rvidegfhmx ab0\n"))),
        max_size=200,
    )
)
@example(text="k' '")  # an opaque card glued to a quote once wrote a deck it could not re-read
def test_random_spice_like_text_raises_only_circuitlearn_errors(text: str) -> None:
    _read_within_time("title\n" + text, check=True)


@pytest.mark.parametrize("index", range(len(TEXTS)))
def test_every_truncation_of_each_deck(index: int) -> None:
    text = TEXTS[index]
    for end in range(0, len(text), 7):
        _read_within_time(text[:end].encode(), check=True)


@pytest.mark.parametrize(
    "text",
    [
        "t\nr1 a 0 {" + "(" * 150 + "1" + ")" * 150 + "}\n",
        "t\nr1 a 0 {" + "+".join(["1"] * 3000) + "}\n",
        "t\n.param a=" + "+".join(["1"] * 3000) + "\nr1 a 0 {a}\n",
        "t\nr1 a 0 1e" + "9" * 5000 + "k\n",
        "t\n"
        + "".join(f".subckt s{i} p\n" for i in range(400))
        + "r1 p 0 1\n"
        + ".ends\n" * 400
        + "r0 a 0 1\n",
        "t\n"
        + "".join(f".subckt s{i} p\nx1 p s{i + 1}\n.ends\n" for i in range(500))
        + ".subckt s500 p\nr1 p 0 1\n.ends\nv1 a 0 1\nx1 a s0\n",
    ],
    ids=[
        "deep-parentheses",
        "long-sum",
        "long-param",
        "huge-exponent",
        "deep-subckt-nesting",
        "deep-instance-chain",
    ],
)
def test_pathological_inputs(text: str) -> None:
    _read_within_time(text, check=True)


def test_subckt_definition_nesting_limit() -> None:
    text = (
        "t\n"
        + "".join(f".subckt s{i} p\n" for i in range(40))
        + "r1 p 0 1\n"
        + ".ends\n" * 40
        + "r0 a 0 1\n"
    )
    with pytest.raises(
        CircuitLearnError,
        match=r"<netlist>:34: subcircuit s32: .subckt definitions nested more than 32 deep",
    ):
        from_spice(text)
