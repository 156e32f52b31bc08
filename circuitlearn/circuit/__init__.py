"""Circuit model: elements, models, subcircuits, the :class:`Circuit` container and builders."""

from circuitlearn.circuit.builders import LayeredNetwork, crossbar, kendall_network
from circuitlearn.circuit.circuit import MAIN_VALUE, NOMINAL_TEMPERATURE, Circuit, Subcircuit
from circuitlearn.circuit.devices.bjt import Bipolar
from circuitlearn.circuit.elements import (
    CCCS,
    CCVS,
    ELEMENT_CLASSES,
    GROUND,
    VCCS,
    VCVS,
    Capacitor,
    CurrentSource,
    Diode,
    Element,
    Inductor,
    Mosfet,
    Resistor,
    SubcircuitInstance,
    VoltageSource,
)
from circuitlearn.circuit.expressions import Expression
from circuitlearn.circuit.graphs import from_networkx, random_resistor_network, to_networkx
from circuitlearn.circuit.models import Model
from circuitlearn.circuit.opaque import CodeModelInstance, OpaqueElement
from circuitlearn.circuit.topology import check_topology

__all__ = [
    "CCCS",
    "CCVS",
    "ELEMENT_CLASSES",
    "GROUND",
    "MAIN_VALUE",
    "NOMINAL_TEMPERATURE",
    "VCCS",
    "VCVS",
    "Bipolar",
    "Capacitor",
    "Circuit",
    "CodeModelInstance",
    "CurrentSource",
    "Diode",
    "Element",
    "Expression",
    "Inductor",
    "LayeredNetwork",
    "Model",
    "Mosfet",
    "OpaqueElement",
    "Resistor",
    "Subcircuit",
    "SubcircuitInstance",
    "VoltageSource",
    "check_topology",
    "crossbar",
    "from_networkx",
    "kendall_network",
    "random_resistor_network",
    "to_networkx",
]
