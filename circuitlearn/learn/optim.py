"""Descent on conductances: one optimizer for every training loop (train, conservation, demo).

Conductances are physical: after each update they are projected back into a device's range
[floor, ceiling] (never negative). Clipping breaks the conservation law, so the number of clipped
values is returned for the diagnostics. :class:`Optimizer` is plain SGD, SGD with momentum or
Adam, with per-parameter learning-rate factors (per layer), a schedule over epochs, and a state
that checkpoints save so that a resumed run continues bit for bit.

Units: for SGD and momentum the learning rate multiplies dC/dG [V²/S] and is in S²/V²; Adam
normalises the gradient, so its learning rate is a conductance step [S]. Without an explicit
rate, :func:`relative_lr` scales it to the circuit at the first step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from circuitlearn.errors import ConfigError

__all__ = [
    "G_FLOOR",
    "OPTIMIZERS",
    "SCHEDULES",
    "Optimizer",
    "projected_step",
    "relative_lr",
]

G_FLOOR = 1e-9
"""Default conductance floor [S] of the projection after every update."""

OPTIMIZERS = ("sgd", "momentum", "adam")
SCHEDULES = ("constant", "step", "cosine")


def projected_step(
    conductances: np.ndarray,
    step: np.ndarray,
    floor: float = G_FLOOR,
    ceiling: float = math.inf,
) -> tuple[np.ndarray, int]:
    """One descent update ``clip(G − step, floor, ceiling)`` and how many values were clipped.

    Examples
    --------
    >>> import numpy as np
    >>> projected_step(np.array([1e-3, 2e-9]), np.array([5e-4, 1e-8]))
    (array([5.e-04, 1.e-09]), 1)
    >>> projected_step(np.array([1e-3]), np.array([-1.0]), ceiling=1e-2)
    (array([0.01]), 1)
    """
    proposed = np.asarray(conductances, dtype=float) - step
    clipped = np.count_nonzero(proposed < floor)
    if ceiling < math.inf:
        clipped += np.count_nonzero(proposed > ceiling)
    return np.clip(proposed, floor, ceiling, out=proposed), int(clipped)


def relative_lr(
    conductances: np.ndarray, gradient: np.ndarray, fraction: float, optimizer: str = "sgd"
) -> float:
    """A learning rate scaled to the circuit: the first step changes G by ``fraction`` of ‖G‖.

    SGD/momentum: fraction·‖G‖/‖g‖ [S²/V²]; Adam (unit-size normalised steps): fraction·‖G‖/√n [S].
    """
    norm_g = float(np.linalg.norm(conductances))
    if optimizer == "adam":
        return fraction * norm_g / math.sqrt(max(len(conductances), 1))
    norm = float(np.linalg.norm(gradient))
    return fraction * norm_g / norm if norm > 0 else 1.0


@dataclass
class Optimizer:
    """Projected SGD, momentum or Adam on conductances (see the module notes).

    Parameters
    ----------
    name : {"sgd", "momentum", "adam"}
    lr : float, optional
        Learning rate (module notes for units); default :func:`relative_lr` at the first step.
    lr_fraction : float
        The fraction :func:`relative_lr` uses.
    momentum : float
        Heavy-ball coefficient (``momentum``).
    betas : (float, float)
        Adam's moment decay rates.
    eps : float
        Adam's denominator guard, relative to the gradient's RMS at the first step.
    floor, ceiling : float [S]
        The device's conductance range; every update is projected into it.
    factors : ndarray, optional
        Per-parameter learning-rate factors (e.g. one per layer).
    schedule : {"constant", "step", "cosine"}
        Learning-rate factor over epochs: 1; ``gamma`` every ``every`` epochs; half a cosine
        from 1 to 0 over ``epochs``.
    gamma, every, epochs : schedule parameters.

    Examples
    --------
    >>> opt = Optimizer("momentum", lr=0.1, momentum=0.5)
    >>> g = np.array([1.0, 2.0])
    >>> g, _ = opt.step(g, np.array([1.0, 1.0])); g
    array([0.9, 1.9])
    >>> g, _ = opt.step(g, np.array([1.0, 1.0])); g
    array([0.75, 1.75])
    """

    name: str = "sgd"
    lr: float | None = None
    lr_fraction: float = 0.05
    momentum: float = 0.9
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    floor: float = G_FLOOR
    ceiling: float = math.inf
    factors: np.ndarray | None = None
    schedule: str = "constant"
    gamma: float = 0.5
    every: int = 1
    epochs: int = 1
    steps: int = 0
    state: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            raise ConfigError(
                f"optimizer: unknown {self.name!r}; expected one of {', '.join(OPTIMIZERS)}"
            )
        if self.schedule not in SCHEDULES:
            raise ConfigError(
                f"optimizer: unknown schedule {self.schedule!r}; expected one of "
                f"{', '.join(SCHEDULES)}"
            )
        if not (0.0 < self.floor < self.ceiling):
            raise ConfigError(
                f"optimizer: the conductance range needs 0 < floor < ceiling; got floor "
                f"{self.floor} S, ceiling {self.ceiling} S"
            )

    def factor(self, epoch: int) -> float:
        """The schedule's learning-rate factor in ``epoch`` (1-based)."""
        if self.schedule == "step":
            return float(self.gamma ** ((epoch - 1) // max(self.every, 1)))
        if self.schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / max(self.epochs, 1)))
        return 1.0

    def step(
        self, conductances: np.ndarray, gradient: np.ndarray, epoch: int = 1
    ) -> tuple[np.ndarray, int]:
        """The updated conductances (projected into [floor, ceiling]) and how many were clipped."""
        gradient = np.asarray(gradient, dtype=float)
        if self.lr is None:
            self.lr = relative_lr(conductances, gradient, self.lr_fraction, self.name)
        self.steps += 1
        if self.name == "sgd":
            direction = gradient.copy()
        elif self.name == "momentum":
            velocity = self.state.setdefault("velocity", np.zeros_like(gradient))
            velocity *= self.momentum
            velocity += gradient
            direction = velocity.copy()
        else:
            direction = self._adam_direction(gradient)
        # In place on 1.6 M conductances (DRN-1H): the temporaries cost ~10 % of a step.
        rate = self.lr * self.factor(epoch)
        direction *= rate if self.factors is None else rate * self.factors
        return projected_step(conductances, direction, self.floor, self.ceiling)

    def _adam_direction(self, gradient: np.ndarray) -> np.ndarray:
        """Adam's normalised direction m̂/(√v̂ + eps); updates the moments in place."""
        b1, b2 = self.betas
        if "eps" not in self.state:  # relative to the gradient's scale (units V²/S)
            scale = float(np.sqrt(np.mean(gradient**2)))
            if scale == 0.0:  # no gradient yet (every step so far zero): no step, no scale
                return np.zeros_like(gradient)
            self.state["eps"] = np.array(self.eps * scale)
        m = self.state.setdefault("m", np.zeros_like(gradient))
        v = self.state.setdefault("v", np.zeros_like(gradient))
        m *= b1
        m += (1 - b1) * gradient
        v *= b2
        squared = np.square(gradient)
        squared *= 1 - b2
        v += squared
        denominator = np.divide(v, 1 - b2**self.steps, out=squared)
        np.sqrt(denominator, out=denominator)
        denominator += float(self.state["eps"])
        direction = m / (1 - b1**self.steps)
        direction /= denominator
        return direction

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint saves to continue bit for bit (rate, step count, moments)."""
        return {
            "lr": np.nan if self.lr is None else self.lr,
            "steps": self.steps,
            **{f"opt_{k}": v.copy() for k, v in self.state.items()},  # steps update in place
        }

    def load_state(self, saved: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (from a checkpoint)."""
        lr = float(saved["lr"])
        self.lr = None if math.isnan(lr) else lr
        self.steps = int(saved.get("steps", 0))
        self.state = {
            k.removeprefix("opt_"): np.array(v) for k, v in saved.items() if k.startswith("opt_")
        }
