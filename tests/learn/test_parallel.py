"""Gradients split over worker processes equal the single-process ones to rounding."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_batched import kendall_task

from circuitlearn.errors import CircuitLearnError, ConfigError, ConvergenceError
from circuitlearn.learn.batched import BatchEngine
from circuitlearn.learn.methods import make_estimator
from circuitlearn.learn.parallel import ParallelEngine


@pytest.mark.parametrize("method", ["ep", "aep", "exact", "cl"])
@pytest.mark.parametrize("workers", [2, 3])
def test_split_batch_equals_the_whole_batch(method: str, workers: int) -> None:
    task, inputs, targets = kendall_task(3.0 if method == "aep" else None)
    engine = BatchEngine(task)
    estimator = make_estimator(method, beta=1e-7)
    batch = engine.batch(inputs, targets)
    g = engine.conductances * np.linspace(0.8, 1.2, len(engine.conductances))
    with ParallelEngine(engine, estimator, 1) as single:
        whole = single.gradient(g, batch)
    with ParallelEngine(engine, estimator, workers) as split:
        parts = split.gradient(g, batch)
        again = split.gradient(g * 1.1, batch)  # the workers take each call's conductances
    assert np.allclose(parts.vector, whole.vector, rtol=1e-9, atol=0.0)
    np.testing.assert_allclose(parts.costs, whole.costs, rtol=1e-12)
    np.testing.assert_allclose(parts.states, whole.states, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(parts.iterations, whole.iterations)
    assert parts.trainable == whole.trainable
    assert parts.conducting_fraction == pytest.approx(whole.conducting_fraction, rel=1e-12)
    engine.set_conductances(g * 1.1)
    reference = engine.gradient(estimator, batch).vector
    assert np.allclose(again.vector, reference, rtol=1e-9, atol=0.0)


@pytest.mark.parametrize("method", ["ep", "exact"])
def test_inputs_as_one_array_give_the_gradient_of_the_mapping_bit_for_bit(method: str) -> None:
    """InputColumns (the trainer's form: one samples × sources array) against one array per
    source, here and split over workers."""
    from circuitlearn.solve.batch import InputColumns

    task, inputs, targets = kendall_task()
    engine = BatchEngine(task)
    estimator = make_estimator(method, beta=1e-7)
    names = list(inputs)
    columns = InputColumns([n.upper() for n in names], np.stack(list(inputs.values()), axis=1))
    by_name, by_array = engine.batch(inputs, targets), engine.batch(columns, targets)
    assert by_array.inputs is columns and by_array.size == 5
    g = engine.conductances
    for workers in (1, 2):
        with ParallelEngine(engine, estimator, workers) as pool:
            a, b = pool.gradient(g, by_name), pool.gradient(g, by_array)
        np.testing.assert_array_equal(a.vector, b.vector)
        np.testing.assert_array_equal(a.states, b.states)


def test_warm_starts_reach_the_workers() -> None:
    task, inputs, targets = kendall_task()
    engine = BatchEngine(task)
    estimator = make_estimator("ep", beta=1e-7)
    batch = engine.batch(inputs, targets)
    g = engine.conductances
    with ParallelEngine(engine, estimator, 2) as split:
        cold = split.gradient(g, batch)
        warm = split.gradient(g, batch, x0=cold.states)
    assert np.all(warm.iterations < cold.iterations)  # each sample started at its own state
    np.testing.assert_allclose(warm.vector, cold.vector, rtol=1e-6)


def test_a_worker_error_names_its_samples(monkeypatch: pytest.MonkeyPatch) -> None:
    task, inputs, targets = kendall_task()
    engine = BatchEngine(task)
    estimator = make_estimator("ep", beta=1e-7)
    batch = engine.batch(inputs, targets)
    original = BatchEngine.gradient

    def failing(self: BatchEngine, estimator: object, batch: object, **kw: object) -> object:
        if batch.size == 2:  # the worker's part of 5 samples split in 3 + 2
            raise ConvergenceError("batch: the free phase of sample(s) [1] did not converge")
        return original(self, estimator, batch, **kw)

    monkeypatch.setattr(BatchEngine, "gradient", failing)
    with ParallelEngine(engine, estimator, 2) as split:
        named = r"samples 3-4 of the batch: .*sample\(s\) \[1\]"
        with pytest.raises(ConvergenceError, match=named):
            split.gradient(engine.conductances, batch)
        monkeypatch.setattr(BatchEngine, "gradient", original)  # the parent's; the worker keeps
        with pytest.raises(ConvergenceError):  # its forked copy, and fails again: still answers
            split.gradient(engine.conductances, batch)


def test_a_killed_worker_is_reported() -> None:
    task, inputs, targets = kendall_task()
    engine = BatchEngine(task)
    batch = engine.batch(inputs, targets)
    with ParallelEngine(engine, make_estimator("exact"), 2) as split:
        split.gradient(engine.conductances, batch)
        pid = split._processes[0].pid
        os.kill(pid, signal.SIGKILL)
        split._processes[0].join()
        with pytest.raises(CircuitLearnError, match="worker 1"):
            split.gradient(engine.conductances, batch)
        split.close()
        with pytest.raises(CircuitLearnError, match="have ended"):  # not a silent half batch
            split.gradient(engine.conductances, batch)


def test_workers_must_be_positive() -> None:
    task, _, _ = kendall_task()
    with pytest.raises(ConfigError, match="at least 1"):
        ParallelEngine(BatchEngine(task), make_estimator("exact"), 0)


def test_shared_out_chunks_are_solved_as_here_bit_for_bit() -> None:
    task, inputs, targets = kendall_task()
    engine = BatchEngine(task)
    estimator = make_estimator("exact")
    hidden = [n for n in engine.system.node_index if n.startswith("h")]
    chunks = [
        (engine.batch({s: v[k : k + 2] for s, v in inputs.items()}, targets[k : k + 2]), None)
        for k in (0, 2, 4)
    ]
    g = engine.conductances * 1.05
    with ParallelEngine(engine, estimator, 1) as single:
        here = single.free_states(g, chunks, hidden, 0.0)
    with ParallelEngine(engine, estimator, 2) as split:
        shared = split.free_states(g, chunks, hidden, 0.0)
        warm = split.free_states(g, [(b, s.x) for (b, _), s in zip(chunks, shared, strict=True)],
                                 hidden, 0.0)  # fmt: skip
    assert hidden
    for a, b, c in zip(here, shared, warm, strict=True):
        assert a.x.tobytes() == b.x.tobytes()
        np.testing.assert_array_equal(a.above, b.above)
        np.testing.assert_array_equal(a.below, b.below)
        np.testing.assert_allclose(c.x, a.x, rtol=1e-12, atol=1e-15)


def test_workers_die_with_their_parent(tmp_path: Path) -> None:
    """A training killed with kill -9 leaves no worker behind (holding its run's lock)."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import time\n"
        "from circuitlearn.circuit import kendall_network\n"
        "from circuitlearn.learn import LearningTask, make_estimator\n"
        "from circuitlearn.learn.batched import BatchEngine\n"
        "from circuitlearn.learn.parallel import ParallelEngine\n"
        "net = kendall_network(2, [3], 1, seed=0)\n"
        "task = LearningTask(net.circuit, list(net.trainable), list(net.output_nodes), [0.1])\n"
        "pool = ParallelEngine(BatchEngine(task), make_estimator('exact'), 3)\n"
        "print(*(p.pid for p in pool._processes), flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    children = [int(pid) for pid in parent.stdout.readline().split()]
    if len(children) != 2:
        parent.kill()
        pytest.fail(f"the parent script did not start its workers: {parent.communicate()[1]}")
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in children)


def test_workers_end_when_the_parent_ends_are_closed() -> None:
    """A worker sees EOF once the parent's ends of the pipes are gone: the forks do not keep
    copies of them (the first worker held its own pipe's other end open, and waited forever)."""
    task, _, _ = kendall_task(None)
    pool = ParallelEngine(BatchEngine(task), make_estimator("exact"), 3)
    try:
        for pipe in pool._pipes:  # as a parent killed before it could send the end
            pipe.close()
        for process in pool._processes:
            process.join(timeout=10)
        assert not any(process.is_alive() for process in pool._processes)
    finally:
        for process in pool._processes:
            process.kill()
        pool._pipes, pool._processes = [], []


def test_a_worker_that_starts_after_its_parent_died_ends() -> None:
    """The worker compares its parent with the pid taken before the fork: one that starts after
    its parent was killed (a loaded machine) ends instead of waiting forever."""
    import multiprocessing

    from circuitlearn.learn.parallel import _die_with_parent

    def late_worker() -> None:
        _die_with_parent(os.getppid() + 1)  # the pid of a parent that is not this one's any more
        os._exit(3)

    process = multiprocessing.get_context("fork").Process(target=late_worker)
    process.start()
    process.join(timeout=10)
    assert process.exitcode == 0


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, dead but not yet reaped by init, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
