"""``circuitlearn demo``: writes its figures and numbers to a run directory and says where."""

from __future__ import annotations

import json

import pytest

from circuitlearn.cli import main

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_demo_native_only(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(["demo", "--out", str(out), "--no-ngspice", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["out_dir"] == str(out)
    assert payload["native"]["all_converged"] is True
    assert payload["ngspice"]["status"] == "skipped"
    for figure in payload["figures"]:
        assert (out / figure.split("/")[-1]).read_bytes()[:8] == PNG_MAGIC
    assert (out / "transfer.png").is_file() and (out / "network.cir").is_file()
    saved = json.loads((out / "results.json").read_text())
    assert saved["network"] == payload["network"]
    voltages = saved["native"]["voltages"]
    assert len(voltages) == saved["network"]["sweep"]["points"]
    hidden = [i for i, p in enumerate(saved["network"]["probes"]) if p.startswith("h")]
    swing = max(abs(row[i]) for row in voltages for i in hidden)
    assert swing < 1.0, "the diodes clamp the hidden nodes well below the ±3 V input swing"
    training = payload["training"]
    assert (out / "loss.png").read_bytes()[:8] == PNG_MAGIC
    assert set(training["networks"]) == {"reciprocal", "feed-forward"}
    for name, result in training["networks"].items():
        methods = result["methods"]
        assert set(methods) == {"exact", "ep", "aep"}
        exact = methods["exact"]["loss"]
        assert len(exact) == training["steps"] + 1 and exact[-1] < exact[0] / 10, name
        assert methods["aep"]["cosine_vs_exact"] > 1 - 1e-6, f"AEP is exact ({name})"
        assert methods["aep"]["loss"][-1] == pytest.approx(exact[-1], rel=1e-3)
    reciprocal = training["networks"]["reciprocal"]["methods"]["ep"]
    assert reciprocal["cosine_vs_exact"] > 1 - 1e-6, "EP is exact on a reciprocal network"
    biased = training["networks"]["feed-forward"]["methods"]
    assert biased["ep"]["cosine_vs_exact"] < 0.9, "EP is biased on a feed-forward network"
    assert biased["ep"]["loss"][-1] > 2 * biased["exact"]["loss"][-1]


def test_demo_text_says_where_the_figures_are(capsys, tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--no-ngspice", "--steps", "1"]) == 0
    out = capsys.readouterr().out
    assert f"figures in {tmp_path}" in out and "transfer.png" in out and "loss.png" in out
    assert "training: 1 steps on 6 samples" in out
    assert main(["demo", "--out", str(tmp_path), "--steps", "-1"]) == 2
    assert "--steps must be >= 0" in capsys.readouterr().err


@pytest.mark.ngspice
def test_demo_compares_with_ngspice(capsys, tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--steps", "0", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["ngspice"]["status"] == "ok"
    assert payload["ngspice"]["max_abs_difference"] < 1e-6
    assert (tmp_path / "backends.png").read_bytes()[:8] == PNG_MAGIC
    assert payload["training"] == {} and not (tmp_path / "loss.png").exists()
