"""Dyadic Backpropagation: backprop's gradient from 2L synchronous Euler steps of a doubled state.

A feedforward network of L layers, ``a_l = m_{l-1} W_lᵀ + b_l``, ``m_l = f(a_l)``, with cost
``C = ½ mean_batch ‖m_L − y‖²``, is run as the doubled-state (dyadic) saddle dynamics of
Scurria, *Backpropagation as Physical Relaxation*: a mean copy ``m`` that relaxes forward and a
difference copy ``d`` that relaxes backward through the transposed weights. With Euler steps of
size ``h``::

    m_l(k+1) = (1 − h) m_l(k) + h f(a_l(k)),            a_l(k) = m_{l−1}(k) W_lᵀ + b_l
    d_l(k+1) = (1 − h) d_l(k) + h [f'(a_{l+1}(k)) ⊙ d_{l+1}(k)] W_{l+1}        (l < L)
    d_L(k+1) = (1 − h) d_L(k) − h β ∂C/∂m_L(m_L(k))

and the local read-out ``∂C/∂W_l ≈ −(1/β) [f'(a_l(k)) ⊙ d_l(k)]ᵀ m_{l−1}(k)``. For ``h = 1``, from
any initial ``m(0), d(0)``, layer l's gradient equals backprop's exactly (to rounding) from step
``2L + 1 − l``, so the whole gradient is exact at step ``2L`` and generically wrong at ``2L − 1``.
For ``h ≠ 1`` the error decays geometrically (rate ``|1 − h|``) but never reaches rounding in
finite time; ``h ≥ 2`` diverges. The result does not depend on β (``d`` enters linearly).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from circuitlearn._random import Seed, check_random_state
from circuitlearn.errors import CircuitLearnError

__all__ = [
    "ACTIVATIONS",
    "DyadicBPResult",
    "FeedforwardNet",
    "backprop_gradients",
    "dyadic_bp",
    "dyadic_bp_trace",
    "parse_sizes",
]

Activation = tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]

ACTIVATIONS: dict[str, Activation] = {
    "tanh": (np.tanh, lambda a: 1.0 - np.tanh(a) ** 2),
    "sigmoid": (
        lambda a: 1.0 / (1.0 + np.exp(-a)),
        lambda a: np.exp(-a) / (1.0 + np.exp(-a)) ** 2,
    ),
}
"""Activation name → (f, f')."""


@dataclass(frozen=True)
class FeedforwardNet:
    """Weights ``W_l`` (shape ``(N_l, N_{l−1})``) and biases ``b_l`` of an L-layer network.

    Examples
    --------
    >>> net = FeedforwardNet.random([3, 4, 2], seed=0)
    >>> net.depth, net.sizes
    (2, (3, 4, 2))
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]
    activation: str = "tanh"

    @property
    def depth(self) -> int:
        """Number of layers L (weight matrices)."""
        return len(self.weights)

    @property
    def sizes(self) -> tuple[int, ...]:
        """Layer widths ``(N0, ..., NL)``."""
        return (self.weights[0].shape[1], *(w.shape[0] for w in self.weights))

    @classmethod
    def random(
        cls, sizes: Sequence[int], *, seed: Seed = None, activation: str = "tanh"
    ) -> FeedforwardNet:
        """Weights ~ N(0, 1/N_{l−1}) (so pre-activations stay O(1)), biases ~ N(0, 0.1²)."""
        rng = check_random_state(seed)
        sizes = parse_sizes(sizes)
        weights = tuple(
            rng.normal(0.0, 1.0 / np.sqrt(n_in), (n_out, n_in))
            for n_in, n_out in itertools.pairwise(sizes)
        )
        biases = tuple(rng.normal(0.0, 0.1, n) for n in sizes[1:])
        return cls(weights, biases, activation)

    def forward(self, x: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Activities ``[m_0 = x, m_1, ..., m_L]`` and pre-activations ``[a_1, ..., a_L]``."""
        f, _ = ACTIVATIONS[self.activation]
        acts, pres = [np.asarray(x, dtype=float)], []
        for w, b in zip(self.weights, self.biases, strict=True):
            pres.append(acts[-1] @ w.T + b)
            acts.append(f(pres[-1]))
        return acts, pres


@dataclass(frozen=True)
class DyadicBPResult:
    """Per-step error of the Dyadic BP gradient against backprop.

    ``relative_error[k-1]`` is ``‖g(k) − g_bp‖ / ‖g_bp‖`` over all weight matrices concatenated
    (biases excluded) after Euler step k; ``layer_error[k-1][l-1]`` the same for layer l alone.
    """

    sizes: tuple[int, ...]
    step_size: float
    relative_error: list[float]
    layer_error: list[list[float]]

    @property
    def depth(self) -> int:
        """Number of layers L."""
        return len(self.sizes) - 1

    def to_dict(self) -> dict[str, object]:
        """The ``circuitlearn dyadic-bp --json`` object."""
        return {
            "depth": self.depth,
            "sizes": list(self.sizes),
            "step_size": self.step_size,
            "exact_step": 2 * self.depth,
            "steps": list(range(1, len(self.relative_error) + 1)),
            "relative_error": self.relative_error,
            "layer_relative_error": self.layer_error,
        }


def parse_sizes(sizes: str | Sequence[int]) -> tuple[int, ...]:
    """Layer widths from ``"N0,N1,...,NL"`` or a sequence; at least two, each ≥ 1.

    Raises
    ------
    CircuitLearnError
        Naming the bad entry.

    Examples
    --------
    >>> parse_sizes("784, 32,10")
    (784, 32, 10)
    """
    items = sizes.split(",") if isinstance(sizes, str) else list(sizes)
    widths = []
    for item in items:
        try:
            width = int(str(item).strip())
        except ValueError:
            raise CircuitLearnError(
                f"sizes: expected comma-separated positive integers N0,N1,...,NL; got {item!r} "
                f"in {sizes!r}"
            ) from None
        if width < 1:
            raise CircuitLearnError(f"sizes: every layer width must be >= 1; got {width}")
        widths.append(width)
    if len(widths) < 2:
        raise CircuitLearnError(
            f"sizes: need at least an input and an output width (N0,N1); got {sizes!r}"
        )
    return tuple(widths)


def backprop_gradients(
    net: FeedforwardNet, x: np.ndarray, y: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Exact ``∂C/∂W_l`` and ``∂C/∂b_l`` of ``C = ½ mean_batch ‖m_L − y‖²`` by backprop."""
    _, df = ACTIVATIONS[net.activation]
    acts, pres = net.forward(x)
    delta = (acts[-1] - y) * df(pres[-1]) / x.shape[0]
    grads_w, grads_b = [], []
    for layer in range(net.depth - 1, -1, -1):
        grads_w.append(delta.T @ acts[layer])
        grads_b.append(delta.sum(axis=0))
        if layer:
            delta = (delta @ net.weights[layer]) * df(pres[layer - 1])
    return grads_w[::-1], grads_b[::-1]


def dyadic_bp(
    net: FeedforwardNet,
    x: np.ndarray,
    y: np.ndarray,
    *,
    steps: int,
    step_size: float = 1.0,
    beta: float = 1.0,
    seed: Seed = None,
) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    """Run ``steps`` synchronous Euler steps of the dyadic dynamics from a random ``m(0), d(0)``.

    Parameters
    ----------
    net : FeedforwardNet
    x, y : numpy.ndarray, shape (batch, N0) and (batch, NL)
        Inputs (clamped as ``m_0``) and targets.
    steps : int
        Number of Euler steps K ≥ 1.
    step_size : float
        Euler step h (1 gives the exact gradient at step 2L).
    beta : float
        Nudging strength; the read-out divides it out.
    seed : None, int or Generator
        Draws the arbitrary initial state ``m_l(0), d_l(0) ~ N(0, 1)``.

    Returns
    -------
    list of (weight gradients, bias gradients), one per step 1..K, read out locally.

    Examples
    --------
    >>> net = FeedforwardNet.random([3, 5, 2], seed=1)
    >>> x, y = np.ones((4, 3)), np.zeros((4, 2))
    >>> exact_w, _ = backprop_gradients(net, x, y)
    >>> w4, _ = dyadic_bp(net, x, y, steps=4, seed=2)[-1]
    >>> all(np.allclose(a, b, rtol=1e-12, atol=0) for a, b in zip(w4, exact_w))
    True
    """
    if steps < 1:
        raise CircuitLearnError(f"steps must be >= 1; got {steps}")
    if not np.isfinite(step_size) or step_size <= 0:
        raise CircuitLearnError(f"step_size must be a positive number; got {step_size}")
    if beta == 0 or not np.isfinite(beta):
        raise CircuitLearnError(f"beta must be a non-zero finite number; got {beta}")
    f, df = ACTIVATIONS[net.activation]
    rng = check_random_state(seed)
    batch, depth, h = x.shape[0], net.depth, float(step_size)
    m = [np.asarray(x, dtype=float)] + [rng.normal(size=(batch, n)) for n in net.sizes[1:]]
    d = [np.zeros((batch, 0))] + [rng.normal(size=(batch, n)) for n in net.sizes[1:]]
    out = []
    for _ in range(steps):
        pre = [m[l - 1] @ net.weights[l - 1].T + net.biases[l - 1] for l in range(1, depth + 1)]
        slope = [df(a) for a in pre]  # slope[l-1] = f'(a_l)
        new_m = [m[0]] + [(1 - h) * m[l] + h * f(pre[l - 1]) for l in range(1, depth + 1)]
        new_d = [d[0]]
        for l in range(1, depth):
            back = (slope[l] * d[l + 1]) @ net.weights[l]
            new_d.append((1 - h) * d[l] + h * back)
        new_d.append((1 - h) * d[depth] - h * beta * (m[depth] - y) / batch)
        m, d = new_m, new_d
        pre = [m[l - 1] @ net.weights[l - 1].T + net.biases[l - 1] for l in range(1, depth + 1)]
        local = [-(df(pre[l - 1]) * d[l]) / beta for l in range(1, depth + 1)]
        out.append(([g.T @ m[l] for l, g in enumerate(local)], [g.sum(axis=0) for g in local]))
    return out


def dyadic_bp_trace(
    sizes: str | Sequence[int],
    *,
    steps: int | None = None,
    step_size: float = 1.0,
    seed: Seed = 0,
    batch: int = 8,
    activation: str = "tanh",
) -> DyadicBPResult:
    """Relative error of Dyadic BP against backprop after each Euler step, on a random network.

    The network, a batch of inputs ~ U(−1, 1), targets ~ U(−1, 1) and the initial doubled state
    are all drawn from ``seed``. ``steps`` defaults to ``2L + 2`` (two steps past exactness).

    Examples
    --------
    >>> trace = dyadic_bp_trace("4,6,6,3", seed=0)
    >>> trace.depth, len(trace.relative_error)
    (3, 8)
    >>> trace.relative_error[5] < 1e-12 < trace.relative_error[4]
    True
    """
    widths = parse_sizes(sizes)
    depth = len(widths) - 1
    steps = 2 * depth + 2 if steps is None else steps
    if activation not in ACTIVATIONS:
        raise CircuitLearnError(
            f"activation must be one of {sorted(ACTIVATIONS)}; got {activation!r}"
        )
    rng = check_random_state(seed)
    net = FeedforwardNet.random(widths, seed=rng, activation=activation)
    x = rng.uniform(-1.0, 1.0, (batch, widths[0]))
    y = rng.uniform(-1.0, 1.0, (batch, widths[-1]))
    exact_w, _ = backprop_gradients(net, x, y)
    exact_all = np.concatenate([g.ravel() for g in exact_w])
    total, layers = [], []
    for grads_w, _ in dyadic_bp(net, x, y, steps=steps, step_size=step_size, seed=rng):
        flat = np.concatenate([g.ravel() for g in grads_w])
        total.append(float(np.linalg.norm(flat - exact_all) / np.linalg.norm(exact_all)))
        layers.append(
            [
                float(np.linalg.norm(g - e) / np.linalg.norm(e))
                for g, e in zip(grads_w, exact_w, strict=True)
            ]
        )
    return DyadicBPResult(widths, float(step_size), total, layers)
