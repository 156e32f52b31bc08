"""LearningTask, trainable globs and costs: values, gradients and every user-facing error."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from learn_circuits import random_task, relative_error

from circuitlearn.circuit import Circuit, Model, Mosfet, Resistor, VoltageSource
from circuitlearn.errors import CircuitError
from circuitlearn.learn import (
    CrossEntropy,
    LearningTask,
    MeanSquaredError,
    make_cost,
    make_estimator,
)
from circuitlearn.learn.task import resolve_trainable


def divider() -> Circuit:
    c = Circuit("divider")
    c.add(VoltageSource("v1", "a", "0", 1.0))
    c.add(Resistor("R1", "a", "b", 1e3))
    c.add(Resistor("r2", "b", "0", 3e3))
    c.add(Resistor("rload", "b", "0", 1e4))
    return c


def test_globs_are_case_insensitive_and_keep_circuit_order() -> None:
    c = divider()
    assert resolve_trainable(c, ["R2", "r1"]) == ["r1", "r2"]
    assert resolve_trainable(c, "R*") == ["r1", "r2", "rload"]
    assert resolve_trainable(c, ["rl*", "r?"]) == ["r1", "r2", "rload"]


@pytest.mark.parametrize(
    ("patterns", "match"),
    [
        (["x*"], r"'x\*' matches no resistor; the circuit's resistors are r1, r2, rload"),
        (["v1"], "'v1' matches no resistor"),
        ([], "expected at least one resistor name or glob"),
    ],
)
def test_unknown_globs_are_errors(patterns: list[str], match: str) -> None:
    with pytest.raises(CircuitError, match=match):
        resolve_trainable(divider(), patterns)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"outputs": {"zz": 0.1}}, "output node 'zz' is not a node of the circuit"),
        ({"outputs": {"a": 0.1}}, "output node 'a' is fixed by voltage source v1"),
        ({"outputs": {"0": 0.1}}, "output node '0' is not a node"),
        ({"outputs": {}}, "expected at least one output node"),
        ({"outputs": ["b"], "targets": [0.1, 0.2]}, "1 output nodes need as many targets; got 2"),
        ({"outputs": ["b", "b"], "targets": [0.1, 0.2]}, "duplicate output nodes"),
        ({"outputs": {"b": 0.1}, "targets": [0.1]}, "either in the outputs mapping or as targets"),
        ({"outputs": {"b": 0.1}, "inputs": {"v9": 1.0}}, "input source 'v9' is not in the circuit"),
        (
            {"outputs": {"b": 0.1}, "cost": "hinge"},
            "unknown cost 'hinge'; expected one of mse, cross_entropy",
        ),
    ],
)
def test_task_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(CircuitError, match=match):
        LearningTask(divider(), "r?", **kwargs)


def test_task_rejects_non_circuits() -> None:
    with pytest.raises(CircuitError, match="expected a Circuit; got str"):
        LearningTask("divider.cir", "r*", {"b": 0.1})  # type: ignore[arg-type]


def test_task_values_inputs_and_copy() -> None:
    c = divider()
    task = LearningTask(c, "r?", ["b"], [0.5], inputs={"V1": 2.0})
    assert task.parameters == pytest.approx({"r1": 1e-3, "r2": 1.0 / 3e3})
    v_b = 2.0 * (1 / 1e3) / (1 / 1e3 + 1 / 3e3 + 1 / 1e4)
    op = task.solve()
    assert task.output_voltages(op) == pytest.approx([v_b])
    assert task.cost_of(op) == pytest.approx(0.5 * (v_b - 0.5) ** 2)
    assert task.drops(op) == pytest.approx([2.0 - v_b, v_b])
    assert c["v1"].dc == 1.0  # the caller's circuit is not changed
    other = task.with_conductances({"r1": 2e-3})
    assert other.parameters["r1"] == pytest.approx(2e-3) and task.parameters["r1"] == pytest.approx(
        1e-3
    )
    assert other.solve().voltage("b") > op.voltage("b")
    assert "\n" not in repr(task)


def test_mse_and_cross_entropy_gradients_match_differences() -> None:
    rng = np.random.default_rng(0)
    v, y = rng.normal(size=4) * 0.2, np.array([0.0, 1.0, 0.0, 0.0])
    for cost in (MeanSquaredError(), CrossEntropy(0.05), make_cost("ce")):
        g = cost.gradient(v, y)
        h = 1e-6
        numeric = [
            (cost.value(v + h * e, y) - cost.value(v - h * e, y)) / (2 * h) for e in np.eye(4)
        ]
        assert g == pytest.approx(numeric, rel=1e-6, abs=1e-8)
    assert repr(CrossEntropy(0.05)) == "CrossEntropy(temperature=0.05)"


def test_cross_entropy_temperature_must_be_positive() -> None:
    with pytest.raises(CircuitError, match="temperature must be a positive number of volts"):
        CrossEntropy(0.0)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_gradient_descent_step_lowers_the_cost(seed: int) -> None:
    task = random_task(seed, 5, nonreciprocal=True)
    grad = make_estimator("aep").compute_gradient(task)
    g = grad.vector
    step = 1e-3 * np.linalg.norm(task.conductances) / np.linalg.norm(g)
    new = np.maximum(task.conductances - step * g, 1e-9)
    assert task.with_conductances(new).cost_of(task.with_conductances(new).solve()) < grad.cost


def test_twin_and_aep_make_mosfet_series_resistances_explicit() -> None:
    """RD and RS (divided by m) become explicit resistors in the twin and AEP phases: Dyadic EP
    equals the exact gradient (measured 1e-16), AEP's centred error falls as β² (measured
    2.6e-8 at the default β, 2.7e-4 at 1e-5 S, 2.7e-6 at 1e-6 S), both against finite
    differences too (5e-9 from exact)."""
    c = Circuit("mos rd")
    c.add_model(Model("nrd", "nmos", {"vto": 0.7, "kp": 1e-4, "rd": 10.0, "rs": 30.0}))
    c.add(VoltageSource("vdd", "vdd", "0", 5.0))
    c.add(VoltageSource("vg", "g", "0", 2.0))
    c.add(Resistor("rd", "vdd", "d", 1e4))
    c.add(Resistor("rg", "g", "gg", 1e3))
    c.add(Resistor("rgs", "gg", "0", 1e4))
    c.add(Mosfet("m1", "d", "gg", "0", "0", "nrd", params={"m": 2.0}))
    task = LearningTask(c, "r*", {"d": 1.0})
    exact = make_estimator("exact").compute_gradient(task).vector
    fd = make_estimator("fd").compute_gradient(task).vector
    assert relative_error(fd, exact) <= 1e-7
    assert relative_error(make_estimator("dyadic").compute_gradient(task).vector, exact) <= 1e-10
    assert relative_error(make_estimator("aep").compute_gradient(task).vector, fd) <= 1e-6
    betas = (1e-5, 1e-6)
    errors = [
        relative_error(make_estimator("aep", beta=b).compute_gradient(task).vector, exact)
        for b in betas
    ]
    slope = np.log(errors[0] / errors[1]) / np.log(betas[0] / betas[1])
    assert abs(slope - 2.0) < 0.1, (errors, slope)


def test_with_conductances_reuses_the_compiled_system_without_touching_the_old_one() -> None:
    task = random_task(5, 6, nonreciprocal=True, diodes=True)
    free = task.solve()
    make_estimator("aep").compute_gradient(task, free=free)  # compiles and caches the phases
    g = task.conductances * np.linspace(0.8, 1.2, len(task.trainable))
    moved = task.with_conductances(g)
    fresh = LearningTask(
        moved.circuit, task.trainable, dict(zip(task.outputs, task.targets, strict=True))
    )
    assert moved.solve().voltages == pytest.approx(fresh.solve().voltages, rel=1e-12, abs=1e-15)
    assert make_estimator("aep").compute_gradient(moved).vector == pytest.approx(
        make_estimator("exact").compute_gradient(fresh).vector, rel=1e-5
    )
    assert task.solve().voltages == pytest.approx(free.voltages, rel=1e-12, abs=1e-15)
    with pytest.raises(CircuitError, match="'vin' is not a trainable resistor"):
        task.with_conductances({"vin": 1e-3})
    with pytest.raises(CircuitError, match=r"expected \d+ conductances"):
        task.with_conductances(np.ones(2))
