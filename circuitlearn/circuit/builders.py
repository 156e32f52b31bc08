"""Circuit builders: networkx graphs ⇄ resistor networks, crossbars, Kendall-style layered networks.

Every builder names its elements and nodes deterministically from the structure (never from a
global counter), so a built circuit and its netlist are the same for the same arguments and seed.

Naming
------
- resistor between nodes ``u`` and ``v``: ``r_<u>_<v>`` (graph edges; crossbars; layers);
- driven input node ``u`` (graphs): voltage source ``v_<u>`` from ``u`` to ground;
- nudging current source on output node ``u``: ``inudge_<u>`` (graphs) or ``inudge_<k>`` (layered),
  0 A, pushing its current *into* the output node (``I 0 out``);
- layered networks: input nodes ``in<i>p`` / ``in<i>n`` driven by ``vin<i>p`` (+x) and ``vin<i>n``
  (−x) (``in<i>`` / ``vin<i>`` when not differential), hidden nodes ``h<l>_<j>`` (layers from 1),
  output nodes ``out<k>``, diode bias nodes ``bias_hi`` / ``bias_lo`` driven by ``vbias_hi`` /
  ``vbias_lo``, diodes ``d_h<l>_<j>_up`` (hidden → bias_hi) and ``d_h<l>_<j>_dn``
  (bias_lo → hidden).
  Unit indices start at 0.
"""

from __future__ import annotations

import copy
import itertools
import math
import re
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np

from circuitlearn._random import Seed, check_random_state
from circuitlearn.circuit.circuit import Circuit
from circuitlearn.circuit.elements import (
    GROUND,
    CurrentSource,
    Diode,
    Element,
    Resistor,
    VoltageSource,
    normalize_node,
)
from circuitlearn.circuit.models import Model
from circuitlearn.errors import CircuitError

__all__ = [
    "DEFAULT_G_RANGE",
    "LayeredNetwork",
    "crossbar",
    "from_networkx",
    "kendall_network",
    "random_resistor_network",
    "to_networkx",
]

DEFAULT_G_RANGE: tuple[float, float] = (1e-5, 1e-4)
"""Default range [S] of random conductances (10 kΩ–100 kΩ), the µS scale of Kendall et al. 2020."""

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
        value = _positive(data[weight], f"edge ({u!r}, {v!r}) {weight}")
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
            VoltageSource(f"v_{name}", name, GROUND, _finite(volts, f"input {node!r} voltage"))
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


def crossbar(
    rows: Sequence[str],
    cols: Sequence[str],
    *,
    conductances: np.ndarray | None = None,
    g_range: tuple[float, float] = DEFAULT_G_RANGE,
    seed: Seed = None,
    circuit: Circuit | None = None,
) -> Circuit:
    """A resistor crossbar: one resistor ``r_<row>_<col>`` between every row and column node.

    Parameters
    ----------
    rows, cols : sequences of node names
    conductances : array of shape (len(rows), len(cols)) [S], optional
        Given conductances; otherwise drawn uniformly from ``g_range`` with ``seed``.
    g_range : (float, float) [S]
        Range of random conductances, ``0 < low <= high``.
    seed : None, int or Generator
    circuit : Circuit, optional
        Add to this circuit (returned) instead of a new one.

    Returns
    -------
    Circuit
        Resistors in row-major order.

    Examples
    --------
    >>> c = crossbar(["a", "b"], ["c"], conductances=np.array([[1e-3], [2e-3]]))
    >>> [(e.name, e.resistance) for e in c]
    [('r_a_c', 1000.0), ('r_b_c', 500.0)]
    """
    rows = [normalize_node(r, element="crossbar") for r in rows]
    cols = [normalize_node(c, element="crossbar") for c in cols]
    if not rows or not cols:
        raise CircuitError(
            "crossbar: needs at least one row and one column node; "
            f"got {len(rows)} rows, {len(cols)} columns"
        )
    shape = (len(rows), len(cols))
    if conductances is None:
        low, high = _check_range(g_range, "crossbar")
        conductances = check_random_state(seed).uniform(low, high, size=shape)
    conductances = np.asarray(conductances, dtype=float)
    if conductances.shape != shape:
        raise CircuitError(
            f"crossbar: conductances must have shape {shape} (rows, columns); "
            f"got {conductances.shape}"
        )
    if not np.all(np.isfinite(conductances)) or np.any(conductances <= 0):
        raise CircuitError(
            "crossbar: conductances must be positive and finite (use a floor such as 1e-9 S)"
        )
    circuit = Circuit("crossbar") if circuit is None else circuit
    resistance = 1.0 / conductances
    for i, row in enumerate(rows):
        for j, col in enumerate(cols):
            circuit.add(Resistor(f"r_{row}_{col}", row, col, float(resistance[i, j])))
    return circuit


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
    low, high = _check_range(g_range, "random_resistor_network")
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


@dataclass(frozen=True)
class LayeredNetwork:
    """A layered (Kendall-style) network and the roles of its elements.

    Attributes
    ----------
    circuit : Circuit
    input_sources : tuple of str
        Voltage sources driving the inputs, in input order: ``vin0p, vin0n, vin1p, ...`` when
        differential, ``vin0, vin1, ...`` otherwise.
    input_nodes : tuple of str
        The nodes those sources drive, in the same order.
    hidden_nodes : tuple of tuple of str
        Node names per hidden layer.
    output_nodes : tuple of str
        ``out0, out1, ...``.
    nudging_sources : tuple of str
        0-A current sources ``inudge_<k>`` injecting into ``out<k>`` (empty when not requested).
    bias_sources : tuple of str
        The diode bias sources ``vbias_lo, vbias_hi`` (empty without hidden layers).
    trainable : tuple of str
        The crossbar resistors, layer by layer, row-major.
    differential : bool
    """

    circuit: Circuit
    input_sources: tuple[str, ...]
    input_nodes: tuple[str, ...]
    hidden_nodes: tuple[tuple[str, ...], ...]
    output_nodes: tuple[str, ...]
    nudging_sources: tuple[str, ...]
    bias_sources: tuple[str, ...]
    trainable: tuple[str, ...]
    differential: bool

    @property
    def n_inputs(self) -> int:
        """Number of (logical) inputs x_i."""
        return len(self.input_sources) // (2 if self.differential else 1)

    def input_values(self, x: Sequence[float] | np.ndarray) -> dict[str, float]:
        """Source voltages [V] for one input vector: ``{vin<i>p: x_i, vin<i>n: −x_i}``.

        Examples
        --------
        >>> net = kendall_network(2, 3, 1, seed=0)
        >>> net.input_values([0.5, -0.25])
        {'vin0p': 0.5, 'vin0n': -0.5, 'vin1p': -0.25, 'vin1n': 0.25}
        """
        x = np.asarray(x, dtype=float).reshape(-1)
        if x.shape != (self.n_inputs,):
            raise CircuitError(f"input vector must have {self.n_inputs} values; got {x.shape[0]}")
        values = np.stack([x, -x], axis=1).reshape(-1) if self.differential else x
        return {name: float(v) for name, v in zip(self.input_sources, values, strict=True)}

    def with_inputs(self, x: Sequence[float] | np.ndarray) -> Circuit:
        """A copy of the circuit with the input sources set to ``x`` (see :meth:`input_values`).

        Elements are immutable, so they are shared with :attr:`circuit` rather than deep-copied
        (about 20× faster than ``Circuit.copy`` on a 160,000-element network).
        """
        values = self.input_values(x)
        source = self.circuit
        circuit = Circuit(source.title)
        for model in source.models.values():
            circuit.add_model(model)
        for sub in source.subcircuits.values():
            circuit.add_subcircuit(copy.deepcopy(sub))
        for name, value in source.params.items():
            circuit.set_param(name, value)
        circuit.extend(
            e.with_values(dc=values[e.name]) if e.name in values else e for e in source.elements
        )
        return circuit


def kendall_network(
    n_inputs: int,
    hidden: int | Sequence[int],
    n_outputs: int,
    *,
    seed: Seed = None,
    g_range: tuple[float, float] = DEFAULT_G_RANGE,
    diode_model: Mapping[str, float] | None = None,
    bias_voltages: tuple[float, float] = (0.0, 0.0),
    differential: bool = True,
    nudging_sources: bool = True,
) -> LayeredNetwork:
    """A layered resistive network with diode nonlinearities, after Kendall et al. (2020).

    Inputs are differential pairs of grounded voltage sources (+x_i, −x_i); each layer is joined to
    the next by a resistor crossbar with random conductances; every hidden node is clamped by two
    diodes, one up to ``bias_hi`` and one down from ``bias_lo``, which gives a soft, saturating
    activation; each output node has a 0-A current source for nudging.

    Parameters
    ----------
    n_inputs : int
        Number of inputs x_i (each is two source nodes when ``differential``).
    hidden : int or sequence of int
        Hidden layer sizes (``0`` or ``[]`` for none: inputs connect straight to the outputs).
    n_outputs : int
    seed : None, int or Generator
        Seeds the conductances (drawn layer by layer, row-major).
    g_range : (float, float) [S]
        Range of the uniform random conductances.
    diode_model : mapping, optional
        Diode ``.model`` parameters (``is``, ``n``, ``rs``...), ngspice defaults otherwise.
    bias_voltages : (float, float) [V]
        ``(low, high)``: voltages of ``vbias_lo`` and ``vbias_hi``; a hidden node above
        ``high + V_D`` or below ``low − V_D`` is clamped by its diodes (V_D ≈ 0.4–0.6 V at µA).
    differential : bool
        Drive each input with a (+x, −x) pair as Kendall et al.; otherwise one source per input.
    nudging_sources : bool
        Add the 0-A current sources ``inudge_<k>`` (``I 0 out<k>``) used by the EP nudged phase.

    Returns
    -------
    LayeredNetwork
        The circuit with its input sources, output nodes and trainable resistors named.

    References
    ----------
    J. Kendall, R. Pantone, K. Manickavasagam, Y. Bengio, B. Scellier, "Training End-to-End Analog
    Neural Networks with Equilibrium Propagation", arXiv:2006.01981 (2020).

    Examples
    --------
    >>> net = kendall_network(2, [3], 2, seed=0)
    >>> net.input_sources, net.output_nodes
    (('vin0p', 'vin0n', 'vin1p', 'vin1n'), ('out0', 'out1'))
    >>> len(net.trainable), net.trainable[0]
    (18, 'r_in0p_h1_0')
    """
    n_inputs = _count(n_inputs, "n_inputs", minimum=1)
    n_outputs = _count(n_outputs, "n_outputs", minimum=1)
    sizes = [hidden] if isinstance(hidden, (int, np.integer)) else list(hidden)
    sizes = [_count(h, "hidden layer size", minimum=0) for h in sizes]
    if 0 in sizes and len(sizes) > 1:
        raise CircuitError(
            f"kendall_network: hidden layer sizes must be positive; got {sizes} "
            "(use [] for no hidden layer)"
        )
    sizes = [h for h in sizes if h > 0]
    low, high = _check_range(g_range, "kendall_network g_range")
    v_lo, v_hi = (_finite(v, "bias voltage") for v in _pair(bias_voltages, "bias_voltages"))
    if v_lo > v_hi:
        raise CircuitError(
            "kendall_network: bias_voltages must be (low, high) with low <= high; "
            f"got {bias_voltages}"
        )
    rng = check_random_state(seed)

    circuit = Circuit(
        f"kendall network {n_inputs}-{'-'.join(map(str, sizes)) or 'none'}-{n_outputs}"
    )
    sources: list[str] = []
    in_nodes: list[str] = []
    for i in range(n_inputs):
        for suffix in ("p", "n") if differential else ("",):
            node = f"in{i}{suffix}"
            circuit.add(VoltageSource(f"v{node}", node, GROUND, 0.0))
            sources.append(f"v{node}")
            in_nodes.append(node)
    hidden_nodes = tuple(
        tuple(f"h{layer}_{j}" for j in range(size)) for layer, size in enumerate(sizes, start=1)
    )
    outputs = tuple(f"out{k}" for k in range(n_outputs))
    layers = [tuple(in_nodes), *hidden_nodes, outputs]
    trainable: list[str] = []
    for before, after in itertools.pairwise(layers):
        start = len(circuit)
        crossbar(before, after, g_range=(low, high), seed=rng, circuit=circuit)
        trainable += [e.name for e in circuit.elements[start:]]
    bias: tuple[str, ...] = ()
    if hidden_nodes:
        circuit.add_model(Model("dact", "d", dict(diode_model or {})))
        circuit.add(VoltageSource("vbias_lo", "bias_lo", GROUND, v_lo))
        circuit.add(VoltageSource("vbias_hi", "bias_hi", GROUND, v_hi))
        bias = ("vbias_lo", "vbias_hi")
        for node in (n for layer in hidden_nodes for n in layer):
            circuit.add(Diode(f"d_{node}_up", node, "bias_hi", "dact"))
            circuit.add(Diode(f"d_{node}_dn", "bias_lo", node, "dact"))
    nudging: tuple[str, ...] = ()
    if nudging_sources:
        nudging = tuple(f"inudge_{k}" for k in range(n_outputs))
        for name, node in zip(nudging, outputs, strict=True):
            circuit.add(CurrentSource(name, GROUND, node, 0.0))
    return LayeredNetwork(
        circuit=circuit,
        input_sources=tuple(sources),
        input_nodes=tuple(in_nodes),
        hidden_nodes=hidden_nodes,
        output_nodes=outputs,
        nudging_sources=nudging,
        bias_sources=bias,
        trainable=tuple(trainable),
        differential=bool(differential),
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


def _positive(value: object, who: str) -> float:
    number = _finite(value, who)
    if number <= 0:
        raise CircuitError(
            f"{who} must be positive; got {value!r} "
            "(remove the edge or use a small floor such as 1e-9 S)"
        )
    return number


def _finite(value: object, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise CircuitError(f"{who} must be a number; got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise CircuitError(f"{who} must be finite; got {value!r}")
    return number


def _pair(value: object, who: str) -> tuple[object, object]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise CircuitError(f"{who} must be a pair (low, high); got {value!r}")
    return value[0], value[1]


def _check_range(g_range: object, who: str) -> tuple[float, float]:
    low, high = (
        _positive(v, f"{who}: conductance bound") for v in _pair(g_range, f"{who}: g_range")
    )
    if low > high:
        raise CircuitError(
            f"{who}: g_range must be (low, high) with low <= high [S]; got {g_range}"
        )
    return low, high


def _count(value: object, who: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise CircuitError(f"kendall_network: {who} must be an integer >= {minimum}; got {value!r}")
    return int(value)
