"""Argument checks shared by the circuit builders (private): numbers, pairs, conductance ranges."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from circuitlearn.errors import CircuitError

__all__ = [
    "DEFAULT_G_RANGE",
    "check_count",
    "check_finite",
    "check_g_range",
    "check_pair",
    "check_positive",
]

DEFAULT_G_RANGE: tuple[float, float] = (1e-5, 1e-4)
"""Default range [S] of random conductances (10 kΩ–100 kΩ), the µS scale of Kendall et al. 2020."""


def check_positive(value: object, who: str) -> float:
    number = check_finite(value, who)
    if number <= 0:
        raise CircuitError(
            f"{who} must be positive; got {value!r} "
            "(remove the edge or use a small floor such as 1e-9 S)"
        )
    return number


def check_finite(value: object, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise CircuitError(f"{who} must be a number; got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise CircuitError(f"{who} must be finite; got {value!r}")
    return number


def check_pair(value: object, who: str) -> tuple[object, object]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise CircuitError(f"{who} must be a pair (low, high); got {value!r}")
    return value[0], value[1]


def check_g_range(g_range: object, who: str) -> tuple[float, float]:
    low, high = (
        check_positive(v, f"{who}: conductance bound")
        for v in check_pair(g_range, f"{who}: g_range")
    )
    if low > high:
        raise CircuitError(
            f"{who}: g_range must be (low, high) with low <= high [S]; got {g_range}"
        )
    return low, high


def check_count(value: object, who: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise CircuitError(f"kendall_network: {who} must be an integer >= {minimum}; got {value!r}")
    return int(value)
