"""Non-conservative layered rate networks and their gradient estimators (batched NumPy, float64).

The model, documented for users in ``docs/ratenet.md``. Layers of pre-activations (membrane
potentials) ``x_1 .. x_L`` with firing rates ``ρ(x_l)``, input rates ``ρ(x_0) := u`` clamped::

    dx_l/dt = F_l(x) = ρ'(x_l) ⊙ (W_l ρ(x_{l−1}) + B_{l+1} ρ(x_{l+1}) + b_l − x_l)

with forward weights ``W_l`` (N_l × N_{l−1}), biases ``b_l`` and feedback weights ``B_{l+1}``
(N_l × N_{l+1}; none into the output layer). Its fixed points are those of the usual rate network
``r_l = ρ(W_l r_{l−1} + B_{l+1} r_{l+1} + b_l)``; the positive factor ``ρ'(x_l)`` (a per-unit
time scale) makes it, when ``B_{l+1} = W_{l+1}ᵀ``, the gradient flow of the Hopfield energy
``E = Σ_l Σ_i ∫^{ρ(x_li)} ρ⁻¹ − Σ_l ρ(x_l)ᵀ W_l ρ(x_{l−1}) − Σ_l b_lᵀ ρ(x_l)``: conservative, with
a symmetric Jacobian, so that every estimator below is exact. Once ``B`` is trained on its own the
network is non-reciprocal. ``feedback=False`` gives the purely feedforward network (no ``B``).

Cost ``C = ½ mean_batch ‖ρ(x_L) − y‖²`` on the output rates. With ``J = ∂F/∂x`` at the free
state ``x⁰`` and ``c = ∂C/∂x`` per sample (``ρ'(x_L) ⊙ (ρ(x_L) − y)`` on the output layer), the
exact gradient is
``dC/dθ = −λᵀ ∂F/∂θ`` with ``Jᵀλ = c``; each method finds a vector ``v`` in place of λ
(docs/math.md §1, §3–§5):

- ``exact``  — λ by a direct batched block-tridiagonal solve (recurrent backprop's answer);
- ``vf``     — plain EP / vector field: relax ``F(x) ∓ βc(x)``, ``v = (x₊ − x₋)/2β ≈ J⁻¹c``
  (biased unless J is symmetric; zero for hidden layers of the feedforward network);
- ``aep``    — Asymmetric EP: relax ``F(x) ∓ βc(x) − 2A⁰(x − x⁰)``, ``A⁰ = ½(J − Jᵀ)``, centred;
  ``v ≈ J⁻ᵀc`` up to O(β²);
- ``dyadic`` — Dyadic EP: mean copy at ``x⁰``, difference copy relaxed by ``dd/dt = Jᵀd − βc``;
  ``v = d/β`` is exact at the fixed point for any β.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from circuitlearn._random import Seed, check_random_state
from circuitlearn.errors import CircuitLearnError, ConvergenceError

__all__ = [
    "METHODS",
    "RateNet",
    "Relaxation",
    "gradient",
    "relax",
]

METHODS = ("exact", "vf", "aep", "dyadic")
"""Gradient methods of :func:`gradient` (``exact`` is what the comparison calls backprop)."""

State = list[np.ndarray]
"""Per-layer arrays ``[u, x_1, ..., x_L]``, each (batch, N_l); index 0 is the clamped input."""


@dataclass(frozen=True)
class Relaxation:
    """Euler relaxation settings: step ``dt``, stop at ``max|dx/dt| < tol``, ``max_steps``."""

    dt: float = 0.5
    tol: float = 1e-8
    max_steps: int = 2000


@dataclass
class RateNet:
    """A layered rate network: parameters by name (``W1, b1, B2, W2, b2, ...``), mutable.

    ``params["W{l}"]`` is (N_l, N_{l−1}), ``params["b{l}"]`` (N_l,), ``params["B{l}"]``
    (N_{l−1}, N_l) for l = 2..L (feedback from layer l into layer l − 1).

    Examples
    --------
    >>> net = RateNet.random([4, 3, 2], seed=0)
    >>> sorted(net.params), net.depth
    (['B2', 'W1', 'W2', 'b1', 'b2'], 2)
    >>> bool(np.array_equal(net.params["B2"], net.params["W2"].T))  # symmetric initialisation
    True
    """

    sizes: tuple[int, ...]
    params: dict[str, np.ndarray]
    feedback: bool = True
    relaxation: Relaxation = field(default_factory=Relaxation)

    @classmethod
    def random(
        cls,
        sizes: Sequence[int],
        *,
        seed: Seed = None,
        feedback: bool = True,
        relaxation: Relaxation | None = None,
    ) -> RateNet:
        """Glorot ``W_l``, zero biases, ``B_{l+1} = W_{l+1}ᵀ`` (symmetric initialisation)."""
        sizes = tuple(int(n) for n in sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise CircuitLearnError(
                f"rate network sizes must be >= 2 positive widths (input, ..., output); got {sizes}"
            )
        rng = check_random_state(seed)
        params: dict[str, np.ndarray] = {}
        for l in range(1, len(sizes)):
            bound = np.sqrt(6.0 / (sizes[l - 1] + sizes[l]))
            params[f"W{l}"] = rng.uniform(-bound, bound, (sizes[l], sizes[l - 1]))
            params[f"b{l}"] = np.zeros(sizes[l])
            if feedback and l >= 2:
                params[f"B{l}"] = params[f"W{l}"].T.copy()
        return cls(sizes, params, feedback, relaxation or Relaxation())

    @property
    def depth(self) -> int:
        """Number of layers L (the input is not counted)."""
        return len(self.sizes) - 1

    def free_state(self, u: np.ndarray) -> State:
        """The free fixed point ``x⁰`` for inputs ``u`` (batch, N_0), relaxed from zero."""
        u = np.asarray(u, dtype=float)
        start = [u] + [np.zeros((u.shape[0], n)) for n in self.sizes[1:]]
        inp = self.input_drive(u)
        return relax(lambda x: self.free_field(x, inp), start, self.relaxation, "free phase")

    def predict(self, u: np.ndarray) -> np.ndarray:
        """Output rates ``ρ(x_L)`` at the free fixed point, (batch, N_L)."""
        return _rho(self.free_state(u)[-1])

    def free_field(self, x: State, inp: np.ndarray) -> State:
        """``F(x)/ρ'(x) = drive − x`` per layer: the free phase's relaxation field."""
        rho, _, _ = _activations(x, curvature=False)
        return [np.zeros_like(x[0])] + [
            self._drive(rho, l, inp) - x[l] for l in range(1, self.depth + 1)
        ]

    def input_drive(self, u: np.ndarray) -> np.ndarray:
        """``W_1 u + b_1``, constant while the input is clamped (computed once per phase)."""
        return u @ self.params["W1"].T + self.params["b1"]

    def field(self, x: State, inp: np.ndarray | None = None) -> State:
        """``F(x)`` per layer (index 0 is zero: the input is clamped); ``inp`` = input drive."""
        rho, slope, _ = _activations(x, curvature=False)
        inp = self.input_drive(x[0]) if inp is None else inp
        return [np.zeros_like(x[0])] + [
            slope[l] * (self._drive(rho, l, inp) - x[l]) for l in range(1, self.depth + 1)
        ]

    def linearise(self, x: State) -> _Linearisation:
        """``J(x)`` in factored form (slopes, diagonal), for repeated products."""
        rho, slope, curve = _activations(x)
        inp = self.input_drive(x[0])
        diag = [np.zeros_like(x[0])] + [
            curve[l] * (self._drive(rho, l, inp) - x[l]) - slope[l]
            for l in range(1, self.depth + 1)
        ]
        return _Linearisation(self, slope, diag)

    def jvp(self, x: State, v: State) -> State:
        """``J(x) v`` per layer, without forming J."""
        return self.linearise(x).jvp(v)

    def vjp(self, x: State, v: State) -> State:
        """``J(x)ᵀ v`` per layer, without forming J."""
        return self.linearise(x).vjp(v)

    def contract(self, x: State, v: State) -> dict[str, np.ndarray]:
        """``−mean_batch vᵀ ∂F/∂θ`` at state ``x``, by parameter name (a gradient estimate)."""
        n = x[0].shape[0]
        rho, slope, _ = _activations(x, curvature=False)
        out: dict[str, np.ndarray] = {}
        for l in range(1, self.depth + 1):
            local = v[l] * slope[l]
            out[f"W{l}"] = -(local.T @ rho[l - 1]) / n
            out[f"b{l}"] = -local.sum(axis=0) / n
            if f"B{l + 1}" in self.params:
                out[f"B{l + 1}"] = -(local.T @ rho[l + 1]) / n
        return out

    def cost(self, x: State, y: np.ndarray) -> float:
        """``½ mean_batch ‖ρ(x_L) − y‖²``."""
        return 0.5 * float(np.mean(np.sum((_rho(x[-1]) - y) ** 2, axis=1)))

    def _drive(self, rho: State, l: int, inp: np.ndarray) -> np.ndarray:
        drive = inp if l == 1 else rho[l - 1] @ self.params[f"W{l}"].T + self.params[f"b{l}"]
        feedback = self.params.get(f"B{l + 1}")
        if feedback is not None:
            drive = drive + rho[l + 1] @ feedback.T
        return drive


@dataclass(frozen=True)
class _Linearisation:
    """``J`` at one state: blocks ``diag(ρ'_l) W_l diag(ρ'_{l−1})``, ``diag(ρ'_l) B_{l+1}
    diag(ρ'_{l+1})`` off the diagonal, ``diag_l`` on it."""

    net: RateNet
    slope: State
    diag: State

    def jvp(self, v: State) -> State:
        return self._apply(v, transpose=False)

    def vjp(self, v: State) -> State:
        return self._apply(v, transpose=True)

    def _apply(self, v: State, *, transpose: bool) -> State:
        params, slope = self.net.params, self.slope
        out = [np.zeros_like(v[0])]
        for l in range(1, self.net.depth + 1):
            coupled = np.zeros_like(v[l])
            up, down = params.get(f"B{l + 1}"), params.get(f"W{l + 1}")
            if transpose:  # rows of Jᵀ: (J_{l+1,l})ᵀ v_{l+1} and (J_{l−1,l})ᵀ v_{l−1}
                if down is not None:
                    coupled += (slope[l + 1] * v[l + 1]) @ down
                if l >= 2 and f"B{l}" in params:
                    coupled += (slope[l - 1] * v[l - 1]) @ params[f"B{l}"]
            else:  # rows of J: J_{l,l−1} v_{l−1} and J_{l,l+1} v_{l+1}
                if l >= 2:
                    coupled += (slope[l - 1] * v[l - 1]) @ params[f"W{l}"].T
                if up is not None:
                    coupled += (slope[l + 1] * v[l + 1]) @ up.T
            out.append(self.diag[l] * v[l] + slope[l] * coupled)
        return out


def gradient(
    net: RateNet,
    u: np.ndarray,
    y: np.ndarray,
    method: str,
    *,
    beta: float = 0.1,
    free: State | None = None,
) -> tuple[dict[str, np.ndarray], State]:
    """Estimate ``dC/dθ`` of ``C = ½ mean_batch ‖ρ(x_L) − y‖²`` by ``method``.

    Parameters
    ----------
    net : RateNet
    u, y : numpy.ndarray, shape (batch, N_0) and (batch, N_L)
    method : {"exact", "vf", "aep", "dyadic"}
    beta : float
        Nudging strength (centred ±β for ``vf`` and ``aep``; any value is exact for ``dyadic``).
    free : list of arrays, optional
        The free state, when already relaxed.

    Returns
    -------
    (gradient by parameter name, free state)

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> net = RateNet.random([3, 4, 2], seed=rng)
    >>> net.params["B2"] += 0.5 * rng.normal(size=net.params["B2"].shape)  # non-reciprocal
    >>> u, y = rng.uniform(size=(5, 3)), rng.uniform(size=(5, 2))
    >>> exact, free = gradient(net, u, y, "exact")
    >>> dyadic, _ = gradient(net, u, y, "dyadic", free=free)
    >>> bool(np.allclose(dyadic["W1"], exact["W1"], rtol=1e-6, atol=1e-10))
    True
    """
    if method not in METHODS:
        raise CircuitLearnError(f"rate-network method must be one of {METHODS}; got {method!r}")
    if not np.isfinite(beta) or beta <= 0:
        raise CircuitLearnError(f"beta must be a positive number; got {beta}")
    x0 = free if free is not None else net.free_state(u)
    target = np.asarray(y, dtype=float)
    if method == "exact":
        v = _adjoint(net, x0, target)
    elif method == "dyadic":
        v = _dyadic(net, x0, target, beta)
    else:
        v = _nudged_difference(net, x0, target, beta, corrected=method == "aep")
    return net.contract(x0, v), x0


def relax(
    field_of: Callable[[State], State], start: State, settings: Relaxation, phase: str
) -> State:
    """Forward-Euler ``x ← x + dt G(x)`` on every layer (the input stays) until ``max|G| < tol``.

    The phases pass ``G = F/s`` with a positive per-unit time scale ``s`` (``ρ'(x)`` in the free
    phase, ``ρ'(x⁰)`` — plus β on the nudged output — in the learning phases): the same fixed
    points, without the stiffly slow approach of saturated units (ρ' ≈ 0).

    Raises
    ------
    ConvergenceError
        After ``max_steps`` steps, naming the phase and the residual reached; its ``result`` is
        the state reached.
    """
    x = [a.copy() for a in start]
    for _ in range(settings.max_steps):
        rate = field_of(x)
        worst = max(float(np.max(np.abs(r))) for r in rate[1:])
        if not np.isfinite(worst):
            break
        if worst < settings.tol:
            return x
        for l in range(1, len(x)):
            x[l] += settings.dt * rate[l]
    raise ConvergenceError(
        f"rate network {phase}: no fixed point after {settings.max_steps} Euler steps "
        f"(max |dx/dt| = {worst:.3g} > tol {settings.tol:g}); lower dt or the weights' scale",
        result=x,
    )


# -- private helpers --------------------------------------------------------------------------


def _activations(x: State, *, curvature: bool = True) -> tuple[State, State, State]:
    """Rates ``ρ(x_l)``, slopes ``ρ'`` and curvatures ``ρ''`` per layer (index 0: the input's
    rates are the input itself)."""
    ones = [np.ones_like(x[0])]
    rho = [x[0]] + [_rho(s) for s in x[1:]]
    slope = ones + [_drho(s) for s in x[1:]]
    curve = ones + [_d2rho(s) for s in x[1:]] if curvature else []
    return rho, slope, curve


def _rho(s: np.ndarray) -> np.ndarray:
    """Logistic ``ρ(s) = 1/(1 + e^{−s}) = ½(1 + tanh(s/2))``."""
    return 0.5 * (1.0 + np.tanh(0.5 * s))


def _drho(s: np.ndarray) -> np.ndarray:
    """``ρ'(s) = ¼ sech²(s/2)``, written with ``exp(−|s|)`` so it never overflows."""
    e = np.exp(-np.abs(s))
    return e / (1.0 + e) ** 2


def _d2rho(s: np.ndarray) -> np.ndarray:
    """``ρ''(s) = −ρ'(s) tanh(s/2)``."""
    return -_drho(s) * np.tanh(0.5 * s)


RATE_FLOOR = float(np.finfo(float).tiny)
"""Smallest ``ρ'`` the relaxation divides by (``ρ'`` underflows to 0 only for |x| ≳ 180)."""


def _time_scale(x: State) -> State:
    """Per-unit time scale ``max(ρ'(x), RATE_FLOOR)`` (1 for the clamped input)."""
    return [np.maximum(t, RATE_FLOOR) for t in _activations(x, curvature=False)[1]]


def _cost_direction(x: State, y: np.ndarray) -> State:
    """``c = ∂C_sample/∂x``: ``ρ'(x_L)(ρ(x_L) − y)`` on the output layer, zero elsewhere."""
    return [np.zeros_like(a) for a in x[:-1]] + [_drho(x[-1]) * (_rho(x[-1]) - y)]


def _nudged_difference(
    net: RateNet, x0: State, y: np.ndarray, beta: float, *, corrected: bool
) -> State:
    """``(x₊β − x₋β)/2β`` of the nudged (``vf``) or AEP-corrected learning phases."""
    inp = net.input_drive(x0[0])
    linear = net.linearise(x0) if corrected else None
    scale = _time_scale(x0)
    phases = []
    for sign in (1.0, -1.0):

        def field_of(x: State, sign: float = sign) -> State:
            rate = net.field(x, inp)
            rate[-1] = rate[-1] - sign * beta * _cost_direction(x, y)[-1]
            if linear is not None:
                delta = [a - b for a, b in zip(x, x0, strict=True)]
                forward, backward = linear.jvp(delta), linear.vjp(delta)
                rate = [r - (f - b) for r, f, b in zip(rate, forward, backward, strict=True)]
            return [r / t for r, t in zip(rate, scale, strict=True)]

        name = ("aep" if corrected else "vf") + (" +beta" if sign > 0 else " -beta")
        phases.append(relax(field_of, x0, net.relaxation, f"{name} phase"))
    return [(p - m) / (2.0 * beta) for p, m in zip(*phases, strict=True)]


def _dyadic(net: RateNet, x0: State, y: np.ndarray, beta: float) -> State:
    """Difference copy of Dyadic EP relaxed by ``dd/dt = J(x⁰)ᵀ d − βc``; returns ``d/β``."""
    c = _cost_direction(x0, y)
    linear = net.linearise(x0)
    scale = _time_scale(x0)

    def field_of(d: State) -> State:
        back = linear.vjp(d)
        return [(b - beta * g) / t for b, g, t in zip(back, c, scale, strict=True)]

    start = [np.zeros_like(a) for a in x0]
    settings = net.relaxation
    scaled = Relaxation(settings.dt, settings.tol * beta, settings.max_steps)
    d = relax(field_of, start, scaled, "dyadic difference phase")
    return [a / beta for a in d]


def _adjoint(net: RateNet, x0: State, y: np.ndarray) -> State:
    """λ solving ``J(x⁰)ᵀ λ = c`` per sample: block-tridiagonal elimination, layer 1 first.

    ``Jᵀ`` has diagonal blocks ``diag(ρ''(x_l) drive_l − 1)``, sub-diagonal blocks
    ``diag(ρ'_l) B_lᵀ diag(ρ'_{l−1})`` and super-diagonal ``diag(ρ'_l) W_{l+1}ᵀ diag(ρ'_{l+1})``.
    """
    depth = net.depth
    linear = net.linearise(x0)
    slope, diag = linear.slope, linear.diag
    c = _cost_direction(x0, y)

    def upper(l: int) -> np.ndarray:  # block (l, l+1) of Jᵀ, (batch, N_l, N_{l+1})
        w = net.params[f"W{l + 1}"].T
        return slope[l][:, :, None] * w[None] * slope[l + 1][:, None, :]

    def lower(l: int) -> np.ndarray:  # block (l, l−1) of Jᵀ, (batch, N_l, N_{l−1})
        feedback = net.params.get(f"B{l}")
        if feedback is None:
            return np.zeros((x0[0].shape[0], net.sizes[l], net.sizes[l - 1]))
        return slope[l][:, :, None] * feedback.T[None] * slope[l - 1][:, None, :]

    # Forward elimination: schur[l] is diagonal (a vector) for l = 1, dense afterwards.
    schur: list[np.ndarray] = [np.empty(0), diag[1]]
    rhs: list[np.ndarray] = [np.empty(0), c[1]]
    for l in range(2, depth + 1):
        solved_up = _solve(schur[l - 1], upper(l - 1))
        solved_rhs = _solve(schur[l - 1], rhs[l - 1][:, :, None])[:, :, 0]
        low = lower(l)
        schur.append(_as_matrix(diag[l]) - low @ solved_up)
        rhs.append(c[l] - np.einsum("bij,bj->bi", low, solved_rhs))
    lam = [np.empty(0)] * (depth + 1)
    lam[depth] = _solve(schur[depth], rhs[depth][:, :, None])[:, :, 0]
    for l in range(depth - 1, 0, -1):
        right = rhs[l] - np.einsum("bij,bj->bi", upper(l), lam[l + 1])
        lam[l] = _solve(schur[l], right[:, :, None])[:, :, 0]
    return [np.zeros_like(x0[0]), *lam[1:]]


def _as_matrix(diagonal: np.ndarray) -> np.ndarray:
    out = np.zeros((*diagonal.shape, diagonal.shape[-1]))
    idx = np.arange(diagonal.shape[-1])
    out[:, idx, idx] = diagonal
    return out


def _solve(block: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Batched solve with a diagonal (batch, N) or dense (batch, N, N) block."""
    if block.ndim == 2:
        return rhs / block[:, :, None]
    return np.linalg.solve(block, rhs)
