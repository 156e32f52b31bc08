"""Runs that survive: kills at any moment, truncated files, two writers, foreign folders."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_trainer import tiny, write

from circuitlearn.cli import main
from circuitlearn.errors import ConfigError
from circuitlearn.train.rundir import RunLock, load_checkpoint
from circuitlearn.train.trainer import TrainingStoppedError, train


def _without_time(metrics: dict) -> dict:
    """Metrics without wall times and the config path (runs started from other files)."""
    return {**metrics, "config": None, "epochs": [{**e, "time": None} for e in metrics["epochs"]]}


def test_a_kill_at_any_moment_leaves_a_resumable_run(tmp_path: Path) -> None:
    """SIGKILL a run at several moments; --resume always finishes it bit for bit."""
    config = write(tmp_path / "c.toml", tiny(epochs=4))
    reference = train(config, tmp_path / "ref", progress=False)
    script = (
        "import sys; from circuitlearn.train.trainer import train; "
        "train(sys.argv[1], sys.argv[2], progress=False)"
    )
    moments = [None, "config.toml", "checkpoints/epoch_0000.npz", "checkpoints/epoch_0002.npz"]
    for k, moment in enumerate(moments):  # before anything, then as each file appears
        out = tmp_path / f"killed{k}"
        process = subprocess.Popen([sys.executable, "-c", script, str(config), str(out)])
        deadline = time.monotonic() + 60
        while moment and not (out / moment).exists() and time.monotonic() < deadline:
            time.sleep(0.002)
        process.send_signal(signal.SIGKILL)
        process.wait()
        for path in [out / "metrics.json", *sorted(out.glob("checkpoints/*.npz"))]:
            assert not path.exists() or path.stat().st_size > 0, f"{path} left empty"
        resumed = train(config, out, resume=True, progress=False)
        assert resumed.conductances.tobytes() == reference.conductances.tobytes()
        assert len(resumed.metrics["epochs"]) == 5


def test_truncated_checkpoint_falls_back_to_the_previous_one(tmp_path: Path) -> None:
    config = write(tmp_path / "c.toml", tiny(epochs=3))
    full = train(config, tmp_path / "full", progress=False)
    part = write(tmp_path / "p.toml", tiny(epochs=2))
    train(part, tmp_path / "run", progress=False)
    last = tmp_path / "run" / "checkpoints" / "epoch_0002.npz"
    last.write_bytes(last.read_bytes()[:100])
    with pytest.warns(UserWarning, match="epoch_0002.npz: unreadable"):
        resumed = train(config, tmp_path / "run", resume=True, progress=False)
    assert resumed.conductances.tobytes() == full.conductances.tobytes()
    assert _without_time(resumed.metrics) == _without_time(full.metrics)


def test_resume_without_metrics_json(tmp_path: Path) -> None:
    """Killed in epoch 1 by an older layout: a checkpoint but no metrics.json still resumes."""
    config = write(tmp_path / "c.toml", tiny(epochs=2))
    full = train(config, tmp_path / "full", progress=False)
    train(write(tmp_path / "p.toml", tiny(epochs=1)), tmp_path / "run", progress=False)
    (tmp_path / "run" / "metrics.json").write_bytes(b"")
    with pytest.warns(UserWarning, match="missing or behind its checkpoint"):
        resumed = train(config, tmp_path / "run", resume=True, progress=False)
    assert resumed.conductances.tobytes() == full.conductances.tobytes()
    assert [e["epoch"] for e in resumed.metrics["epochs"]] == [1, 2]


def test_two_runs_into_one_folder_cannot_interleave(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with RunLock(out), pytest.raises(ConfigError, match=f"pid {os.getpid()}"):
        train(write(tmp_path / "c.toml", tiny()), out, progress=False)
    train(write(tmp_path / "c.toml", tiny(epochs=1)), out, progress=False)  # lock released


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path, capsys) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    config = write(tmp_path / "c.toml", tiny())
    assert main(["train", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'thesis.tex', which is not part of a circuitlearn run" in err
    assert (out / "thesis.tex").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_a_huge_learning_rate_warns_and_a_non_finite_step_stops(tmp_path: Path) -> None:
    with pytest.warns(UserWarning, match="learning rate 1e\\+09 is probably too large"):
        train(write(tmp_path / "a.toml", tiny(lr=1e9, epochs=2)), tmp_path / "a", progress=False)
    out = tmp_path / "b"
    with pytest.raises(TrainingStoppedError, match=r"epoch 1, batch 1: .*non-finite") as info:
        train(write(tmp_path / "b.toml", tiny(lr=1e308)), out, progress=False)
    assert info.value.payload["checkpoint"].endswith("epoch_0000.npz")
    saved, _ = load_checkpoint(out / "checkpoints")
    assert saved is not None and saved.epoch == 0 and np.all(np.isfinite(saved.conductances))


def test_finite_norms_vouch_for_the_values_and_others_send_the_question_to_them() -> None:
    from circuitlearn.train.trainer import _finite

    assert _finite(np.array([1.0, 2.0]), [2.3])
    assert not _finite(np.array([1.0, np.nan]), [np.nan])
    assert not _finite(np.array([np.inf, 1.0]), [1.0, np.inf])
    assert _finite(np.array([1e200, 1e200]), [np.inf])  # an overflowed norm of finite values
    assert not _finite(np.array([1.0, np.nan]), [np.nan, 1.0])


@pytest.mark.parametrize("method", ["ep", "aep"])
def test_a_runaway_step_of_a_biased_method_names_the_non_reciprocal_elements(
    tmp_path: Path, method: str
) -> None:
    """On a circuit with amplifiers EP's gradient is biased: its runaway-step warning says so
    beside the rate, and names the elements; AEP's, exact on this circuit, blames the rate only."""
    raw = tiny(optimizer="adam", lr=3e-3, g_ceiling=2e-4, epochs=1, method=method)
    raw["network"].update(amplifier_gain=2.0, feedback_gain=-0.5)
    with pytest.warns(UserWarning, match="is probably too large") as caught:
        train(write(tmp_path / "a.toml", raw), tmp_path / "a", progress=False)
    text = " ".join(str(w.message) for w in caught)
    biased = "'ep' follows a biased gradient on this circuit's 4 non-reciprocal elements (e_h1_0"
    assert (biased in text) == (method == "ep"), text


def test_a_too_large_rate_warns_once_per_epoch_not_once_per_batch(tmp_path: Path) -> None:
    """Every step of this run clips most conductances to the device's range (Adam's steps of
    3 mS against a 0.2 mS ceiling): the first is named, the others of its epoch counted."""
    config = write(
        tmp_path / "c.toml",
        tiny(optimizer="adam", lr=3e-3, g_ceiling=2e-4, epochs=2, batch_size=1),
    )
    with pytest.warns(UserWarning) as record:
        train(config, tmp_path / "run", progress=False)
    messages = [str(w.message) for w in record if "clipped" in str(w.message)]
    assert len(messages) == 4, messages  # two per epoch, not eight
    assert messages[0].startswith("epoch 1, batch 1: the step clipped")
    assert messages[1] == (
        "epoch 1: 7 more of its 8 steps also grew the conductances' norm more than 10-fold or "
        "clipped more than 50% of them"
    )
    assert messages[2].startswith("epoch 2, batch 1: the step clipped")


def test_train_json_reports_a_stopped_run_as_a_run(tmp_path: Path, capsys) -> None:
    config = write(tmp_path / "b.toml", tiny(lr=1e308))
    assert main(["train", str(config), "--out", str(tmp_path / "b"), "--json"]) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["completed"] is False and payload["epoch"] == 1 and payload["batch"] == 1
    assert payload["checkpoint"].endswith("epoch_0000.npz") and "voltages" not in payload


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[data]\ndataset = "iris"\n'.encode("utf-16"), "not UTF-8 text"),
        (b'[data]\ndataset = "iris"\ntest_fraction = 0.999\n', "leaves no training sample"),
        (
            b'[data]\ndataset = "iris"\n[network]\nhidden = [100000000]\n',
            "1,300,000,000 conductances",
        ),
    ],
)
def test_hostile_configs_end_in_one_line(tmp_path: Path, capsys, text: bytes, message: str) -> None:
    config = tmp_path / "c.toml"
    config.write_bytes(text)
    assert main(["train", str(config), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
