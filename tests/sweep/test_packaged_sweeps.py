"""Every sweep file of the repository loads, names valid runs and has markers to publish into."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from circuitlearn.sweep import load_sweep
from circuitlearn.sweep.runs import train_config

SWEEPS = sorted((Path(__file__).parents[2] / "sweeps").glob("*.toml"))


def test_the_repository_has_sweeps() -> None:
    assert len(SWEEPS) >= 4


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_sweep_file_is_runnable_and_publishable(path: Path) -> None:
    spec = load_sweep(path)
    assert spec.runs
    if spec.kind == "train":
        for params in spec.runs:  # each run's config validates (preset, overrides, seed)
            train_config(params)
    if spec.publish is not None:
        text = spec.publish.read_text(encoding="utf-8")
        begin, end = f"<!-- BEGIN sweep {path.stem} -->", f"<!-- END sweep {path.stem} -->"
        assert text.count(begin) == 1 and text.count(end) == 1
        assert text.index(begin) < text.index(end)


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_committed_records_belong_to_runs_of_their_sweep(path: Path) -> None:
    """A record left by a run of older settings (a preset edited since) would be ignored without
    a word: each must be one of the sweep's current runs, and name its parameters."""
    spec = load_sweep(path)
    if spec.records is None or not spec.records.is_dir():
        return
    current = {spec.result_path(params).name: params for params in spec.runs}
    for record in sorted(spec.records.glob("*.json")):
        assert record.name in current, f"{record}: no run of {path.name} has this id"
        saved = json.loads(record.read_text(encoding="utf-8"))
        assert saved["params"] == current[record.name]
        assert len(saved["metrics"]["test_accuracy"]) >= 2
