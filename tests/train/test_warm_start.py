"""``[learning] warm_start``: each sample's free phase starts at its previous state.

The operating point is the same (these networks have one), so a warm run follows a cold one to
rounding with fewer Newton iterations, and a resumed warm run continues bit for bit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from circuitlearn.errors import ConfigError
from circuitlearn.train import train, trainer
from circuitlearn.train.rundir import WARM_STATES_FILE
from tests.train.test_trainer import tiny, write


def _raw(warm: bool, epochs: int = 3) -> dict:
    raw = tiny(epochs=epochs, method="ep", optimizer="momentum", lr_fraction=0.01)
    raw["data"].update(n_train=24, n_test=12)
    raw["learning"]["warm_start"] = warm
    return raw


def test_warm_starts_reach_the_same_states_in_fewer_iterations(tmp_path: Path) -> None:
    cold = train(write(tmp_path / "cold.toml", _raw(False)), tmp_path / "cold", progress=False)
    warm = train(write(tmp_path / "warm.toml", _raw(True)), tmp_path / "warm", progress=False)
    np.testing.assert_allclose(warm.conductances, cold.conductances, rtol=1e-9)
    for a, b in zip(cold.metrics["epochs"], warm.metrics["epochs"], strict=True):
        assert a["test_accuracy"] == b["test_accuracy"]
        np.testing.assert_allclose(b["train_loss"], a["train_loss"], rtol=1e-9)
    pairs = zip(cold.metrics["epochs"][2:], warm.metrics["epochs"][2:], strict=True)
    iterations = [(a["newton_iterations"], b["newton_iterations"]) for a, b in pairs]
    assert all(w < c for c, w in iterations), iterations
    first = [run.metrics["epochs"][1]["newton_iterations"] for run in (cold, warm)]
    assert first[0] == first[1]  # the first epoch has nothing to start from
    assert (tmp_path / "warm/checkpoints" / WARM_STATES_FILE).is_file()
    assert not (tmp_path / "cold/checkpoints" / WARM_STATES_FILE).exists()


def test_a_resumed_warm_run_continues_bit_for_bit(tmp_path: Path) -> None:
    full = train(write(tmp_path / "full.toml", _raw(True)), tmp_path / "full", progress=False)
    train(write(tmp_path / "part.toml", _raw(True, epochs=2)), tmp_path / "run", progress=False)
    resumed = train(tmp_path / "full.toml", tmp_path / "run", resume=True, progress=False)
    assert resumed.conductances.tobytes() == full.conductances.tobytes()


def test_without_its_saved_states_a_warm_run_resumes_cold(tmp_path: Path) -> None:
    """A kill between the checkpoint and the states, or states from another epoch."""
    full = train(write(tmp_path / "full.toml", _raw(True)), tmp_path / "full", progress=False)
    train(write(tmp_path / "part.toml", _raw(True, epochs=1)), tmp_path / "run", progress=False)
    stale = tmp_path / "run/checkpoints" / WARM_STATES_FILE
    with np.load(stale) as data:
        states = data["states"]
    np.savez(stale, epoch=0, states=states)  # the previous epoch's: refused
    resumed = train(tmp_path / "full.toml", tmp_path / "run", resume=True, progress=False)
    np.testing.assert_allclose(resumed.conductances, full.conductances, rtol=1e-9)
    stale.write_bytes(b"truncated")
    again = dict(_raw(True, epochs=4))
    resumed = train(write(tmp_path / "more.toml", again), tmp_path / "run", resume=True,
                    progress=False)  # fmt: skip
    assert resumed.metrics["epochs"][-1]["epoch"] == 4


def test_warm_start_may_be_switched_on_when_resuming(tmp_path: Path) -> None:
    cold = train(write(tmp_path / "cold.toml", _raw(False, epochs=1)), tmp_path / "run",
                 progress=False)  # fmt: skip
    assert cold.metrics["epochs"][-1]["epoch"] == 1
    resumed = train(write(tmp_path / "warm.toml", _raw(True)), tmp_path / "run", resume=True,
                    progress=False)  # fmt: skip
    assert resumed.metrics["epochs"][-1]["epoch"] == 3
    assert (tmp_path / "run/checkpoints" / WARM_STATES_FILE).is_file()


def test_warm_states_too_large_for_memory_are_refused_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trainer, "MAX_WARM_BYTES", 1024)
    with pytest.raises(ConfigError, match=r"\[learning\] warm_start keeps \d+ unknowns"):
        train(write(tmp_path / "w.toml", _raw(True)), tmp_path / "run", progress=False)
    assert not (tmp_path / "run/checkpoints").exists()
