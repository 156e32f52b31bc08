"""Diagnostics: the conservation law of EP/CL (docs/math.md §7), convergence, power and Tellegen.

- :mod:`~circuitlearn.diagnostics.applicability`: does the law apply? every reason it does not;
- :mod:`~circuitlearn.diagnostics.conservation`: :class:`ConservationTracker` (Q, exact split,
  predicted rates, warnings);
- :mod:`~circuitlearn.diagnostics.training`: :func:`tracked_descent` and :func:`conservation_run`
  (the ``circuitlearn conservation`` object);
- :mod:`~circuitlearn.diagnostics.orders`: drift vs lr, β, η with fitted slopes;
- :mod:`~circuitlearn.diagnostics.rules`: the energy-form EP/CL rule those rates belong to;
- :mod:`~circuitlearn.diagnostics.convergence`: Newton iterations, strategies, residuals, loss,
  gradient alignment;
- :mod:`~circuitlearn.diagnostics.power`: dissipation per phase, Tellegen's theorem;
- :mod:`~circuitlearn.diagnostics.plots`: figures (matplotlib imported lazily).
"""

from circuitlearn.diagnostics.applicability import Applicability, analyze_applicability
from circuitlearn.diagnostics.conservation import (
    ConservationStep,
    ConservationTracker,
    ConservationWarning,
    conserved_quantity,
    euler_residual,
    predicted_rate,
)
from circuitlearn.diagnostics.convergence import ConvergenceReport, cosine_similarity, kcl_residual
from circuitlearn.diagnostics.orders import (
    OrderStudy,
    drift_vs_beta,
    drift_vs_eta,
    drift_vs_lr,
    fit_slope,
    order_studies,
)
from circuitlearn.diagnostics.power import (
    TellegenResult,
    dissipated_power,
    element_currents,
    phase_power,
    tellegen_check,
)
from circuitlearn.diagnostics.rules import EnergyFormRule
from circuitlearn.diagnostics.training import (
    TrainingTrace,
    conservation_run,
    default_lr,
    tracked_descent,
)

__all__ = [
    "Applicability",
    "ConservationStep",
    "ConservationTracker",
    "ConservationWarning",
    "ConvergenceReport",
    "EnergyFormRule",
    "OrderStudy",
    "TellegenResult",
    "TrainingTrace",
    "analyze_applicability",
    "conservation_run",
    "conserved_quantity",
    "cosine_similarity",
    "default_lr",
    "dissipated_power",
    "drift_vs_beta",
    "drift_vs_eta",
    "drift_vs_lr",
    "element_currents",
    "euler_residual",
    "fit_slope",
    "kcl_residual",
    "order_studies",
    "phase_power",
    "predicted_rate",
    "tellegen_check",
    "tracked_descent",
]
