"""The batched engine: batch of one vs the single-sample path, batch of k vs the mean, exactness."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import NETLIST_DIR
from learn_circuits import relative_error

from circuitlearn.circuit import kendall_network
from circuitlearn.errors import CircuitError, ConvergenceError
from circuitlearn.learn import LearningTask, make_estimator
from circuitlearn.learn import batched as batched_module
from circuitlearn.learn.batched import Batch, BatchEngine, engine_with_estimator
from circuitlearn.learn.methods import METHODS, make_fixed_estimator, names
from circuitlearn.netlist import from_spice
from circuitlearn.solve import solve_dc
from circuitlearn.solve.mna import compile_circuit

DECKS = sorted(p.stem for p in NETLIST_DIR.glob("*.cir"))
PHASE_METHODS = [("ep", {}), ("ep", {"variant": "positive"}), ("cl", {}), ("aep", {})]
LINEAR_DECKS = {"resistor_network", "vccs_mesh", "controlled_fh", "subckt_param"}
ILL_CONDITIONED = {"bjt_bias": 1e-4}
"""Batch-vs-single bound where the phases barely move: bjt_bias's AEP phases (K0 of condition
1.5e5, RC = 1 Ω) move the nodes by ~0.1 µV at the default β, so Newton's update tolerance
(reltol·|x| ≈ 6e-9 V) leaves the two forms 1.4e-5 apart (5.7e-6 at reltol 1e-11), both 2e-4 from
the exact gradient."""


def deck_task(name: str) -> LearningTask:
    """Every resistor trainable; the first two computed nodes as outputs, 50 mV off."""
    circuit = from_spice(NETLIST_DIR / f"{name}.cir")
    flat = circuit.flatten()
    system = compile_circuit(flat)
    op = solve_dc(flat)
    nodes = [n for n in system.node_index if n in flat.nodes][:2]
    return LearningTask(circuit, "r*", {n: op.voltages[n] + 0.05 for n in nodes})


def single(method: str, task: LearningTask, **kw: object) -> np.ndarray:
    return make_estimator(method, **kw).compute_gradient(task).vector


def one(method: str, task: LearningTask, **kw: object) -> np.ndarray:
    engine = BatchEngine(task)
    return engine.gradient(make_estimator(method, **kw), engine.batch(size=1)).vector


@pytest.mark.parametrize("deck", DECKS)
@pytest.mark.parametrize("method", ["exact", "dyadic"])
def test_batch_of_one_matches_single_sample_adjoint(deck: str, method: str) -> None:
    task = deck_task(deck)
    try:
        reference = single(method, task)
    except CircuitError as exc:  # e.g. a twin circuit the single path cannot build
        pytest.skip(f"single-sample path refuses {deck}: {exc}")
    assert relative_error(one(method, task), reference) <= 1e-12


@pytest.mark.parametrize("deck", DECKS)
@pytest.mark.parametrize(("method", "kw"), PHASE_METHODS)
def test_batch_of_one_matches_single_sample_phases(deck: str, method: str, kw: dict) -> None:
    """Same phases in MNA form: equal to the circuits' rounding, which 1/β magnifies.

    Measured: ≤ 1e-13 on linear decks; on nonlinear ones the phases' voltages agree to about
    1e-16 V while a nudge moves them by ~10 µV, so the estimates agree to ~1e-8 (two_stage_nmos,
    AEP: 2.6e-8), well inside each estimate's own error against the exact gradient.
    """
    task = deck_task(deck)
    try:
        reference = single(method, task, **kw)
    except CircuitError as exc:
        with pytest.raises(CircuitError):  # the engine refuses what the circuit path refuses
            one(method, task, **kw)
        pytest.skip(f"{deck}: {exc}")
    bound = 1e-12 if deck in LINEAR_DECKS else ILL_CONDITIONED.get(deck, 1e-7)
    assert relative_error(one(method, task, **kw), reference) <= bound


@pytest.mark.parametrize(
    ("deck", "constant_rb"),
    [("bjt_bias", False), *((d, c) for d in ("bjt_diffpair", "bjt_mirror") for c in (True, False))],
)
def test_bjt_decks_with_series_resistances_run_every_rule(deck: str, constant_rb: bool) -> None:
    """The BJT decks as they are (bjt_diffpair and bjt_mirror set RBM ≠ RB, a current-dependent
    base resistance: RB beside a behavioural source in the phases) and with RBM = RB (RB, RC, RE
    explicit resistors): AEP is exact to O(β²), Dyadic EP exact; batch and single agree. The
    last node is an output too, so that bjt_mirror's PNP half (its RB law) shapes the gradient.

    Measured (AEP vs exact; batch vs single): bjt_bias 1.1e-4, 5.7e-5 (ILL_CONDITIONED);
    bjt_diffpair 1.1e-4, 3.3e-10 (RBM ≠ RB: 1.1e-4, 5.6e-10); bjt_mirror 1.9e-4, 8.5e-10
    (RBM ≠ RB: 1.9e-4, 6.3e-9). EP is biased (0.86 to 1.7).
    """
    import re

    text = (NETLIST_DIR / f"{deck}.cir").read_text()
    if constant_rb:
        text = re.sub(r"\s+rbm=\S+", "", text, flags=re.I)
    circuit = from_spice(text)
    flat = circuit.flatten()
    op = solve_dc(flat)
    nodes = [n for n in compile_circuit(flat).node_index if n in flat.nodes]
    task = LearningTask(circuit, "r*", {n: op.voltages[n] + 0.05 for n in nodes[:2] + nodes[-1:]})
    exact = single("exact", task)
    assert relative_error(single("fd", task), exact) <= 1e-6
    assert relative_error(single("dyadic", task), exact) <= 1e-10
    aep = single("aep", task)
    assert relative_error(aep, exact) <= 1e-3
    assert relative_error(one("aep", task), aep) <= ILL_CONDITIONED.get(deck, 1e-7)
    assert relative_error(single("ep", task), exact) > 0.5


def kendall_task(
    gain: float | None = None,
) -> tuple[LearningTask, dict[str, np.ndarray], np.ndarray]:
    """A small layered network (Schur path) with diodes conducting, and 5 random samples."""
    net = kendall_network(4, [5], 2, seed=3, bias_voltages=(0.3, -0.3), amplifier_gain=gain)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, (5, 4))
    inputs = {
        s: x[:, k // 2] * (1 if s.endswith("p") else -1) for k, s in enumerate(net.input_sources)
    }
    targets = rng.uniform(0.0, 0.2, (5, 2))
    task = LearningTask(
        net.circuit, list(net.trainable), list(net.output_nodes), targets=[0.1, 0.1]
    )
    return task, inputs, targets


@pytest.mark.parametrize("method", names(batched=True))
@pytest.mark.parametrize("gain", [None, 3.0])
def test_batch_of_k_is_the_mean_of_k_single_samples(method: str, gain: float | None) -> None:
    task, inputs, targets = kendall_task(gain)
    engine = BatchEngine(task)
    assert engine.solver.plans  # the layered Schur path is exercised
    estimator = make_estimator(method, beta=1e-7)
    batch = engine.gradient(estimator, engine.batch(inputs, targets))
    singles = [
        engine.gradient(
            estimator, engine.batch({s: v[[k]] for s, v in inputs.items()}, targets[[k]])
        ).vector
        for k in range(5)
    ]
    assert batch.batch_size == 5
    assert relative_error(batch.vector, np.mean(singles, axis=0)) <= 1e-9
    costs = [
        task.cost.value(v, t)
        for v, t in zip(
            engine.free_solution(engine.batch(inputs, targets))[0][:, engine.output_rows],
            targets,
            strict=True,
        )
    ]
    assert batch.cost == pytest.approx(np.mean(costs), rel=1e-12)


@pytest.mark.parametrize("gain", [None, 3.0])
def test_exact_methods_agree_on_a_batch_and_ep_is_biased_when_nonreciprocal(
    gain: float | None,
) -> None:
    task, inputs, targets = kendall_task(gain)
    engine = BatchEngine(task)
    batch = engine.batch(inputs, targets)
    exact = engine.gradient(make_estimator("exact"), batch).vector
    assert relative_error(engine.gradient(make_estimator("dyadic"), batch).vector, exact) < 1e-10
    assert relative_error(engine.gradient(make_estimator("aep"), batch).vector, exact) < 1e-5
    ep_error = relative_error(engine.gradient(make_estimator("ep"), batch).vector, exact)
    assert (ep_error > 1e-2) if gain else (ep_error < 1e-5)


def test_exact_batch_matches_finite_differences_of_the_mean_cost() -> None:
    task, inputs, targets = kendall_task(3.0)
    engine = BatchEngine(task)
    batch = engine.batch(inputs, targets)
    exact = engine.gradient(make_estimator("exact"), batch).vector
    fd = engine.gradient(make_estimator("fd"), batch).vector  # per sample, averaged
    assert relative_error(exact, fd) < 1e-6


def test_matrix_product_rule_equals_the_direct_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    task, inputs, targets = kendall_task(3.0)
    engine = BatchEngine(task)
    batch = engine.batch(inputs, targets)
    for method in ("exact", "ep", "aep", "cl", "dyadic"):
        estimator = make_estimator(method, beta=1e-7)
        direct = engine.gradient(estimator, batch).vector
        monkeypatch.setattr(batched_module, "DIRECT_RULE_LIMIT", 0)
        gemm = engine.gradient(estimator, batch).vector
        monkeypatch.undo()
        assert relative_error(gemm, direct) < 1e-10, method
    block = engine._gemm_index.block  # the input crossbar read as one slice of M
    assert block is not None and (block.rows, block.cols) == (8, 5)  # 4 input pairs, 5 hidden


@pytest.mark.parametrize("case", ["amplifiers", "transistors"])
def test_aep_keeps_one_mirror_only_when_every_sample_has_it(
    case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """AEP's K0 − K0ᵀ is kept once when it is the same in every sample (linear amplifiers: only
    the diodes' diagonal varies) and per sample otherwise (the transistors' gains vary with
    their inputs); either way the gradient is the one of a copy per sample (the same arithmetic:
    equal to rounding, 0 here)."""
    if case == "amplifiers":
        task, inputs, targets = kendall_task(3.0)
        batch = BatchEngine(task).batch(inputs, targets)
    else:
        task = deck_task("bjt_diffpair")
        vip_volts = np.array([0.01, 0.02, -0.01, 0.0])
        batch = BatchEngine(task).batch({"VIP": vip_volts}, None)
    init = batched_module._MirrorTerm.__init__
    shared: list[bool] = []

    def spy(self: batched_module._MirrorTerm, *args: object) -> None:
        init(self, *args)
        shared.append(self.shared is not None)

    def per_sample(self: batched_module._MirrorTerm, *args: object) -> None:
        init(self, *args)
        if self.mirror is None:
            self.mirror = np.repeat(self.shared_values[None], len(self.x0), axis=0)

    engine = BatchEngine(task)
    estimator = make_estimator("aep")  # β chosen per sample
    monkeypatch.setattr(batched_module._MirrorTerm, "__init__", spy)
    kept = engine.gradient(estimator, batch).vector
    assert shared == [case == "amplifiers"] * 2  # both phases of centred AEP
    monkeypatch.setattr(batched_module._MirrorTerm, "__init__", per_sample)
    copied = engine.gradient(estimator, batch).vector
    assert relative_error(kept, copied) <= 1e-13
    exact = engine.gradient(make_estimator("exact"), batch).vector
    assert relative_error(kept, exact) < (1e-5 if case == "amplifiers" else 1e-3)


@pytest.mark.parametrize("deck", DECKS)
def test_matrix_product_rule_on_every_deck(deck: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resistors in either orientation, to ground, to sources and between unknowns: the
    matrix-product rule reads each end's terms from the right place."""
    task = deck_task(deck)
    engine = BatchEngine(task)
    batch = engine.batch(size=3)
    try:
        direct = engine.gradient(make_estimator("exact"), batch).vector
    except CircuitError as exc:
        pytest.skip(f"{deck}: {exc}")
    monkeypatch.setattr(batched_module, "DIRECT_RULE_LIMIT", 0)
    gemm = engine.gradient(make_estimator("exact"), batch).vector
    assert relative_error(gemm, direct) < 1e-12


def test_updated_engine_equals_a_freshly_compiled_one() -> None:
    """Element values are a pure function of the conductances: bit-for-bit equal gradients."""
    task, inputs, targets = kendall_task(3.0)
    g = task.conductances * np.random.default_rng(1).uniform(0.5, 2.0, len(task.trainable))
    updated = BatchEngine(task)
    batch = updated.batch(inputs, targets)
    updated.gradient(make_estimator("aep", beta=1e-7), batch)  # used before the update
    updated.set_conductances(g * 1.3)
    updated.set_conductances(g)
    fresh = BatchEngine(task.with_conductances(g))
    fresh.set_conductances(g)
    for method in ("exact", "ep", "aep"):
        estimator = make_estimator(method, beta=1e-7)
        a = updated.gradient(estimator, batch).vector
        b = fresh.gradient(estimator, batch).vector
        assert np.array_equal(a, b), method


def test_engine_on_a_system_used_for_the_default_beta_equals_a_fresh_one() -> None:
    """The trainer hands the system that found β to the engine: the same gradients, bit for bit;
    a system of another circuit is refused."""
    task, inputs, targets = kendall_task(3.0)
    taken, _, beta = engine_with_estimator(task, "aep")
    assert beta == make_fixed_estimator("aep", task.with_conductances({}))[1]
    derived = task.with_conductances({})
    assert BatchEngine(task, system=derived.system).system is derived.system
    fresh = BatchEngine(task)
    batch = fresh.batch(inputs, targets)
    for method in ("exact", "ep", "aep"):
        estimator = make_estimator(method, beta=beta)
        a = taken.gradient(estimator, batch).vector
        assert np.array_equal(a, fresh.gradient(estimator, batch).vector), method
    other = kendall_network(4, [6], 2, seed=3).circuit
    with pytest.raises(CircuitError, match="not a compiled copy"):
        BatchEngine(task, system=compile_circuit(other))


def test_clamped_counts_nodes_whose_diodes_outconduct_their_resistors() -> None:
    """Rails overlapping by 1 V put every diode 0.5 V forward at 0 V: all "conduct" by the
    voltage criterion, yet a unit with 100 input resistors at 0 V is set by them and one driven
    hard by its inputs is set by its diode, and ``clamped`` tells them apart."""
    net = kendall_network(50, [2], 1, seed=0, bias_voltages=(0.5, -0.5))
    task = LearningTask(net.circuit, list(net.trainable), list(net.output_nodes), targets=[0.1])
    engine = BatchEngine(task)
    level = np.array([0.0, 10.0])
    inputs = {s: level if s.endswith("p") else -level for s in net.input_sources}
    x, sources = engine.free_solution(engine.batch(inputs))
    hidden = list(net.hidden_nodes[0])
    rest = engine.free_solution(engine.batch({s: v[:1] for s, v in inputs.items()}))
    assert engine.conducting_fraction(*rest) == 1.0
    rows = [engine.system.node_index[h] for h in hidden]
    linear, devices = engine.system.node_conductances(x, rows, sources)
    assert np.all(devices[0] < 0.2 * linear[0]) and np.all(devices[1] > 2 * linear[1])
    assert np.array_equal(engine.clamped(x, sources, hidden), [0.5, 0.5])
    resistors = [[e for e in net.trainable if h in net.circuit[e].nodes] for h in hidden]
    g = [sum(1.0 / net.circuit[e].resistance for e in names) for names in resistors]
    np.testing.assert_allclose(linear[0], g, rtol=1e-12)


def test_conducting_fraction_counts_forward_biased_diodes() -> None:
    task, inputs, targets = kendall_task()
    engine = BatchEngine(task)
    batch = engine.batch(inputs, targets)
    x, sources = engine.free_solution(batch)
    fraction = engine.conducting_fraction(x, sources)
    assert fraction is not None and 0.0 < fraction <= 1.0
    linear = BatchEngine(deck_task("resistor_network"))
    x, sources = linear.free_solution(linear.batch(size=2))
    assert linear.conducting_fraction(x, sources) is None


def test_bad_batches_are_refused() -> None:
    task, inputs, targets = kendall_task()
    engine = BatchEngine(task)
    with pytest.raises(CircuitError, match="same number of samples"):
        engine.batch(inputs, targets[:3])
    with pytest.raises(CircuitError, match="one column per output"):
        engine.batch(inputs, targets[:, :1])
    with pytest.raises(CircuitError, match="not an independent V or I source"):
        engine.gradient(make_estimator("exact"), engine.batch({"h1_0": np.ones(5)}, targets))
    bad = dict(inputs)
    bad[next(iter(bad))] = np.full(5, np.nan)
    with pytest.raises(CircuitError, match="non-finite"):
        engine.gradient(make_estimator("exact"), Batch(bad, targets))
    with pytest.raises(CircuitError, match="positive finite conductances"):
        engine.set_conductances(-task.conductances)


def test_a_failed_free_phase_names_the_samples() -> None:
    net = kendall_network(2, [2], 1, seed=0)
    task = LearningTask(net.circuit, list(net.trainable), list(net.output_nodes), targets=[0.1])
    engine = BatchEngine(task, options={"max_iterations": 4, "homotopy": False})
    huge = {s: np.array([0.0, 50.0]) for s in net.input_sources}
    with pytest.raises(ConvergenceError, match=r"sample\(s\) \[1\]"), pytest.warns(RuntimeWarning):
        engine.gradient(make_estimator("exact"), engine.batch(huge, np.zeros((2, 1))))


def test_registry_lists_every_method_once_with_its_estimator() -> None:
    assert list(METHODS) == ["exact", "fd", "ep", "cl", "aep", "dyadic"]
    for name, info in METHODS.items():
        assert make_estimator(name).method == name == info.name
    assert names(trainable=False) == ("fd",)
    assert set(names(exact_nonreciprocal=True)) == {"exact", "fd", "aep", "dyadic"}
    with pytest.raises(CircuitError, match="unknown method capability"):
        names(flying=True)


def test_clamped_sides_tell_a_switching_unit_from_a_dead_one() -> None:
    """Inputs of opposite sign drive every unit into opposite clamps (a(−u) = −a(u)): one third
    of the samples above the rails' midpoint, one third below, one unclamped; the same input
    repeated keeps each unit on one side, which is what the trainer counts as dead."""
    net = kendall_network(50, [2], 1, seed=0, bias_voltages=(0.5, -0.5))
    task = LearningTask(net.circuit, list(net.trainable), list(net.output_nodes), targets=[0.1])
    engine = BatchEngine(task)
    hidden = list(net.hidden_nodes[0])
    level = np.array([10.0, -10.0, 0.0])
    inputs = {s: level if s.endswith("p") else -level for s in net.input_sources}
    x, sources = engine.free_solution(engine.batch(inputs))
    high, low = engine.clamped_sides(x, sources, hidden)
    np.testing.assert_allclose(high, [1 / 3, 1 / 3])
    np.testing.assert_allclose(low, [1 / 3, 1 / 3])
    np.testing.assert_allclose(high + low, engine.clamped(x, sources, hidden))
    same = {s: np.full(3, 10.0 if s.endswith("p") else -10.0) for s in net.input_sources}
    high, low = engine.clamped_sides(*engine.free_solution(engine.batch(same)), hidden)
    assert np.array_equal(np.maximum(high, low), [1.0, 1.0])
    assert np.array_equal(np.minimum(high, low), [0.0, 0.0])
