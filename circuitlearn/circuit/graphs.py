"""networkx graphs ⇄ resistor networks: :func:`from_networkx`, :func:`to_networkx` and
:func:`random_resistor_network`.

Naming (deterministic, from the graph): resistor ``r_<u>_<v>`` per edge (``r_<u>_<v>_<key>`` for
parallel edges; an edge's ``name`` attribute wins); voltage source ``v_<u>`` from a driven input
node ``u`` to ground; 0-A nudging current source ``inudge_<u>`` (``I 0 u``) on an output node.
Integer graph nodes become ``n<k>``, tuples ``n<i>_<j>``, strings are lower-cased.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Mapping

import networkx as nx
import numpy as np

from circuitlearn._random import Seed, check_random_state
from circuitlearn.circuit._checks import (
    DEFAULT_G_RANGE,
    check_finite,
    check_g_range,
    check_positive,
)
from circuitlearn.circuit.circuit import Circuit
from circuitlearn.circuit.elements import (
    GROUND,
    CurrentSource,
    Element,
    Resistor,
    VoltageSource,
    normalize_node,
)
from circuitlearn.errors import CircuitError

__all__ = ["from_networkx", "random_resistor_network", "to_networkx"]

_WEIGHTS = ("conductance", "resistance")


def from_networkx(
    graph: nx.Graph,
    *,
    inputs: Mapping[Hashable, float] | None = None,
    outputs: Iterable[Hashable] = (),
    weight: str = "conductance",
    ground: Hashable | None = None,
    title: str = "networkx resistor network",
) -> Circuit:
    """A resistor network from a networkx graph.

    Parameters
    ----------
    graph : networkx.Graph or MultiGraph
        Each edge carries the attribute named by ``weight``. An edge with a ``name`` attribute keeps
        that element name; an edge carrying an ``element`` attribute (as :func:`to_networkx` writes
        for non-resistors) adds that element unchanged.
    inputs : mapping node → voltage [V], optional
        Nodes driven by a grounded voltage source ``v_<node>``.
    outputs : iterable of nodes
        Nodes that get a 0-A nudging current source ``inudge_<node>`` (``I 0 node``).
    weight : {"conductance", "resistance"}
        Which edge attribute holds the value: conductance [S] or resistance [Ω].
    ground : node, optional
        The graph node that becomes ground ``0``; by default the first of ``0``, ``"0"``,
        ``"gnd"`` found in the graph.
    title : str

    Returns
    -------
    Circuit

    Notes
    -----
    Node names: strings are lower-cased (``gnd`` and ``0`` are reserved for ``ground``); an integer
    ``5`` becomes ``n5``; a tuple ``(1, 2)`` becomes ``n1_2``. Resistors are named ``r_<u>_<v>``
    (``r_<u>_<v>_<key>`` for parallel edges of a MultiGraph).

    Examples
    --------
    >>> import networkx as nx
    >>> g = nx.path_graph(3)
    >>> nx.set_edge_attributes(g, 1e-3, "conductance")
    >>> c = from_networkx(g, inputs={2: 1.0})
    >>> [e.name for e in c]
    ['r_0_n1', 'r_n1_n2', 'v_n2']
    """
    if not isinstance(graph, nx.Graph):
        raise CircuitError(f"from_networkx: expected a networkx graph; got {type(graph).__name__}")
    if graph.is_directed():
        graph = graph.to_undirected(as_view=True)
    if weight not in _WEIGHTS:
        raise CircuitError(
            f"from_networkx: weight must be one of {', '.join(_WEIGHTS)}; got {weight!r}"
        )
    ground = _find_ground(graph, ground)
    names = _node_names(graph, ground)
    circuit = Circuit(title)
    multi = graph.is_multigraph()
    edges = (
        graph.edges(keys=True, data=True)
        if multi
        else ((u, v, None, d) for u, v, d in graph.edges(data=True))
    )
    for u, v, key, data in edges:
        a, b = names[u], names[v]
        element = data.get("element")
        if element is not None:
            if not isinstance(element, Element):
                raise CircuitError(
                    f"from_networkx: edge ({u!r}, {v!r}) has a non-element 'element' attribute "
                    f"{element!r}"
                )
            circuit.add(element)
            continue
        if weight not in data:
            raise CircuitError(
                f"from_networkx: edge ({u!r}, {v!r}) has no {weight!r} attribute "
                f"(set it on every edge, e.g. nx.set_edge_attributes(graph, 1e-4, {weight!r}))"
            )
        value = check_positive(data[weight], f"edge ({u!r}, {v!r}) {weight}")
        resistance = 1.0 / value if weight == "conductance" else value
        default = f"r_{a}_{b}" + (f"_{_token(key)}" if multi and key != 0 else "")
        circuit.add(Resistor(str(data.get("name", default)), a, b, resistance))
    for node, volts in (inputs or {}).items():
        name = _mapped(names, node, "inputs")
        if name == GROUND:
            raise CircuitError(
                f"from_networkx: input node {node!r} is the ground node; drive another node"
            )
        circuit.add(
            VoltageSource(f"v_{name}", name, GROUND, check_finite(volts, f"input {node!r} voltage"))
        )
    for node in outputs:
        name = _mapped(names, node, "outputs")
        if name == GROUND:
            raise CircuitError(f"from_networkx: output node {node!r} is the ground node")
        circuit.add(CurrentSource(f"inudge_{name}", GROUND, name, 0.0))
    return circuit


def to_networkx(circuit: Circuit) -> nx.MultiGraph:
    """The circuit as an undirected multigraph, one edge per element (keyed by element name).

    Resistors become edges with ``conductance`` [S], ``resistance`` [Ω], ``name`` and
    ``kind="resistor"``; every other element becomes an edge between its first two nodes with
    ``name``, ``kind`` (e.g. ``"voltage source"``) and ``element`` (the element itself, so that
    :func:`from_networkx` restores it). Ground is node ``"0"``. A circuit with subcircuits or
    ``.param`` expressions is flattened first.

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> c = Circuit()
    >>> _ = c.add(VoltageSource("v1", "a", "0", 1.0)); _ = c.add(Resistor("r1", "a", "0", 1e3))
    >>> g = to_networkx(c)
    >>> g.edges["a", "0", "r1"]["conductance"]
    0.001
    """
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"to_networkx: expected a Circuit; got {type(circuit).__name__}")
    flat = circuit if circuit.is_flat() else circuit.flatten()
    graph = nx.MultiGraph(title=flat.title)
    graph.add_node(GROUND)
    graph.add_nodes_from(flat.nodes)
    for element in flat:
        a, b = element.nodes[0], element.nodes[1]
        if isinstance(element, Resistor):
            graph.add_edge(
                a,
                b,
                key=element.name,
                name=element.name,
                kind=element.kind,
                conductance=element.conductance,
                resistance=float(element.resistance),
            )
        else:
            graph.add_edge(
                a, b, key=element.name, name=element.name, kind=element.kind, element=element
            )
    return graph


def random_resistor_network(
    graph: nx.Graph,
    *,
    inputs: Mapping[Hashable, float] | None = None,
    outputs: Iterable[Hashable] = (),
    g_range: tuple[float, float] = DEFAULT_G_RANGE,
    seed: Seed = None,
    ground: Hashable | None = None,
) -> Circuit:
    """A resistor on every edge of ``graph`` with a random conductance drawn from ``g_range``.

    Conductances are drawn uniformly in the graph's edge order; the graph is not modified. Other
    arguments as in :func:`from_networkx`.

    Examples
    --------
    >>> import networkx as nx
    >>> c = random_resistor_network(nx.cycle_graph(4), inputs={1: 1.0}, seed=0)
    >>> len(c), c == random_resistor_network(nx.cycle_graph(4), inputs={1: 1.0}, seed=0)
    (5, True)
    """
    if not isinstance(graph, nx.Graph):
        raise CircuitError(
            f"random_resistor_network: expected a networkx graph; got {type(graph).__name__}"
        )
    low, high = check_g_range(g_range, "random_resistor_network")
    weighted = nx.MultiGraph(graph) if graph.is_multigraph() else nx.Graph(graph)
    values = check_random_state(seed).uniform(low, high, size=weighted.number_of_edges())
    edges = weighted.edges(keys=True) if weighted.is_multigraph() else weighted.edges()
    for edge, g in zip(edges, values, strict=True):
        weighted.edges[edge]["conductance"] = float(g)
    return from_networkx(
        weighted,
        inputs=inputs,
        outputs=outputs,
        weight="conductance",
        ground=ground,
        title="random resistor network",
    )


# -- private helpers --------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^a-z0-9_.+\-]")


def _token(node: Hashable) -> str:
    """A node-name-safe token for a graph node (ints and tuples get no prefix here)."""
    if isinstance(node, tuple):
        return "_".join(_token(n) for n in node)
    return _UNSAFE.sub("_", str(node).strip().lower())


def _find_ground(graph: nx.Graph, ground: Hashable | None) -> Hashable:
    if ground is None:
        for candidate in (0, "0", "gnd", "GND"):
            if candidate in graph and not isinstance(candidate, bool):
                return candidate
        raise CircuitError(
            "from_networkx: no ground node: the graph has none of 0, '0', 'gnd' "
            "(pass ground=<one of its nodes>)"
        )
    if ground not in graph:
        raise CircuitError(
            f"from_networkx: ground node {ground!r} is not in the graph "
            "(pass ground=<one of its nodes>)"
        )
    return ground


def _node_names(graph: nx.Graph, ground: Hashable) -> dict[Hashable, str]:
    names: dict[Hashable, str] = {}
    seen: dict[str, Hashable] = {}
    for node in graph.nodes:
        if node == ground:
            names[node] = GROUND
            continue
        if isinstance(node, str):
            name = normalize_node(_token(node), element="from_networkx")
            if name == GROUND:
                raise CircuitError(
                    f"from_networkx: node {node!r} reads as ground but ground={ground!r}; "
                    f"rename it or pass ground={node!r}"
                )
        elif isinstance(node, (int, np.integer, tuple)) and not isinstance(node, bool):
            name = f"n{_token(node)}"
        else:
            raise CircuitError(
                f"from_networkx: node {node!r}: nodes must be strings, ints or tuples of them"
            )
        if name in seen:
            raise CircuitError(
                f"from_networkx: nodes {seen[name]!r} and {node!r} both map to node name {name!r}"
            )
        seen[name] = node
        names[node] = name
    return names


def _mapped(names: Mapping[Hashable, str], node: Hashable, what: str) -> str:
    if node not in names:
        raise CircuitError(f"from_networkx: {what} node {node!r} is not in the graph")
    return names[node]
