"""Gradient reports: every method against the exact gradient, as text, a dict and a scatter plot.

The report is how users *see* EP's bias on a non-reciprocal circuit (relative error of order 1,
cosine similarity far from 1) next to AEP's and Dyadic EP's exactness.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from circuitlearn.learn.estimators import Gradient
from circuitlearn.learn.methods import METHODS, make_estimator
from circuitlearn.learn.task import LearningTask

__all__ = ["DEFAULT_METHODS", "GradientReport", "MethodComparison", "compare_gradients"]

DEFAULT_METHODS = tuple(name for name in METHODS if name != "exact")
"""Methods compared with ``exact`` by default."""


@dataclass
class MethodComparison:
    """One method against the exact gradient."""

    method: str
    gradient: Gradient
    relative_error: float
    """‖g − g_exact‖ / ‖g_exact‖."""
    cosine: float
    """g · g_exact / (‖g‖ ‖g_exact‖) (NaN when either is zero)."""
    error: str | None = None
    """Why the method could not run on this circuit (then the numbers are NaN)."""


@dataclass
class GradientReport:
    """Every compared method, the exact gradient and the task's description."""

    exact: Gradient
    comparisons: list[MethodComparison] = field(default_factory=list)
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: per method relative error, cosine and gradient."""
        return {
            "title": self.title,
            "exact": self.exact.to_dict(),
            "methods": {
                c.method: {
                    "relative_error": _json(c.relative_error),
                    "cosine": _json(c.cosine),
                    "beta": c.gradient.beta if c.error is None else None,
                    "gradient": c.gradient.to_dict()["gradient"] if c.error is None else None,
                    "error": c.error,
                }
                for c in self.comparisons
            },
        }

    def to_text(self, max_rows: int = 40) -> str:
        """A summary table (method, β, relative error, cosine) and a per-parameter table."""
        lines = [f"gradient report: {self.title}", f"cost C = {self.exact.cost:.6g}", ""]
        lines.append(f"{'method':<8} {'beta':>10} {'rel. error':>11} {'cosine':>9}")
        for c in self.comparisons:
            if c.error is not None:
                lines.append(f"{c.method:<8} {'-':>10} {'n/a':>11} {'n/a':>9}  ({c.error})")
                continue
            beta = "-" if c.gradient.beta is None else f"{c.gradient.beta:.3g}"
            lines.append(f"{c.method:<8} {beta:>10} {c.relative_error:>11.3e} {c.cosine:>9.5f}")
        ok = [c for c in self.comparisons if c.error is None]
        lines += [
            "",
            f"{'parameter':<16} {'G [S]':>11} {'exact':>13}"
            + "".join(f" {c.method:>13}" for c in ok),
        ]
        names = list(self.exact.values)
        for name in names[:max_rows]:
            g_exact = self.exact.values[name] + 0.0
            row = f"{name:<16} {self.exact.parameters[name]:>11.4g} {g_exact:>13.6g}"
            row += "".join(f" {c.gradient.values[name] + 0.0:>13.6g}" for c in ok)
            lines.append(row)
        if len(names) > max_rows:
            lines.append(f"... {len(names) - max_rows} more parameters")
        return "\n".join(lines)

    def plot(self, path: str | Path) -> Path:
        """Scatter of each method's dC/dG against the exact one (PNG); returns the path.

        matplotlib is imported here only (a plotting extra, never needed by solvers), through its
        object API: no pyplot state, no backend switch, so a notebook's plotting is untouched.
        """
        from matplotlib.figure import Figure

        ok = [c for c in self.comparisons if c.error is None]
        fig = Figure(figsize=(3.2 * max(len(ok), 1), 3.4))
        axes = fig.subplots(1, max(len(ok), 1), squeeze=False)
        exact = self.exact.vector
        lim = float(np.max(np.abs(exact))) * 1.1 or 1.0
        for ax, c in zip(axes[0], ok, strict=False):
            ax.plot([-lim, lim], [-lim, lim], color="0.7", lw=1)
            ax.scatter(exact, c.gradient.vector, s=12)
            ax.set_title(f"{c.method}: err {c.relative_error:.1e}, cos {c.cosine:.3f}", fontsize=8)
            ax.set_xlabel("exact dC/dG")
        axes[0][0].set_ylabel("estimated dC/dG")
        fig.suptitle(self.title, fontsize=9)
        fig.tight_layout()
        out = Path(path)
        fig.savefig(out, dpi=120)
        return out


def compare_gradients(
    task: LearningTask,
    methods: Iterable[str] = DEFAULT_METHODS,
    *,
    backend: str = "native",
    beta: float | None = None,
    variant: str = "centered",
) -> GradientReport:
    """Run every method on ``task`` (one shared free state) and compare with the exact gradient.

    A method that cannot run on the circuit (e.g. CL when an output is driven by a VCVS) is
    reported with its reason instead of failing the whole report.

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VCCS, VoltageSource
    >>> c = Circuit("amp"); _ = c.add(VoltageSource("v1", "a", "0", 1.0))
    >>> _ = c.add(Resistor("r1", "a", "b", 1e3)); _ = c.add(Resistor("r2", "b", "0", 1e3))
    >>> _ = c.add(VCCS("g1", "0", "c", "b", "0", 1e-3)); _ = c.add(Resistor("r3", "c", "0", 1e3))
    >>> report = compare_gradients(LearningTask(c, "r*", {"c": 0.2}), ["ep", "aep"])
    >>> [(m.method, m.relative_error < 1e-6) for m in report.comparisons]
    [('ep', False), ('aep', True)]
    """
    from circuitlearn.errors import CircuitLearnError

    free = task.solve(backend)
    exact = make_estimator("exact").compute_gradient(task, backend=backend, free=free)
    g0 = exact.vector
    report = GradientReport(exact, title=f"{task.circuit.title} ({backend})")
    for method in methods:
        try:
            settings = {} if method == "fd" else {"beta": beta, "variant": variant}
            grad = make_estimator(method, **settings).compute_gradient(
                task, backend=backend, free=free
            )
        except CircuitLearnError as exc:
            report.comparisons.append(
                MethodComparison(method, exact, float("nan"), float("nan"), str(exc))
            )
            continue
        g = grad.vector
        norm = np.linalg.norm(g0)
        rel = float(np.linalg.norm(g - g0) / norm) if norm > 0 else float(np.linalg.norm(g))
        denom = np.linalg.norm(g) * norm
        cos = float(g @ g0 / denom) if denom > 0 else float("nan")
        report.comparisons.append(MethodComparison(method, grad, rel, cos))
    return report


def _json(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
