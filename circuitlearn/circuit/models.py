"""``.model`` cards: diode and level-1 MOSFET parameters with ngspice 39's defaults.

Parameters that change the DC solution are listed in ``*_DC_DEFAULTS`` (the native solver uses
exactly these); charge/noise parameters are accepted and kept for round trips but have no effect
on a DC operating point. Anything else is rejected with the model and parameter named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from circuitlearn.circuit.expressions import Expression, Value
from circuitlearn.circuit.units import format_value
from circuitlearn.errors import CircuitError

__all__ = [
    "DIODE_DC_DEFAULTS",
    "MODEL_KINDS",
    "MOS1_DC_DEFAULTS",
    "Model",
]

DIODE_DC_DEFAULTS: dict[str, float] = {
    "is": 1e-14,
    "n": 1.0,
    "rs": 0.0,
    "bv": math.inf,
    "ibv": 1e-3,
}
"""ngspice diode (level 1) DC parameters and defaults: saturation current IS [A], emission
coefficient N, series resistance RS [Ω], breakdown voltage BV [V] (∞ = none), current at BV
IBV [A]."""

_DIODE_IGNORED_AT_DC = {"cjo", "cj0", "cj", "vj", "m", "tt", "fc", "eg", "xti", "kf", "af", "tnom"}

MOS1_DC_DEFAULTS: dict[str, float] = {
    "level": 1.0,
    "vto": 0.0,
    "kp": 2e-5,
    "gamma": 0.0,
    "phi": 0.6,
    "lambda": 0.0,
    "is": 1e-14,
    "ld": 0.0,
    "rd": 0.0,
    "rs": 0.0,
}
"""ngspice MOS level-1 DC parameters and defaults: threshold VTO [V], transconductance KP [A/V²],
body effect GAMMA [√V], surface potential PHI [V], channel-length modulation LAMBDA [1/V], bulk
junction saturation current IS [A], lateral diffusion LD [m], drain/source resistances RD, RS [Ω].
The instance defaults W = L = 100 µm are ngspice's DEFW/DEFL."""

_MOS_IGNORED_AT_DC = {
    "cbd",
    "cbs",
    "cgso",
    "cgdo",
    "cgbo",
    "cj",
    "mj",
    "cjsw",
    "mjsw",
    "pb",
    "fc",
    "kf",
    "af",
    "tnom",
    "tt",
}
_MOS_ALIASES = {"vt0": "vto"}
_DIODE_ALIASES = {"cj0": "cjo"}

MODEL_KINDS = ("d", "nmos", "pmos")
"""Model types accepted in ``.model NAME TYPE (...)``."""


@dataclass(frozen=True)
class Model:
    """A ``.model`` card: ``.model NAME KIND (param=value ...)``.

    Parameters
    ----------
    name : str
        Model name, lower-cased (names starting with a digit are accepted, as ngspice does).
    kind : {"d", "nmos", "pmos"}
    params : dict
        Explicitly given parameters (lower-case keys); defaults are not stored, so a written
        netlist shows what the user wrote.

    Examples
    --------
    >>> m = Model("dmod", "d", {"IS": 1e-12})
    >>> m.value("is"), m.value("n")
    (1e-12, 1.0)
    >>> m.spice_card()
    '.model dmod d (is=1e-12)'
    """

    name: str
    kind: str
    params: dict[str, Value] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (
            not isinstance(self.name, str)
            or not self.name.strip()
            or any(c.isspace() for c in self.name.strip())
        ):
            raise CircuitError(f"model name must be a non-empty word; got {self.name!r}")
        name = self.name.strip().lower()
        object.__setattr__(self, "name", name)
        kind = str(self.kind).strip().lower()
        if kind not in MODEL_KINDS:
            raise CircuitError(
                f"model {name}: unsupported type {self.kind!r}; "
                f"expected one of {', '.join(MODEL_KINDS)}"
            )
        object.__setattr__(self, "kind", kind)
        aliases = _DIODE_ALIASES if kind == "d" else _MOS_ALIASES
        defaults = self.dc_defaults
        ignored = _DIODE_IGNORED_AT_DC if kind == "d" else _MOS_IGNORED_AT_DC
        params: dict[str, Value] = {}
        for key, value in dict(self.params).items():
            key = aliases.get(str(key).strip().lower(), str(key).strip().lower())
            if key not in defaults and key not in ignored:
                valid = ", ".join(sorted(defaults) + sorted(ignored))
                raise CircuitError(
                    f"model {name} ({kind}): unsupported parameter {key!r}; supported: {valid}"
                )
            params[key] = _check_param(name, key, value)
        if kind != "d" and "level" in params and params["level"] != 1.0:
            raise CircuitError(
                f"model {name}: only MOSFET level 1 is supported; got level={params['level']}"
            )
        object.__setattr__(self, "params", params)

    @property
    def dc_defaults(self) -> dict[str, float]:
        """The DC parameters of this model type with ngspice's defaults."""
        return DIODE_DC_DEFAULTS if self.kind == "d" else MOS1_DC_DEFAULTS

    @property
    def polarity(self) -> int:
        """+1 for NMOS (and diodes), −1 for PMOS."""
        return -1 if self.kind == "pmos" else 1

    def value(self, key: str) -> Value:
        """A parameter's value, given or default."""
        key = key.lower()
        if key in self.params:
            return self.params[key]
        if key in self.dc_defaults:
            return self.dc_defaults[key]
        raise CircuitError(f"model {self.name}: no parameter {key!r}")

    def dc_params(self) -> dict[str, Value]:
        """All DC parameters, defaults filled in."""
        return {k: self.params.get(k, v) for k, v in self.dc_defaults.items()}

    def __hash__(self) -> int:
        return hash((self.name, self.kind, tuple(self.params.items())))

    def spice_card(self) -> str:
        body = " ".join(
            f"{k}={v if isinstance(v, Expression) else format_value(v)}"
            for k, v in self.params.items()
        )
        return f".model {self.name} {self.kind} ({body})"


def _check_param(model: str, key: str, value: object) -> Value:
    if isinstance(value, Expression):
        return value
    if isinstance(value, str):
        try:
            return Expression(value)
        except ValueError as exc:
            raise CircuitError(f"model {model}: parameter {key}: {exc}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise CircuitError(f"model {model}: parameter {key} must be a number; got {value!r}")
    value = float(value)
    if math.isinf(value) and not (key == "bv" and value > 0):
        raise CircuitError(f"model {model}: parameter {key} must be finite; got {value!r}")
    if key in {"is", "n", "kp", "ibv"} and value <= 0:
        raise CircuitError(f"model {model}: parameter {key} must be positive; got {value!r}")
    if key in {"rs", "rd", "ld", "gamma", "lambda"} and value < 0:
        raise CircuitError(f"model {model}: parameter {key} must be ≥ 0; got {value!r}")
    return value
