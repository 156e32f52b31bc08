"""Encodings between data and voltages: differential input pairs and per-class target voltages.

Inputs follow Kendall et al. (2020): each feature x_i drives a *pair* of sources (+v_i, −v_i), so
a network of positive conductances can still form weights of either sign. The column order of
:func:`differential_pairs` is the order of
:attr:`circuitlearn.circuit.builders.LayeredNetwork.input_sources` (``vin0p, vin0n, vin1p, ...``).
"""

from __future__ import annotations

import numpy as np

from circuitlearn.errors import CircuitError

__all__ = [
    "decode_classes",
    "differential_pairs",
    "one_hot_targets",
    "scale_to_range",
    "with_bias_feature",
]


def with_bias_feature(x: np.ndarray) -> np.ndarray:
    """Features with one more column held at 1: its input pair gives every node a trainable bias.

    A resistive layer only forms weighted *averages* of its inputs; a constant input pair lets
    each node shift its operating point, as a bias does in a neural network.

    Examples
    --------
    >>> with_bias_feature(np.array([[0.2, 0.0]]))
    array([[0.2, 0. , 1. ]])
    """
    x = np.asarray(x, dtype=float)
    return np.concatenate([x, np.ones((*x.shape[:-1], 1))], axis=-1)


def scale_to_range(x: np.ndarray, voltage_range: tuple[float, float] = (0.0, 1.0)) -> np.ndarray:
    """Map features in [0, 1] linearly onto ``voltage_range`` = (low, high) [V].

    Examples
    --------
    >>> scale_to_range(np.array([0.0, 0.5, 1.0]), (-1.0, 1.0))
    array([-1.,  0.,  1.])
    """
    low, high = _range(voltage_range, "voltage_range")
    x = np.asarray(x, dtype=float)
    return low + (high - low) * x


def differential_pairs(
    x: np.ndarray, *, voltage_range: tuple[float, float] = (0.0, 1.0)
) -> np.ndarray:
    """Source voltages [V] for differential inputs: each feature becomes (+v, −v).

    Parameters
    ----------
    x : array, shape (n_samples, n_features) or (n_features,)
        Features in [0, 1].
    voltage_range : (float, float) [V]
        Range that [0, 1] maps onto before pairing (see :func:`scale_to_range`).

    Returns
    -------
    numpy.ndarray, shape (n_samples, 2 n_features) or (2 n_features,)
        Columns ``+v_0, −v_0, +v_1, −v_1, ...``.

    Examples
    --------
    >>> differential_pairs(np.array([[0.2, 1.0]]), voltage_range=(0.0, 0.5))
    array([[ 0.1, -0.1,  0.5, -0.5]])
    """
    v = scale_to_range(x, voltage_range)
    if v.ndim not in (1, 2):
        raise CircuitError(
            f"differential_pairs: x must be 1-D or 2-D (samples, features); got shape {v.shape}"
        )
    return np.stack([v, -v], axis=-1).reshape(*v.shape[:-1], 2 * v.shape[-1])


def one_hot_targets(
    y: np.ndarray, n_classes: int, *, low: float = 0.0, high: float = 1.0
) -> np.ndarray:
    """Target voltages [V], one output node per class: ``high`` for the true class, else ``low``.

    Examples
    --------
    >>> one_hot_targets(np.array([2, 0]), 3, low=-0.1, high=0.1)
    array([[-0.1, -0.1,  0.1],
           [ 0.1, -0.1, -0.1]])
    """
    y = np.asarray(y)
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise CircuitError(
            f"one_hot_targets: n_classes must be a positive integer; got {n_classes!r}"
        )
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
        raise CircuitError(
            f"one_hot_targets: y must be a 1-D integer array; got {y.dtype} with shape {y.shape}"
        )
    if y.size and (y.min() < 0 or y.max() >= n_classes):
        raise CircuitError(
            f"one_hot_targets: labels must lie in [0, {n_classes - 1}]; got {y.min()}..{y.max()}"
        )
    low, high = (float(v) for v in (low, high))
    if not (np.isfinite(low) and np.isfinite(high)):
        raise CircuitError(
            f"one_hot_targets: low and high must be finite voltages; got {low}, {high}"
        )
    targets = np.full((y.size, int(n_classes)), low)
    targets[np.arange(y.size), y] = high
    return targets


def decode_classes(outputs: np.ndarray) -> np.ndarray:
    """Predicted class per sample: the output node with the highest voltage.

    Examples
    --------
    >>> decode_classes(np.array([[0.1, 0.7, 0.2], [0.5, 0.1, 0.0]]))
    array([1, 0])
    """
    outputs = np.asarray(outputs, dtype=float)
    if outputs.ndim != 2:
        raise CircuitError(
            f"decode_classes: outputs must be 2-D (samples, classes); got shape {outputs.shape}"
        )
    return np.argmax(outputs, axis=1)


def _range(pair: object, who: str) -> tuple[float, float]:
    if isinstance(pair, (str, bytes)) or not hasattr(pair, "__len__") or len(pair) != 2:
        raise CircuitError(f"{who} must be a pair (low, high) [V]; got {pair!r}")
    low, high = (float(v) for v in pair)
    if not (np.isfinite(low) and np.isfinite(high)) or low > high:
        raise CircuitError(f"{who} must be finite with low <= high [V]; got {pair!r}")
    return low, high
