"""Physics shared by the junction devices: ngspice's constants, junction limiting, Vt.

Re-derived from ngspice 39's ``const.h`` and ``devsup.c`` (``DEVpnjlim``, ``DEVfetlim``,
``DEVlimvds``); vectorised over numpy arrays (one entry per device).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "BOLTZMANN",
    "CHARGE",
    "CONDUCTING_VOLTAGE",
    "GMIN",
    "KELVIN",
    "MAX_EXP_ARG",
    "REFTEMP",
    "SQRT2",
    "T_NOMINAL",
    "VT",
    "fetlim",
    "limvds",
    "pnjlim",
    "reverse_current",
    "thermal_voltage",
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

CONDUCTING_VOLTAGE = 0.4
"""[V] A junction counts as conducting when forward-biased above this (≈ 1 µA for IS = 1e-14 A:
below it it carries a negligible current and the network acts linear there)."""

GMIN = 1e-12
"""Conductance in parallel with every junction [S]; ngspice's ``.options gmin`` default 1e-12."""

MAX_EXP_ARG = 709.0
"""Largest exponent fed to ``exp`` (ngspice clips MOS bulk junctions at ``MAX_EXP_ARG`` ≈ 709)."""

SQRT2 = math.sqrt(2.0)
"""The square root of 2 in ngspice's critical voltage (``CONSTroot2``)."""


KELVIN = 273.15
"""0 °C in kelvin (ngspice's ``CONSTCtoK``)."""

REFTEMP = 27.0 + KELVIN
"""ngspice's reference temperature [K] for the band-gap terms (``REFTEMP``)."""


def thermal_voltage(kelvin: float) -> float:
    """kT/q [V] at ``kelvin`` [K], with ngspice's constants."""
    return BOLTZMANN / CHARGE * kelvin


def reverse_current(
    v: np.ndarray, isat: np.ndarray, vte: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """ngspice's smooth reverse junction law below −3·vte: current −IS·(1 + (3·vte/(e·v))³) [A]
    and its conductance [S] (``dioload.c``, ``bjtload.c``)."""
    ratio = 3.0 * vte / (v * math.e)
    cube = ratio * ratio * ratio  # not ** 3: numpy's pow, ~200x slower per element
    return -isat * (1.0 + cube), isat * 3.0 * cube / v


def vcrit(vte: np.ndarray, isat: np.ndarray) -> np.ndarray:
    """Critical junction voltage [V] of :func:`pnjlim`: vte·ln(vte / (√2·IS)) (ngspice's vcrit)."""
    return vte * np.log(vte / (SQRT2 * isat))


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
