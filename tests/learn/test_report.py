"""Gradient reports: EP's bias is visible on a non-reciprocal circuit, AEP's exactness too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import NETLIST_DIR

from circuitlearn.learn.api import gradient_report


def test_report_shows_ep_bias_and_aep_exactness(tmp_path: Path) -> None:
    report = gradient_report(NETLIST_DIR / "vccs_mesh.cir", "r*", {"n22": 0.1, "n23": 0.05})
    d = report.to_dict()
    json.dumps(d)
    methods = d["methods"]
    assert list(methods) == ["fd", "ep", "cl", "aep", "dyadic"]
    assert methods["ep"]["relative_error"] > 0.1 and methods["ep"]["cosine"] < 0.99
    assert methods["aep"]["relative_error"] < 1e-5 and methods["aep"]["cosine"] > 1 - 1e-9
    assert methods["dyadic"]["relative_error"] < 1e-9
    text = report.to_text()
    assert "rel. error" in text and "cosine" in text
    lines = text.splitlines()
    assert any(line.startswith("ep ") and "1.685e-01" in line for line in lines)
    assert any(line.startswith("r10 ") for line in lines)


def test_report_keeps_going_when_a_method_cannot_run() -> None:
    report = gradient_report(NETLIST_DIR / "vcvs_amplifier.cir", "r*", {"out": 0.5}, ["cl", "aep"])
    cl, aep = report.comparisons
    assert cl.error is not None and "cannot clamp" in cl.error
    assert aep.error is None and aep.relative_error < 1e-5
    assert "n/a" in report.to_text()


def test_report_scatter_plot(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "scatter.png"
    gradient_report(NETLIST_DIR / "controlled_fh.cir", "r*", {"c": 1.0}, ["ep", "aep"], plot=out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
