"""Training configuration: a TOML file loaded into frozen dataclasses (STYLE §9).

A config has three tables, every key optional except ``[data] dataset``::

    [data]                     # what to learn
    dataset = "iris"           # xor | iris | digits | mnist | fashion_mnist (official split)
    n_train = 60               # training subset (all of the split when absent)
    n_test = 30                # test subset
    n_train_eval = 10000       # training samples scored after each epoch (all when absent)
    n_validation = 5000        # held out of the training split, scored after each epoch: choose
                               #   settings on it, not on the test set (none when absent)
    test_fraction = 0.2        # fraction of each class held out (before subsetting)
    seed = 0                   # split and subsets
    input_range = [0.0, 3.0]   # [V]: features in [0, 1] map onto this before the (x, −x) pairs
    center = false             # subtract each feature's training-set mean first: sources swing
                               #   around input_range's low end (both signs) instead of above it
    target_range = [0.0, 0.3]  # [V]: (wrong class, true class) target voltages (MSE)

    [network]                  # a Kendall et al. layered network
    hidden = [8]               # hidden layer sizes ([] for none)
    g_range = [1e-5, 1e-4]     # [S] initial conductances, uniform
    amplifier_gain = 0.0       # VCVS buffers after each hidden node; 0 = none (reciprocal)
    feedback_gain = 0.0        # bidirectional amplifiers: backward current gain (0 = one-way)
    bias_voltages = [0.3, -0.3] # [V] diode rails (low, high); overlapping: always nonlinear
    bias_input = true          # one more input pair held at 1: a trainable bias for every node
    activation = "diode"       # diode | nmos | relu (one diode per unit, half of them inhibitory)
    diode = { is = 1e-14, n = 1.0 }   # the clamps' .model parameters (defaults otherwise)
    init = "uniform"           # uniform: g_range | glorot: each node's input conductances sum
    g_node = 1e-3              # [S] to about g_node whatever its fan-in (layers of 784 and 10)
    seed = 0                   # initial conductances

    [learning]
    method = "aep"             # exact | ep | aep | dyadic | cl
    variant = "centered"       # centered | positive | negative
    beta = 1e-8                # [S]; default: the estimator's, scaled to the circuit
    lr = 1e-6                  # [S²/V²]; default lr_fraction × ‖G‖/‖g‖ at the first step
    lr_fraction = 0.05
    epochs = 10
    batch_size = 10            # the gradient is averaged over a mini-batch
    cost = "mse"               # mse | cross_entropy
    g_floor = 1e-9             # [S] a device's range: every update is projected into
    g_ceiling = 1e-2           # [S] [g_floor, g_ceiling] (no ceiling when absent)
    optimizer = "sgd"          # sgd | momentum | adam (adam's lr is a conductance step [S])
    momentum = 0.9             # momentum's coefficient
    schedule = "constant"      # constant | step (× schedule_gamma every schedule_every epochs)
    schedule_gamma = 0.5       #   | cosine (from 1 to 0 over the epochs)
    schedule_every = 1
    layer_lr = [1.0, 0.5]      # learning-rate factor of each crossbar, input side first
    warm_start = false         # start each sample's free phase at its state of the previous
                               #   epoch (same operating point to rounding on circuits with one;
                               #   about half the Newton iterations late in training)
    seed = 0                   # mini-batch order

Unknown tables or keys are errors listing the valid ones; every error names ``file: [table] key``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from circuitlearn.circuit.builders import ACTIVATIONS, DEFAULT_BIAS_VOLTAGES
from circuitlearn.circuit.models import Model
from circuitlearn.errors import CircuitError, ConfigError
from circuitlearn.learn.methods import names
from circuitlearn.learn.optim import G_FLOOR, OPTIMIZERS, SCHEDULES
from circuitlearn.train.checks import (
    POSITIVE,
    as_toml,
    boolean,
    choice,
    factors,
    integer,
    number,
    pair,
    sizes,
)

__all__ = [
    "COST_NAMES",
    "DATASETS",
    "TRAIN_METHODS",
    "VARIANTS",
    "DataConfig",
    "LearningConfig",
    "NetworkConfig",
    "TrainConfig",
    "check_setting",
    "load_config",
    "parse_config",
    "preset_names",
    "read_config",
    "resolve_config",
    "to_toml",
    "with_overrides",
]

DATASETS = ("xor", "iris", "digits", "mnist", "fashion_mnist")
TRAIN_METHODS = names(trainable=True)
VARIANTS = ("centered", "positive", "negative")
COST_NAMES = ("mse", "cross_entropy")
INITS = ("uniform", "glorot")


@dataclass(frozen=True)
class DataConfig:
    """``[data]``: dataset, subset sizes, split seed and the voltage encodings [V]."""

    dataset: str
    n_train: int | None = None
    n_test: int | None = None
    n_train_eval: int | None = None
    n_validation: int | None = None
    test_fraction: float = 0.2
    seed: int = 0
    input_range: tuple[float, float] = (0.0, 3.0)
    center: bool = False
    target_range: tuple[float, float] = (0.0, 0.3)


@dataclass(frozen=True)
class NetworkConfig:
    """``[network]``: shape and initial state of the layered network."""

    hidden: tuple[int, ...] = (8,)
    g_range: tuple[float, float] = (1e-5, 1e-4)
    amplifier_gain: float = 0.0
    feedback_gain: float = 0.0
    bias_voltages: tuple[float, float] = DEFAULT_BIAS_VOLTAGES
    bias_input: bool = True
    activation: str = "diode"
    diode: dict[str, float] = field(default_factory=dict)
    init: str = "uniform"
    g_node: float = 1e-3
    seed: int = 0


@dataclass(frozen=True)
class LearningConfig:
    """``[learning]``: rule, step size, schedule, cost and projection floor."""

    method: str = "aep"
    variant: str = "centered"
    beta: float | None = None
    lr: float | None = None
    lr_fraction: float = 0.05
    epochs: int = 10
    batch_size: int = 10
    cost: str = "mse"
    g_floor: float = G_FLOOR
    g_ceiling: float | None = None
    optimizer: str = "sgd"
    momentum: float = 0.9
    schedule: str = "constant"
    schedule_gamma: float = 0.5
    schedule_every: int = 1
    layer_lr: tuple[float, ...] | None = None
    warm_start: bool = False
    seed: int = 0


@dataclass(frozen=True)
class TrainConfig:
    """A whole training configuration and the file it came from."""

    data: DataConfig
    network: NetworkConfig = field(default_factory=NetworkConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)
    source: str = "<config>"


def to_toml(config: TrainConfig) -> str:
    """The effective config (defaults filled in) as TOML text; unset optional keys are omitted.

    Examples
    --------
    >>> text = to_toml(parse_config({"data": {"dataset": "iris"}}))
    >>> parse_config(tomllib.loads(text)) == parse_config({"data": {"dataset": "iris"}})
    True
    """
    lines = [f"# effective training config of {config.source}"]
    for name in _TABLES:
        lines.append(f"\n[{name}]")
        part = getattr(config, name)
        for f in fields(part):
            value = getattr(part, f.name)
            if value is not None:
                lines.append(f"{f.name} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


_TABLES = {"data": DataConfig, "network": NetworkConfig, "learning": LearningConfig}


PRESETS_DIR = Path(__file__).resolve().parent.parent / "configs"
"""The packaged presets: ``circuitlearn train NAME`` runs ``PRESETS_DIR / NAME.toml``."""


def preset_names() -> list[str]:
    """Names of the packaged presets."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.toml"))


def resolve_config(name_or_path: str | Path) -> Path:
    """The config file of a path, or of a bare packaged preset name (``iris``).

    Raises
    ------
    ConfigError
        Neither an existing file nor a preset (listing the presets).
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    text = str(name_or_path)
    if "/" not in text and "\\" not in text and not text.endswith(".toml"):
        preset = PRESETS_DIR / f"{text}.toml"
        if preset.is_file():
            return preset
        raise ConfigError(
            f"{text}: no such preset or config file; presets: {', '.join(preset_names())}"
        )
    raise ConfigError(f"{path}: no such config file (expected a TOML training config)")


def with_overrides(
    config: TrainConfig,
    *,
    seed: int | None = None,
    epochs: int | None = None,
    method: str | None = None,
) -> TrainConfig:
    """``config`` with ``--seed`` (every seed: split, conductances, batch order), ``--epochs``
    and ``--method``.

    Raises
    ------
    ConfigError
        A negative seed, fewer than one epoch or an unknown method.
    """
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ConfigError(f"--seed must be an integer ≥ 0; got {seed!r}")
        config = replace(
            config,
            data=replace(config.data, seed=seed),
            network=replace(config.network, seed=seed),
            learning=replace(config.learning, seed=seed),
        )
    if epochs is not None:
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ConfigError(f"--epochs must be an integer ≥ 1; got {epochs!r}")
        config = replace(config, learning=replace(config.learning, epochs=epochs))
    if method is not None:
        if method not in TRAIN_METHODS:
            raise ConfigError(f"--method must be one of {', '.join(TRAIN_METHODS)}; got {method!r}")
        config = replace(config, learning=replace(config.learning, method=method))
    return config


def load_config(path: str | Path) -> TrainConfig:
    """Read and validate a training config file, or a packaged preset by name.

    Raises
    ------
    ConfigError
        Missing file or preset, text that is not UTF-8, TOML syntax error, unknown table or key,
        or a bad value (naming the key).
    """
    file, raw = read_config(path)
    return parse_config(raw, source=str(file))


def read_config(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """The file of a config path or preset name, and its TOML tables before validation (for
    callers that override keys first, such as a sweep's runs).

    Raises
    ------
    ConfigError
        Missing file or preset, text that is not UTF-8, TOML syntax error.
    """
    file = resolve_config(path)
    try:
        raw = tomllib.loads(file.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(
            f"{file}: not UTF-8 text (TOML files are UTF-8; re-save it as UTF-8)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: invalid TOML: {exc}") from None
    return file, raw


def parse_config(raw: dict[str, Any], *, source: str = "<config>") -> TrainConfig:
    """Validate a parsed TOML mapping into a :class:`TrainConfig`.

    Examples
    --------
    >>> parse_config({"data": {"dataset": "iris"}}).learning.method
    'aep'
    >>> parse_config({"data": {"dataset": "iris", "size": 3}})
    Traceback (most recent call last):
    ...
    circuitlearn.errors.ConfigError: <config>: [data] unknown key 'size'; valid keys: \
center, dataset, input_range, n_test, n_train, n_train_eval, n_validation, \
seed, target_range, test_fraction
    """
    unknown = sorted(set(raw) - set(_TABLES))
    if unknown:
        raise ConfigError(
            f"{source}: unknown table [{unknown[0]}]; valid tables: {', '.join(_TABLES)}"
        )
    if "data" not in raw:
        raise ConfigError(f'{source}: missing table [data] (at least: dataset = "iris")')
    parts = {}
    for name, cls in _TABLES.items():
        table = raw.get(name, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{source}: {name} must be a table [{name}]")
        parts[name] = _table(cls, table, f"{source}: [{name}]")
    _check_device_range(parts["network"], parts["learning"], source)
    return TrainConfig(parts["data"], parts["network"], parts["learning"], source)


def _check_device_range(network: NetworkConfig, learning: LearningConfig, source: str) -> None:
    """The device range [g_floor, g_ceiling] must be one, and hold the initial conductances
    (``g_range``; with ``init = "glorot"`` they are set by ``g_node`` instead)."""
    floor, ceiling = learning.g_floor, learning.g_ceiling
    if ceiling is not None and floor >= ceiling:
        raise ConfigError(
            f"{source}: [learning] g_floor = {floor:g} S is not below g_ceiling = {ceiling:g} S"
        )
    low, high = network.g_range
    if network.init == "uniform" and (low < floor or (ceiling is not None and high > ceiling)):
        bound = "g_floor" if low < floor else "g_ceiling"
        raise ConfigError(
            f"{source}: [network] g_range = [{low:g}, {high:g}] S reaches outside the device "
            f"range [learning] g_floor = {floor:g} S, g_ceiling = "
            f"{'none' if ceiling is None else f'{ceiling:g} S'}: the first step would clip the "
            f"initial conductances to {bound}; set g_range inside it"
        )


def _table(cls: type, table: dict[str, Any], where: str) -> Any:
    valid = sorted(f.name for f in fields(cls))
    for key in table:
        if key not in valid:
            raise ConfigError(f"{where} unknown key {key!r}; valid keys: {', '.join(valid)}")
    values = {
        key: _CHECKS[(cls.__name__, key)](value, f"{where} {key}") for key, value in table.items()
    }
    if cls is DataConfig and "dataset" not in values:
        raise ConfigError(f"{where} missing key 'dataset' ({' | '.join(DATASETS)})")
    return cls(**values)


def _diode(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table, e.g. {{ is = 1e-14, n = 1.0 }}")
    params = {str(k).lower(): POSITIVE(v, f"{where}.{k}") for k, v in value.items()}
    try:  # names and ranges as the clamps' .model card checks them, but named as configured
        Model("diode", "d", params)
    except CircuitError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return params


_CHECKS: dict[tuple[str, str], Any] = {
    ("DataConfig", "dataset"): choice(DATASETS),
    ("DataConfig", "n_train"): integer(1),
    ("DataConfig", "n_test"): integer(1),
    ("DataConfig", "n_train_eval"): integer(1),
    ("DataConfig", "n_validation"): integer(1),
    ("DataConfig", "test_fraction"): number(below_one=True),
    ("DataConfig", "seed"): integer(0),
    ("DataConfig", "input_range"): pair(strict=True),
    ("DataConfig", "center"): boolean,
    ("DataConfig", "target_range"): pair(strict=True),
    ("NetworkConfig", "hidden"): sizes,
    ("NetworkConfig", "g_range"): pair(positive=True),
    ("NetworkConfig", "amplifier_gain"): number(),
    ("NetworkConfig", "feedback_gain"): number(),
    ("NetworkConfig", "bias_voltages"): pair(ordered=False),  # low > high: overlapping rails
    ("NetworkConfig", "bias_input"): boolean,
    ("NetworkConfig", "activation"): choice(ACTIVATIONS),
    ("NetworkConfig", "diode"): _diode,
    ("NetworkConfig", "init"): choice(INITS),
    ("NetworkConfig", "g_node"): POSITIVE,
    ("NetworkConfig", "seed"): integer(0),
    ("LearningConfig", "method"): choice(TRAIN_METHODS),
    ("LearningConfig", "variant"): choice(VARIANTS),
    ("LearningConfig", "beta"): POSITIVE,
    ("LearningConfig", "lr"): POSITIVE,
    ("LearningConfig", "lr_fraction"): POSITIVE,
    ("LearningConfig", "epochs"): integer(1),
    ("LearningConfig", "batch_size"): integer(1),
    ("LearningConfig", "cost"): choice(COST_NAMES),
    ("LearningConfig", "g_floor"): POSITIVE,
    ("LearningConfig", "g_ceiling"): POSITIVE,
    ("LearningConfig", "optimizer"): choice(OPTIMIZERS),
    ("LearningConfig", "momentum"): number(below_one=True),
    ("LearningConfig", "schedule"): choice(SCHEDULES),
    ("LearningConfig", "schedule_gamma"): number(below_one=True),
    ("LearningConfig", "schedule_every"): integer(1),
    ("LearningConfig", "layer_lr"): factors,
    ("LearningConfig", "warm_start"): boolean,
    ("LearningConfig", "seed"): integer(0),
}
"""Validator of each key: (value, "file: [table] key") → checked value."""


def check_setting(table: str, key: str, value: Any, where: str) -> Any:
    """``value`` checked as the config file's ``[table] key`` would be (``table``: ``data``,
    ``network`` or ``learning``), for front ends that take the same settings as Python values
    (:class:`~circuitlearn.train.estimator.CircuitClassifier`): tuples and arrays stand for
    lists, numpy scalars for numbers.

    Raises
    ------
    ConfigError
        The config file's message for the value, prefixed by ``where``.
    """
    cls = {"data": "DataConfig", "network": "NetworkConfig", "learning": "LearningConfig"}[table]
    return _CHECKS[(cls, key)](as_toml(value), where)
