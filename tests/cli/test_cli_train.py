"""Contract tests of ``circuitlearn train CONFIG.toml [--resume] [--out DIR]``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from circuitlearn.cli import main

TINY = """
[data]
dataset = "iris"
n_train = 6
n_test = 6
input_range = [-1.0, 1.0]

[network]
hidden = [2]

[learning]
method = "ep"
epochs = 1
batch_size = 3
"""


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert match in lines[0], lines[0]
    return lines[0]


def test_train_json_contract_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "tiny.toml"
    config.write_text(TINY, encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert set(payload) == {"run_dir", "metrics", "checkpoint", "figures", "final"}
    assert payload["final"]["epoch"] == 1
    assert Path(payload["checkpoint"]).name == "epoch_0001.npz"
    assert all(Path(f).is_file() for f in payload["figures"])
    assert (out / "config.toml").is_file() and (out / "metrics.json").is_file()

    _one_line_error(capsys, ["train", str(config), "--out", str(out)], "already holds a run")
    config.write_text(TINY.replace("epochs = 1", "epochs = 2"), encoding="utf-8")
    assert main(["train", str(config), "--out", str(out), "--resume"]) == 0
    text = capsys.readouterr().out
    assert "for 2 epochs" in text and str(out) in text


def test_train_default_out_is_runs_config_stem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mini.toml").write_text(TINY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["train", "mini.toml"]) == 0
    assert (tmp_path / "runs" / "mini" / "metrics.json").is_file()


@pytest.mark.parametrize(
    ("replace", "match"),
    [
        (("batch_size = 3", "batchsize = 3"), "[learning] unknown key 'batchsize'; valid keys:"),
        (('method = "ep"', 'method = "sgd"'), "[learning] method: expected one of"),
        (("n_train = 6", "n_train = -6"), "[data] n_train: expected an integer"),
        (("[network]", "network ="), "invalid TOML"),
    ],
)
def test_train_config_errors_exit_2_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], replace: tuple[str, str], match: str
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(TINY.replace(*replace), encoding="utf-8")
    line = _one_line_error(capsys, ["train", str(config), "--out", str(tmp_path / "r")], match)
    assert line.startswith(f"circuitlearn train: {config}: "), line


def test_train_missing_config_and_resume_without_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _one_line_error(capsys, ["train", str(tmp_path / "nope.toml")], "no such config file")
    config = tmp_path / "tiny.toml"
    config.write_text(TINY, encoding="utf-8")
    assert main(["train", str(config), "--resume", "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "warning:" in line]  # + epoch lines
    assert len(warnings) == 1 and "no complete checkpoint yet" in warnings[0]


def test_train_a_packaged_preset_by_name_with_seed_and_epochs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["train", "iris", "--epochs", "1", "--seed", "3", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert Path(payload["run_dir"]) == Path("runs/iris-seed3")
    saved = (tmp_path / "runs/iris-seed3/config.toml").read_text()
    assert "epochs = 1" in saved and saved.count("seed = 3") == 3
    assert payload["final"]["epoch"] == 1
    assert main(["train", "no_such_preset"]) == 2
    err = capsys.readouterr().err
    assert (
        err.count("\n") == 1
        and "presets: digits, fashion_drn_1h, fashion_drn_xs, fashion_drn_xs_amp, iris" in err
    )
    assert main(["train", "iris", "--epochs", "0"]) == 2
    assert "--epochs must be an integer" in capsys.readouterr().err
    assert main(["train", "iris", "--seed", "-1"]) == 2
    err = capsys.readouterr().err  # worded as the config's own seeds are
    assert err.count("\n") == 1 and "--seed must be an integer ≥ 0; got -1" in err
    assert main(["train", "iris", "--epochs", "1", "--method", "cl", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert Path(payload["run_dir"]) == Path("runs/iris-cl")
    assert 'method = "cl"' in (tmp_path / "runs/iris-cl/config.toml").read_text()
