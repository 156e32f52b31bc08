"""The run directory of ``circuitlearn train``: atomic files, one writer, safe resume.

Every file is written to a temporary name and renamed into place (``os.replace``), so a run
killed at any moment leaves each file either as it was or complete. A run holds an exclusive
lock on ``OUT/.lock`` while it writes (the operating system drops it when the process ends,
``kill -9`` included), so a second run into the same directory is refused instead of
interleaving its files. A directory that holds other files than a run's is never written to.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO

import numpy as np

from circuitlearn.errors import ConfigError

__all__ = ["PARAMETERS_FILE", "RUN_FILES", "WARM_STATES_FILE", "Checkpoint", "RunLock",
           "check_run_dir", "load_checkpoint", "load_warm_states", "read_checkpoint",
           "read_metrics", "save_checkpoint", "save_warm_states", "write_bytes", "write_json",
           "write_text"]  # fmt: skip

PARAMETERS_FILE = "parameters.txt"
"""The trainable resistors' names, one a line, in the order of the checkpoints' conductances."""
RUN_FILES = {"config.toml", "metrics.json", PARAMETERS_FILE, "checkpoints", "figures", ".lock"}
"""What a run directory may hold (``--out`` with anything else is refused)."""
WARM_STATES_FILE = "warm_states.npz"
"""In ``checkpoints/``: each training sample's last free state, for ``warm_start`` runs."""


class RunLock:
    """Exclusive ownership of a run directory for the life of a ``with`` block.

    Raises
    ------
    ConfigError
        Another process holds the run (its pid named when known).
    """

    def __init__(
        self,
        run_dir: Path,
        *,
        holder: str = "circuitlearn train",
        what: str = "run",
        advice: str = "wait for it or choose another --out",
    ) -> None:
        self.path = run_dir / ".lock"
        self._message = (holder, what, advice)  # for the second process's error
        self._handle: Any = None

    def __enter__(self) -> RunLock:
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            holder, what, advice = self._message
            raise ConfigError(
                f"{self.path.parent}: another {holder} (pid {owner}) is writing this {what}; "
                f"{advice}"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._handle = handle
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.close()  # closing drops the lock


def check_run_dir(run_dir: Path) -> None:
    """Refuse a directory holding files that are not a circuitlearn run.

    Raises
    ------
    ConfigError
        Naming the first foreign entry.
    """
    if not run_dir.exists():
        return
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: --out is a file, not a directory")
    foreign = sorted(
        p.name for p in run_dir.iterdir() if p.name not in RUN_FILES and not _leftover(p.name)
    )
    if foreign:
        raise ConfigError(
            f"{run_dir}: holds {foreign[0]!r}, which is not part of a circuitlearn run; "
            "choose an empty or new --out"
        )


def write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically."""
    _atomic(path, text.encode("utf-8"))


def write_bytes(path: Path, data: bytes | Callable[[BinaryIO], None]) -> None:
    """Write ``data`` (bytes, or what a function writes to the open file) atomically."""
    _atomic(path, data)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as JSON atomically (temporary file, then rename)."""
    _atomic(path, (json.dumps(payload, indent=1) + "\n").encode("utf-8"))


def read_metrics(path: Path) -> dict[str, Any] | None:
    """The run's ``metrics.json``, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("epochs"), list) else None


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint holds: the state after ``epoch`` epochs."""

    path: Path
    epoch: int
    conductances: np.ndarray
    rng_state: dict[str, Any]
    optimizer: dict[str, Any]
    q0: float


def save_checkpoint(
    folder: Path,
    epoch: int,
    g: np.ndarray,
    rng_state: dict[str, Any],
    optimizer: dict[str, Any],
    q0: float,
) -> Path:
    """Write ``checkpoints/epoch_NNNN.npz`` atomically; returns its path.

    ``optimizer`` is :meth:`~circuitlearn.learn.optim.Optimizer.state_dict` (its ``lr``, step
    count and moments), so that a resumed run continues bit for bit.
    """
    path = folder / f"epoch_{epoch:04d}.npz"
    _atomic(
        path,
        lambda handle: np.savez(
            handle, conductances=g, epoch=epoch, rng_state=json.dumps(rng_state), q0=q0,
            **optimizer,
        ),
    )  # fmt: skip
    return path


def load_checkpoint(folder: Path) -> tuple[Checkpoint | None, list[Path]]:
    """The newest checkpoint that reads back whole, and the unreadable newer ones skipped."""
    paths = sorted(folder.glob("epoch_*.npz")) if folder.is_dir() else []
    skipped = []
    for path in reversed(paths):
        checkpoint = read_checkpoint(path)
        if checkpoint is not None:
            return checkpoint, skipped
        skipped.append(path)
    return None, skipped


def read_checkpoint(path: Path) -> Checkpoint | None:
    """The checkpoint in ``path``, or None when it is missing, truncated or not finite."""
    try:
        with np.load(path) as data:
            fixed = {"conductances", "epoch", "rng_state", "q0"}
            checkpoint = Checkpoint(
                path,
                int(data["epoch"]),
                np.array(data["conductances"], dtype=float),
                json.loads(str(data["rng_state"])),
                {k: np.array(data[k]) for k in data.files if k not in fixed},
                float(data["q0"]),
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return checkpoint if np.all(np.isfinite(checkpoint.conductances)) else None


def _leftover(name: str) -> bool:
    """A temporary file of an interrupted atomic write."""
    return name.startswith(".") and name.endswith(".tmp")


def save_warm_states(folder: Path, epoch: int, states: np.ndarray) -> Path:
    """Write the warm starts after ``epoch`` (one file, replaced every epoch, atomically).

    Written after the epoch's checkpoint: a kill in between leaves the previous epoch's states,
    which :func:`load_warm_states` then refuses (the resumed epoch starts cold).
    """
    path = folder / WARM_STATES_FILE
    _atomic(path, lambda handle: np.savez(handle, epoch=epoch, states=states))
    return path


def load_warm_states(folder: Path, epoch: int, shape: tuple[int, int]) -> np.ndarray | None:
    """The warm starts saved after ``epoch`` with ``shape``, or None (missing, unreadable,
    from another epoch or another circuit)."""
    try:
        with np.load(folder / WARM_STATES_FILE) as data:
            if int(data["epoch"]) != epoch:
                return None
            states = data["states"]  # each access of an .npz key reads the array again
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return states.astype(float, copy=False) if states.shape == shape else None


def _atomic(path: Path, data: bytes | Callable[[BinaryIO], None]) -> None:
    """Write ``data`` (bytes, or a function writing to the open file) to a temporary name,
    then rename it into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            if callable(data):
                data(handle)
            else:
                handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:  # a failed write (disk full, path a folder) leaves no temporary file
        tmp.unlink(missing_ok=True)
        raise
