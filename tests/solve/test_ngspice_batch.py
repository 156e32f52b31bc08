"""ngspice's own batch runs: the example decks, raw files, refused netlists, missing ngspice."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import circuitlearn.solve.ngspice as ng
from circuitlearn.errors import BackendError
from circuitlearn.netlist import from_spice
from circuitlearn.solve.ngspice import ngspice_available, read_raw, run_ngspice_batch, solve_ngspice

pytestmark = pytest.mark.ngspice
needs_binary = pytest.mark.skipif(not ngspice_available("subprocess"), reason="no ngspice binary")
needs_library = pytest.mark.skipif(not ngspice_available("shared"), reason="no libngspice")

DECKS = sorted((Path(__file__).resolve().parents[2] / "netlists").glob("*.cir"))
DIVIDER = "divider\nv1 in 0 dc 1\nr1 in out 1k\nr2 out 0 3k\n"
REFUSED = "refused\nv1 a 0 dc 1\nd1 a 0 nomodel\n"


@needs_binary
@pytest.mark.parametrize("deck", DECKS, ids=[p.stem for p in DECKS])
def test_example_deck_reproduces_ngspice_op(deck):
    """solve_ngspice on the parsed deck, with the deck's own options (``spice_options="deck"``,
    ngspice's default tolerances), equals ``ngspice -b`` run on the file itself.

    The parsed circuit is written back by ``to_spice``, a different text than the file; ngspice's
    answer may move by ~1e-6 relative with such rewrites at default tolerances (docs/ngspice.md), so
    that is the tolerance (measured agreement on the nine decks of 2026-11: ≤ 3e-15).
    """
    # ngspice reads .include/.lib files relative to the deck, which runs elsewhere: make them
    # absolute
    text = re.sub(
        r"(?im)^(\.(?:include|inc|lib)\s+)(\S+)",
        lambda m: m[1] + str(deck.parent / m[2]),
        deck.read_text(),
    )
    run = run_ngspice_batch(text)
    assert run.returncode == 0, run.tail()
    assert run.plots and run.plots[0].data.shape[0] == 1, (
        f"{deck.name}: ngspice wrote no .op vectors"
    )
    reference = run.plots[0].as_dict()
    op = solve_ngspice(from_spice(deck), options={"spice_options": "deck"})
    assert op.converged, op.message
    voltages = {k[2:-1]: v for k, v in reference.items() if k.startswith("v(")}
    currents = {  # inductor branch currents are not OperatingPoint.currents
        k[2:-1]: v for k, v in reference.items() if k.startswith("i(") and not k.startswith("i(l")
    }
    assert set(op.voltages) == set(voltages)
    assert set(currents) <= set(op.currents)
    for node, value in voltages.items():
        assert op.voltages[node] == pytest.approx(value, rel=1e-6, abs=1e-9), node
    for name, value in currents.items():
        assert op.currents[name] == pytest.approx(value, rel=1e-6, abs=1e-12), name


def test_deck_catalogue_is_not_empty():
    assert DECKS, "netlists/*.cir is empty: the deck test above would check nothing"


@needs_binary
def test_batch_run_of_a_divider():
    run = run_ngspice_batch(DIVIDER + ".op\n.end\n")
    assert run.returncode == 0
    assert run.plots[0].plotname == "Operating Point"
    assert run.plots[0].as_dict() == pytest.approx(
        {"v(in)": 1.0, "v(out)": 0.75, "i(v1)": -2.5e-4}, rel=1e-12
    )


@needs_binary
def test_batch_run_of_a_refused_netlist():
    run = run_ngspice_batch(REFUSED + ".op\n.end\n")
    assert run.returncode == 1 and not run.plots
    assert "could not find a valid modelname" in run.log


@needs_binary
def test_ascii_and_binary_raw_files_agree():
    def deck(filetype: str) -> str:
        return (
            DIVIDER + "d1 out 0 dm\n.model dm d (rs=10)\n.control\n"
            f"set filetype={filetype}\nop\nwrite out.raw\nquit\n.endc\n.end\n"
        )

    binary, ascii_ = run_ngspice_batch(deck("binary")), run_ngspice_batch(deck("ascii"))
    a, b = binary.plots[0], ascii_.plots[0]
    assert a.names == b.names == ["v(in)", "v(out)", "i(v1)"]
    assert a.data.ravel().tolist() == pytest.approx(b.data.ravel().tolist(), rel=1e-15)


def test_read_raw_several_plots_and_complex():
    real = (
        b"Title: t\nPlotname: Operating Point\nFlags: real\nNo. Variables: 1\nNo. Points: 1\n"
        b"Variables:\n\t0\tv(a)\tvoltage\nValues:\n 0\t2.5e+00\n"
    )
    cplx = (
        b"Title: t\nPlotname: AC Analysis\nFlags: complex\nNo. Variables: 2\nNo. Points: 2\n"
        b"Variables:\n\t0\tfrequency\tfrequency\n\t1\tv(b)\tvoltage\nValues:\n"
        b" 0\t1.0e+00,0.0e+00\n\t1.0e+00,-2.0e+00\n 1\t1.0e+01,0.0e+00\n\t3.0e+00,4.0e+00\n"
    )
    plots = read_raw(real + cplx)
    assert [p.plotname for p in plots] == ["Operating Point", "AC Analysis"]
    assert plots[0].as_dict() == {"v(a)": 2.5}
    assert plots[1].data[:, 1].tolist() == [1 - 2j, 3 + 4j]


def test_read_raw_rejects_truncated_files(tmp_path):
    path = tmp_path / "bad.raw"
    path.write_bytes(b"Title: t\nNo. Points: 1\nVariables:\n")
    with pytest.raises(
        BackendError, match=r"bad\.raw: raw header lacks a valid 'no. variables' line"
    ):
        read_raw(path)
    path.write_bytes(b"Title: t\nPlotname: x\n")
    with pytest.raises(BackendError, match="ends inside its header"):
        read_raw(path)


@needs_library
def test_shared_library_refuses_a_bad_netlist_and_stays_usable():
    engine = ng._engine(required=True)
    with pytest.raises(
        BackendError, match=r"ngspice refused the netlist: .*could not find a valid modelname"
    ) as info:
        engine.load(REFUSED + ".end", owner=None)
    assert "nomodel" in info.value.log
    assert solve_ngspice(from_spice(DIVIDER + ".op\n.end\n"), mode="shared").voltages[
        "out"
    ] == pytest.approx(0.75)


@needs_binary
def test_subprocess_mode_refuses_a_bad_netlist():
    with pytest.raises(BackendError, match=r"ngspice refused the netlist \(exit code 1\)") as info:
        ng._run_subprocess(REFUSED + ".end")
    assert "nomodel" in info.value.log


def test_missing_ngspice_says_how_to_install(monkeypatch):
    def no_engine(*, required):
        if required:
            raise BackendError("no library")
        return None

    monkeypatch.setattr(ng, "_engine", no_engine)
    monkeypatch.setattr(ng, "find_ngspice_binary", lambda: None)
    assert not ngspice_available()
    with pytest.raises(BackendError, match=r"apt-get install ngspice libngspice0"):
        solve_ngspice(from_spice(DIVIDER + ".op\n.end\n"))


def test_library_path_is_detected(monkeypatch):
    monkeypatch.setenv("NGSPICE_LIBRARY_PATH", "/opt/lib/libngspice.so.0")
    assert ng._library_path() == "/opt/lib/libngspice.so.0"
    monkeypatch.delenv("NGSPICE_LIBRARY_PATH")
    monkeypatch.setattr(ng.ctypes.util, "find_library", lambda name: None)
    with pytest.raises(BackendError, match="libngspice was not found"):
        ng._library_path()


def test_subprocess_mode_without_the_executable(monkeypatch):
    monkeypatch.setattr(ng, "find_ngspice_binary", lambda: None)
    monkeypatch.setattr("circuitlearn.solve._ngspice_raw.find_ngspice_binary", lambda: None)
    with pytest.raises(BackendError, match=r"executable was not found on PATH; install ngspice"):
        solve_ngspice(from_spice(DIVIDER + ".op\n.end\n"), mode="subprocess")
