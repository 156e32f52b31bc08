"""Encodings: differential pairs match the Kendall network's source order; one-hot targets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from circuitlearn.circuit import kendall_network
from circuitlearn.data import decode_classes, differential_pairs, one_hot_targets, scale_to_range
from circuitlearn.errors import CircuitError


@settings(max_examples=30, deadline=None)
@given(
    x=arrays(float, st.tuples(st.integers(1, 5), st.integers(1, 6)), elements=st.floats(0, 1)),
    low=st.floats(-2, 0),
    span=st.floats(0, 3),
)
def test_differential_pairs_are_opposite_and_in_range(x, low, span):
    v = differential_pairs(x, voltage_range=(low, low + span))
    assert v.shape == (x.shape[0], 2 * x.shape[1])
    assert np.array_equal(v[:, 1::2], -v[:, 0::2])
    assert np.all(v[:, 0::2] >= low - 1e-12) and np.all(v[:, 0::2] <= low + span + 1e-12)


def test_differential_pairs_follow_the_network_source_order():
    net = kendall_network(3, 2, 1, seed=0)
    x = np.array([0.1, 0.6, 1.0])
    v = differential_pairs(x, voltage_range=(0.0, 2.0))
    assert dict(zip(net.input_sources, v.tolist(), strict=True)) == net.input_values(
        scale_to_range(x, (0.0, 2.0))
    )


def test_one_hot_targets_and_decoding():
    y = np.array([0, 2, 1, 2])
    t = one_hot_targets(y, 3, low=-0.2, high=0.3)
    assert t.shape == (4, 3)
    assert np.array_equal(decode_classes(t), y)
    assert np.count_nonzero(t == 0.3) == 4 and np.count_nonzero(t == -0.2) == 8


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: one_hot_targets(np.array([0, 3]), 3), r"labels must lie in \[0, 2\]; got 0..3"),
        (lambda: one_hot_targets(np.array([0.5]), 3), "must be a 1-D integer array"),
        (lambda: one_hot_targets(np.array([0]), 0), "n_classes must be a positive integer"),
        (lambda: scale_to_range(np.ones(2), (1.0, 0.0)), "low <= high"),
        (lambda: differential_pairs(np.ones((2, 2, 2))), "must be 1-D or 2-D"),
        (lambda: decode_classes(np.ones(3)), "must be 2-D"),
    ],
)
def test_encoding_errors(call, message):
    with pytest.raises(CircuitError, match=message):
        call()
