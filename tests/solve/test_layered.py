"""The layered elimination plans against sparse LU on patterns with structural zeros."""

from __future__ import annotations

import numpy as np
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


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_hidden=st.integers(4, 40),
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
    assert sorted(plan.rest) == list(range(n_hidden, n))
    rng = np.random.default_rng(seed + 1)
    samples = 3
    # per-sample values on the shared pattern: scale the columns (keeps the pattern and dominance)
    data = matrix.data[None, :] * rng.uniform(0.5, 2.0, (samples, 1))
    rhs = rng.normal(size=(samples, n))
    solved = plan.solve(data, rhs)
    assert solved is not None
    for s in range(samples):
        sample = sp.csc_matrix((data[s], matrix.indices, matrix.indptr), shape=(n, n))
        np.testing.assert_allclose(solved[s], spla.spsolve(sample, rhs[s]), rtol=1e-10, atol=1e-12)
    block = BlockSchurPlan.from_pattern(matrix.indices, matrix.indptr, n)
    if block is not None:
        np.testing.assert_allclose(block.solve(data, rhs), solved, rtol=1e-10, atol=1e-12)


def test_dense_block_reads_structural_zeros_as_zero() -> None:
    block = DenseBlock.of(np.array([2, 0]), (np.array([0, 1]), np.array([1, 0])), (2, 2), 3)
    assert not block.complete
    values = np.array([[10.0, 20.0, 30.0, 0.0], [1.0, 2.0, 3.0, 0.0]])  # zero column appended
    np.testing.assert_array_equal(block.take(values), [[[0, 30], [10, 0]], [[0, 3], [1, 0]]])


def test_schur_plan_declines_a_vanishing_pivot() -> None:
    matrix = _bipartite(0, 6, 2, 0.5)
    plan = SchurPlan.from_pattern(matrix.indices, matrix.indptr, matrix.shape[0])
    data = matrix.data[None, :].copy()
    data[0, plan.diag_pos[3]] = 1e-12 * np.abs(data).max()
    assert plan.solve(data, np.ones((1, matrix.shape[0]))) is None
