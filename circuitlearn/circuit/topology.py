"""Topology checks that make an MNA matrix singular, reported by name before any solve.

- *Floating island*: nodes with no DC path to ground. DC paths run through R, D, V, E, H, L and
  the MOSFET's drain–source–bulk (its junctions) and between the terminals of an opaque card
  (ngspice decides); not through C, I/G/F outputs or a MOSFET gate.
- *Voltage-source loop*: a cycle made only of voltage-defined branches (V, E, H, and L: a 0 V
  branch at DC), or a source whose two terminals are the same node. ngspice finds both singular.
"""

from __future__ import annotations

import itertools

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from circuitlearn.circuit.circuit import Circuit
from circuitlearn.circuit.devices import device_for
from circuitlearn.circuit.elements import (
    CCVS,
    GROUND,
    VCVS,
    Element,
    Inductor,
    Resistor,
    VoltageSource,
)
from circuitlearn.circuit.opaque import OpaqueElement
from circuitlearn.errors import CircuitError

__all__ = ["check_topology", "dc_paths", "floating_islands", "voltage_loops"]

_VOLTAGE_DEFINED = (VoltageSource, VCVS, CCVS, Inductor)


def dc_paths(element: Element) -> list[tuple[str, str]]:
    """Node pairs between which ``element`` conducts at DC."""
    if isinstance(element, (Resistor, *_VOLTAGE_DEFINED)):
        return [(element.nodes[0], element.nodes[1])]
    device = device_for(element)
    if device is not None:
        return device.dc_paths(element)
    if isinstance(element, OpaqueElement):  # unknown to us: assume its terminals conduct
        return list(itertools.pairwise(element.terminals))
    return []


def floating_islands(circuit: Circuit) -> list[list[str]]:
    """Groups of nodes with no DC path to ground (sorted, largest first)."""
    index = {node: k for k, node in enumerate((GROUND, *circuit.nodes))}
    ends: list[int] = []
    for element in circuit:
        for pair in dc_paths(element):
            ends.extend(index.setdefault(node, len(index)) for node in pair)
    # sparse components: DRN-1H's 1.6 M conductances took 4 s more as a networkx graph
    pairs = np.array(ends, dtype=np.int64).reshape(-1, 2)
    graph = sp.coo_array((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), (len(index),) * 2)
    labels = connected_components(graph, directed=False)[1]
    names = list(index)
    groups: dict[int, list[str]] = {}
    for position in np.flatnonzero(labels != labels[0]).tolist():
        groups.setdefault(int(labels[position]), []).append(names[position])
    return sorted((sorted(group) for group in groups.values()), key=lambda c: (-len(c), c))


def voltage_loops(circuit: Circuit) -> list[list[str]]:
    """Loops of voltage-defined branches, each as the list of element names in it."""
    graph = nx.MultiGraph()
    loops: list[list[str]] = []
    for element in circuit:
        device = device_for(element)
        if not isinstance(element, _VOLTAGE_DEFINED) and not (
            device is not None and device.has_branch(element)
        ):
            continue
        a, b = element.nodes[0], element.nodes[1]
        if a == b:
            loops.append([element.name])
            continue
        if graph.has_node(a) and graph.has_node(b) and nx.has_path(graph, a, b):
            path = nx.shortest_path(graph, a, b)
            names = [next(iter(graph.get_edge_data(u, v))) for u, v in itertools.pairwise(path)]
            loops.append([*names, element.name])
            continue
        graph.add_edge(a, b, key=element.name)
    return loops


def check_topology(circuit: Circuit) -> None:
    """Raise :class:`CircuitError` naming the first floating island or voltage-source loop.

    ``circuit`` must be flat (see :meth:`Circuit.flatten`).

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource, CurrentSource
    >>> c = Circuit()
    >>> _ = c.add(VoltageSource("v1", "a", "0", 1))
    >>> _ = c.add(CurrentSource("i1", "a", "b", 1e-3))
    >>> check_topology(c)
    Traceback (most recent call last):
    ...
    circuitlearn.errors.CircuitError: floating node b: no DC path to ground ...
    """
    loops = voltage_loops(circuit)
    if loops:
        loop = loops[0]
        raise CircuitError(
            f"loop of voltage sources {' -> '.join(loop)}: their voltages over-determine the loop "
            "(add a series resistance or remove one source)",
            element=loop[-1],
        )
    islands = floating_islands(circuit)
    if islands:
        island = islands[0]
        nodes = ", ".join(island[:8]) + (" ..." if len(island) > 8 else "")
        noun, pronoun = ("node", "it") if len(island) == 1 else ("nodes", "them")
        raise CircuitError(
            f"floating {noun} {nodes}: no DC path to ground "
            f"(connect {pronoun} through a resistor, e.g. a large one to 0)",
            node=island[0],
        )
