"""Learning rules as circuit transformations: tasks, costs, phases and gradient estimators."""

from circuitlearn.learn.api import compute_gradient, export_phases, gradient_report
from circuitlearn.learn.costs import COSTS, Cost, CrossEntropy, MeanSquaredError, make_cost
from circuitlearn.learn.estimators import (
    Adjoint,
    AsymmetricEP,
    CoupledLearning,
    DyadicEP,
    EquilibriumProp,
    FiniteDifference,
    Gradient,
    GradientEstimator,
    default_beta,
)
from circuitlearn.learn.methods import METHODS, MethodInfo, make_estimator
from circuitlearn.learn.report import GradientReport, compare_gradients
from circuitlearn.learn.task import LearningTask, resolve_trainable

__all__ = [
    "COSTS",
    "METHODS",
    "Adjoint",
    "AsymmetricEP",
    "Cost",
    "CoupledLearning",
    "CrossEntropy",
    "DyadicEP",
    "EquilibriumProp",
    "FiniteDifference",
    "Gradient",
    "GradientEstimator",
    "GradientReport",
    "LearningTask",
    "MeanSquaredError",
    "MethodInfo",
    "compare_gradients",
    "compute_gradient",
    "default_beta",
    "export_phases",
    "gradient_report",
    "make_cost",
    "make_estimator",
    "resolve_trainable",
]
