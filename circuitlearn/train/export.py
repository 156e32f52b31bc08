"""A trained run as a netlist: its network with a checkpoint's conductances and one sample's inputs.

What a hardware designer takes out of ``circuitlearn train``: the circuit that was trained, ready
for ngspice (``circuitlearn export-run RUN -o net.cir``). The network is rebuilt from the run's
``config.toml`` (the builder is deterministic), checked against its ``parameters.txt``, and its
input sources are set to one sample's voltages as the trainer encodes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from circuitlearn.circuit import Circuit
from circuitlearn.errors import ConfigError
from circuitlearn.train.config import load_config
from circuitlearn.train.rundir import PARAMETERS_FILE, Checkpoint, load_checkpoint, read_checkpoint
from circuitlearn.train.trainer import _build_problem, _encode

__all__ = ["SPLITS", "TrainedCircuit", "trained_circuit"]

SPLITS = ("test", "train", "validation")
"""The sets a sample can be drawn from (``validation`` when the run holds one out)."""


@dataclass(frozen=True)
class TrainedCircuit:
    """A run's trained network set up for one sample.

    Attributes
    ----------
    circuit : Circuit
        Trainable resistors at the checkpoint's conductances, input sources at the sample's
        voltages (the bias pair at its fixed ones).
    epoch : int
        The checkpoint's epoch (0: the initial conductances).
    split, sample : str, int
        Where the sample comes from: its index in that set, in the run's (seeded) order.
    label : int
        The sample's class; the circuit's answer is the output node of highest voltage.
    output_nodes : tuple of str
        One per class, in class order.
    """

    circuit: Circuit
    epoch: int
    split: str
    sample: int
    label: int
    output_nodes: tuple[str, ...]


def trained_circuit(
    run_dir: str | Path, *, sample: int = 0, split: str = "test", epoch: int | None = None
) -> TrainedCircuit:
    """The network of ``run_dir`` after ``epoch`` (default: its last checkpoint) for one sample.

    Raises
    ------
    ConfigError
        Not a run directory, no such checkpoint, split or sample, or a network that no longer
        matches the run's ``parameters.txt`` (a config edited since, or another version).
    """
    run = Path(run_dir)
    if not (run / "config.toml").is_file():
        raise ConfigError(f"{run}: not a circuitlearn run (no config.toml)")
    if split not in SPLITS:
        raise ConfigError(f"split: expected one of {', '.join(SPLITS)}; got {split!r}")
    checkpoint = _checkpoint(run, epoch)
    config = load_config(run / "config.toml")
    problem = _build_problem(config)
    names = list(problem.net.trainable)
    listed = run / PARAMETERS_FILE  # a run's own list; runs of early versions have none
    saved = listed.read_text(encoding="utf-8").split() if listed.is_file() else names
    if names != saved or len(checkpoint.conductances) != len(names):
        raise ConfigError(
            f"{run}: the network built from its config.toml does not match its checkpoints "
            f"({len(names):,} conductances against {len(checkpoint.conductances):,}, names as in "
            f"{PARAMETERS_FILE}: {'yes' if names == saved else 'no'}); was config.toml edited?"
        )
    chosen = {"train": problem.train, "test": problem.test, "validation": problem.validation}
    data = chosen[split]
    if data is None:
        raise ConfigError(f"{run}: no validation set (its config has no [data] n_validation)")
    x, _, labels = data
    if not 0 <= sample < len(labels):
        raise ConfigError(
            f"sample: the {split} set of {run} has {len(labels):,} samples (0 to "
            f"{len(labels) - 1:,}); got {sample}"
        )
    volts = _encode(x[sample : sample + 1], problem.input_range, problem.bias_input)[0]
    circuit = problem.net.trained(checkpoint.conductances, volts)
    circuit.title = (
        f"{config.data.dataset} network of run {run.name} after epoch {checkpoint.epoch}, "
        f"{split} sample {sample} (class {int(labels[sample])})"
    )
    return TrainedCircuit(
        circuit, checkpoint.epoch, split, sample, int(labels[sample]), problem.net.output_nodes
    )


def _checkpoint(run: Path, epoch: int | None) -> Checkpoint:
    """The checkpoint of ``epoch``, or the run's newest readable one."""
    folder = run / "checkpoints"
    if epoch is None:
        checkpoint, _ = load_checkpoint(folder)
        if checkpoint is None:
            raise ConfigError(f"{run}: no readable checkpoint yet")
        return checkpoint
    checkpoint = read_checkpoint(folder / f"epoch_{epoch:04d}.npz")
    if checkpoint is None:
        have = sorted(int(p.stem.split("_")[1]) for p in folder.glob("epoch_[0-9]*.npz"))
        shown = f"{have[0]} to {have[-1]}" if have else "none"
        raise ConfigError(f"{run}: no readable checkpoint of epoch {epoch} (epochs: {shown})")
    return checkpoint
