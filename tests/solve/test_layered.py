"""The layered elimination plans against sparse LU on patterns with structural zeros."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from hypothesis import given, settings
from hypothesis import strategies as st

from circuitlearn.solve.layered import BlockSchurPlan, DenseBlock, SchurPlan


def _bipartite(seed: int, n_hidden: int, n_out: int, density: float) -> sp.csc_matrix:
    """A diagonally dominant matrix whose hidden unknowns join only some outputs."""
    rng = np.random.default_rng(seed)
    n = n_hidden + n_out
    link = rng.random((n_hidden, n_out)) < density
    link[np.arange(n_hidden), rng.integers(0, n_out, n_hidden)] = True  # none left isolated
    h, o = np.nonzero(link)
    o = o + n_hidden
    rows = np.concatenate([h, o, np.arange(n)])
    cols = np.concatenate([o, h, np.arange(n)])
    values = np.concatenate([-rng.uniform(0.1, 1, 2 * h.size), np.zeros(n)])
    matrix = sp.csc_matrix((values, (rows, cols)), shape=(n, n))
    # asymmetric off-diagonals (as amplifiers make them) and a dominant diagonal
    matrix.data[matrix.indices != np.repeat(np.arange(n), np.diff(matrix.indptr))] *= rng.uniform(
        0.5, 1.5, 2 * h.size
    )
    matrix = matrix + sp.diags(np.abs(matrix).sum(axis=1).A1 + rng.uniform(0.1, 1, n))
    matrix = matrix.tocsc()
    matrix.sort_indices()
    return matrix


def _assert_solves(
    matrix: sp.csc_matrix, data: np.ndarray, rhs: np.ndarray, solved: np.ndarray, rtol: float
) -> None:
    """Each sample's solution (row of ``solved``) equals sparse LU's for its values ``data``."""
    assert solved is not None
    for s in range(len(rhs)):
        sample = sp.csc_matrix((data[s], matrix.indices, matrix.indptr), shape=matrix.shape)
        np.testing.assert_allclose(solved[s], spla.spsolve(sample, rhs[s]), rtol=rtol, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_hidden=st.integers(12, 40),  # ≥ 4 per output: a layered network (tiny ones may tie)
    n_out=st.integers(1, 3),
    density=st.floats(0.0, 1.0),
)
def test_schur_plan_solves_patterns_with_structural_zeros(
    seed: int, n_hidden: int, n_out: int, density: float
) -> None:
    matrix = _bipartite(seed, n_hidden, n_out, density)
    n = matrix.shape[0]
    plan = SchurPlan.from_pattern(matrix.indices, matrix.indptr, n)
    assert plan is not None
    # what elimination needs: no entry joins two eliminated unknowns (it may pick an unlinked
    # output, or a hidden node whose outputs have fewer links, into either set)
    chosen = np.zeros(n, dtype=bool)
    chosen[plan.eliminated] = True
    joined = matrix.tocoo()
    assert not np.any(chosen[joined.row] & chosen[joined.col] & (joined.row != joined.col))
    if density > 0.5:  # every output has more links than any hidden node: they are the rest
        assert sorted(plan.rest) == list(range(n_hidden, n))
    rng = np.random.default_rng(seed + 1)
    samples = 3
    # per-sample values on the shared pattern: scale the columns (keeps the pattern and dominance)
    data = matrix.data[None, :] * rng.uniform(0.5, 2.0, (samples, 1))
    rhs = rng.normal(size=(samples, n))
    solved = plan.solve(data, rhs)
    assert solved is not None
    _assert_solves(matrix, data, rhs, solved, rtol=1e-10)
    block = BlockSchurPlan.from_pattern(matrix.indices, matrix.indptr, n)
    if block is not None:
        np.testing.assert_allclose(block.solve(data, rhs), solved, rtol=1e-10, atol=1e-12)
    # only the diagonal varies (diodes at the hidden nodes, nudges at the outputs): the
    # shared-coupling path, which forms every sample's Schur complement in one product
    diagonal = matrix.indices == np.repeat(np.arange(n), np.diff(matrix.indptr))
    shared = np.tile(matrix.data, (samples, 1))
    shared[:, diagonal] *= rng.uniform(1.0, 3.0, (samples, int(diagonal.sum())))
    assert np.all(shared[:, plan.coupling] == shared[:1, plan.coupling])
    solved = plan.solve(shared, rhs)
    assert solved is not None
    _assert_solves(matrix, shared, rhs, solved, rtol=1e-10)


def test_shared_coupling_is_noticed_only_when_every_sample_has_it() -> None:
    matrix = _bipartite(3, 12, 3, 0.6)
    plan = SchurPlan.from_pattern(matrix.indices, matrix.indptr, matrix.shape[0])
    data = np.tile(matrix.data, (4, 1))
    calls = []
    original = plan._shared_solve
    plan._shared_solve = lambda *args: calls.append(1) or original(*args)  # type: ignore[method-assign]
    rhs = np.ones((4, matrix.shape[0]))
    plan.solve(data, rhs)
    data[2, plan.coupling[5]] *= 1.5  # one sample's coupling differs: the per-sample path
    differing = plan.solve(data, rhs)
    assert calls == [1]
    sample = sp.csc_matrix((data[2], matrix.indices, matrix.indptr), shape=matrix.shape)
    np.testing.assert_allclose(differing[2], spla.spsolve(sample, rhs[2]), rtol=1e-10)


def test_shared_coupling_products_follow_a_change_of_the_coupling() -> None:
    """The products K_RI·K_IR are reused from solve to solve while the coupling stays (Newton
    iterations, phases) and formed again when it changes (a conductance update)."""
    matrix = _bipartite(5, 16, 3, 0.7)
    plan = SchurPlan.from_pattern(matrix.indices, matrix.indptr, matrix.shape[0])
    rng = np.random.default_rng(6)
    rhs = rng.normal(size=(2, matrix.shape[0]))
    for scale in (1.0, 1.0, 0.5):  # the second solve reuses the products, the third may not
        data = np.tile(matrix.data, (2, 1))
        data[:, plan.coupling] *= scale
        diagonal_slack = rng.uniform(1.0, 2.0, (2, 1))
        data[:, plan.diag_pos] *= diagonal_slack
        solved = plan.solve(data, rhs)
        assert solved is not None
        for s in range(2):
            sample = sp.csc_matrix((data[s], matrix.indices, matrix.indptr), shape=matrix.shape)
            np.testing.assert_allclose(solved[s], spla.spsolve(sample, rhs[s]), rtol=1e-10)


def test_dense_block_reads_structural_zeros_as_zero() -> None:
    block = DenseBlock.of(np.array([2, 0]), (np.array([0, 1]), np.array([1, 0])), (2, 2), 3)
    assert not block.complete
    values = np.array([[10.0, 20.0, 30.0, 0.0], [1.0, 2.0, 3.0, 0.0]])  # zero column appended
    np.testing.assert_array_equal(block.take(values), [[[0, 30], [10, 0]], [[0, 3], [1, 0]]])
    np.testing.assert_array_equal(block.gather(values[:, :3]), block.take(values))


def test_schur_plan_declines_a_vanishing_pivot() -> None:
    matrix = _bipartite(0, 6, 2, 0.5)
    plan = SchurPlan.from_pattern(matrix.indices, matrix.indptr, matrix.shape[0])
    data = matrix.data[None, :].copy()
    data[0, plan.diag_pos[3]] = 1e-12 * np.abs(data).max()
    assert plan.solve(data, np.ones((1, matrix.shape[0]))) is None


def _blocks(seed: int, sizes: list[int], n_rest: int) -> sp.csc_matrix:
    """Small dense blocks (asymmetric, dominant diagonal) joined only to ``n_rest`` hubs, as
    a hidden unit with its amplifier is joined to the output layer."""
    rng = np.random.default_rng(seed)
    n = sum(sizes) + n_rest
    rest = np.arange(n - n_rest, n)
    dense = np.zeros((n, n))
    start = 0
    for size in sizes:
        unit = np.arange(start, start + size)
        dense[np.ix_(unit, unit)] = rng.uniform(-1, 1, (size, size))
        hubs = rest[rng.random(n_rest) < 0.8]
        dense[np.ix_(unit, hubs)] = rng.uniform(-1, 1, (size, hubs.size))
        dense[np.ix_(hubs, unit)] = rng.uniform(-1, 1, (hubs.size, size))
        start += size
    dense[np.ix_(rest, rest)] = rng.uniform(-1, 1, (n_rest, n_rest))
    dense[np.arange(n), np.arange(n)] = np.abs(dense).sum(axis=1) + 1.0
    matrix = sp.csc_matrix(dense)
    matrix.sort_indices()
    return matrix


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    sizes=st.lists(st.sampled_from([1, 2, 3, 5]), min_size=12, max_size=24),
    n_rest=st.integers(1, 4),
    pivot_seed=st.integers(0, 100),
)
def test_block_plan_condenses_blocks_whose_diagonal_alone_varies(
    seed: int, sizes: list[int], n_rest: int, pivot_seed: int
) -> None:
    """One diagonal entry a block varies (a diode at the hidden node), and K_RR (nudges): every
    sample's solve equals sparse LU's, without one LU per block and sample."""
    matrix = _blocks(seed, sizes, n_rest)
    n = matrix.shape[0]
    plan = BlockSchurPlan.from_pattern(matrix.indices, matrix.indptr, n)
    assert plan is not None
    rng = np.random.default_rng(pivot_seed)
    samples = 4
    data = np.tile(matrix.data, (samples, 1))
    rows = matrix.indices
    cols = np.repeat(np.arange(n), np.diff(matrix.indptr))
    varying = []
    for table in plan.groups:
        if rng.random() < 0.25:  # a group whose blocks are the same in every sample
            continue
        slot = table[:, rng.integers(0, table.shape[1])]
        varying.append(np.flatnonzero(np.isin(rows, slot) & (rows == cols)))
    in_rest = np.isin(rows, plan.rest) & np.isin(cols, plan.rest)
    for at in [*varying, np.flatnonzero(in_rest)]:
        data[:, at] *= rng.uniform(0.2, 5.0, (samples, at.size))
    rhs = rng.normal(size=(samples, n))
    plan._blockwise_solve = lambda *args: pytest.fail("factored block by block")  # type: ignore[method-assign]
    solved = plan.solve(data, rhs)
    assert solved is not None
    _assert_solves(matrix, data, rhs, solved, rtol=1e-9)


def test_block_plan_factors_each_block_when_more_than_a_pivot_varies() -> None:
    matrix = _blocks(1, [3] * 12, 2)
    n = matrix.shape[0]
    plan = BlockSchurPlan.from_pattern(matrix.indices, matrix.indptr, n)
    assert plan is not None
    data = np.tile(matrix.data, (3, 1))
    rows, cols = matrix.indices, np.repeat(np.arange(n), np.diff(matrix.indptr))
    inside = np.flatnonzero((rows != cols) & (rows < n - 2) & (cols < n - 2))
    data[1, inside[4]] *= 1.5  # an entry joining two unknowns of one block, in one sample
    blockwise = []
    original = plan._blockwise_solve
    plan._blockwise_solve = lambda *args: blockwise.append(1) or original(*args)  # type: ignore[method-assign]
    rhs = np.ones((3, n))
    solved = plan.solve(data, rhs)
    assert blockwise == [1]
    sample = sp.csc_matrix((data[1], matrix.indices, matrix.indptr), shape=(n, n))
    np.testing.assert_allclose(solved[1], spla.spsolve(sample, rhs[1]), rtol=1e-10)


def test_block_plan_factors_each_block_when_condensing_would_magnify_errors() -> None:
    """A block whose other unknown has a tiny pivot of its own but a large coupling to the
    varying one ([[a, 1], [1, 1e-13]]): eliminating it first would lose every digit."""
    matrix = _blocks(2, [2] * 12, 2).tolil()
    for first in range(0, 24, 2):
        matrix[first, first + 1] = matrix[first + 1, first] = 2.0
        matrix[first + 1, first + 1] = 1e-13
    matrix = matrix.tocsc()
    matrix.sort_indices()
    n = matrix.shape[0]
    plan = BlockSchurPlan.from_pattern(matrix.indices, matrix.indptr, n)
    assert plan is not None
    data = np.tile(matrix.data, (3, 1))
    rows, cols = matrix.indices, np.repeat(np.arange(n), np.diff(matrix.indptr))
    pivots = np.flatnonzero((rows == cols) & (rows < 24) & (rows % 2 == 0))
    data[:, pivots] *= np.random.default_rng(0).uniform(0.5, 2.0, (3, pivots.size))
    blockwise = []
    original = plan._blockwise_solve
    plan._blockwise_solve = lambda *args: blockwise.append(1) or original(*args)  # type: ignore[method-assign]
    rhs = np.random.default_rng(1).normal(size=(3, n))
    solved = plan.solve(data, rhs)
    assert blockwise == [1]
    _assert_solves(matrix, data, rhs, solved, rtol=1e-9)
