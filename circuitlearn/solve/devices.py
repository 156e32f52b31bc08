"""Compile the registered devices of a flat circuit into their vectorised groups.

The device equations live in one module per device type (:mod:`circuitlearn.circuit.devices`:
``diode``, ``mosfet``, ...); this module asks each registered device to compile its elements
against the extended-vector layout of an MNA system. The names below are re-exported from the
device modules for code that imported them from here.
"""

from __future__ import annotations

from collections.abc import Mapping

from circuitlearn.circuit import Circuit
from circuitlearn.circuit.devices import DEVICES, DeviceGroup
from circuitlearn.circuit.devices.diode import (
    DIODE_EG,
    DIODE_XTI,
    DiodeGroup,
    breakdown_voltage,
    diode_current,
    diode_saturation_current,
)
from circuitlearn.circuit.devices.junction import (
    BOLTZMANN,
    CHARGE,
    GMIN,
    KELVIN,
    MAX_EXP_ARG,
    REFTEMP,
    T_NOMINAL,
    VT,
    fetlim,
    limvds,
    pnjlim,
    vcrit,
)
from circuitlearn.circuit.devices.mosfet import (
    MosGroup,
    junction_current,
    mos1_channel,
    mos1_temperature,
)
from circuitlearn.circuit.models import Model
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


class _Context:
    """What a device sees while compiling: the layout of one MNA system (DeviceContext)."""

    def __init__(
        self, flat: Circuit, ext: Mapping[str, int], branches: Mapping[str, int] | None
    ) -> None:
        self.temperature = flat.temperature
        self._flat = flat
        self._ext = ext
        self._branches = branches or {}

    def index(self, node: str) -> int:
        return self._ext[node]

    def branch(self, element: str) -> int:
        try:
            return self._branches[element]
        except KeyError:
            raise CircuitError(
                f"{element}: no branch current i({element}) in this circuit (a V, E, H or L "
                "element, or a device with its own branch, is needed)",
                element=element,
            ) from None

    def model(self, name: str) -> Model:
        return self._flat.models[name]


def build_groups(
    flat: Circuit, ext: Mapping[str, int], branches: Mapping[str, int] | None = None
) -> tuple[dict[str, DeviceGroup], list[tuple[int, int, float]]]:
    """Device groups of a flat circuit (keyed by SPICE letter) and their series conductances.

    ``ext`` maps node names (internal ``name#suffix`` nodes included) to extended indices;
    ``branches`` maps elements with a branch current to their index. Each registered device
    compiles its own elements (:meth:`~circuitlearn.circuit.devices.Device.compile`).
    """
    context = _Context(flat, ext, branches)
    groups: dict[str, DeviceGroup] = {}
    series: list[tuple[int, int, float]] = []
    for device in DEVICES:
        elements = flat.elements_of(device.element_class)
        if elements:
            group, more = device.compile(elements, context)
            groups[device.letter] = group
            series += [(s.a, s.b, s.conductance) for s in more]
    return groups, series
