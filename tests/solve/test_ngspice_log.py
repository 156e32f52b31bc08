"""Reading ngspice logs and validating options (pure functions: no ngspice needed).

The log snippets are copied from ngspice 39 runs (see tests/solve/test_ngspice.py for the
circuits that produce them).
"""

from __future__ import annotations

import math

import pytest

from circuitlearn.circuit import Circuit, Resistor, VoltageSource
from circuitlearn.errors import BackendError, CircuitError
from circuitlearn.solve._ngspice_log import (
    NGSPICE_OPTIONS,
    Layout,
    assemble,
    load_errors,
    parse_log,
    quote_errors,
    validate_options,
)

DYNAMIC_GMIN = """Note: No compatibility mode selected!
Doing analysis at TEMP = 27.000000 and TNOM = 27.000000
Note: Starting dynamic gmin stepping
Trying gmin =   1.0000E-03 Note: One successful gmin step
Trying gmin =   1.0000E-04 Warning: Further gmin increment
Trying gmin =   3.1623E-04 Note: One successful gmin step
Trying gmin =   1.0000E-12 Note: One successful gmin step
Note: Dynamic gmin stepping completed
No. of Data Rows : 1"""

GMIN_FAILS_SOURCE_WORKS = """Note: Starting dynamic gmin stepping
Trying gmin =   1.0000E-03 Warning: Further gmin increment
Trying gmin =   9.9996E-03 Warning: Last gmin step failed
Warning: Dynamic gmin stepping failed
Note: Starting true gmin stepping
Trying gmin =   1.0000E-03 Warning: Last gmin step failed
Warning: True gmin stepping failed
Note: Starting source stepping
Supplies reduced to   0.0000% Note: One successful source step
Supplies reduced to  87.4788% Supplies reduced to  58.2859% Note: One successful source step
Supplies reduced to 100.0000% Note: One successful source step
Note: Source stepping completed"""

SINGULAR_OPTRAN = """Warning: singular matrix:  check node b
Note: Starting dynamic gmin stepping
Trying gmin =   1.0000E-03 Note: One successful gmin step
Warning: singular matrix:  check node b
Warning: Dynamic gmin stepping failed
Note: Starting source stepping
Supplies reduced to   0.0000% Warning: source stepping failed
Note: Transient op started
Note: Transient op finished successfully"""

NO_SOLUTION = """Note: Starting source stepping
Supplies reduced to  71.3399% Note: One successful source step
Supplies reduced to  71.3400% Supplies reduced to  71.3399% Note: One successful source step
Warning: source stepping failed
Note: Transient op started
Error: Transient op failed, timestep too small
DC solution failed -
doAnalyses: OP:  Timestep too small; trouble with dm-instance d1
op simulation(s) aborted"""


def test_plain_newton_with_notes_only():
    summary = parse_log("Note: No compatibility mode selected!\nNo. of Data Rows : 1", iterations=7)
    assert summary.strategy == "newton" and summary.failure is None and summary.warnings == []
    assert [(s.rung, s.iterations, s.converged) for s in summary.homotopy] == [("newton", 7, True)]


def test_dynamic_gmin_steps():
    summary = parse_log(DYNAMIC_GMIN, iterations=40)
    assert summary.strategy == "gmin"
    assert [(s.rung, s.value, s.converged) for s in summary.homotopy] == [
        ("newton", 0.0, False),
        ("gmin", 1e-3, True),
        ("gmin", 1e-4, False),
        ("gmin", 3.1623e-4, True),
        ("gmin", 1e-12, True),
    ]
    assert summary.warnings == []  # "Further gmin increment" is stepping progress, not a warning


def test_source_stepping_after_failed_gmin():
    summary = parse_log(GMIN_FAILS_SOURCE_WORKS)
    assert summary.strategy == "source"
    sources = [s for s in summary.homotopy if s.rung == "source"]
    assert [s.value for s in sources] == pytest.approx([0.0, 0.874788, 0.582859, 1.0], rel=1e-15)
    assert [s.converged for s in sources] == [True, False, True, True]
    assert not any(s.converged for s in summary.homotopy if s.rung == "gmin")


def test_spice3_stepping_messages():
    log = (
        "Note: Starting spice3 gmin stepping\n"
        "Trying gmin =   1.0000E-02 Note: One successful gmin step\n"
        "Note: spice3 gmin stepping completed"
    )
    assert parse_log(log).strategy == "gmin"
    log = (
        "Note: Starting source stepping\nNote: One successful source step\n"
        "Note: Source stepping completed"
    )
    summary = parse_log(log, newton_tried=False)
    assert summary.strategy == "source"
    assert len(summary.homotopy) == 1 and math.isnan(summary.homotopy[0].value)


def test_singular_matrix_and_transient_op():
    summary = parse_log(SINGULAR_OPTRAN)
    assert summary.strategy == "optran" and summary.singular == "b" and summary.failure is None
    assert parse_log("Warning: singular matrix:  check node e1#branch").singular == "e1#branch"


def test_failure_names_the_device():
    summary = parse_log(NO_SOLUTION)
    assert summary.strategy == "" and summary.failure == "timestep too small (trouble with d1)"


def test_other_warnings_are_kept():
    log = (
        "Warning: nm: effective channel length less than zero\n"
        "Note: No compatibility mode selected!"
    )
    summary = parse_log(log)
    assert summary.strategy == "newton"
    assert summary.warnings == ["nm: effective channel length less than zero"]


def test_load_errors_skip_title_notes_and_warnings():
    log = (
        "Circuit: error budget\nNote: No compatibility mode selected!\n"
        "warning, can't find model 'qq' from line\nWarning: something"
    )
    assert load_errors(log) == []
    assert load_errors("Error: unknown subckt: x1 a b nosuch") == [
        "Error: unknown subckt: x1 a b nosuch"
    ]


def _flat() -> Circuit:
    c = Circuit("t")
    c.extend([VoltageSource("v1", "a", "0", 1.0), Resistor("r1", "a", "0", 1e3)])
    return c


def test_assemble_trusts_a_singular_warning_only_when_stepping_failed():
    values = {"a": 1.0, "v1#branch": -1e-3}
    recovered = SINGULAR_OPTRAN.replace(
        "Note: Transient op finished successfully", "Note: Source stepping completed"
    )
    ok = assemble(Layout.of(_flat()), values, recovered, 12, newton_tried=True)
    assert ok.converged and ok.strategy == "source" and ok.worst_node is None
    bad = assemble(Layout.of(_flat()), values, SINGULAR_OPTRAN, 12, newton_tried=True)
    assert not bad.converged and bad.worst_node == "b" and bad.strategy == "optran"


def test_assemble_without_data_or_reason_is_a_backend_error():
    with pytest.raises(
        BackendError,
        match=r"no operating point \(no value for node a\) and no failure; "
        r"ngspice said: 'Note: something'$",
    ):
        assemble(Layout.of(_flat()), {}, "Note: something", 0, newton_tried=True)


def test_errors_are_quoted_with_their_explanation():
    log = (
        "Note: No compatibility mode selected!\nCircuit: t\n"
        "Error: bad type given for option reltol --\n"
        "type given was string, type expected was real.\n\nError: second\nWarning: w\n"
    )
    assert load_errors(log) == [
        "Error: bad type given for option reltol type given was string, type expected was real.",
        "Error: second",
    ]
    assert quote_errors(log, count=1) == (
        "'Error: bad type given for option reltol type given was string, type expected was real.'"
    )
    assert quote_errors("Circuit: t\nlast words\n\n") == "'last words'"


def test_validate_options():
    assert validate_options(None) == {}
    assert validate_options({"ReltoL": 1e-6, "itl1": 500, "noopiter": False, "temp": -40}) == {
        "reltol": 1e-6,
        "itl1": 500.0,
        "temp": -40.0,
    }
    with pytest.raises(
        CircuitError,
        match="unknown option 'bogus'; valid options: " + ", ".join(sorted(NGSPICE_OPTIONS)),
    ):
        validate_options({"bogus": 1})
    with pytest.raises(CircuitError, match="gminsteps must be an integer >= 0"):
        validate_options({"gminsteps": -1})
    with pytest.raises(CircuitError, match="gmin must be a number >= 0"):
        validate_options({"gmin": -1e-12})
