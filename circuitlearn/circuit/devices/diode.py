"""Junction diode (ngspice level 1): card, model table, vectorised DC group, twin form.

Re-derived from ngspice 39's ``dioload.c`` and ``diotemp.c`` (TLEV 0): Shockley current with
series resistance RS, IKF high-injection roll-off, breakdown at BV/IBV, ngspice's smooth
reverse formula, gmin across the junction, ``DEVpnjlim`` limiting, and the temperature through
Vt(T) and IS(T).

Card: ``dNAME anode cathode MODEL [area=A] [m=M]``; ``.model NAME d (is= n= rs= bv= ibv= ikf=)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    CONDUCTING_VOLTAGE,
    GMIN,
    KELVIN,
    MAX_EXP_ARG,
    SQRT2,
    VT,
    pnjlim,
    reverse_current,
)
from circuitlearn.circuit.elements import Diode, Element, Resistor

__all__ = [
    "DIODE",
    "DIODE_DC_DEFAULTS",
    "DIODE_EG",
    "DIODE_TABLE",
    "DIODE_XTI",
    "IS_FLOOR",
    "DiodeDevice",
    "DiodeGroup",
    "breakdown_voltage",
    "diode_current",
    "diode_saturation_current",
]

DIODE_DC_DEFAULTS: dict[str, float] = {
    "is": 1e-14,
    "n": 1.0,
    "rs": 0.0,
    "bv": math.inf,
    "ibv": 1e-3,
    "ikf": math.inf,
}
"""ngspice diode (level 1) DC parameters and defaults: saturation current IS [A], emission
coefficient N, series resistance RS [Ω], breakdown voltage BV [V] (∞ = none), current at BV
IBV [A], forward knee current IKF [A] (∞ = no high-injection roll-off)."""

_IGNORED = {
    "cjo", "cj", "vj", "m", "tt", "fc", "eg", "xti", "kf", "af", "tnom", "cjsw", "cjp",
    "vjsw", "php", "mjsw", "fcs", "tbv1", "tbv2", "trs", "trs1", "trs2", "tm1", "tm2",
    "ttt1", "ttt2", "tlev", "tlevc", "cta", "ctp", "tcv", "tpb", "tphp", "bv_max", "bvmax",
    "rth0", "cth0", "xom", "xoi", "gap1", "gap2",
}  # fmt: skip
_UNMODELLED = {
    "ikr", "isr", "nr", "jsw", "isw", "ns", "nbv", "ibvl", "nbvl", "lm", "lp", "wm", "wp",
    "xm", "xp", "d", "area", "pj",
}  # fmt: skip
_ALIASES = {
    "cj0": "cjo", "cj": "cjo", "js": "is", "vb": "bv", "ib": "ibv", "ik": "ikf", "pb": "vj",
    "mj": "m", "ikp": "ikr",
}  # fmt: skip

DIODE_TABLE = ModelTable(
    kinds=("d",),
    family="diode",
    defaults=DIODE_DC_DEFAULTS,
    ignored=frozenset(_IGNORED),
    unmodelled=frozenset(_UNMODELLED),
    aliases=_ALIASES,
    positive=frozenset({"is", "n", "ibv", "ikf", "bv"}),
    nonnegative=frozenset({"rs"}),
    check_every_level=True,
)
"""The diode's ``.model`` table (``level`` is known; EG, XTI and TNOM act through the
temperature only)."""

IS_FLOOR = 1e-28
"""Smallest saturation current [A] ngspice uses (a smaller IS is raised to it before AREA
scales it; measured with ``ngspice -b``: IS = 1e-30 and 1e-28 give the same answer)."""


def breakdown_voltage(
    bv: float, ibv: float, isat: float, n: float, tol: float = 1e-9, vt: float = VT
) -> float:
    """Effective breakdown voltage [V] matching IBV at BV, as ngspice's ``diotemp.c`` computes it.

    Solves IS·(exp((BV − x)/(N·Vt)) − 1 + x/Vt) = IBV for x by fixed-point iteration (at most 25
    steps, stopping at ``tol``·IBV); when IBV is below IS·BV/Vt the junction uses BV itself.

    Parameters
    ----------
    bv, ibv : float
        Breakdown voltage [V] and current at breakdown [A].
    isat : float
        Saturation current IS·AREA [A].
    n : float
        Emission coefficient used for breakdown (ngspice's NBV, defaulting to N).
    tol : float
        Relative tolerance on the matched current. ngspice uses its RELTOL here, so at its default
        1e-3 it stops early (≈ 0.2 mV off on a 5.1 V zener); the native default matches tightly,
        as ngspice does with ``.options reltol=1e-9``.
    vt : float
        Thermal voltage [V] at the circuit temperature.
    """
    if ibv < isat * bv / vt:
        return bv
    x = bv - n * vt * math.log(1.0 + ibv / isat)
    for _ in range(25):
        x = bv - n * vt * math.log(ibv / isat + 1.0 - x / vt)
        matched = isat * (math.exp((bv - x) / (n * vt)) - 1.0 + x / vt)
        if abs(matched - ibv) <= tol * ibv:
            break
    return x


def diode_current(
    vd: np.ndarray,
    isat: np.ndarray,
    vte: np.ndarray,
    bv: np.ndarray,
    vtebrk: np.ndarray,
    gmin: float = GMIN,
    ikf: np.ndarray | float = math.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """Junction diode current [A] and conductance [S] at junction voltages ``vd`` [V].

    Forward (vd ≥ −3·vte): IS·(exp(vd/vte) − 1), divided by 1 + √(I/IKF) where it is positive
    and IKF (the area-scaled knee current [A]) is finite, ngspice's high-injection roll-off;
    reverse: −IS·(1 + (3·vte/(e·vd))³), ngspice's smooth reverse formula; below −BV:
    −IS·exp(−(BV + vd)/vtebrk). GMIN·vd is added in every region, as ngspice puts gmin across
    the junction. ``bv`` = ∞ disables breakdown.
    """
    # parameters keep their own shape (one value a device): numpy broadcasts them against vd,
    # so that sums like −3·vte cost one value a device, not one a device and sample
    isat, vte, bv, vtebrk, ikf = (np.asarray(a, dtype=float) for a in (isat, vte, bv, vtebrk, ikf))
    ev = np.exp(np.minimum(vd / vte, MAX_EXP_ARG))
    current = isat * (ev - 1.0)
    conductance = isat * ev / vte
    if np.isfinite(ikf).any():
        full_ikf = np.broadcast_to(ikf, vd.shape)
        knee = np.isfinite(full_ikf) & (current > 0.0)
        if knee.any():  # I/(1 + s), s = √(I/IKF): dI' = dI·(1 + s/2)/(1 + s)²
            root = np.sqrt(current[knee] / full_ikf[knee])
            conductance[knee] *= (1.0 + 0.5 * root) / (1.0 + root) ** 2
            current[knee] /= 1.0 + root
    forward = vd >= -3.0 * vte
    if not forward.all():
        back = ~forward
        down = back & (vd < -bv) if np.isfinite(bv).any() else None  # None: no breakdown
        rev = back if down is None else back & ~down
        if rev.any():  # on every value, then picked: rectifying units are off in bulk, where
            # masked gathers and scatters took 40 % of this function (DRN-1H, 51,200 diodes)
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                reverse, reverse_g = reverse_current(vd, isat, vte)
            current = np.where(rev, reverse, current)
            conductance = np.where(rev, reverse_g, conductance)
        if down is not None and down.any():
            isat_d, bv_d, vtebrk_d = (
                np.broadcast_to(a, vd.shape)[down] for a in (isat, bv, vtebrk)
            )
            eb = np.exp(np.minimum(-(bv_d + vd[down]) / vtebrk_d, MAX_EXP_ARG))
            current[down] = -isat_d * eb
            conductance[down] = isat_d * eb / vtebrk_d
    return current + gmin * vd, conductance + gmin


@dataclass
class DiodeGroup:
    """All junction diodes of a circuit as arrays, with their fixed stamp positions.

    Terminal indices point into the *extended* vector of the MNA system (unknowns, then fixed
    nodes, then ground). ``anode`` is the internal node when the diode has series resistance.
    """

    names: list[str]
    anode: np.ndarray
    cathode: np.ndarray
    isat: np.ndarray
    vte: np.ndarray
    vcrit: np.ndarray
    bv: np.ndarray
    vtebrk: np.ndarray
    ikf: np.ndarray

    terminals = ("anode", "cathode")
    """Element terminals of the residual blocks (the anode row is the internal node with RS)."""

    @property
    def residual_rows(self) -> np.ndarray:
        """Extended rows of the residual values returned by :meth:`evaluate`."""
        return np.concatenate([self.anode, self.cathode])

    @property
    def jacobian_entries(self) -> tuple[np.ndarray, np.ndarray]:
        """Extended (rows, cols) of the Jacobian values returned by :meth:`evaluate`."""
        a, c = self.anode, self.cathode
        return np.concatenate([a, a, c, c]), np.concatenate([a, c, a, c])

    def raw_state(self, e: np.ndarray) -> dict[str, np.ndarray]:
        """Junction voltages [V] at the extended vector ``e`` (no limiting)."""
        return {"vd": e[..., self.anode] - e[..., self.cathode]}

    def initial_state(self) -> dict[str, np.ndarray]:
        """ngspice's starting junction voltages (MODEINITJCT): vd = vcrit.

        The key ``vd0`` (not ``vd``) tells :meth:`evaluate` to linearise at these voltages
        instead of limiting against them, as ngspice's first iteration does.
        """
        return {"vd0": self.vcrit.copy()}

    def evaluate(
        self, e: np.ndarray, old: dict[str, np.ndarray] | None, gmin: float = GMIN
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Companion-model residual and Jacobian values at ``e``, limiting against ``old``.

        Returns residual values (for :attr:`residual_rows`), Jacobian values (for
        :attr:`jacobian_entries`), absolute current magnitudes (for tolerances), the new limited
        state and a boolean array telling which devices were limited.
        """
        vd_raw = e[..., self.anode] - e[..., self.cathode]
        if old is None:
            vd = vd_raw
        elif "vd" not in old:  # cold start: linearise at the given junction voltages
            vd = np.broadcast_to(old["vd0"], vd_raw.shape)
        else:
            vd = self._limit(vd_raw, old["vd"])
        current, g = diode_current(vd, self.isat, self.vte, self.bv, self.vtebrk, gmin, self.ikf)
        lin = current + g * (vd_raw - vd)
        res = np.concatenate([lin, -lin], axis=-1)
        jac = np.concatenate([g, -g, -g, g], axis=-1)
        mag = np.abs(np.concatenate([current, current], axis=-1))
        return res, jac, mag, {"vd": vd}, vd != vd_raw

    def _limit(self, vd_raw: np.ndarray, vd_old: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            near_bv = vd_raw < np.minimum(0.0, -self.bv + 10.0 * self.vtebrk)
            normal = pnjlim(vd_raw, vd_old, self.vte, self.vcrit)
            if not near_bv.any():  # no junction near breakdown (always, without BV)
                return normal
            flipped = -(
                pnjlim(-(vd_raw + self.bv), -(vd_old + self.bv), self.vtebrk, self.vcrit) + self.bv
            )
        return np.where(near_bv, flipped, normal)


DIODE_EG = 1.11
"""Default diode activation energy EG [eV] (ngspice's, silicon)."""

DIODE_XTI = 3.0
"""Default diode saturation-current temperature exponent XTI (ngspice's, pn junction)."""


def diode_saturation_current(model: ModelCard, kelvin: float) -> float:
    """IS [A] of a diode model at ``kelvin``, before AREA: ngspice's ``diotemp.c`` (TLEV = 0).

    IS(T) = IS·exp((T/TNOM − 1)·EG/(N·Vt(T)))·(T/TNOM)^(XTI/N), with IS raised to
    :data:`IS_FLOOR` first; at T = TNOM it is IS. Matches
    ``ngspice -b`` to 12 digits at 0, 50 and 100 °C.
    """
    saturation = max(float(model.value("is")), IS_FLOOR)
    nominal = float(model.params.get("tnom", 27.0)) + KELVIN
    if kelvin == nominal:
        return saturation
    n = float(model.value("n"))
    eg = float(model.params.get("eg", DIODE_EG))
    xti = float(model.params.get("xti", DIODE_XTI))
    ratio = kelvin / nominal
    vt = BOLTZMANN / CHARGE * kelvin
    return saturation * math.exp((ratio - 1.0) * eg / (n * vt) + xti / n * math.log(ratio))


class DiodeDevice(Device):
    """The junction diode in the registry (:data:`DIODE`)."""

    letter = "d"
    element_class = Diode
    table = DIODE_TABLE
    description = "diode(s)"
    reciprocal = True
    main_value = "area"
    alter_parameter = "area"
    usage: ClassVar[str] = (
        "dNAME anode cathode MODEL [area=VALUE] [m=VALUE] [temp=VALUE] [dtemp=VALUE]"
    )

    def conduction(self, element: Element, model: ModelCard | None) -> tuple[str, str, float]:
        """Forward-biased above :data:`CONDUCTING_VOLTAGE`."""
        assert isinstance(element, Diode)
        return element.anode, element.cathode, CONDUCTING_VOLTAGE

    def read_card(self, name: str, card: CardReader) -> Element:
        """``dNAME anode cathode MODEL [area=A] [m=M] [temp=T] [dtemp=DT]`` (ngspice 39 rejects a
        positional area)."""
        args = card.positional
        anode, cathode = card.nodes(2, self.usage)
        model = card.model(2, self.usage)
        if len(args) > 3 and card.is_value(args[3]):
            raise card.error(
                f"{card.who}: a positional area ({args[3].text}) is rejected by ngspice 39; "
                f"write area={args[3].text}"
            )
        keywords = card.keywords
        area = card.value(keywords.pop("area")) if "area" in keywords else 1.0
        copies = card.value(keywords.pop("m")) if "m" in keywords else 1.0
        params = {k: card.value(keywords.pop(k)) for k in ("temp", "dtemp") if k in keywords}
        card.no_extra(args[3:], self.usage)
        return Diode(name, anode, cathode, model, area, copies, params)

    def internal_nodes(self, element: Element, model: ModelCard | None) -> dict[str, str]:
        """``d1#internal`` behind the anode when the model has RS."""
        assert isinstance(element, Diode) and model is not None
        return {f"{element.name}#internal": element.anode} if model.value("rs") > 0 else {}

    def compile(
        self, elements: Sequence[Element], context: DeviceContext
    ) -> tuple[DiodeGroup, list[Series]]:
        """Diode arrays at each device's temperature; RS/(A·M) as series conductances."""
        series: list[Series] = []
        rows = []
        for d in elements:
            assert isinstance(d, Diode)
            # an instance temp= replaces the circuit's; else dtemp= offsets it (ngspice 39)
            celsius = d.params.get("temp", context.temperature + d.params.get("dtemp", 0.0))
            kelvin = float(celsius) + KELVIN
            vt = BOLTZMANN / CHARGE * kelvin
            model = context.model(d.model)
            area = float(d.area) * float(d.m)  # the multiplicity scales like the area
            n, rs = float(model.value("n")), float(model.value("rs"))
            isat = diode_saturation_current(model, kelvin) * area
            vte = n * vt
            anode = context.index(d.anode)
            if rs > 0:
                anode = context.index(f"{d.name}#internal")
                series.append(Series(context.index(d.anode), anode, area / rs))
            bv = float(model.value("bv"))
            if math.isfinite(bv):
                bv = breakdown_voltage(bv, float(model.value("ibv")), isat, n, vt=vt)
            ikf = float(model.value("ikf")) * area
            rows.append(
                (
                    anode,
                    context.index(d.cathode),
                    isat,
                    vte,
                    vte * math.log(vte / (SQRT2 * isat)),
                    bv,
                    vte,
                    ikf,
                )
            )
        cols = list(zip(*rows, strict=True))
        group = DiodeGroup(
            [d.name for d in elements],
            *(np.array(col, dtype=int if k < 2 else float) for k, col in enumerate(cols)),
        )
        return group, series

    def twin_elements(
        self, element: Element, model: ModelCard | None, jacobian: np.ndarray, tag: str
    ) -> list[Element] | None:
        """Its small-signal conductance g as a resistor 1/g (RS kept in series)."""
        assert isinstance(element, Diode) and model is not None
        out: list[Element] = []
        rs = float(model.value("rs")) / float(element.area)
        anode = element.anode
        if rs > 0:
            anode = f"{tag}_{element.name}_int"
            out.append(Resistor(f"r_{tag}_{element.name}_rs", element.anode, anode, rs))
        g = float(jacobian[0])
        out.append(Resistor(f"r_{tag}_{element.name}", anode, element.cathode, 1.0 / g))
        return out


DIODE = DiodeDevice()
"""The registered diode device."""
