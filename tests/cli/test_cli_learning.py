"""Contract tests of the learning commands: gradient, report, export-phase, conservation."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import pytest

from circuitlearn.cli import main

NETLISTS = Path(__file__).resolve().parents[2] / "netlists"
AMP = str(NETLISTS / "vcvs_amplifier.cir")


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict]:
    code = main(argv)
    out = capsys.readouterr().out
    return code, json.loads(out)


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str], match: str) -> None:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err
    assert match in lines[0], lines[0]


@pytest.mark.parametrize("method", ["exact", "fd", "ep", "cl", "aep", "dyadic"])
def test_gradient_json_contract(capsys: pytest.CaptureFixture[str], method: str) -> None:
    deck = str(NETLISTS / "kendall_layered.cir")
    argv = ["gradient", deck, "--trainable", "r_*", "--output", "o1=0.2", "o2=-0.1",
            "--method", method, "--json"]  # fmt: skip
    code, payload = _json(capsys, argv)
    assert code == 0
    assert set(payload) == {"method", "beta", "cost", "parameters", "gradient"}
    assert payload["method"] == method
    assert set(payload["parameters"]) == set(payload["gradient"])
    assert payload["gradient"] and len(payload["gradient"]) == 18
    assert (payload["beta"] is None) == (method == "exact")
    assert all(math.isfinite(v) for v in payload["gradient"].values())


def test_gradient_shows_ep_bias_and_aep_exactness(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["gradient", AMP, "--trainable", "r*", "--output", "out=0.5", "--json", "--method"]
    exact = _json(capsys, [*base, "exact"])[1]["gradient"]
    aep = _json(capsys, [*base, "aep"])[1]["gradient"]
    ep = _json(capsys, [*base, "ep"])[1]["gradient"]
    scale = max(abs(v) for v in exact.values())
    assert max(abs(aep[k] - exact[k]) for k in exact) <= 1e-5 * scale
    assert max(abs(ep[k] - exact[k]) for k in exact) > 0.5 * scale


def test_cl_cannot_clamp_a_source_driven_output(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["gradient", AMP, "--trainable", "r*", "--output", "out=0.5", "--method", "cl"]
    _one_line_error(capsys, argv, "cannot clamp the outputs")


def test_cl_clamp_choice(capsys: pytest.CaptureFixture[str]) -> None:
    deck = str(NETLISTS / "kendall_layered.cir")
    base = ["gradient", deck, "--trainable", "r_*", "--output", "o1=0.2", "o2=-0.1", "--json"]
    exact = _json(capsys, [*base, "--method", "exact"])[1]["gradient"]
    matched = _json(capsys, [*base, "--method", "cl", "--clamp", "matched"])[1]["gradient"]
    relative = _json(capsys, [*base, "--method", "cl", "--clamp", "relative"])[1]["gradient"]
    scale = max(abs(v) for v in exact.values())
    assert max(abs(matched[k] - exact[k]) for k in exact) <= 1e-4 * scale
    # Stern et al.'s clamp weights the cost gradient by the output conductances: not the gradient.
    assert max(abs(relative[k] - exact[k]) for k in exact) > 1e-2 * scale
    _one_line_error(capsys, [*base, "--method", "ep", "--clamp", "relative"], "cl")


def test_gradient_explicit_beta_and_variant(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["gradient", AMP, "--trainable", "rf", "rg", "--output", "out=0.5", "--method", "ep",
            "--variant", "positive", "--beta", "1e-7", "--json"]  # fmt: skip
    code, payload = _json(capsys, argv)
    assert code == 0 and payload["beta"] == pytest.approx(1e-7)
    assert set(payload["gradient"]) == {"rf", "rg"}


def test_gradient_human_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gradient", AMP, "--trainable", "r*", "--output", "out=0.5"]) == 0
    out = capsys.readouterr().out
    assert "dC/dG" in out and "rload" in out and "exact gradient" in out


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--trainable", "zz*", "--output", "out=0.5"], "zz*"),
        (["--trainable", "r*", "--output", "nowhere=0.5"], "nowhere"),
        (["--trainable", "r*", "--output", "out"], "--output"),
        (["--trainable", "r*", "--output", "out=0.5", "--beta", "-1"], "--beta"),
        (["--trainable", "r*", "--output", "out=0.5", "--method", "magic"], "--method"),
        (["--output", "out=0.5"], "--trainable"),
    ],
)
def test_gradient_user_errors_are_one_line(
    capsys: pytest.CaptureFixture[str], extra: list[str], match: str
) -> None:
    _one_line_error(capsys, ["gradient", AMP, *extra], match)


def test_report_json_and_plot(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    png = tmp_path / "scatter.png"
    argv = ["report", AMP, "--trainable", "r*", "--output", "out=0.5", "--methods", "ep", "aep",
            "--plot", str(png), "--json"]  # fmt: skip
    code, payload = _json(capsys, argv)
    assert code == 0 and png.stat().st_size > 1000
    assert payload["plot"] == str(png)


def test_export_phase_files_run_in_ngspice(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["export-phase", AMP, "--trainable", "r*", "--output", "out=0.5", "--method", "aep",
            "-o", str(tmp_path / "amp.cir"), "--json"]  # fmt: skip
    code, payload = _json(capsys, argv)
    assert code == 0
    names = sorted(Path(f).name for f in payload["files"])
    assert names == ["amp_aep_neg.cir", "amp_aep_pos.cir", "amp_free.cir"]
    if not _has_ngspice():
        pytest.skip("ngspice binary not installed")
    for file in payload["files"]:
        done = subprocess.run(["ngspice", "-b", file], capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "error" not in done.stdout.lower()


def test_export_phase_refuses_methods_without_phases(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    argv = ["export-phase", AMP, "--trainable", "r*", "--output", "out=0.5", "--method", "exact",
            "-o", str(tmp_path / "x.cir")]  # fmt: skip
    _one_line_error(capsys, argv, "--method")


def test_conservation_contract_on_linear_circuit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    deck = tmp_path / "net.cir"
    deck.write_text(
        "linear voltage-driven network\nv1 in 0 dc 1\nr1 in a 1k\nr2 a 0 2k\nr3 a b 1k\n"
        "r4 b 0 3k\nr5 in b 4k\n.op\n.end\n"
    )
    png = tmp_path / "drift.png"
    argv = ["conservation", str(deck), "--trainable", "r*", "--output", "b=0.2", "--steps", "30",
            "--plot", str(png), "--json"]  # fmt: skip
    code, payload = _json(capsys, argv)
    assert code == 0
    contract = {"quantity", "initial", "final", "relative_drift", "cost_initial", "cost_final",
                "linear", "applicable", "reasons"}  # fmt: skip
    assert contract <= set(payload)
    assert payload["linear"] is True and payload["applicable"] is True and payload["reasons"] == []
    assert payload["cost_final"] < payload["cost_initial"]
    # Centred EP with the product rule conserves Q along the update; what drifts is only the
    # discretisation term, which the result accounts for exactly.
    assert abs(payload["bias_drift"]) <= 1e-9
    assert payload["relative_drift"] == pytest.approx(
        payload["bias_drift"] + payload["discretisation_drift"], rel=1e-6, abs=1e-15
    )
    assert png.stat().st_size > 1000


def test_conservation_says_when_the_law_does_not_apply(capsys: pytest.CaptureFixture[str]) -> None:
    deck = str(NETLISTS / "resistor_network.cir")
    argv = ["conservation", deck, "--trainable", "r1", "r2", "r3", "r4", "--output", "b=0.5",
            "--steps", "10", "--json"]  # fmt: skip
    code, payload = _json(capsys, argv)
    assert code == 0
    assert payload["applicable"] is False
    assert any("i1" in reason for reason in payload["reasons"])
    assert any("r5" in reason for reason in payload["reasons"])


def _has_ngspice() -> bool:
    import shutil

    return shutil.which("ngspice") is not None
