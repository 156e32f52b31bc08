"""``simulate --backend ngspice``: agreement with native, ``--spice-options``, ngspice's errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import circuitlearn.solve.ngspice as ng
from circuitlearn.cli import main
from circuitlearn.solve.ngspice import BatchRun

pytestmark = pytest.mark.ngspice

DECKS = sorted((Path(__file__).resolve().parents[2] / "netlists").glob("*.cir"))


def _table(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, float]:
    """The printed node and source values of one ``simulate`` run."""
    assert main(["simulate", *args]) == 0
    lines = capsys.readouterr().out.splitlines()[2:]
    rows = [line.split() for line in lines if len(line.split()) == 2]
    return {name: float(value) for name, value in rows if name not in ("node", "source")}


@pytest.mark.parametrize("deck", DECKS, ids=[p.stem for p in DECKS])
def test_simulate_backends_agree_to_the_printed_digits(
    capsys: pytest.CaptureFixture[str], deck: Path
) -> None:
    native = _table(capsys, str(deck))
    spice = _table(capsys, str(deck), "--backend", "ngspice")
    assert spice.keys() == native.keys()
    for name, value in native.items():
        assert spice[name] == pytest.approx(value, rel=1e-6, abs=1e-12), name


def test_spice_options_deck_keeps_ngspice_tolerances(capsys: pytest.CaptureFixture[str]) -> None:
    deck = str(next(p for p in DECKS if p.stem == "hard_diode_string"))
    args = ["simulate", deck, "--backend", "ngspice", "--spice-options", "deck", "--json"]
    assert main(args) == 0
    z = json.loads(capsys.readouterr().out)["voltages"]["z"]
    native = _table(capsys, deck)["z"]
    assert abs(z / native - 1) > 1e-5  # ngspice's reltol = 1e-3 on the zener
    assert main(["simulate", deck, "--spice-options", "deck"]) == 2
    assert capsys.readouterr().err == (
        "circuitlearn simulate: --spice-options applies to --backend ngspice only\n"
    )


def test_ngspice_refusal_is_one_line_quoting_ngspice(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    log = (
        "Circuit: x\nError on line 3 or its substitute:\n  r1 a 0 -5\n"
        "resistance must be positive\nNote: more\n"
    )
    monkeypatch.setattr(ng, "_engine", lambda *, required: None)  # subprocess mode
    monkeypatch.setattr(ng, "run_batch", lambda *args, **kwargs: BatchRun(1, log, []))
    deck = str(next(p for p in DECKS if p.stem == "resistor_network"))
    assert main(["simulate", deck, "--backend", "ngspice"]) == 2
    assert capsys.readouterr().err == (
        "circuitlearn simulate: ngspice refused the netlist (exit code 1): 'Error on line 3 or "
        "its substitute: r1 a 0 -5 resistance must be positive'\n"
    )
