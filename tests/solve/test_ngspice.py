"""ngspice backend: hand-computed operating points, every element type, sign conventions, modes.

Reference values are computed by hand (closed forms, or a nodal system written out here), not
taken from ngspice. Physical constants are ngspice 39's (CODATA 2014) and T = 300.15 K.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuitlearn.circuit import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    Circuit,
    CurrentSource,
    Diode,
    Model,
    Mosfet,
    Resistor,
    Subcircuit,
    SubcircuitInstance,
    VoltageSource,
)
from circuitlearn.errors import CircuitError, ConvergenceError
from circuitlearn.solve import solve_dc
from circuitlearn.solve.ngspice import ngspice_available, solve_ngspice

pytestmark = [
    pytest.mark.ngspice,
    pytest.mark.skipif(not ngspice_available(), reason="ngspice (library or binary) not installed"),
]

MODES = [
    pytest.param(
        "shared", marks=pytest.mark.skipif(not ngspice_available("shared"), reason="no libngspice")
    ),
    pytest.param(
        "subprocess",
        marks=pytest.mark.skipif(not ngspice_available("subprocess"), reason="no ngspice binary"),
    ),
]
TIGHT = {"reltol": 1e-12, "vntol": 1e-15, "abstol": 1e-18}
"""Tolerances tight enough that ngspice's answer equals the closed form to ~1e-12."""
VT = 1.38064852e-23 * 300.15 / 1.6021766208e-19
"""Thermal voltage kT/q at 27 °C with ngspice 39's constants [V]."""
GMIN = 1e-12


def _circuit(title: str, *elements, models=()) -> Circuit:
    c = Circuit(title)
    c.extend(elements)
    for model in models:
        c.add_model(model)
    return c


def _divider() -> Circuit:
    return _circuit(
        "divider",
        VoltageSource("v1", "in", "0", 1.0),
        Resistor("r1", "in", "out", 1e3),
        Resistor("r2", "out", "0", 3e3),
    )


def _mixed() -> Circuit:
    """Every element type (R V I D E G F H M X) in one nonlinear circuit."""
    sub = Subcircuit("cell", ("a", "b"))
    sub.body.extend(
        [
            Resistor("r1", "a", "m", 2e3),
            VoltageSource("v1", "m", "b", 0.1),
            Diode("d1", "b", "0", "dm"),
        ]
    )
    c = _circuit(
        "mixed",
        VoltageSource("vdd", "vdd", "0", 3.0),
        VoltageSource("vin", "in", "0", 1.2),
        Resistor("rin", "in", "s", 1e3),
        VoltageSource("vs", "s", "s2", 0.0),
        Resistor("rs", "s2", "0", 2e3),
        Mosfet("m1", "dn", "in", "0", "0", "nm", w=4e-6, l=2e-6),
        Resistor("rdn", "vdd", "dn", 10e3),
        Mosfet("m2", "dp", "in", "vdd", "vdd", "pm", w=8e-6, l=2e-6),
        Resistor("rdp", "dp", "0", 10e3),
        VCVS("e1", "e", "0", "dn", "0", 0.5),
        Resistor("re", "e", "0", 1e3),
        VCCS("g1", "0", "g", "dp", "0", 1e-4),
        Resistor("rg", "g", "0", 5e3),
        CCCS("f1", "0", "f", "vs", 2.0),
        Resistor("rf", "f", "0", 1e3),
        CCVS("h1", "h", "0", "vs", 300.0),
        Resistor("rh", "h", "0", 1e3),
        CurrentSource("i1", "0", "x", 1e-4),
        Resistor("rx", "x", "0", 1e4),
        SubcircuitInstance("x1", ("e", "xo"), "cell"),
        models=[
            Model("dm", "d", {"is": 1e-14, "rs": 5.0}),
            Model("nm", "nmos", {"vto": 0.6, "kp": 1e-4, "lambda": 0.02}),
            Model("pm", "pmos", {"vto": -0.7, "kp": 4e-5, "lambda": 0.03}),
        ],
    )
    c.add_subcircuit(sub)
    return c


@pytest.mark.parametrize("mode", MODES)
def test_divider_voltages_and_source_current_sign(mode):
    op = solve_ngspice(_divider(), mode=mode)
    assert op.converged and op.backend == "ngspice" and op.strategy == "newton"
    assert op.voltages == pytest.approx({"in": 1.0, "out": 0.75}, rel=1e-12)
    # v1 delivers 0.25 mA: i(v1) flows from + through the source to -, so it is negative.
    assert op.currents == pytest.approx({"v1": -0.25e-3}, rel=1e-12)
    assert op.iterations > 0 and 0.0 <= op.max_residual < 1e-15  # native KCL at its answer
    assert op.homotopy[0].rung == "newton" and op.homotopy[0].converged


@pytest.mark.parametrize("mode", MODES)
def test_absorbing_source_current_is_positive(mode):
    c = _circuit(
        "two sources",
        VoltageSource("v1", "a", "0", 2.0),
        VoltageSource("v2", "b", "0", 1.0),
        Resistor("r1", "a", "b", 1e3),
    )
    op = solve_ngspice(c, mode=mode)
    assert op.currents["v1"] == pytest.approx(-1e-3, rel=1e-12)  # delivers
    assert op.currents["v2"] == pytest.approx(+1e-3, rel=1e-12)  # absorbs: current enters at +


def test_wheatstone_bridge_matches_nodal_solution():
    r1, r2, r3, r4, r5, vs = 1e3, 2e3, 3e3, 1.5e3, 500.0, 10.0
    c = _circuit(
        "bridge",
        VoltageSource("v1", "in", "0", vs),
        Resistor("r1", "in", "a", r1),
        Resistor("r2", "in", "b", r2),
        Resistor("r3", "a", "0", r3),
        Resistor("r4", "b", "0", r4),
        Resistor("r5", "a", "b", r5),
    )
    # KCL at a and b, written out: G @ [va, vb] = rhs.
    g = np.array([[1 / r1 + 1 / r3 + 1 / r5, -1 / r5], [-1 / r5, 1 / r2 + 1 / r4 + 1 / r5]])
    va, vb = np.linalg.solve(g, [vs / r1, vs / r2])
    supply = -((vs - va) / r1 + (vs - vb) / r2)
    op = solve_ngspice(c)
    assert op.voltages["a"] == pytest.approx(va, rel=1e-12)
    assert op.voltages["b"] == pytest.approx(vb, rel=1e-12)
    assert op.currents["v1"] == pytest.approx(supply, rel=1e-12)


def test_diode_follows_shockley_with_gmin():
    c = _circuit(
        "diode",
        CurrentSource("i1", "0", "a", 1e-3),
        Diode("d1", "a", "0", "dm"),
        models=[Model("dm", "d", {"is": 1e-14, "n": 1.5})],
    )
    v = solve_ngspice(c, options=TIGHT).voltages["a"]
    current = 1e-14 * math.expm1(v / (1.5 * VT)) + GMIN * v
    assert current == pytest.approx(1e-3, rel=1e-9)


def test_vcvs_and_vccs_directions():
    c = _circuit(
        "e and g",
        VoltageSource("v1", "in", "0", 0.3),
        VCVS("e1", "e", "0", "in", "0", 4.0),
        Resistor("re", "e", "0", 2e3),
        VCCS("g1", "0", "g", "in", "0", 2e-3),
        Resistor("rg", "g", "0", 1e3),
        VCCS("g2", "k", "0", "in", "0", 2e-3),
        Resistor("rk", "k", "0", 1e3),
    )
    op = solve_ngspice(c)
    assert op.voltages["e"] == pytest.approx(1.2, rel=1e-12)
    # E reports i(e1) as a V source does.
    assert op.currents["e1"] == pytest.approx(-1.2 / 2e3, rel=1e-12)
    # g p n: the current gm*v(ctrl) leaves p and enters n.
    assert op.voltages["g"] == pytest.approx(+0.6, rel=1e-12)
    assert op.voltages["k"] == pytest.approx(-0.6, rel=1e-12)


def test_cccs_and_ccvs_follow_the_sense_source_current():
    c = _circuit(
        "f and h",
        VoltageSource("v1", "in", "0", 1.0),
        VoltageSource("vs", "in", "m", 0.0),
        Resistor("r1", "m", "0", 1e3),
        CCCS("f1", "0", "f", "vs", 3.0),
        Resistor("rf", "f", "0", 1e3),
        CCVS("h1", "h", "0", "vs", 2e3),
        Resistor("rh", "h", "0", 1e3),
    )
    op = solve_ngspice(c)
    assert op.currents["vs"] == pytest.approx(1e-3, rel=1e-12)  # flows in -> m through vs
    assert op.voltages["f"] == pytest.approx(3.0, rel=1e-12)  # 3 * i(vs) pushed from 0 into f
    assert op.voltages["h"] == pytest.approx(2.0, rel=1e-12)  # 2k * i(vs)
    assert op.currents["h1"] == pytest.approx(-2e-3, rel=1e-12)


@pytest.mark.parametrize(("vds", "region"), [(5.0, "saturation"), (0.5, "triode")])
def test_nmos_level1_drain_current(vds, region):
    kp, vto, lam, w, l, vgs = 50e-6, 1.0, 0.02, 10e-6, 2e-6, 2.0
    c = _circuit(
        "nmos",
        VoltageSource("vd", "d", "0", vds),
        VoltageSource("vg", "g", "0", vgs),
        Mosfet("m1", "d", "g", "0", "0", "nm", w=w, l=l),
        models=[Model("nm", "nmos", {"kp": kp, "vto": vto, "lambda": lam})],
    )
    vov = vgs - vto
    core = vov**2 / 2 if region == "saturation" else (vov - vds / 2) * vds
    ids = kp * w / l * core * (1 + lam * vds)
    leak = 1e-14 + GMIN * vds  # reverse bulk-drain junction: IS and gmin, as ngspice
    op = solve_ngspice(c, options=TIGHT)
    assert -op.currents["vd"] == pytest.approx(ids + leak, rel=1e-9)


def test_pmos_level1_saturation_current_and_signs():
    kp, vto, lam, w, l = 40e-6, -1.0, 0.03, 10e-6, 2e-6
    c = _circuit(
        "pmos",
        VoltageSource("vdd", "s", "0", 5.0),
        VoltageSource("vg", "g", "0", 3.0),
        VoltageSource("vd", "d", "0", 0.0),
        Mosfet("m1", "d", "g", "s", "s", "pm", w=w, l=l),
        models=[Model("pm", "pmos", {"kp": kp, "vto": vto, "lambda": lam})],
    )
    ids = kp * w / l * (2.0 - 1.0) ** 2 / 2 * (1 + lam * 5.0)
    leak = 1e-14 + GMIN * 5.0
    op = solve_ngspice(c, options=TIGHT)
    # Drain current leaves the PMOS drain and enters vd at its + node: positive i(vd).
    assert op.currents["vd"] == pytest.approx(ids + leak, rel=1e-9)
    assert op.currents["vdd"] == pytest.approx(-(ids + leak), rel=1e-9)


@pytest.mark.parametrize("mode", MODES)
def test_subcircuit_names_and_currents(mode):
    sub = Subcircuit("cell", ("inp", "out"))
    sub.body.extend([Resistor("r1", "inp", "mid", 1e3), VoltageSource("v1", "mid", "out", 0.5)])
    c = _circuit(
        "sub",
        VoltageSource("v1", "top", "0", 2.0),
        SubcircuitInstance("x1", ("top", "o"), "cell"),
        Resistor("rl", "o", "0", 1e3),
    )
    c.add_subcircuit(sub)
    op = solve_ngspice(c, mode=mode)
    current = (2.0 - 0.5) / 2e3
    assert set(op.voltages) == {"top", "x1.mid", "o"}
    assert op.voltages["x1.mid"] == pytest.approx(2.0 - current * 1e3, rel=1e-12)
    assert op.voltages["o"] == pytest.approx(current * 1e3, rel=1e-12)
    assert op.currents == pytest.approx({"v1": -current, "v.x1.v1": current}, rel=1e-12)


def test_internal_nodes_are_dropped():
    c = _circuit(
        "rs",
        VoltageSource("v1", "a", "0", 1.0),
        Resistor("r1", "a", "b", 1e3),
        Diode("d1", "b", "0", "dm"),
        models=[Model("dm", "d", {"rs": 10.0})],
    )
    assert set(solve_ngspice(c).voltages) == {"a", "b"}


def test_shared_and_subprocess_agree_on_every_element_type():
    if not (ngspice_available("shared") and ngspice_available("subprocess")):
        pytest.skip("needs both the ngspice library and its binary")
    c = _mixed()
    shared, sub = solve_ngspice(c, mode="shared"), solve_ngspice(c, mode="subprocess")
    assert shared.converged and sub.converged
    assert set(shared.voltages) == set(sub.voltages) and set(shared.currents) == set(sub.currents)
    assert "v.x1.v1" in shared.currents and "x1.m" in shared.voltages
    for key in shared.voltages:
        assert shared.voltages[key] == pytest.approx(sub.voltages[key], rel=1e-9, abs=1e-15)
    for key in shared.currents:
        assert shared.currents[key] == pytest.approx(sub.currents[key], rel=1e-9, abs=1e-18)
    assert shared.iterations == sub.iterations > 0


def test_solve_dc_dispatches_to_ngspice():
    op = solve_dc(_divider(), backend="ngspice")
    assert op.backend == "ngspice" and op.voltages["out"] == pytest.approx(0.75, rel=1e-12)


def test_nodeset_from_x0_gives_the_same_answer():
    c = _mixed()
    first = solve_ngspice(c, options=TIGHT)
    again = solve_ngspice(c, x0=first, options=TIGHT)
    for key, value in first.voltages.items():
        assert again.voltages[key] == pytest.approx(value, rel=1e-9, abs=1e-12)
    with pytest.raises(CircuitError, match="x0 must be an OperatingPoint"):
        solve_ngspice(c, x0=np.zeros(3))


# -- notes, warnings and homotopy read from the log ----------------------------------------------
def test_warning_lines_are_diagnostics_not_errors(caplog):
    # ld > l/2 makes ngspice warn "effective channel length less than zero"; the MOSFET is off
    # (gate at 0 V), so the operating point is still v(b) = 1 V minus the junction leakage.
    c = _circuit(
        "warn",
        VoltageSource("v1", "a", "0", 1.0),
        Resistor("r1", "a", "b", 1e3),
        Mosfet("m1", "b", "0", "0", "0", "nm", w=1e-6, l=1e-6),
        models=[Model("nm", "nmos", {"vto": 0.5, "kp": 1e-4, "ld": 0.6e-6})],
    )
    with caplog.at_level(logging.WARNING):
        op = solve_ngspice(c)
    assert op.converged and op.strategy == "newton"
    assert "effective channel length less than zero" in op.message
    assert op.voltages["b"] == pytest.approx(1.0, abs=1e-6)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if "Unsupported Ngspice version" in r.getMessage()]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("options", "strategy"),
    [({"noopiter": True}, "gmin"), ({"noopiter": True, "gminsteps": 0}, "source")],
)
def test_stepping_strategy_is_read_from_the_notes(mode, options, strategy):
    c = _circuit(
        "diodes",
        CurrentSource("i1", "0", "a", 10.0),
        Diode("d1", "a", "b", "dm"),
        Diode("d2", "b", "0", "dm"),
        Resistor("r1", "a", "0", 1e6),
        models=[Model("dm", "d", {"is": 1e-16})],
    )
    plain = solve_ngspice(c, mode=mode, options=TIGHT)
    op = solve_ngspice(c, options={**TIGHT, **options}, mode=mode)
    assert op.converged and op.strategy == strategy and plain.strategy == "newton"
    assert op.homotopy and all(step.rung == strategy for step in op.homotopy)
    assert op.homotopy[-1].converged
    assert op.voltages["a"] == pytest.approx(plain.voltages["a"], rel=1e-9)


# -- failures ----------------------------------------------------------------------------------
def test_floating_node_named_before_ngspice_runs():
    c = _circuit(
        "float",
        VoltageSource("v1", "a", "0", 1.0),
        Resistor("r1", "a", "0", 1e3),
        CurrentSource("i1", "a", "b", 1e-3),
    )
    with pytest.raises(CircuitError, match="floating node b"):
        solve_ngspice(c)


def test_node_fed_by_vccs_and_gate_only_is_floating():
    c = _circuit(
        "gate",
        VoltageSource("v1", "a", "0", 1.0),
        Resistor("r1", "a", "0", 1e3),
        VCCS("g1", "0", "n", "a", "0", 1e-3),
        Mosfet("m1", "a", "n", "0", "0", "nm"),
        models=[Model("nm", "nmos", {})],
    )
    with pytest.raises(CircuitError, match="floating node n"):
        solve_ngspice(c)


def test_voltage_loop_named():
    c = _circuit(
        "loop",
        VoltageSource("v1", "a", "0", 1.0),
        VoltageSource("v2", "a", "0", 2.0),
        Resistor("r1", "a", "0", 1e3),
    )
    with pytest.raises(CircuitError, match="loop of voltage sources v1 -> v2"):
        solve_ngspice(c)


@pytest.mark.parametrize("mode", MODES)
def test_singular_matrix_from_the_log_is_a_failure(mode):
    # v(a) = v(b) and r1 joins them: KCL at b reads 0 = 0. Connected, no source loop, so
    # check_topology cannot see it; ngspice warns "singular matrix: check node b", runs its
    # whole homotopy ladder, and its transient-op fallback returns a meaningless answer.
    c = _circuit(
        "singular",
        VoltageSource("v1", "in", "0", 1.0),
        Resistor("r0", "in", "0", 1e3),
        VCVS("e1", "a", "0", "b", "0", 1.0),
        Resistor("r1", "a", "b", 1e3),
    )
    op = solve_ngspice(c, mode=mode)
    assert not op.converged
    assert op.worst_node == "b"
    assert "singular" in op.message and "check node b" in op.message
    with pytest.raises(ConvergenceError, match="singular") as info:
        solve_ngspice(c, mode=mode, raise_on_failure=True)
    assert info.value.result.worst_node == "b"


def test_singular_branch_is_named_by_its_element():
    c = _circuit(
        "self",
        VoltageSource("v1", "in", "0", 1.0),
        Resistor("r0", "in", "out", 1e3),
        VCVS("e1", "out", "0", "out", "0", 1.0),
    )
    op = solve_ngspice(c)
    assert not op.converged and op.worst_node == "e1#branch"
    assert "branch current of e1" in op.message


@pytest.mark.parametrize("mode", MODES)
def test_no_operating_point_is_a_convergence_failure(mode):
    # KCL at a: Id(v) - v = -1 A has no solution (min of Id(v) - v is about -0.71 A).
    c = _circuit(
        "nosolution",
        CurrentSource("i1", "a", "0", 1.0),
        VCCS("g1", "a", "0", "a", "0", -1.0),
        Diode("d1", "a", "0", "dm"),
        models=[Model("dm", "d", {"is": 1e-14})],
    )
    op = solve_ngspice(c, mode=mode)
    assert not op.converged
    assert "timestep too small (trouble with d1)" in op.message
    assert math.isnan(op.voltages["a"])
    rungs = {step.rung for step in op.homotopy}
    assert {"gmin", "source"} <= rungs
    with pytest.raises(ConvergenceError, match="timestep too small") as info:
        solve_ngspice(c, mode=mode, raise_on_failure=True)
    assert info.value.result is not None and not info.value.result.converged


# -- options -----------------------------------------------------------------------------------
def test_unknown_option_lists_the_valid_ones():
    with pytest.raises(
        CircuitError, match=r"unknown option 'foo'; valid options: abstol, .*reltol"
    ):
        solve_ngspice(_divider(), options={"foo": 1})


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"reltol": -1.0}, "reltol must be a positive number"),
        ({"itl1": 2.5}, "itl1 must be an integer >= 1"),
        ({"noopiter": 1}, "noopiter is a flag"),
        ({"gmin": float("nan")}, "gmin must be a finite number"),
    ],
)
def test_invalid_option_values(options, match):
    with pytest.raises(CircuitError, match=match):
        solve_ngspice(_divider(), options=options)


def test_options_reach_ngspice():
    # temp changes the diode's thermal voltage and saturation current: the answer must move.
    c = _circuit(
        "temp",
        CurrentSource("i1", "0", "a", 1e-3),
        Diode("d1", "a", "0", "dm"),
        models=[Model("dm", "d", {})],
    )
    warm = solve_ngspice(c, options={"temp": 80.0}).voltages["a"]
    assert warm < solve_ngspice(c).voltages["a"] - 0.05


def test_unknown_mode():
    with pytest.raises(CircuitError, match="unknown mode 'fast'"):
        solve_ngspice(_divider(), mode="fast")


def test_bad_inputs_are_named():
    with pytest.raises(CircuitError, match="expected a Circuit; got str"):
        solve_ngspice("v1 a 0 1")
    with pytest.raises(CircuitError, match="ngspice_available: unknown mode 'gpu'"):
        ngspice_available("gpu")


@settings(max_examples=25, deadline=None)
@given(
    resistances=st.lists(st.floats(1.0, 1e6), min_size=2, max_size=12),
    supply=st.floats(-10.0, 10.0),
)
def test_ladder_satisfies_kcl(resistances, supply):
    """Random R ladders: ngspice's voltages and i(v1) satisfy KCL at every node."""
    c = Circuit("ladder")
    c.add(VoltageSource("v1", "n0", "0", supply))
    pairs = list(zip(resistances[0::2], resistances[1::2], strict=False))
    for k, (series, shunt) in enumerate(pairs):
        c.add(Resistor(f"rs{k}", f"n{k}", f"n{k + 1}", series))
        c.add(Resistor(f"rp{k}", f"n{k + 1}", "0", shunt))
    op = solve_ngspice(c, options=TIGHT)
    v = [supply] + [op.voltages[f"n{k + 1}"] for k in range(len(pairs))]
    series_currents = [(v[k] - v[k + 1]) / s for k, (s, _) in enumerate(pairs)]
    for k, (_, shunt) in enumerate(pairs):
        leaving = v[k + 1] / shunt + (series_currents[k + 1] if k + 1 < len(pairs) else 0.0)
        assert series_currents[k] == pytest.approx(leaving, rel=1e-9, abs=1e-15)
    # i(v1) flows into the source at n0: minus the current the ladder draws.
    assert op.currents["v1"] == pytest.approx(-series_currents[0], rel=1e-9, abs=1e-15)
