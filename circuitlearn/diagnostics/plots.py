"""Figures of the diagnostics: conservation, order studies, convergence.

matplotlib is imported inside each function (never at import time), so importing circuitlearn
stays light; matplotlib picks its own backend (Agg when headless, inline in notebooks). Every
function returns the matplotlib ``Figure`` and saves it when given ``path``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from circuitlearn.diagnostics.conservation import ConservationTracker
    from circuitlearn.diagnostics.convergence import ConvergenceReport
    from circuitlearn.diagnostics.orders import OrderStudy

__all__ = ["plot_conservation", "plot_convergence", "plot_orders"]


def plot_conservation(
    trackers: Mapping[str, ConservationTracker],
    *,
    path: str | Path | None = None,
) -> Any:
    """δ(t) = Q(t)/Q0 − 1 of one or more runs (symlog scale), with their loss curves.

    Parameters
    ----------
    trackers : mapping label → ConservationTracker
        E.g. ``{"linear, exact": t1, "fixed diode": t2}``.
    path : str or Path, optional
        Where to save the figure (PNG, PDF...).
    """
    plt = _pyplot()
    fig, (ax_q, ax_c) = plt.subplots(1, 2, figsize=(10, 3.8))
    for label, tracker in trackers.items():
        steps = np.arange(len(tracker.quantity))
        ax_q.plot(steps, tracker.drift, label=label)
        costs = tracker.series("cost")
        if np.any(np.isfinite(costs)):
            ax_c.plot(steps[1:], costs, label=label)
    ax_q.set_yscale("symlog", linthresh=1e-12)
    ax_q.axhline(0.0, color="k", lw=0.5)
    ax_q.set_xlabel("training step")
    ax_q.set_ylabel("δ(t) = Q(t)/Q(0) − 1")
    ax_q.set_title("conserved quantity Q = ½ Σ G²")
    ax_q.legend(fontsize=8)
    ax_c.set_yscale("log")
    ax_c.set_xlabel("training step")
    ax_c.set_ylabel("cost C [V²]")
    ax_c.set_title("loss")
    fig.tight_layout()
    return _finish(fig, path)


def plot_orders(studies: Sequence[OrderStudy], *, path: str | Path | None = None) -> Any:
    """Log-log order plots |drift| vs lr, β, η with the fitted slopes annotated.

    Parameters
    ----------
    studies : sequence of OrderStudy
        From :mod:`circuitlearn.diagnostics.orders`.
    path : str or Path, optional
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(studies), figsize=(3.6 * len(studies), 3.4), squeeze=False)
    for ax, study in zip(axes[0], studies, strict=True):
        ax.loglog(study.values, study.drifts, "o-", label="measured")
        if study.predicted is not None and np.all(np.isfinite(study.predicted)):
            ax.loglog(study.values, np.abs(study.predicted), "k--", lw=1, label="predicted")
        ax.set_xlabel(study.parameter)
        ax.set_ylabel("|drift| / Q0")
        ax.set_title(study.label, fontsize=9)
        ax.annotate(
            f"slope {study.slope:.2f} (expected {study.expected_slope:g})",
            xy=(0.05, 0.9),
            xycoords="axes fraction",
            fontsize=8,
        )
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return _finish(fig, path)


def plot_convergence(report: ConvergenceReport, *, path: str | Path | None = None) -> Any:
    """Newton iterations per phase, loss curve and gradient alignment of a training run.

    Parameters
    ----------
    report : ConvergenceReport
    path : str or Path, optional
    """
    plt = _pyplot()
    fig, (ax_it, ax_loss, ax_cos) = plt.subplots(1, 3, figsize=(12, 3.4))
    for phase, iterations in report.iterations_by_phase().items():
        ax_it.plot(iterations, ".", label=phase)
    ax_it.set_xlabel("solve (step × sample)")
    ax_it.set_ylabel("Newton iterations")
    ax_it.legend(fontsize=7)
    if report.losses:
        ax_loss.semilogy(report.losses)
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("cost [V²]")
    if report.alignment:
        ax_cos.plot(report.alignment)
    ax_cos.set_ylim(-1.05, 1.05)
    ax_cos.set_xlabel("step")
    ax_cos.set_ylabel("cos(estimate, exact gradient)")
    fig.tight_layout()
    return _finish(fig, path)


def _pyplot() -> Any:
    import matplotlib.pyplot as plt

    return plt


def _finish(fig: Any, path: str | Path | None) -> Any:
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
