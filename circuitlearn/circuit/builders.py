"""Circuit builders: resistor crossbars and Kendall-style layered networks.

(networkx graphs ⇄ resistor networks live in :mod:`circuitlearn.circuit.graphs` and are
re-exported here.) Every builder
names its elements and nodes deterministically from the structure (never from a global counter),
so a built circuit and its netlist are the same for the same arguments and seed.

Naming
------
- resistor between nodes ``u`` and ``v``: ``r_<u>_<v>`` (crossbars and layers);
- layered networks: input nodes ``in<i>p`` / ``in<i>n`` driven by ``vin<i>p`` (+x) and ``vin<i>n``
  (−x) (``in<i>`` / ``vin<i>`` when not differential), hidden nodes ``h<l>_<j>`` (layers from 1),
  output nodes ``out<k>`` with 0-A nudging current sources ``inudge_<k>`` (``I 0 out<k>``: a
  positive value injects current into the output), diode bias nodes ``bias_hi`` / ``bias_lo``
  driven by ``vbias_hi`` / ``vbias_lo``, diodes ``d_h<l>_<j>_up`` (hidden → bias_hi) and
  ``d_h<l>_<j>_dn`` (bias_lo → hidden) — or, with ``activation="nmos"``, diode-connected NMOS
  transistors ``m_h<l>_<j>_up`` / ``m_h<l>_<j>_dn`` on the same edges; with ``activation="relu"``
  the first half of each layer's units have only the ``dn`` diode and the second half only the
  ``up`` one. Unit indices start at 0.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from circuitlearn._random import Seed, check_random_state
from circuitlearn.circuit._checks import (
    DEFAULT_G_RANGE,
    check_count,
    check_finite,
    check_g_range,
    check_pair,
)
from circuitlearn.circuit.circuit import Circuit
from circuitlearn.circuit.elements import (
    CCCS,
    GROUND,
    VCVS,
    CurrentSource,
    Diode,
    Mosfet,
    Resistor,
    VoltageSource,
    normalize_node,
)
from circuitlearn.circuit.graphs import from_networkx, random_resistor_network, to_networkx
from circuitlearn.circuit.models import Model
from circuitlearn.errors import CircuitError

__all__ = [
    "ACTIVATIONS",
    "DEFAULT_BIAS_VOLTAGES",
    "DEFAULT_G_RANGE",
    "MAX_BIAS_OVERLAP",
    "NMOS_ACTIVATION_MODEL",
    "LayeredNetwork",
    "crossbar",
    "from_networkx",
    "kendall_network",
    "random_resistor_network",
    "to_networkx",
]


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
        low, high = check_g_range(g_range, "crossbar")
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
    amplifiers : tuple of str
        The VCVS buffers ``e_h<l>_<j>`` (empty unless built with ``amplifier_gain``).
    clamps : tuple of tuple of str
        The diodes (or NMOS) clamping each hidden layer's nodes, layer by layer.
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
    amplifiers: tuple[str, ...] = ()
    clamps: tuple[tuple[str, ...], ...] = ()

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

    def trained(
        self,
        conductances: Sequence[float] | np.ndarray,
        source_voltages: Sequence[float] | np.ndarray,
    ) -> Circuit:
        """A copy of the circuit with the trainable resistors at ``conductances`` [S] and the
        input sources at ``source_voltages`` [V] (both in this network's orders): a trained
        network set up for one sample, as exported to ngspice."""
        circuit = self.circuit.copy()
        g = np.asarray(conductances, dtype=float).tolist()
        for name, value in zip(self.trainable, g, strict=True):
            circuit.replace(circuit[name].with_conductance(value))
        volts = np.asarray(source_voltages, dtype=float).tolist()
        for source, value in zip(self.input_sources, volts, strict=True):
            circuit.set_value(source, value)
        return circuit

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


ACTIVATIONS = ("diode", "nmos", "relu")
"""Hidden-node clamps of :func:`kendall_network`: two junction diodes or two diode-connected NMOS
per node (a saturating activation), or one diode per node (``relu``: rectifying units, half of
each layer excitatory and half inhibitory, as Scellier's deep resistive networks)."""

DEFAULT_BIAS_VOLTAGES = (0.3, -0.3)
"""[V] Default diode rails (low, high) of :func:`kendall_network`: overlapping by 0.6 V, so both
diodes of a hidden node near 0 V are 0.3 V forward and the activation is soft and nonlinear
everywhere (with (0, 0) a random network's hidden nodes sit near 0 V with every diode off, and
the network is linear)."""

NMOS_ACTIVATION_MODEL = {"level": 1.0, "vto": 0.3, "kp": 2e-4}
"""Level-1 NMOS of the ``nmos`` activation: diode-connected (gate on drain, bulk on source), each
conducts ½·KP·(V − VTO)² above VTO = 0.3 V (W = L): 2.25 µA at 0.45 V, where its conductance is
30 µS, comparable to the default crossbar conductances."""

MAX_BIAS_OVERLAP = 1.3
"""[V] Largest ``low − high`` of ``kendall_network``'s bias rails: two diodes in series between
them then carry about 10 mA at most (IS = 1e-14 A)."""


def kendall_network(
    n_inputs: int,
    hidden: int | Sequence[int],
    n_outputs: int,
    *,
    seed: Seed = None,
    g_range: tuple[float, float] = DEFAULT_G_RANGE,
    diode_model: Mapping[str, float] | None = None,
    bias_voltages: tuple[float, float] = DEFAULT_BIAS_VOLTAGES,
    differential: bool = True,
    nudging_sources: bool = True,
    amplifier_gain: float | None = None,
    feedback_gain: float | None = None,
    activation: str = "diode",
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
        With ``low > high`` (by at most :data:`MAX_BIAS_OVERLAP`) both diodes of a node conduct
        around (low + high)/2: a narrower, always-nonlinear activation (a random network's
        hidden nodes sit near 0 V, a weighted mean of the ± inputs, where (0, 0) leaves every
        diode off; the default :data:`DEFAULT_BIAS_VOLTAGES` (0.3, −0.3) puts each diode 0.3 V
        forward there, (0.6, −0.6) 0.6 V).
    differential : bool
        Drive each input with a (+x, −x) pair as Kendall et al.; otherwise one source per input.
    nudging_sources : bool
        Add the 0-A current sources ``inudge_<k>`` (``I 0 out<k>``) used by the EP nudged phase.
    amplifier_gain : float, optional
        Buffer every hidden node ``h<l>_<j>`` with a VCVS ``e_h<l>_<j>`` of this gain driving a
        node ``h<l>_<j>_a``, from which the next crossbar starts. Signals then flow forward only:
        the network is non-reciprocal, so plain EP is biased while AEP and Dyadic EP stay exact.
        (Kendall et al. use bidirectional amplifiers; a one-way buffer is the simplest
        non-reciprocal stage.)
    feedback_gain : float, optional
        Make each buffer a *bidirectional* amplifier: the current I that node ``h<l>_<j>_a``
        delivers to the next crossbar (sensed by a 0-V source ``vs_h<l>_<j>``) is copied back,
        times this gain, as a current drawn from ``h<l>_<j>`` (a CCCS ``f_h<l>_<j>``). Equal
        forward and backward gains make an ideal transformer (reciprocal); unequal gains a
        non-reciprocal stage whose feedback still carries a (distorted) error signal.
        Needs ``amplifier_gain``.
    activation : {"diode", "nmos", "relu"}
        The clamps of each hidden node: junction diodes (model ``dact``, ``diode_model``), or
        diode-connected level-1 NMOS transistors (model ``mact``, :data:`NMOS_ACTIVATION_MODEL`
        updated by ``diode_model``) whose square-law turn-on replaces the exponential; or
        ``relu``: one junction diode per node, so that each unit rectifies instead of saturating.
        The first ⌈n/2⌉ units of a layer are excitatory (only the diode from ``bias_lo``: the node
        stays above about ``low − V_D`` and is linear above it), the others inhibitory (only the
        diode to ``bias_hi``: below about ``high + V_D``). The next crossbar's conductances are
        positive, so the inhibitory half is what lets a unit act on the next layer with either
        sign (Scellier's deep resistive networks use the same split with ideal diodes).

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
    n_inputs = check_count(n_inputs, "n_inputs", minimum=1)
    n_outputs = check_count(n_outputs, "n_outputs", minimum=1)
    sizes = [hidden] if isinstance(hidden, (int, np.integer)) else list(hidden)
    sizes = [check_count(h, "hidden layer size", minimum=0) for h in sizes]
    if 0 in sizes and len(sizes) > 1:
        raise CircuitError(
            f"kendall_network: hidden layer sizes must be positive; got {sizes} "
            "(use [] for no hidden layer)"
        )
    sizes = [h for h in sizes if h > 0]
    low, high = check_g_range(g_range, "kendall_network g_range")
    v_lo, v_hi = (
        check_finite(v, "bias voltage") for v in check_pair(bias_voltages, "bias_voltages")
    )
    if v_lo - v_hi > MAX_BIAS_OVERLAP and activation != "relu":
        raise CircuitError(
            f"kendall_network: bias_voltages (low, high) = {bias_voltages} put both diodes of a "
            f"hidden node {v_lo - v_hi:.3g} V forward in series; low − high must be at most "
            f"{MAX_BIAS_OVERLAP} V (about two diode drops at 1 mA)"
        )
    gain = None if amplifier_gain is None else check_finite(amplifier_gain, "amplifier_gain")
    if gain == 0.0:
        raise CircuitError(
            "kendall_network: amplifier_gain must be nonzero (or None for no buffer)"
        )
    feedback = None if feedback_gain is None else check_finite(feedback_gain, "feedback_gain")
    if feedback is not None and gain is None:
        raise CircuitError("kendall_network: feedback_gain needs amplifier_gain (the forward gain)")
    if activation not in ACTIVATIONS:
        raise CircuitError(
            f"kendall_network: activation must be one of {', '.join(ACTIVATIONS)}; "
            f"got {activation!r}"
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
    drivers = [tuple(f"{n}_a" for n in layer) if gain else layer for layer in hidden_nodes]
    trainable: list[str] = []
    for before, after in zip([tuple(in_nodes), *drivers], [*hidden_nodes, outputs], strict=True):
        start = len(circuit)
        crossbar(before, after, g_range=(low, high), seed=rng, circuit=circuit)
        trainable += [e.name for e in circuit.elements[start:]]
    bias: tuple[str, ...] = ()
    if hidden_nodes:
        if activation != "nmos":
            circuit.add_model(Model("dact", "d", dict(diode_model or {})))
        else:
            params = {**NMOS_ACTIVATION_MODEL, **(diode_model or {})}
            circuit.add_model(Model("mact", "nmos", params))
        circuit.add(VoltageSource("vbias_lo", "bias_lo", GROUND, v_lo))
        circuit.add(VoltageSource("vbias_hi", "bias_hi", GROUND, v_hi))
        bias = ("vbias_lo", "vbias_hi")
    clamps: list[tuple[str, ...]] = []
    for layer in hidden_nodes:
        start = len(circuit)
        excitatory = -(-len(layer) // 2)
        for j, node in enumerate(layer):
            edges = (("up", (node, "bias_hi")), ("dn", ("bias_lo", node)))
            if activation == "relu":
                edges = edges[1:] if j < excitatory else edges[:1]
            for edge, (upper, lower) in edges:
                if activation != "nmos":
                    circuit.add(Diode(f"d_{node}_{edge}", upper, lower, "dact"))
                else:  # drain and gate on the upper node, source and bulk on the lower
                    circuit.add(Mosfet(f"m_{node}_{edge}", upper, upper, lower, lower, "mact"))
        clamps.append(tuple(e.name for e in circuit.elements[start:]))
    amplifiers: tuple[str, ...] = ()
    if gain:
        amplifiers = tuple(f"e_{n}" for layer in hidden_nodes for n in layer)
        for name, node in zip(
            amplifiers, (n for layer in hidden_nodes for n in layer), strict=True
        ):
            if feedback is None:
                circuit.add(VCVS(name, f"{node}_a", GROUND, node, GROUND, gain))
                continue
            circuit.add(VCVS(name, f"{node}_s", GROUND, node, GROUND, gain))
            circuit.add(VoltageSource(f"vs_{node}", f"{node}_s", f"{node}_a", 0.0))
            circuit.add(CCCS(f"f_{node}", node, GROUND, f"vs_{node}", feedback))
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
        amplifiers=amplifiers,
        clamps=tuple(clamps),
    )
