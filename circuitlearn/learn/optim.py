"""The projected descent step every training loop uses: G ← max(G − step, floor).

Conductances are physical: after each update they are projected back to at least a floor
(docs/math.md), never negative. Clipping breaks the conservation law, so the number of clipped
values is returned for the diagnostics.
"""

from __future__ import annotations

import numpy as np

__all__ = ["G_FLOOR", "projected_step"]

G_FLOOR = 1e-9
"""Default conductance floor [S] of the projection after every update."""


def projected_step(
    conductances: np.ndarray, step: np.ndarray, floor: float = G_FLOOR
) -> tuple[np.ndarray, int]:
    """One descent update ``max(G − step, floor)`` and the number of values clipped at ``floor``.

    Parameters
    ----------
    conductances : ndarray [S]
    step : ndarray [S]
        The update to subtract, e.g. ``lr * gradient``.
    floor : float [S]

    Examples
    --------
    >>> import numpy as np
    >>> projected_step(np.array([1e-3, 2e-9]), np.array([5e-4, 1e-8]))
    (array([5.e-04, 1.e-09]), 1)
    """
    proposed = np.asarray(conductances, dtype=float) - step
    return np.maximum(proposed, floor), int(np.count_nonzero(proposed < floor))
