"""Applicability of the conservation law: every structural reason, named."""

from __future__ import annotations

import pytest

from circuitlearn.circuit import (
    CCCS,
    VCCS,
    VCVS,
    Circuit,
    CurrentSource,
    Diode,
    Model,
    Mosfet,
    Resistor,
    VoltageSource,
)
from circuitlearn.diagnostics.applicability import analyze_applicability
from circuitlearn.errors import CircuitError


def _ladder(*extra: object) -> Circuit:
    c = Circuit("ladder")
    for element in (
        VoltageSource("v1", "in", "0", 1.0),
        Resistor("r1", "in", "a", 1e3),
        Resistor("r2", "a", "0", 2e3),
        Resistor("r3", "a", "out", 3e3),
        Resistor("r4", "out", "0", 4e3),
        *extra,
    ):
        c.add(element)
    return c


def test_linear_voltage_driven_all_trainable_applies() -> None:
    verdict = analyze_applicability(_ladder(), ["R*"])
    assert verdict.applicable and verdict.linear and verdict.reasons == ()
    assert verdict.trainable == ("r1", "r2", "r3", "r4")
    assert verdict.to_dict()["applicable"] is True


def test_zero_current_nudging_source_is_harmless() -> None:
    assert analyze_applicability(
        _ladder(CurrentSource("inudge", "0", "out", 0.0)), ["r*"]
    ).applicable


@pytest.mark.parametrize(
    ("extra", "trainable", "pattern"),
    [
        ((CurrentSource("i1", "0", "a", 1e-3),), ["r*"], r"current source\(s\) i1 drive"),
        ((), ["r1", "r2", "r3"], r"fixed \(non-trainable\) resistor\(s\) r4"),
        ((Diode("d1", "a", "0", "dmod"),), ["r*"], r"diode\(s\) d1"),
        ((Mosfet("m1", "out", "a", "0", "0", "nmod"),), ["r*"], r"transistor\(s\) m1"),
        (
            (VCCS("g1", "out", "0", "a", "0", 1e-3),),
            ["r*"],
            r"controlled source\(s\) g1 \(amplifiers\)",
        ),
    ],
)
def test_each_breaking_element_is_named(extra: tuple, trainable: list[str], pattern: str) -> None:
    circuit = _ladder(*extra)
    circuit.add_model(Model("dmod", "d", {}))
    circuit.add_model(Model("nmod", "nmos", {}))
    verdict = analyze_applicability(circuit, trainable)
    assert not verdict.applicable
    assert any(__import__("re").search(pattern, r) for r in verdict.reasons), verdict.reasons
    assert verdict.linear == (not any(isinstance(e, (Diode, Mosfet)) for e in extra))


def test_scale_free_nonreciprocal_elements_break_only_ep_and_cl() -> None:
    circuit = _ladder(VCVS("e1", "b", "0", "a", "0", 2.0), Resistor("r5", "b", "out", 1e3))
    assert analyze_applicability(circuit, ["r*"], method="exact").applicable
    assert analyze_applicability(circuit, ["r*"], method="aep").applicable
    for method in ("ep", "cl"):
        verdict = analyze_applicability(circuit, ["r*"], method=method)
        assert not verdict.applicable
        assert "non-reciprocal circuit (e1)" in verdict.reasons[0]
    cccs = _ladder(
        VoltageSource("vs", "a", "m", 0.0),
        Resistor("r5", "m", "0", 1e3),
        CCCS("f1", "0", "out", "vs", 0.5),
    )
    assert analyze_applicability(cccs, ["r*"]).applicable


def test_task_settings_that_break_the_law() -> None:
    verdict = analyze_applicability(
        _ladder(), ["r*"], cost="current_mse", optimizer="adam", floor=2.5e-4
    )
    text = " | ".join(verdict.reasons)
    assert "cost 'current_mse' is not a function of node voltages" in text
    assert "optimizer 'adam' is not plain gradient descent" in text
    assert "conductance(s) of r4 at the floor" in text
    assert len(verdict.reasons) == 3


def test_every_reason_is_listed() -> None:
    circuit = _ladder(CurrentSource("i1", "0", "a", 1e-3), Diode("d1", "a", "0", "dmod"))
    circuit.add_model(Model("dmod", "d", {}))
    verdict = analyze_applicability(circuit, ["r1"], optimizer="momentum")
    assert len(verdict.reasons) == 4


def test_euler_residual_reported_and_checked() -> None:
    k = {"r1": 1e-3, "r2": 5e-4, "r3": 1 / 3e3, "r4": 2.5e-4}
    orthogonal = {"r1": 1.0, "r2": -2.0, "r3": 0.0, "r4": 0.0}
    verdict = analyze_applicability(_ladder(), ["r*"], gradient=orthogonal)
    assert verdict.applicable and abs(verdict.euler_residual) < 1e-12
    skewed = dict(k)
    verdict = analyze_applicability(_ladder(), ["r*"], gradient=skewed)
    assert not verdict.applicable and verdict.euler_residual == pytest.approx(1.0)
    assert "Euler residual" in verdict.reasons[0]


def test_errors_name_the_culprit() -> None:
    with pytest.raises(CircuitError, match="'x\\*' matches no resistor"):
        analyze_applicability(_ladder(), ["x*"])
    with pytest.raises(CircuitError, match="expected at least one resistor name"):
        analyze_applicability(_ladder(), [])
    with pytest.raises(CircuitError, match=r"gradient lacks trainable resistor.*r4"):
        analyze_applicability(_ladder(), ["r*"], gradient={"r1": 0.0, "r2": 0.0, "r3": 0.0})
