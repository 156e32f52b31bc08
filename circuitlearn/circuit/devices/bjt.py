"""Bipolar junction transistor: ngspice's Gummel–Poon DC model (``bjtload.c``, level 1).

Card: ``qNAME nc nb ne [ns] MODEL [area] [area=A] [m=M] [off]``; ``.model NAME npn|pnp (...)``.
With three nodes the substrate is ground, as in ngspice.

Equations (normalised voltages vbe = p·(v_b' − v_e'), vbc = p·(v_b' − v_c'), p = +1 NPN,
−1 PNP; every current multiplied by p at the terminals), re-derived from ngspice 39's
``bjtload.c``, ``bjtsetup.c`` and ``bjttemp.c``, with the parameters at the device temperature
(:func:`bjt_temperature`: ``.temp``, instance ``temp=``/``dtemp=``, the model's TNOM):

- junction currents with ngspice's smooth reverse formula below −3·N·Vt:
  Ibe = IS·(exp(vbe/(NF·Vt)) − 1), Ibc = IS·(exp(vbc/(NR·Vt)) − 1); leakage
  Ile = ISE·(exp(vbe/(NE·Vt)) − 1) + gmin·vbe, Ilc = ISC·(exp(vbc/(NC·Vt)) − 1) + gmin·vbc
  (gmin across both junctions even without ISE/ISC; ISE or ISC above 1e-4 is a multiple of IS,
  SPICE2's legacy rule that ngspice keeps);
- base charge q1 = 1/(1 − vbc/VAF − vbe/VAR), qb = q1·(1 + √(1 + 4·(Ibe/IKF + Ibc/IKR)))/2;
- Ic = (Ibe − Ibc)/qb − Ibc/BR − Ilc, Ib = Ibe/BF + Ile + Ibc/BR + Ilc;
- base resistance RBM + (RB − RBM)/qb, or with IRB ngspice's tan(z) law of the base current;
  a constant RB (RBM = RB, no IRB) is a plain series conductance, as are RE and RC;
- a gmin conductance from the substrate node to the collector' (vertical, NPN default) or
  base' (lateral, PNP default; ``subs=`` overrides), ngspice's substrate junction without ISS;
- ``DEVpnjlim`` on vbe and vbc with Vt and vcrit = Vt·ln(Vt/(√2·IS·AREA)).

Areas as ``bjttemp.c`` applies them: AREA scales IS, ISE, IKF, IKR, IRB and divides RB, RBM,
RE, RC; the base–collector junction's transport current is IS·AREA·AREAB (vertical) or
IS·AREA·AREAC (lateral), its leakage ISC·AREAB or ISC·AREAC, with AREAB and AREAC defaulting
to AREA (so IS·AREA² in a plain ``area=2``: ngspice scales it by area twice); ``m`` parallel
copies multiply every current and conductance by m, each copy with its own gmin.
Parameters 0 for VAF, VAR, IKF, IKR, IRB mean "infinite", as in ngspice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from circuitlearn.circuit.devices.base import (
    CardReader,
    Device,
    DeviceContext,
    ModelCard,
    ModelTable,
    Series,
    SeriesLaw,
)
from circuitlearn.circuit.devices.gummel_poon import (
    base_resistance,
    base_resistance_expression,
    bjt_temperature,
    gummel_poon,
)
from circuitlearn.circuit.devices.junction import CONDUCTING_VOLTAGE, GMIN, KELVIN, SQRT2, pnjlim
from circuitlearn.circuit.elements import Element, _checked, _checked_params, _format, model_name
from circuitlearn.circuit.expressions import Value
from circuitlearn.errors import CircuitError

__all__ = [
    "BJT",
    "BJT_DC_DEFAULTS",
    "BJT_INSTANCE_PARAMS",
    "BJT_TABLE",
    "Bipolar",
    "BipolarDevice",
    "BjtGroup",
]

BJT_DC_DEFAULTS: dict[str, float] = {
    "is": 1e-16,
    "bf": 100.0,
    "nf": 1.0,
    "vaf": math.inf,
    "ikf": math.inf,
    "ise": 0.0,
    "ne": 1.5,
    "br": 1.0,
    "nr": 1.0,
    "var": math.inf,
    "ikr": math.inf,
    "isc": 0.0,
    "nc": 2.0,
    "rb": 0.0,
    "irb": math.inf,
    "rbm": math.inf,
    "re": 0.0,
    "rc": 0.0,
    "subs": 0.0,
    "tnom": 27.0,
}
"""ngspice's Gummel–Poon DC parameters and defaults (``bjtsetup.c``): IS [A], ideal betas BF,
BR, emission coefficients NF, NR, Early voltages VAF, VAR [V] (∞ = none), knee currents IKF,
IKR [A] (∞ = none), leakage ISE, ISC [A] with NE, NC, base resistance RB [Ω] falling to RBM
[Ω] (∞ = RB) with IRB [A] (∞ = no current law), RE, RC [Ω], SUBS (+1 vertical, −1 lateral,
0 = NPN vertical / PNP lateral) and TNOM [°C]."""

_TEMPERATURE = {
    "xtb", "eg", "xti", "tlev", "tlevc", "tbf1", "tbf2", "tbr1", "tbr2", "tikf1", "tikf2",
    "tikr1", "tikr2", "tirb1", "tirb2", "tnc1", "tnc2", "tne1", "tne2", "tnf1", "tnf2", "tnr1",
    "tnr2", "trb1", "trb2", "trc1", "trc2", "tre1", "tre2", "trm1", "trm2", "tvaf1", "tvaf2",
    "tvar1", "tvar2", "ctc", "cte", "cts", "tvjc", "tvje", "tvjs", "titf1", "titf2", "ttf1",
    "ttf2", "ttr1", "ttr2", "tmje1", "tmje2", "tmjc1", "tmjc2", "tmjs1", "tmjs2", "tns1",
    "tns2", "tis1", "tis2", "tise1", "tise2", "tisc1", "tisc2", "tiss1", "tiss2",
}  # fmt: skip
_CHARGE_AND_NOISE = {
    "cje", "vje", "mje", "tf", "xtf", "vtf", "itf", "ptf", "cjc", "vjc", "mjc", "xcjc", "tr",
    "cjs", "vjs", "mjs", "fc", "kf", "af", "vbe_max", "vbc_max", "vce_max", "pd_max", "ic_max",
    "ib_max", "te_max", "rth0", "npn", "pnp",
    "vceo", "icrating",  # PSpice datasheet fields on vendor cards: ngspice ignores them, warning
}  # fmt: skip
_ALIASES = {
    "va": "vaf", "ik": "ikf", "c2": "ise", "vb": "var", "c4": "isc", "pe": "vje", "me": "mje",
    "pc": "vjc", "mc": "mjc", "csub": "cjs", "ccs": "cjs", "ps": "vjs", "ms": "mjs",
    "tref": "tnom", "trb": "trb1", "trc": "trc1", "tre": "tre1", "nk": "nkf",
}  # fmt: skip

BJT_TABLE = ModelTable(
    kinds=("npn", "pnp"),
    family="bipolar transistor",
    defaults=BJT_DC_DEFAULTS,
    ignored=frozenset(_TEMPERATURE | _CHARGE_AND_NOISE),
    unmodelled=frozenset(
        {"ibe", "ibc", "iss", "ns", "rco", "vo", "gamma", "qco", "quasimod", "vg", "cn", "d"}
        | {"nkf"}
    ),
    aliases=_ALIASES,
    positive=frozenset({"is", "bf", "br", "nf", "nr", "ne", "nc"}),
    nonnegative=frozenset({"ise", "isc", "vaf", "var", "ikf", "ikr", "irb", "rb", "rbm"})
    | {"re", "rc"},
)
"""The bipolar transistor's ``.model`` table. Temperature parameters (EG, XTI, XTB, TLEV 0/1 and
the first/second-order coefficients) act through :func:`bjt_temperature`; charges and noise are
kept for ngspice; IBE/IBC, the substrate diode ISS/NS, quasi-saturation (RCO, VO, GAMMA, QCO) and
NKF change a DC answer and are refused natively, as are TLEV 2/3 away from TNOM."""

_TLEV3 = frozenset({"tis1", "tis2", "tise1", "tise2", "tisc1", "tisc2"})
"""Temperature coefficients of TLEV 3's saturation currents (refused natively away from TNOM)."""

BJT_INSTANCE_PARAMS = frozenset({"areab", "areac", "temp", "dtemp"})
"""Q instance parameters besides ``area``, ``m`` and ``off``: AREAB/AREAC (the base–collector
junction's areas, :func:`_compiled`) and the device temperature."""

_LEGACY_LEAK = 1e-4
"""ISE or ISC above this is a multiple of IS (``bjtsetup.c``'s SPICE2 rule)."""


@dataclass(frozen=True)
class Bipolar(Element):
    """Bipolar junction transistor. Card: ``qNAME nc nb ne [ns] MODEL [area=A] [m=M] [off]``.

    ngspice's Gummel–Poon model (see :mod:`circuitlearn.circuit.devices.bjt`); ``substrate``
    is ground unless given. ``params`` holds AREAB, AREAC, TEMP and DTEMP when given.
    """

    collector: str = ""
    base: str = ""
    emitter: str = ""
    model: str = ""
    substrate: str = "0"
    area: Value = 1.0
    m: Value = 1.0
    off: bool = False
    params: dict[str, Value] = field(default_factory=dict)

    letter: ClassVar[str] = "q"
    kind: ClassVar[str] = "bipolar transistor"
    node_fields: ClassVar[tuple[str, ...]] = ("collector", "base", "emitter", "substrate")
    constraints: ClassVar[dict[str, str]] = {"area": "positive", "m": "positive"}

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "model", model_name(self, self.model))
        if not isinstance(self.off, bool):
            raise CircuitError(
                f"bipolar transistor {self.name}: off must be True or False; got {self.off!r}",
                element=self.name,
            )
        params = _checked_params(self, self.params, BJT_INSTANCE_PARAMS, ("area", "m", "off"))
        for key in ("areab", "areac"):
            if key in params:
                params[key] = _checked(params[key], self, key, "positive")
        object.__setattr__(self, "params", params)

    def __hash__(self) -> int:
        return hash((self.name, self.nodes, self.model, self.area, self.m, self.off))

    def spice_card(self) -> str:
        nodes = f"{self.collector} {self.base} {self.emitter}"
        if self.substrate != "0":
            nodes += f" {self.substrate}"
        area = "" if self.area == 1.0 else f" area={_format(self.area)}"
        copies = "" if self.m == 1.0 else f" m={_format(self.m)}"
        extra = "".join(f" {k}={_format(v)}" for k, v in self.params.items())
        return f"{self.name} {nodes} {self.model}{area}{copies}{extra}{' off' if self.off else ''}"


@dataclass
class BjtGroup:
    """All bipolar transistors of a circuit as arrays (internal nodes where RB, RC, RE > 0).

    Residual blocks: collector', base', emitter', the external base (the other end of a
    current-dependent base resistance; zero where RB is constant or absent) and the substrate.
    The substrate's gmin leads to the collector' (``vertical``) or the base' (``lateral``).
    """

    names: list[str]
    collector: np.ndarray
    base: np.ndarray
    emitter: np.ndarray
    base_outer: np.ndarray
    substrate: np.ndarray
    polarity: np.ndarray
    vcrit: np.ndarray
    vt: np.ndarray
    off: np.ndarray
    nonlinear_rb: np.ndarray
    vertical: np.ndarray
    params: dict[str, np.ndarray]

    terminals = ("collector", "base", "emitter", "base", "substrate")
    """Element terminals of the residual blocks."""

    @property
    def residual_rows(self) -> np.ndarray:
        """Extended rows of the residual blocks (see the class notes)."""
        return np.concatenate(
            [self.collector, self.base, self.emitter, self.base_outer, self.substrate]
        )

    @property
    def jacobian_entries(self) -> tuple[np.ndarray, np.ndarray]:
        """Extended (rows, cols) of the Jacobian values returned by :meth:`evaluate`."""
        c, b, e, o, s = self.collector, self.base, self.emitter, self.base_outer, self.substrate
        rows = [c, c, c, c, b, b, b, b, b, e, e, e, o, o, o, o, s, s, s]
        cols = [c, b, e, s, c, b, e, s, o, c, b, e, o, b, c, e, s, c, b]
        return np.concatenate(rows), np.concatenate(cols)

    def raw_state(self, e: np.ndarray) -> dict[str, np.ndarray]:
        """Normalised vbe, vbc [V] at ``e`` (no limiting)."""
        vb = e[..., self.base]
        return {
            "vbe": self.polarity * (vb - e[..., self.emitter]),
            "vbc": self.polarity * (vb - e[..., self.collector]),
        }

    def initial_state(self) -> dict[str, np.ndarray]:
        """ngspice's MODEINITJCT voltages: vbe = vcrit, vbc = 0 (both 0 for ``off``)."""
        return {"vbe0": np.where(self.off, 0.0, self.vcrit), "vbc0": np.zeros_like(self.vcrit)}

    def evaluate(
        self, e: np.ndarray, old: Mapping[str, np.ndarray] | None, gmin: float = GMIN
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Companion-model values at ``e``, limited against ``old`` (see DeviceGroup)."""
        raw = self.raw_state(e)
        if old is None:
            vbe, vbc = raw["vbe"], raw["vbc"]
        elif "vbe" not in old:  # cold start: linearise at the given voltages
            vbe = np.broadcast_to(old["vbe0"], raw["vbe"].shape)
            vbc = np.broadcast_to(old["vbc0"], raw["vbc"].shape)
        else:
            vbe = pnjlim(raw["vbe"], old["vbe"], self.vt, self.vcrit)
            vbc = pnjlim(raw["vbc"], old["vbc"], self.vt, self.vcrit)
        gmin_m = gmin * self.params["m"]  # ngspice stamps each of the m copies' gmin
        gp = gummel_poon(vbe, vbc, self.params, gmin_m)
        dbe, dbc = raw["vbe"] - vbe, raw["vbc"] - vbc
        pol = self.polarity
        cc_be, cc_bc, cb_be, cb_bc = gp["cc_be"], gp["cc_bc"], gp["cb_be"], gp["cb_bc"]
        i_c = pol * (gp["cc"] + cc_be * dbe + cc_bc * dbc)
        i_b = pol * (gp["cb"] + cb_be * dbe + cb_bc * dbc)
        # current-dependent RB: i = gx(vbe, vbc)·(v_b − v_b'), with gx's own derivatives
        gx, gx_be, gx_bc = base_resistance(gp, self.params)
        mask = self.nonlinear_rb
        gx, gx_be, gx_bc = gx * mask, gx_be * mask, gx_bc * mask
        drop = e[..., self.base_outer] - e[..., self.base]
        i_rb = gx * drop + drop * (gx_be * dbe + gx_bc * dbc)
        k_be, k_bc = drop * gx_be * pol, drop * gx_bc * pol
        # substrate gmin to collector' (vertical) or base' (lateral)
        vert = self.vertical
        lat = 1.0 - vert
        v_to = vert * e[..., self.collector] + lat * e[..., self.base]
        i_sub = gmin_m * (e[..., self.substrate] - v_to)
        g_v = np.broadcast_to(gmin_m * vert, gx.shape)
        g_l = np.broadcast_to(gmin_m * lat, gx.shape)
        g = np.broadcast_to(gmin_m, gx.shape)
        res = np.concatenate(
            [i_c - vert * i_sub, i_b - i_rb - lat * i_sub, -i_c - i_b, i_rb, i_sub], axis=-1
        )
        jac = np.concatenate(
            [
                -cc_bc + g_v,  # c row: c, b, e, s
                cc_be + cc_bc,
                -cc_be,
                -g_v,
                -cb_bc + k_bc,  # b' row: c, b, e, s, outer b
                cb_be + cb_bc + gx - k_be - k_bc + g_l,
                -cb_be + k_be,
                -g_l,
                -gx,
                cc_bc + cb_bc,  # e row: c, b, e
                -(cc_be + cc_bc + cb_be + cb_bc),
                cc_be + cb_be,
                gx,  # outer b row: outer b, b', c, e
                -gx + k_be + k_bc,
                -k_bc,
                -k_be,
                g,  # substrate row: s, c, b
                -g_v,
                -g_l,
            ],
            axis=-1,
        )
        mag = np.abs(
            np.concatenate(
                [gp["cc"], gp["cb"] + gx * drop, gp["cc"] + gp["cb"], gx * drop, i_sub], axis=-1
            )
        )
        limited = (vbe != raw["vbe"]) | (vbc != raw["vbc"])
        return res, jac, mag, {"vbe": vbe, "vbc": vbc}, limited


class BipolarDevice(Device):
    """The Gummel–Poon bipolar transistor in the registry (:data:`BJT`)."""

    letter = "q"
    element_class = Bipolar
    table = BJT_TABLE
    description = "bipolar transistor(s)"
    reciprocal = False
    main_value = "area"
    alter_parameter = "area"
    flags = frozenset({"off"})
    usage: ClassVar[str] = "qNAME nc nb ne [ns] MODEL [area] [area=A] [m=M] [off]"

    def conduction(self, element: Element, model: ModelCard | None) -> tuple[str, str, float]:
        """Base–emitter junction (emitter–base for PNP) forward-biased above the diode's
        :data:`~circuitlearn.circuit.devices.junction.CONDUCTING_VOLTAGE`."""
        assert isinstance(element, Bipolar) and model is not None
        pair = (
            (element.base, element.emitter)
            if model.polarity > 0
            else (element.emitter, element.base)
        )
        return (*pair, CONDUCTING_VOLTAGE)

    def read_card(self, name: str, card: CardReader) -> Element:
        """``qNAME nc nb ne [ns] MODEL [area] [keywords] [off]``: the nodes end before the
        first token that names a ``.model`` of the deck (three or four nodes)."""
        args = card.positional
        count = next(
            (
                k
                for k in (3, 4)
                if len(args) > k and args[k].is_word and card.model_kind(args[k].text)
            ),
            None,
        )
        if count is None:
            if len(args) > 5 and args[5].is_word and card.model_kind(args[5].text):
                raise card.error(
                    f"{card.who}: five nodes (a thermal node) are not read; expected '{self.usage}'"
                )
            raise card.error(
                f"{card.who}: no known bipolar model after 3 or 4 nodes (add a .model card); "
                f"expected '{self.usage}'"
            )
        nodes = card.nodes(count, self.usage)
        model = card.model(count, self.usage)
        kind = card.model_kind(model)
        if kind not in BJT_TABLE.kinds:
            raise card.error(f"{card.who}: model {model} is a {kind} model; expected npn or pnp")
        rest = list(args[count + 1 :])
        keywords = card.keywords
        area: Value = 1.0
        off = "off" in card.flags
        if rest and card.is_value(rest[0]):
            if "area" in keywords:
                raise card.error(f"{card.who}: area given twice (positional and area=)")
            area = card.value(rest.pop(0))
        if "area" in keywords:
            area = card.value(keywords.pop("area"))
        copies = card.value(keywords.pop("m")) if "m" in keywords else 1.0
        extra = {k: card.value(keywords.pop(k)) for k in list(keywords) if k in BJT_INSTANCE_PARAMS}
        card.no_extra(rest, self.usage)
        substrate = nodes[3] if count == 4 else "0"
        return Bipolar(name, *nodes[:3], model, substrate, area, copies, off, extra)

    def dc_paths(self, element: Element) -> list[tuple[str, str]]:
        """Both junctions, and the substrate's gmin to the collector."""
        assert isinstance(element, Bipolar)
        return [
            (element.collector, element.base),
            (element.base, element.emitter),
            (element.substrate, element.collector),
        ]

    def native_issue(
        self, element: Element, model: ModelCard | None, temperature: float
    ) -> str | None:
        """The model's own issue, or TLEV 2/3 temperature laws away from TNOM."""
        assert isinstance(element, Bipolar) and model is not None
        issue = model.native_issue()
        if issue is not None:
            return issue
        tnom = float(model.value("tnom"))
        params = element.params
        celsius = float(params.get("temp", temperature + float(params.get("dtemp", 0.0))))
        tlev = float(model.params.get("tlev", 0.0))
        if celsius != tnom and tlev not in (0.0, 1.0):
            return f"TLEV={tlev:g} away from TNOM is not modelled natively (TLEV 0 and 1 are)"
        given = sorted(_TLEV3 & set(model.params))
        if celsius != tnom and given:
            return f"parameter {given[0]} (TLEV 3) away from TNOM is not modelled natively"
        return None

    def internal_nodes(self, element: Element, model: ModelCard | None) -> dict[str, str]:
        """``q1#collector``, ``q1#base``, ``q1#emitter`` behind RC, RB, RE when given."""
        assert isinstance(element, Bipolar) and model is not None
        out = {}
        for key, suffix, node in (
            ("rc", "collector", element.collector),
            ("rb", "base", element.base),
            ("re", "emitter", element.emitter),
        ):
            if float(model.value(key)) > 0:
                out[f"{element.name}#{suffix}"] = node
        return out

    def explicit_series(
        self, element: Element, model: ModelCard | None, temperature: float
    ) -> tuple[dict[str, float | SeriesLaw], tuple[str, ...]] | None:
        """RC, RE and RB at the device temperature, divided by area·m (as :meth:`compile` stamps
        them). A current-dependent RB (IRB, or RBM unlike RB) is a function of the internal
        junction voltages only (:func:`base_resistance_expression`): it becomes RB in parallel
        with a behavioural source carrying v·(1/rbb − 1/RB), so that the copy of the transistor
        without RB, RBM and IRB and these elements give the same equations."""
        assert isinstance(element, Bipolar) and model is not None
        p = _device_params(element, model, temperature)
        if not any(p[k] > 0 for k in ("rb", "rc", "re")):
            return None
        scale = float(element.area) * float(element.m)
        fields = {"rc": "collector", "rb": "base", "re": "emitter"}
        out: dict[str, float | SeriesLaw] = {
            fields[k]: p[k] / scale for k in ("rc", "rb", "re") if p[k] > 0
        }
        if _nonlinear_rb(p):
            compiled = _compiled(element, model, p)
            polarity = "" if model.polarity > 0 else "-"
            rb = p["rb"] / scale

            def excess(nodes: Mapping[str, str]) -> str:
                b, c, e = nodes["base"], nodes["collector"], nodes["emitter"]
                vbe, vbc = f"{polarity}v({b},{e})", f"{polarity}v({b},{c})"
                rbb = base_resistance_expression(compiled, vbe, vbc, GMIN * compiled["m"])
                return f"v({element.base},{b})*(1/({rbb})-1/{rb!r})"

            out["base"] = SeriesLaw(rb, excess)
        return out, ("rb", "rbm", "irb", "rc", "re")

    def compile(
        self, elements: Sequence[Element], context: DeviceContext
    ) -> tuple[BjtGroup, list[Series]]:
        """Transistor arrays at each device's temperature (:func:`bjt_temperature`); RC, RE and
        a constant RB as series conductances."""
        series: list[Series] = []
        rows: list[tuple] = []
        keys = ("isat", "isat_bc", "ise", "isc", "vtf", "vtr", "vte", "vtc", "bf", "br")
        keys += ("inv_vaf", "inv_var", "inv_ikf", "inv_ikr", "rbpr", "rbpi", "xjrb", "m")
        values: dict[str, list[float]] = {k: [] for k in keys}
        for q in elements:
            assert isinstance(q, Bipolar)
            model = context.model(q.model)
            p = _device_params(q, model, context.temperature)
            vt = p["vt"]
            area = float(q.area)
            scale = area * float(q.m)  # m parallel copies act as a larger area
            nodes = {}
            for key, suffix, node in (
                ("rc", "collector", q.collector),
                ("rb", "base", q.base),
                ("re", "emitter", q.emitter),
            ):
                nodes[suffix] = context.index(node)
                if p[key] > 0:
                    nodes[suffix] = context.index(f"{q.name}#{suffix}")
            for key in ("rb", "rc", "re"):
                if p[key] > 0 and not math.isfinite(scale / p[key]):
                    raise CircuitError(
                        f"bipolar transistor {q.name} (model {model.name}): {key.upper()} = "
                        f"{p[key]:g} Ω gives an infinite conductance; use 0 for none",
                        element=q.name,
                    )
            nonlinear = _nonlinear_rb(p)
            for key, suffix, node in (
                ("rc", "collector", q.collector),
                ("re", "emitter", q.emitter),
            ):
                if p[key] > 0:
                    series.append(Series(context.index(node), nodes[suffix], scale / p[key]))
            if p["rb"] > 0 and not nonlinear:
                series.append(Series(context.index(q.base), nodes["base"], scale / p["rb"]))
            rows.append(
                (
                    nodes["collector"],
                    nodes["base"],
                    nodes["emitter"],
                    context.index(q.base),
                    context.index(q.substrate),
                    float(model.polarity),
                    vt * math.log(vt / (SQRT2 * p["is"] * area)),
                    vt,
                    q.off,
                    1.0 if nonlinear else 0.0,
                    1.0 if _vertical(model, p) else 0.0,
                )
            )
            for key, value in _compiled(q, model, p).items():
                values[key].append(value)
        cols = list(zip(*rows, strict=True))
        kinds = (int,) * 5 + (float, float, float, bool, float, float)
        arrays = [np.array(col, dtype=kind) for col, kind in zip(cols, kinds, strict=True)]
        params = {k: np.array(v, dtype=float) for k, v in values.items()}
        return BjtGroup([q.name for q in elements], *arrays, params), series


def _compiled(q: Bipolar, model: ModelCard, p: Mapping[str, float]) -> dict[str, float]:
    """Transistor ``q``'s entries of :class:`BjtGroup`'s parameter arrays, from its
    :func:`_device_params` ``p``: currents times area·m, resistances divided by it, emission
    voltages N·Vt, and the base resistance law (``rbpr``, ``rbpi``, ``xjrb``; a dummy 1 Ω where
    RB is constant or absent, masked out by ``nonlinear_rb``). The base–collector junction
    follows ``bjttemp.c``: its transport current IS·AREA times AREAB (vertical) or AREAC
    (lateral), both defaulting to AREA, so a plain area counts twice there; its leakage ISC
    times AREAB or AREAC only."""
    area, copies = float(q.area), float(q.m)
    scale = area * copies  # m parallel copies act as a larger area
    collector_area = float(q.params.get("areab" if _vertical(model, p) else "areac", area))
    vt = p["vt"]
    nonlinear = _nonlinear_rb(p)
    irb = 0.0 if math.isinf(p["irb"]) else p["irb"]
    return {
        "isat": p["is"] * scale,
        "isat_bc": p["is"] * scale * collector_area,
        "ise": p["ise"] * scale,
        "isc": p["isc"] * collector_area * copies,
        "vtf": p["nf"] * vt,
        "vtr": p["nr"] * vt,
        "vte": p["ne"] * vt,
        "vtc": p["nc"] * vt,
        "bf": p["bf"],
        "br": p["br"],
        "inv_vaf": _inverse(p["vaf"]),
        "inv_var": _inverse(p["var"]),
        "inv_ikf": _inverse(p["ikf"] * scale),
        "inv_ikr": _inverse(p["ikr"] * scale),
        "rbpr": p["rbm"] / scale if nonlinear else 1.0,
        "rbpi": (p["rb"] - p["rbm"]) / scale if nonlinear else 0.0,
        "xjrb": irb * scale if nonlinear else 0.0,
        "m": float(q.m),
    }


def _inverse(value: float) -> float:
    """1/value, with 0 and ∞ meaning "no such effect" (0), as ngspice reads VAF, IKF ..."""
    return 0.0 if value == 0.0 or math.isinf(value) else 1.0 / value


BJT = BipolarDevice()
"""The registered bipolar transistor device."""


def _device_params(q: Bipolar, model: ModelCard, temperature: float) -> dict[str, float]:
    """The model's DC parameters for transistor ``q`` at its temperature (``.temp``
    ``temperature`` [°C], instance ``temp=``/``dtemp=``): SPICE2's legacy leakage rule, RBM
    defaulting to RB, then :func:`bjt_temperature`."""
    p = {k: float(v) for k, v in model.dc_params().items()}
    for key in ("ise", "isc"):  # bjtsetup.c: SPICE2's leakage as a multiple of IS
        p[key] = p[key] * p["is"] if p[key] > _LEGACY_LEAK else p[key]
    if math.isinf(p["rbm"]):
        p["rbm"] = p["rb"]
    celsius = q.params.get("temp", temperature + q.params.get("dtemp", 0.0))
    return bjt_temperature(p, model.params, float(celsius) + KELVIN)


def _vertical(model: ModelCard, p: Mapping[str, float]) -> bool:
    """Whether the transistor is vertical (SUBS = 1) rather than lateral (SUBS = −1); any other
    SUBS is the type's default, as in ``bjtsetup.c``: NPN vertical, PNP lateral."""
    return p["subs"] == 1.0 or (p["subs"] != -1.0 and model.kind == "npn")


def _nonlinear_rb(p: Mapping[str, float]) -> bool:
    """Whether :func:`_device_params` give a current-dependent base resistance (IRB, or RBM
    unlike RB; IRB 0 means infinite), as :meth:`BipolarDevice.compile` decides."""
    irb = 0.0 if math.isinf(p["irb"]) else p["irb"]
    return p["rb"] > 0 and (p["rbm"] != p["rb"] or irb > 0)
