"""A trained run exported as a netlist (``circuitlearn export-run``): the network it trained."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_trainer import tiny, write

from circuitlearn.cli import main
from circuitlearn.errors import ConfigError
from circuitlearn.netlist import from_spice
from circuitlearn.solve import solve_dc
from circuitlearn.train.export import trained_circuit
from circuitlearn.train.rundir import load_checkpoint, write_text
from circuitlearn.train.trainer import train


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An iris run of 3 epochs: 12 training and 20 test samples, 4 hidden nodes."""
    folder = tmp_path_factory.mktemp("export")
    raw = tiny(epochs=3, method="ep")
    raw["data"].update(n_train=12, n_test=20, n_validation=10)
    raw["network"]["hidden"] = [4]
    train(write(folder / "iris.toml", raw), folder / "run", progress=False)
    return folder / "run"


def _answer(trained_op: object, nodes: tuple[str, ...]) -> int:
    return int(np.argmax([trained_op.voltage(n) for n in nodes]))  # type: ignore[attr-defined]


def test_the_exported_circuit_answers_as_the_run_scored(run: Path) -> None:
    """Solving each exported test sample gives the run's own final test accuracy."""
    metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
    final = metrics["epochs"][-1]
    right = []
    for sample in range(20):
        trained = trained_circuit(run, sample=sample)
        assert trained.epoch == 3 and trained.split == "test"
        right.append(_answer(solve_dc(trained.circuit), trained.output_nodes) == trained.label)
    assert np.mean(right) == pytest.approx(final["test_accuracy"], abs=1e-12)
    checkpoint, _ = load_checkpoint(run / "checkpoints")
    circuit = trained_circuit(run).circuit
    names = (run / "parameters.txt").read_text(encoding="utf-8").split()
    assert [circuit[n].conductance for n in names] == pytest.approx(checkpoint.conductances)


def test_another_epoch_and_split(run: Path) -> None:
    first = trained_circuit(run, epoch=0, split="validation", sample=9)
    last = trained_circuit(run, split="validation", sample=9)
    assert (first.epoch, first.label) == (0, last.label)
    assert "after epoch 0, validation sample 9" in first.circuit.title
    name = (run / "parameters.txt").read_text(encoding="utf-8").split()[0]
    assert first.circuit[name].conductance != last.circuit[name].conductance
    inputs = [e.name for e in first.circuit if e.name.startswith("vin")]
    assert all(first.circuit[v].dc == last.circuit[v].dc for v in inputs)
    assert trained_circuit(run, split="train", sample=0).label in range(3)


@pytest.mark.ngspice
def test_ngspice_runs_the_exported_netlist(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "net.cir"
    assert main(["export-run", str(run), "-o", str(out), "--sample", "4"]) == 0
    trained = trained_circuit(run, sample=4)
    native = solve_dc(trained.circuit)
    spice = solve_dc(from_spice(out), backend="ngspice")
    for node in trained.output_nodes:
        assert spice.voltage(node) == pytest.approx(native.voltage(node), abs=1e-9)


def test_cli_json(run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "n.cir"
    assert main(["export-run", str(run), "-o", str(out), "--sample", "2", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    trained = trained_circuit(run, sample=2)
    assert payload["label"] == trained.label and payload["epoch"] == 3
    assert payload["output_nodes"] == list(trained.output_nodes)
    assert payload["native_class"] == int(np.argmax(list(payload["native_outputs"].values())))
    assert out.read_text(encoding="utf-8").startswith(trained.circuit.title)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--epoch", "7"], "no readable checkpoint of epoch 7 (epochs: 0 to 3)"),
        (["--sample", "20"], "the test set of RUN has 20 samples (0 to 19); got 20"),
        (["--sample", "-1"], "got -1"),
        (["--split", "validation", "--sample", "10"], "validation set of RUN has 10 samples"),
    ],
)
def test_cli_refusals_are_one_line(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    assert main(["export-run", str(run), "-o", str(tmp_path / "n.cir"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message.replace("RUN", str(run)) in err


def test_refuses_to_write_into_the_run_or_a_changed_config(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export-run", str(run), "-o", str(run / "net.cir")]) == 2
    assert "outside the run directory" in capsys.readouterr().err
    assert not (run / "net.cir").exists()
    assert main(["export-run", str(run), "-o", str(tmp_path)]) == 2
    assert "is a folder; name the netlist file" in capsys.readouterr().err
    assert main(["export-run", str(run), "-o", str(tmp_path / "no" / "n.cir")]) == 2
    assert f"its folder {tmp_path / 'no'} does not exist" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="not a circuitlearn run"):
        trained_circuit(tmp_path)
    edited = tmp_path / "edited"
    edited.mkdir()
    for name in ("metrics.json", "parameters.txt"):
        (edited / name).write_bytes((run / name).read_bytes())
    (edited / "checkpoints").mkdir()
    for path in (run / "checkpoints").glob("epoch_*.npz"):
        (edited / "checkpoints" / path.name).write_bytes(path.read_bytes())
    config = (run / "config.toml").read_text(encoding="utf-8")
    (edited / "config.toml").write_text(config.replace("hidden = [4]", "hidden = [5]"))
    with pytest.raises(
        ConfigError, match=r"does not match its checkpoints \(65 conductances against 52,"
    ):
        trained_circuit(edited)
    (edited / "config.toml").write_text(config)
    (edited / "parameters.txt").write_text("r_other\n" * 52)  # same count, other names
    with pytest.raises(ConfigError, match=r"names as in parameters\.txt: no"):
        trained_circuit(edited)
    (edited / "parameters.txt").unlink()  # runs of early versions: the count is checked
    assert trained_circuit(edited).epoch == 3


def test_a_failed_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    (tmp_path / "net.cir").mkdir()
    with pytest.raises(IsADirectoryError):
        write_text(tmp_path / "net.cir", "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.cir"]
