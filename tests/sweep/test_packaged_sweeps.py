"""Every sweep file of the repository loads, names valid runs and has markers to publish into."""

from __future__ import annotations

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
