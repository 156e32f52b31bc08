"""Transient and AC specifications of V and I sources, kept as text, and their DC value.

A source card may carry, besides its DC value, a transient function and AC/distortion values:
``V1 in 0 DC 0 PULSE(0 1 1n 1n 1n 5u 10u) AC 1 0``. None of them changes a DC operating point
once the DC value is known, but they must be written back unchanged. With no explicit DC value,
ngspice 39 takes the function's value at t = 0 (checked with ``ngspice -b``):

=========================================  ============================================
``PULSE(v1 v2 ...)``, ``EXP(v1 v2 ...)``   v1
``SIN(vo va freq td theta phase)``         vo + va·sin(phase·π/180)
``PWL(t1 v1 t2 v2 ...)``                   v1
``SFFM(vo va fc mdi fs phasec phases)``    vo + va·sin(phasec·π/180 + mdi·sin(phases·π/180))
``AM(...)``                                0
``TRNOISE(...)``                           0
``TRRANDOM(type ts td p1 p2)``             p2 (the offset; 0 when not given)
=========================================  ============================================

``SINE`` is ngspice's other name for ``SIN`` (written back as ``sin``). TRNOISE and TRRANDOM
draw random numbers during a transient only; the operating point uses the values above.

A PWL function of a *voltage* source may be followed by ``r=TIME`` (repeat from that time point,
which must be one of the PWL's times) and ``td=TIME`` (delay), written without blanks around
``=`` as ngspice 39 requires; neither changes the DC value. ngspice refuses them on current
sources.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from circuitlearn.circuit.expressions import Expression, Value
from circuitlearn.circuit.units import format_value, try_parse_value
from circuitlearn.errors import CircuitError

__all__ = ["PWL_OPTIONS", "SPEC_WORDS", "WAVEFORMS", "dc_of_spec", "normalize_spec", "resolve_spec"]

WAVEFORMS: dict[str, int] = {
    "pulse": 2, "sin": 2, "exp": 2, "pwl": 2, "sffm": 3, "am": 2, "trnoise": 1, "trrandom": 1,
}  # fmt: skip
"""Transient function → the fewest arguments ngspice 39 accepts (fewer is an error there)."""

_ALIASES = {"sine": "sin"}
"""Other names ngspice 39 reads for a transient function."""

PWL_OPTIONS = ("r", "td")
"""Options that may follow a voltage source's PWL function: repeat time [s] and delay [s]."""

_SMALL_SIGNAL = {"ac": 2, "distof1": 2, "distof2": 2}
"""Small-signal keywords → how many optional values (magnitude, phase) may follow."""

SPEC_WORDS = frozenset({*WAVEFORMS, *_ALIASES, *_SMALL_SIGNAL})
"""Words that start a part of a source's specification (a function or small-signal values)."""

_PART = re.compile(r"\s*(?:(?P<punct>[(),])|(?P<expr>\{[^{}]*\})|(?P<word>[^\s(),{}]+))")
_DEGREE = math.pi / 180.0
_BRACED = re.compile(r"\{([^{}]*)\}")


def normalize_spec(text: str) -> str:
    """Canonical text of a source's transient/AC specification, or ``CircuitError``.

    The text is lower-cased, commas dropped, each function written ``name(arg arg ...)``; values
    are numbers or ``{expressions}``.

    Examples
    --------
    >>> normalize_spec("PULSE 0, 1 1n  AC 1")
    'pulse(0 1 1n) ac 1'
    >>> normalize_spec("sin(0 1 1k) distof1 0.1")
    'sin(0 1 1k) distof1 0.1'
    >>> normalize_spec("PWL(0 1 1u 2) r = 0 td = 1n")
    'pwl(0 1 1u 2) r=0 td=1n'
    """
    return " ".join(_format_part(name, args) for name, args in _parts(text))


def dc_of_spec(spec: str) -> Value:
    """The DC value ngspice 39 takes from a specification when no DC value is given.

    Examples
    --------
    >>> dc_of_spec("pulse(0.5 1 1n)"), dc_of_spec("sin(0.3 1 1k 0 0 90)"), dc_of_spec("ac 1")
    (0.5, 1.3, 0.0)
    """
    for name, args in _parts(spec):
        if name not in WAVEFORMS:
            continue
        if name in {"pulse", "exp"}:
            return _value(args[0])
        if name == "pwl":
            return _value(args[1])
        if name in {"am", "trnoise"}:
            return 0.0
        if name == "trrandom":
            return _value(args[4]) if len(args) > 4 else 0.0
        offset, amplitude = args[0], args[1]
        if name == "sin":
            phase = args[5] if len(args) > 5 else "0"
            return _combine(f"({offset}) + ({amplitude})*sin(({phase})*{_DEGREE!r})")
        phase_c = args[5] if len(args) > 5 else "0"
        phase_s = args[6] if len(args) > 6 else "0"
        index = args[3] if len(args) > 3 else "0"
        return _combine(
            f"({offset}) + ({amplitude})*sin(({phase_c})*{_DEGREE!r} + "
            f"({index})*sin(({phase_s})*{_DEGREE!r}))"
        )
    return 0.0


def resolve_spec(spec: str, env: Mapping[str, float]) -> str:
    """The specification with each ``{expression}`` replaced by its value (for flat circuits).

    Examples
    --------
    >>> resolve_spec("pulse(0 {vdd} 1n)", {"vdd": 1.8})
    'pulse(0 1.8 1n)'
    """
    return _BRACED.sub(lambda m: format_value(Expression(m[1]).evaluate(env)), spec)


def _parts(text: str) -> list[tuple[str, list[str]]]:
    """(keyword, values) of each part of a specification."""
    if not isinstance(text, str) or any(c in text for c in "\n\r\f\v;$'\"") or "//" in text:
        raise CircuitError(
            f"source specification {text!r} has a line break, quote or comment character"
        )
    words = _words(text.lower())
    parts: list[tuple[str, list[str]]] = []
    index = 0
    while index < len(words):
        name = _ALIASES.get(words[index], words[index])
        index += 1
        if name in WAVEFORMS:
            args: list[str] = []
            bracketed = index < len(words) and words[index] == "("
            index += bracketed
            while index < len(words) and _is_value(words[index]):
                args.append(words[index])
                index += 1
            if bracketed:
                if index >= len(words) or words[index] != ")":
                    raise CircuitError(f"{name}(...): expected values and a closing ')'")
                index += 1
            if len(args) < WAVEFORMS[name]:
                raise CircuitError(
                    f"{name} needs at least {WAVEFORMS[name]} values (ngspice rejects fewer); "
                    f"got {len(args)}"
                )
            if name == "pwl" and len(args) % 2:
                raise CircuitError(f"pwl needs time-value pairs; got {len(args)} values")
            parts.append((name, args))
        elif name in PWL_OPTIONS and parts and parts[-1][0] in ("pwl", *PWL_OPTIONS):
            if index + 1 >= len(words) or words[index] != "=" or not _is_value(words[index + 1]):
                raise CircuitError(f"pwl option {name}= needs a value, e.g. {name}=0")
            times = next(args for part, args in parts if part == "pwl")[0::2]
            if (
                name == "r"
                and not any(
                    not t.startswith("{")
                    and try_parse_value(t) == try_parse_value(words[index + 1])
                    for t in times
                )
                and not words[index + 1].startswith("{")
            ):
                raise CircuitError(
                    f"pwl repeat time r={words[index + 1]} is not one of the PWL's time points "
                    "(ngspice 39 refuses it)"
                )
            parts.append((name, [words[index + 1]]))
            index += 2
        elif name in _SMALL_SIGNAL:
            args = []
            while index < len(words) and _is_value(words[index]) and len(args) < 2:
                args.append(words[index])
                index += 1
            parts.append((name, args))
        else:
            raise CircuitError(
                f"unexpected {name!r}: expected a transient function "
                f"({', '.join(w.upper() for w in WAVEFORMS)}) or AC/DISTOF1/DISTOF2 values"
            )
    if sum(name in WAVEFORMS for name, _ in parts) > 1:
        raise CircuitError("more than one transient function")
    if len({name for name, _ in parts}) != len(parts):
        raise CircuitError("a keyword is given twice")
    return parts


def _words(text: str) -> list[str]:
    words: list[str] = []
    position = 0
    while position < len(text):
        match = _PART.match(text, position)
        if match is None:
            if not text[position:].strip():
                break
            raise CircuitError(f"cannot read {text[position:]!r}")
        position = match.end()
        if match["expr"]:
            Expression(match["expr"])  # syntax check
            words.append("{" + Expression(match["expr"]).text + "}")
        elif match["punct"] != ",":
            for word in re.split(r"(=)", match["punct"] or match["word"]):
                number = try_parse_value(word)
                if number is not None and not math.isfinite(number):
                    raise CircuitError(f"number {word!r} overflows")
                if word:
                    words.append(word)
    return words


def _is_value(word: str) -> bool:
    return word.startswith("{") or try_parse_value(word) is not None


def _value(word: str) -> Value:
    if word.startswith("{"):
        return Expression(word)
    number = try_parse_value(word)
    if number is None or not math.isfinite(number):
        raise CircuitError(f"bad value {word!r}")
    return number


def _combine(text: str) -> Value:
    """A number when every operand is one, else an expression (resolved at flatten time)."""
    expression = Expression(_BRACED.sub(r"(\1)", text))
    return expression if "{" in text else expression.evaluate({})


def _format_part(name: str, args: list[str]) -> str:
    if name in WAVEFORMS:
        return f"{name}({' '.join(args)})"
    if name in PWL_OPTIONS:
        return f"{name}={args[0]}"
    return " ".join([name, *args])
