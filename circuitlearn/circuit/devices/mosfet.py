"""MOSFET level 1 (Shichman–Hodges): card, model table, vectorised DC group.

Re-derived from ngspice 39's ``mos1load.c`` and ``mos1temp.c``: both conduction directions,
body effect, channel-length modulation, bulk junctions with gmin, RD/RS, ``DEVfetlim``,
``DEVlimvds`` and ``DEVpnjlim`` limiting, KP, PHI, VBI, IS and Vt at the device temperature.
Voltages are *normalised* (multiplied by the polarity +1 NMOS / −1 PMOS) so one set of equations
serves both types, as in ngspice.

Card: ``mNAME d g s b MODEL [w=..] [l=..] [m=.. ...]``; ``.model NAME nmos|pmos (level=1 ...)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from circuitlearn.circuit.devices.base import (
    CardReader,
    Device,
    DeviceContext,
    ModelCard,
    ModelTable,
    Series,
)
from circuitlearn.circuit.devices.junction import (
    BOLTZMANN,
    CHARGE,
    GMIN,
    KELVIN,
    MAX_EXP_ARG,
    REFTEMP,
    SQRT2,
    VT,
    fetlim,
    limvds,
    pnjlim,
)
from circuitlearn.circuit.elements import Element, Mosfet
from circuitlearn.errors import CircuitError

__all__ = [
    "MOS1_DC_DEFAULTS",
    "MOS1_TABLE",
    "MOSFET",
    "MosGroup",
    "MosfetDevice",
    "junction_current",
    "mos1_channel",
    "mos1_temperature",
]

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
    "l": 100e-6,
    "w": 100e-6,
}
"""ngspice MOS level-1 DC parameters and defaults: threshold VTO [V], transconductance KP [A/V²],
body effect GAMMA [√V], surface potential PHI [V], channel-length modulation LAMBDA [1/V], bulk
junction saturation current IS [A], lateral diffusion LD [m] (may be negative), drain/source
resistances RD, RS [Ω], and the default instance length L and width W [m] (ngspice's DEFL =
DEFW = 100 µm when the model card does not set them)."""

MOS1_TABLE = ModelTable(
    kinds=("nmos", "pmos"),
    family="MOSFET",
    defaults=MOS1_DC_DEFAULTS,
    ignored=frozenset(
        {"cbd", "cbs", "cgso", "cgdo", "cgbo", "cj", "mj", "cjsw", "mjsw", "pb", "fc", "kf"}
        | {"af", "tnom", "tt"}
    ),
    unmodelled=frozenset({"tox", "u0", "uo", "nsub", "nss", "tpg", "js", "rsh"}),
    aliases={"vt0": "vto"},
    positive=frozenset({"kp", "phi", "is", "l", "w"}),
    nonnegative=frozenset({"rd", "rs", "gamma", "lambda"}),
)
"""The level-1 MOSFET's ``.model`` table. The unmodelled parameters change a DC answer (ngspice
derives KP, PHI, GAMMA or VTO from them, or adds sheet and junction terms)."""


def junction_current(
    v: np.ndarray, isat: np.ndarray, gmin: float = GMIN, vt: np.ndarray | float = VT
) -> tuple[np.ndarray, np.ndarray]:
    """MOS bulk junction current [A] and conductance [S] (``mos1load.c``; emission coefficient 1).

    For v ≤ −3·Vt the junction is the constant −IS plus gmin; otherwise IS·(exp(v/Vt) − 1) + gmin·v.
    """
    on = v > -3.0 * vt
    ev = np.exp(np.minimum(np.where(on, v, 0.0) / vt, MAX_EXP_ARG))
    current = np.where(on, isat * (ev - 1.0), -isat) + gmin * v
    conductance = np.where(on, isat * ev / vt, 0.0) + gmin
    return current, conductance


def mos1_channel(
    vgs: np.ndarray,
    vds: np.ndarray,
    vbs: np.ndarray,
    beta: np.ndarray,
    vbi: np.ndarray,
    gamma: np.ndarray,
    phi: np.ndarray,
    lam: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Shichman–Hodges drain current in normalised voltages, both conduction directions.

    Parameters
    ----------
    vgs, vds, vbs : ndarray [V]
        Normalised terminal voltages (polarity × actual).
    beta : ndarray [A/V²]
        KP·W/(L − 2·LD).
    vbi : ndarray [V]
        Normalised built-in threshold part: polarity·tVbi = polarity·VTO − γ·√φ.
    gamma, phi, lam : ndarray
        GAMMA [√V], PHI [V], LAMBDA [1/V].

    Returns
    -------
    ids : ndarray [A]
        Normalised channel current from drain to source (negative in reverse mode).
    d_vgs, d_vds, d_vbs : ndarray [S]
        Its partial derivatives with respect to vgs, vds and vbs.
    von : ndarray [V]
        Normalised threshold of the conducting orientation (for :func:`fetlim`).

    Notes
    -----
    When vds < 0 the device is evaluated with drain and source exchanged (ngspice's inverse
    mode): vgs → vgd, vbs → vbd, vds → −vds, and the current changes sign.
    """
    mode = np.where(vds >= 0.0, 1.0, -1.0)
    normal = mode > 0
    vgx = np.where(normal, vgs, vgs - vds)
    vbx = np.where(normal, vbs, vbs - vds)
    vdx = vds * mode
    root_phi = np.sqrt(phi)
    sarg = np.where(
        vbx <= 0.0,
        np.sqrt(np.maximum(phi - vbx, 0.0)),
        np.maximum(root_phi - vbx / (2.0 * root_phi), 0.0),
    )
    von = vbi + gamma * sarg
    vgst = vgx - von
    arg = np.where(sarg > 0.0, gamma / np.where(sarg > 0.0, 2.0 * sarg, 1.0), 0.0)
    on = vgst > 0.0
    saturated = on & (vgst <= vdx)
    linear = on & ~saturated
    betap = beta * (1.0 + lam * vdx)
    cd = np.where(
        saturated, 0.5 * betap * vgst**2, np.where(linear, betap * vdx * (vgst - 0.5 * vdx), 0.0)
    )
    gm = np.where(saturated, betap * vgst, np.where(linear, betap * vdx, 0.0))
    gds = np.where(
        saturated,
        0.5 * lam * beta * vgst**2,
        np.where(linear, betap * (vgst - vdx) + lam * beta * vdx * (vgst - 0.5 * vdx), 0.0),
    )
    gmbs = gm * arg
    # normal: I = cd(vgs, vds, vbs); inverse: I = −cd(vgs − vds, −vds, vbs − vds)
    ids = mode * cd
    d_vgs = mode * gm
    d_vbs = mode * gmbs
    d_vds = np.where(normal, gds, gm + gds + gmbs)
    return ids, d_vgs, d_vds, d_vbs, von


@dataclass
class MosGroup:
    """All level-1 MOSFETs of a circuit as arrays.

    Drain and source are the internal nodes when RD/RS are given.
    """

    names: list[str]
    drain: np.ndarray
    gate: np.ndarray
    source: np.ndarray
    bulk: np.ndarray
    polarity: np.ndarray
    beta: np.ndarray
    vbi: np.ndarray
    vto: np.ndarray
    gamma: np.ndarray
    phi: np.ndarray
    lam: np.ndarray
    isat: np.ndarray
    vcrit: np.ndarray
    vt: np.ndarray

    terminals = ("drain", "source", "bulk")
    """Element terminals of the residual blocks (the gate draws no DC current)."""

    @property
    def residual_rows(self) -> np.ndarray:
        """Extended rows of the residual values: drain, source, bulk."""
        return np.concatenate([self.drain, self.source, self.bulk])

    @property
    def jacobian_entries(self) -> tuple[np.ndarray, np.ndarray]:
        """Extended (rows, cols) of the Jacobian values returned by :meth:`evaluate`."""
        d, g, s, b = self.drain, self.gate, self.source, self.bulk
        rows = [d, d, d, d, s, s, s, s, b, b, s, s, b, b, d, d]
        cols = [g, d, s, b, g, d, s, b, b, s, b, s, b, d, b, d]
        return np.concatenate(rows), np.concatenate(cols)

    def raw_state(self, e: np.ndarray) -> dict[str, np.ndarray]:
        """Normalised vgs, vds, vbs, vbd [V] at ``e`` and the threshold von there."""
        p = self.polarity
        vs = e[..., self.source]
        vgs = p * (e[..., self.gate] - vs)
        vds = p * (e[..., self.drain] - vs)
        vbs = p * (e[..., self.bulk] - vs)
        von = mos1_channel(vgs, vds, vbs, self.beta, self.vbi, self.gamma, self.phi, self.lam)[4]
        return {"vgs": vgs, "vds": vds, "vbs": vbs, "vbd": vbs - vds, "von": von}

    def initial_state(self) -> dict[str, np.ndarray]:
        """ngspice's starting voltages (MODEINITJCT): vbs = −1, vgs = polarity·VTO, vds = 0.

        Keys end in ``0``: :meth:`evaluate` linearises at them
        (see :meth:`DiodeGroup.initial_state`).
        """
        zero = np.zeros_like(self.beta)
        return {"vgs0": self.polarity * self.vto, "vds0": zero, "vbs0": zero - 1.0}

    def evaluate(
        self, e: np.ndarray, old: dict[str, np.ndarray] | None, gmin: float = GMIN
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Companion-model values at ``e``, limited against ``old``.

        See :meth:`DiodeGroup.evaluate`.
        """
        raw = self.raw_state(e)
        if old is None:
            vgs, vds, vbs = raw["vgs"], raw["vds"], raw["vbs"]
        elif "vgs" not in old:  # cold start: linearise at the given voltages
            vgs, vds, vbs = (
                np.broadcast_to(old[k], raw["vgs"].shape) for k in ("vgs0", "vds0", "vbs0")
            )
        else:
            vgs, vds, vbs = self._limit(raw, old)
        vbd = vbs - vds
        ids, d_gs, d_ds, d_bs, von = mos1_channel(
            vgs, vds, vbs, self.beta, self.vbi, self.gamma, self.phi, self.lam
        )
        cbs, gbs = junction_current(vbs, self.isat, gmin, self.vt)
        cbd, gbd = junction_current(vbd, self.isat, gmin, self.vt)
        dgs, dds, dbs = raw["vgs"] - vgs, raw["vds"] - vds, raw["vbs"] - vbs
        p = self.polarity
        i_ch = p * (ids + d_gs * dgs + d_ds * dds + d_bs * dbs)
        i_bs = p * (cbs + gbs * dbs)
        i_bd = p * (cbd + gbd * (dbs - dds))
        res = np.concatenate([i_ch - i_bd, -i_ch - i_bs, i_bs + i_bd], axis=-1)
        d_s = -(d_gs + d_ds + d_bs)
        jac = np.concatenate(
            [
                d_gs,
                d_ds,
                d_s,
                d_bs,
                -d_gs,
                -d_ds,
                -d_s,
                -d_bs,
                gbs,
                -gbs,
                -gbs,
                gbs,
                gbd,
                -gbd,
                -gbd,
                gbd,
            ],
            axis=-1,
        )
        mag = np.concatenate(
            [np.abs(ids) + np.abs(cbd), np.abs(ids) + np.abs(cbs), np.abs(cbs) + np.abs(cbd)],
            axis=-1,
        )
        state = {"vgs": vgs, "vds": vds, "vbs": vbs, "vbd": vbd, "von": von}
        limited = (vgs != raw["vgs"]) | (vds != raw["vds"]) | (vbs != raw["vbs"])
        return res, jac, mag, state, limited

    def _limit(
        self, raw: dict[str, np.ndarray], old: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        vgs_r, vds_r, vbs_r = raw["vgs"], raw["vds"], raw["vbs"]
        vgd_r = vgs_r - vds_r
        von = old["von"]
        normal = old["vds"] >= 0.0
        # untouched values are passed through exactly (no round-off from vgs − vgd)
        vgs_n = fetlim(vgs_r, old["vgs"], von)
        vds_n = limvds(np.where(vgs_n == vgs_r, vds_r, vgs_n - vgd_r), old["vds"])
        vgd_i = fetlim(vgd_r, old["vgs"] - old["vds"], von)
        vds_i = -limvds(-np.where(vgd_i == vgd_r, vds_r, vgs_r - vgd_i), -old["vds"])
        vgs_i = np.where((vgd_i == vgd_r) & (vds_i == vds_r), vgs_r, vgd_i + vds_i)
        vgs = np.where(normal, vgs_n, vgs_i)
        vds = np.where(normal, vds_n, vds_i)
        vbd_r = vbs_r - vds_r
        vbs_f = pnjlim(vbs_r, old["vbs"], self.vt, self.vcrit)
        vbd_f = pnjlim(vbd_r, old["vbd"], self.vt, self.vcrit)
        vbs_i = np.where((vbd_f == vbd_r) & (vds == vds_r), vbs_r, vbd_f + vds)
        vbs = np.where(vds >= 0.0, vbs_f, vbs_i)
        return vgs, vds, vbs


def mos1_temperature(
    p: Mapping[str, float], polarity: float, kelvin: float, nominal: float
) -> tuple[float, float, float, float, float, float]:
    """Level-1 parameters at ``kelvin`` from a model measured at ``nominal`` [K] (``mos1temp.c``).

    Returns KP [A/V²], the normalised built-in threshold part polarity·tVbi [V], tVTO [V],
    tPHI [V], tIS [A] and Vt [V]: KP/(T/TNOM)^1.5, PHI and VBI shifted by the silicon band gap
    Eg(T) = 1.16 − 7.02e-4·T²/(T + 1108), IS·exp(Eg(TNOM)/Vt(TNOM) − Eg(T)/Vt(T)). At
    T = TNOM the parameters are returned unchanged.
    """
    kp, vto, gamma, phi, isat = p["kp"], p["vto"], p["gamma"], p["phi"], p["is"]
    vt = BOLTZMANN / CHARGE * kelvin
    if kelvin == nominal:
        return kp, polarity * vto - gamma * math.sqrt(phi), vto, phi, isat, vt

    def band_gap(t: float) -> tuple[float, float]:
        """Eg(t) [eV] and ngspice's junction-potential shift pbfact(t) [V]."""
        eg = 1.16 - 7.02e-4 * t * t / (t + 1108.0)
        arg = -eg / (2.0 * BOLTZMANN * t) + 1.1150877 / (BOLTZMANN * 2.0 * REFTEMP)
        return eg, -2.0 * (BOLTZMANN / CHARGE * t) * (1.5 * math.log(t / REFTEMP) + CHARGE * arg)

    eg_nominal, shift_nominal = band_gap(nominal)
    eg, shift = band_gap(kelvin)
    ratio = kelvin / nominal
    phi_t = kelvin / REFTEMP * (phi - shift_nominal) / (nominal / REFTEMP) + shift
    vbi = (
        vto
        - polarity * gamma * math.sqrt(phi)
        + 0.5 * (eg_nominal - eg)
        + polarity * 0.5 * (phi_t - phi)
    )
    vt_nominal = BOLTZMANN / CHARGE * nominal
    return (
        kp / (ratio * math.sqrt(ratio)),
        polarity * vbi,
        vbi + polarity * gamma * math.sqrt(phi_t),
        phi_t,
        isat * math.exp(-eg / vt + eg_nominal / vt_nominal),
        vt,
    )


class MosfetDevice(Device):
    """The level-1 MOSFET in the registry (:data:`MOSFET`)."""

    letter = "m"
    element_class = Mosfet
    table = MOS1_TABLE
    description = "transistor(s)"
    reciprocal = False
    usage: ClassVar[str] = "mNAME drain gate source bulk MODEL [w=VALUE] [l=VALUE]"

    def conduction(self, element: Element, model: ModelCard | None) -> tuple[str, str, float]:
        """A channel: gate–source voltage (source–gate for PMOS) above the model's |VTO|."""
        assert isinstance(element, Mosfet) and model is not None
        pair = (
            (element.gate, element.source) if model.polarity > 0 else (element.source, element.gate)
        )
        return (*pair, abs(float(model.value("vto"))))

    def read_card(self, name: str, card: CardReader) -> Element:
        """``mNAME d g s b MODEL [w=..] [l=..] [instance parameters]``."""
        args = card.positional
        if len(args) == 4:  # as ngspice says: the model is there, a node is missing
            raise card.error(
                f"{card.who}: too few nodes: expected '{self.usage}' (4 nodes, bulk included, "
                f"then the model); got {' '.join(t.text for t in args)!r}"
            )
        nodes = card.nodes(4, self.usage)
        model = card.model(4, self.usage)
        keywords = card.keywords
        sizes = {k: card.value(keywords.pop(k)) for k in ("w", "l") if k in keywords}
        extra = {k: card.value(keywords.pop(k)) for k in list(keywords)}
        card.no_extra(args[5:], self.usage)
        return Mosfet(name, *nodes, model, sizes.get("w"), sizes.get("l"), extra)

    def dc_paths(self, element: Element) -> list[tuple[str, str]]:
        """Channel and both bulk junctions (the gate is insulated)."""
        assert isinstance(element, Mosfet)
        return [
            (element.drain, element.source),
            (element.drain, element.bulk),
            (element.source, element.bulk),
        ]

    def internal_nodes(self, element: Element, model: ModelCard | None) -> dict[str, str]:
        """``m1#drain`` and ``m1#source`` when the model has RD or RS."""
        assert isinstance(element, Mosfet) and model is not None
        out = {}
        if model.value("rd") > 0:
            out[f"{element.name}#drain"] = element.drain
        if model.value("rs") > 0:
            out[f"{element.name}#source"] = element.source
        return out

    def explicit_series(
        self, element: Element, model: ModelCard | None, temperature: float
    ) -> tuple[dict[str, float], tuple[str, ...]] | None:
        """RD/M and RS/M (as :meth:`compile` stamps them)."""
        assert isinstance(element, Mosfet) and model is not None
        p = {k: float(v) for k, v in model.dc_params().items()}
        copies = float(element.params.get("m", 1.0))
        out = {f: p[k] / copies for k, f in (("rd", "drain"), ("rs", "source")) if p[k] > 0}
        return (out, ("rd", "rs")) if out else None

    def compile(
        self, elements: Sequence[Element], context: DeviceContext
    ) -> tuple[MosGroup, list[Series]]:
        """MOSFET arrays at each device's temperature; RD/M and RS/M as series conductances.

        Raises
        ------
        CircuitError
            An effective length L − 2·LD that is not positive (naming the MOSFET and model).
        """
        series: list[Series] = []
        rows = []
        for m in elements:
            assert isinstance(m, Mosfet)
            model = context.model(m.model)
            p = {k: float(v) for k, v in model.dc_params().items()}
            w = p["w"] if m.w is None else float(m.w)
            length = p["l"] if m.l is None else float(m.l)
            leff = length - 2.0 * p["ld"]
            if leff <= 0:
                raise CircuitError(
                    f"MOSFET {m.name}: effective length L − 2·LD = {leff:g} m is not positive "
                    f"(L={length:g}, LD={p['ld']:g} in model {model.name}); "
                    "increase L or reduce LD",
                    element=m.name,
                )
            copies = float(m.params.get("m", 1.0))  # parallel devices: currents scale by M
            drain, source = context.index(m.drain), context.index(m.source)
            if p["rd"] > 0:
                drain = context.index(f"{m.name}#drain")
                series.append(Series(context.index(m.drain), drain, copies / p["rd"]))
            if p["rs"] > 0:
                source = context.index(f"{m.name}#source")
                series.append(Series(context.index(m.source), source, copies / p["rs"]))
            pol = float(model.polarity)
            nominal = float(model.params.get("tnom", 27.0)) + KELVIN
            # an instance temp= replaces the circuit's; else dtemp= offsets it (ngspice 39)
            celsius = m.params.get("temp", context.temperature + m.params.get("dtemp", 0.0))
            device = float(celsius) + KELVIN
            kp, vbi, vto, phi, isat, vt_m = mos1_temperature(p, pol, device, nominal)
            rows.append(
                (
                    drain,
                    context.index(m.gate),
                    source,
                    context.index(m.bulk),
                    pol,
                    copies * kp * w / leff,
                    vbi,
                    vto,
                    p["gamma"],
                    phi,
                    p["lambda"],
                    copies * isat,
                    vt_m * math.log(vt_m / (SQRT2 * copies * isat)),
                    vt_m,
                )
            )
        cols = list(zip(*rows, strict=True))
        group = MosGroup(
            [m.name for m in elements],
            *(np.array(col, dtype=int if k < 4 else float) for k, col in enumerate(cols)),
        )
        return group, series


MOSFET = MosfetDevice()
"""The registered level-1 MOSFET device."""
