"""Training runs (``circuitlearn train CONFIG.toml``): TOML configs and the trainer.

It sits above :mod:`circuitlearn.learn` and :mod:`circuitlearn.diagnostics`: a run logs the
conserved quantity where the law applies, so it needs both.
"""

from circuitlearn.train.config import TrainConfig, load_config, parse_config, to_toml
from circuitlearn.train.trainer import EPOCH_KEYS, train

__all__ = ["EPOCH_KEYS", "TrainConfig", "load_config", "parse_config", "to_toml", "train"]
