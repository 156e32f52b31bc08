"""A scikit-learn classifier whose model is a trained analog circuit: :class:`CircuitClassifier`.

``fit`` builds a Kendall et al. layered network (differential input pairs, diode-clamped hidden
nodes, one output node per class) and trains its conductances with any learning rule on the
batched engine; ``predict`` reads the class of the output node with the highest voltage,
``predict_proba`` a softmax of the output voltages. The fitted network is a circuit:
``to_spice()`` writes it as a netlist that ngspice simulates.

Features are scaled to [0, 1] with the training data's per-feature minimum and maximum (values
outside that range at prediction time are clipped to it), then mapped onto ``input_range`` [V]
as (x, −x) source pairs; one more pair held at the top of the range gives every node a trainable
bias (a resistive layer alone only averages its inputs).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from circuitlearn._random import check_random_state
from circuitlearn.circuit import LayeredNetwork, kendall_network
from circuitlearn.data import differential_pairs, one_hot_targets, with_bias_feature
from circuitlearn.errors import ConfigError, DataError
from circuitlearn.train import checks
from circuitlearn.train.config import check_setting

__all__ = ["CircuitClassifier"]

try:  # scikit-learn is an optional dependency (extras "data" and "dev")
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ImportError(
        "CircuitClassifier needs scikit-learn: pip install 'circuitlearn[data]'"
    ) from exc


_CONFIG_KEYS: dict[str, tuple[str, str]] = {
    "hidden": ("network", "hidden"),
    "method": ("learning", "method"),
    "beta": ("learning", "beta"),
    "optimizer": ("learning", "optimizer"),
    "lr": ("learning", "lr"),
    "lr_fraction": ("learning", "lr_fraction"),
    "epochs": ("learning", "epochs"),
    "batch_size": ("learning", "batch_size"),
    "g_range": ("network", "g_range"),
    "bias_voltages": ("network", "bias_voltages"),
    "amplifier_gain": ("network", "amplifier_gain"),
    "feedback_gain": ("network", "feedback_gain"),
    "input_range": ("data", "input_range"),
    "target_range": ("data", "target_range"),
    "activation": ("network", "activation"),
    "cost": ("learning", "cost"),
    "schedule": ("learning", "schedule"),
}
"""Each parameter that is also a ``circuitlearn train`` config key: (table, key)."""

_OPTIONAL = frozenset({"beta", "lr", "amplifier_gain", "feedback_gain"})
"""Parameters whose ``None`` means "the default"."""


class CircuitClassifier(ClassifierMixin, BaseEstimator):
    """A layered diode network trained as a classifier (see the module notes).

    Parameters
    ----------
    hidden : tuple of int
        Hidden layer sizes (``()`` for none).
    method : {"exact", "ep", "cl", "aep", "dyadic"}
        The learning rule (``exact`` is the backprop reference).
    beta : float, optional
        Nudge strength [S] (CL: η); default the rule's own, fixed at the first step.
    optimizer : {"sgd", "momentum", "adam"}
    lr : float, optional
        Learning rate (SGD/momentum [S²/V²], Adam [S]); default ``lr_fraction`` scaled.
    lr_fraction : float
    epochs : int
    batch_size : int
    g_range : (float, float) [S]
        Initial conductances, uniform.
    bias_voltages : (float, float) [V]
        Diode rails (low, high); the default (0.3, −0.3) overlaps them so the diodes shape every
        hidden node's response.
    amplifier_gain, feedback_gain : float, optional
        Bidirectional amplifiers after the hidden nodes (non-reciprocal when the gains differ).
    input_range, target_range : (float, float) [V]
        The default inputs of 0–3 V drive the hidden nodes well into the diodes' conduction
        (iris, 80/20 split, 3 seeds, ``exact``: test accuracy 0.967 with 0–3 V, 0.922 with
        0–1 V, where most hidden nodes stay in the diodes' soft knee).
        Feature and target voltage encodings.
    temperature : float [V]
        Softmax temperature of ``predict_proba``.
    activation : {"diode", "relu", "nmos"}
        The hidden units: clamped by two diodes (saturating), by one diode (rectifying; half of
        the units excitatory, half inhibitory, as the ``mnist_5k`` preset), or by
        diode-connected NMOS transistors.
    cost : {"mse", "cross_entropy"}
        The training cost (cross-entropy targets are the class probabilities, so
        ``target_range`` is unused).
    schedule : {"constant", "step", "cosine"}
        Learning-rate factor over the ``epochs`` of :meth:`fit` (cosine: from 1 to 0); calls of
        :meth:`partial_fit` past ``epochs`` keep the last epoch's factor.
    verbose : bool
        Print each epoch's mean training cost (as scikit-learn's MLP does).
    n_jobs : int, optional
        Processes that share each mini-batch (Linux): ``None`` or 1 one; negative as joblib
        counts them (−1 one per CPU, −2 all but one). The gradients agree with one process's to
        rounding (``circuitlearn train --workers``).
    random_state : None, int or Generator
        Initial conductances and mini-batch order.

    Attributes
    ----------
    classes_, n_features_in_ : the fitted labels and feature count.
    network_ : LayeredNetwork
        The built network (its circuit holds the initial conductances).
    conductances_ : ndarray [S]
        Trained conductances, in ``network_.trainable`` order.
    loss_curve_ : list of float
        Mean training cost of each epoch.
    n_iter_ : int
        Epochs trained (``fit``'s, or one per ``partial_fit`` call).

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = CircuitClassifier(hidden=(6,), epochs=5, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).tolist(), clf.predict_proba(X[:1]).shape
    ([0, 0, 0], (1, 3))
    """

    def __init__(
        self,
        hidden: tuple[int, ...] = (16,),
        method: str = "ep",
        beta: float | None = None,
        optimizer: str = "adam",
        lr: float | None = None,
        lr_fraction: float = 0.1,
        epochs: int = 30,
        batch_size: int = 16,
        g_range: tuple[float, float] = (1e-5, 1e-4),
        bias_voltages: tuple[float, float] = (0.3, -0.3),
        amplifier_gain: float | None = None,
        feedback_gain: float | None = None,
        input_range: tuple[float, float] = (0.0, 3.0),
        target_range: tuple[float, float] = (0.0, 0.3),
        temperature: float = 0.05,
        activation: str = "diode",
        cost: str = "mse",
        schedule: str = "constant",
        verbose: bool = False,
        n_jobs: int | None = None,
        random_state: Any = None,
    ) -> None:
        self.hidden = hidden
        self.method = method
        self.beta = beta
        self.optimizer = optimizer
        self.lr = lr
        self.lr_fraction = lr_fraction
        self.epochs = epochs
        self.batch_size = batch_size
        self.g_range = g_range
        self.bias_voltages = bias_voltages
        self.amplifier_gain = amplifier_gain
        self.feedback_gain = feedback_gain
        self.input_range = input_range
        self.target_range = target_range
        self.temperature = temperature
        self.activation = activation
        self.cost = cost
        self.schedule = schedule
        self.verbose = verbose
        self.n_jobs = n_jobs
        self.random_state = random_state

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any) -> CircuitClassifier:
        """Build the network for (X, y) and train it for ``epochs`` epochs.

        Raises
        ------
        ConfigError
            A parameter out of its range (naming it), before any data is looked at.
        DataError
            X or y unusable (NaN, one class, wrong shape).
        """
        self._check_params()
        X, y = self._validate(X, y, reset=True)
        self._start(X, y, np.unique(y))
        for _ in range(int(self.epochs)):
            self._epoch(X, y)
        return self

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> CircuitClassifier:
        """One epoch on (X, y); the first call builds the network (``classes``: all labels)."""
        first = not hasattr(self, "classes_")
        if first:
            self._check_params()
        X, y = self._validate(X, y, reset=first)
        if first:
            labels = np.unique(y) if classes is None else np.unique(np.asarray(classes))
            self._start(X, y, labels)
        elif classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise DataError(f"partial_fit: classes {classes!r} differ from the first call's")
        else:
            _check_labels(y, self.classes_)
        self._epoch(X, y)
        return self

    # -- prediction ---------------------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """Softmax of the output voltages over ``temperature`` (samples × classes)."""
        z = self._outputs(X) / float(self.temperature)
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, X: Any) -> np.ndarray:
        """The class of the output node with the highest voltage."""
        outputs = self._outputs(X)  # checks fitted first
        return self.classes_[np.argmax(outputs, axis=1)]

    def to_spice(self, x: Any = None) -> str:
        """The trained circuit as an ngspice netlist, its input sources set for one sample.

        ``x``: one sample's features (a row of ``X`` as given to ``fit``: a 1-D array, or one row
        of a 2-D array or DataFrame); by default every feature at its minimum over the first
        ``fit``'s data. The bias pair is always at its fixed voltages. In ngspice, the class is
        the output node (``network_.output_nodes``, in ``classes_`` order) of highest voltage.
        """
        check_is_fitted(self)
        if x is None:
            row = self._low[np.newaxis, :]
        else:
            shaped = x if hasattr(x, "columns") or np.ndim(x) != 1 else np.asarray(x)[np.newaxis]
            try:
                row = validate_data(self, shaped, reset=False, dtype=np.float64)
            except ValueError as exc:
                raise DataError(f"to_spice: {exc}") from None
            if len(row) != 1:
                raise DataError(f"to_spice: x must be one sample; got {len(row)} rows")
        return self.network_.trained(self.conductances_, self._voltages(row)[0]).to_spice()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_engine", None)  # compiled solver state is rebuilt on demand
        return state

    # -- internals ----------------------------------------------------------------------------
    def _check_params(self) -> None:
        """Check every parameter as ``circuitlearn train`` checks the same key of a config."""
        where = "CircuitClassifier:"
        for name, (table, key) in _CONFIG_KEYS.items():
            value = getattr(self, name)
            if value is not None or name not in _OPTIONAL:
                check_setting(table, key, value, f"{where} {name}")
        checks.POSITIVE(checks.as_toml(self.temperature), f"{where} temperature")
        checks.boolean(checks.as_toml(self.verbose), f"{where} verbose")
        self._workers()

    def _workers(self) -> int:
        """Processes for ``n_jobs`` (None: 1; −1: one per CPU, −2 all but one, …)."""
        n_jobs = self.n_jobs
        if n_jobs is None:
            return 1
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
            raise ConfigError(
                f"CircuitClassifier: n_jobs must be None or a nonzero integer; got {n_jobs!r}"
            )
        return int(n_jobs) if n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + int(n_jobs))

    def _validate(self, X: Any, y: Any, *, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        try:
            X, y = validate_data(self, X, y, reset=reset, dtype=np.float64)
            check_classification_targets(y)
        except ValueError as exc:
            raise DataError(str(exc)) from None
        return X, y

    def _start(self, X: np.ndarray, y: np.ndarray, labels: np.ndarray) -> None:
        """Build the network and the training state for the classes ``labels``."""
        from circuitlearn.learn import LearningTask
        from circuitlearn.learn.batched import engine_with_estimator
        from circuitlearn.learn.optim import Optimizer

        if len(labels) < 2:
            only = labels.tolist()[0]
            raise DataError(
                f"CircuitClassifier needs samples of at least 2 classes; got 1 class: {only!r}"
            )
        _check_labels(y, labels)
        self.classes_ = labels
        self._rng = check_random_state(self.random_state)
        self._low = X.min(axis=0)
        self._span = np.where(X.max(axis=0) > self._low, X.max(axis=0) - self._low, 1.0)
        self.network_: LayeredNetwork = kendall_network(
            X.shape[1] + 1,  # the features and a constant 1: a trainable bias per node
            list(self.hidden),
            len(labels),
            seed=self._rng,
            g_range=tuple(self.g_range),
            bias_voltages=tuple(self.bias_voltages),
            amplifier_gain=self.amplifier_gain,
            feedback_gain=self.feedback_gain,
            activation=str(self.activation).lower(),
        )
        net = self.network_
        first = self._voltages(X[:1])[0]
        task = LearningTask(
            net.circuit,
            list(net.trainable),
            list(net.output_nodes),
            targets=self._targets(y[:1])[0],
            cost=str(self.cost).lower(),
            inputs=dict(zip(net.input_sources, first.tolist(), strict=True)),
        )
        self.conductances_ = task.conductances
        self._engine, self._estimator, _ = engine_with_estimator(
            task, str(self.method).lower(), beta=self.beta
        )
        self._optimizer = Optimizer(
            str(self.optimizer).lower(),
            lr=self.lr,
            lr_fraction=self.lr_fraction,
            schedule=str(self.schedule).lower(),
            epochs=int(self.epochs),
        )
        self._task = task
        self.loss_curve_: list[float] = []

    def _epoch(self, X: np.ndarray, y: np.ndarray) -> None:
        from circuitlearn.learn.parallel import ParallelEngine

        engine = self._engine_for()
        order = self._rng.permutation(len(X))
        epoch = min(len(self.loss_curve_) + 1, int(self.epochs))  # the schedule's, 1-based
        costs = []
        with ParallelEngine(engine, self._estimator, self._workers()) as pool:
            for first in range(0, len(order), int(self.batch_size)):
                index = order[first : first + int(self.batch_size)]
                batch = self._batch(engine, X[index], y[index])
                grad = pool.gradient(self.conductances_, batch)
                step = self._optimizer.step(self.conductances_, grad.vector, epoch)
                self.conductances_ = step[0]
                costs.append(grad.cost * len(index))
        self.loss_curve_.append(float(np.sum(costs) / len(X)))
        self.n_iter_ = len(self.loss_curve_)
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {self.loss_curve_[-1]:.8g}")

    def _outputs(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        try:
            X = validate_data(self, X, reset=False, dtype=np.float64)
        except ValueError as exc:
            raise DataError(str(exc)) from None
        engine = self._engine_for()
        engine.set_conductances(self.conductances_)
        outputs = []
        chunk = engine.solve_chunk
        for first in range(0, len(X), chunk):
            states, _ = engine.free_solution(self._batch(engine, X[first : first + chunk], None))
            outputs.append(states[:, engine.output_rows])
        return np.concatenate(outputs)

    def _engine_for(self) -> Any:
        from circuitlearn.learn.batched import BatchEngine

        if getattr(self, "_engine", None) is None:  # unpickled: the engine is not saved
            self._engine = BatchEngine(self._task)
        return self._engine

    def _batch(self, engine: Any, X: np.ndarray, y: np.ndarray | None) -> Any:
        v = self._voltages(X)
        inputs = {s: v[:, j] for j, s in enumerate(self.network_.input_sources)}
        return engine.batch(inputs, None if y is None else self._targets(y), size=len(X))

    def _voltages(self, X: np.ndarray) -> np.ndarray:
        scaled = np.clip((X - self._low) / self._span, 0.0, 1.0)
        return differential_pairs(with_bias_feature(scaled), voltage_range=tuple(self.input_range))

    def _targets(self, y: np.ndarray) -> np.ndarray:
        index = np.searchsorted(self.classes_, y)
        cross_entropy = str(self.cost).lower() == "cross_entropy"
        low, high = (0.0, 1.0) if cross_entropy else self.target_range
        return one_hot_targets(index, len(self.classes_), low=low, high=high)


def _check_labels(y: np.ndarray, classes: np.ndarray) -> None:
    """Refuse labels outside ``classes`` (the output nodes are fixed when the network is built)."""
    unknown = np.setdiff1d(np.unique(y), classes)
    if unknown.size:
        shown = ", ".join(repr(label) for label in unknown.tolist()[:5])
        more = f" and {unknown.size - 5} more" if unknown.size > 5 else ""
        raise DataError(
            f"y holds labels that are not among the classes {classes.tolist()!r}: {shown}{more}"
        )
