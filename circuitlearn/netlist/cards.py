"""Element cards: one parser per supported SPICE letter, turning tokens into element objects.

Each parser receives the card's tokens (the element name first) and returns an element; errors
are :class:`~circuitlearn.errors.NetlistError` located at the card. Element constructors may
raise :class:`~circuitlearn.errors.CircuitError` (bad value, bad node name); the reader adds the
location to those.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence

from circuitlearn.circuit.behavioral import parse_b_card
from circuitlearn.circuit.devices import DEVICES, Device, device_for_letter
from circuitlearn.circuit.elements import (
    CCCS,
    CCVS,
    VCCS,
    VCVS,
    Capacitor,
    CurrentSource,
    Element,
    Inductor,
    Resistor,
    SubcircuitInstance,
    VoltageSource,
)
from circuitlearn.circuit.expressions import Expression, Value
from circuitlearn.circuit.models import CODE_MODELS
from circuitlearn.circuit.opaque import CodeModelInstance, OpaqueElement
from circuitlearn.circuit.units import format_value, try_parse_value
from circuitlearn.circuit.waveforms import SPEC_WORDS, dc_of_spec, normalize_spec
from circuitlearn.errors import CircuitError, NetlistError
from circuitlearn.netlist.lexer import Card, Token

__all__ = [
    "ELEMENT_PARSERS",
    "UNSUPPORTED_LETTERS",
    "CardContext",
    "ngspice_number",
    "parse_expression",
    "parse_param_value",
    "parse_value",
    "reads_as_number",
    "split_arguments",
    "unsupported_letter_message",
]

UNSUPPORTED_LETTERS: dict[str, str] = {
    "p": "coupled multiconductor lines (P) are not supported",
    "n": "numerical devices (N) are not supported",
}
"""Why an element letter we do not model is rejected."""

_SUPPORTED = "R C L V I D E G F H M X (and A B J K O Q S T U W Y Z kept for ngspice)"

_STRTOD = re.compile(
    r"[+-]?(?:0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?"
    r"|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
)


class CardContext:
    """Where a card came from, to build located errors."""

    def __init__(
        self,
        card: Card,
        path: str | None,
        models: Mapping[str, tuple[str, dict[str, Value]]] | None = None,
        *,
        temperature: float = 27.0,
    ) -> None:
        self.card = card
        self.path = path
        self.models = models or {}
        """Every ``.model`` of the netlist: name → (type, parameters), for cards whose reading
        depends on a model (where a Q card's nodes end, a resistor's value from its model)."""
        self.temperature = temperature
        """The deck's circuit temperature [°C] (``.temp``, else ``.options temp=``), for values
        that fold it in when read (a resistor's tc1/tc2)."""

    def error(self, message: str) -> NetlistError:
        """A :class:`NetlistError` at this card."""
        path = self.card.path or self.path
        return NetlistError(message, path=path, line=self.card.line, text=self.card.text)


def reads_as_number(name: str) -> bool:
    """True when ngspice 39 reads an element's model-name token as a number, not a name.

    ngspice accepts model names that start with a digit (``1n4148``, ``2n7000``, ``1kohm``)
    unless the whole token is a number: a C ``strtod`` number, then at most one scale factor
    (``t g k m u n p f meg mil``), then at most one unit (``ohms farad henry f h``). So
    ``1k``, ``1e3``, ``10u``, ``1nf`` and ``1kohms`` are numbers and a diode or MOSFET that
    names such a model fails in ngspice ("could not find a valid modelname").

    Examples
    --------
    >>> [reads_as_number(n) for n in ("1n4148", "2n7000", "1kohm", "dmod")]
    [False, False, False, False]
    >>> [reads_as_number(n) for n in ("1k", "1e3", "10u", "1nf", "1kohms", "0x1a")]
    [True, True, True, True, True, True]
    """
    if not name or name[0].isalpha():
        return False
    match = _STRTOD.match(name)
    if match is None:
        return False
    rest = name[match.end() :].lower()
    if rest.startswith(("meg", "mil")):
        rest = rest[3:]
    elif rest[:1] in set("tgkmunpf"):
        rest = rest[1:]
    if rest.startswith("ohms"):
        rest = rest[4:]
    elif rest.startswith(("farad", "henry")):
        rest = rest[5:]
    elif rest[:1] in {"f", "h"}:
        rest = rest[1:]
    return not rest


def parse_value(token: Token, ctx: CardContext, who: str) -> Value:
    """A number with an optional suffix, or an expression token (``{...}``/``'...'``)."""
    if token.kind == "expr":
        return parse_expression(token.text, ctx, who)
    if token.kind != "word":
        raise ctx.error(f"{who}: expected a value; got {token.text!r}")
    value = try_parse_value(token.text)
    if value is None:
        value = ngspice_number(token.text)
    if value is None:
        hint = (
            " (NaN and inf are not values)"
            if token.text.lower().strip("+-") in {"nan", "inf"}
            else ""
        )
        raise ctx.error(
            f"{who}: bad number {token.text!r}{hint}; expected a number such as 1k, 2.2u, "
            "1e-3 or {expr}"
        )
    if not math.isfinite(value):
        raise ctx.error(f"{who}: number {token.text!r} overflows to infinity")
    return value


def parse_param_value(token: Token, ctx: CardContext, who: str) -> Value:
    """A ``.subckt`` default or an instance's parameter: a value, a parameter's bare name (ngspice
    39 substitutes it there, a string parameter's text too) or a ``"quoted"`` number (ngspice 39
    reads quoted text on these lines as a number: ``table="0000"`` is 0)."""
    text = token.text
    if token.is_word and text.isidentifier():
        return parse_expression(text, ctx, who)
    if token.is_word and len(text) > 1 and text[0] == text[-1] == '"':
        return parse_value(Token(text[1:-1], "word"), ctx, who)
    return parse_value(token, ctx, who)


_LEADING_NUMBER = re.compile(
    r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:meg|mil|[tgkmunpf])?", re.IGNORECASE
)


def ngspice_number(text: str) -> float | None:
    """The number ngspice 39 reads from a value word whose number and scale factor are followed
    by other letters or digits: it ignores them, so RKM notation such as ``4K7`` reads as 4k,
    ``2m5`` as 2m and ``2R5`` as 2 (4.7k needs ngspice's ``ngbehavior=lt``, set in its ``spinit``
    file, not in a deck). None when ``text`` does not start with a number.

    Examples
    --------
    >>> ngspice_number("4K7"), ngspice_number("2meg5"), ngspice_number("27R56")
    (4000.0, 2000000.0, 27.0)
    >>> ngspice_number("k4") is None
    True
    """
    match = _LEADING_NUMBER.match(text)
    if match is None or not (text[match.end() :].isalnum() or match.end() == len(text)):
        return None
    return try_parse_value(match[0])


def parse_expression(text: str, ctx: CardContext, who: str) -> Expression:
    """An :class:`Expression`, with syntax errors located at the card."""
    try:
        return Expression(text)
    except (ValueError, RecursionError, MemoryError) as exc:
        reason = str(exc) if isinstance(exc, ValueError) else "expression too deeply nested"
        raise ctx.error(f"{who}: bad expression {{{text}}}: {reason}") from None


def split_arguments(
    tokens: list[Token], ctx: CardContext, who: str
) -> tuple[list[Token], dict[str, Token]]:
    """Split tokens into positional ones and ``key=value`` pairs (keys lower-cased)."""
    positional: list[Token] = []
    keywords: dict[str, Token] = {}
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if (
            index + 1 < len(tokens)
            and tokens[index + 1].text == "="
            and tokens[index + 1].kind == "punct"
        ):
            if not token.is_word:
                raise ctx.error(f"{who}: expected a parameter name before '='; got {token.text!r}")
            if index + 2 >= len(tokens) or tokens[index + 2].kind == "punct":
                raise ctx.error(f"{who}: parameter {token.text.lower()}= has no value")
            key = token.text.lower()
            if key in keywords:
                raise ctx.error(f"{who}: parameter {key} is given twice")
            keywords[key] = tokens[index + 2]
            index += 3
            continue
        if token.kind == "punct":
            raise ctx.error(f"{who}: unexpected {token.text!r}")
        if keywords:
            raise ctx.error(f"{who}: unexpected {token.text!r} after name=value parameters")
        positional.append(token)
        index += 1
    return positional, keywords


def _nodes(tokens: list[Token], count: int, ctx: CardContext, who: str, usage: str) -> list[str]:
    if len(tokens) < count:
        raise ctx.error(
            f"{who}: too few nodes: expected '{usage}'; got {len(tokens)} of {count} nodes"
        )
    for token in tokens[:count]:
        if not token.is_word:
            raise ctx.error(f"{who}: expected a node name; got {token.text!r}")
    return [t.text for t in tokens[:count]]


def _no_extra(
    tokens: list[Token], keywords: dict[str, Token], ctx: CardContext, who: str, usage: str
) -> None:
    if tokens:
        raise ctx.error(f"{who}: unexpected {tokens[0].text!r}; expected '{usage}'")
    if keywords:
        raise ctx.error(f"{who}: unsupported parameter {next(iter(keywords))}=; expected '{usage}'")


def _main_value(
    rest: list[Token], keywords: dict[str, Token], key: str, ctx: CardContext, who: str, usage: str
) -> Value:
    if rest and key in keywords:
        raise ctx.error(f"{who}: value given twice (positional and {key}=)")
    if key in keywords:
        return parse_value(keywords.pop(key), ctx, who)
    if not rest:
        raise ctx.error(f"{who}: missing value; expected '{usage}'")
    return parse_value(rest.pop(0), ctx, who)


def _model_token(tokens: list[Token], index: int, ctx: CardContext, who: str, usage: str) -> str:
    if len(tokens) <= index or not tokens[index].is_word:
        raise ctx.error(f"{who}: missing model name; expected '{usage}'")
    name = tokens[index].text
    if reads_as_number(name):
        raise ctx.error(
            f"{who}: model name {name!r} reads as a number, which ngspice rejects "
            f"(\"could not find a valid modelname\"); rename the model, e.g. to 'm{name}'"
        )
    return name


def _resistor(name: str, tokens: list[Token], ctx: CardContext) -> Element:
    usage = (
        "rNAME n1 n2 VALUE [ac=..] [m=..] [scale=..] [tc1=.. tc2=.. tce=.. temp=.. dtemp=..], "
        "or rNAME n1 n2 RMODEL [l=.. w=..]"
    )
    who = f"resistor {name}"
    behavioural = _behavioural_value(name, ctx)
    if behavioural is not None:
        return behavioural
    args, keywords = split_arguments(_tc_pair(_unbracket(tokens)), ctx, who)
    if "resistance" in keywords and "r" not in keywords:
        keywords["r"] = keywords.pop("resistance")  # ngspice's full name of r=
    n1, n2 = _nodes(args, 2, ctx, who, usage)
    rest = args[2:]
    model: str | None = None
    for index, token in enumerate(rest[:2]):
        if token.is_word and token.text.lower() in ctx.models:
            model = rest.pop(index).text.lower()
            break
    if model is not None and not rest and "r" not in keywords:
        value: Value = _resistance_from_model(model, keywords, ctx, who)
    else:
        value = _main_value(rest, keywords, "r", ctx, who, usage)
        for key in ("l", "w"):
            keywords.pop(key, None)  # geometry only matters without a value
    ac = parse_value(keywords.pop("ac"), ctx, who) if "ac" in keywords else None
    for key in ("noisy", "noise", "bv_max"):
        keywords.pop(key, None)  # noise switch, safe-operating-area limit: no DC effect
    scale = parse_value(keywords.pop("scale"), ctx, who) if "scale" in keywords else 1.0
    copies = parse_value(keywords.pop("m"), ctx, who) if "m" in keywords else 1.0
    thermal = {k: parse_value(keywords.pop(k), ctx, who) for k in _RES_THERMAL if k in keywords}
    _no_extra(rest, keywords, ctx, who, usage)
    factor = _temperature_factor(thermal, model, ctx, who)
    if factor != 1.0:  # R(T) = R·(1 + tc1·ΔT + tc2·ΔT²), folded in at the deck's temperature
        if isinstance(value, Expression):
            raise ctx.error(f"{who}: tc1=/tc2=/tce= need a numeric value, not an expression")
        value = value * factor
    if scale != 1.0 or copies != 1.0:  # R·scale/m folded into the value, as ngspice computes it
        if not isinstance(scale, float) or not isinstance(copies, float) or copies <= 0:
            raise ctx.error(f"{who}: m= and scale= need numbers (m > 0)")
        if isinstance(value, Expression):
            raise ctx.error(f"{who}: m= and scale= need a numeric value, not an expression")
        value = value * scale / copies
    if isinstance(value, float) and value == math.inf:  # kept as written, for ngspice
        words = ctx.card.text.split()
        rest = words[[w.lower() for w in words].index(model, 3) + 1 :] if model else []
        return OpaqueElement(name, (n1, n2), model or "", " ".join(rest))
    if isinstance(value, float) and value < 0:  # ngspice 39 runs it; Resistor is positive
        return OpaqueElement(name, (n1, n2), "", format_value(value))
    return Resistor(name, n1, n2, value, ac)


_BEHAVIOURAL_VALUE = re.compile(r"\b[vi]\s*\(|\b(?:time|hertz)\b", re.IGNORECASE)
"""What makes an R or C value behavioural in ngspice 39 (``b_transformation_wanted``)."""

_BEHAVIOURAL_TAIL = re.compile(r"\s(?:tc1|tc2|temp|dtemp|m|ic)\s*=", re.IGNORECASE)


def _behavioural_value(name: str, ctx: CardContext) -> Element | None:
    """``R1 a b [r=]{expr}`` or ``C1 a b [c=]{expr}`` whose expression reads ``v()``, ``i()``,
    ``time`` or ``hertz``, as ngspice 39 rewrites it (``inpcom.c``): the B source
    ``br1 a b i=v(a,b)/(expr)`` (tc1/tc2 divide the current: ``reciproctc=1``; m multiplies it)
    or ``bc1 a b i=(expr)*ddt(v(a,b))`` (0 at DC, as ngspice's auxiliary capacitor gives it);
    None for other values."""
    words = ctx.card.text.split(None, 3)
    if len(words) < 4 or not _BEHAVIOURAL_VALUE.search(words[3]):
        return None
    n1, n2, rest = words[1], words[2], words[3]
    letter = name[0]
    keyword = "resistance" if letter == "r" else "capacitance"
    rest = re.sub(rf"^(?:{letter}|{keyword})\s*=\s*", "", rest, flags=re.IGNORECASE)
    tail = _BEHAVIOURAL_TAIL.search(" " + rest)
    body, params = (rest, "") if tail is None else (rest[: tail.start()], rest[tail.start() :])
    body = body.strip()
    if not _BEHAVIOURAL_VALUE.search(body):
        return None  # only a parameter after the value reads v(), such as ic={v(x)}
    if len(body) >= 2 and (body[0], body[-1]) in {("'", "'"), ("{", "}")}:
        body = body[1:-1]
    params = re.sub(r"\bic\s*=\s*\S+", "", params, flags=re.IGNORECASE)  # transient only
    current = f"v({n1},{n2})/({body})" if letter == "r" else f"({body})*ddt(v({n1},{n2}))"
    return parse_b_card(f"b{name}", f"b{name} {n1} {n2} i={current} {params} reciproctc=1")


_RES_THERMAL = ("tc1", "tc2", "tce", "temp", "dtemp")
"""Resistor instance parameters of its temperature dependence (ngspice 39's ``restemp.c``)."""


def _tc_pair(tokens: list[Token]) -> list[Token]:
    """PSpice's ``TC=tc1,tc2`` (or ``TC=tc1``) on a resistor, as ngspice 39 reads it, rewritten
    as ``tc1=.. tc2=..``."""
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        window = tokens[index : index + 5]
        if (
            len(window) >= 3
            and window[0].is_word
            and window[0].text.lower() == "tc"
            and window[1].kind == "punct"
            and window[1].text == "="
            and window[2].kind != "punct"
        ):
            out += [Token("tc1", "word"), window[1], window[2]]
            index += 3
            if len(window) == 5 and window[3].text == "," and window[4].kind != "punct":
                out += [Token("tc2", "word"), window[1], window[4]]
                index += 2
            continue
        out.append(tokens[index])
        index += 1
    return out


def _temperature_factor(
    thermal: Mapping[str, Value], model: str | None, ctx: CardContext, who: str
) -> float:
    """ngspice's R(T)/R: 1 + tc1·ΔT + tc2·ΔT², or 1.01^(tce·ΔT) when a TCE is given, with
    ΔT = (temp or the circuit temperature) + dtemp − the model's TNOM (27 °C); the instance's
    coefficients win over its model's; an instance temp= makes ngspice ignore dtemp=."""
    params: Mapping[str, Value] = ctx.models[model][1] if model is not None else {}
    given = {**{k: params[k] for k in ("tc1", "tc2", "tce", "tnom") if k in params}, **thermal}
    if not any(k in given for k in ("tc1", "tc2", "tce")):
        return 1.0
    if not all(isinstance(v, float) for v in given.values()):
        raise ctx.error(f"{who}: tc1=, tc2=, tce=, temp=, dtemp= and TNOM need numbers")
    numbers = {k: float(v) for k, v in given.items()}
    celsius = numbers.get("temp", ctx.temperature + numbers.get("dtemp", 0.0))
    delta = celsius - numbers.get("tnom", 27.0)
    if "tce" in numbers:
        return 1.01 ** (numbers["tce"] * delta)
    return 1.0 + numbers.get("tc1", 0.0) * delta + numbers.get("tc2", 0.0) * delta * delta


def _resistance_from_model(
    model: str, keywords: dict[str, Token], ctx: CardContext, who: str
) -> Value:
    """ngspice's resistance from a resistor model: R (a number or an expression, such as
    ``r='1000 + temper'``), else RSH·(L − 2·SHORT)/(W − 2·NARROW); ``inf`` for a zero effective
    width, as ngspice 39 computes it (an open resistor)."""
    kind, params = ctx.models[model]
    if kind not in {"r", "res"}:
        raise ctx.error(f"{who}: model {model} is a {kind} model; expected an r model")
    geometry = {k: parse_value(keywords.pop(k), ctx, who) for k in ("l", "w") if k in keywords}
    if not all(isinstance(v, float) for v in geometry.values()):
        raise ctx.error(f"{who}: l= and w= need numbers with a resistor model")
    value = next((params[k] for k in ("r", "res", "resistance") if k in params), None)
    if value is not None and not geometry:  # ngspice 39: r, its alias res, or the instance's
        return value  # own 'resistance' given as a model default
    if not all(isinstance(v, float) for v in params.values()):
        raise ctx.error(f"{who}: resistor model {model} needs numeric parameters")
    if "rsh" not in params:
        raise ctx.error(f"{who}: resistor model {model} has neither r= nor rsh=")
    length = float(geometry.get("l", params.get("l", _DEFAULT_RES_SIZE)))
    width = float(geometry.get("w", params.get("w", _DEFAULT_RES_SIZE)))
    length -= 2.0 * float(params.get("short", 0.0))
    width -= 2.0 * float(params.get("narrow", 0.0))
    if length <= 0:
        raise ctx.error(f"{who}: effective length must be positive with model {model}")
    if width == 0:
        return math.inf
    return float(params["rsh"]) * length / width


_DEFAULT_RES_SIZE = 10e-6
"""Resistor L and W [m] when neither the card nor its model gives them (ngspice 39: a model
with only RSH gives R = RSH, and RSH with L = 10 µm alone gives RSH again)."""


def _source(name: str, tokens: list[Token], ctx: CardContext) -> Element:
    cls = VoltageSource if name[0] == "v" else CurrentSource
    usage = f"{name[0]}NAME n+ n- [[DC] VALUE] [PULSE(...)|SIN(...)|PWL(...)|...] [AC MAG [PHASE]]"
    who = f"{cls.kind} {name}"
    pos, neg = _nodes(tokens, 2, ctx, who, usage)
    rest = tokens[2:]
    dc: Value | None = None
    spec: list[str] = []
    index = 0
    while index < len(rest):
        token = rest[index]
        if token.is_word and token.text.lower() == "dc":
            index += 1
            if index < len(rest) and rest[index].kind == "punct" and rest[index].text == "=":
                index += 1
            if index < len(rest) and rest[index].is_word and rest[index].text.lower() in SPEC_WORDS:
                # 'DC trnoise(...)': ngspice 39 takes DC 0, not the function's value at t = 0
                if dc is not None:
                    raise ctx.error(f"{who}: DC value given twice")
                dc = 0.0
                continue
            if index >= len(rest) or rest[index].kind == "punct":
                raise ctx.error(f"{who}: 'dc' needs a value; expected '{usage}'")
            if dc is not None:
                raise ctx.error(f"{who}: DC value given twice")
            dc = parse_value(rest[index], ctx, who)
        elif (
            token.kind == "punct"
            and token.text == "="
            and spec
            and spec[-1].lower() in {"ac", "distof1", "distof2"}
        ):
            pass  # 'ac=1' reads as 'ac 1' (ngspice 39)
        elif _is_value(token) and not spec:
            if dc is not None:
                raise ctx.error(f"{who}: DC value given twice")
            dc = parse_value(token, ctx, who)
        else:
            spec.append(f"{{{token.text}}}" if token.kind == "expr" else token.text)
        index += 1
    try:
        text = normalize_spec(" ".join(spec))
        value = dc_of_spec(text) if dc is None else dc
    except ValueError as exc:
        raise ctx.error(f"{who}: {exc}; expected '{usage}'") from None
    return cls(name, pos, neg, value, text)


def _is_value(token: Token) -> bool:
    return token.kind == "expr" or (token.is_word and try_parse_value(token.text) is not None)


_REACTIVE_PARAMS = {
    "c": {"ic", "m", "scale", "temp", "dtemp", "tc1", "tc2"},
    "l": {"ic", "m", "scale", "temp", "dtemp", "tc1", "tc2", "nt"},
}
"""Instance parameters of C and L cards (none changes the DC answer)."""


def _reactive(name: str, tokens: list[Token], ctx: CardContext) -> Element:
    cls = Capacitor if name[0] == "c" else Inductor
    known = _REACTIVE_PARAMS[name[0]]
    usage = f"{name[0]}NAME n1 n2 VALUE [ic=VALUE] [m=VALUE]"
    who = f"{cls.kind} {name}"
    behavioural = _behavioural_value(name, ctx) if name[0] == "c" else None
    if behavioural is not None:
        return behavioural
    args, keywords = split_arguments(tokens, ctx, who)
    n1, n2 = _nodes(args, 2, ctx, who, usage)
    rest = args[2:]
    if (
        rest
        and not _is_value(rest[0])
        and (rest[0].text.lower() in ctx.models or ngspice_number(rest[0].text) is None)
    ):  # a model-based C or L: kept for ngspice ('C1 a b 4p7' is 4p: ngspice 39 warns "can't
        # find model '4p7'" and reads the number)
        if rest[0].text.lower() not in ctx.models:
            raise ctx.error(f"{who}: {rest[0].text!r} is neither a value nor a known model")
        return _opaque(name, tokens, ctx)
    value = _main_value(rest, keywords, name[0], ctx, who, usage)
    unknown = sorted(set(keywords) - known)
    if unknown:
        raise ctx.error(
            f"{who}: unsupported parameter {unknown[0]}=; {cls.kind} parameters: "
            f"{', '.join(sorted(known))}"
        )
    _no_extra(rest, {}, ctx, who, usage)
    params = {key: parse_value(token, ctx, who) for key, token in keywords.items()}
    return cls(name, n1, n2, value, params)


class _DeviceCard:
    """A card of a registered device, as the device's parser reads it (``CardReader``)."""

    def __init__(self, device: Device, name: str, tokens: list[Token], ctx: CardContext) -> None:
        self.who = f"{device.element_class.kind} {name}"
        self._ctx = ctx
        # a flag (off) ends the card or follows name=value parameters: a node may be named off
        after = [
            any(u.text == "=" and u.kind == "punct" for u in tokens[:i]) for i in range(len(tokens))
        ]
        flag = [
            t.is_word and t.text.lower() in device.flags and (after[i] or i == len(tokens) - 1)
            for i, t in enumerate(tokens)
        ]
        self.flags = {t.text.lower() for t, f in zip(tokens, flag, strict=True) if f}
        kept = [t for t, f in zip(tokens, flag, strict=True) if not f]
        self.positional, self.keywords = split_arguments(_unbracket(kept), ctx, self.who)

    def error(self, message: str) -> NetlistError:
        return self._ctx.error(message)

    def nodes(self, count: int, usage: str) -> list[str]:
        return _nodes(self.positional, count, self._ctx, self.who, usage)

    def model(self, index: int, usage: str) -> str:
        return _model_token(self.positional, index, self._ctx, self.who, usage)

    def value(self, token: Token) -> Value:
        return parse_value(token, self._ctx, self.who)

    def is_value(self, token: Token) -> bool:
        return _is_value(token)

    def model_kind(self, name: str) -> str | None:
        entry = self._ctx.models.get(name.lower())
        return None if entry is None else entry[0]

    def no_extra(self, rest: Sequence[Token], usage: str) -> None:
        _no_extra(list(rest), self.keywords, self._ctx, self.who, usage)


def _device(name: str, tokens: list[Token], ctx: CardContext) -> Element:
    """A card of a registered device (:mod:`circuitlearn.circuit.devices`): its module reads it."""
    device = device_for_letter(name[0])
    assert device is not None
    if name[0] == "m" and (_vdmos_model_at(ctx) or _soi_node_count(ctx)) is not None:
        return _opaque(name, tokens, ctx)  # VDMOS (3 nodes, 5 thermal), SOI (5 to 7 nodes)
    if _thermal_node_count(name, ctx) is not None:
        return _opaque(name, tokens, ctx)  # self-heating: a thermal node the solver lacks
    try:
        element = device.read_text(name, ctx.card.text)
    except CircuitError as exc:
        raise ctx.error(str(exc)) from None
    if element is not None:
        return element
    return device.read_card(name, _DeviceCard(device, name, tokens, ctx))


def _controlled(name: str, tokens: list[Token], ctx: CardContext) -> Element:
    letter = name[0]
    cls = {"e": VCVS, "g": VCCS, "f": CCCS, "h": CCVS}[letter]
    voltage_controlled = letter in "eg"
    usage = f"{letter}NAME n+ n- {'nc+ nc-' if voltage_controlled else 'VCTRL'} VALUE"
    who = f"{cls.kind} {name}"
    if any(t.is_word and t.text.lower() in _BEHAVIOURAL for t in tokens):
        return _opaque(name, tokens, ctx)
    args, keywords = split_arguments(_unbracket(tokens), ctx, who)
    count = 4 if voltage_controlled else 2
    nodes = _nodes(args, count, ctx, who, usage)
    rest = args[count:]
    if not voltage_controlled:
        if not rest or not rest[0].is_word:
            raise ctx.error(f"{who}: missing controlling voltage source; expected '{usage}'")
        nodes.append(rest.pop(0).text)
    value = _main_value(rest, keywords, "value", ctx, who, usage)
    _no_extra(rest, keywords, ctx, who, usage)
    return cls(name, *nodes, value)


def _instance(name: str, tokens: list[Token], ctx: CardContext) -> Element:
    usage = "xNAME node... SUBCKT [params:] [name=value ...]"
    who = f"subcircuit instance {name}"
    args, keywords = split_arguments(tokens, ctx, who)
    if args and args[-1].is_word and args[-1].text.lower() == "params:":
        args.pop()
    if not args:
        raise ctx.error(f"{who}: missing subcircuit name; expected '{usage}'")
    for token in args:
        if not token.is_word:
            raise ctx.error(f"{who}: expected a node or subcircuit name; got {token.text!r}")
    params = {key: parse_param_value(token, ctx, who) for key, token in keywords.items()}
    return SubcircuitInstance(name, tuple(t.text for t in args[:-1]), args[-1].text, params)


_BEHAVIOURAL = {"poly", "value", "table", "laplace", "freq", "vol", "cur"}
"""Words that make an E/G/F/H card a behavioural source, kept as an opaque card."""

_OPAQUE_NODES = {
    "b": 2, "c": 2, "e": 2, "f": 2, "g": 2, "h": 2, "j": 3, "k": 0, "l": 2, "o": 4, "s": 4,
    "t": 4, "u": 3, "w": 2, "y": 4, "z": 3, "q": 3, "m": 3, "d": 3,
}  # fmt: skip
"""Nodes of each opaque card (Q: 3 to 5, ending before its model name)."""


_THERMAL_NODES = {"d": ("d", 3), "q": (("npn", "pnp"), 5)}
"""Cards that name their model after one more node when self-heating: a diode's (``D1 a k tj
dmod thermal``) and a VBIC/HICUM transistor's (``Q1 c b e s dt model``, levels 4, 8, 9)."""


def _thermal_node_count(name: str, ctx: CardContext) -> int | None:
    """The node count of a D or Q card with a thermal node (its model named after it), or
    ``None``; such cards are kept for ngspice (the native solver models no self-heating)."""
    rule = _THERMAL_NODES.get(name[0])
    if rule is None:
        return None
    kinds, count = rule
    words = ctx.card.text.split()
    if len(words) <= count + 1:
        return None
    entry = ctx.models.get(words[count + 1].lower())
    if entry is None or entry[0] not in kinds:
        return None
    if name[0] == "q" and entry[1].get("level", 1.0) not in (4.0, 8.0, 9.0):
        return None  # only VBIC (4, 9) and HICUM (8) have one; Gummel-Poon's card is refused
    return count


_SOI_LEVELS = frozenset({10.0, 55.0, 56.0, 57.0, 58.0, 60.0})
"""MOS model levels of ngspice 39's silicon-on-insulator MOSFETs (B4SOI, B3SOIFD/DD/PD, SOI3),
whose cards take instance parameters bulk MOSFETs lack (``pdbcp``, ``frbody`` ...)."""


def _soi_node_count(ctx: CardContext) -> int | None:
    """The node count of an M card of a silicon-on-insulator MOSFET (BSIMSOI: drain gate
    source, the back gate e, then optional body p, body contact b and thermal t nodes: 4 to 7
    before the model; four when the model has an SOI level), or ``None`` for a bulk MOSFET."""
    words = ctx.card.text.split()

    def names_mos_model(index: int) -> bool:
        entry = ctx.models.get(words[index].lower()) if len(words) > index else None
        return entry is not None and entry[0] in {"nmos", "pmos"}

    if names_mos_model(5):
        level = ctx.models[words[5].lower()][1].get("level", 1.0)
        return 4 if level in _SOI_LEVELS else None
    return next((count for count in (5, 6, 7) if names_mos_model(count + 1)), None)


def _vdmos_model_at(ctx: CardContext) -> int | None:
    """Where an M card names a ``vdmos`` model (after 3 nodes, or 5 with the thermal nodes tj
    and tcase), or ``None``: ngspice's VDMOS has no bulk node and is kept for ngspice."""
    words = ctx.card.text.split()
    for count in (3, 5):
        if len(words) > count + 1:
            entry = ctx.models.get(words[count + 1].lower())
            if entry is not None and entry[0] == "vdmos":
                return count
    return None


def _opaque(name: str, tokens: list[Token], ctx: CardContext) -> Element:
    """An element kept as written (for ngspice): nodes, the model it names, the rest verbatim."""
    who = f"element {name}"
    letter = name[0]
    count = _OPAQUE_NODES[letter]
    words = ctx.card.text.split()
    if not words or words[0].lower() != name:
        raise ctx.error(f"{who}: expected white space after the element name")
    if ctx.card.text.count("'") % 2 or ctx.card.text.count("{") != ctx.card.text.count("}"):
        raise ctx.error(f"{who}: unbalanced quote or brace in a card kept for ngspice")
    if letter == "m":
        count = _vdmos_model_at(ctx) or _soi_node_count(ctx) or 3
    thermal = _thermal_node_count(name, ctx)
    if thermal is not None:
        count = thermal
    elif letter == "q":
        while count < 5 and count < len(words) - 1 and words[count + 1].lower() not in ctx.models:
            count += 1
        if count == 5 or count >= len(words) - 1:
            raise ctx.error(f"{who}: bipolar transistor without a known model (add a .model)")
    if len(words) < count + 1:
        raise ctx.error(f"{who}: too few nodes: expected {count}")
    nodes = words[1 : count + 1]
    for node in nodes:
        if any(c in node for c in "(){}=,'"):
            raise ctx.error(f"{who}: expected {count} plain node names; got {node!r}")
    rest = words[count + 1 :]
    model = ""
    if rest and rest[0].lower() in ctx.models:
        model = rest.pop(0)
    return OpaqueElement(name, tuple(nodes), model, " ".join(rest))


def _code_model(name: str, tokens: list[Token], ctx: CardContext) -> Element:
    """An XSPICE ``A`` card, ``aNAME PORTS... MODEL``: the ports kept as written for ngspice."""
    who = f"XSPICE code model {name}"
    words = ctx.card.text.split()
    if len(words) < 3:
        raise ctx.error(f"{who}: expected 'aNAME PORTS... MODEL'")
    model = words[-1].lower()
    entry = ctx.models.get(model)
    if entry is None or entry[0] not in CODE_MODELS:
        what = "no .model card" if entry is None else f"a {entry[0]} model, not a code model"
        raise ctx.error(f"{who}: its last word {words[-1]!r} must name a code model; {what}")
    ports = ctx.card.text.split(None, 1)[1].rsplit(None, 1)[0]
    return CodeModelInstance(name, model=model, ports=ports)


def _unbracket(tokens: list[Token]) -> list[Token]:
    """Tokens without the brackets of ngspice's node pairs: ``E1 (out 0) (in 0) 2``."""
    out: list[Token] = []
    index = 0
    while index < len(tokens):
        window = tokens[index : index + 4]
        if (
            len(window) == 4
            and window[0].kind == "punct"
            and window[0].text == "("
            and window[1].is_word
            and window[2].is_word
            and window[3].kind == "punct"
            and window[3].text == ")"
        ):
            out += window[1:3]
            index += 4
            continue
        out.append(tokens[index])
        index += 1
    return out


ELEMENT_PARSERS: dict[str, Callable[[str, list[Token], CardContext], Element]] = {
    "r": _resistor,
    "c": _reactive,
    "l": _reactive,
    "v": _source,
    "i": _source,
    "e": _controlled,
    "g": _controlled,
    "f": _controlled,
    "h": _controlled,
    "x": _instance,
    "a": _code_model,
    **dict.fromkeys("bjkoqstuwyz", _opaque),
    **{device.letter: _device for device in DEVICES},  # registered devices read themselves
}
"""Card parser by element letter, called with the name, the tokens after it and the context."""


def unsupported_letter_message(letter: str) -> str:
    """Why an element letter is rejected, listing what is supported."""
    reason = UNSUPPORTED_LETTERS.get(letter, f"element letter {letter.upper()!r} is not supported")
    return f"{reason} (supported elements: {_SUPPORTED})"
