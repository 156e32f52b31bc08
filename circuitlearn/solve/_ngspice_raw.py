"""ngspice's raw output files and its batch-mode binary (no PySpice here).

:func:`read_raw` reads the ``.raw`` files ngspice writes with ``-r FILE`` or the ``write`` command,
in both of its formats (``set filetype=binary``, the default, or ``ascii``); :func:`run_batch`
runs ``ngspice -b`` on netlist text in a temporary directory and returns its exit code, its
log (stdout and stderr merged, in order) and the plots of the raw file it wrote.

Raw format (ngspice manual §17.5 "raw file format"): text header lines ``Key: value``
(``Title``, ``Date``, ``Plotname``, ``Flags``, ``No. Variables``, ``No. Points``), then
``Variables:`` with one ``index name type`` line per vector, then either ``Binary:`` followed by
``points * variables`` native float64 values (two per value when ``Flags`` says complex), or
``Values:`` followed by the same numbers as text, each point starting with its index. Several
plots may follow one another in one file.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from circuitlearn.errors import BackendError

__all__ = ["BatchRun", "RawPlot", "find_ngspice_binary", "read_raw", "run_batch"]

INSTALL_HINT = "install ngspice, e.g. `apt-get install ngspice libngspice0` on Debian/Ubuntu"
"""How to get ngspice, quoted in every 'not found' message."""


@dataclass(frozen=True)
class RawPlot:
    """One plot of a raw file.

    Attributes
    ----------
    title, plotname : str
        The deck's title line and ngspice's plot name (e.g. ``"Operating Point"``).
    names : list of str
        Vector names as ngspice writes them: ``v(node)``, ``i(vsource)``.
    kinds : list of str
        ``"voltage"``, ``"current"``... per vector.
    data : numpy.ndarray
        Shape ``(points, len(names))``; float64, or complex128 for complex plots.
    """

    title: str
    plotname: str
    names: list[str]
    kinds: list[str]
    data: np.ndarray = field(repr=False)

    def as_dict(self, point: int = -1) -> dict[str, float]:
        """``{name: value}`` at one point (the last by default; an operating point has one)."""
        if self.data.shape[0] == 0:
            return {}
        return {name: self.data[point, k].item() for k, name in enumerate(self.names)}


@dataclass(frozen=True)
class BatchRun:
    """Outcome of one ``ngspice -b`` run: exit code, merged log, and the plots it wrote."""

    returncode: int
    log: str
    plots: list[RawPlot]

    def tail(self, lines: int = 20) -> str:
        """The last ``lines`` non-empty lines of the log (for error messages)."""
        kept = [line for line in self.log.splitlines() if line.strip()]
        return "\n".join(kept[-lines:])


def find_ngspice_binary() -> str | None:
    """Path of the ``ngspice`` executable on ``PATH``, or ``None``."""
    return shutil.which("ngspice")


def read_raw(source: str | Path | bytes) -> list[RawPlot]:
    """Read every plot of an ngspice raw file (binary or ascii).

    Parameters
    ----------
    source : path or bytes
        The file, or its content.

    Raises
    ------
    BackendError
        When the content is not a raw file (the message names the offending header line).

    Examples
    --------
    >>> text = (b"Title: t\\nPlotname: Operating Point\\nFlags: real\\nNo. Variables: 2\\n"
    ...         b"No. Points: 1\\nVariables:\\n\\t0\\tv(a)\\tvoltage\\n\\t1\\ti(v1)\\tcurrent\\n"
    ...         b"Values:\\n 0\\t1.5e+00\\n\\t-2.0e-03\\n")
    >>> read_raw(text)[0].as_dict()
    {'v(a)': 1.5, 'i(v1)': -0.002}
    """
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    where = "<raw data>" if isinstance(source, bytes) else str(source)
    plots: list[RawPlot] = []
    pos = 0
    while pos < len(data) and data[pos:].strip():
        plot, pos = _read_plot(data, pos, where)
        plots.append(plot)
    return plots


def run_batch(
    netlist: str,
    *,
    raw: bool = True,
    timeout: float = 60.0,
    binary: str | None = None,
) -> BatchRun:
    """Run ``ngspice -b [-r out.raw] deck.cir`` on ``netlist`` in a temporary directory.

    Parameters
    ----------
    netlist : str
        Complete deck text (title line first, ``.end`` last). A ``.control`` block in it must end
        with ``quit``; it may ``write out.raw`` itself (the file read back is ``out.raw``).
    raw : bool
        Pass ``-r out.raw`` so the deck's own analyses (``.op``...) write their vectors.
    timeout : float [s]
        Wall-clock limit; exceeding it raises :class:`BackendError`.
    binary : str, optional
        The ngspice executable (default: ``ngspice`` on ``PATH``).

    Returns
    -------
    BatchRun
        Exit code (ngspice exits 1 on a netlist it refuses, 0 on a singular matrix), the log,
        and the plots of ``out.raw`` (empty when none was written).

    Raises
    ------
    BackendError
        ngspice is not installed, or it ran past ``timeout``.
    """
    exe = binary or find_ngspice_binary()
    if exe is None:
        raise BackendError(f"the ngspice executable was not found on PATH; {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="circuitlearn-ngspice-") as tmp:
        deck = Path(tmp, "deck.cir")
        deck.write_text(netlist if netlist.endswith("\n") else netlist + "\n")
        args = [exe, "-b", *(["-r", "out.raw"] if raw else []), deck.name]
        try:
            done = subprocess.run(
                args,
                cwd=tmp,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            log = (exc.stdout or b"").decode("utf-8", "replace")
            raise BackendError(
                f"ngspice -b ran longer than {timeout:g} s on the deck and was stopped "
                "(raise the timeout or simplify the circuit)",
                log=log[-4000:],
            ) from None
        out = Path(tmp, "out.raw")
        plots = read_raw(out) if out.exists() and out.stat().st_size else []
    return BatchRun(done.returncode, done.stdout.decode("utf-8", "replace"), plots)


def _read_plot(data: bytes, pos: int, where: str) -> tuple[RawPlot, int]:
    header: dict[str, str] = {}
    names: list[str] = []
    kinds: list[str] = []
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            raise BackendError(
                f"{where}: raw file ends inside its header (no 'Binary:' or 'Values:' line)"
            )
        line = data[pos:end].decode("utf-8", "replace").rstrip("\r")
        pos = end + 1
        key, _, value = line.partition(":")
        key = key.strip().lower()
        if key == "variables":
            count = _header_int(header, "no. variables", where)
            for _ in range(count):
                end = data.index(b"\n", pos)
                fields = data[pos:end].decode("utf-8", "replace").split()
                pos = end + 1
                if len(fields) < 3:
                    raise BackendError(f"{where}: bad variable line {fields!r} in raw header")
                names.append(fields[1].lower())
                kinds.append(fields[2].lower())
        elif key in ("binary", "values"):
            break
        elif line.strip():
            header[key] = value.strip()
    points = _header_int(header, "no. points", where)
    complex_ = "complex" in header.get("flags", "").lower()
    width = len(names)
    if key == "binary":
        count = points * width * (2 if complex_ else 1)
        values = np.frombuffer(data, dtype="<f8", count=count, offset=pos).copy()
        pos += 8 * count
    else:
        values, pos = _read_ascii_values(data, pos, points, width, complex_, where)
    if complex_:
        values = values[0::2] + 1j * values[1::2]
    plot = RawPlot(
        header.get("title", ""),
        header.get("plotname", ""),
        names,
        kinds,
        values.reshape(points, width),
    )
    return plot, pos


def _read_ascii_values(
    data: bytes, pos: int, points: int, width: int, complex_: bool, where: str
) -> tuple[np.ndarray, int]:
    """Parse ``points`` text records ``index v0 v1 ...`` (``re,im`` pairs when complex)."""
    tokens: list[str] = []
    needed = points * (width + 1)
    while len(tokens) < needed:
        end = data.find(b"\n", pos)
        end = len(data) if end < 0 else end
        if pos >= len(data):
            raise BackendError(f"{where}: raw file has fewer values than its header announces")
        tokens += data[pos:end].decode("ascii", "replace").split()
        pos = end + 1
    rows = np.array(tokens[:needed], dtype=object).reshape(points, width + 1)[:, 1:].ravel()
    if complex_:
        pairs = [part for token in rows for part in token.split(",")]
        return np.array(pairs, dtype=np.float64), pos
    return np.array(rows, dtype=np.float64), pos


def _header_int(header: dict[str, str], key: str, where: str) -> int:
    try:
        return int(header[key].split()[0])
    except (KeyError, ValueError, IndexError):
        raise BackendError(f"{where}: raw header lacks a valid '{key}' line") from None
