"""A deck's ``.options``: which change the DC answer, and which the native solver models.

The reader stores every ``.options`` entry in ``Circuit.options``. The ngspice backend passes
them to ngspice; the native solver must not silently ignore one that changes the answer, so it
accepts an option only when it cannot change a DC answer (tolerances, iteration limits, output
control: the native solver uses its own, tighter, tolerances) or when it equals the value the
native models are built on, and refuses any other with one line naming it.
"""

from __future__ import annotations

from collections.abc import Mapping

from circuitlearn.circuit import Circuit
from circuitlearn.errors import CircuitError

__all__ = ["NATIVE_VALUES", "NO_DC_EFFECT", "check_native_options", "native_refusal"]

NO_DC_EFFECT = frozenset({
    "abstol", "reltol", "vntol", "chgtol", "trtol", "pivtol", "pivrel", "itl1", "itl2", "itl3",
    "itl4", "itl5", "itl6", "gminsteps", "srcsteps", "gminfactor", "noopiter", "acct", "noacct",
    "list", "nolist", "node", "nonode", "opts", "nopage", "nomod", "noinit", "keepopinfo",
    "savecurrents", "maxwarns", "warn", "method", "maxord", "xmu", "bypass", "interp", "klu",
    "sparse", "norefvalue", "seed", "cshunt", "post", "lvlcod", "lvltim", "limpts", "limtim",
    "numdgt", "cptime", "seedinfo",
})  # fmt: skip
"""ngspice options that cannot change a DC operating point beyond its tolerances (convergence
controls, transient-only settings, output control such as seedinfo, and the SPICE2/HSPICE output
options old carry: post, lvlcod, lvltim, limpts, limtim, numdgt, cptime): the native solver ignores
them. ``seed`` seeds the reader's Monte Carlo draws."""

NATIVE_VALUES: dict[str, float] = {
    "gmin": 1e-12,
    "temp": 27.0,
    "tnom": 27.0,
    "defw": 1e-4,
    "defl": 1e-4,
    "defad": 0.0,
    "defas": 0.0,
    "scale": 1.0,
}
"""Options that change a DC answer, at the one value the native models use (ngspice's
defaults: junction gmin [S], temperatures [°C], default MOSFET W, L [m] and drain/source areas
[m²], geometry scale). Any other value, and ``rshunt`` at any value, is refused natively."""


def native_refusal(options: Mapping[str, float | str | bool]) -> str | None:
    """Why the native solver cannot honour ``options`` (one line), or ``None`` when it can.

    Examples
    --------
    >>> native_refusal({"reltol": 1e-4, "gmin": 1e-12}) is None
    True
    >>> native_refusal({"rshunt": 1e9})[:60]
    '.options rshunt=1e+09 changes the DC answer and the native s'
    """
    for name, value in options.items():
        if name in NO_DC_EFFECT or (name in NATIVE_VALUES and value == NATIVE_VALUES[name]):
            continue
        shown = name if value is True else f"{name}={_text(value)}"
        if name in NATIVE_VALUES or name == "rshunt":
            native = f" (native: {NATIVE_VALUES[name]:g})" if name in NATIVE_VALUES else ""
            return (
                f".options {shown} changes the DC answer and the native solver does not model "
                f"it{native} (remove it, or use --backend ngspice)"
            )
        return (
            f".options {shown}: the native solver does not know whether this ngspice option "
            "changes the DC answer and refuses it (remove it, or use --backend ngspice)"
        )
    return None


def check_native_options(circuit: Circuit) -> None:
    """Raise :class:`CircuitError` (one line, naming the option and the file) when the native
    solver cannot honour ``circuit.options``."""
    problem = native_refusal(circuit.options)
    if problem is not None:
        where = f"{circuit.source_path}: " if circuit.source_path else ""
        raise CircuitError(f"{where}{problem}")


def _text(value: float | str | bool) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
