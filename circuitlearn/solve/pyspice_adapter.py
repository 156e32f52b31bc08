"""PySpice 1.5 circuits in and out, through the netlist text.

PySpice users (and EBANA, which builds its networks with PySpice) hold a
``PySpice.Spice.Netlist.Circuit``. Both directions go through SPICE text, so PySpice's own
parser and its limits (it drops ``.subckt`` bodies and ignores ``.param``) never apply:

- :func:`from_pyspice` reads ``str(circuit)`` with circuitlearn's reader;
- :func:`to_pyspice` puts :meth:`Circuit.to_spice` into a new PySpice circuit as raw SPICE.

This module and :mod:`circuitlearn.solve.ngspice` are the only ones that import PySpice; it is
imported when a function here is called, so PySpice stays optional.
"""

from __future__ import annotations

from typing import Any

from circuitlearn.circuit import Circuit
from circuitlearn.errors import BackendError, CircuitError
from circuitlearn.netlist import from_spice

__all__ = ["from_pyspice", "to_pyspice"]

_INSTALL_HINT = "install PySpice 1.5 (pip install 'PySpice==1.5')"


def from_pyspice(circuit: Any, *, check: bool = False) -> Circuit:
    """A circuitlearn :class:`Circuit` from a PySpice ``Circuit``, read from its netlist text.

    Parameters
    ----------
    circuit : PySpice.Spice.Netlist.Circuit
    check : bool
        Also flatten and check the topology (as ``from_spice(..., check=True)``).

    Returns
    -------
    Circuit
        Names lower-cased as ngspice does; the title is PySpice's ``title``. Error messages
        name the line of ``str(circuit)`` (the first line is ``.title ...``).

    Raises
    ------
    CircuitError
        ``circuit`` is not a PySpice ``Circuit``.
    NetlistError
        A card circuitlearn does not read, naming its line in ``str(circuit)``.
    BackendError
        PySpice is not installed.

    Examples
    --------
    >>> from PySpice.Spice.Netlist import Circuit as PySpiceCircuit
    >>> p = PySpiceCircuit("divider")
    >>> _ = p.V("in", "a", p.gnd, 10); _ = p.R(1, "a", "b", "9kOhm"); _ = p.R(2, "b", p.gnd, 1000)
    >>> c = from_pyspice(p)
    >>> c.title, [e.name for e in c], c["r1"].resistance
    ('divider', ['vin', 'r1', 'r2'], 9000.0)
    """
    pyspice_circuit = _pyspice_circuit_class()
    if not isinstance(circuit, pyspice_circuit):
        raise CircuitError(
            f"from_pyspice: expected a PySpice Circuit (PySpice.Spice.Netlist.Circuit); got "
            f"{type(circuit).__name__}"
        )
    text = str(circuit)
    title, _, body = text.partition("\n")
    if title.lower().startswith(".title"):  # PySpice's first line: make it the title line
        title = title[len(".title") :].strip()
    return from_spice(f"{title}\n{body}", path=f"<PySpice circuit {circuit.title!r}>", check=check)


def to_pyspice(circuit: Circuit) -> Any:
    """A PySpice ``Circuit`` holding ``circuit`` as raw SPICE (``raw_spice``).

    The PySpice object simulates like any other (``circuit.simulator().operating_point()``)
    and ``str()`` of it is the netlist circuitlearn writes, so ``from_pyspice(to_pyspice(c))
    == c``. PySpice does not see the elements one by one (``element_names`` is empty): add
    further elements with PySpice's methods as usual.

    Raises
    ------
    CircuitError
        ``circuit`` is not a circuitlearn :class:`Circuit`.
    BackendError
        PySpice is not installed.

    Examples
    --------
    >>> from circuitlearn.circuit import Circuit, Resistor, VoltageSource
    >>> c = Circuit("divider")
    >>> _ = c.add(VoltageSource("v1", "a", "0", 1.0)); _ = c.add(Resistor("r1", "a", "0", 1e3))
    >>> print(str(to_pyspice(c)).strip())
    .title divider
    v1 a 0 dc 1
    r1 a 0 1000
    """
    if not isinstance(circuit, Circuit):
        raise CircuitError(
            f"to_pyspice: expected a circuitlearn Circuit; got {type(circuit).__name__}"
        )
    lines = circuit.to_spice(analysis=None).split("\n")
    out = _pyspice_circuit_class()(circuit.title)
    out.raw_spice = "\n".join(lines[1:-1])  # without our title line and .end
    return out


def _pyspice_circuit_class() -> type:
    try:
        from PySpice.Spice.Netlist import Circuit as PySpiceCircuit
    except ImportError as exc:
        raise BackendError(f"PySpice is not available ({exc}); {_INSTALL_HINT}") from None
    return PySpiceCircuit
