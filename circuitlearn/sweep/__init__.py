"""Sweeps: grids of training runs on dask.distributed (``circuitlearn sweep SWEEP.toml``).

It sits above :mod:`circuitlearn.train` and :mod:`circuitlearn.data`: a run is a rate-network
training (:func:`~circuitlearn.sweep.runs.ratenet_run`) or a ``circuitlearn train`` run.
"""

from circuitlearn.sweep.core import SweepResult, SweepSpec, collect, load_sweep, run_sweep
from circuitlearn.sweep.runs import RATENET_DEFAULTS, RUN_KINDS, ratenet_run, train_run

__all__ = [
    "RATENET_DEFAULTS",
    "RUN_KINDS",
    "SweepResult",
    "SweepSpec",
    "collect",
    "load_sweep",
    "ratenet_run",
    "run_sweep",
    "train_run",
]
