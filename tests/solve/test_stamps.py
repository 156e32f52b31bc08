"""Values of the compiled linear stamps: the fast paths for crossbars give the plain weighted
``bincount``'s values to the bit, and any other layout takes the plain path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from circuitlearn.circuit import kendall_network
from circuitlearn.solve.mna import compile_circuit
from circuitlearn.solve.stamps import _CSRPattern, _PeriodicRun, _StampRectangle


def _rows_by_bincount(pattern: _CSRPattern, params: np.ndarray, n_rows: int) -> np.ndarray:
    end = int(pattern._indptr[n_rows])
    inside = pattern._position < end
    weights = pattern._signs[inside] * params[pattern._slots[inside]]
    return np.bincount(pattern._position[inside], weights=weights, minlength=end)


def _dense_by_bincount(pattern: _CSRPattern, params: np.ndarray, n_rows: int) -> np.ndarray:
    dense = np.zeros((pattern.shape[1], n_rows))
    rows, cols = pattern.positions(n_rows)
    np.add.at(dense, (cols, rows), _rows_by_bincount(pattern, params, n_rows))
    return dense


def _crossbar_system(n_inputs: int, hidden: int) -> object:
    net = kendall_network(n_inputs, [hidden], 3, seed=1, bias_voltages=(0.6, -0.6))
    system = compile_circuit(net.circuit)
    rng = np.random.default_rng(2)
    system.set_conductances(system.conductances * rng.uniform(0.5, 2.0, len(system.conductances)))
    system.sources()  # the values are rebuilt on first use
    return system


def test_a_crossbar_from_the_inputs_is_one_dense_rectangle_to_the_bit() -> None:
    system = _crossbar_system(20, 7)
    pattern, n = system._lin_fixed, system.n
    assert isinstance(pattern._dense_plan(n), _StampRectangle)
    np.testing.assert_array_equal(
        system._A_fixed_dense_T, _dense_by_bincount(pattern, system._params, n)
    )
    # every entry ≤ 0: |A| is not stored, and the magnitudes are those of |A| to the bit
    assert system._A_fixed_dense_negated and system._A_fixed_dense_abs_T is None
    tail = np.random.default_rng(3).uniform(-5, 5, (4, pattern.shape[1]))
    fixed = tail[:, :-1]
    values = system.sources(1.0, fixed=fixed, b=np.tile(system.source_vector, (4, 1)))
    expected = np.abs(values.tail) @ np.abs(system._A_fixed_dense_T)
    expected = expected + np.abs(np.tile(system.source_vector, (4, 1))[:, : system.n])
    np.testing.assert_array_equal(values.const_abs, expected)


def test_crossbar_diagonals_are_summed_by_rows_to_the_bit() -> None:
    system = _crossbar_system(60, 90)  # 120 inputs (60 pairs) x 90 hidden: 10,800 diagonals
    pattern, n = system._lin_unknown, system.n
    matrix = pattern.rows(system._params, n)
    run, _ = pattern._row_stamps[n]
    assert run is not None and run.repeats == 120 and run.positions.size == 90
    np.testing.assert_array_equal(matrix.data, _rows_by_bincount(pattern, system._params, n))
    np.testing.assert_array_equal(matrix.toarray(), pattern.matrix(system._params).toarray()[:n])


@st.composite
def _stamps(draw: st.DrawFn) -> tuple[tuple[np.ndarray, ...], tuple[int, int], np.ndarray]:
    """Random stamps, often opening with a crossbar-like run (repeated positions or a
    rectangle, consecutive slots), sometimes broken by one changed stamp."""
    n_rows, n_cols = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    parts = []
    if draw(st.booleans()):  # a run: the same cells again and again, consecutive parameters
        cells = rng.choice(
            n_rows * n_cols, size=draw(st.integers(1, n_rows * n_cols)), replace=False
        )
        if draw(st.booleans()):
            cells = np.sort(cells)
        repeats = draw(st.integers(1, 4))
        flat = np.tile(cells, repeats)
        parts.append(
            (flat // n_cols, flat % n_cols, np.full(flat.size, -1.0), np.arange(flat.size))
        )
    extra = draw(st.integers(0, 12))
    parts.append(
        (
            rng.integers(0, n_rows, extra),
            rng.integers(0, n_cols, extra),
            rng.choice([-1.0, 1.0], extra),
            rng.integers(0, 40, extra),
        )
    )
    rows, cols, signs, slots = (np.concatenate([p[k] for p in parts]) for k in range(4))
    if rows.size and draw(st.booleans()):  # break a run somewhere
        k = draw(st.integers(0, rows.size - 1))
        signs[k] = -signs[k] if draw(st.booleans()) else signs[k]
        slots[k] = slots[k] + draw(st.integers(0, 2))
    params = rng.uniform(0.1, 2.0, int(slots.max(initial=0)) + 1)
    return (rows, cols, signs, slots.astype(np.int64)), (n_rows, n_cols), params


@settings(max_examples=300, deadline=None)
@given(_stamps())
def test_fast_paths_agree_with_the_plain_sum_on_any_stamps(case) -> None:
    stamps, shape, params = case
    if stamps[0].size == 0:
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_PeriodicRun, "MIN_STAMPS", 2)
        pattern = _CSRPattern(stamps, np.ones(stamps[0].size, dtype=bool), shape)
        for n_rows in range(shape[0] + 1):
            np.testing.assert_array_equal(
                pattern.rows(params, n_rows).data, _rows_by_bincount(pattern, params, n_rows)
            )
            np.testing.assert_array_equal(
                pattern.dense_transposed(params, n_rows),
                _dense_by_bincount(pattern, params, n_rows),
            )
            dense = pattern.dense_transposed(params, n_rows)
            if pattern.dense_nonpositive(params, n_rows):
                assert np.all(dense <= 0.0)
