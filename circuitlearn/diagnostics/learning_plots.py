"""Figures of the learning studies: the Dyadic BP error per Euler step.

matplotlib is imported inside each function (never at import time). Every function returns the
``Figure`` and saves it when given ``path``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["plot_dyadic_bp"]

_FLOOR = 1e-17
"""Errors below this (exact zeros included) are drawn here, the rounding floor of a log axis."""


def plot_dyadic_bp(traces: Sequence[Any], *, path: str | Path | None = None) -> Any:
    """Relative gradient error against Euler step, one curve per trace, 2L marked on each.

    Parameters
    ----------
    traces : sequence of :class:`~circuitlearn.learn.dyadic_bp.DyadicBPResult`
    path : str or Path, optional
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for trace in traces:
        steps = np.arange(1, len(trace.relative_error) + 1)
        errors = np.maximum(trace.relative_error, _FLOOR)
        label = f"L={trace.depth}, h={trace.step_size:g}"
        (line,) = ax.semilogy(steps, errors, marker="o", ms=3, label=label)
        if trace.step_size == 1.0:
            ax.axvline(2 * trace.depth, color=line.get_color(), ls=":", lw=1)
    ax.set_xlabel("Euler step k")
    ax.set_ylabel("relative error of the weight gradient vs backprop")
    ax.set_title("Dyadic BP: exact at k = 2L (dotted) for h = 1")
    ax.legend(fontsize=8)
    return _finish(fig, path)


def _pyplot() -> Any:
    import matplotlib.pyplot as plt

    return plt


def _finish(fig: Any, path: str | Path | None) -> Any:
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
