"""Reading ngspice's log: homotopy steps, singular matrices, failures and netlist errors.

:func:`assemble` turns one run's vectors and log into an
:class:`~circuitlearn.solve.result.OperatingPoint`; :func:`validate_options` checks ``.options``.

ngspice reports how it reached an operating point only in its log (``CKTop`` in ngspice 39's
``cktop.c`` and ``dcop.c``):

- plain Newton that converges prints nothing;
- then gmin stepping: ``Note: Starting dynamic gmin stepping`` (``gminsteps=1``, the default),
  ``Note: Starting true gmin stepping`` or ``... spice3 gmin stepping`` (``gminsteps>1``), one
  ``Trying gmin = X`` per step followed by ``Note: One successful gmin step`` or
  ``Warning: Further gmin increment`` / ``Last gmin step failed``, and finally
  ``... gmin stepping completed`` or ``... gmin stepping failed``;
- then source stepping: ``Supplies reduced to P%`` per step, ``Note: One successful source
  step``, ``Note: Source stepping completed`` or ``Warning: source stepping failed``;
- then (ngspice ≥ 39) the transient operating point: ``Note: Transient op started`` and
  ``Note: Transient op finished successfully`` or
  ``Error: Transient op failed, timestep too small``.

A singular matrix is a warning, ``Warning: singular matrix:  check node b``, after which the
homotopy ladder runs and the transient op may still "succeed" with a meaningless answer; ngspice
exits 0. Everything that is a ``Note:`` or ``Warning:`` is a diagnostic, never an error by itself.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from circuitlearn.circuit import CCVS, VCVS, Circuit, CodeModelInstance, VoltageSource
from circuitlearn.circuit.devices import device_for
from circuitlearn.errors import BackendError, CircuitError
from circuitlearn.solve.result import MESSAGES, HomotopyStep, OperatingPoint

__all__ = [
    "NGSPICE_OPTIONS",
    "SPICE_OPTIONS",
    "Layout",
    "LogSummary",
    "assemble",
    "load_errors",
    "parse_log",
    "quote_errors",
    "total_iterations",
    "validate_options",
    "vector_key",
]

NGSPICE_OPTIONS: dict[str, tuple[str, str]] = {
    "abstol": ("positive", "absolute current tolerance [A] (ngspice default 1e-12)"),
    "reltol": ("positive", "relative tolerance (default 1e-3)"),
    "vntol": ("positive", "absolute voltage tolerance [V] (default 1e-6)"),
    "gmin": ("nonnegative", "conductance added across every junction [S] (default 1e-12)"),
    "rshunt": ("positive", "resistance from every node to ground [ohm] (default: none)"),
    "pivtol": ("positive", "smallest acceptable pivot (default 1e-13)"),
    "pivrel": ("positive", "smallest pivot relative to its column (default 1e-3)"),
    "itl1": ("count", "Newton iteration limit of the operating point (default 100)"),
    "itl2": ("count", "Newton iteration limit of each stepping stage (default 50)"),
    "gminsteps": (
        "count0",
        "0: no gmin stepping, 1: dynamic (default), >1: that many spice3 steps",
    ),
    "srcsteps": ("count0", "0: no source stepping, 1: Gillespie's (default), >1: that many steps"),
    "noopiter": ("flag", "skip plain Newton and start with gmin stepping (true/false)"),
    "verify": (
        "bool",
        "check an answer ngspice calls converged against the native models (default True)",
    ),
    "spice_options": (
        "choice",
        "'native' (default): the native solver's tolerances replace the deck's reltol, vntol "
        "and abstol; 'deck': the deck's .options as written, ngspice's defaults otherwise",
    ),
    "temp": ("finite", "circuit temperature [degC] (default 27)"),
    "tnom": ("finite", "nominal temperature of the models [degC] (default 27)"),
}
"""The options accepted by the ngspice backend: name → (rule, meaning). All but
``spice_options`` and ``verify`` are written as ngspice ``.options``."""

SPICE_OPTIONS = ("native", "deck")
"""Values of the ``spice_options`` option (see :data:`NGSPICE_OPTIONS`)."""

_STEP = re.compile(
    r"Trying gmin\s*=\s*(?P<gmin>[-+0-9.eE]+)"
    r"|Supplies reduced to\s*(?P<supply>[-+0-9.]+)\s*%"
    r"|(?P<gmin_ok>One successful gmin step)"
    r"|(?P<gmin_bad>Further gmin increment|Last gmin step failed|gmin step failed)"
    r"|(?P<src_ok>One successful source step)"
    r"|(?P<src_bad>source stepping failed)"
    r"|(?P<gmin_start>Starting (?:dynamic |true |spice3 )?gmin stepping)"
    r"|(?P<src_start>Starting source stepping)"
    r"|(?P<gmin_done>gmin stepping completed)"
    r"|(?P<src_done>Source stepping completed)"
    r"|(?P<optran_ok>Transient op finished successfully)",
    re.IGNORECASE,
)
_SINGULAR = re.compile(r"singular matrix:?\s*check nodes?\s+(?P<node>\S+)", re.IGNORECASE)
_TIMESTEP = re.compile(
    r"timestep too small(?:;\s*trouble with (?:\S+-instance\s+)?(?P<who>\S+))?", re.IGNORECASE
)
_FAILURE = re.compile(
    r"DC solution failed|no convergence|iteration limit reached|simulation\(s\) aborted"
    r"|Transient op failed",
    re.IGNORECASE,
)
_CHATTER = re.compile(
    r"stepping (?:failed|completed)|gmin increment|gmin step|source step", re.IGNORECASE
)
_ERROR = re.compile(r"\berror\b|undefined parameter|cannot compute substitute", re.IGNORECASE)
_WRAPPED = re.compile(r"(?P<kind>[vi])\((?P<inner>[^()]+)\)")
_TOTITER = re.compile(r"Total iterations\s*=\s*(\d+)")
_log = logging.getLogger("circuitlearn.solve.ngspice")


@dataclass
class LogSummary:
    """What an ngspice operating-point log says.

    Attributes
    ----------
    strategy : str
        ``"newton"``, ``"gmin"``, ``"source"``, ``"optran"`` (the transient-op fallback of
        ngspice ≥ 39), or ``""`` when nothing succeeded.
    homotopy : list of HomotopyStep
        Every step, in order; ngspice does not report per-step iteration counts (0).
    singular : str or None
        The node ngspice names in ``singular matrix: check node X`` (``e1#branch`` for the
        branch current of ``e1``).
    failure : str or None
        Why the analysis failed (``"timestep too small (trouble with d1)"``...).
    warnings : list of str
        Distinct ``Warning:`` lines other than the stepping chatter.
    """

    strategy: str
    homotopy: list[HomotopyStep] = field(default_factory=list)
    singular: str | None = None
    failure: str | None = None
    warnings: list[str] = field(default_factory=list)


def parse_log(text: str, *, iterations: int = 0, newton_tried: bool = True) -> LogSummary:
    """Summarise the log of one ``op`` (see the module docstring for the messages read).

    Parameters
    ----------
    text : str
        ngspice's output during the analysis.
    iterations : int
        Total Newton iterations (``rusage totiter``), credited to plain Newton when it converged.
    newton_tried : bool
        False with ``noopiter`` (ngspice then starts with gmin stepping).

    Examples
    --------
    >>> s = parse_log("Note: Starting dynamic gmin stepping\\nTrying gmin =   1.0000E-03 "
    ...               "Note: One successful gmin step\\nNote: Dynamic gmin stepping completed")
    >>> s.strategy, [(h.rung, h.value, h.converged) for h in s.homotopy]
    ('gmin', [('newton', 0.0, False), ('gmin', 0.001, True)])
    """
    steps: list[HomotopyStep] = []
    pending: tuple[str, float] | None = None
    strategy = ""
    stepping = False

    def close(ok: bool) -> None:
        nonlocal pending
        if pending is not None:
            steps.append(HomotopyStep(pending[0], pending[1], 0, ok))
            pending = None

    for match in _STEP.finditer(text):
        kind = match.lastgroup
        if kind in ("gmin_start", "src_start"):
            stepping = True
        elif kind == "gmin":
            if pending is not None and pending[0] == "gmin":
                close(False)
            pending = ("gmin", float(match["gmin"]))
        elif kind == "supply":
            if pending is not None:
                close(False)
            pending = ("source", float(match["supply"]) / 100.0)
        elif kind == "gmin_ok":
            close(True)
        elif kind in ("gmin_bad", "src_bad"):
            if pending is not None and (pending[0] == "gmin") == (kind == "gmin_bad"):
                close(False)
        elif kind == "src_ok":
            if pending is not None and pending[0] == "source":
                close(True)
            else:  # spice3 source stepping (srcsteps > 1) prints no supply level
                steps.append(HomotopyStep("source", math.nan, 0, True))
        elif kind == "gmin_done":
            strategy = "gmin"
        elif kind == "src_done":
            strategy = "source"
        elif kind == "optran_ok" and not strategy:
            strategy = "optran"
    close(False)
    failure = _failure(text)
    if not stepping and failure is None and newton_tried:
        strategy = "newton"
    if newton_tried:
        steps.insert(
            0,
            HomotopyStep(
                "newton", 0.0, iterations if strategy == "newton" else 0, strategy == "newton"
            ),
        )
    singular = _SINGULAR.search(text)
    return LogSummary(
        strategy=strategy if failure is None else "",
        homotopy=steps,
        singular=singular["node"].lower() if singular else None,
        failure=failure,
        warnings=_warnings(text),
    )


def load_errors(text: str) -> list[str]:
    """Lines of a netlist-loading log that say ngspice refused the deck.

    ``Circuit: <title>`` lines echo the user's title and are skipped; ``Note:``/``Warning:``
    lines are diagnostics, not errors. Each entry carries the (up to two) lines printed after
    it: the card and the reason of ``Error on line N``, the rest of a sentence.

    Examples
    --------
    >>> load_errors("Circuit: error demo\\nError on line 3 or its substitute:\\n  d1 a 0 nomodel\\n"
    ...             "could not find a valid modelname\\nNote: x")
    ['Error on line 3 or its substitute: d1 a 0 nomodel could not find a valid modelname']
    """
    lines = [line.strip() for line in text.splitlines()]
    errors = []
    for k, line in enumerate(lines):
        if _is_diagnostic(line) or not _ERROR.search(line):
            continue
        extra = []  # the card and the reason, or the rest of the sentence
        for follow in lines[k + 1 : k + 3]:
            if (
                not follow
                or _is_diagnostic(follow)
                or _ERROR.search(follow)
                or follow.lower().startswith("netlist line no.")
            ):
                break
            extra.append(follow)
        errors.append(" ".join([line.rstrip(" -"), *extra]))
    return errors


def quote_errors(log: str, count: int = 2) -> str:
    """ngspice's own words for a failure, on one line: its first ``count`` error entries
    (:func:`load_errors`), else its last non-empty log line.

    Examples
    --------
    >>> quote_errors("Note: x\\nError: bad type given for option reltol --\\n"
    ...              "type given was string, type expected was real.")
    "'Error: bad type given for option reltol type given was string, type expected was real.'"
    """
    errors = load_errors(log)[:count]
    if not errors:
        errors = [line.strip() for line in log.splitlines() if line.strip()][-1:]
    return " | ".join(repr(e) for e in errors) or "nothing"


def _is_diagnostic(line: str) -> bool:
    return line.lower().startswith(("circuit:", "note:", "warning:"))


def total_iterations(text: str) -> int | None:
    """The number in ngspice's ``Total iterations = N`` line (``rusage totiter``), if any."""
    match = _TOTITER.search(text)
    return int(match.group(1)) if match else None


def vector_key(name: str) -> str:
    """The key :func:`assemble` reads for an ngspice vector name: ``node`` or ``source#branch``.

    ngspice names a node's vector by the node alone (``out``, ``x1.5``) except when that name
    is a number, which it wraps as ``V(1)``; raw files wrap every node (``v(out)``) and name
    branch currents ``i(v1)``.

    Examples
    --------
    >>> [vector_key(n) for n in ("out", "V(1)", "v(x1.n1)", "i(v1)", "v1#branch")]
    ['out', '1', 'x1.n1', 'v1#branch', 'v1#branch']
    """
    name = name.strip().lower()
    match = _WRAPPED.fullmatch(name)
    if match is None:
        return name
    return match["inner"] + ("#branch" if match["kind"] == "i" else "")


def validate_options(options: Mapping[str, object] | None) -> dict[str, float | str | bool]:
    """Check ``options`` against :data:`NGSPICE_OPTIONS`; return them normalised.

    Keys are case-insensitive; flags (``noopiter``) take ``True``/``False`` and are kept only
    when true; ``spice_options`` is one of :data:`SPICE_OPTIONS`; ``verify`` is a bool.

    Raises
    ------
    CircuitError
        Unknown key (the message lists the valid ones) or a value breaking its rule.

    Examples
    --------
    >>> validate_options({"RELTOL": 1e-6, "noopiter": True})
    {'reltol': 1e-06, 'noopiter': 1.0}
    """
    checked: dict[str, float | str | bool] = {}
    for key, value in dict(options or {}).items():
        name = str(key).strip().lower()
        if name not in NGSPICE_OPTIONS:
            valid = ", ".join(sorted(NGSPICE_OPTIONS))
            raise CircuitError(f"ngspice backend: unknown option {key!r}; valid options: {valid}")
        rule = NGSPICE_OPTIONS[name][0]
        if rule == "choice":
            if value not in SPICE_OPTIONS:
                raise CircuitError(
                    f"ngspice option {name} must be one of {', '.join(SPICE_OPTIONS)}; "
                    f"got {value!r}"
                )
            checked[name] = str(value)
            continue
        if rule == "bool":
            if not isinstance(value, bool):
                raise CircuitError(f"ngspice option {name} is True or False; got {value!r}")
            checked[name] = value
            continue
        if rule == "flag":
            if not isinstance(value, bool):
                raise CircuitError(
                    f"ngspice option {name} is a flag; expected True or False, got {value!r}"
                )
            if value:
                checked[name] = 1.0
            continue
        number = _number(name, value)
        bad = (
            (rule == "positive" and not number > 0)
            or (rule == "nonnegative" and not number >= 0)
            or (
                rule in ("count", "count0")
                and (number != int(number) or number < (1 if rule == "count" else 0))
            )
        )
        if bad:
            wanted = {
                "positive": "a positive number",
                "nonnegative": "a number >= 0",
                "count": "an integer >= 1",
                "count0": "an integer >= 0",
            }[rule]
            raise CircuitError(
                f"ngspice option {name} must be {wanted}; got {value!r} "
                f"({NGSPICE_OPTIONS[name][1]})"
            )
        checked[name] = number
    return checked


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CircuitError(f"ngspice option {name} must be a finite number; got {value!r}")
    return float(value)


def _failure(text: str) -> str | None:
    timesteps = list(_TIMESTEP.finditer(text))
    if timesteps:
        named = [m["who"].lower() for m in timesteps if m["who"]]
        return "timestep too small" + (f" (trouble with {named[0]})" if named else "")
    failure = _FAILURE.search(text)
    return failure.group(0) if failure else None


def _warnings(text: str) -> list[str]:
    seen: dict[str, None] = {}
    for match in re.finditer(r"Warning:\s*([^\n]*)", text):
        line = match.group(1).strip()
        if line and not _CHATTER.search(line) and "singular matrix" not in line.lower():
            seen.setdefault(line, None)
    return list(seen)


@dataclass(frozen=True)
class Layout:
    """What a result reports for a flat circuit: its nodes and its voltage-defined sources
    (computed once per circuit: ``Circuit.nodes`` walks every element). ``event_nodes``: nodes
    only XSPICE code models touch, which may be event-driven (digital) and then have no voltage:
    ngspice's missing value for one of them leaves it out of the result."""

    nodes: tuple[str, ...]
    sources: tuple[str, ...]
    event_nodes: frozenset[str] = frozenset()

    @classmethod
    def of(cls, flat: Circuit) -> Layout:
        sources = tuple(e.name for e in flat.elements_of(VoltageSource, VCVS, CCVS))
        sources += tuple(  # registered devices with a branch current (a B source's V=)
            e.name for e in flat if (d := device_for(e)) is not None and d.has_branch(e)
        )
        coded = {n for e in flat.elements_of(CodeModelInstance) for n in e.nodes}
        analog = {n for e in flat if not isinstance(e, CodeModelInstance) for n in e.nodes}
        return cls(flat.nodes, sources, frozenset(coded - analog))


def assemble(
    layout: Layout, values: dict[str, float], log: str, iterations: int, *, newton_tried: bool
) -> OperatingPoint:
    """Build the OperatingPoint from ngspice's vectors (``node`` and ``name#branch``) and log."""
    summary = parse_log(log, iterations=iterations, newton_tried=newton_tried)
    voltages = {
        node: values.get(node, math.nan)
        for node in layout.nodes
        if node in values or node not in layout.event_nodes
    }
    currents = {name: values.get(f"{name}#branch", math.nan) for name in layout.sources}
    has_data = all(node in values for node in layout.nodes if node not in layout.event_nodes)
    if summary.failure is None and not has_data:
        missing = [node for node in layout.nodes if node not in values]
        raise BackendError(
            f"ngspice returned no operating point (no value for node {missing[0]}) and no "
            f"failure; ngspice said: {quote_errors(log)}",
            log="\n".join([line for line in log.splitlines() if line.strip()][-25:]),
        )
    singular = summary.singular if summary.strategy in ("", "optran") else None
    converged = summary.failure is None and singular is None
    worst = None
    if singular is not None:
        owner = singular.split("#")[0]
        what = f" (the branch current of {owner})" if singular.endswith("#branch") else ""
        message = (
            f"{MESSAGES['singular']}: ngspice reports "
            f"'singular matrix: check node {singular}'{what}; "
            "the circuit has no unique operating point (look for a controlled source that "
            "cancels itself or a node set only by current-defined elements)"
        )
        worst = singular
    elif summary.failure is not None:
        message = f"{MESSAGES['homotopy_failed']}; ngspice: {summary.failure}"
    else:
        detail = {
            "gmin": "gmin stepping",
            "source": "source stepping",
            "optran": "transient operating point",
        }.get(summary.strategy)
        message = MESSAGES["converged"] + (f" (ngspice: {detail})" if detail else "")
    if summary.warnings:
        message += "; ngspice warnings: " + " | ".join(summary.warnings[:3])
    strategy = summary.strategy or (summary.homotopy[-1].rung if summary.homotopy else "newton")
    if not converged:
        _log.debug("ngspice did not converge:\n%s", log)
    return OperatingPoint(
        voltages=voltages,
        currents=currents,
        converged=converged,
        iterations=iterations,
        strategy=strategy,
        max_residual=math.nan,
        message=message,
        backend="ngspice",
        homotopy=summary.homotopy,
        worst_node=worst,
    )
