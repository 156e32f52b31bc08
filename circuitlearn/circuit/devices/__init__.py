"""The device registry: one module per device type, one list naming them all.

Every nonlinear device the native solver models is one module here (card, ``.model`` table,
vectorised DC group with limiting, learning and diagnostic hooks; see
:mod:`circuitlearn.circuit.devices.base` for the interface and ``docs/devices.md`` for how to add
one). The reader, flattener, topology check, MNA compiler, learning phases and diagnostics ask
this registry instead of testing element types.

Examples
--------
>>> from circuitlearn.circuit import Diode
>>> device_for(Diode("d1", "a", "0", "dm")).letter
'd'
>>> model_table("pmos").family
'MOSFET'
>>> [d.letter for d in DEVICES]
['d', 'm', 'q', 'b']
"""

from __future__ import annotations

from circuitlearn.circuit.devices.base import (
    CardReader,
    Device,
    DeviceContext,
    DeviceGroup,
    ModelTable,
    Series,
)
from circuitlearn.circuit.devices.behavioral import BEHAVIORAL
from circuitlearn.circuit.devices.bjt import BJT
from circuitlearn.circuit.devices.diode import DIODE
from circuitlearn.circuit.devices.mosfet import MOSFET
from circuitlearn.circuit.elements import ELEMENT_CLASSES, Element

__all__ = [
    "DEVICES",
    "CardReader",
    "Device",
    "DeviceContext",
    "DeviceGroup",
    "ModelTable",
    "Series",
    "device_for",
    "device_for_letter",
    "device_for_model",
    "model_table",
]

DEVICES: tuple[Device, ...] = (DIODE, MOSFET, BJT, BEHAVIORAL)
"""Every registered device, in compilation order. Adding a device: one module, one entry here."""

_BY_CLASS: dict[type[Element], Device] = {d.element_class: d for d in DEVICES}
_BY_LETTER: dict[str, Device] = {d.letter: d for d in DEVICES}
_BY_KIND: dict[str, Device] = {kind: d for d in DEVICES for kind in d.model_kinds()}

for _device in DEVICES:  # element classes defined by a device module join the letter table
    ELEMENT_CLASSES.setdefault(_device.letter, _device.element_class)


def device_for(element: Element) -> Device | None:
    """The registered device of ``element`` (``None`` for R, C, L, sources, X, opaque cards)."""
    return _BY_CLASS.get(type(element))


def device_for_letter(letter: str) -> Device | None:
    """The registered device whose cards start with ``letter`` (lower case)."""
    return _BY_LETTER.get(letter)


def device_for_model(kind: str) -> Device | None:
    """The registered device that models ``.model`` type ``kind`` natively."""
    return _BY_KIND.get(kind)


def model_table(kind: str) -> ModelTable | None:
    """The parameter table of model type ``kind`` (``None`` when no device models it)."""
    device = _BY_KIND.get(kind)
    return None if device is None else device.table
