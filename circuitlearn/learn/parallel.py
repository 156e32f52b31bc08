"""A batched engine's work split over worker processes: one training on several cores.

A batch's gradient is the mean of its samples' gradients, and each sample's phases are solved
on their own (batched Newton moves every sample independently), so a batch split into parts,
each part's gradient computed by a copy of the engine in its own process and the parts averaged
by their sizes, gives the batch's gradient to rounding. The workers are forked after the engine
is compiled, so they share its compiled system and the dataset copy-on-write instead of
compiling again (tens of seconds and gigabytes on DRN-1H). The conductances travel to the
workers, and the gradient vectors back, through shared memory; the small per-sample arrays
(inputs, targets, states) through pipes. Free-phase solves of many chunks (the scoring after
each epoch) are shared out chunk by chunk, each chunk solved whole as in one process, so those
states are the same bit for bit.

Threads do not help here: on DRN-1H a batch of 50 split over two threads took as long as one
thread (131 against 129 ms), the Newton loop's many small numpy calls holding the GIL.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import multiprocessing
import os
import signal
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np

from circuitlearn.errors import CircuitLearnError, ConfigError
from circuitlearn.learn.batched import Batch, BatchEngine, BatchGradient
from circuitlearn.learn.methods import GradientEstimator
from circuitlearn.solve.batch import InputColumns

__all__ = ["FreeStates", "ParallelEngine", "check_workers"]


def check_workers(workers: int) -> None:
    """Refuse a worker count this machine cannot run (:class:`ParallelEngine`'s ``workers``).

    Raises
    ------
    ConfigError
        ``workers < 1``, or more than one where processes cannot be forked (not Linux).
    """
    if workers < 1:
        raise ConfigError(f"workers must be at least 1; got {workers}")
    if workers > 1 and "fork" not in multiprocessing.get_all_start_methods():
        raise ConfigError(
            f"workers = {workers} needs processes started by fork (Linux); use workers = 1"
        )


@dataclass
class FreeStates:
    """One chunk's free-phase states and, for given hidden nodes, the fractions of its samples
    in which each is clamped above and below the rails' midpoint (``BatchEngine.clamped_sides``)."""

    x: np.ndarray
    above: np.ndarray
    below: np.ndarray


class ParallelEngine:
    """A :class:`BatchEngine`'s gradients and free solutions at given conductances, over
    ``workers`` processes.

    The calling process takes the first share itself; ``workers − 1`` forked processes take the
    others. With ``workers = 1`` nothing is forked and everything runs on ``engine`` here. While
    it is open, the engine's conductances are set through it only. Use as a context manager (or
    call :meth:`close`) so that the workers end.

    Raises
    ------
    ConfigError
        A worker count :func:`check_workers` refuses.
    """

    def __init__(self, engine: BatchEngine, estimator: GradientEstimator, workers: int = 1) -> None:
        check_workers(workers)
        self.engine = engine
        self.estimator = estimator
        self.workers = workers
        self._here: np.ndarray | None = None  # the conductances the engine here holds
        n = len(engine.conductances) if workers > 1 else 0  # shared: g, a vector per child
        self._shared = [mmap.mmap(-1, max(8 * n, 1)) for _ in range(workers)]
        self._g = np.frombuffer(self._shared[0], dtype=float, count=n)
        self._vectors = [np.frombuffer(b, dtype=float, count=n) for b in self._shared[1:]]
        self._pipes: list[Any] = []
        self._processes: list[Any] = []
        self._closed = False
        context = multiprocessing.get_context("fork")
        for vector in self._vectors:
            parent_end, child_end = context.Pipe()
            inherited = [*self._pipes, parent_end]  # the fork copies them: closed in the child
            process = context.Process(
                target=_serve,
                args=(engine, estimator, child_end, self._g, vector, os.getpid(), inherited),
                daemon=True,
            )
            process.start()
            child_end.close()
            self._pipes.append(parent_end)
            self._processes.append(process)

    def __enter__(self) -> ParallelEngine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """End the workers (idempotent)."""
        for pipe in self._pipes:
            with contextlib.suppress(BrokenPipeError, OSError):  # a worker already gone
                pipe.send(None)
            pipe.close()
        for process in self._processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        self._pipes, self._processes = [], []
        self._closed = True

    def gradient(self, g: np.ndarray, batch: Batch, x0: np.ndarray | None = None) -> BatchGradient:
        """The gradient of ``batch``'s mean cost at conductances ``g`` (warm start ``x0``)."""
        parts = [p for p in np.array_split(np.arange(batch.size), self.workers) if p.size]
        if len(parts) == 1:
            self._set(g)
            return self.engine.gradient(self.estimator, batch, x0=x0)
        self._check_open()
        self._g[:] = g
        sent = []
        for number, (pipe, part) in enumerate(zip(self._pipes, parts[1:], strict=True), start=1):
            self._send(pipe, number, ("gradient", (_part(batch, part), _rows(x0, part))))
            sent.append(pipe)
        own_error: BaseException | None = None
        try:
            self._set(g)
            own = self.engine.gradient(
                self.estimator, _part(batch, parts[0]), x0=_rows(x0, parts[0])
            )
        except BaseException as exc:  # collect the workers' answers before raising
            own_error = exc
        answers = [
            _receive(pipe, number, part)
            for number, (pipe, part) in enumerate(zip(sent, parts[1:], strict=False), start=1)
        ]
        if own_error is not None:
            raise own_error
        for answer in answers:
            if isinstance(answer, BaseException):
                raise answer
        received = zip(answers, self._vectors, strict=False)
        return _combined([own, *(_received(answer, vector, own) for answer, vector in received)])

    def free_states(
        self,
        g: np.ndarray,
        chunks: Sequence[tuple[Batch, np.ndarray | None]],
        nodes: Sequence[str],
        midpoint: float,
    ) -> list[FreeStates]:
        """Free-phase states of each (batch, warm start) chunk at conductances ``g``, in order,
        with the clamped fractions of ``nodes`` (the chunks are shared out, each solved whole).
        Give as many chunks as there are workers for all of them to take one."""
        self._set(g)
        shares = [list(range(k, len(chunks), self.workers)) for k in range(self.workers)]
        sent = []
        if any(shares[1:]):
            self._check_open()
            self._g[:] = g
        for number, (pipe, share) in enumerate(zip(self._pipes, shares[1:], strict=False), start=1):
            if share:
                message = ("free", ([chunks[k] for k in share], list(nodes), midpoint))
                self._send(pipe, number, message)
                sent.append((number, pipe, share))
        out: list[Any] = [None] * len(chunks)
        own_error: BaseException | None = None
        try:
            mine = _free_states(self.engine, [chunks[k] for k in shares[0]], nodes, midpoint)
            for k, states in zip(shares[0], mine, strict=True):
                out[k] = states
        except BaseException as exc:  # collect the workers' answers before raising
            own_error = exc
        answers = [(share, _receive(pipe, number, None)) for number, pipe, share in sent]
        if own_error is not None:
            raise own_error
        for share, answer in answers:
            if isinstance(answer, BaseException):
                raise answer
            for k, states in zip(share, answer, strict=True):
                out[k] = states
        return out

    def _check_open(self) -> None:
        if self._closed:
            raise CircuitLearnError("the worker processes have ended (the pool is closed)")

    def _send(self, pipe: Any, number: int, message: Any) -> None:
        """Send to worker ``number``; a worker that is gone ends the pool (its pipes could no
        longer be read in step)."""
        try:
            pipe.send(message)
        except (BrokenPipeError, OSError):
            self.close()
            raise CircuitLearnError(f"worker {number} is gone (killed?)") from None

    def _set(self, g: np.ndarray) -> None:
        """Set ``g`` on the engine here unless it holds them already (a rebuild of the compiled
        values: 25 ms on DRN-1H, once per step, not once per scoring chunk)."""
        if self._here is None or not np.array_equal(self._here, g):
            self.engine.set_conductances(g)
            self._here = np.array(g, dtype=float)


def _part(batch: Batch, index: np.ndarray) -> Batch:
    if isinstance(batch.inputs, InputColumns):
        return Batch(batch.inputs.rows(index), batch.targets[index])
    inputs = {name: values[index] for name, values in batch.inputs.items()}
    return Batch(inputs, batch.targets[index])


def _rows(x0: np.ndarray | None, index: np.ndarray) -> np.ndarray | None:
    return None if x0 is None else x0[index]


def _free_states(
    engine: BatchEngine,
    chunks: Sequence[tuple[Batch, np.ndarray | None]],
    nodes: Sequence[str],
    midpoint: float,
) -> list[FreeStates]:
    out = []
    for batch, x0 in chunks:
        x, sources = engine.free_solution(batch, x0=x0)
        above, below = (
            engine.clamped_sides(x, sources, nodes, midpoint)
            if nodes
            else (np.empty(0), np.empty(0))
        )
        out.append(FreeStates(x, above, below))
    return out


def _serve(
    engine: BatchEngine,
    estimator: GradientEstimator,
    pipe: Any,
    g: np.ndarray,
    vector: np.ndarray,
    parent: int,
    inherited: Sequence[Any],
) -> None:
    """A worker's loop: ("gradient", (batch part, warm start)) answers the part's gradient,
    ("free", (chunks, nodes, midpoint)) the chunks' :class:`FreeStates`; ``None`` ends it.
    Each message is about the conductances in ``g`` at the time it is sent. ``parent`` is the
    forking process's pid; ``inherited``, its ends of the workers' pipes, which the fork copied."""
    _die_with_parent(parent)
    for end in inherited:  # else this worker's own copy keeps its pipe open: no EOF
        end.close()
    here: np.ndarray | None = None
    while True:
        try:
            message = pipe.recv()
        except EOFError:  # the parent is gone
            return
        if message is None:
            return
        kind, payload = message
        try:
            if here is None or not np.array_equal(here, g):
                fresh = g.copy()  # g is shared: the parent rewrites it for the next message
                engine.set_conductances(fresh)
                here = fresh
            if kind == "free":
                pipe.send(("ok", _free_states(engine, *payload)))
                continue
            batch, x0 = payload
            grad = engine.gradient(estimator, batch, x0=x0)
            vector[:] = grad.vector  # through shared memory; the parent has the rest:
            grad.vector, grad.conductances, grad.trainable = np.empty(0), np.empty(0), []
            pipe.send(("ok", grad))  # (DRN-1H: 1.6 M names, 13 MB of values per vector)
        except BaseException as exc:
            pipe.send(("error", (type(exc), str(exc), traceback.format_exc())))


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this worker when its parent (pid ``parent``, taken before the fork)
    dies (Linux), so that a training killed with ``kill -9`` leaves no worker behind holding its
    run directory's lock."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(0)


PR_SET_PDEATHSIG = 1
"""Linux's prctl option: the signal a process gets when its parent dies."""


def _receive(pipe: Any, number: int, part: np.ndarray | None) -> Any:
    """Worker ``number``'s answer (for the samples ``part`` of a batch), or the exception it
    raised, rebuilt here (its sample numbers count from the part's first sample)."""
    try:
        status, payload = pipe.recv()
    except (EOFError, OSError):
        return CircuitLearnError(f"worker {number} ended unexpectedly (killed?)")
    if status == "ok":
        return payload
    kind, message, trace = payload
    where = f"worker {number}" if part is None else f"samples {part[0]}-{part[-1]} of the batch"
    message = f"{where}: {message}"
    if issubclass(kind, CircuitLearnError):
        try:
            return kind(message)
        except TypeError:  # a constructor with more required arguments
            return CircuitLearnError(message)
    return RuntimeError(f"worker {number} failed:\n{trace}")


def _received(grad: Any, vector: np.ndarray, own: BatchGradient) -> BatchGradient:
    """A worker's part with what it did not send: its vector, the names and conductances."""
    grad.vector = vector.copy()
    grad.trainable, grad.conductances = own.trainable, own.conductances
    return grad


def _combined(grads: list[BatchGradient]) -> BatchGradient:
    """One batch's gradient from its parts' (in batch order), each the mean over its part."""
    sizes = np.array([g.batch_size for g in grads], dtype=float)
    total = float(sizes.sum())
    vector = sum((size / total) * g.vector for size, g in zip(sizes, grads, strict=True))
    fractions = [g.conducting_fraction for g in grads]
    first = grads[0]
    concat: Callable[[list[np.ndarray]], np.ndarray] = np.concatenate
    return BatchGradient(
        method=first.method,
        beta=None if first.beta is None else concat([g.beta for g in grads]),
        costs=concat([g.costs for g in grads]),
        trainable=first.trainable,
        conductances=first.conductances,
        vector=np.asarray(vector),
        iterations=concat([g.iterations for g in grads]),
        conducting_fraction=(
            None
            if any(f is None for f in fractions)
            else float(np.dot(sizes, np.array(fractions, dtype=float)) / total)
        ),
        states=concat([g.states for g in grads]),
    )
