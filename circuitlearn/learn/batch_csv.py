"""Mini-batches from CSV files: ``circuitlearn gradient ... --batch FILE.csv``.

The header names independent sources (V or I elements, case-insensitive) and, as ``y(NODE)``,
output targets; each following row is one sample. Sources that the file does not name keep the
netlist's values, and outputs without a ``y(NODE)`` column keep their ``--output`` targets. Cells
are numbers, with SPICE suffixes allowed (``1.5``, ``-2e-3``, ``10m``). Blank lines and lines
starting with ``#`` are skipped. Every error is a :class:`~circuitlearn.errors.DataError` naming
the file and its line.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from circuitlearn.circuit import Circuit, CurrentSource, VoltageSource
from circuitlearn.circuit.units import try_parse_value
from circuitlearn.errors import DataError

__all__ = ["BatchTable", "read_batch_csv"]

_TARGET = re.compile(r"^\s*y\s*\(\s*([^()\s]+)\s*\)\s*$", re.IGNORECASE)

MAX_BYTES = 256 * 1024 * 1024
"""Largest batch file read [bytes] (a guard against passing the wrong file)."""


@dataclass(frozen=True)
class BatchTable:
    """The samples of a batch file.

    Attributes
    ----------
    inputs : dict
        Source name (lower-case) → values of every sample.
    targets : ndarray (n_samples, n_outputs)
        Targets in ``outputs`` order (the ``--output`` value where the file has no column).
    """

    inputs: dict[str, np.ndarray]
    targets: np.ndarray

    @property
    def size(self) -> int:
        return int(self.targets.shape[0])


def read_batch_csv(path: str | Path, circuit: Circuit, outputs: Mapping[str, float]) -> BatchTable:
    """Read the batch file ``path`` for ``circuit`` (flat or not) and its ``outputs`` targets.

    Raises
    ------
    DataError
        Missing, empty or binary file; a header cell that is neither a source of the circuit nor
        ``y(NODE)`` of an output; a duplicate column; a row with another number of cells than the
        header; a cell that is not a finite number; no sample rows.
    """
    path = Path(path)
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(
            f"{where}: cannot read the batch file ({exc.strerror})", path=where
        ) from None
    if len(raw) > MAX_BYTES:
        raise DataError(
            f"{where}: larger than {MAX_BYTES // 2**20} MiB; not a batch file?", path=where
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataError(
            f"{where}: not a UTF-8 text file (expected CSV with a header row)", path=where
        ) from None
    if "\x00" in text:
        raise DataError(f"{where}: binary file (expected CSV with a header row)", path=where)
    rows = [
        (number, cells)
        for number, cells in enumerate(csv.reader(io.StringIO(text)), start=1)
        if any(cell.strip() for cell in cells) and not cells[0].lstrip().startswith("#")
    ]
    if not rows:
        raise DataError(
            f"{where}: empty; expected a header row naming sources and y(NODE) targets, then one "
            "row per sample",
            path=where,
        )
    header_line, header = rows[0]
    columns = _columns(header, header_line, where, circuit, list(outputs))
    if len(rows) == 1:
        raise DataError(
            f"{where}: no sample rows after the header (line {header_line})", path=where
        )
    values = np.empty((len(rows) - 1, len(header)))
    for k, (line, cells) in enumerate(rows[1:]):
        if len(cells) != len(header):
            raise DataError(
                f"{where}:{line}: row has {len(cells)} cells; the header has {len(header)}",
                path=where,
                row=line,
            )
        for j, cell in enumerate(cells):
            number = try_parse_value(cell.strip())
            if number is None or not np.isfinite(number):
                raise DataError(
                    f"{where}:{line}: column {header[j].strip()!r}: {cell.strip()!r} is not a "
                    "finite number",
                    path=where,
                    row=line,
                )
            values[k, j] = number
    n = len(values)
    targets = np.tile(np.array(list(outputs.values()), dtype=float), (n, 1))
    inputs: dict[str, np.ndarray] = {}
    for j, (kind, key) in enumerate(columns):
        if kind == "target":
            targets[:, int(key)] = values[:, j]
        else:
            inputs[str(key)] = values[:, j].copy()
    return BatchTable(inputs, targets)


def _columns(
    header: Sequence[str], line: int, where: str, circuit: Circuit, outputs: list[str]
) -> list[tuple[str, str | int]]:
    """(kind, source name or output position) of every header cell."""
    flat = circuit if circuit.is_flat() else circuit.flatten()
    position = {node: k for k, node in enumerate(outputs)}
    seen: set[str] = set()
    out: list[tuple[str, str | int]] = []
    for cell in header:
        label = cell.strip()
        match = _TARGET.match(label)
        if match:
            node = match.group(1).lower()
            if node not in position:
                raise DataError(
                    f"{where}:{line}: column {label!r}: {node!r} is not an output node "
                    f"(outputs: {', '.join(outputs)}); add it with --output {node}=TARGET",
                    path=where,
                    row=line,
                )
            key: str | int = position[node]
            entry = ("target", key)
        else:
            name = label.lower()
            element = flat[name] if name and name in flat else None
            if not isinstance(element, (VoltageSource, CurrentSource)):
                raise DataError(
                    f"{where}:{line}: column {label!r} is not an independent V or I source of "
                    "the circuit (columns name sources, or y(NODE) for targets)",
                    path=where,
                    row=line,
                )
            entry = ("source", name)
        if str(entry) in seen:
            raise DataError(f"{where}:{line}: column {label!r} appears twice", path=where, row=line)
        seen.add(str(entry))
        out.append(entry)
    return out
