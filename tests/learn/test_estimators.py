"""Gradient estimators against the exact (adjoint) gradient: decks and random circuits."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import NETLIST_DIR
from hypothesis import given, settings
from hypothesis import strategies as st
from learn_circuits import mos_feedback_circuit, random_task, relative_error

from circuitlearn.circuit import (
    CCVS,
    VCCS,
    Circuit,
    CurrentSource,
    Diode,
    Mosfet,
    Resistor,
    VoltageSource,
)
from circuitlearn.errors import CircuitError
from circuitlearn.learn import (
    AsymmetricEP,
    CoupledLearning,
    DyadicEP,
    EquilibriumProp,
    LearningTask,
    default_beta,
    make_estimator,
)
from circuitlearn.learn.estimators import (
    BETA_FRACTION,
    LINEAR_BETA_FRACTION,
    NUDGE_VOLTAGE,
    nudge_sensitivity,
    output_resistance,
)
from circuitlearn.netlist import from_spice

RECIPROCAL = {
    "diode_ladder": ("r*", {"n3": 0.3, "n5": 0.1}),
    "kendall_layered": ("r*", {"o1": 0.1, "o2": -0.1}),
    "resistor_network": ("r*", {"a": 2.0, "b": 1.0}),
}
NONRECIPROCAL = {
    "vcvs_amplifier": ("r*", {"inn": 0.05}),
    "vccs_mesh": ("r*", {"n22": 0.1, "n23": 0.05}),
    "controlled_fh": ("r*", {"c": 1.0, "b": 0.3}),
}
NMOS = {"nmos_stage": ("r*", {"d": 1.0})}


def deck_task(name: str, spec: tuple) -> LearningTask:
    return LearningTask(from_spice(NETLIST_DIR / f"{name}.cir"), spec[0], spec[1])


def gradient(method: str, task: LearningTask, **kw: object) -> np.ndarray:
    return make_estimator(method, **kw).compute_gradient(task).vector


@pytest.mark.parametrize("name", sorted({**RECIPROCAL, **NONRECIPROCAL, **NMOS}))
def test_exact_equals_finite_differences_on_decks(name: str) -> None:
    spec = {**RECIPROCAL, **NONRECIPROCAL, **NMOS}[name]
    task = deck_task(name, spec)
    assert relative_error(gradient("fd", task), gradient("exact", task)) <= 1e-6


@pytest.mark.parametrize("name", sorted({**RECIPROCAL, **NMOS}))
@pytest.mark.parametrize("method", ["ep", "aep", "dyadic"])
def test_reciprocal_decks_ep_aep_dyadic_are_exact(name: str, method: str) -> None:
    task = deck_task(name, {**RECIPROCAL, **NMOS}[name])
    assert relative_error(gradient(method, task), gradient("exact", task)) <= 1e-5


@pytest.mark.parametrize("name", sorted(NONRECIPROCAL))
def test_nonreciprocal_decks_aep_dyadic_exact_ep_biased(name: str) -> None:
    task = deck_task(name, NONRECIPROCAL[name])
    exact = gradient("exact", task)
    assert relative_error(gradient("aep", task), exact) <= 1e-5
    assert relative_error(gradient("dyadic", task), exact) <= 1e-5
    assert relative_error(gradient("ep", task), exact) > 0.1


def test_ep_feedforward_hidden_parameters_get_zero_update() -> None:
    # controlled_fh: r1, r2 reach output c only through F1: EP sees nothing there.
    task = deck_task("controlled_fh", ("r*", {"c": 1.0}))
    ep, exact = gradient("ep", task), gradient("exact", task)
    assert np.allclose(ep[:2], 0.0, atol=1e-9 * np.abs(exact).max())
    assert np.all(np.abs(exact[:2]) > 100.0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), diodes=st.booleans())
def test_random_circuits_exact_fd_and_reciprocal_rules(seed: int, diodes: bool) -> None:
    task = random_task(seed, 6, diodes=diodes)
    exact = gradient("exact", task)
    assert relative_error(gradient("fd", task), exact) <= 1e-6
    for method in ("ep", "aep", "dyadic"):
        assert relative_error(gradient(method, task), exact) <= 1e-5, method


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), diodes=st.booleans(), mosfets=st.booleans())
def test_random_nonreciprocal_circuits_aep_and_dyadic_exact(
    seed: int, diodes: bool, mosfets: bool
) -> None:
    task = random_task(seed, 6, nonreciprocal=True, diodes=diodes, mosfets=mosfets)
    exact = gradient("exact", task)
    assert relative_error(gradient("fd", task), exact) <= 1e-6
    assert relative_error(gradient("aep", task), exact) <= 1e-5
    assert relative_error(gradient("dyadic", task), exact) <= 1e-5


def test_mosfet_stages_aep_and_dyadic_exact_ep_biased() -> None:
    task = LearningTask(mos_feedback_circuit(), "r*", {"o": 2.0, "s": 0.2})
    exact = gradient("exact", task)
    beta = 1e-6 * float(np.mean(task.conductances))  # high-gain stage: smaller than the default
    assert relative_error(gradient("fd", task), exact) <= 1e-6
    assert relative_error(gradient("aep", task, beta=beta), exact) <= 1e-5
    assert relative_error(gradient("dyadic", task), exact) <= 1e-9
    assert relative_error(gradient("ep", task, beta=beta), exact) > 0.5


def _slope(betas: np.ndarray, errors: np.ndarray) -> float:
    return float(np.polyfit(np.log(betas), np.log(errors), 1)[0])


@pytest.mark.parametrize(("method", "nonreciprocal"), [("ep", False), ("aep", True)])
def test_error_order_one_sided_beta_centred_beta_squared(method: str, nonreciprocal: bool) -> None:
    task = random_task(3, 6, diodes=True, nonreciprocal=nonreciprocal)
    exact = gradient("exact", task)
    g_mean = float(np.mean(task.conductances))
    betas = g_mean * np.array([3e-2, 1e-2, 3e-3, 1e-3])
    one = [relative_error(gradient(method, task, beta=b, variant="positive"), exact) for b in betas]
    neg = [relative_error(gradient(method, task, beta=b, variant="negative"), exact) for b in betas]
    two = [relative_error(gradient(method, task, beta=b), exact) for b in betas]
    assert _slope(betas, np.array(one)) == pytest.approx(1.0, abs=0.15)
    assert _slope(betas, np.array(neg)) == pytest.approx(1.0, abs=0.15)
    assert _slope(betas, np.array(two)) == pytest.approx(2.0, abs=0.2)


def test_linear_circuit_every_variant_exact_at_large_beta() -> None:
    task = random_task(5, 6)
    exact = gradient("exact", task)
    beta = float(np.mean(task.conductances))
    for variant in ("centered", "positive", "negative"):
        assert relative_error(gradient("ep", task, beta=beta, variant=variant), exact) <= 1e-9


def test_dyadic_exact_for_any_beta() -> None:
    task = random_task(11, 6, diodes=True, nonreciprocal=True)
    exact = gradient("exact", task)
    for beta in (1e-9, 1e-4, 10.0):
        assert relative_error(DyadicEP(beta).compute_gradient(task).vector, exact) <= 1e-9


def test_coupled_learning_matched_tends_to_exact_linearly_in_eta() -> None:
    task = deck_task("diode_ladder", RECIPROCAL["diode_ladder"])
    exact = gradient("exact", task)
    g_mean = float(np.mean(task.conductances))
    etas = g_mean * np.array([3e-2, 1e-2, 3e-3, 1e-3])
    errors = np.array(
        [relative_error(gradient("cl", task, beta=e, variant="positive"), exact) for e in etas]
    )
    assert np.all(np.diff(errors) < 0)
    assert _slope(etas, errors) == pytest.approx(1.0, abs=0.15)
    assert errors[-1] < 1e-2


def test_coupled_learning_relative_clamp_tends_to_output_conductance_weighted_gradient() -> None:
    task = random_task(4, 6)
    free = task.solve()
    g_out = np.linalg.inv(output_resistance(task, free))
    # Weighted gradient Σ_k (G_out c)_k dv_k/dG: adjoint with a weighted cost gradient.
    weighted = np.zeros(len(task.trainable))
    c = task.cost_gradient(free)
    for k in range(len(task.outputs)):
        unit = np.zeros(len(task.outputs))
        unit[k] = 1.0
        probe = LearningTask(
            task.circuit,
            task.trainable,
            dict(zip(task.outputs, task.output_voltages(free) - unit, strict=True)),
        )
        weighted += (g_out @ c)[k] * make_estimator("exact").compute_gradient(probe).vector
    estimate = CoupledLearning(1e-4, clamp="relative").compute_gradient(task).vector
    assert relative_error(estimate, weighted) <= 1e-6
    assert relative_error(estimate, gradient("exact", task)) > 1e-2


def test_default_beta_scales_with_the_circuit() -> None:
    task = random_task(1, 5, diodes=True)
    scaled = LearningTask(
        _scaled(task.circuit, 10.0), "r*", dict(zip(task.outputs, task.targets, strict=True))
    )
    assert default_beta(scaled) == pytest.approx(10.0 * default_beta(task))
    free = task.solve()
    bound = NUDGE_VOLTAGE / nudge_sensitivity(task, free)
    expected = min(BETA_FRACTION * np.mean(task.conductances), bound)
    assert default_beta(task) == pytest.approx(expected)
    assert default_beta(task, free) * nudge_sensitivity(task, free) <= NUDGE_VOLTAGE * (1 + 1e-12)


def test_default_beta_bounds_the_phase_move_on_a_high_gain_circuit() -> None:
    # two_stage_nmos: the conductance rule alone (4e-9 S) moves a gate by ~0.2 mV, enough for a
    # 1.8e-4 centred AEP error; the voltage bound brings it under 1e-5 by default.
    task = LearningTask(from_spice(NETLIST_DIR / "two_stage_nmos.cir"), "r*", {"out": 2.0})
    assert default_beta(task) < BETA_FRACTION * np.mean(task.conductances)
    assert relative_error(gradient("aep", task), gradient("exact", task)) <= 1e-5


def test_default_beta_on_a_linear_circuit_is_the_conductance_fraction() -> None:
    task = deck_task("vccs_mesh", NONRECIPROCAL["vccs_mesh"])
    assert default_beta(task) == pytest.approx(LINEAR_BETA_FRACTION * np.mean(task.conductances))


def _scaled(circuit: Circuit, factor: float) -> Circuit:
    """Every current × ``factor`` at the same voltages: conductances, diode areas,
    transconductances, current sources (CCVS transresistances ÷ ``factor``): same free state."""
    out = circuit.copy()
    for element in circuit:
        if isinstance(element, Resistor):
            out.replace(element.with_conductance(element.conductance * factor))
        elif isinstance(element, Diode):
            out.replace(element.with_values(area=element.area * factor))
        elif isinstance(element, VCCS):
            out.replace(element.with_values(transconductance=element.transconductance * factor))
        elif isinstance(element, CurrentSource):
            out.replace(element.with_values(dc=element.dc * factor))
        elif isinstance(element, CCVS):
            out.replace(element.with_values(transresistance=element.transresistance / factor))
        elif isinstance(element, Mosfet):
            raise AssertionError("scale MOSFETs through their model's KP instead")
    return out


def test_gradient_object_dict_and_repr() -> None:
    task = deck_task("vccs_mesh", NONRECIPROCAL["vccs_mesh"])
    g = AsymmetricEP(beta=1e-7).compute_gradient(task)
    d = g.to_dict()
    assert list(d) == ["method", "beta", "cost", "parameters", "gradient"]
    assert d["method"] == "aep" and d["beta"] == 1e-7
    assert list(d["gradient"]) == task.trainable
    assert set(g.phases) == {"free", "aep_pos", "aep_neg"}
    assert "\n" not in repr(g) and "aep" in repr(g)
    assert (
        repr(EquilibriumProp(variant="positive", beta=1e-6))
        == "EquilibriumProp(variant='positive', beta=1e-06)"
    )
    assert (
        repr(CoupledLearning()) == "CoupledLearning(variant='centered', beta=None, clamp='matched')"
    )


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        (lambda: EquilibriumProp(beta=-1.0), "beta must be a positive number"),
        (lambda: EquilibriumProp(beta=0.0), "beta must be a positive number"),
        (lambda: AsymmetricEP(variant="both"), "unknown variant 'both'"),
        (lambda: CoupledLearning(clamp="hard"), "unknown clamp 'hard'"),
        (lambda: DyadicEP(beta=float("nan")), "beta must be a positive number"),
        (lambda: make_estimator("bp"), "unknown gradient method 'bp'"),
        (lambda: make_estimator("fd", beta=-1e-3), "step must be a positive number"),
    ],
)
def test_invalid_estimator_settings(factory: object, match: str) -> None:
    with pytest.raises(CircuitError, match=match):
        factory()  # type: ignore[operator]


def test_unknown_backend_and_non_task() -> None:
    task = random_task(0, 4)
    with pytest.raises(CircuitError, match="unknown backend 'spectre'"):
        make_estimator("ep").compute_gradient(task, backend="spectre")
    with pytest.raises(CircuitError, match="expected a LearningTask"):
        make_estimator("ep").compute_gradient("task")  # type: ignore[arg-type]


def test_clamping_an_output_driven_by_a_vcvs_is_refused() -> None:
    task = LearningTask(from_spice(NETLIST_DIR / "vcvs_amplifier.cir"), "r*", {"out": 0.5})
    with pytest.raises(CircuitError, match="coupled learning: cannot clamp the outputs"):
        make_estimator("cl").compute_gradient(task)


def test_cross_entropy_gradients() -> None:
    c = Circuit("ce")
    c.add(VoltageSource("v1", "a", "0", 1.0))
    for k, node in enumerate(("o1", "o2", "o3")):
        c.add(Resistor(f"r{k}", "a", node, 1e3 * (k + 1)))
        c.add(Resistor(f"rl{k}", node, "0", 2e3))
    task = LearningTask(c, "r*", ["o1", "o2", "o3"], [0.0, 1.0, 0.0], cost="cross_entropy")
    exact = gradient("exact", task)
    assert relative_error(gradient("fd", task), exact) <= 1e-6
    assert relative_error(gradient("ep", task), exact) <= 1e-9
    assert relative_error(gradient("dyadic", task), exact) <= 1e-9
