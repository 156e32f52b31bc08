"""``.model`` cards: every ngspice model type is kept; registered devices are solved natively.

Parameters that change the DC solution of a natively modelled device are listed in its device
module's table (:class:`~circuitlearn.circuit.devices.ModelTable`: the native solver uses exactly
those defaults); charge/noise/temperature parameters are
accepted and kept for round trips but have no effect on a DC operating point at 27 °C. A model
the native solver cannot reproduce (another MOS level, a bipolar or switch model, a diode
parameter such as IKR that changes DC) is kept as written: the ngspice backend runs it, and
:meth:`Model.native_issue` says why the native solver refuses it. Range checks are ngspice's
(PHI must be positive; IS below 1e-28 A is raised to it, as ngspice does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from circuitlearn.circuit.devices import ModelTable, model_table
from circuitlearn.circuit.devices.diode import DIODE_DC_DEFAULTS, IS_FLOOR
from circuitlearn.circuit.devices.mosfet import MOS1_DC_DEFAULTS
from circuitlearn.circuit.expressions import Expression, Value
from circuitlearn.circuit.units import format_value
from circuitlearn.errors import CircuitError

__all__ = [
    "CODE_MODELS",
    "DIODE_DC_DEFAULTS",
    "FLAG_PARAMS",
    "IS_FLOOR",
    "MODEL_KINDS",
    "MODEL_TYPES_READ",
    "MOS1_DC_DEFAULTS",
    "STRING_PARAMS",
    "Model",
    "ModelText",
    "ModelWord",
    "check_word",
]

MODEL_KINDS: dict[str, str] = {
    "d": "diode",
    "nmos": "MOSFET",
    "pmos": "MOSFET",
    "npn": "bipolar transistor",
    "pnp": "bipolar transistor",
    "njf": "JFET",
    "pjf": "JFET",
    "nmf": "MESFET",
    "pmf": "MESFET",
    "sw": "voltage-controlled switch",
    "csw": "current-controlled switch",
    "r": "resistor",
    "res": "resistor",
    "c": "capacitor",
    "cap": "capacitor",
    "l": "inductor",
    "ind": "inductor",
    "urc": "distributed RC line",
    "ltra": "lossy transmission line",
    "txl": "transmission line",
    "cpl": "coupled transmission lines",
    "vdmos": "vertical DMOS",
    "nhfet": "HFET",
    "phfet": "HFET",
    "vswitch": "voltage-controlled switch (PSpice)",
}
"""Model types ngspice 39 reads, with what they describe (``vswitch``: PSpice's switch, which
the ngspice backend hands to ngspice as ngspice's PSpice mode rewrites it; XSPICE
code models: :data:`CODE_MODELS`)."""

CODE_MODELS = frozenset((
    "spice2poly", "climit", "divide", "d_dt", "gain", "hyst", "ilimit", "int", "limit", "mult",
    "multi_input_pwl", "oneshot", "pwl", "sine", "slew", "square", "summer", "s_xfer",
    "triangle", "filesource", "delay", "pwlts", "adc_bridge", "dac_bridge", "bidi_bridge",
    "d_and", "d_buffer", "d_dff", "d_dlatch", "d_fdiv", "d_genlut", "d_inverter", "d_jkff",
    "d_lut", "d_nand", "d_nor", "d_open_c", "d_open_e", "d_or", "d_osc", "d_pulldown",
    "d_pullup", "d_pwm", "d_ram", "d_source", "d_srff", "d_srlatch", "d_state", "d_tff",
    "d_tristate", "d_xnor", "d_xor", "aswitch", "capacitoric", "cmeter", "core", "inductoric",
    "lcouple", "lmeter", "potentiometer", "zener", "memristor", "sidiode", "pswitch",
    "d_to_real", "real_delay", "real_gain", "real_to_v", "table2d", "table3d",
))  # fmt: skip
"""The XSPICE code models ngspice 39 loads from its ``.cm`` libraries (``devhelp``): model types
of ``A`` elements, whose parameters (arrays ``[0 1]``, booleans, strings) are kept verbatim."""

MODEL_TYPES_READ = (
    ", ".join(MODEL_KINDS) + " and the XSPICE code models (aswitch, pswitch, d_lut, int ...)"
)
"""The model types ngspice 39 reads, for messages."""

MODEL_KINDS.update(dict.fromkeys(sorted(CODE_MODELS), "XSPICE code model"))

_BAD = set(" \t\n\r\f\v=(){},;'\"")

STRING_PARAMS = frozenset({"version", "mfg"})
"""Model parameters ngspice reads as a string (BSIM3/BSIM4/SOI ``version=4.8.2``; a vendor's
``mfg=International_Rectifier``, which ngspice ignores)."""

FLAG_PARAMS: dict[str, frozenset[str]] = {"vdmos": frozenset({"nchan", "pchan"})}
"""Model parameters written as a bare word, by model type (``.model m1 vdmos pchan ...``); kept
as ``ModelWord("")`` and written back bare."""


class ModelWord(str):
    """A string-valued model parameter kept as written (``version=3.3.0`` selects a BSIM
    release in ngspice); the native solver models no device that reads one.

    Examples
    --------
    >>> Model("n1", "nmos", {"level": 54, "version": ModelWord("4.8.2")}).spice_card()
    '.model n1 nmos (level=54 version=4.8.2)'
    """

    __slots__ = ()


class ModelText(ModelWord):
    """A code-model parameter value kept verbatim (an array ``[0 1 2]``, ``TRUE``, a string
    ``"0001"``): ngspice's XSPICE reader parses it, the native solver models no code model.

    Examples
    --------
    >>> Model("sw3", "aswitch", {"log": ModelText("TRUE"), "r_on": 10.0}).spice_card()
    '.model sw3 aswitch (log=TRUE r_on=10)'
    """

    __slots__ = ()


def check_word(text: object, what: str) -> str:
    """A name as it may appear in a netlist: lower-cased, one word, no SPICE punctuation.

    Raises
    ------
    CircuitError
        For non-strings, blanks, white space or line breaks, ``= ( ) { } , ; ' "``, a leading
        ``.``, ``*`` or ``+`` (they would change how a card reads) and control characters.

    Examples
    --------
    >>> check_word("DMod", "model name")
    'dmod'
    """
    if not isinstance(text, str) or not text.strip():
        raise CircuitError(f"{what} must be a non-empty word; got {text!r}")
    name = text.strip().lower()
    if any(c in _BAD or not c.isprintable() for c in name) or name[0] in ".*+" or "//" in name:
        raise CircuitError(
            f"{what} {text!r} is not a single SPICE word (no white space, line breaks, "
            "= ( ) { } , ; quotes, '//' or a leading . * +)"
        )
    return name


@dataclass(frozen=True)
class Model:
    """A ``.model`` card: ``.model NAME KIND (param=value ...)``.

    Parameters
    ----------
    name : str
        Model name, lower-cased (names starting with a digit are accepted, as ngspice does).
    kind : str
        One of :data:`MODEL_KINDS` (``d``, ``nmos``, ``pmos``, ``npn`` ...).
    params : dict
        Explicitly given parameters (lower-case keys); defaults are not stored, so a written
        netlist shows what the user wrote.
    strict : bool
        Refuse a parameter ngspice does not know for a diode or level-1 MOSFET (the default).
        The netlist reader passes ``False``: ngspice ignores such a parameter with a warning, so
        a deck runs there, and the native solver refuses the model only if an element uses it
        (:meth:`native_issue`).

    Examples
    --------
    >>> m = Model("dmod", "d", {"IS": 1e-12})
    >>> m.value("is"), m.value("n")
    (1e-12, 1.0)
    >>> m.spice_card()
    '.model dmod d (is=1e-12)'
    >>> Model("q1", "npn", {"bf": 100}).native_issue() is None  # Gummel-Poon, native
    True
    >>> Model("j1", "njf", {"beta": 1e-4}).native_issue()
    'JFET models (njf) are not modelled natively'
    """

    name: str
    kind: str
    params: dict[str, Value] = field(default_factory=dict)
    strict: bool = field(default=True, compare=False, repr=False)

    def __post_init__(self) -> None:
        name = check_word(self.name, "model name")
        object.__setattr__(self, "name", name)
        kind = str(self.kind).strip().lower()
        if kind not in MODEL_KINDS:
            raise CircuitError(
                f"model {name}: unknown type {self.kind!r}; ngspice 39 reads {MODEL_TYPES_READ}"
            )
        object.__setattr__(self, "kind", kind)
        if not isinstance(self.params, dict):
            raise CircuitError(f"model {name}: params must be a dict; got {self.params!r}")
        table = model_table(kind)
        if table is not None and not _table_applies(table, self.params):
            table = None  # another level (VBIC's PE is not Gummel-Poon's VJE): ngspice's business
        aliases = table.aliases if table is not None else {}
        params: dict[str, Value] = {}
        for key, value in self.params.items():
            text = str(key).strip().lower()
            if not text.replace("_", "a").isalnum() or not text[0].isalpha():
                raise CircuitError(f"model {name}: invalid parameter name {key!r}")
            text = aliases.get(text, text)
            params[text] = (
                value
                if isinstance(value, ModelWord) and not value and text in FLAG_PARAMS.get(kind, ())
                else _check_param(name, text, value, ranges=table is not None)
            )
            issue = (
                table.range_issue(text, params[text])
                if table is not None and isinstance(params[text], float)
                else None
            )
            if issue is not None:
                raise CircuitError(f"model {name}: {issue}")
        object.__setattr__(self, "params", params)
        unknown = self.unknown_params()
        if self.strict and unknown:
            raise CircuitError(
                f"model {name} ({kind}): unknown parameter {unknown[0]!r} (ngspice ignores it "
                "with 'unrecognized parameter'; remove or correct it)"
            )

    def unknown_params(self) -> list[str]:
        """Parameters ngspice 39 does not know for this model, sorted (only model types a
        registered device models natively, at a native level, are checked: other parameter
        sets are ngspice's business)."""
        table = model_table(self.kind)
        if table is None or (
            not table.check_every_level and self.params.get("level", 1.0) not in table.native_levels
        ):
            return []
        return sorted(set(self.params) - table.known)

    @property
    def dc_defaults(self) -> dict[str, float]:
        """The DC parameters of this model type with ngspice's defaults (natively modelled
        types; empty for the others)."""
        table = model_table(self.kind)
        return dict(table.defaults) if table is not None else {}

    @property
    def polarity(self) -> int:
        """+1 for NMOS, NPN (and diodes), −1 for PMOS and PNP."""
        return -1 if self.kind in ("pmos", "pnp") else 1

    def native_issue(self) -> str | None:
        """Why the native solver cannot reproduce this model's DC behaviour, or ``None``."""
        table = model_table(self.kind)
        if table is None:
            return f"{MODEL_KINDS[self.kind]} models ({self.kind}) are not modelled natively"
        level = self.params.get("level", 1.0)
        if level not in table.native_levels:
            shown = level if isinstance(level, Expression) else format_value(level)
            return f"{table.family} level {shown} is not modelled natively (level 1 is)"
        unknown = self.unknown_params()
        if unknown:
            return f"parameter {unknown[0]} is unknown to ngspice (which ignores it)"
        extra = sorted(set(self.params) & table.unmodelled)
        if extra:
            return f"parameter {extra[0]} changes the DC answer and is not modelled natively"
        return None

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
            k
            if isinstance(v, ModelWord) and not v
            else f"{k}={v if isinstance(v, (Expression, ModelWord)) else format_value(v)}"
            for k, v in self.params.items()
        )
        return f".model {self.name} {self.kind} ({body})"


def _table_applies(table: ModelTable, params: dict[object, object]) -> bool:
    """Whether a device table's aliases and range checks hold for a card with these parameters:
    at the levels the native solver models, or at every level where the table says so."""
    level = next((v for k, v in params.items() if str(k).strip().lower() == "level"), 1.0)
    if table.check_every_level or isinstance(level, (str, Expression)):
        return True
    try:
        return float(level) in table.native_levels  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return True


def _check_param(model: str, key: str, value: object, *, ranges: bool = True) -> Value:
    """A parameter value checked as a number or expression; ``ranges``: also ngspice's range
    checks of the natively modelled devices (another model type or level keeps ngspice's own:
    a p-channel VDMOS has ``bv=-12``)."""
    if isinstance(value, Expression):
        return value
    if isinstance(value, ModelText):
        if not value.strip() or any(not c.isprintable() for c in value):
            raise CircuitError(f"model {model}: parameter {key} must be one line of text")
        return ModelText(" ".join(value.split()))
    if isinstance(value, ModelWord):
        if key not in STRING_PARAMS:
            raise CircuitError(f"model {model}: parameter {key} must be a number; got {value!r}")
        return ModelWord(check_word(str(value), f"model {model}: parameter {key}"))
    if isinstance(value, str):
        try:
            return Expression(value)
        except ValueError as exc:
            raise CircuitError(f"model {model}: parameter {key}: {exc}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CircuitError(f"model {model}: parameter {key} must be a number; got {value!r}")
    try:
        value = float(value)
    except OverflowError:
        raise CircuitError(
            f"model {model}: parameter {key} is too large for a float; got {value!r}"
        ) from None
    if math.isnan(value):
        raise CircuitError(f"model {model}: parameter {key} must be a number; got {value!r}")
    if math.isinf(value):
        raise CircuitError(
            f"model {model}: parameter {key} must be finite; got {value!r}"
            + (" (leave BV out for no breakdown)" if key == "bv" else "")
        )
    if ranges:
        _check_range(model, key, value)
    return value


def _check_range(model: str, key: str, value: float) -> None:
    """ngspice's range checks on the D and level-1 MOS parameters the native solver uses."""
    if key in {"is", "n", "kp", "ibv", "ikf", "phi", "bv", "l", "w"} and value <= 0:
        note = " (ngspice: 'Phi is not positive')" if key == "phi" else ""
        raise CircuitError(f"model {model}: parameter {key} must be positive; got {value!r}{note}")
    if key in {"rs", "rd", "gamma", "lambda"} and value < 0:
        raise CircuitError(f"model {model}: parameter {key} must be ≥ 0; got {value!r}")
