"""Gummel–Poon DC equations and temperature laws of ngspice's bipolar transistor.

The physics of :mod:`circuitlearn.circuit.devices.bjt` (which registers the device), re-derived
from ngspice 39's ``bjtload.c`` (currents, base charge, base resistance) and ``bjttemp.c``
(TLEV 0/1 temperature laws); vectorised over numpy arrays, one entry per transistor, with exact
derivatives for Newton and the learning rules.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from circuitlearn.circuit.devices.junction import (
    GMIN,
    KELVIN,
    MAX_EXP_ARG,
    reverse_current,
    thermal_voltage,
)

__all__ = [
    "BJT_EG",
    "BJT_XTI",
    "base_resistance",
    "base_resistance_expression",
    "bjt_temperature",
    "gummel_poon",
]

_TEMPERATURE_POLYNOMIALS = {
    "vaf": ("tvaf1", "tvaf2"), "var": ("tvar1", "tvar2"), "ikf": ("tikf1", "tikf2"),
    "ikr": ("tikr1", "tikr2"), "rc": ("trc1", "trc2"), "re": ("tre1", "tre2"),
    "rb": ("trb1", "trb2"), "rbm": ("trm1", "trm2"), "irb": ("tirb1", "tirb2"),
    "nf": ("tnf1", "tnf2"), "nr": ("tnr1", "tnr2"), "ne": ("tne1", "tne2"),
    "nc": ("tnc1", "tnc2"),
}  # fmt: skip
"""Parameters scaled by (1 + c1·ΔT + c2·ΔT²) away from TNOM, with their coefficients."""
BJT_EG = 1.11
"""Default energy gap EG [eV] of IS(T) (``bjtsetup.c``)."""
BJT_XTI = 3.0
"""Default saturation-current temperature exponent XTI (``bjtsetup.c``)."""
_C10 = 5528 / 212837625
"""z¹⁰ coefficient of the series of (tan z − z)/(z·tan² z) (with 1/3, −4/45, −4/315 ...)."""
_IRB_C = 14.59025
"""ngspice's constant c of the IRB law z = (√(1 + c·a) − 1)/(k·√a), a = Ib/IRB (``bjtload.c``)."""
_IRB_K = 2.4317
"""ngspice's constant k of the IRB law (``bjtload.c``)."""


def gummel_poon(
    vbe: np.ndarray,
    vbc: np.ndarray,
    p: Mapping[str, np.ndarray],
    gmin: float | np.ndarray = GMIN,
) -> dict[str, np.ndarray]:
    """Gummel–Poon DC currents and their derivatives at normalised junction voltages [V].

    ``p`` holds per-device arrays: ``isat``, ``isat_bc`` (the base–emitter and base–collector
    transport saturation currents), ``ise``, ``isc`` [A] (areas included), ``vtf``,
    ``vtr``, ``vte``, ``vtc`` (N·Vt [V] of each exponential), ``bf``, ``br``, ``inv_vaf``,
    ``inv_var`` [1/V], ``inv_ikf``, ``inv_ikr`` [1/A] (0 = infinite). ``gmin`` [S] is the
    conductance across each junction (ngspice's, times the multiplicity m).

    Returns ``cc``, ``cb`` [A] (into collector' and base') with ``cc_be``, ``cc_bc``, ``cb_be``,
    ``cb_bc`` [S] (∂/∂vbe, ∂/∂vbc), and ``qb`` with ``qb_be``, ``qb_bc`` [1/V].
    """
    cbe, gbe = _junction(vbe, p["isat"], p["vtf"])
    cben, gben = _junction(vbe, p["ise"], p["vte"])
    cbc, gbc = _junction(vbc, p["isat_bc"], p["vtr"])
    cbcn, gbcn = _junction(vbc, p["isc"], p["vtc"])
    cben, gben = cben + gmin * vbe, gben + gmin
    cbcn, gbcn = cbcn + gmin * vbc, gbcn + gmin
    inv_vaf, inv_var, inv_ikf, inv_ikr = p["inv_vaf"], p["inv_var"], p["inv_ikf"], p["inv_ikr"]
    q1 = 1.0 / (1.0 - inv_vaf * vbc - inv_var * vbe)
    q2 = inv_ikf * cbe + inv_ikr * cbc
    arg = np.maximum(0.0, 1.0 + 4.0 * q2)
    knee = (inv_ikf != 0.0) | (inv_ikr != 0.0)
    sq = np.where(knee & (arg != 0.0), np.sqrt(arg), 1.0)
    qb = np.where(knee, q1 * (1.0 + sq) / 2.0, q1)
    qb_be = q1 * (qb * inv_var + np.where(knee, inv_ikf * gbe / sq, 0.0))
    qb_bc = q1 * (qb * inv_vaf + np.where(knee, inv_ikr * gbc / sq, 0.0))
    br, bf = p["br"], p["bf"]
    go = (gbc + (cbe - cbc) * qb_bc / qb) / qb
    gm = (gbe - (cbe - cbc) * qb_be / qb) / qb - go
    gpi = gbe / bf + gben
    gmu = gbc / br + gbcn
    return {
        "cc": (cbe - cbc) / qb - cbc / br - cbcn,
        "cb": cbe / bf + cben + cbc / br + cbcn,
        "cc_be": gm + go,
        "cc_bc": -go - gmu,
        "cb_be": gpi,
        "cb_bc": gmu,
        "qb": qb,
        "qb_be": qb_be,
        "qb_bc": qb_bc,
    }


def _junction(v: np.ndarray, isat: np.ndarray, vtn: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ngspice's BJT junction: IS·(exp(v/vtn) − 1) above −3·vtn, −IS·(1 + (3·vtn/(e·v))³) below."""
    forward = v >= -3.0 * vtn
    ev = np.exp(np.minimum(np.where(forward, v, 0.0) / vtn, MAX_EXP_ARG))
    reverse, reverse_g = reverse_current(np.where(forward, -1.0, v), isat, vtn)
    current = np.where(forward, isat * (ev - 1.0), reverse)
    conductance = np.where(forward, isat * ev / vtn, reverse_g)
    return current, conductance


def base_resistance(
    gp: Mapping[str, np.ndarray], p: Mapping[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """gx [S] of a current-dependent base resistance and ∂gx/∂vbe, ∂gx/∂vbc [S/V]."""
    rbpr, rbpi, xjrb = p["rbpr"], p["rbpi"], p["xjrb"]
    qb = gp["qb"]
    resistance = rbpr + rbpi / qb
    r_be = -rbpi * gp["qb_be"] / qb**2
    r_bc = -rbpi * gp["qb_bc"] / qb**2
    law = xjrb > 0.0
    if law.any():  # ngspice's IRB law: R = RBM + 3·(RB − RBM)·(tan z − z)/(z·tan² z)
        ratio = np.where(law, gp["cb"] / np.where(law, xjrb, 1.0), 1.0)
        clamped = ratio < 1e-9
        a = np.maximum(ratio, 1e-9)
        root = np.sqrt(1.0 + _IRB_C * a)
        # z = (√(1 + c·a) − 1)/(k·√a), written without the cancellation at small a
        z = _IRB_C * np.sqrt(a) / (_IRB_K * (1.0 + root))
        dz_da = (_IRB_C / _IRB_K) * (
            0.5 / (np.sqrt(a) * (1.0 + root))
            - np.sqrt(a) * _IRB_C / (2.0 * root * (1.0 + root) ** 2)
        )
        f, df_dz = _tan_law(z)
        da_scale = np.where(clamped, 0.0, 3.0 * rbpi * df_dz * dz_da / np.where(law, xjrb, 1.0))
        resistance = np.where(law, rbpr + 3.0 * rbpi * f, resistance)
        r_be = np.where(law, da_scale * gp["cb_be"], r_be)
        r_bc = np.where(law, da_scale * gp["cb_bc"], r_bc)
    gx = 1.0 / resistance
    return gx, -gx * gx * r_be, -gx * gx * r_bc


def base_resistance_expression(p: Mapping[str, float], vbe: str, vbc: str, gmin: float) -> str:
    """The current-dependent base resistance [Ω] of one transistor as a B-source expression.

    The same law as :func:`base_resistance` (RBM + (RB − RBM)/qb, or the IRB tan law of the base
    current), written over the expressions ``vbe`` and ``vbc`` of the normalised internal junction
    voltages, with ``p`` one transistor's compiled parameters (``isat`` ... ``xjrb``, areas and
    m included) and ``gmin`` [S] its junctions' gmin (ngspice's, times m), so that elements
    carrying v(b, b′)/(this) from the base to a copy of the transistor without RB carry the
    transistor's own base current: the learning phases' form of it (``explicit_series``).
    """
    num = _number
    be, bc = f"({vbe})", f"({vbc})"
    ibe = _junction_text(be, p["isat"], p["vtf"])
    ibc = _junction_text(bc, p["isat_bc"], p["vtr"])
    early = "".join(
        f"-{num(p[key])}*{v}" for key, v in (("inv_vaf", bc), ("inv_var", be)) if p[key] != 0.0
    )
    qb = q1 = f"(1/(1{early}))"
    knee = [f"{num(p[key])}*{i}" for key, i in (("inv_ikf", ibe), ("inv_ikr", ibc)) if p[key]]
    if knee:
        qb = f"({q1}*(1+sqrt(max(0,1+4*({'+'.join(knee)}))))/2)"
    if p["xjrb"] <= 0.0:
        return f"{num(p['rbpr'])}+{num(p['rbpi'])}/{qb}"
    leak_e = _junction_text(be, p["ise"], p["vte"]) if p["ise"] > 0.0 else "0"
    leak_c = _junction_text(bc, p["isc"], p["vtc"]) if p["isc"] > 0.0 else "0"
    cb = (
        f"({ibe}/{num(p['bf'])}+({leak_e}+{num(gmin)}*{be})"
        f"+{ibc}/{num(p['br'])}+({leak_c}+{num(gmin)}*{bc}))"
    )
    # z = (√(1 + c·a) − 1)/(k·√a) = (√c/k)·tanh(asinh(√(c·a))/2): a written once
    a = f"max({cb}/{num(p['xjrb'])},1e-9)"
    z = f"({num(math.sqrt(_IRB_C) / _IRB_K)}*tanh(asinh(sqrt({num(_IRB_C)}*{a}))/2))"
    u2 = f"({z}*{z})"
    series = f"(1/3-{u2}*(4/45+{u2}*(4/315+{u2}*(8/4725+{u2}*(4/18711+{u2}*{num(_C10)})))))"
    closed = f"((tan({z})-{z})/({z}*tan({z})*tan({z})))"
    return f"{num(p['rbpr'])}+3*{num(p['rbpi'])}*({z}<0.15?{series}:{closed})"


def _junction_text(v: str, isat: float, vtn: float) -> str:
    """:func:`_junction` as a B-source expression of the voltage expression ``v``."""
    num = _number
    # below −3·vtn, (3·vtn/(e·v))³ = −(3·vtn/(e·(−v)))³ with a positive base, as ^ (|a|^b) needs
    return (
        f"({v}>={num(-3.0 * vtn)}?{num(isat)}*(exp({v}/{num(vtn)})-1)"
        f":-{num(isat)}*(1-({num(3.0 * vtn / math.e)}/(-{v}))^3))"
    )


def _number(value: float) -> str:
    """``value`` exactly (shortest round trip), parenthesised when negative."""
    text = repr(float(value))
    return f"({text})" if value < 0 else text


def _tan_law(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """F(z) = (tan z − z)/(z·tan² z) and dF/dz; a series below z = 0.15, where the closed form
    loses digits to cancellation (tan z − z ≈ z³/3), accurate to ~1e-17 there."""
    small = z < 0.15
    u = np.where(small, z, 0.0)
    u2 = u * u
    series = 1 / 3 - u2 * (4 / 45 + u2 * (4 / 315 + u2 * (8 / 4725 + u2 * (4 / 18711 + u2 * _C10))))
    d_series = -u * (
        8 / 45 + u2 * (16 / 315 + u2 * (48 / 4725 + u2 * (32 / 18711 + u2 * 10 * _C10)))
    )
    w = np.where(small, 1.0, z)
    t = np.tan(w)
    closed = (t - w) / (w * t * t)
    d_closed = (t * t * w * t * t - (t - w) * (t * t + 2.0 * w * t * (1.0 + t * t))) / (
        w * t * t
    ) ** 2
    return np.where(small, series, closed), np.where(small, d_series, d_closed)


def bjt_temperature(
    p: Mapping[str, float], given: Mapping[str, object], kelvin: float
) -> dict[str, float]:
    """DC parameters at ``kelvin`` [K] from a model measured at TNOM (``bjttemp.c``, TLEV 0/1).

    ``p`` holds the DC parameters (ISE/ISC already multiples of IS where SPICE2's rule applies,
    RBM already defaulted to RB); ``given`` the model card's parameters (temperature
    coefficients default to 0). Returns ``p`` with IS·exp((T/TNOM − 1)·EG/Vt)·(T/TNOM)^XTI,
    BF and BR times (T/TNOM)^XTB (TLEV 1: 1 + XTB·ΔT; TBF1/TBF2 and TBR1/TBR2 polynomials
    when given), ISE and ISC times exp(factlog/NE or NC)/bfactor, VAF, VAR, IKF, IKR, RB, RBM,
    IRB, RC, RE, NF, NR, NE, NC times their (1 + c1·ΔT + c2·ΔT²), and ``vt`` = kT/q. At
    T = TNOM every factor is 1 and only ``vt`` is added.
    """
    out = dict(p)
    tnom = float(p["tnom"]) + KELVIN
    out["vt"] = vt = thermal_voltage(kelvin)
    if kelvin == tnom:
        return out

    def c(key: str) -> float:
        return float(given.get(key, 0.0))  # type: ignore[arg-type]

    dt = kelvin - tnom
    for key, coefficients in _TEMPERATURE_POLYNOMIALS.items():
        first, second = coefficients
        out[key] = p[key] * (1.0 + c(first) * dt + c(second) * dt * dt)
    ratlog = math.log(kelvin / tnom)
    eg = float(given.get("eg", BJT_EG))  # type: ignore[arg-type]
    xti = float(given.get("xti", BJT_XTI))  # type: ignore[arg-type]
    factlog = (kelvin / tnom - 1.0) * eg / vt + xti * ratlog
    tlev1 = c("tlev") == 1.0
    bfactor = 1.0 + c("xtb") * dt if tlev1 else math.exp(ratlog * c("xtb"))
    out["is"] = p["is"] * math.exp(factlog)
    for beta, (first, second) in (("bf", ("tbf1", "tbf2")), ("br", ("tbr1", "tbr2"))):
        if first in given or second in given:
            out[beta] = p[beta] * (1.0 + c(first) * dt + c(second) * dt * dt)
        else:
            out[beta] = p[beta] * bfactor
    out["ise"] = p["ise"] * math.exp(factlog / p["ne"]) / bfactor
    out["isc"] = p["isc"] * math.exp(factlog / p["nc"]) / bfactor
    return out
