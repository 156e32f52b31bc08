"""CLI contracts (docs/cli.md): JSON objects, exit codes 0/1/2, one-line errors, no tracebacks."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from circuitlearn.cli import main
from circuitlearn.solve import OperatingPoint

CONTRACT_KEYS = {
    "backend",
    "converged",
    "iterations",
    "strategy",
    "voltages",
    "currents",
    "max_residual",
}
BACKENDS = ["native", pytest.param("ngspice", marks=pytest.mark.ngspice)]

DIVIDER = """\
divider with a diode
V1 in 0 DC 1
R1 in out 1k
R2 out 0 1k
R3 out d 10k
D1 d 0 dmod
.model dmod d (is=1e-14)
.op
.end
"""


@pytest.fixture
def divider(tmp_path):
    path = tmp_path / "divider.cir"
    path.write_text(DIVIDER)
    return path


@pytest.fixture
def linear(tmp_path):
    path = tmp_path / "linear.cir"
    path.write_text("linear divider\nV1 in 0 DC 1\nR1 in out 1k\nR2 out 0 1k\n.end\n")
    return path


def _json_out(capsys) -> dict:
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.endswith("\n"), (
        f"expected one JSON line on stdout; got {out!r}"
    )
    payload = json.loads(out)
    assert isinstance(payload, dict)
    return payload


def _empty_op_keys() -> set[str]:
    op = OperatingPoint({}, {}, True, 0, "newton", 0.0, "converged", "native")
    return set(op.to_dict())


@pytest.mark.parametrize("backend", BACKENDS)
def test_simulate_json_contract(capsys, divider, backend):
    assert main(["simulate", str(divider), "--backend", backend, "--json"]) == 0
    payload = _json_out(capsys)
    assert set(payload) >= CONTRACT_KEYS
    assert set(payload) == _empty_op_keys(), (
        "simulate --json must be exactly OperatingPoint.to_dict()"
    )
    assert payload["backend"] == backend and payload["converged"] is True
    assert isinstance(payload["iterations"], int) and payload["iterations"] >= 1
    assert payload["strategy"] in {"newton", "gmin", "source"}
    assert set(payload["voltages"]) == {"in", "out", "d"}
    assert set(payload["currents"]) == {"v1"}
    assert payload["voltages"]["in"] == pytest.approx(1.0, abs=1e-12)
    # KCL at "out": the source delivers what R2 and the R3-D1 branch draw (ngspice sign: negative)
    v = payload["voltages"]
    drawn = v["out"] / 1e3 + (v["out"] - v["d"]) / 1e4
    assert -payload["currents"]["v1"] == pytest.approx(drawn, rel=1e-6)
    assert 0.3 < v["d"] < 0.5, "the diode conducts a few tens of µA"


@pytest.mark.parametrize("backend", BACKENDS)
def test_simulate_set_overrides_with_suffixes(capsys, linear, backend):
    assert (
        main(
            [
                "simulate",
                str(linear),
                "--backend",
                backend,
                "--set",
                "r2=3k",
                "--set",
                "V1=0.4",
                "--json",
            ]
        )
        == 0
    )
    payload = _json_out(capsys)
    assert payload["voltages"]["out"] == pytest.approx(0.3, rel=1e-9)
    assert payload["currents"]["v1"] == pytest.approx(-0.4 / 4e3, rel=1e-9)


def test_simulate_native_is_the_default_and_prints_a_table(capsys, linear):
    assert main(["simulate", str(linear)]) == 0
    out = capsys.readouterr().out
    assert "backend native: converged" in out
    assert "voltage [V]" in out and "current [A]" in out
    rows = {
        line.split()[0]: line.split()[1]
        for line in out.splitlines()
        if line.split()[:1] in (["out"], ["v1"])
    }
    assert float(rows["out"]) == pytest.approx(0.5) and float(rows["v1"]) == pytest.approx(-5e-4)


def test_simulate_elements_inside_subcircuits_can_be_set(capsys, tmp_path):
    path = tmp_path / "sub.cir"
    path.write_text(
        textwrap.dedent("""\
        subcircuit divider
        .subckt half a b
        R1 a b 1k
        .ends
        V1 in 0 1
        X1 in out half
        R2 out 0 1k
        .end
    """)
    )
    assert main(["simulate", str(path), "--set", "r.x1.r1=3k", "--json"]) == 0
    assert _json_out(capsys)["voltages"]["out"] == pytest.approx(0.25, rel=1e-9)
    assert main(["simulate", str(path), "--set", "r.x1.r1=0"]) == 2
    assert "sub.cir:3: --set r.x1.r1=0: resistor r.x1.r1" in capsys.readouterr().err


def _bad_netlist(tmp_path):
    path = tmp_path / "bad.cir"
    path.write_text("bad\nV1 in 0 1\nR1 in\n.end\n")
    return path


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (lambda d, t: ["simulate", str(t / "missing.cir")], "missing.cir: no such netlist file"),
        (lambda d, t: ["simulate", str(_bad_netlist(t))], "bad.cir:3:"),
        (lambda d, t: ["simulate", str(d), "--backend", "xyce"], "invalid choice: 'xyce'"),
        (lambda d, t: ["simulate", str(d), "--set", "r1"], "--set 'r1': expected NAME=VALUE"),
        (lambda d, t: ["simulate", str(d), "--set", "r1=fast"], "'fast' is not a number"),
        (lambda d, t: ["simulate", str(d), "--set", "r9=1k"], "no element named 'r9' in"),
        (
            lambda d, t: ["simulate", str(d), "--set", "r1=-1k"],
            "divider.cir:3: --set r1=-1000: resistor r1: resistance must be positive",
        ),
        (lambda d, t: ["simulate", str(d), "--set", "d1=0"], "diode d1: area must be positive"),
        (lambda d, t: ["simulate"], "required: NETLIST"),
        (lambda d, t: [], "choose a command"),
        (lambda d, t: ["frobnicate"], "invalid choice: 'frobnicate'"),
        (lambda d, t: ["demo", "--seed", "-1", "--out", str(t)], "--seed must be >= 0"),
    ],
)
def test_user_errors_exit_2_with_one_line(capsys, divider, tmp_path, argv, expected):
    assert main(argv(divider, tmp_path) + ["--json"] * bool(argv(divider, tmp_path))) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1, captured.err
    assert expected in captured.err
    assert "Traceback" not in captured.err


def test_json_mode_keeps_library_prints_off_stdout(capfd, linear, monkeypatch):
    import circuitlearn.cli as cli

    original = cli._run_simulate

    def noisy(args):
        print("chatter from a library")
        return original(args)

    monkeypatch.setattr(
        cli,
        "COMMANDS",
        [
            c if c.name != "simulate" else cli.Command(c.name, c.help, c.add_arguments, noisy)
            for c in cli.COMMANDS
        ],
    )
    assert main(["simulate", str(linear), "--json"]) == 0
    captured = capfd.readouterr()
    assert json.loads(captured.out)["converged"] is True
    assert "chatter from a library" in captured.err


def test_console_script_runs_in_a_subprocess(linear, tmp_path):
    exe = shutil.which("circuitlearn")
    assert exe, "the circuitlearn console script is not installed (pip install -e .)"
    done = subprocess.run(
        [exe, "simulate", str(linear), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert set(payload) >= CONTRACT_KEYS and payload["voltages"]["out"] == pytest.approx(0.5)
    bad = subprocess.run(
        [exe, "simulate", str(tmp_path / "nope.cir")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().count("\n") == 0 and "nope.cir: no such netlist file" in bad.stderr
    module = subprocess.run(
        [sys.executable, "-m", "circuitlearn", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert module.returncode == 0 and module.stdout.startswith("circuitlearn ")


def test_help_lists_the_commands(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("simulate", "demo", "bench"))


def _failed_op() -> OperatingPoint:
    return OperatingPoint(
        {"in": 1.0, "out": 0.1}, {"v1": -1e-4}, False, 100, "source", 3e-3,
        "gmin and source stepping both failed", "native", worst_node="out",
    )  # fmt: skip


def test_non_convergence_prints_the_result_and_exits_1(capsys, linear, monkeypatch):
    import circuitlearn.solve

    monkeypatch.setattr(circuitlearn.solve, "solve_dc", lambda circuit, **kw: _failed_op())
    assert main(["simulate", str(linear), "--json"]) == 1
    payload = _json_out(capsys)
    assert payload["converged"] is False and payload["strategy"] == "source"
    assert main(["simulate", str(linear)]) == 1
    out = capsys.readouterr().out
    assert "NOT converged" in out and "largest residual at node out" in out


def test_convergence_error_with_a_result_exits_1(capsys, linear, monkeypatch):
    import circuitlearn.solve
    from circuitlearn.errors import ConvergenceError

    def fail(circuit, **kw):
        raise ConvergenceError("no operating point", result=_failed_op())

    monkeypatch.setattr(circuitlearn.solve, "solve_dc", fail)
    assert main(["simulate", str(linear), "--json"]) == 1
    assert _json_out(capsys)["converged"] is False
