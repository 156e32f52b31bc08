"""The registry of learning methods: one entry per rule, with what it can do.

Every place that lists methods (the CLI's choices, the trainer's config check, the conservation
diagnostics, the report, the batched engine) asks this registry instead of keeping its own list.

Examples
--------
>>> names(phases=True)
('ep', 'cl', 'aep', 'dyadic')
>>> METHODS["aep"].exact_nonreciprocal
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from circuitlearn.errors import CircuitError
from circuitlearn.learn.estimators import (
    Adjoint,
    AsymmetricEP,
    CoupledLearning,
    DyadicEP,
    EquilibriumProp,
    FiniteDifference,
    GradientEstimator,
    default_beta,
)

__all__ = ["METHODS", "MethodInfo", "make_estimator", "make_fixed_estimator", "names"]


@dataclass(frozen=True)
class MethodInfo:
    """A learning method and its capabilities.

    Attributes
    ----------
    name : str
        The CLI name.
    estimator : type
        Its :class:`~circuitlearn.learn.estimators.GradientEstimator` class.
    summary : str
        One line for help texts.
    phases : bool
        Has learning phases built as circuits (``export-phase``, ngspice phases).
    variants : bool
        Takes ``--variant centered|positive|negative``.
    exact_nonreciprocal : bool
        Gives the exact gradient (to its own accuracy) on non-reciprocal circuits too.
    trainable : bool
        Usable by ``circuitlearn train`` (finite differences are too slow for training).
    conservation : bool
        Its limiting rule conserves Q = ½ΣG² on linear circuits (``circuitlearn conservation``).
    batched : bool
        Has a batched form in :class:`~circuitlearn.learn.batched.BatchEngine` (else the engine
        averages single-sample gradients).
    """

    name: str
    estimator: type[GradientEstimator]
    summary: str
    phases: bool
    variants: bool
    exact_nonreciprocal: bool
    trainable: bool
    conservation: bool
    batched: bool


METHODS: dict[str, MethodInfo] = {
    info.name: info
    for info in (
        MethodInfo(
            "exact", Adjoint, "adjoint (implicit-function) gradient",
            phases=False, variants=False, exact_nonreciprocal=True, trainable=True,
            conservation=True, batched=True,
        ),
        MethodInfo(
            "fd", FiniteDifference, "central finite differences through the solver",
            phases=False, variants=False, exact_nonreciprocal=True, trainable=False,
            conservation=False, batched=False,
        ),
        MethodInfo(
            "ep", EquilibriumProp, "equilibrium propagation (vector-field EP when non-reciprocal)",
            phases=True, variants=True, exact_nonreciprocal=False, trainable=True,
            conservation=True, batched=True,
        ),
        MethodInfo(
            "cl", CoupledLearning, "coupled learning (clamped outputs)",
            phases=True, variants=True, exact_nonreciprocal=False, trainable=True,
            conservation=True, batched=True,
        ),
        MethodInfo(
            "aep", AsymmetricEP, "asymmetric EP (EP with the non-reciprocal correction)",
            phases=True, variants=True, exact_nonreciprocal=True, trainable=True,
            conservation=False, batched=True,
        ),
        MethodInfo(
            "dyadic", DyadicEP, "dyadic EP (twin / adjoint circuit)",
            phases=True, variants=False, exact_nonreciprocal=True, trainable=True,
            conservation=False, batched=True,
        ),
    )
}  # fmt: skip
"""Every learning method by CLI name, in the order the CLI lists them."""


def names(**capabilities: bool) -> tuple[str, ...]:
    """Method names having every given capability (e.g. ``names(trainable=True)``)."""
    for key in capabilities:
        if key not in MethodInfo.__dataclass_fields__ or key in ("name", "estimator", "summary"):
            raise CircuitError(f"names: unknown method capability {key!r}")
    return tuple(
        name
        for name, info in METHODS.items()
        if all(getattr(info, key) == value for key, value in capabilities.items())
    )


def make_estimator(method: str, **kwargs: Any) -> GradientEstimator:
    """An estimator from its CLI name (``exact|fd|ep|cl|aep|dyadic``) and keyword settings.

    ``beta=None`` and ``variant`` are accepted (and ignored where meaningless) for every method,
    so a CLI can pass them through.

    Examples
    --------
    >>> make_estimator("aep", beta=1e-6)
    AsymmetricEP(variant='centered', beta=1e-06)
    """
    key = str(method).lower()
    if key not in METHODS:
        raise CircuitError(
            f"unknown gradient method {method!r}; expected one of {', '.join(METHODS)}"
        )
    cls = METHODS[key].estimator
    beta = kwargs.pop("beta", None)
    variant = kwargs.pop("variant", "centered")
    if cls is Adjoint:
        return Adjoint(**kwargs)
    if cls is FiniteDifference:
        return FiniteDifference(**({"step": beta} if beta is not None else {}), **kwargs)
    if cls is DyadicEP:
        return DyadicEP(beta, **kwargs)
    return cls(beta=beta, variant=variant, **kwargs)


def make_fixed_estimator(
    method: str, task: Any, *, beta: float | None = None, variant: str = "centered"
) -> tuple[GradientEstimator, float | None]:
    """An estimator whose β is fixed once, on ``task``, so every later gradient of a run uses it.

    β is ``beta`` when given, else the rule's own default on ``task`` (CL: its clamping factor);
    ``exact`` has none. Returns the estimator and its β.
    """
    if str(method).lower() == "exact":
        return make_estimator("exact"), None
    if beta is None:
        estimator = make_estimator(method)
        resolve = getattr(estimator, "resolved_beta", None)
        beta = float(resolve(task) if resolve is not None else default_beta(task))
    return make_estimator(method, variant=variant, beta=beta), beta
