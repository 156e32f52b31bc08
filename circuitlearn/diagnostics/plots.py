"""Figures of the diagnostics: conservation, order studies, convergence; and the y-range rule
that the training and sweep figures share (:func:`fit_trained_epochs`).

matplotlib is imported inside each function (never at import time), so importing circuitlearn
stays light; matplotlib picks its own backend (Agg when headless, inline in notebooks). Every
``plot_*`` function returns the matplotlib ``Figure`` and saves it when given ``path``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from circuitlearn.diagnostics.conservation import ConservationTracker
    from circuitlearn.diagnostics.convergence import ConvergenceReport
    from circuitlearn.diagnostics.orders import OrderStudy

__all__ = [
    "fit_trained_epochs",
    "plot_conservation",
    "plot_convergence",
    "plot_orders",
    "trained_range",
]


def plot_conservation(
    trackers: Mapping[str, ConservationTracker],
    *,
    path: str | Path | None = None,
) -> Any:
    """The drift of Q in one or more runs, split as the tracker splits it, with the loss curves.

    Left: δ(t) = Q(t)/Q0 − 1 (solid) and its discretisation part Σ ½‖Δk‖²/Q0 (dotted, same
    colour); middle: the part along the update direction |Σ k·Δk|/Q0 — the one the law sets to 0;
    right: the cost. Log scales (values below 1e-17 are drawn at 1e-17, the rounding floor).

    Parameters
    ----------
    trackers : mapping label → ConservationTracker
        E.g. ``{"linear, exact": t1, "fixed diode": t2}``.
    path : str or Path, optional
        Where to save the figure (PNG, PDF...).
    """
    plt = _pyplot()
    fig, (ax_q, ax_b, ax_c) = plt.subplots(1, 3, figsize=(14, 3.8))
    floor = 1e-17
    for label, tracker in trackers.items():
        steps = np.arange(1, len(tracker.history) + 1)
        drift = np.abs(tracker.drift[1:])
        bias = np.abs(np.cumsum(tracker.series("bias"))) / tracker.initial
        disc = np.cumsum(tracker.series("discretisation")) / tracker.initial
        (line,) = ax_q.plot(steps, np.maximum(drift, floor), label=label)
        ax_q.plot(steps, np.maximum(disc, floor), ":", color=line.get_color())
        ax_b.plot(steps, np.maximum(bias, floor), color=line.get_color(), label=label)
        costs = tracker.series("cost")
        if np.any(np.isfinite(costs)):
            ax_c.plot(steps, costs, color=line.get_color(), label=label)
    for ax in (ax_q, ax_b, ax_c):
        ax.set_yscale("log")
        ax.set_xlabel("training step")
    ax_q.set_ylabel("|δ(t)| = |Q(t)/Q(0) − 1|")
    ax_q.set_title("drift of Q = ½ Σ G² (dotted: discretisation)", fontsize=10)
    ax_b.set_ylabel("|Σ k·Δk| / Q(0)")
    ax_b.set_title("drift along the update direction", fontsize=10)
    ax_b.legend(fontsize=8)
    ax_c.set_ylabel("cost C [V²]")
    ax_c.set_title("loss", fontsize=10)
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
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.yaxis.set_minor_formatter(plt.NullFormatter())
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


def trained_range(
    bands: Sequence[tuple[np.ndarray, np.ndarray]], margin: float = 0.1
) -> tuple[float, float] | None:
    """y-limits that fit the curves' (low, high) bands from epoch 1 on, or ``None`` when epoch 0
    lies within twice their range (or there is nothing after it): then the full scale is kept.

    An untrained network's chance-level point otherwise sets the scale, and a long run's
    plateau (the part readers look at) becomes a flat line.
    """
    if not bands or min(len(low) for low, _ in bands) < 3:
        return None
    with warnings.catch_warnings():  # all-NaN curves (runs without epochs) are left out
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.nanmin([np.nanmin(lo[1:]) for lo, _ in bands])
        high = np.nanmax([np.nanmax(hi[1:]) for _, hi in bands])
        whole = np.nanmax([np.nanmax(hi) for _, hi in bands]) - np.nanmin(
            [np.nanmin(lo) for lo, _ in bands]
        )
    if not np.isfinite(low) or not np.isfinite(high) or whole <= 2 * (high - low):
        return None
    pad = margin * (high - low) if high > low else 0.01
    return float(low - pad), float(high + pad)


def fit_trained_epochs(ax: Any, bands: Sequence[tuple[np.ndarray, np.ndarray]]) -> bool:
    """Zoom ``ax`` onto epochs 1 onwards when :func:`trained_range` says so, and say in the
    panel that epoch 0 is off the scale; whether it zoomed."""
    limits = trained_range(bands)
    if limits is None:
        return False
    ax.set_ylim(*limits)
    ax.annotate(
        "epoch 0 (untrained) off the scale",
        (0.02, 0.98),
        xycoords="axes fraction",
        va="top",
        fontsize=7,
        color="0.4",
    )
    return True
