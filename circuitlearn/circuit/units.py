"""SPICE numbers: engineering suffixes in, exact round-trippable text out.

ngspice reads ``1k``, ``2.2meg``, ``10u``, ``5mil`` and ignores trailing unit letters
(``10kohm``, ``1.5V``). We accept exactly that and reject anything else.
"""

from __future__ import annotations

import math
import re

__all__ = ["SUFFIXES", "format_value", "parse_value", "try_parse_value"]

SUFFIXES: dict[str, float] = {
    "t": 1e12,
    "g": 1e9,
    "meg": 1e6,
    "k": 1e3,
    "mil": 25.4e-6,
    "m": 1e-3,
    "u": 1e-6,
    "n": 1e-9,
    "p": 1e-12,
    "f": 1e-15,
}
"""Scale factors of ngspice's engineering suffixes (case-insensitive; ``meg`` before ``m``)."""

_EXPONENTS = {"t": 12, "g": 9, "meg": 6, "k": 3, "m": -3, "u": -6, "n": -9, "p": -12, "f": -15}

_NUMBER = re.compile(
    r"^(?P<mant>[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(?P<suffix>meg|mil|[tgkmunpf])?(?P<unit>[a-z]*)$",
    re.IGNORECASE,
)


def try_parse_value(text: str) -> float | None:
    """Parse a SPICE number, or return ``None`` when ``text`` is not one.

    Examples
    --------
    >>> try_parse_value("2.2k"), try_parse_value("1meg"), try_parse_value("10uF")
    (2200.0, 1000000.0, 1e-05)
    >>> try_parse_value("abc") is None
    True
    >>> try_parse_value("2\u00b5")
    2e-06
    """
    # ngspice 39 reads the micro sign (U+00B5) and the Greek mu (U+03BC) as 'u': 2µ is 2e-6
    match = _NUMBER.match(text.strip().replace("\u00b5", "u").replace("\u03bc", "u"))
    if match is None:
        return None
    suffix = (match["suffix"] or "").lower()
    if suffix == "mil":
        return float(match["mant"]) * SUFFIXES["mil"]
    if not suffix:
        return float(match["mant"])
    # Shift the decimal exponent instead of multiplying, so "10u" is exactly float("1e-5").
    mantissa, _, exponent = match["mant"].lower().partition("e")
    if len(exponent) > 6:  # int() refuses huge digit strings; the value over/underflows anyway
        return float(match["mant"]) * SUFFIXES[suffix]
    return float(f"{mantissa}e{int(exponent or 0) + _EXPONENTS[suffix]}")


def parse_value(text: str) -> float:
    """Parse a SPICE number with an optional engineering suffix.

    Raises
    ------
    ValueError
        When ``text`` is not a number (the caller turns it into a located error).

    Examples
    --------
    >>> parse_value("4.7m")
    0.0047
    """
    value = try_parse_value(text)
    if value is None:
        raise ValueError(f"expected a number such as 1k, 2.2u or 1e-3; got {text!r}")
    return value


def format_value(value: float) -> str:
    """Shortest text that ngspice reads back as exactly ``value``.

    Examples
    --------
    >>> format_value(1000.0), format_value(1e-05), format_value(0.1 + 0.2)
    ('1000', '1e-05', '0.30000000000000004')
    """
    if not math.isfinite(value):
        raise ValueError(f"cannot write a non-finite value to a netlist; got {value!r}")
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text
