"""Native solver: agreement with ngspice on every deck, homotopy rungs, iteration counts,
failures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from circuitlearn.circuit import VCCS, Circuit, Diode, Model, Resistor, VoltageSource
from circuitlearn.errors import CircuitError, ConvergenceError
from circuitlearn.netlist import from_spice
from circuitlearn.solve import solve_dc
from circuitlearn.solve.mna import compile_circuit
from circuitlearn.solve.newton import (
    check_options,
    direct_newton,
    gmin_stepping,
    solve_native,
    source_stepping,
)

NETLISTS = sorted((Path(__file__).resolve().parents[2] / "netlists").glob("*.cir"))
PRECISE = {"reltol": 1e-9, "abstol": 1e-15, "vntol": 1e-12}
"""ngspice options that make ngspice itself precise enough to compare at 1e-6."""

RTOL, VTOL, ITOL = 1e-6, 1e-7, 1e-12
"""Agreement required: 1e-6 relative plus 1e-7 V (voltages) or 1e-12 A (currents)."""


def assert_agree(native, reference) -> None:
    assert native.converged and reference.converged
    assert set(reference.voltages) <= set(native.voltages)
    for node, value in reference.voltages.items():
        assert abs(native.voltages[node] - value) <= RTOL * abs(value) + VTOL, node
    for name, value in reference.currents.items():
        assert abs(native.currents[name] - value) <= RTOL * abs(value) + ITOL, name


@pytest.mark.ngspice
@pytest.mark.parametrize("path", NETLISTS, ids=[p.stem for p in NETLISTS])
def test_every_deck_agrees_with_ngspice(path: Path) -> None:
    from circuitlearn.solve.ngspice import solve_ngspice

    circuit = from_spice(path)
    assert_agree(solve_native(circuit), solve_ngspice(circuit, options=PRECISE))


@pytest.mark.parametrize(
    ("deck", "strategy", "iterations"),
    [
        ("resistor_network", "newton", 1),
        ("diode_ladder", "newton", 13),
        ("cmos_inverter", "newton", 8),
        ("hard_diode_string", "newton", 12),
        ("hard_latch", "newton", 15),
        ("hard_source_step", "source", 243),
    ],
)
def test_reference_iteration_counts(deck: str, strategy: str, iterations: int) -> None:
    op = solve_native(from_spice(NETLISTS[0].parent / f"{deck}.cir"))
    assert (op.converged, op.strategy, op.iterations) == (True, strategy, iterations)
    assert op.homotopy[-1].rung == strategy and op.homotopy[-1].converged
    assert sum(step.iterations for step in op.homotopy) == op.iterations
    assert len(op.residual_norms) == op.iterations


def test_hard_source_step_records_the_whole_ladder() -> None:
    op = solve_native(from_spice(NETLISTS[0].parent / "hard_source_step.cir"))
    rungs = [step.rung for step in op.homotopy]
    assert rungs[0] == "newton" and not op.homotopy[0].converged
    assert "gmin" in rungs and rungs[-1] == "source"
    values = [step.value for step in op.homotopy if step.rung == "source" and step.converged]
    assert values[0] == 0.0 and values[-1] == 1.0 and values == sorted(values)


@pytest.mark.parametrize(
    "deck", ["diode_ladder", "cmos_inverter", "hard_diode_string", "kendall_layered", "nmos_stage"]
)
@pytest.mark.parametrize("rung", [gmin_stepping, source_stepping])
def test_each_rung_alone_reaches_the_newton_answer(deck: str, rung) -> None:
    system = compile_circuit(from_spice(NETLISTS[0].parent / f"{deck}.cir"))
    options = check_options({})
    reference = direct_newton(system, None, options)
    result = rung(system, None, options)
    assert reference.converged and result.converged
    np.testing.assert_allclose(result.x, reference.x, rtol=1e-9, atol=1e-12)
    assert all(step.rung == rung.__name__.split("_")[0] for step in result.steps)


def test_warm_start_converges_at_once() -> None:
    circuit = from_spice(NETLISTS[0].parent / "diode_ladder.cir")
    cold = solve_native(circuit)
    warm = solve_native(circuit, x0=cold)
    assert warm.converged and warm.iterations == 1
    # node 4 sits at 1 mV behind a junction: its last bits move by ~1e-14 V between two converged
    # solves, 100× below the solver's own vntol (1e-12 V), so it is compared absolutely there
    np.testing.assert_allclose(warm.state, cold.state, rtol=1e-12, atol=1e-14)


def test_solve_dc_dispatches_to_native() -> None:
    circuit = from_spice(NETLISTS[0].parent / "diode_ladder.cir")
    op = solve_dc(circuit)
    assert op.backend == "native" and op.converged
    assert op.to_dict()["strategy"] == "newton"


def test_unknown_and_bad_options_are_rejected() -> None:
    circuit = from_spice(NETLISTS[0].parent / "diode_ladder.cir")
    with pytest.raises(
        CircuitError, match=r"unknown option 'itl1'; valid options are abstol, gmin_start"
    ):
        solve_native(circuit, options={"itl1": 10})
    with pytest.raises(CircuitError, match="option reltol must be a positive number"):
        solve_native(circuit, options={"reltol": -1})
    with pytest.raises(CircuitError, match="x0: expected"):
        solve_native(circuit, x0=np.zeros(2))


def test_non_convergence_reports_worst_node_and_raises_on_request() -> None:
    circuit = from_spice(NETLISTS[0].parent / "hard_diode_string.cir")
    op = solve_native(circuit, options={"max_iterations": 3, "homotopy": False})
    assert not op.converged
    assert op.worst_node in op.voltages or op.worst_node.endswith("#internal")
    assert "iterations exhausted" in op.message and op.worst_node in op.message
    assert [s.rung for s in op.homotopy] == ["newton"]
    with pytest.raises(ConvergenceError, match="failed") as info:
        solve_native(
            circuit, options={"max_iterations": 3, "homotopy": False}, raise_on_failure=True
        )
    assert info.value.result.homotopy == op.homotopy


def test_singular_jacobian_names_the_node() -> None:
    c = Circuit("negative resistance cancels")
    c.add(VoltageSource("v1", "in", "0", 1.0))
    c.add(Resistor("r1", "in", "b", 1e3))
    c.add(Resistor("r2", "b", "0", 1e3))
    c.add(Resistor("r3", "in", "a", 1e3))
    c.add(Resistor("r4", "a", "0", 1e3))
    c.add(VCCS("g1", "b", "0", "b", "0", -2e-3))  # a negative conductance cancels r1 + r2
    op = solve_native(c)
    assert not op.converged
    assert "singular Jacobian at b" in op.message and op.worst_node == "b"
    with pytest.raises(ConvergenceError, match="singular Jacobian at b"):
        solve_native(c, raise_on_failure=True)


def test_diode_matches_closed_form_reverse_and_forward() -> None:
    """Reverse: ngspice's smooth formula -IS(1+(3 vt/(e v))^3) + gmin v; forward: Shockley."""
    c = Circuit()
    c.add_model(Model("dm", "d", {"is": 1e-12}))
    c.add(VoltageSource("v1", "a", "0", -2.0))
    c.add(Resistor("r1", "a", "k", 1.0))
    c.add(Diode("d1", "0", "k", "dm"))  # forward: current from ground into k
    c.add(Diode("d2", "k", "0", "dm"))  # reverse at v(k) ~ -0.5
    op = solve_native(c)
    vk = op.voltages["k"]
    vt = 1.38064852e-23 / 1.6021766208e-19 * 300.15
    i_fwd = 1e-12 * (np.exp(-vk / vt) - 1) - 1e-12 * vk
    i_rev = -1e-12 * (1 + (3 * vt / (vk * np.e)) ** 3) + 1e-12 * vk
    assert (vk - -2.0) / 1.0 == pytest.approx(i_fwd - i_rev, rel=1e-9)


@pytest.mark.ngspice
@pytest.mark.parametrize("vds", [-2.0, -0.3, 0.2, 3.0])
@pytest.mark.parametrize("kind", ["nmos", "pmos"])
def test_mosfet_both_directions_and_body_effect_match_ngspice(kind: str, vds: float) -> None:
    """Drain below source (inverse mode), forward-biased bulk junctions, RD/RS, LD, GAMMA."""
    from circuitlearn.circuit import Mosfet
    from circuitlearn.solve.ngspice import solve_ngspice

    sign = 1.0 if kind == "nmos" else -1.0
    c = Circuit(f"{kind} vds={vds}")
    params = {
        "vto": sign * 0.7,
        "kp": 8e-5,
        "gamma": 0.5,
        "phi": 0.65,
        "lambda": 0.04,
        "rd": 20.0,
        "rs": 15.0,
        "ld": 1e-7,
    }
    c.add_model(Model("mm", kind, params))
    c.add(VoltageSource("vg", "g", "0", sign * 2.0))
    c.add(VoltageSource("vd", "dd", "0", sign * vds))
    c.add(VoltageSource("vb", "b", "0", sign * -0.8))
    c.add(Resistor("rload", "dd", "d", 2e3))
    c.add(Resistor("rsrc", "s", "0", 500.0))
    c.add(Mosfet("m1", "d", "g", "s", "b", "mm", w=20e-6, l=2e-6))
    assert_agree(solve_native(c), solve_ngspice(c, options=PRECISE))


@pytest.mark.ngspice
@pytest.mark.parametrize("path", NETLISTS, ids=[p.stem for p in NETLISTS])
def test_ngspice_solution_satisfies_native_equations(path: Path) -> None:
    """Model equality independent of Newton: ngspice's answer is a root of the native residual."""
    from circuitlearn.solve.ngspice import solve_ngspice

    system = compile_circuit(from_spice(path))
    reference = solve_ngspice(system.circuit, options=PRECISE)
    x = system.state_from(reference)
    ev = system.evaluate(x)
    floor = np.where(np.arange(system.n) < len(system.node_index), 1e-12, 1e-9)
    assert np.all(np.abs(ev.residual) <= 1e-6 * ev.scale + floor)
    warm = solve_native(system, x0=reference)
    assert warm.converged and warm.iterations <= 3
