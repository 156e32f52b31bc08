"""The ngspice backend: DC operating points computed by ngspice itself.

Two ways to run ngspice, one result type (:class:`~circuitlearn.solve.result.OperatingPoint`):

- ``mode="shared"``: ngspice's shared library (``libngspice``) in this process, through PySpice
  1.5's ``NgSpiceShared`` (0.3-0.7 ms per one-off solve of a small circuit, flattening and
  topology checks included; 0.06-0.09 ms per ``alter`` + ``op`` in an :class:`NgspiceSession`;
  the native check of the answer adds 0.1-2 ms, see :func:`solve_ngspice`). With
  :mod:`circuitlearn.solve.pyspice_adapter`, the only modules that import PySpice. Vectors are
  read with
  ``ngGet_Vec_Info`` directly (PySpice's analysis objects break under numpy 2), and PySpice's
  habit of logging ngspice's stderr notes as errors is replaced by keeping them as text.
- ``mode="subprocess"``: ``ngspice -b deck.cir`` in a temporary directory; the deck's
  ``.control`` block runs ``op``, writes the vectors to a binary raw file and prints
  ``rusage totiter``.

``mode="auto"`` uses the library when it loads and the executable otherwise.

Conventions, checked against ngspice 39 in ``tests/solve/test_ngspice.py``:

- ``currents[v]`` is ngspice's ``i(v)``: the current flowing from the ``+`` node through the source
  to the ``-`` node, so a source delivering power reads negative. E and H sources report theirs
  the same way; sources inside subcircuits are named ``v.x1.v1``.
- A VCCS ``g p n cp cn GM`` and a CCCS ``f p n vc GAIN`` push their current from ``p`` through
  the element into ``n`` (a positive value raises ``v(n)`` when ``n`` is loaded by a resistor).
- Names are lower-case; ngspice's device-internal nodes (``d1#internal``...) are dropped.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import logging
import math
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import scipy.sparse.linalg as spla

from circuitlearn.circuit import (
    CCCS,
    CCVS,
    MAIN_VALUE,
    VCCS,
    VCVS,
    Circuit,
    CodeModelInstance,
    CurrentSource,
    Model,
    OpaqueElement,
    Resistor,
    VoltageSource,
    check_topology,
)
from circuitlearn.circuit.devices import DEVICES, device_for
from circuitlearn.circuit.models import ModelText
from circuitlearn.circuit.units import format_value
from circuitlearn.errors import BackendError, CircuitError, ConvergenceError
from circuitlearn.solve._ngspice_log import (
    NGSPICE_OPTIONS,
    SPICE_OPTIONS,
    Layout,
    assemble,
    load_errors,
    quote_errors,
    total_iterations,
    validate_options,
    vector_key,
)
from circuitlearn.solve._ngspice_raw import (
    INSTALL_HINT,
    BatchRun,
    RawPlot,
    find_ngspice_binary,
    read_raw,
    run_batch,
)
from circuitlearn.solve.deck_options import native_refusal
from circuitlearn.solve.mna import MNASystem, compile_circuit
from circuitlearn.solve.newton import ABSTOL, RELTOL, VNTOL
from circuitlearn.solve.result import MESSAGES, OperatingPoint

__all__ = [
    "MODES",
    "NGSPICE_OPTIONS",
    "NGSPICE_TOLERANCES",
    "SPICE_OPTIONS",
    "BatchRun",
    "NgspiceSession",
    "RawPlot",
    "ngspice_available",
    "read_raw",
    "run_ngspice_batch",
    "solve_ngspice",
]

MODES = ("auto", "shared", "subprocess")
"""How :func:`solve_ngspice` runs ngspice (see the module docstring)."""

SUBPROCESS_TIMEOUT = 120.0
"""Wall-clock limit of one ``ngspice -b`` run [s]."""

NGSPICE_TOLERANCES: dict[str, float] = {"reltol": 1e-3, "vntol": 1e-6, "abstol": 1e-12}
"""ngspice's own defaults, in force with ``spice_options="deck"`` unless the deck sets them."""

_HISTORY_FLUSH = 1000
"""Commands between two ``ngSpice_Command(NULL)`` calls, which free ngspice's command history
(PySpice does the same every 10,000 commands) so that memory stays flat over long sessions."""

_ALTER_PARAMETER: dict[type, str] = {
    Resistor: "",
    VoltageSource: "dc",
    CurrentSource: "dc",
    VCVS: "gain",
    VCCS: "gain",
    CCCS: "gain",
    CCVS: "gain",
    **{d.element_class: d.alter_parameter for d in DEVICES if d.alter_parameter is not None},
}
"""The ngspice parameter ``alter`` changes per element type ('' = the main value, as in
``alter r1 = 2k``)."""

_LOCK = threading.RLock()


def solve_ngspice(
    circuit: Circuit,
    *,
    x0: OperatingPoint | None = None,
    options: Mapping[str, Any] | None = None,
    raise_on_failure: bool = False,
    mode: str = "auto",
) -> OperatingPoint:
    """DC operating point of ``circuit`` computed by ngspice.

    Parameters
    ----------
    circuit : Circuit
        Flattened here (subcircuit elements become ``r.x1.r1``, nodes ``x1.n1``).
    x0 : OperatingPoint, optional
        Initial guess, passed to ngspice as ``.nodeset`` cards.
    options : mapping, optional
        ngspice ``.options`` from :data:`NGSPICE_OPTIONS` (``reltol``, ``abstol``, ``vntol``,
        ``gmin``, ``itl1``, ``gminsteps``, ``srcsteps``, ``noopiter``...), written over the
        deck's own ``circuit.options``; and ``spice_options``: ``"native"`` (default) runs
        ngspice at the native solver's tolerances (``RELTOL``, ``VNTOL``, ``ABSTOL`` replace the
        deck's), so both backends agree far beyond the 6th digit; ``"deck"`` keeps the deck's
        ``.options`` as written (ngspice's defaults for the rest); ``verify`` (default True):
        ``False`` skips the native check of a converged answer (see Notes), which costs a
        native compilation and, with diode or MOSFET series resistances, a solve of their
        internal nodes (0.5-2 ms on the example decks).
    raise_on_failure : bool
        Raise :class:`ConvergenceError` (carrying the result) instead of returning
        ``converged=False``.
    mode : {"auto", "shared", "subprocess"}

    Returns
    -------
    OperatingPoint
        ``backend="ngspice"``; ``iterations`` is ngspice's ``rusage totiter`` (all rungs);
        ``strategy`` is ``"newton"``, ``"gmin"``, ``"source"`` or ``"optran"`` (ngspice 39's
        transient-op fallback) as read from its log; ``homotopy`` lists every gmin/source step
        the log shows (ngspice reports no per-step iteration counts: they are 0);
        ``max_residual`` is the largest KCL residual of ngspice's answer under the native
        device models [A] (NaN when the native solver does not model the circuit's options).

    Raises
    ------
    CircuitError
        Floating node or voltage-source loop (named, before ngspice runs), unknown option, bad
        ``x0`` or ``mode``.
    BackendError
        ngspice is missing, refuses the netlist (the log tail is in ``.log``) or crashes.
    ConvergenceError
        With ``raise_on_failure``, when ngspice finds no operating point or a singular matrix.

    Notes
    -----
    ngspice exits normally on a singular matrix (it warns ``singular matrix: check node X`` and
    its transient-op fallback may return a meaningless answer); this backend reports such a run
    as ``converged=False`` with the node named in ``message`` and ``worst_node``. An answer
    ngspice calls converged is checked before it is reported so: every value must be finite,
    and, where the native solver models the circuit, one native Newton step from it must pass
    ngspice's own update test (``reltol``·|x| + ``vntol`` per node, + ``abstol`` per branch
    current, at the tolerances ngspice ran with), |x| being at least the circuit's largest node
    voltage (branch or source current) so that rounding amplified by a high gain at a node near
    0 V is not taken for a wrong answer; otherwise (also when the native Jacobian is singular
    there) the result is ``converged=False`` naming the worst node.

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> c = Circuit("divider")
    >>> _ = c.add(VoltageSource("v1", "in", "0", 1.0)); _ = c.add(Resistor("r1", "in", "out", 1e3))
    >>> _ = c.add(Resistor("r2", "out", "0", 3e3))
    >>> op = solve_ngspice(c)
    >>> round(op.voltages["out"], 6), round(op.currents["v1"], 9)
    (0.75, -0.00025)
    """
    if mode not in MODES:
        raise CircuitError(
            f"ngspice backend: unknown mode {mode!r}; expected one of {', '.join(MODES)}"
        )
    deck = _prepare(circuit, options, x0)
    use_shared = mode == "shared" or (mode == "auto" and _engine(required=False) is not None)
    if use_shared:
        values, log, iterations = _run_shared(deck.body)
    elif mode == "auto" and find_ngspice_binary() is None:
        raise BackendError(
            "ngspice is not available: neither its shared library nor its executable was "
            f"found; {INSTALL_HINT}"
        )
    else:
        values, log, iterations = _run_subprocess(deck.body)
    result = deck.verify(
        assemble(Layout.of(deck.flat), values, log, iterations, newton_tried=deck.newton_tried)
    )
    if x0 is None and result.message.startswith(MESSAGES["unverified"]):
        # ngspice's Newton loop can stop a few vntol short of the solution of its own equations;
        # started again from its answer (.nodeset), it finishes: keep that run if it passes
        again = solve_ngspice(circuit, options=options, x0=result, mode=mode)
        if again.converged:
            again.message = (
                "converged (ngspice run again from its first answer, which stopped short of "
                f"the tolerances at {result.worst_node})"
            )
            again.iterations += result.iterations
            result = again
    if raise_on_failure and not result.converged:
        raise ConvergenceError(
            f"ngspice found no operating point for {circuit.title!r}: {result.message}",
            result=result,
        )
    return result


class NgspiceSession:
    """Repeated operating points of one circuit, changing values with ngspice's ``alter``.

    The netlist is parsed once; each :meth:`op` costs one ngspice ``op`` plus reading the
    vectors. Values changed with :meth:`alter` persist until changed again. Needs the shared
    library (``mode="shared"`` of :func:`solve_ngspice`).

    Parameters
    ----------
    circuit : Circuit
    options : mapping, optional
        As in :func:`solve_ngspice`.

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> c = Circuit("divider")
    >>> _ = c.add(VoltageSource("v1", "in", "0", 1.0)); _ = c.add(Resistor("r1", "in", "out", 1e3))
    >>> _ = c.add(Resistor("r2", "out", "0", 1e3))
    >>> with NgspiceSession(c) as session:
    ...     session.alter("v1", 2.0)
    ...     round(session.op().voltages["out"], 9)
    1.0
    """

    def __init__(self, circuit: Circuit, *, options: Mapping[str, Any] | None = None) -> None:
        self._deck = _prepare(circuit, options, None)
        self.circuit = self._deck.flat
        self._layout = Layout.of(self.circuit)
        self._engine = _engine(required=True)
        self._values: dict[str, float] = {}
        self._iterations = 0
        self._closed = False
        self.last_log = ""
        """ngspice's output during the last :meth:`op` (notes, warnings, stepping)."""

    def alter(self, element: str, value: float) -> None:
        """Set ``element``'s main value (R [Ω], V/I dc [V]/[A], E/G/F/H gain, D area).

        Raises
        ------
        CircuitError
            Unknown element, an element without a single value, or an invalid value.
        """
        name = str(element).strip().lower()
        if name not in self.circuit:
            raise CircuitError(
                f"NgspiceSession.alter: no element {element!r} in the flat circuit "
                f"(subcircuit elements are named like r.x1.r1)",
                element=name,
            )
        target = self.circuit[name]
        if type(target) not in _ALTER_PARAMETER:
            raise CircuitError(
                f"NgspiceSession.alter: {target.kind} {name} has no single value to alter",
                element=name,
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CircuitError(
                f"NgspiceSession.alter: {target.kind} {name}: the value must be a number; "
                f"got {value!r}",
                element=name,
            )
        target.with_values(**{MAIN_VALUE[type(target)]: value})  # validates (positive R, finite...)
        value = float(value)
        with _LOCK:
            self._check_open()
            if self._engine.owner is self:
                self._engine.command(_alter_command(target, value))
            self._values[name] = value
            self._deck.altered(target, value)

    def alter_many(self, values: Mapping[str, float]) -> None:
        """:meth:`alter` for each ``{element: value}`` (e.g. one input vector of a dataset)."""
        for element, value in values.items():
            self.alter(element, value)

    def op(self, *, raise_on_failure: bool = False) -> OperatingPoint:
        """The operating point with the current values (see :func:`solve_ngspice`)."""
        with _LOCK:
            self._check_open()
            engine = self._engine
            if engine.owner is not self:
                engine.load(self._deck.body, owner=self)
                self._iterations = 0
                for name, value in self._values.items():
                    engine.command(_alter_command(self.circuit[name], value))
            log = engine.command("op")
            values = engine.vectors()
            engine.command("destroy all")
            total = total_iterations(engine.command("rusage totiter")) or 0
        iterations, self._iterations = total - self._iterations, total
        self.last_log = log
        result = self._deck.verify(
            assemble(self._layout, values, log, iterations, newton_tried=self._deck.newton_tried)
        )
        if raise_on_failure and not result.converged:
            raise ConvergenceError(
                f"ngspice found no operating point: {result.message}", result=result
            )
        return result

    def close(self) -> None:
        """Remove the circuit from ngspice (idempotent)."""
        with _LOCK:
            if not self._closed and self._engine.owner is self:
                self._engine.unload()
            self._closed = True

    def __enter__(self) -> NgspiceSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter shutdown there is nothing to clean
            self.close()

    def __repr__(self) -> str:
        return (
            f"NgspiceSession({self.circuit.title!r}, altered={len(self._values)}, "
            f"closed={self._closed})"
        )

    def _check_open(self) -> None:
        if self._closed:
            raise BackendError("NgspiceSession is closed; create a new one")


def ngspice_available(mode: str = "auto") -> bool:
    """Whether ngspice can run here: the shared library (``"shared"``), the executable
    (``"subprocess"``), or either (``"auto"``)."""
    if mode not in MODES:
        raise CircuitError(
            f"ngspice_available: unknown mode {mode!r}; expected one of {', '.join(MODES)}"
        )
    shared = mode != "subprocess" and _engine(required=False) is not None
    binary = mode != "shared" and find_ngspice_binary() is not None
    return shared or binary


def run_ngspice_batch(netlist: str, *, timeout: float = SUBPROCESS_TIMEOUT) -> BatchRun:
    """Run ``ngspice -b -r out.raw`` on netlist text, exactly as a user would.

    Returns the exit code (1 when ngspice refuses the netlist), the merged log, and the plots of
    the raw file (the deck's ``.op`` writes one). Used to check exported netlists.

    Raises
    ------
    BackendError
        No ``ngspice`` executable, or a run past ``timeout`` [s].
    """
    return run_batch(netlist, raw=True, timeout=timeout)


# -- preparation and results ------------------------------------------------------------------
@dataclass
class _Deck:
    """One circuit made ready for ngspice, and what checks ngspice's answers."""

    flat: Circuit
    body: str
    """The netlist without analysis card, ending with ``.end``."""
    options: dict[str, float | str | bool]
    """The ``.options`` written (deck's and caller's, tolerances resolved)."""
    newton_tried: bool
    system: MNASystem | None
    """The native compilation that checks ngspice's answers (``None`` when the native solver
    does not model the circuit or ``verify`` is off)."""
    stale: bool = False
    """A value that a compiled system cannot change (diode area) was altered."""

    def altered(self, element: Any, value: float) -> None:
        """Follow a session's ``alter`` in the flat circuit and the native system."""
        self.flat.replace(element.with_values(**{MAIN_VALUE[type(element)]: value}))
        if self.system is None:
            return
        if device_for(element) is not None:  # device values are compiled in (diode area)
            self.stale = True
        else:
            self.system.set_values({element.name: value}, sync_circuit=False)

    def verify(self, result: OperatingPoint) -> OperatingPoint:
        """``result`` with the native KCL residual, and ``converged=False`` when ngspice's
        "converged" answer is not finite or fails the native Newton-step test."""
        values = [*result.voltages.values(), *result.currents.values()]
        if not all(math.isfinite(v) for v in values):
            if not result.converged:
                return result
            worst = next(k for k, v in result.voltages.items() if not math.isfinite(v))
            return replace(
                result,
                converged=False,
                worst_node=worst,
                message=f"{MESSAGES['not_finite']}: ngspice reports v({worst}) = "
                f"{result.voltages[worst]} although it called the answer converged",
            )
        if self.system is None:
            return result
        if self.stale:
            self.system, self.stale = compile_circuit(self.flat), False
        system = self.system
        nodes = len(system.node_index)
        with np.errstate(all="ignore"):
            x = system.state_from(result)
            ev = system.evaluate(x)
            max_residual = float(np.max(np.abs(ev.residual[:nodes]), initial=0.0))
            if not result.converged or system.n == 0:
                return replace(result, max_residual=max_residual)
            try:
                step = spla.splu(system.matrix(ev.jacobian_data)).solve(-ev.residual)
            except RuntimeError:
                step = np.full(system.n, np.inf)
        reltol, vntol, abstol = (
            float(self.options.get(name, NGSPICE_TOLERANCES[name]))
            for name in ("reltol", "vntol", "abstol")
        )
        # reltol of the circuit's largest voltage (current), not only of the node's own: in a
        # high-gain circuit a node near 0 V moves by far more than reltol·|v| under rounding
        # alone (the residual is 1e-17 A, but 1e5 gain amplifies it), and ngspice stops there
        is_node = np.arange(system.n) < nodes
        currents = [abs(v) for v in result.currents.values()]  # also sources not in x
        scale = np.where(
            is_node,
            np.max(np.abs(x[:nodes]), initial=0.0),
            max(float(np.max(np.abs(x[nodes:]), initial=0.0)), *currents, 0.0),
        )
        allowed = reltol * np.maximum(np.abs(x), scale) + np.where(is_node, vntol, abstol)
        excess = np.where(np.isfinite(step), np.abs(step) / allowed, np.inf)
        if bool(np.all(excess <= 1.0)):
            return replace(result, max_residual=max_residual)
        k = int(np.argmax(excess))
        where = system.unknowns[k]
        if not np.isfinite(step[k]):
            detail = "the native Jacobian is singular there"
        else:
            unit = "V" if k < nodes else "A"
            detail = (
                f"one more Newton step under the native device models moves {where} by "
                f"{abs(step[k]):.3g} {unit} (ngspice's own test allows {allowed[k]:.3g} {unit} "
                f"at reltol {reltol:g})"
            )
        return replace(
            result,
            converged=False,
            max_residual=max_residual,
            worst_node=where,
            message=f"{MESSAGES['unverified']}: ngspice called its answer converged, but {detail};"
            " ngspice stopped on a wrong answer, or its device equations differ from the "
            "native ones here",
        )


def _prepare(circuit: Circuit, options: Mapping[str, Any] | None, x0: Any) -> _Deck:
    """Flatten, check topology, resolve the ``.options`` and write the deck body."""
    if not isinstance(circuit, Circuit):
        raise CircuitError(f"ngspice backend: expected a Circuit; got {type(circuit).__name__}")
    flat = circuit.flatten()
    check_topology(flat)
    explicit = validate_options(options)
    verify = explicit.pop("verify", True)
    written: dict[str, float | str | bool] = dict(flat.options)
    if explicit.pop("spice_options", "native") == "native":
        written.update(reltol=RELTOL, vntol=VNTOL, abstol=ABSTOL)
    written.update(explicit)
    pspice = _pspice_mode(flat)
    written_flat = _pspice_logic(_pspice_switches(flat)) if pspice else flat
    lines = written_flat.to_spice(analysis=None, options=written).split("\n")[:-1]
    lines[1:1] = list(_PSPICE_PRELUDE) if pspice else []
    nodes = set(flat.nodes)
    if x0 is not None:
        if not isinstance(x0, OperatingPoint):
            raise CircuitError(
                "ngspice backend: x0 must be an OperatingPoint (its node voltages become .nodeset "
                f"cards); got {type(x0).__name__}"
            )
        lines += [
            f".nodeset v({node})={format_value(v)}"
            for node, v in x0.voltages.items()
            if node in nodes and math.isfinite(v)
        ]
    return _Deck(
        flat=flat,
        body="\n".join([*lines, ".end"]),
        options=written,
        newton_tried=not written.get("noopiter", False),
        system=_native_system(flat, written) if verify else None,
    )


_PSWITCH = {
    "ron": ("r_on", 1.0),
    "roff": ("r_off", 1e6),
    "von": ("cntl_on", 1.0),
    "voff": ("cntl_off", 0.0),
}
"""A PSpice ``vswitch`` parameter → the ``pswitch`` code-model parameter ngspice 39's PSpice
mode gives it, with the default it writes when the card omits it (``inpcom.c``)."""

_SW_DEFAULTS = {"ron": 1.0, "roff": 1e12, "vt": 0.0, "vh": 0.0}
"""The ``sw`` parameters ngspice 39's PSpice mode writes for a ``vswitch`` given VT or VH."""


def _pspice_switches(flat: Circuit) -> Circuit:
    """``flat`` with its PSpice ``vswitch`` models written as ngspice 39's PSpice compatibility
    mode rewrites them (``inpcom.c``), so that its shared library runs them without that mode:
    a model with VT or VH becomes an ``sw`` model; one with VON/VOFF an XSPICE ``pswitch``
    (``.model aNAME pswitch(cntl_on cntl_off r_on r_off log=TRUE)``), and each S card naming it
    the A card ``aNAME %gd(nc+ nc-) %gd(n+ n-) aMODEL``."""
    switches = [m for m in flat.models.values() if m.kind == "vswitch"]
    if not switches:
        return flat
    out = flat.copy()
    code: dict[str, Model] = {}
    for model in switches:
        del out.models[model.name]
        if {"vt", "vh"} & set(model.params):
            out.add_model(Model(model.name, "sw", {**_SW_DEFAULTS, **model.params}))
        elif {"von", "voff"} & set(model.params):
            params: dict[str, Any] = {
                new: model.params.get(old, default) for old, (new, default) in _PSWITCH.items()
            }
            code[model.name] = out.add_model(
                Model(f"a{model.name}", "pswitch", {**params, "log": ModelText("TRUE")})
            )
        else:
            raise CircuitError(
                f"model {model.name}: a vswitch model needs VON/VOFF or VT/VH (ngspice 39's "
                "PSpice mode reads no other)"
            )
    for element in flat.elements_of(OpaqueElement):
        if element.name[0] == "s" and element.model in code:
            plus, minus, control_plus, control_minus = element.terminals
            out.remove(element.name)
            out.add(
                CodeModelInstance(
                    f"a{element.name}",
                    model=code[element.model].name,
                    ports=f"%gd({control_plus} {control_minus}) %gd({plus} {minus})",
                )
            )
    return out


_PSPICE_PRELUDE = (
    ".param temp = 'temper'",
    ".param vt = '(temper + 273.15) * 8.6173303e-5'",
    ".param gmin = 1e-12",
    ".func limit(x, a, b) { ternary_fcn(a > b, max(min(x, a), b), max(min(x, b), a)) }",
    ".func pwr(x, a) { pow(x, a) }",
    ".func pwrs(x, a) { sgn(x) * pow(x, a) }",
    ".func stp(x) { u(x) }",
    ".func if(a, b, c) {ternary_fcn( a , b , c )}",
    ".func int(x) { sign(x)*floor(abs(x)) }",
)
"""The parameters and functions ngspice 39's PSpice mode puts at the top of a deck
(``inpcom.c``)."""

_PSPICE_ONLY = re.compile(
    r"\b(?:(?:if|stp|int|pwrs)\s*\(|(?:temp|vt|gmin)\b(?!\s*\()(?!\s*=(?!=)))", re.IGNORECASE
)
"""What plain ngspice 39 does not know in a behavioural card's text and its PSpice mode
defines: the functions ``if``, ``stp``, ``int``, ``pwrs`` and the parameters ``temp``, ``vt``,
``gmin`` (not an instance parameter ``temp=``)."""


_BEHAVIOURAL = frozenset("befgh")
"""Letters of the opaque cards whose text is an expression (behavioural B, E, G, F, H)."""


def _pspice_mode(flat: Circuit) -> bool:
    """Whether ``flat`` is written for ngspice's PSpice mode: it has a ``vswitch`` model, or an
    opaque behavioural card names one of :data:`_PSPICE_ONLY` (which plain ngspice refuses).
    The ngspice backend then writes the deck as that mode reads it: :data:`_PSPICE_PRELUDE`
    first, :func:`_pspice_switches`, :func:`_pspice_logic`."""
    return any(m.kind == "vswitch" for m in flat.models.values()) or any(
        e.name[0] in _BEHAVIOURAL and _PSPICE_ONLY.search(e.rest)
        for e in flat.elements_of(OpaqueElement)
    )


_SINGLE_LOGIC = re.compile(r"(?<![|&])([|&])(?![|&])")


def _pspice_logic(flat: Circuit) -> Circuit:
    """``flat`` with PSpice's ``|`` and ``&`` in behavioural opaque cards written ``||`` and
    ``&&``, as ngspice's PSpice mode does."""
    out = flat.copy()
    for element in flat.elements_of(OpaqueElement):
        if element.name[0] in _BEHAVIOURAL and _SINGLE_LOGIC.search(element.rest):
            out.replace(replace(element, rest=_SINGLE_LOGIC.sub(r"\1\1", element.rest)))
    return out


def _native_system(flat: Circuit, options: Mapping[str, Any]) -> MNASystem | None:
    """The native compilation of ``flat``, or ``None`` where the native solver does not model
    the circuit (options it refuses, a device it rejects such as a MOSFET with L ≤ 2·LD)."""
    if native_refusal(options) is not None:
        return None
    try:
        return compile_circuit(flat)
    except CircuitError:
        return None


def _tail(log: str, lines: int = 25) -> str:
    return BatchRun(0, log, []).tail(lines)


def _alter_command(element: Any, value: float) -> str:
    parameter = _ALTER_PARAMETER[type(element)]
    return f"alter {element.name} {parameter + ' ' if parameter else ''}= {format_value(value)}"


# -- subprocess mode --------------------------------------------------------------------------
def _run_subprocess(body: str) -> tuple[dict[str, float], str, int]:
    control = [".control", "op", "write out.raw", "rusage totiter", "quit", ".endc", ".end"]
    run = run_batch(
        "\n".join([*body.split("\n")[:-1], *control]), raw=False, timeout=SUBPROCESS_TIMEOUT
    )
    if run.returncode != 0:
        raise BackendError(
            f"ngspice refused the netlist (exit code {run.returncode}): {quote_errors(run.log)}",
            log=run.tail(25),
        )
    values: dict[str, float] = {}
    for plot in run.plots:
        for name, value in plot.as_dict().items():
            values[vector_key(name)] = float(np.real(value))
    return values, run.log, total_iterations(run.log) or 0


# -- shared-library mode ----------------------------------------------------------------------
def _run_shared(body: str) -> tuple[dict[str, float], str, int]:
    with _LOCK:
        engine = _engine(required=True)
        engine.load(body, owner=None)
        try:
            log = engine.command("op")
            values = engine.vectors()
            iterations = total_iterations(engine.command("rusage totiter")) or 0
        finally:
            engine.unload()
    return values, log, iterations


_ENGINE: Any = None
_ENGINE_ERROR: str | None = None


def _engine(*, required: bool) -> Any:
    """The process-wide shared-library engine (ngspice keeps global state: one per process)."""
    global _ENGINE, _ENGINE_ERROR
    with _LOCK:
        if _ENGINE is None and _ENGINE_ERROR is None:
            try:
                _ENGINE = _Engine(_library_path())
            except (OSError, ImportError, BackendError, NameError) as exc:
                _ENGINE_ERROR = f"{type(exc).__name__}: {exc}"
        if _ENGINE is not None and _ENGINE.broken:
            _ENGINE_ERROR, _ENGINE = "ngspice's shared library stopped after a fatal error", None
        if _ENGINE is None and required:
            raise BackendError(
                f"the ngspice shared library could not be loaded ({_ENGINE_ERROR}); use "
                f"mode='subprocess' or {INSTALL_HINT} (set NGSPICE_LIBRARY_PATH to its path if it "
                "is installed somewhere unusual)"
            )
        return _ENGINE


def _library_path() -> str:
    """``NGSPICE_LIBRARY_PATH`` when set, else what the dynamic loader knows as ``ngspice``.

    Debian installs ``libngspice.so.0`` (package libngspice0) and only ``libngspice0-dev`` adds the
    unversioned ``libngspice.so`` PySpice asks for by default, so the name is detected.
    """
    path = os.environ.get("NGSPICE_LIBRARY_PATH") or ctypes.util.find_library("ngspice")
    if not path:
        raise BackendError(f"libngspice was not found by the dynamic loader; {INSTALL_HINT}")
    return path


class _VersionWarningFilter(logging.Filter):
    """Drop PySpice 1.5's "Unsupported Ngspice version N" warning (ngspice 39 works fine)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Unsupported Ngspice version")


class _Engine:
    """One loaded libngspice: load a deck, run commands, read vectors, unload.

    ``owner`` is the :class:`NgspiceSession` whose circuit is loaded (``None`` for a one-off
    solve); at most one circuit is loaded at a time, so a session reloads its deck (and replays
    its alterations) when another solve ran in between.
    """

    def __init__(self, library: str) -> None:
        from PySpice.Spice.NgSpice.Shared import NgSpiceShared, ffi

        class _Shared(NgSpiceShared):
            _logger = logging.getLogger(__name__ + ".pyspice")
            LIBRARY_PATH = library.replace("{", "{{").replace("}", "}}")

            def __init__(self) -> None:
                self.lines: list[str] = []
                self.exited = False
                super().__init__(ngspice_id=0, send_data=False)

            @staticmethod
            def _send_char(message_c: Any, ngspice_id: int, user_data: Any) -> int:
                # PySpice's own callback logs every stderr line not starting with "Warning:" as an
                # error; ngspice writes its Notes and stepping progress there. Keep them as text.
                self = ffi.from_handle(user_data)
                stream, _, content = ffi.string(message_c).decode("utf-8", "replace").partition(" ")
                (self._stderr if stream == "stderr" else self._stdout).append(content)
                self.lines.append(content)
                return 0

            @staticmethod
            def _exit(
                status: int, immediate: bool, quit_: bool, ngspice_id: int, user_data: Any
            ) -> int:
                ffi.from_handle(user_data).exited = True
                return 0

        _Shared._logger.addFilter(_VersionWarningFilter())
        self._ffi = ffi
        self._ng = _Shared()
        self._lib = self._ng._ngspice_shared
        self._commands = 0
        self.owner: object = None
        self.loaded = False

    @property
    def broken(self) -> bool:
        return bool(self._ng.exited)

    def command(self, text: str) -> str:
        """Run one ngspice command; return what it printed."""
        self._commands += 1
        if self._commands >= _HISTORY_FLUSH:
            self._lib.ngSpice_Command(self._ffi.NULL)
            self._commands = 0
        self._ng.lines = []
        self._ng.clear_output()  # PySpice's own copies of the output, kept for its version check
        rc = self._lib.ngSpice_Command(text.encode("ascii"))
        out = "\n".join(self._ng.lines)
        if rc != 0 or self._ng.exited:
            raise BackendError(
                f"ngspice command {text!r} failed (return code {rc}): {quote_errors(out)}",
                log=_tail(out),
            )
        return out

    def load(self, deck: str, *, owner: object) -> None:
        """Load ``deck`` (after removing any loaded circuit); refuse it on ngspice errors."""
        self.unload()
        lines = [line for line in deck.split("\n") if line.strip()] + [""]
        keep = [self._ffi.new("char[]", line.encode("utf-8")) for line in lines]
        self._ng.lines = []
        self._ng.clear_output()
        rc = self._lib.ngSpice_Circ(self._ffi.new("char *[]", [*keep, self._ffi.NULL]))
        out = "\n".join(self._ng.lines)
        self.loaded = True
        if rc != 0 or self._ng.exited or load_errors(out):
            # after a fatal error (e.g. 'Cannot compute substitute') ngspice has exited: quote
            # it instead of failing on the cleanup command
            self.unload()
            raise BackendError(f"ngspice refused the netlist: {quote_errors(out)}", log=_tail(out))
        self.owner = owner

    def unload(self) -> None:
        """Remove the loaded circuit and every plot (nothing to remove once ngspice exited)."""
        if self.loaded and not self._ng.exited:
            self.command("destroy all")
            self.command("remcirc")
        self.loaded = False
        self.owner = None

    def vectors(self) -> dict[str, float]:
        """``{name: value}`` of the current plot's real vectors (last point)."""
        ffi, lib = self._ffi, self._lib
        plot = ffi.string(lib.ngSpice_CurPlot())
        names = lib.ngSpice_AllVecs(plot)
        values: dict[str, float] = {}
        i = 0
        while names[i] != ffi.NULL:
            name = ffi.string(names[i])
            i += 1
            info = lib.ngGet_Vec_Info(plot + b"." + name)
            if info == ffi.NULL or info.v_length < 1 or info.v_realdata == ffi.NULL:
                continue
            values[vector_key(name.decode("utf-8", "replace"))] = float(
                info.v_realdata[info.v_length - 1]
            )
        return values
