"""Vectorised DC device equations of ngspice 39: junction diode and MOS level 1.

Every function takes numpy arrays (one entry per device) and returns arrays: no Python loop per
device. The equations are re-derived from ngspice's documentation and source (``dioload.c``,
``diotemp.c``, ``mos1load.c``, ``mos1temp.c``, ``devsup.c``). Devices follow the circuit
temperature (``.temp``) and their models' TNOM: diodes through the thermal voltage and IS(T)
(:func:`diode_saturation_current`), level-1 MOSFETs through KP, PHI, VBI, IS and Vt at T
(:func:`mos1_temperature`); at TEMP = TNOM = 27 °C every correction drops out.

Conventions: MOSFET voltages are *normalised* (multiplied by the polarity +1 NMOS / −1 PMOS) so one
set of equations serves both types, as in ngspice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from circuitlearn.circuit import Circuit, Diode, Mosfet
from circuitlearn.circuit.models import IS_FLOOR, Model
from circuitlearn.errors import CircuitError

__all__ = [
    "BOLTZMANN",
    "CHARGE",
    "DIODE_EG",
    "DIODE_XTI",
    "GMIN",
    "KELVIN",
    "MAX_EXP_ARG",
    "REFTEMP",
    "T_NOMINAL",
    "VT",
    "DiodeGroup",
    "MosGroup",
    "breakdown_voltage",
    "build_groups",
    "diode_current",
    "diode_saturation_current",
    "fetlim",
    "junction_current",
    "limvds",
    "mos1_channel",
    "mos1_temperature",
    "pnjlim",
    "vcrit",
]

BOLTZMANN = 1.38064852e-23
"""Boltzmann constant [J/K], ngspice's ``CONSTboltz`` (const.h)."""

CHARGE = 1.6021766208e-19
"""Elementary charge [C], ngspice's ``CHARGE`` (const.h)."""

T_NOMINAL = 27.0 + 273.15
"""Circuit and model temperature [K]: ngspice's default TEMP = TNOM = 27 °C (``REFTEMP``)."""

VT = BOLTZMANN / CHARGE * T_NOMINAL
"""Thermal voltage kT/q at 27 °C [V] (≈ 25.865 mV), ngspice's ``CONSTKoverQ * 300.15``."""

GMIN = 1e-12
"""Conductance in parallel with every junction [S]; ngspice's ``.options gmin`` default 1e-12."""

MAX_EXP_ARG = 709.0
"""Largest exponent fed to ``exp`` (ngspice clips MOS bulk junctions at ``MAX_EXP_ARG`` ≈ 709)."""

_E = math.e
_SQRT2 = math.sqrt(2.0)


def vcrit(vte: np.ndarray, isat: np.ndarray) -> np.ndarray:
    """Critical junction voltage [V] of :func:`pnjlim`: vte·ln(vte / (√2·IS)) (ngspice's vcrit)."""
    return vte * np.log(vte / (_SQRT2 * isat))


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
    isat, vte, bv, vtebrk, ikf = (
        np.broadcast_to(a, vd.shape) for a in (isat, vte, bv, vtebrk, ikf)
    )
    ev = np.exp(np.minimum(vd / vte, MAX_EXP_ARG))
    current = isat * (ev - 1.0)
    conductance = isat * ev / vte
    knee = np.isfinite(ikf) & (current > 0.0)
    if knee.any():  # I/(1 + s), s = √(I/IKF): dI' = dI·(1 + s/2)/(1 + s)²
        root = np.sqrt(current[knee] / ikf[knee])
        conductance[knee] *= (1.0 + 0.5 * root) / (1.0 + root) ** 2
        current[knee] /= 1.0 + root
    forward = vd >= -3.0 * vte
    if not forward.all():
        back = ~forward
        down = back & (vd < -bv)
        rev = back & ~down
        if rev.any():
            v, i_s = vd[rev], isat[rev]
            arg = (3.0 * vte[rev] / (v * _E)) ** 3
            current[rev] = -i_s * (1.0 + arg)
            conductance[rev] = i_s * 3.0 * arg / v
        if down.any():
            eb = np.exp(np.minimum(-(bv[down] + vd[down]) / vtebrk[down], MAX_EXP_ARG))
            current[down] = -isat[down] * eb
            conductance[down] = isat[down] * eb / vtebrk[down]
    return current + gmin * vd, conductance + gmin


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


def pnjlim(vnew: np.ndarray, vold: np.ndarray, vt: np.ndarray, vcrit_: np.ndarray) -> np.ndarray:
    """SPICE junction-voltage limiting (ngspice 39's ``DEVpnjlim``), vectorised.

    Above ``vcrit_`` a forward step larger than 2·vt is compressed logarithmically; a reverse step
    is limited to −vold − 1 (from forward bias) or 2·vold − 1 (from reverse bias).
    """
    vt, vcrit_ = np.broadcast_to(vt, vnew.shape), np.broadcast_to(vcrit_, vnew.shape)
    floor = np.where(vold > 0.0, -vold - 1.0, 2.0 * vold - 1.0)
    out = np.where((vnew < 0.0) & (vnew < floor), floor, vnew)
    big = (vnew > vcrit_) & (np.abs(vnew - vold) > 2.0 * vt)
    if big.any():  # logarithmic compression only where needed (few devices, few iterations)
        v, old, t = vnew[big], vold[big], vt[big]
        arg = (v - old) / t
        with np.errstate(invalid="ignore", divide="ignore"):
            up = old + t * (2.0 + np.log(arg - 2.0))
            down = old - t * (2.0 + np.log(2.0 - arg))
            from_zero = t * np.log(v / t)
        out[big] = np.where(old > 0.0, np.where(arg > 0.0, up, down), from_zero)
    return out


def fetlim(vnew: np.ndarray, vold: np.ndarray, vto: np.ndarray) -> np.ndarray:
    """SPICE gate-voltage limiting around the threshold ``vto`` (ngspice's ``DEVfetlim``)."""
    vtsthi = np.abs(2.0 * (vold - vto)) + 2.0
    vtstlo = np.abs(vold - vto) + 1.0
    vtox = vto + 3.5
    delv = vnew - vold
    # on and strongly on (vold ≥ vto + 3.5)
    going_off = np.where(
        vnew >= vtox, np.where(-delv > vtstlo, vold - vtstlo, vnew), np.maximum(vnew, vto + 2.0)
    )
    staying_on = np.where(delv >= vtsthi, vold + vtsthi, vnew)
    strong = np.where(delv <= 0.0, going_off, staying_on)
    middle = np.where(delv <= 0.0, np.maximum(vnew, vto - 0.5), np.minimum(vnew, vto + 4.0))
    on = np.where(vold >= vtox, strong, middle)
    vtemp = vto + 0.5
    rising = np.where(vnew <= vtemp, np.where(delv > vtstlo, vold + vtstlo, vnew), vtemp)
    off = np.where(delv <= 0.0, np.where(-delv > vtsthi, vold - vtsthi, vnew), rising)
    return np.where(vold >= vto, on, off)


def limvds(vnew: np.ndarray, vold: np.ndarray) -> np.ndarray:
    """SPICE drain–source voltage limiting (ngspice's ``DEVlimvds``)."""
    high = np.where(
        vnew > vold,
        np.minimum(vnew, 3.0 * vold + 2.0),
        np.where(vnew < 3.5, np.maximum(vnew, 2.0), vnew),
    )
    low = np.where(vnew > vold, np.minimum(vnew, 4.0), np.maximum(vnew, -0.5))
    return np.where(vold >= 3.5, high, low)


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
            flipped = -(
                pnjlim(-(vd_raw + self.bv), -(vd_old + self.bv), self.vtebrk, self.vcrit) + self.bv
            )
            normal = pnjlim(vd_raw, vd_old, self.vte, self.vcrit)
        return np.where(near_bv, flipped, normal)


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


KELVIN = 273.15
"""0 °C in kelvin (ngspice's ``CONSTCtoK``)."""

DIODE_EG = 1.11
"""Default diode activation energy EG [eV] (ngspice's, silicon)."""

DIODE_XTI = 3.0
"""Default diode saturation-current temperature exponent XTI (ngspice's, pn junction)."""


def diode_saturation_current(model: Model, kelvin: float) -> float:
    """IS [A] of a diode model at ``kelvin``, before AREA: ngspice's ``diotemp.c`` (TLEV = 0).

    IS(T) = IS·exp((T/TNOM − 1)·EG/(N·Vt(T)))·(T/TNOM)^(XTI/N), with IS raised to
    :data:`~circuitlearn.circuit.models.IS_FLOOR` first; at T = TNOM it is IS. Matches
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


REFTEMP = 27.0 + KELVIN
"""ngspice's reference temperature [K] for the band-gap terms (``REFTEMP``)."""


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


def build_groups(
    flat: Circuit, ext: Mapping[str, int]
) -> tuple[dict[str, DiodeGroup | MosGroup], list[tuple[int, int, float]]]:
    """Device arrays of a flat circuit, and the series resistances (a, b, conductance [S]).

    ``ext`` maps node names (internal ``d#internal``, ``m#drain``, ``m#source`` included) to
    extended indices. Model parameters are ngspice's (:mod:`circuitlearn.circuit.models`).
    """
    series: list[tuple[int, int, float]] = []
    groups: dict[str, DiodeGroup | MosGroup] = {}
    diodes = flat.elements_of(Diode)
    kelvin = flat.temperature + KELVIN
    vt = BOLTZMANN / CHARGE * kelvin
    if diodes:
        d_rows = []
        for d in diodes:
            model = flat.models[d.model]
            area = float(d.area) * float(d.m)  # the multiplicity scales like the area
            n, rs = float(model.value("n")), float(model.value("rs"))
            isat = diode_saturation_current(model, kelvin) * area
            vte = n * vt
            anode = ext[d.anode]
            if rs > 0:
                anode = ext[f"{d.name}#internal"]
                series.append((ext[d.anode], anode, area / rs))
            bv = float(model.value("bv"))
            if math.isfinite(bv):
                bv = breakdown_voltage(bv, float(model.value("ibv")), isat, n, vt=vt)
            ikf = float(model.value("ikf")) * area
            d_rows.append(
                (
                    anode,
                    ext[d.cathode],
                    isat,
                    vte,
                    vte * math.log(vte / (_SQRT2 * isat)),
                    bv,
                    vte,
                    ikf,
                )
            )
        cols = list(zip(*d_rows, strict=True))
        groups["d"] = DiodeGroup(
            [d.name for d in diodes],
            *(np.array(col, dtype=int if k < 2 else float) for k, col in enumerate(cols)),
        )
    mos = flat.elements_of(Mosfet)
    if mos:
        m_rows = []
        for m in mos:
            model = flat.models[m.model]
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
            drain, source = ext[m.drain], ext[m.source]
            if p["rd"] > 0:
                drain = ext[f"{m.name}#drain"]
                series.append((ext[m.drain], drain, copies / p["rd"]))
            if p["rs"] > 0:
                source = ext[f"{m.name}#source"]
                series.append((ext[m.source], source, copies / p["rs"]))
            pol = float(model.polarity)
            nominal = float(model.params.get("tnom", 27.0)) + KELVIN
            # an instance temp= replaces the circuit's; else dtemp= offsets it (ngspice 39)
            celsius = m.params.get("temp", flat.temperature + m.params.get("dtemp", 0.0))
            device = float(celsius) + KELVIN
            kp, vbi, vto, phi, isat, vt_m = mos1_temperature(p, pol, device, nominal)
            m_rows.append(
                (
                    drain,
                    ext[m.gate],
                    source,
                    ext[m.bulk],
                    pol,
                    copies * kp * w / leff,
                    vbi,
                    vto,
                    p["gamma"],
                    phi,
                    p["lambda"],
                    copies * isat,
                    vt_m * math.log(vt_m / (_SQRT2 * copies * isat)),
                    vt_m,
                )
            )
        cols = list(zip(*m_rows, strict=True))
        groups["m"] = MosGroup(
            [m.name for m in mos],
            *(np.array(col, dtype=int if k < 4 else float) for k, col in enumerate(cols)),
        )
    return groups, series
