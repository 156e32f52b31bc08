"""The array library of the batched hot loops, behind one small interface.

The batched engine's dense work — the layered Schur elimination (:mod:`circuitlearn.solve.layered`)
and the local rule's matrix product (:mod:`circuitlearn.learn.batched`) — calls these functions
instead of NumPy directly, so that a GPU array library (CuPy, PyTorch) can later be registered
here without touching the learning rules. Only NumPy is registered today.

Examples
--------
>>> import numpy as np
>>> backend = get_backend()
>>> backend.name
'numpy'
>>> backend.solve(np.eye(2)[None] * 2.0, np.ones((1, 2)))
array([[0.5, 0.5]])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from circuitlearn.errors import CircuitError

__all__ = ["ArrayBackend", "get_backend", "register_backend", "use_backend"]


@dataclass(frozen=True)
class ArrayBackend:
    """The operations the batched loops need, for one array library.

    Attributes
    ----------
    name : str
    xp : module
        The NumPy-compatible namespace (``numpy``, ``cupy``, ...).
    solve : callable
        ``solve(a, b)``: x with a[s] @ x[s] = b[s] for stacks of square matrices ``a``
        (samples × n × n) and right-hand sides ``b`` (samples × n).
    matmul : callable
        ``matmul(a, b)``: the matrix product (a GEMM for 2-D arrays).
    asarray, to_numpy : callable
        Into and out of the library's arrays.
    """

    name: str
    xp: Any
    solve: Callable[[Any, Any], Any]
    matmul: Callable[[Any, Any], Any]
    asarray: Callable[[Any], Any]
    to_numpy: Callable[[Any], np.ndarray]


def _numpy_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.linalg.solve(a, b[:, :, None])[:, :, 0]


_BACKENDS: dict[str, ArrayBackend] = {
    "numpy": ArrayBackend("numpy", np, _numpy_solve, np.matmul, np.asarray, np.asarray)
}
_current = ["numpy"]


def register_backend(backend: ArrayBackend) -> None:
    """Make ``backend`` available to :func:`use_backend` under its name."""
    _BACKENDS[backend.name] = backend


def use_backend(name: str) -> None:
    """Run the batched loops on the registered backend ``name``.

    Raises
    ------
    CircuitError
        An unknown name, listing the registered ones.
    """
    if name not in _BACKENDS:
        raise CircuitError(
            f"array backend {name!r} is not registered; available: {', '.join(_BACKENDS)}"
        )
    _current[0] = name


def get_backend() -> ArrayBackend:
    """The backend the batched loops use now."""
    return _BACKENDS[_current[0]]
