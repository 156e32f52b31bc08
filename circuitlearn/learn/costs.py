"""Costs on output node voltages: mean squared error and softmax cross-entropy.

A cost C(v) of the output voltages v [V] gives the nudging of every learning rule: the nudged
phase injects the current −β ∂C/∂v_k [A] into output k (docs/math.md). For the MSE the nudge is
linear in v (a conductance β to a source of value y), so it is built exactly from linear elements;
for the cross-entropy it is not, and the nudging currents are frozen at their free-state values
(the same first-order response, see ``docs/learning.md``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from circuitlearn.errors import CircuitError

__all__ = ["COSTS", "Cost", "CrossEntropy", "MeanSquaredError", "make_cost"]


class Cost(ABC):
    """A cost of the output voltages; ``linear_nudge`` tells whether ∂C/∂v is affine in v."""

    name: str = ""
    linear_nudge: bool = False

    @abstractmethod
    def value(self, v: np.ndarray, y: np.ndarray) -> float:
        """C(v) [V² for the MSE] for output voltages ``v`` [V] and targets ``y``."""

    @abstractmethod
    def gradient(self, v: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∂C/∂v at ``v`` (one value per output)."""

    def values(self, v: np.ndarray, y: np.ndarray) -> np.ndarray:
        """C of every sample: rows of ``v`` (samples × outputs) against rows of ``y``."""
        v, y = np.atleast_2d(v), np.atleast_2d(y)
        return np.array([self.value(a, b) for a, b in zip(v, y, strict=True)])

    def gradients(self, v: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∂C/∂v of every sample (samples × outputs)."""
        v, y = np.atleast_2d(v), np.atleast_2d(y)
        return np.array([self.gradient(a, b) for a, b in zip(v, y, strict=True)])

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class MeanSquaredError(Cost):
    """C = ½ Σ_k (v_k − y_k)²  [V²]; ∂C/∂v_k = v_k − y_k; nudging current β (y_k − v_k).

    Examples
    --------
    >>> MeanSquaredError().value(np.array([1.0, 0.0]), np.array([0.5, 0.0]))
    0.125
    """

    name = "mse"
    linear_nudge = True

    def value(self, v: np.ndarray, y: np.ndarray) -> float:
        return float(0.5 * np.sum((np.asarray(v) - np.asarray(y)) ** 2))

    def gradient(self, v: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.asarray(v, dtype=float) - np.asarray(y, dtype=float)

    def values(self, v: np.ndarray, y: np.ndarray) -> np.ndarray:
        d = np.atleast_2d(np.asarray(v, dtype=float) - np.asarray(y, dtype=float))
        return 0.5 * np.sum(d**2, axis=1)

    def gradients(self, v: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.atleast_2d(np.asarray(v, dtype=float) - np.asarray(y, dtype=float))


class CrossEntropy(Cost):
    """C = −Σ_k y_k log softmax(v/T)_k with class probabilities y (Σ y = 1), temperature T [V].

    ∂C/∂v_k = (p_k − y_k)/T with p = softmax(v/T) (for Σ y = 1).

    Parameters
    ----------
    temperature : float [V]
        Voltage scale of the softmax; circuits' outputs span tens to hundreds of mV, so the
        default is 0.1 V.

    Examples
    --------
    >>> ce = CrossEntropy(temperature=1.0)
    >>> round(ce.value(np.array([0.0, 0.0]), np.array([1.0, 0.0])), 6)
    0.693147
    """

    name = "cross_entropy"
    linear_nudge = False

    def __init__(self, temperature: float = 0.1) -> None:
        if not np.isfinite(temperature) or temperature <= 0:
            raise CircuitError(
                f"CrossEntropy: temperature must be a positive number of volts; got {temperature!r}"
            )
        self.temperature = float(temperature)

    def __repr__(self) -> str:
        return f"CrossEntropy(temperature={self.temperature:g})"

    def _log_softmax(self, v: np.ndarray) -> np.ndarray:
        z = np.asarray(v, dtype=float) / self.temperature
        z = z - np.max(z, axis=-1, keepdims=True)
        return z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))

    def value(self, v: np.ndarray, y: np.ndarray) -> float:
        return float(-np.sum(np.asarray(y, dtype=float) * self._log_softmax(v)))

    def gradient(self, v: np.ndarray, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=float)
        p = np.exp(self._log_softmax(v))
        return (p * np.sum(y) - y) / self.temperature

    def values(self, v: np.ndarray, y: np.ndarray) -> np.ndarray:
        y = np.atleast_2d(np.asarray(y, dtype=float))
        return -np.sum(y * self._log_softmax(np.atleast_2d(v)), axis=1)

    def gradients(self, v: np.ndarray, y: np.ndarray) -> np.ndarray:
        y = np.atleast_2d(np.asarray(y, dtype=float))
        p = np.exp(self._log_softmax(np.atleast_2d(v)))
        return (p * np.sum(y, axis=1, keepdims=True) - y) / self.temperature


COSTS: dict[str, type[Cost]] = {"mse": MeanSquaredError, "cross_entropy": CrossEntropy}
"""Cost classes by name (``cost=`` of :class:`~circuitlearn.learn.task.LearningTask`)."""


def make_cost(cost: str | Cost) -> Cost:
    """A :class:`Cost` from its name (``"mse"``, ``"cross_entropy"``) or as given.

    Raises
    ------
    CircuitError
        Unknown name, listing the valid ones.
    """
    if isinstance(cost, Cost):
        return cost
    key = str(cost).lower().replace("-", "_")
    if key in ("ce", "crossentropy"):
        key = "cross_entropy"
    if key not in COSTS:
        raise CircuitError(f"unknown cost {cost!r}; expected one of {', '.join(COSTS)}")
    return COSTS[key]()
