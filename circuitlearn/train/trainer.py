"""Mini-batch training of a layered network on a dataset: ``circuitlearn train CONFIG.toml``.

:func:`train` builds a Kendall et al. network sized to the dataset, encodes features as
differential voltage pairs and classes as target voltages, and runs plain projected gradient
descent G ← max(G − lr·ḡ, floor), ḡ the estimator's dC/dG averaged over a mini-batch. Every epoch it
evaluates the train and test sets in one batched free-phase solve each, records the metrics, writes
a checkpoint and redraws the figures. Run directory layout (docs/cli.md)::

    OUT/config.toml                 the effective config (defaults filled in)
    OUT/metrics.json                run settings and one entry per epoch (epoch 0: before training)
    OUT/checkpoints/epoch_NNNN.npz  conductances, epoch, RNG state, resolved β and lr
    OUT/figures/training.png        loss and accuracy curves
    OUT/figures/conservation.png    drift of Q = ½ΣG² (only where the law applies)

``resume=True`` continues from the last checkpoint and reproduces an uninterrupted run bit for bit.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from circuitlearn._random import check_random_state
from circuitlearn.circuit import LayeredNetwork, kendall_network
from circuitlearn.data import (
    decode_classes,
    differential_pairs,
    load_digits,
    load_fashion_mnist,
    load_iris,
    load_mnist,
    load_xor,
    one_hot_targets,
    with_bias_feature,
)
from circuitlearn.diagnostics.applicability import (
    EXACT_LIMIT_METHODS,
    QUANTITY_NAME,
    analyze_applicability,
    nonreciprocal_elements,
)
from circuitlearn.diagnostics.conservation import conserved_quantity
from circuitlearn.errors import CircuitLearnError, ConfigError, ConvergenceError, DataError
from circuitlearn.learn.batched import Batch, BatchEngine, engine_with_estimator
from circuitlearn.learn.estimators import GradientEstimator
from circuitlearn.learn.optim import Optimizer
from circuitlearn.learn.parallel import ParallelEngine, check_workers
from circuitlearn.learn.task import LearningTask
from circuitlearn.solve.batch import InputColumns
from circuitlearn.train.config import TrainConfig, load_config, to_toml
from circuitlearn.train.rundir import (
    PARAMETERS_FILE,
    Checkpoint,
    RunLock,
    check_run_dir,
    load_checkpoint,
    load_warm_states,
    read_metrics,
    save_checkpoint,
    save_warm_states,
    write_json,
    write_text,
)

__all__ = [
    "EPOCH_KEYS",
    "TrainResult",
    "TrainingStoppedError",
    "TrainingWarning",
    "run_label",
    "train",
]


class TrainingWarning(UserWarning):
    """Something in a run that a person should look at (clipping, a frozen loss, a resume)."""


class TrainingStoppedError(CircuitLearnError):
    """A run that stopped part-way: a solve that failed, a step that went non-finite.

    ``payload`` is the ``train --json`` object (``run_dir``, ``checkpoint`` — the last good state,
    ``epoch``, ``batch``, ``error``), so a failed run still reports as a run.
    """

    def __init__(self, message: str, epoch: int | None, batch: int | None) -> None:
        super().__init__(message)
        self.payload: dict[str, Any] = {
            "completed": False,
            "epoch": epoch,
            "batch": batch,
            "error": message,
        }


EPOCH_KEYS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "test_loss",
    "test_accuracy",
    "time",
    "newton_iterations",
    "conserved_quantity",
    "drift",
    "clipped",
    "hidden_conducting_fraction",
    "conducting_by_layer",
    "dead_by_layer",
    "gradient_norm_by_layer",
)
"""Keys of each ``metrics.json`` epoch entry: losses are mean costs (V² for the MSE), accuracies
fractions, ``time`` the epoch's wall time [s], ``newton_iterations`` the mean Newton iterations of
the free-phase solves of its training steps (null at epoch 0), ``conserved_quantity`` Q [S²] and
``drift`` (Q − Q0)/Q0 (null where the law does not apply: ``conservation.reasons`` says why),
``clipped`` the number of conductance updates projected to the floor,
``hidden_conducting_fraction`` the fraction of hidden nodes whose clamps conduct more than their
resistors (small-signal: the unit is saturated, or off if it rectifies) over the scored
free states (null without hidden layers), ``conducting_by_layer`` the same per hidden layer,
``dead_by_layer`` the fraction of each hidden layer's units clamped on the same side of the rails
in at least 99 % of those states (constants, which no longer learn), ``gradient_norm_by_layer``
the mean over the epoch's mini-batches of each crossbar's gradient norm ‖∂C/∂G‖ [V²/S], input
side first (null at epoch 0). A run with ``[data] n_validation`` also has ``validation_loss`` and
``validation_accuracy`` (after the training set's; the header's ``epoch_keys`` lists them), and
its fractions count the validation states too."""


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train` produced.

    Attributes
    ----------
    run_dir : Path
    metrics : dict
        The ``metrics.json`` object.
    conductances : numpy.ndarray
        Final trainable conductances [S], in the order of the run's ``parameters.txt``.
    checkpoint : Path
    figures : tuple of Path
    """

    run_dir: Path
    metrics: dict[str, Any]
    conductances: np.ndarray
    checkpoint: Path
    figures: tuple[Path, ...]


@dataclass(frozen=True)
class _Problem:
    """The network, its learning task (the first training sample's) and the encoded sets."""

    config: TrainConfig
    net: LayeredNetwork
    train: tuple[np.ndarray, np.ndarray, np.ndarray]  # features, targets, labels
    test: tuple[np.ndarray, np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # held out of the training split
    input_range: tuple[float, float]
    bias_input: bool
    n_train_eval: int  # the first n_train_eval training samples are scored after each epoch
    rail_midpoint: float  # [V] between the clamps' rails: which side a clamped unit is on

    @cached_property
    def task(self) -> LearningTask:
        """The learning task at the first training sample and the initial conductances (built
        on first use: seconds on large networks, which an export does not need)."""
        first = _encode(self.train[0][:1], self.input_range, self.bias_input)[0]
        task = LearningTask(
            self.net.circuit,
            list(self.net.trainable),
            list(self.net.output_nodes),
            targets=self.train[1][0],
            cost=self.config.learning.cost,
            inputs=dict(zip(self.net.input_sources, first.tolist(), strict=True)),
        )
        n = self.config.network
        return (
            task.with_conductances(_glorot(self.net, n.g_node, n.seed))
            if n.init == "glorot"
            else task
        )

    @property
    def n_train(self) -> int:
        return len(self.train[2])

    @property
    def n_eval(self) -> int:
        """Samples scored after each epoch (training, validation and test)."""
        return self.n_train_eval + self.n_validation + len(self.test[2])

    @property
    def n_validation(self) -> int:
        return 0 if self.validation is None else len(self.validation[2])

    def scored(self) -> list[tuple[str, np.ndarray]]:
        """(split, labels) of the sets scored after each epoch, in metrics.json's order."""
        sets = [("train", self.train[2][: self.n_train_eval])]
        if self.validation is not None:
            sets.append(("validation", self.validation[2]))
        return [*sets, ("test", self.test[2])]

    def batch(self, engine: BatchEngine, split: str, index: np.ndarray) -> Batch:
        """The samples ``index`` of ``split`` as a :class:`Batch` of per-sample source values."""
        x, targets, _ = {"train": self.train, "validation": self.validation}.get(split, self.test)
        columns = _encode(x[index], self.input_range, self.bias_input)  # per batch: O(batch)
        return engine.batch(InputColumns(self.net.input_sources, columns), targets[index])


def train(
    config: TrainConfig | str | Path,
    out: str | Path | None = None,
    *,
    resume: bool = False,
    progress: bool | None = None,
    workers: int = 1,
) -> TrainResult:
    """Train the network of ``config``, writing the run directory ``out``.

    Parameters
    ----------
    config : TrainConfig or path of a TOML config
    out : path, optional
        Run directory; default ``runs/<config file stem>``.
    resume : bool
        Continue from the last checkpoint in ``out`` (the config must be the run's).
    progress : bool, optional
        Show a tqdm bar on stderr; default: when stderr is a terminal and ``CI`` is not ``true``.
    workers : int
        Processes that share each mini-batch's samples (Linux; one core each). The gradient is
        the same to rounding for any count, not bit for bit: a resumed run continues bit for
        bit only with the count it ran with.

    Raises
    ------
    CircuitLearnError
        Invalid config, an existing run without ``resume``, a resume without checkpoint or with a
        different config.
    """
    if not isinstance(config, TrainConfig):
        config = load_config(config)
    check_workers(workers)  # before the run directory is made
    run_dir = Path(out) if out is not None else Path("runs") / Path(config.source).stem
    check_run_dir(run_dir)
    with (
        RunLock(run_dir),
        _Status(run_dir.name, _shows_progress(progress)) as status,
        contextlib.ExitStack() as stack,
    ):
        try:
            return _train(config, run_dir, resume, progress, status, workers, stack)
        except ConvergenceError as exc:  # outside a training step: evaluation, default β
            stopped = TrainingStoppedError(str(exc), None, None)
            stopped.payload["run_dir"] = str(run_dir)
            raise stopped from None


def _train(
    config: TrainConfig,
    run_dir: Path,
    resume: bool,
    progress: bool | None,
    status: _Status,
    workers: int,
    stack: contextlib.ExitStack,
) -> TrainResult:
    """:func:`train` once the run directory is checked and locked; ``status`` shows the setup
    stage; ``stack`` ends the worker processes."""
    ckpt_dir = run_dir / "checkpoints"
    saved, skipped = load_checkpoint(ckpt_dir)
    metrics_path = run_dir / "metrics.json"
    if not resume and (saved is not None or skipped or metrics_path.exists()):
        raise ConfigError(
            f"{run_dir}: already holds a run; pass --resume to continue it or choose another --out"
        )
    for path in skipped:
        warnings.warn(
            f"{path}: unreadable (interrupted while written); resuming from the previous one",
            TrainingWarning,
            stacklevel=3,
        )
    if resume and saved is None:
        warnings.warn(
            f"{run_dir}: no complete checkpoint yet; starting the run from its beginning",
            TrainingWarning,
            stacklevel=3,
        )
    if saved is not None:
        if (run_dir / "config.toml").exists():
            _check_same_config(config, run_dir / "config.toml")
        if saved.epoch > config.learning.epochs:
            raise ConfigError(
                f"{config.source}: [learning] epochs = {config.learning.epochs} but {run_dir} "
                f"already has {saved.epoch} epochs; set epochs ≥ {saved.epoch} to resume it"
            )
    write_text(run_dir / "config.toml", to_toml(config))
    status("loading the data and building the network")
    problem = _build_problem(config)
    # the names once, apart from metrics.json (rewritten every epoch): 1.6 M of them on DRN-1H
    write_text(run_dir / PARAMETERS_FILE, "".join(f"{name}\n" for name in problem.net.trainable))
    cfg = config.learning
    names = list(problem.net.trainable)
    status(f"compiling the circuit ({len(names):,} conductances)")
    # β fixed once (at the initial conductances), so every step uses it; one compile for both
    engine, estimator, beta = engine_with_estimator(
        problem.task, cfg.method, beta=cfg.beta, variant=cfg.variant
    )
    warm = _warm_starts(config, problem, engine, ckpt_dir, saved)
    pool = stack.enter_context(ParallelEngine(engine, estimator, workers))  # forked here
    optimizer = _optimizer(config, problem)
    rng = check_random_state(cfg.seed)
    status("checking which learning rules apply")
    verdict = analyze_applicability(
        problem.net.circuit, names, method=cfg.method, cost=cfg.cost, floor=cfg.g_floor
    )
    ckpt_dir.mkdir(exist_ok=True)
    metrics = read_metrics(metrics_path) if saved is not None else None
    if saved is not None:
        start, g, q0 = saved.epoch, saved.conductances, saved.q0
        optimizer.load_state(saved.optimizer)
        rng.bit_generator.state = saved.rng_state
        checkpoint = saved.path
        if metrics is None or len(metrics["epochs"]) < start + 1:
            warnings.warn(
                f"{metrics_path}: missing or behind its checkpoint; the epochs before "
                f"{start} are not in it",
                TrainingWarning,
                stacklevel=3,
            )
            metrics = _header(config, problem, estimator, beta, verdict)
            status(f"scoring epoch {start} on {problem.n_eval:,} images")
            metrics["epochs"] = [
                _evaluate(problem, pool, g, start, 0.0, None, q0, 0, verdict.applicable, warm)
            ]
        else:
            metrics["epochs"] = metrics["epochs"][: start + 1]
    else:
        start, g = 0, problem.task.conductances
        q0 = conserved_quantity(g)
        metrics = _header(config, problem, estimator, beta, verdict)
        status(f"scoring the untrained network on {problem.n_eval:,} images")
        metrics["epochs"] = [
            _evaluate(problem, pool, g, 0, 0.0, None, q0, 0, verdict.applicable, warm)
        ]
        write_json(metrics_path, metrics)  # before the checkpoint: see resume
        checkpoint = save_checkpoint(
            ckpt_dir, 0, g, rng.bit_generator.state, optimizer.state_dict(), q0
        )
    batches = -(-problem.n_train // cfg.batch_size)
    status.clear()
    bar = _progress_bar(progress, total=batches * (cfg.epochs - start), desc=run_dir.name)
    bar.set_postfix_str(f"test {metrics['epochs'][-1]['test_accuracy']:.4f}")
    warned_dead = False
    try:
        for epoch in range(start + 1, cfg.epochs + 1):
            began = time.perf_counter()
            g, iterations, clipped, norms = _epoch(
                problem, engine, pool, g, optimizer, rng, config, bar, epoch, warm
            )
            metrics["lr"] = optimizer.lr
            bar.set_postfix_str(f"epoch {epoch}: scoring {problem.n_eval:,} images")
            entry = _evaluate(
                problem,
                pool,
                g,
                epoch,
                time.perf_counter() - began,
                iterations,
                q0,
                clipped,
                verdict.applicable,
                warm,
                norms,
            )
            bar.set_postfix_str(f"test {entry['test_accuracy']:.4f}")
            _check_progress(metrics["epochs"][-1], entry)
            warned_dead = warned_dead or _check_dead(problem.net, entry)
            if bar.disable and progress is None:  # stderr is a log file: a line per epoch
                _log_epoch(run_dir.name, entry, cfg.epochs)
            metrics["epochs"].append(entry)
            write_json(metrics_path, metrics)  # before the checkpoint: see resume
            checkpoint = save_checkpoint(
                ckpt_dir, epoch, g, rng.bit_generator.state, optimizer.state_dict(), q0
            )
            if warm is not None:  # after the checkpoint: see save_warm_states
                save_warm_states(ckpt_dir, epoch, warm["train"])
    except TrainingStoppedError as exc:
        exc.payload.update(run_dir=str(run_dir), checkpoint=str(checkpoint))
        raise
    finally:
        bar.close()
    figures = _plot(
        run_dir / "figures", metrics, problem.task.conductances, g, _layer_sizes(problem.net)
    )
    return TrainResult(run_dir, metrics, g, checkpoint, figures)


MAX_CONDUCTANCES = 20_000_000
"""Largest network the trainer builds (trainable conductances): about 8 GB of circuit objects."""

MAX_WARM_BYTES = 4 * 2**30
"""Largest memory ``warm_start`` may take for its stored states (DRN-1H: 0.66 GB)."""


def _build_problem(config: TrainConfig) -> _Problem:
    """Load and encode the dataset, and build the network and one task per training sample."""
    d, n = config.data, config.network
    if d.dataset == "fashion_mnist":  # the official 60k / 10k split; test_fraction unused
        data = load_fashion_mnist(seed=d.seed)
    elif d.dataset == "xor":  # the truth table: train = test, nothing to split
        data = load_xor()
    else:
        loader = {"iris": load_iris, "digits": load_digits, "mnist": load_mnist}[d.dataset]
        data = loader(test_fraction=d.test_fraction, seed=d.seed)
    x_pool, y_pool = data.x_train, data.y_train  # shuffled: its last samples are a random draw
    held: list[tuple[np.ndarray, np.ndarray]] = []
    if d.n_validation is not None:
        if d.n_validation >= len(y_pool):
            raise ConfigError(
                f"{config.source}: [data] n_validation = {d.n_validation} leaves no training "
                f"sample: {d.dataset}'s training split has {len(y_pool)}"
            )
        cut = len(y_pool) - d.n_validation
        held = [(x_pool[cut:], y_pool[cut:])]
        x_pool, y_pool = x_pool[:cut], y_pool[:cut]
    x_train, y_train = _subset(x_pool, y_pool, d.n_train, config, "n_train")
    x_test, y_test = _subset(data.x_test, data.y_test, d.n_test, config, "n_test")
    if d.center:  # the training set's means only: held-out sets must not inform the encoding
        mean = x_train.mean(axis=0)
        x_train, x_test = x_train - mean, x_test - mean
        held = [(x - mean, y) for x, y in held]
    n_inputs = data.n_features + int(n.bias_input)
    size = sum(_crossbar_sizes([n_inputs * 2, *n.hidden, data.n_classes]))
    if size > MAX_CONDUCTANCES:
        raise ConfigError(
            f"{config.source}: [network] hidden = {list(n.hidden)} makes {size:,} conductances "
            f"with {data.n_features} inputs; at most {MAX_CONDUCTANCES:,} (DRN-1H has 1.6 M)"
        )
    net = kendall_network(
        n_inputs,
        list(n.hidden),
        data.n_classes,
        seed=n.seed,
        g_range=n.g_range,
        diode_model=dict(n.diode) or None,
        bias_voltages=n.bias_voltages,
        amplifier_gain=n.amplifier_gain or None,
        feedback_gain=n.feedback_gain or None,
        activation=n.activation,
    )
    low, high = (0.0, 1.0) if config.learning.cost == "cross_entropy" else d.target_range
    for name, x in (("training", x_train), *(("validation", x) for x, _ in held), ("test", x_test)):
        if not np.all(np.isfinite(x)):
            row = int(np.flatnonzero(~np.all(np.isfinite(x), axis=1))[0])
            raise DataError(
                f"{config.source}: [data] {d.dataset}: {name} sample {row} has non-finite features"
            )
    sets = [
        (x, one_hot_targets(y, data.n_classes, low=low, high=high), y)
        for x, y in ((x_train, y_train), (x_test, y_test), *held)
    ]
    n_train_eval = len(y_train) if d.n_train_eval is None else min(d.n_train_eval, len(y_train))
    midpoint = sum(n.bias_voltages) / 2
    validation = sets[2] if held else None
    return _Problem(
        config, net, sets[0], sets[1], validation, d.input_range, n.bias_input, n_train_eval,
        midpoint,
    )  # fmt: skip


def _encode(x: np.ndarray, input_range: tuple[float, float], bias_input: bool) -> np.ndarray:
    """Source voltages of samples ``x`` (features in [0, 1], or centred): (x, −x) pairs, the bias
    pair last (its feature is 1 whether or not the others are centred)."""
    features = with_bias_feature(x) if bias_input else x
    return differential_pairs(features, voltage_range=input_range)


def _glorot(net: LayeredNetwork, g_node: float, seed: int) -> np.ndarray:
    """Initial conductances scaled to each crossbar's fan-in (a Glorot-like initialisation).

    A node fed by ``fan_in`` conductances drawn uniformly in [0.5, 1.5] × ``g_node`` / fan_in
    sees a total input conductance of about ``g_node`` [S] whatever its layer's width, so a
    784-input layer and a 100-input one start on the same footing (with ``g_range`` the wide layer
    would dominate its node's total conductance by its width alone).
    """
    rng = check_random_state(seed)
    widths = [len(net.input_nodes), *(len(layer) for layer in net.hidden_nodes)]
    parts = [
        rng.uniform(0.5, 1.5, size) * g_node / fan_in
        for fan_in, size in zip(widths, _layer_sizes(net), strict=True)
    ]
    return np.concatenate(parts)


def _subset(
    x: np.ndarray, y: np.ndarray, size: int | None, config: TrainConfig, key: str
) -> tuple[np.ndarray, np.ndarray]:
    """The first ``size`` samples of a split that the loader already shuffled (stratified)."""
    if size is None:
        return x, y
    if size > len(y):
        held = config.data.n_validation if key == "n_train" else None
        raise ConfigError(
            f"{config.source}: [data] {key}: {config.data.dataset} has only {len(y)} samples in "
            f"this split (test_fraction = {config.data.test_fraction}"
            f"{'' if held is None else f', after n_validation = {held}'}); got {size}"
        )
    return x[:size], y[:size]


def _epoch(
    problem: _Problem,
    engine: BatchEngine,
    pool: ParallelEngine,
    g: np.ndarray,
    optimizer: Optimizer,
    rng: np.random.Generator,
    config: TrainConfig,
    bar: Any,
    epoch: int,
    warm: dict[str, np.ndarray] | None = None,
) -> tuple[np.ndarray, float, int, list[float]]:
    """One pass over the shuffled training set; returns G, mean Newton iterations, clipped, and
    the mean gradient norm of each crossbar.

    Each mini-batch's gradient comes from one batched computation on the compiled ``engine``
    (or its forked copies, each on a part of the batch: ``pool``), whose values are
    rewritten from ``g`` before every step (nothing is compiled here). With
    ``warm`` (``warm_start``), each sample's free phase starts at its state of the previous
    epoch, and its new state is stored there.

    Raises
    ------
    TrainingStoppedError
        A batch whose free phase does not converge, or a step that leaves conductances or the
        gradient non-finite (naming the epoch and batch; the last checkpoint stays the last good
        state).
    """
    cfg = config.learning
    order = rng.permutation(problem.n_train)
    iterations: list[float] = []
    norms: list[np.ndarray] = []
    bounds = np.cumsum([0, *_layer_sizes(problem.net)])
    clipped = 0
    too_large = 0  # steps that looked too large: the first is warned about, the rest counted
    norm = float(np.linalg.norm(g))  # then each step's, carried over: one pass a step
    covered = bounds[-1] == len(g)  # the crossbars' norms then vouch for the whole gradient
    for number, first in enumerate(range(0, len(order), cfg.batch_size), start=1):
        where = f"epoch {epoch}, batch {number}"
        index = order[first : first + cfg.batch_size]
        try:
            grad = pool.gradient(
                g, problem.batch(engine, "train", index), x0=_start(warm, "train", index)
            )
        except ConvergenceError as exc:
            raise TrainingStoppedError(f"{where}: {exc}", epoch, number) from None
        layer_norms = _layer_norms(grad.vector, bounds)
        if not _finite(grad.vector, layer_norms if covered else [math.nan]):
            raise TrainingStoppedError(f"{where}: the gradient is not finite", epoch, number)
        if warm is not None and len(grad.states) == len(index):  # (sample-by-sample: none)
            warm["train"][index] = grad.states
        iterations.append(float(np.mean(grad.iterations)))
        norms.append(layer_norms)
        before = norm
        g, n_clipped = optimizer.step(g, grad.vector, epoch)
        lr = float(optimizer.lr)
        norm = float(np.linalg.norm(g))
        growth = norm / before
        jumped, clipped_most = growth > JUMP_WARNING, n_clipped > CLIP_WARNING * len(g)
        if jumped and not too_large:
            warnings.warn(
                f"{where}: one step multiplied the conductances' norm by {growth:.3g}; "
                + _likely_cause(config, problem, lr),
                TrainingWarning,
                stacklevel=2,
            )
        if not _finite(g, [norm]):
            raise TrainingStoppedError(
                f"{where}: the step made conductances non-finite (learning rate {lr:.3g} too "
                "large?)",
                epoch,
                number,
            )
        if clipped_most and not too_large and not jumped:
            warnings.warn(
                f"{where}: the step clipped {n_clipped} of {len(g)} conductances to the range "
                f"[{optimizer.floor:g}, {optimizer.ceiling:g}] S; "
                + _likely_cause(config, problem, lr),
                TrainingWarning,
                stacklevel=2,
            )
        too_large += jumped or clipped_most
        clipped += n_clipped
        bar.update(1)
    if too_large > 1:  # the first was warned about when it happened
        warnings.warn(
            f"epoch {epoch}: {too_large - 1} more of its {number} steps also grew the "
            f"conductances' norm more than {JUMP_WARNING:g}-fold or clipped more than "
            f"{CLIP_WARNING:.0%} of them",
            TrainingWarning,
            stacklevel=2,
        )
    return g, float(np.mean(iterations)), clipped, np.mean(norms, axis=0).tolist()


def _likely_cause(config: TrainConfig, problem: _Problem, lr: float) -> str:
    """What a runaway step most likely comes from: the rate, or a method that is biased on
    this circuit (EP and CL on non-reciprocal elements)."""
    cause = f"the learning rate {lr:.3g} is probably too large"
    method = config.learning.method
    if method in EXACT_LIMIT_METHODS:
        return cause
    nonreciprocal = nonreciprocal_elements(problem.net.circuit)
    if not nonreciprocal:
        return cause
    shown = ", ".join(nonreciprocal[:3]) + (", …" if len(nonreciprocal) > 3 else "")
    return (
        f"{cause}, or {method!r} follows a biased gradient on this circuit's "
        f"{len(nonreciprocal)} non-reciprocal elements ({shown}): aep, dyadic and exact "
        "follow the true one"
    )


CLIP_WARNING = 0.5
"""A step that clips more than this fraction of the conductances to the floor is warned about."""

JUMP_WARNING = 10.0
"""A step that multiplies the conductances' norm by more than this is warned about."""


def _optimizer(config: TrainConfig, problem: _Problem) -> Optimizer:
    """The run's optimizer: rule, rate, schedule, the device range and per-layer rate factors."""
    cfg = config.learning
    factors = None
    if cfg.layer_lr is not None:
        sizes = _layer_sizes(problem.net)
        if len(cfg.layer_lr) != len(sizes):
            raise ConfigError(
                f"{config.source}: [learning] layer_lr has {len(cfg.layer_lr)} factors; the "
                f"network has {len(sizes)} crossbars (input side first)"
            )
        factors = np.repeat(np.array(cfg.layer_lr, dtype=float), sizes)
    return Optimizer(
        cfg.optimizer,
        lr=cfg.lr,
        lr_fraction=cfg.lr_fraction,
        momentum=cfg.momentum,
        floor=cfg.g_floor,
        ceiling=math.inf if cfg.g_ceiling is None else cfg.g_ceiling,
        factors=factors,
        schedule=cfg.schedule,
        gamma=cfg.schedule_gamma,
        every=cfg.schedule_every,
        epochs=cfg.epochs,
    )


def _layer_sizes(net: LayeredNetwork) -> list[int]:
    """Number of conductances of each crossbar, input side first (the order of trainable)."""
    return _crossbar_sizes(
        [len(net.input_nodes), *(len(layer) for layer in net.hidden_nodes), len(net.output_nodes)]
    )


def _crossbar_sizes(widths: list[int]) -> list[int]:
    """Conductances of the crossbars joining consecutive layers of these widths."""
    return [a * b for a, b in itertools.pairwise(widths)]


DEAD_FRACTION = 0.99
"""A hidden unit clamped on the same side in this fraction of the scored samples is dead."""
DEAD_WARNING = 0.5
"""Warn when more than this fraction of a hidden layer's units is dead: once per ``train`` call
(a resumed run may warn again)."""


def _check_dead(net: LayeredNetwork, entry: dict[str, Any]) -> bool:
    """Warn when a hidden layer has lost many units to one clamp (True: warned)."""
    for layer, (fraction, nodes) in enumerate(
        zip(entry["dead_by_layer"] or (), net.hidden_nodes, strict=True), start=1
    ):
        if fraction > DEAD_WARNING:
            warnings.warn(
                f"epoch {entry['epoch']}: {round(fraction * len(nodes))} of {len(nodes)} units "
                f"of hidden layer {layer} are dead (clamped on the same side for at least "
                f"{DEAD_FRACTION:.0%} of the scored samples: constants that no longer learn). "
                "Features that are all >= 0, such as pixels, give units an offset that their "
                "bias pair cannot cancel: try [data] center = true, or a lower learning rate",
                TrainingWarning,
                stacklevel=3,
            )
            return True
    return False


def _check_progress(previous: dict[str, Any], entry: dict[str, Any]) -> None:
    """Warn when an epoch left the training loss exactly where it was (a frozen run)."""
    if entry["train_loss"] == previous["train_loss"]:
        warnings.warn(
            f"epoch {entry['epoch']}: the training loss did not change "
            f"({entry['train_loss']:.6g}); conductances stuck at the floor or a learning rate "
            "of 0?",
            TrainingWarning,
            stacklevel=3,
        )


def _evaluate(
    problem: _Problem,
    pool: ParallelEngine,
    g: np.ndarray,
    epoch: int,
    seconds: float,
    iterations: float | None,
    q0: float,
    clipped: int,
    applicable: bool,
    warm: dict[str, np.ndarray] | None = None,
    gradient_norms: list[float] | None = None,
) -> dict[str, Any]:
    """One ``metrics.json`` epoch entry: batched free-phase solves of the train and test sets
    (with ``warm``, started at the previous evaluation's states, kept apart from training's),
    a chunk per worker at a time."""
    engine = pool.engine
    entry: dict[str, Any] = {"epoch": epoch}
    rows = engine.output_rows
    hidden = [node for layer in problem.net.hidden_nodes for node in layer]
    high, low = np.zeros(len(hidden)), np.zeros(len(hidden))
    chunk = engine.solve_chunk
    for name, labels in problem.scored():
        losses, outputs = [], []
        starts = range(0, len(labels), chunk)
        for at in range(0, len(starts), pool.workers):
            indices = [
                np.arange(first, min(first + chunk, len(labels)))
                for first in starts[at : at + pool.workers]
            ]
            batches = [problem.batch(engine, name, index) for index in indices]
            key = f"{name}_eval"
            jobs = [(b, _start(warm, key, i)) for b, i in zip(batches, indices, strict=True)]
            solved = pool.free_states(g, jobs, hidden, problem.rail_midpoint)
            for index, batch, states in zip(indices, batches, solved, strict=True):
                if warm is not None:
                    warm[key][index] = states.x
                out = states.x[:, rows]
                outputs.append(out)
                losses.append(problem.task.cost.values(out, batch.targets))
                if hidden:
                    high += states.above * len(out)
                    low += states.below * len(out)
        outputs_all = np.concatenate(outputs)
        entry[f"{name}_loss"] = float(np.mean(np.concatenate(losses)))
        entry[f"{name}_accuracy"] = float(np.mean(decode_classes(outputs_all) == labels))
    q = conserved_quantity(g)
    by_layer = _by_layer(problem.net, (high + low) / problem.n_eval)
    dead = _by_layer(problem.net, np.maximum(high, low) / problem.n_eval >= DEAD_FRACTION)
    entry.update(
        time=round(seconds, 3),
        newton_iterations=iterations,
        conserved_quantity=q if applicable else None,
        drift=(q - q0) / q0 if applicable else None,
        clipped=clipped,
        hidden_conducting_fraction=float(np.mean(by_layer)) if by_layer else None,
        conducting_by_layer=by_layer or None,
        dead_by_layer=dead or None,
        gradient_norm_by_layer=gradient_norms,
    )
    return entry


def _warm_starts(
    config: TrainConfig,
    problem: _Problem,
    engine: BatchEngine,
    ckpt_dir: Path,
    saved: Checkpoint | None,
) -> dict[str, np.ndarray] | None:
    """Each sample's last free state (NaN rows: none yet) when ``warm_start`` is on: training's
    (saved with the checkpoints, so that a resumed run continues bit for bit) and the
    evaluations' (in memory: they change no conductance)."""
    if not config.learning.warm_start:
        return None
    n = engine.system.n
    size = 8 * n * (problem.n_train + problem.n_eval)
    if size > MAX_WARM_BYTES:
        raise ConfigError(
            f"{config.source}: [learning] warm_start keeps {n} unknowns of every sample: "
            f"{size / 2**30:.1f} GiB, above {MAX_WARM_BYTES / 2**30:.0f} GiB; set warm_start = "
            "false or train on fewer samples"
        )
    train = np.full((problem.n_train, n), np.nan)
    if saved is not None:
        loaded = load_warm_states(ckpt_dir, saved.epoch, train.shape)
        train = train if loaded is None else loaded
    return {
        "train": train,
        **{f"{name}_eval": np.full((len(labels), n), np.nan) for name, labels in problem.scored()},
    }


def _start(warm: dict[str, np.ndarray] | None, key: str, index: np.ndarray) -> np.ndarray | None:
    """The stored states of samples ``index`` when all of them have one (else a cold start)."""
    if warm is None:
        return None
    states = warm[key][index]
    return None if np.isnan(states).any() else states


def _by_layer(net: LayeredNetwork, fractions: np.ndarray) -> list[float]:
    """Mean of per-hidden-node ``fractions`` (layers in order, as :attr:`hidden_nodes`) by layer."""
    bounds = np.cumsum([0, *(len(layer) for layer in net.hidden_nodes)])
    return [float(np.mean(fractions[a:b])) for a, b in itertools.pairwise(bounds)]


def _finite(values: np.ndarray, norms: Sequence[float]) -> bool:
    """Whether every value is finite, given the norms of parts that cover ``values`` (all
    finite: so is every value, without another pass over 1.6 M of them; a norm that is not
    finite, e.g. overflowed, sends the question to the values)."""
    return bool(np.all(np.isfinite(norms))) or bool(np.all(np.isfinite(values)))


def _layer_norms(gradient: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """‖gradient‖ of each crossbar (``bounds``: the cumulative crossbar sizes from 0)."""
    return np.array([np.linalg.norm(gradient[a:b]) for a, b in itertools.pairwise(bounds)])


def _header(
    config: TrainConfig,
    problem: _Problem,
    estimator: GradientEstimator,
    beta: float | None,
    verdict: Any,
) -> dict[str, Any]:
    """The run-level part of ``metrics.json``."""
    return {
        "config": config.source,
        "dataset": config.data.dataset,
        "network": problem.net.circuit.title,
        "estimator": repr(estimator),
        "method": config.learning.method,
        "beta": beta,
        "lr": config.learning.lr,
        "n_train": problem.n_train,
        "n_train_eval": problem.n_train_eval,
        "n_validation": problem.n_validation,
        "n_test": len(problem.test[2]),
        "n_parameters": len(problem.net.trainable),
        "conservation": {
            "quantity": QUANTITY_NAME,
            "applicable": verdict.applicable,
            "reasons": list(verdict.reasons),
        },
        "epoch_keys": _epoch_keys(problem),
    }


def _epoch_keys(problem: _Problem) -> list[str]:
    """:data:`EPOCH_KEYS`, with the validation set's after the training set's when held out."""
    keys = list(EPOCH_KEYS)
    if problem.validation is not None:
        at = keys.index("train_accuracy") + 1
        keys[at:at] = ["validation_loss", "validation_accuracy"]
    return keys


def run_label(metrics: dict[str, Any]) -> str:
    """The learning rule of a run as people read it: ``ep (β = 5.48e-09)``, ``exact``."""
    beta = metrics.get("beta")
    return metrics["method"] if beta is None else f"{metrics['method']} (β = {beta:.3g})"


def _check_same_config(config: TrainConfig, saved: Path) -> None:
    """Refuse to resume with another config; only ``[learning] epochs`` and ``warm_start`` (the
    same operating points, to rounding) may change."""
    previous = load_config(saved)
    learning = config.learning
    previous = replace(
        previous,
        learning=replace(previous.learning, epochs=learning.epochs, warm_start=learning.warm_start),
    )
    for table in ("data", "network", "learning"):
        if getattr(previous, table) != getattr(config, table):
            raise ConfigError(
                f"{config.source}: [{table}] differs from the run's {saved} (only [learning] "
                "epochs and warm_start may change on --resume); use the run's config or another "
                "--out"
            )


def _log_epoch(name: str, entry: dict[str, Any], epochs: int) -> None:
    """One line on stderr after each epoch, for runs whose stderr is a file (no tqdm bar)."""
    print(
        f"{name}: epoch {entry['epoch']}/{epochs}: train loss {entry['train_loss']:.4g}, "
        f"accuracy {entry['train_accuracy']:.4f} train, {_validation_text(entry)}"
        f"{entry['test_accuracy']:.4f} test, "
        f"{entry['time']:.0f} s",
        file=sys.stderr,
        flush=True,
    )


def _validation_text(entry: dict[str, Any]) -> str:
    """``"0.8512 validation, "`` for a run that holds out a validation set, else nothing."""
    accuracy = entry.get("validation_accuracy")
    return "" if accuracy is None else f"{accuracy:.4f} validation, "


def _shows_progress(progress: bool | None) -> bool:
    """Whether a run draws its bar: ``progress``, or by default when stderr is a terminal
    outside CI."""
    if progress is None:
        return sys.stderr.isatty() and os.environ.get("CI", "").lower() != "true"
    return progress


def _progress_bar(progress: bool | None, *, total: int, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(
        total=total, desc=desc, unit="batch", disable=not _shows_progress(progress), file=sys.stderr
    )


class _Status:
    """The setup stage a run is in, on one line of the terminal (rewritten in place), so that
    the minutes before the bar of a large network (DRN-1H: ~3) are not silent. As a context, it
    erases the line before a warning is shown and when the run ends, so that neither a warning
    nor a failed setup's error runs into it."""

    def __init__(self, name: str, enabled: bool) -> None:
        self.name, self.enabled, self.width = name, enabled, 0
        self._warnings = warnings.catch_warnings()

    def __enter__(self) -> _Status:
        if self.enabled:
            self._warnings.__enter__()
            show = warnings.showwarning

            def clear_then_show(*args: Any, **kwargs: Any) -> None:
                self.clear()
                show(*args, **kwargs)

            warnings.showwarning = clear_then_show
        return self

    def __exit__(self, *exc: object) -> None:
        self.clear()
        if self.enabled:
            self._warnings.__exit__(*exc)

    def __call__(self, stage: str) -> None:
        if self.enabled:
            line = f"{self.name}: {stage}…"
            sys.stderr.write("\r" + line.ljust(self.width))
            sys.stderr.flush()
            self.width = len(line)

    def clear(self) -> None:
        """Erase the line, for the bar that takes its place."""
        if self.enabled and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()
            self.width = 0


def _plot(
    folder: Path, metrics: dict[str, Any], initial: np.ndarray, final: np.ndarray, sizes: list[int]
) -> tuple[Path, ...]:
    """``training.png``: loss, accuracy (fitted to epochs 1 onwards when the untrained epoch 0
    would flatten them), and each hidden layer's clamped fraction and dead units against epoch;
    ``layers.png``: each crossbar's gradient norm against epoch and its conductance histogram
    (initial and final); ``conservation.png``: the drift of Q where the conservation law
    applies."""
    from matplotlib.figure import Figure

    from circuitlearn.diagnostics.plots import fit_trained_epochs

    folder.mkdir(parents=True, exist_ok=True)
    epochs = metrics["epochs"]
    x = [e["epoch"] for e in epochs]
    by_layer = [e.get("conducting_by_layer") for e in epochs]
    shown = any(c is not None for c in by_layer)
    fig = Figure(figsize=(13.0 if shown else 9.0, 3.6), layout="constrained")
    axes = fig.subplots(1, 3 if shown else 2)
    loss_ax, acc_ax = axes[0], axes[1]
    if shown:
        width = max(len(c) for c in by_layer if c is not None)
        dead = [e.get("dead_by_layer") for e in epochs]  # absent in runs from before it
        for layer in range(width):
            fraction = [np.nan if c is None else c[layer] for c in by_layer]
            line = axes[2].plot(x, fraction, "-o", ms=3, label=f"hidden layer {layer + 1}")
            if any(d is not None for d in dead):
                axes[2].plot(
                    x,
                    [np.nan if d is None else d[layer] for d in dead],
                    "--x",
                    ms=4,
                    color=line[0].get_color(),
                    label=f"layer {layer + 1}: units dead",
                )
        axes[2].set_xlabel("epoch")
        axes[2].set_ylabel("clamped (unit–sample pairs)")
        axes[2].set_ylim(0.0, 1.02)
        axes[2].legend()
    accuracies = []
    held_out = [("validation", ":^")] if "validation_accuracy" in epochs[-1] else []
    for split, style in (("train", "-o"), *held_out, ("test", "--s")):
        loss_ax.plot(x, [e[f"{split}_loss"] for e in epochs], style, ms=3, label=split)
        accuracy = np.array([e[f"{split}_accuracy"] for e in epochs], dtype=float)
        acc_ax.plot(x, accuracy, style, ms=3, label=split)
        accuracies.append((accuracy, accuracy))
    loss_ax.set_yscale("log")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("mean cost")
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("accuracy")
    if not (x and x[0] == 0 and fit_trained_epochs(acc_ax, accuracies)):
        acc_ax.set_ylim(0.0, 1.02)
    for ax in (loss_ax, acc_ax):
        ax.legend()
    fig.suptitle(f"{metrics['dataset']}: {run_label(metrics)}")
    paths = [folder / "training.png"]
    fig.savefig(paths[0], dpi=110)
    paths.append(_plot_layers(folder / "layers.png", epochs, initial, final, sizes))
    if metrics["conservation"]["applicable"]:
        fig = Figure(figsize=(4.6, 3.6), layout="constrained")
        ax = fig.subplots()
        ax.plot(x, [e["drift"] for e in epochs], "-o", ms=3)
        ax.set_xlabel("epoch")
        ax.set_ylabel("relative drift of Q = ½ΣG²")
        paths.append(folder / "conservation.png")
        fig.savefig(paths[-1], dpi=110)
    return tuple(paths)


def _plot_layers(
    path: Path,
    epochs: list[dict[str, Any]],
    initial: np.ndarray,
    final: np.ndarray,
    sizes: list[int],
) -> Path:
    """Per crossbar: gradient norm against epoch, and the initial and final conductances."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * (len(sizes) + 1), 3.6), layout="constrained")
    axes = fig.subplots(1, len(sizes) + 1)
    trained = [e for e in epochs if e.get("gradient_norm_by_layer")]
    for layer in range(len(sizes)):
        axes[0].plot(
            [e["epoch"] for e in trained],
            [e["gradient_norm_by_layer"][layer] for e in trained],
            "-o",
            ms=3,
            label=f"crossbar {layer + 1}",
        )
    axes[0].set_yscale("log")
    axes[0].set_xlabel("epoch")
    axes[0].set_ylabel("mean ‖∂C/∂G‖ per mini-batch [V²/S]")
    axes[0].legend()
    bounds = np.cumsum([0, *sizes])
    for layer, ax in enumerate(axes[1:]):
        a, b = bounds[layer], bounds[layer + 1]
        both = np.concatenate([initial[a:b], final[a:b]])
        bins = np.geomspace(max(both.min(), 1e-12), max(both.max(), 2e-12), 40)
        ax.hist(initial[a:b], bins=bins, alpha=0.5, label="initial")
        ax.hist(final[a:b], bins=bins, alpha=0.5, label="final")
        ax.set_xscale("log")
        ax.set_xlabel("conductance [S]")
        ax.set_ylabel("count")
        ax.set_title(f"crossbar {layer + 1} ({b - a:,} resistors)")
        ax.legend()
    fig.savefig(path, dpi=110)
    return path
