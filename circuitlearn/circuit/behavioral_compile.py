"""B-source expression shapes compiled to numpy closures: values and exact gradients.

A *shape* is an expression tree whose controlling quantities are numbered ``("x", k)`` and whose
numbers are lifted out as ``("c", j)`` (:mod:`circuitlearn.circuit.behavioral_eval` builds them).
:func:`compile_shape` turns one into a closure ``(X, C) -> (value, gradient, error codes)`` over
arrays: ``X`` is (..., elements, variables), ``C`` (elements, constants); the gradient
∂value/∂x_k is computed forward alongside the value (None where the value does not depend on X).

Every operator and function follows ngspice 39's ``ptfuncs.c`` (values) and ``inpptree.c``'s
``PTdifferentiate`` (derivatives); see :mod:`circuitlearn.circuit.behavioral_eval` for the list.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

__all__ = ["DIVISION_FUDGE", "ERRORS", "EXP_CAP_ARG", "Compiled", "compile_shape"]

DIVISION_FUDGE = 1e-32
"""Added to (subtracted from a negative) divisor [-]: ngspice's ``PTfudge_factor`` = gmin·1e-20."""

EXP_CAP_ARG = 227.9559242
"""Above this argument ngspice's B-source ``exp`` returns 1e99 (``PTexp``)."""

ERRORS = (
    "",
    "sqrt of a negative argument",
    "ln of a negative argument",
    "log10 of a negative argument",
)
"""Messages of the error codes a compiled shape returns (0: none)."""

_HUGE_NEGATIVE = -1e99
_TWO_PI = 2.0 * math.pi

Compiled = Callable[
    [np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray | None, np.ndarray | None]
]
"""A compiled shape: (X, C) -> (value, gradient or None, error code array or None)."""


@lru_cache(maxsize=1024)
def compile_shape(shape: tuple) -> Compiled:
    """A closure computing (value, gradient, error codes) of a shape from (X, C) arrays.

    ``X`` is (..., elements, variables), ``C`` (elements, constants); the gradient is
    (..., elements, variables) or None where the value does not depend on X.
    """
    kind = shape[0]
    if kind == "c":
        j = shape[1]
        return lambda x, c: (c[:, j], None, None)
    if kind == "x":
        k = shape[1]

        def variable(x: np.ndarray, c: np.ndarray) -> tuple:
            grad = np.zeros(x.shape)
            grad[..., k] = 1.0
            return x[..., k], grad, None

        return variable
    if kind == "neg":
        inner = compile_shape(shape[1])

        def negate(x: np.ndarray, c: np.ndarray) -> tuple:
            v, g, b = inner(x, c)
            return -v, None if g is None else -g, b

        return negate
    if kind == "bin":
        return _binary(shape[1], compile_shape(shape[2]), compile_shape(shape[3]))
    if kind == "chain":
        return _chain(compile_shape(shape[2]), [(op, compile_shape(t)) for op, t in shape[3]])
    if kind == "tern":
        return _ternary(*(compile_shape(s) for s in shape[1:]))
    if kind == "pwl":
        return _pwl(compile_shape(shape[1]), shape[2])
    name, args = shape[1], [compile_shape(s) for s in shape[2]]
    if name in ("pow", "pwr", "min", "max"):
        return _binary(name, *args)
    return _unary(name, args[0])


def _fudge(y: np.ndarray) -> np.ndarray:
    return y + np.where(y >= 0.0, DIVISION_FUDGE, -DIVISION_FUDGE)


def _merge(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    if b is None:
        return a
    return np.maximum(a, b)


def _add(a: np.ndarray | None, b: np.ndarray | None, sign: float = 1.0) -> np.ndarray | None:
    if b is None:
        return a
    if a is None:
        return sign * b
    return a + sign * b


def _scale(g: np.ndarray | None, s: np.ndarray) -> np.ndarray | None:
    return None if g is None else g * np.asarray(s)[..., None]


def _log_abs(a: np.ndarray) -> np.ndarray:
    """ngspice's PTlog(|a|): ln, with ln(0) = −1e99."""
    magnitude = np.abs(a)
    return np.where(
        magnitude == 0.0, _HUGE_NEGATIVE, np.log(np.where(magnitude == 0, 1.0, magnitude))
    )


def _arithmetic(
    op: str, a: np.ndarray, ga: np.ndarray | None, b: np.ndarray, gb: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """a op b for + - * / and its gradient (the divisor fudged as ngspice's ``PTdivide``)."""
    if op == "+":
        return a + b, _add(ga, gb)
    if op == "-":
        return a - b, _add(ga, gb, -1.0)
    if op == "*":
        return a * b, _add(_scale(ga, b), _scale(gb, a))
    value = a / _fudge(b)
    if ga is None and gb is None:
        return value, None
    num = _add(_scale(ga, b), _scale(gb, -a))
    return value, _scale(num, 1.0 / _fudge(b * b))


def _chain(first: Compiled, terms: list[tuple[str, Compiled]]) -> Compiled:
    """A run a op b op c ... evaluated left to right, as ngspice's left-leaning tree does."""

    def run(x: np.ndarray, c: np.ndarray) -> tuple:
        value, grad, bad = first(x, c)
        for op, term in terms:
            b, gb, bb = term(x, c)
            value, grad = _arithmetic(op, value, grad, b, gb)
            bad = _merge(bad, bb)
        return value, grad, bad

    return run


def _binary(op: str, left: Compiled, right: Compiled) -> Compiled:
    def run(x: np.ndarray, c: np.ndarray) -> tuple:
        a, ga, ba = left(x, c)
        b, gb, bb = right(x, c)
        bad = _merge(ba, bb)
        if op in ("+", "-", "*", "/"):
            return (*_arithmetic(op, a, ga, b, gb), bad)
        if op in ("^", "pow"):
            value = np.abs(a) ** b
            if gb is None:
                return value, _scale(ga, b * _pwr(a, b - 1.0)), bad
            grad = _add(_scale(ga, b / _fudge(a)), _scale(gb, _log_abs(a)))
            return value, _scale(grad, value), bad
        if op == "pwr":
            value = _pwr(a, b)
            if gb is None:
                return value, _scale(ga, b * np.abs(a) ** (b - 1.0)), bad
            grad = _add(_scale(ga, b / _fudge(a)), _scale(gb, _log_abs(a)))
            return value, _scale(grad, value), bad
        # min, max: the value and the derivative follow ngspice's comparisons
        if op == "min":
            value = np.where(a > b, b, a)
            take_a = (a - b) < 0.0
        else:
            value = np.where(a > b, a, b)
            take_a = (a - b) > 0.0
        return value, _where(take_a, ga, gb, x), bad

    return run


def _pwr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ngspice's PTpwr: sgn(a)·|a|^b (pwr(0, b) = 0^b)."""
    return np.where(a < 0.0, -(np.abs(a) ** b), np.abs(a) ** b)


def _where(
    test: np.ndarray, ga: np.ndarray | None, gb: np.ndarray | None, x: np.ndarray
) -> np.ndarray | None:
    if ga is None and gb is None:
        return None
    zero = np.zeros(x.shape)
    return np.where(test[..., None], zero if ga is None else ga, zero if gb is None else gb)


def _ternary(cond: Compiled, yes: Compiled, no: Compiled) -> Compiled:
    def run(x: np.ndarray, c: np.ndarray) -> tuple:
        t, _, bt = cond(x, c)
        a, ga, ba = yes(x, c)
        b, gb, bb = no(x, c)
        taken = t != 0.0
        bad = None
        if ba is not None or bb is not None:
            zero = np.zeros(np.shape(taken), dtype=np.int8)
            bad = np.where(taken, zero if ba is None else ba, zero if bb is None else bb)
        return np.where(taken, a, b), _where(taken, ga, gb, x), _merge(bt, bad)

    return run


def _pwl(arg: Compiled, points: tuple[float, ...]) -> Compiled:
    xs = np.array(points[0::2])
    ys = np.array(points[1::2])
    slopes = np.diff(ys) / np.diff(xs)

    def run(x: np.ndarray, c: np.ndarray) -> tuple:
        u, gu, bad = arg(x, c)
        k = np.clip(np.searchsorted(xs, u, side="right") - 1, 0, len(xs) - 2)
        slope = slopes[k]
        value = ys[k] + (ys[k + 1] - ys[k]) * (u - xs[k]) / (xs[k + 1] - xs[k])
        return value, _scale(gu, slope), bad

    return run


def _modulus(u: np.ndarray, limit: float) -> np.ndarray:
    return u - np.trunc(u / limit) * limit


def _step(u: np.ndarray) -> np.ndarray:
    return np.where(u < 0.0, 0.0, np.where(u > 0.0, 1.0, 0.5))


def _capped_exp(u: np.ndarray) -> np.ndarray:
    return np.where(u > EXP_CAP_ARG, 1e99, np.exp(np.minimum(u, EXP_CAP_ARG)))


def _unary(name: str, arg: Compiled) -> Compiled:
    def run(x: np.ndarray, c: np.ndarray) -> tuple:
        u, gu, bad = arg(x, c)
        value, slope, code = _UNARY[name](u)
        if code is not None:
            flags = np.where(u < 0.0, code, 0).astype(np.int8)
            bad = flags if bad is None else np.maximum(bad, flags)
        return value, None if gu is None or slope is None else _scale(gu, slope), bad

    return run


def _log(u: np.ndarray, scale: float, base: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    safe = np.where(u > 0.0, u, 1.0)
    return np.where(u == 0.0, _HUGE_NEGATIVE, base(safe) * scale)


_UNARY: dict[
    str, Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | float | None, int | None]]
] = {
    "abs": lambda u: (np.abs(u), np.sign(u), None),
    "sgn": lambda u: (np.sign(u), None, None),
    "acos": lambda u: (np.arccos(u), -1.0 / np.sqrt(1.0 - u * u), None),
    "acosh": lambda u: (np.arccosh(u), 1.0 / np.sqrt(u * u - 1.0), None),
    "asin": lambda u: (np.arcsin(u), 1.0 / np.sqrt(1.0 - u * u), None),
    "asinh": lambda u: (np.arcsinh(u), 1.0 / np.sqrt(u * u + 1.0), None),
    "atan": lambda u: (np.arctan(u), 1.0 / (1.0 + u * u), None),
    "atanh": lambda u: (np.arctanh(u), 1.0 / (1.0 - u * u), None),
    "cos": lambda u: (np.cos(_modulus(u, _TWO_PI)), -np.sin(_modulus(u, _TWO_PI)), None),
    "cosh": lambda u: (np.cosh(u), np.sinh(u), None),
    "exp": lambda u: (_capped_exp(u), _capped_exp(u), None),
    "ln": lambda u: (_log(u, 1.0, np.log), 1.0 / _fudge(u), 2),
    "log": lambda u: (_log(u, 1.0, np.log), 1.0 / _fudge(u), 2),
    "log10": lambda u: (_log(u, 1.0, np.log10), math.log10(math.e) / _fudge(u), 3),
    "sin": lambda u: (np.sin(_modulus(u, _TWO_PI)), np.cos(_modulus(u, _TWO_PI)), None),
    "sinh": lambda u: (np.sinh(u), np.cosh(u), None),
    "sqrt": lambda u: (
        np.sqrt(np.maximum(u, 0.0)),
        1.0 / _fudge(2.0 * np.sqrt(np.maximum(u, 0.0))),
        1,
    ),
    "tan": lambda u: (np.tan(_modulus(u, math.pi)), 1.0 + np.tan(_modulus(u, math.pi)) ** 2, None),
    "tanh": lambda u: (np.tanh(u), 1.0 - np.tanh(u) ** 2, None),
    "u": lambda u: (_step(u), None, None),
    "uramp": lambda u: (np.where(u < 0.0, 0.0, u), _step(u), None),
    "u2": lambda u: (np.clip(u, 0.0, 1.0) * 1.0, _step(u) - _step(u - 1.0), None),
    "ceil": lambda u: (np.ceil(u), None, None),
    "floor": lambda u: (np.floor(u), None, None),
    "nint": lambda u: (np.rint(u), None, None),
    "eq0": lambda u: ((u == 0.0) * 1.0, None, None),
    "ne0": lambda u: ((u != 0.0) * 1.0, None, None),
    "gt0": lambda u: ((u > 0.0) * 1.0, None, None),
    "lt0": lambda u: ((u < 0.0) * 1.0, None, None),
    "ge0": lambda u: ((u >= 0.0) * 1.0, None, None),
    "le0": lambda u: ((u <= 0.0) * 1.0, None, None),
    "ddt": lambda u: (np.zeros(np.shape(u)), None, None),  # d/dt at DC: 0, as ngspice
}
"""Unary function → (value, derivative or None for 0, error code for a negative argument)."""
