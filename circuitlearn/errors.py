"""The one exception hierarchy of circuitlearn.

Every error a user can cause derives from :class:`CircuitLearnError`; the CLI maps it to exit
code 2 with a one-line message. Messages follow *who, expected, got, fix*: they name the element,
node, parameter or ``file:line`` at fault.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendError",
    "CircuitError",
    "CircuitLearnError",
    "ConfigError",
    "ConvergenceError",
    "DataError",
    "NetlistError",
]


class CircuitLearnError(Exception):
    """Root of all circuitlearn errors."""


class NetlistError(CircuitLearnError, ValueError):
    """A SPICE netlist could not be read.

    Parameters
    ----------
    message : str
        What is wrong, without the location.
    path : str or None
        The file, when the netlist came from one.
    line : int or None
        1-based physical line number of the offending card.
    text : str or None
        The offending card's text, quoted in the message.
    """

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        text: str | None = None,
    ) -> None:
        self.path = path
        self.line = line
        self.text = text
        self.reason = message
        where = f"{path or '<netlist>'}:{line}" if line is not None else (path or "<netlist>")
        shown = f": {text.strip()[:120]!r}" if text else ""
        super().__init__(f"{where}: {message}{shown}")


class CircuitError(CircuitLearnError, ValueError):
    """A circuit is invalid: bad element value, duplicate name, floating node, source loop...

    ``element`` and ``node`` name the culprit when there is one.
    """

    def __init__(self, message: str, *, element: str | None = None, node: str | None = None):
        self.element = element
        self.node = node
        super().__init__(message)


class ConvergenceError(CircuitLearnError, RuntimeError):
    """A solver did not reach an operating point; ``result`` carries the full attempt."""

    def __init__(self, message: str, *, result: Any = None) -> None:
        self.result = result
        super().__init__(message)


class BackendError(CircuitLearnError, RuntimeError):
    """A simulator backend is missing or failed; ``log`` holds the tail of its output."""

    def __init__(self, message: str, *, log: str = "") -> None:
        self.log = log
        super().__init__(message)


class DataError(CircuitLearnError, ValueError):
    """Bad data: a batch file, a dataset, values that are not finite.

    ``path`` and ``row`` (1-based line of the file) say where, when the data came from a file.
    """

    def __init__(self, message: str, *, path: str | None = None, row: int | None = None) -> None:
        self.path = path
        self.row = row
        super().__init__(message)


class ConfigError(CircuitLearnError, ValueError):
    """An invalid training or sweep configuration (the message names ``file: [table] key``)."""
