"""Circuit model: elements, models, subcircuits, the :class:`Circuit` container and builders."""

from circuitlearn.circuit.circuit import Circuit, Subcircuit
from circuitlearn.circuit.elements import (
    CCCS,
    CCVS,
    ELEMENT_CLASSES,
    GROUND,
    VCCS,
    VCVS,
    CurrentSource,
    Diode,
    Element,
    Mosfet,
    Resistor,
    SubcircuitInstance,
    VoltageSource,
)
from circuitlearn.circuit.expressions import Expression
from circuitlearn.circuit.models import Model
from circuitlearn.circuit.topology import check_topology
from circuitlearn.circuit.builders import LayeredNetwork, crossbar, kendall_network
from circuitlearn.circuit.graphs import from_networkx, random_resistor_network, to_networkx

__all__ = [
    "CCCS",
    "CCVS",
    "ELEMENT_CLASSES",
    "GROUND",
    "VCCS",
    "VCVS",
    "Circuit",
    "CurrentSource",
    "Diode",
    "Element",
    "Expression",
    "Model",
    "Mosfet",
    "Resistor",
    "Subcircuit",
    "SubcircuitInstance",
    "VoltageSource",
    "check_topology",
    "LayeredNetwork",
    "crossbar",
    "from_networkx",
    "kendall_network",
    "random_resistor_network",
    "to_networkx",
]
