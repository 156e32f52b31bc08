"""Contract of ``circuitlearn dyadic-bp --sizes N0,...,NL [--steps K] [--step-size H] [--json]``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from circuitlearn.cli import main


@pytest.mark.parametrize("sizes", ["3,2", "4,5,3", "6,5,5,5,2"])
def test_json_contract(sizes: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dyadic-bp", "--sizes", sizes, "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    depth = len(sizes.split(",")) - 1
    assert payload["depth"] == depth
    assert payload["steps"] == list(range(1, 2 * depth + 3))
    errors = payload["relative_error"]
    assert len(errors) == 2 * depth + 2
    assert errors[2 * depth - 1] <= 1e-12 < errors[2 * depth - 2]


def test_steps_step_size_seed_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "dyadic.png"
    argv = ["dyadic-bp", "--sizes", "4,5,3", "--steps", "12", "--step-size", "0.5", "--seed", "3"]
    assert main([*argv, "--json", "--plot", str(plot)]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["steps"] == list(range(1, 13)) and payload["step_size"] == 0.5
    assert min(payload["relative_error"]) > 1e-12
    assert plot.is_file() and plot.stat().st_size > 0
    assert main(argv) == 0
    assert "step  12" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--sizes", "4"], "at least an input"),
        (["--sizes", "4,a,2"], "got 'a'"),
        (["--sizes", "4,-1,2"], ">= 1"),
        (["--sizes", "4,2", "--steps", "0"], "--steps must be >= 1"),
        (["--sizes", "4,2", "--step-size", "-1"], "positive number"),
        ([], "--sizes"),
    ],
)
def test_user_errors_exit_2_one_line(
    argv: list[str], match: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dyadic-bp", *argv, "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert match in lines[0]
