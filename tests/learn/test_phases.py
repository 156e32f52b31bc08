"""Learning phases as circuits: structure, native/ngspice agreement, exported netlists."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import NETLIST_DIR
from learn_circuits import mos_feedback_circuit, random_circuit, random_task, relative_error

from circuitlearn.errors import CircuitError
from circuitlearn.learn import LearningTask, make_estimator
from circuitlearn.learn.api import compute_gradient, export_phases
from circuitlearn.learn.phases import aep_circuit, nudged_circuit, twin_circuit
from circuitlearn.netlist import from_spice
from circuitlearn.solve import solve_dc
from circuitlearn.solve.ngspice import read_raw

DECKS = {
    "vcvs_amplifier": {"inn": 0.05},
    "vccs_mesh": {"n22": 0.1, "n23": 0.05},
    "controlled_fh": {"c": 1.0, "b": 0.3},
    "nmos_stage": {"d": 1.0},
    "diode_ladder": {"n3": 0.3, "n5": 0.1},
    "kendall_layered": {"o1": 0.1, "o2": -0.1},
}


def test_aep_phase_without_nudge_keeps_the_free_state() -> None:
    task = random_task(7, 6, nonreciprocal=True, diodes=True)
    free = task.solve()
    circuit, _, _ = aep_circuit(task, 0.0, free)
    op = solve_dc(circuit)
    for node in task.circuit.nodes:
        assert op.voltage(node) == pytest.approx(free.voltage(node), abs=1e-9)


def test_aep_phase_of_a_reciprocal_circuit_is_the_ep_phase() -> None:
    task = random_task(2, 6, diodes=True)
    free = task.solve()
    circuit, new_v, new_i = aep_circuit(task, 1e-6, free)
    assert new_v == {} and new_i == {}
    assert circuit.to_spice() == nudged_circuit(task, 1e-6, free).to_spice()


def test_phase_circuits_have_deterministic_names() -> None:
    task = random_task(3, 6, nonreciprocal=True, diodes=True)
    free = task.solve()
    first = aep_circuit(task, 1e-6, free)[0].to_spice()
    again = aep_circuit(random_task(3, 6, nonreciprocal=True, diodes=True), 1e-6, free)[
        0
    ].to_spice()
    assert first == again
    cards = {line.split()[0]: line.split()[1:] for line in first.splitlines()[1:-2]}
    assert cards["g1"][:4] == ["n2", "n4", "n1", "0"]  # VCCS ports swapped
    assert "e1" not in cards and cards["v_aep_e1"][:2] == ["ne", "0"]  # VCVS -> source + CCCS
    assert "f1" not in cards and "h1" not in cards and "v_aep_h1" in cards
    assert any(n.startswith("f_aep_") and cards[n][2] == "v_aep_e1" for n in cards)
    assert any(n.startswith("e_aep_") for n in cards) and any(n.startswith("h_aep_") for n in cards)
    assert not any(n.startswith("v_aep_sense_") for n in cards)


def test_twin_replaces_diodes_by_their_conductance_and_zeroes_sources() -> None:
    task = random_task(4, 6, diodes=True)
    twin = twin_circuit(task, 1e-6, task.solve())
    cards = twin.to_spice().splitlines()
    assert not any(card.startswith("d") for card in cards)
    assert any(card.startswith("r_twin_d0 ") for card in cards)
    assert "vin n0 0 dc 0" in cards


def test_twin_transposes_controlled_sources() -> None:
    task = random_task(3, 6, nonreciprocal=True)
    twin = twin_circuit(task, 1e-6, task.solve())
    cards = {c.split()[0]: c.split()[1:] for c in twin.to_spice().splitlines()[1:-2]}
    g1 = task.circuit["g1"]
    assert cards["g1"][:4] == [g1.ctrl_pos, g1.ctrl_neg, g1.pos, g1.neg]
    assert cards["v_twin_e1"] == ["ne", "0", "dc", "0"] and "e1" not in cards
    assert "f1" not in cards and "h1" not in cards


@pytest.mark.ngspice
@pytest.mark.parametrize("name", sorted(DECKS))
@pytest.mark.parametrize("method", ["aep", "dyadic"])
def test_phases_solved_by_ngspice_give_the_native_gradient(name: str, method: str) -> None:
    path = NETLIST_DIR / f"{name}.cir"
    native = compute_gradient(path, "r*", DECKS[name], method).vector
    spice = compute_gradient(path, "r*", DECKS[name], method, backend="ngspice").vector
    assert relative_error(spice, native) <= 1e-3


@pytest.mark.ngspice
@pytest.mark.parametrize("method", ["aep", "dyadic"])
def test_mosfet_phases_on_ngspice_start_at_the_free_state(method: str) -> None:
    task = LearningTask(mos_feedback_circuit(), "r*", {"o": 2.0, "s": 0.2})
    native = make_estimator(method).compute_gradient(task).vector
    spice = make_estimator(method).compute_gradient(task, backend="ngspice").vector
    assert relative_error(spice, native) <= 1e-6


@pytest.mark.ngspice
def test_aep_on_ngspice_random_nonreciprocal_circuit() -> None:
    task = random_task(9, 6, nonreciprocal=True, diodes=True)
    native = make_estimator("aep").compute_gradient(task).vector
    spice = make_estimator("aep").compute_gradient(task, backend="ngspice").vector
    assert relative_error(spice, native) <= 1e-3


def test_export_phase_file_names(tmp_path: Path) -> None:
    path = NETLIST_DIR / "vccs_mesh.cir"
    files = export_phases(path, "aep", "r*", DECKS["vccs_mesh"], None, tmp_path / "mesh.cir")
    assert [f.name for f in files] == ["mesh_free.cir", "mesh_aep_pos.cir", "mesh_aep_neg.cir"]
    files = export_phases(
        path, "ep", "r*", DECKS["vccs_mesh"], 1e-6, tmp_path / "mesh.cir", variant="negative"
    )
    assert [f.name for f in files] == ["mesh_free.cir", "mesh_ep_neg.cir"]
    files = export_phases(path, "dyadic", "r*", DECKS["vccs_mesh"], None, tmp_path / "mesh.cir")
    assert [f.name for f in files] == ["mesh_free.cir", "mesh_twin.cir"]
    text = files[1].read_text()
    assert text.splitlines()[1].startswith(".options reltol=")
    assert ".op" in text and text.rstrip().endswith(".end")


def test_exported_phase_reads_back_and_solves_like_the_phase(tmp_path: Path) -> None:
    task = LearningTask(from_spice(NETLIST_DIR / "controlled_fh.cir"), "r*", DECKS["controlled_fh"])
    files = export_phases(
        task.circuit, "aep", "r*", DECKS["controlled_fh"], 1e-5, tmp_path / "fh.cir"
    )
    plan = make_estimator("aep", beta=1e-5).phase_plan(task, task.solve())
    direct = solve_dc(plan.circuits()["aep_pos"])
    read = solve_dc(from_spice(files[1]))
    for node, value in direct.voltages.items():
        assert read.voltage(node) == pytest.approx(value, rel=1e-9, abs=1e-12)


def test_export_phase_refuses_methods_without_phases(tmp_path: Path) -> None:
    with pytest.raises(CircuitError, match="method 'exact' has no learning phases"):
        export_phases(
            NETLIST_DIR / "vccs_mesh.cir",
            "exact",
            "r*",
            DECKS["vccs_mesh"],
            None,
            tmp_path / "x.cir",
        )


@pytest.mark.ngspice
@pytest.mark.skipif(shutil.which("ngspice") is None, reason="needs the ngspice executable")
@pytest.mark.parametrize("method", ["ep", "cl", "aep", "dyadic"])
def test_every_exported_phase_runs_in_plain_ngspice_batch(method: str, tmp_path: Path) -> None:
    circuit = random_circuit(12, 6, nonreciprocal=True, diodes=True)
    outputs = {"n3": 0.2} if method == "cl" else {"n2": 0.2, "n4": 0.1}
    decks = [
        (NETLIST_DIR / "nmos_stage.cir", {"d": 1.0}),
        (circuit, outputs),
        (mos_feedback_circuit(), {"o": 2.0, "s": 0.2}),
    ]
    for k, (deck, outs) in enumerate(decks):
        task = LearningTask(deck if not isinstance(deck, Path) else from_spice(deck), "r*", outs)
        phases = make_estimator(method).compute_gradient(task).phases  # native, warm-started
        for path in export_phases(deck, method, "r*", outs, None, tmp_path / f"deck{k}.cir"):
            raw = path.with_suffix(".raw")
            run = subprocess.run(
                ["ngspice", "-b", "-r", raw.name, path.name],
                cwd=path.parent,
                capture_output=True,
                text=True,
                timeout=60,
            )
            log = run.stdout + run.stderr
            assert run.returncode == 0, log[-2000:]
            assert "singular" not in log.lower(), log[-2000:]
            values = read_raw(raw)[0].as_dict()
            native = phases[path.stem.removeprefix(f"deck{k}_")]
            for node, value in native.voltages.items():
                assert values[f"v({node})"] == pytest.approx(value, rel=1e-6, abs=1e-9), (
                    path.name,
                    node,
                )


def test_user_elements_named_like_internal_ones_do_not_collide() -> None:
    """A deck with its own i_nudge_0 / v_aep_g1 / r_twin_x: the phases draw other names."""
    from circuitlearn.circuit import VCCS, Circuit, CurrentSource, Resistor, VoltageSource

    c = Circuit("collision")
    c.extend([
        VoltageSource("v1", "a", "0", 1.0), Resistor("r1", "a", "b", 1e3),
        Resistor("r2", "b", "0", 2e3), CurrentSource("i_nudge_0", "b", "0", 0.0),
        VCCS("g1", "0", "c", "b", "0", 1e-3), Resistor("r3", "c", "0", 1e3),
        VoltageSource("v_aep_x", "aep_1", "0", 0.0), Resistor("r_twin_y", "aep_1", "0", 1e3),
    ])  # fmt: skip
    task = LearningTask(c, "r*", {"c": 0.2})
    assert task.tag == "1"
    exact = make_estimator("exact").compute_gradient(task).vector
    for method in ("aep", "dyadic"):
        got = make_estimator(method).compute_gradient(task).vector
        assert np.linalg.norm(got - exact) <= 1e-8 * np.linalg.norm(exact)
    for method in ("ep", "cl"):
        make_estimator(method).compute_gradient(task)  # builds its phases without a clash
    assert LearningTask(c.copy(), "r1", {"c": 0.2}).tag == "1"
