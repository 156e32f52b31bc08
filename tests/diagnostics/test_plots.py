"""The y-range rule shared by the sweep's and the run's figures."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from circuitlearn.diagnostics.plots import fit_trained_epochs, trained_range


def test_scale_follows_the_trained_epochs() -> None:
    """A chance-level epoch 0 must not set the scale of a long run's figure (its plateau became
    a flat line); when epoch 0 fits the trained range, or a run is too short, nothing changes."""
    plateau = np.array([0.90, 0.16, 0.13, 0.12, 0.115])
    band = (plateau - 0.001, plateau + 0.001)
    low, high = trained_range([band])
    assert low < 0.114 and 0.116 < high < 0.2  # epochs 1..4 inside, epoch 0 far above
    other = (plateau[::-1] - 0.001, plateau[::-1] + 0.001)  # a curve rising to 0.9 fits
    assert trained_range([band, other]) is None
    near = np.array([0.20, 0.16, 0.13, 0.12, 0.115])  # epoch 0 just above: the full scale
    assert trained_range([(near, near)]) is None
    assert trained_range([(plateau[:2], plateau[:2])]) is None  # epoch 0 and 1 only
    empty = np.full(5, np.nan)
    assert trained_range([band, (empty, empty)]) == (low, high)  # a run without epochs
    assert trained_range([]) is None


def test_fit_trained_epochs_zooms_and_says_so() -> None:
    plateau = np.array([0.90, 0.16, 0.13, 0.12, 0.115])
    ax = Figure().subplots()
    ax.plot(plateau)
    assert fit_trained_epochs(ax, [(plateau, plateau)])
    assert ax.get_ylim() == trained_range([(plateau, plateau)])
    assert [t.get_text() for t in ax.texts] == ["epoch 0 (untrained) off the scale"]
    near = np.array([0.20, 0.16, 0.13, 0.12, 0.115])
    ax = Figure().subplots()
    ax.plot(near)
    before = ax.get_ylim()
    assert not fit_trained_epochs(ax, [(near, near)])
    assert ax.get_ylim() == before and not ax.texts
