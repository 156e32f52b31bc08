"""circuitlearn: simulate and train analog learning circuits.

Build circuits as graphs or read SPICE netlists, solve DC operating points natively or with
ngspice, and train them with Equilibrium Propagation and its exact non-reciprocal variants.
"""

from circuitlearn.errors import (
    BackendError,
    CircuitError,
    CircuitLearnError,
    ConvergenceError,
    NetlistError,
)
from circuitlearn.netlist import from_spice

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "CircuitClassifier",
    "CircuitError",
    "CircuitLearnError",
    "ConvergenceError",
    "NetlistError",
    "__version__",
    "from_spice",
]


def __getattr__(name: str) -> object:
    """``circuitlearn.CircuitClassifier``, imported on first use (it needs scikit-learn)."""
    if name == "CircuitClassifier":
        from circuitlearn.train.estimator import CircuitClassifier

        return CircuitClassifier
    raise AttributeError(f"module 'circuitlearn' has no attribute {name!r}")
