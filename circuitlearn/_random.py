"""One way to turn a ``seed`` into a random generator (scikit-learn's ``check_random_state``).

Every random entry point of circuitlearn (builders, data splits, training) takes ``seed`` and passes
it through :func:`check_random_state`, so results are reproducible bit for bit on one machine.
"""

from __future__ import annotations

import numbers

import numpy as np

from circuitlearn.errors import CircuitError

__all__ = ["Seed", "check_random_state"]

Seed = int | np.random.Generator | None
"""What ``seed`` arguments accept: ``None`` (fresh entropy), an int ≥ 0, or a ``Generator``."""


def check_random_state(seed: Seed, *, who: str = "seed") -> np.random.Generator:
    """Normalise ``seed`` to a :class:`numpy.random.Generator`.

    Parameters
    ----------
    seed : None, int or numpy.random.Generator
        ``None`` draws fresh entropy; an int seeds a new PCG64 generator; a ``Generator`` is
        returned as is (so callers can share one stream).
    who : str
        Name of the argument, used in the error message.

    Raises
    ------
    CircuitError
        When ``seed`` is of another type or negative.

    Examples
    --------
    >>> int(check_random_state(0).integers(100)) == int(check_random_state(0).integers(100))
    True
    """
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        if seed < 0:
            raise CircuitError(f"{who} must be a non-negative integer; got {seed}")
        return np.random.default_rng(int(seed))
    raise CircuitError(
        f"{who} must be None, a non-negative int or a numpy.random.Generator; got {seed!r}"
    )
