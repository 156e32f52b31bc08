"""Validators of setting values shared by every front end that takes them: training configs,
sweep files (rate-network runs) and :class:`~circuitlearn.train.estimator.CircuitClassifier`.

Each validator is called as ``check(value, where)`` with a TOML-like value (lists, numbers,
strings, booleans; see :func:`as_toml`) and returns the checked value, or raises
:class:`~circuitlearn.errors.ConfigError` whose message starts with ``where``, so a config file,
a sweep run and the estimator word the same mistake alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from circuitlearn.errors import ConfigError

__all__ = [
    "POSITIVE",
    "as_toml",
    "boolean",
    "choice",
    "factors",
    "integer",
    "number",
    "optional",
    "pair",
    "sizes",
]

Check = Callable[[Any, str], Any]


def choice(options: tuple[str, ...]) -> Check:
    """One of ``options`` (case-insensitive; returned in lower case)."""

    def check(value: Any, where: str) -> str:
        if not isinstance(value, str) or value.lower() not in options:
            raise ConfigError(f"{where}: expected one of {', '.join(options)}; got {value!r}")
        return value.lower()

    return check


def integer(minimum: int) -> Check:
    """An integer ≥ ``minimum`` (booleans refused)."""

    def check(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"{where}: expected an integer ≥ {minimum}; got {value!r}")
        return int(value)

    return check


def number(*, positive: bool = False, allow_zero: bool = True, below_one: bool = False) -> Check:
    """A finite number; ``positive``: ≥ 0 (> 0 unless ``allow_zero``); ``below_one``: in (0, 1)."""

    def check(value: Any, where: str) -> float:
        ok = not isinstance(value, bool) and isinstance(value, (int, float))
        x = float(value) if ok else math.nan
        if (
            not math.isfinite(x)
            or (positive and (x < 0 or (x == 0 and not allow_zero)))
            or (below_one and not 0 < x < 1)
        ):
            want = (
                "a number in (0, 1)"
                if below_one
                else ("a positive number" if positive else "a finite number")
            )
            raise ConfigError(f"{where}: expected {want}; got {value!r}")
        return x

    return check


POSITIVE = number(positive=True, allow_zero=False)
"""A number > 0."""


def pair(*, positive: bool = False, ordered: bool = True, strict: bool = False) -> Check:
    """[low, high]; ``strict``: low < high (an encoding whose every value would be the same)."""
    end = number(positive=positive, allow_zero=not positive)

    def check(value: Any, where: str) -> tuple[float, float]:
        if not isinstance(value, list) or len(value) != 2:
            raise ConfigError(f"{where}: expected [low, high]; got {value!r}")
        low, high = (end(v, where) for v in value)
        if ordered and low > high:
            raise ConfigError(f"{where}: expected low ≤ high; got {value!r}")
        if strict and low == high:
            raise ConfigError(
                f"{where}: expected low < high (equal ends encode every sample alike); "
                f"got {value!r}"
            )
        return low, high

    return check


def boolean(value: Any, where: str) -> bool:
    """True or false (not 0 or 1)."""
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false; got {value!r}")
    return value


def sizes(value: Any, where: str) -> tuple[int, ...]:
    """A list of layer sizes ≥ 1 (possibly empty)."""
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of layer sizes, e.g. [8]; got {value!r}")
    return tuple(integer(1)(v, where) for v in value)


def factors(value: Any, where: str) -> tuple[float, ...]:
    """A non-empty list of positive factors."""
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a list of factors, one per layer, e.g. [1.0, 0.5]")
    return tuple(POSITIVE(v, where) for v in value)


def optional(check: Check) -> Check:
    """``check``, or ``None`` accepted as it is (a setting left at "absent")."""

    def checked(value: Any, where: str) -> Any:
        return None if value is None else check(value, where)

    return checked


def as_toml(value: Any) -> Any:
    """A Python value as TOML would give it: sequences as lists, numpy scalars as numbers."""
    if hasattr(value, "tolist") and hasattr(value, "ndim"):  # numpy array or scalar
        value = value.tolist()
    if isinstance(value, (tuple, list)):
        return [as_toml(v) for v in value]
    return value
