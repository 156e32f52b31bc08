"""``circuitlearn gradient --batch FILE.csv``: the contract, against single runs and ngspice FD."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import NETLIST_DIR

from circuitlearn.cli import main
from circuitlearn.netlist import from_spice
from circuitlearn.solve import solve_dc

AMP = """non-reciprocal diode network
v1 in 0 0.8
vb b 0 0.3
r1 in a 2k
r2 a 0 3k
d1 a 0 dm
g1 0 c a 0 0.5m
r3 c 0 4k
r4 c b 1k
r5 b d 5k
r6 d 0 2k
.model dm d is=1e-14 n=1.2
.end
"""


def _run(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict]:
    code = main(argv)
    out = capsys.readouterr().out
    return code, (json.loads(out) if code == 0 else {})


def _gradient(deck: Path, method: str, *extra: str) -> list[str]:
    return ["gradient", str(deck), "--trainable", "r*", "--output", "c=0.2", "d=0.05",
            "--method", method, "--json", *extra]  # fmt: skip


@pytest.fixture
def amp(tmp_path: Path) -> Path:
    path = tmp_path / "amp.cir"
    path.write_text(AMP)
    return path


@pytest.mark.parametrize("method", ["exact", "ep", "cl", "aep", "dyadic"])
def test_a_one_row_batch_is_the_single_sample_gradient(capsys, amp, tmp_path, method) -> None:
    (tmp_path / "one.csv").write_text("V1,y(c)\n0.8,0.2\n")
    code, single = _run(capsys, _gradient(amp, method))
    assert code == 0 and "batch_size" not in single
    code, batch = _run(capsys, _gradient(amp, method, "--batch", str(tmp_path / "one.csv")))
    assert code == 0 and batch.pop("batch_size") == 1
    assert batch == single


@pytest.mark.parametrize(("method", "tolerance"), [("exact", 1e-12), ("aep", 1e-9), ("cl", 1e-9)])
def test_a_batch_is_the_mean_of_its_samples(capsys, amp, tmp_path, method, tolerance) -> None:
    rows = [(0.8, 0.3, 0.2), (0.5, 0.1, 0.1), (-0.2, 0.4, 0.3)]
    (tmp_path / "b.csv").write_text(
        "# three samples\nv1, VB ,Y(C)\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n"
    )
    beta = ["--beta", "1e-7"]
    code, batch = _run(capsys, _gradient(amp, method, "--batch", str(tmp_path / "b.csv"), *beta))
    assert code == 0 and batch["batch_size"] == 3
    singles = []
    for v1, vb, y in rows:
        argv = ["gradient", str(amp), "--trainable", "r*", "--output", f"c={y}", "d=0.05",
                "--method", method, "--json", "--set", f"v1={v1}", "--set", f"vb={vb}",
                *beta]  # fmt: skip
        code, one = _run(capsys, argv)
        assert code == 0
        singles.append(one)
    mean = np.mean([list(s["gradient"].values()) for s in singles], axis=0)
    got = np.array(list(batch["gradient"].values()))
    assert np.linalg.norm(got - mean) <= tolerance * np.linalg.norm(mean)
    assert batch["cost"] == pytest.approx(np.mean([s["cost"] for s in singles]), rel=1e-12)
    assert batch["beta"] == (None if method == "exact" else 1e-7)


def test_default_beta_per_sample_is_reported(capsys, amp, tmp_path) -> None:
    """The nudge bound (10 µV per node) binds for the far target only: two βs."""
    (tmp_path / "b.csv").write_text("v1,y(c),y(d)\n0.8,20,20\n0.8,0.2,0.05\n")
    code, batch = _run(capsys, _gradient(amp, "ep", "--batch", str(tmp_path / "b.csv")))
    assert code == 0
    low, high = batch["beta_range"]
    assert low < batch["beta"] < high


@pytest.mark.ngspice
@pytest.mark.parametrize("method", ["exact", "aep", "dyadic"])
def test_batch_gradient_matches_ngspice_finite_differences(capsys, amp, tmp_path, method) -> None:
    """d(mean C)/dG by central differences, every cost solved by ngspice at tight tolerances."""
    rows = [(0.8, 0.2), (0.6, 0.3)]
    (tmp_path / "b.csv").write_text("v1,y(c)\n" + "\n".join(f"{a},{b}" for a, b in rows) + "\n")
    code, batch = _run(capsys, _gradient(amp, method, "--batch", str(tmp_path / "b.csv")))
    assert code == 0
    circuit = from_spice(amp)
    step = 1e-4
    fd = {}
    for name, g in batch["parameters"].items():
        costs = []
        for sign in (1.0, -1.0):
            c = circuit.copy()
            c.replace(c[name].with_conductance(g * (1 + sign * step)))
            total = 0.0
            for v1, y in rows:
                c.set_value("v1", v1)
                op = solve_dc(c, backend="ngspice")
                total += 0.5 * ((op.voltages["c"] - y) ** 2 + (op.voltages["d"] - 0.05) ** 2)
            costs.append(total / len(rows))
        fd[name] = (costs[0] - costs[1]) / (2 * step * g)
    got, want = np.array(list(batch["gradient"].values())), np.array(list(fd.values()))
    assert np.linalg.norm(got - want) <= 1e-5 * np.linalg.norm(want)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("v9,y(c)\n1,0.2\n", "b.csv:1: column 'v9' is not an independent V or I source"),
        ("r1\n1\n", "b.csv:1: column 'r1' is not an independent V or I source"),
        ("v1,y(c)\n1,abc\n", "b.csv:2: column 'y(c)': 'abc' is not a finite number"),
        ("v1,y(c)\n1,nan\n", "b.csv:2: column 'y(c)': 'nan' is not a finite number"),
        ("v1,y(c)\n1,0.2\n\n3\n", "b.csv:4: row has 1 cells; the header has 2"),
        ("", "b.csv: empty"),
        ("\n# only a comment\n", "b.csv: empty"),
        ("v1,y(c)\n", "b.csv: no sample rows"),
        ("v1,y(zz)\n1,2\n", "b.csv:1: column 'y(zz)': 'zz' is not an output node"),
        ("v1,V1\n1,2\n", "b.csv:1: column 'V1' appears twice"),
    ],
)
def test_bad_batch_files_exit_2_with_one_line(capsys, amp, tmp_path, text, message) -> None:
    (tmp_path / "b.csv").write_text(text)
    assert main(_gradient(amp, "exact", "--batch", str(tmp_path / "b.csv"))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_missing_and_binary_batch_files(capsys, amp, tmp_path) -> None:
    assert main(_gradient(amp, "exact", "--batch", str(tmp_path / "none.csv"))) == 2
    assert "none.csv: cannot read the batch file" in capsys.readouterr().err
    (tmp_path / "bin.csv").write_bytes(b"v1\n\x00\x01\x02")
    assert main(_gradient(amp, "exact", "--batch", str(tmp_path / "bin.csv"))) == 2
    assert "bin.csv: binary file" in capsys.readouterr().err


def test_batch_on_a_deck_of_the_catalogue_with_subcircuit_sources(capsys, tmp_path) -> None:
    deck = NETLIST_DIR / "kendall_layered.cir"
    sources = [e.name for e in from_spice(deck).flatten().elements if e.name.startswith("v")]
    rows = np.random.default_rng(0).uniform(-0.5, 0.5, (4, len(sources)))
    (tmp_path / "k.csv").write_text(
        ",".join(sources) + "\n" + "\n".join(",".join(f"{v:.6f}" for v in r) for r in rows)
    )
    argv = ["gradient", str(deck), "--trainable", "r_*", "--output", "o1=0.2", "o2=-0.1",
            "--method", "dyadic", "--json", "--batch", str(tmp_path / "k.csv")]  # fmt: skip
    code, batch = _run(capsys, argv)
    assert code == 0 and batch["batch_size"] == 4
    argv[argv.index("dyadic")] = "exact"
    code, exact = _run(capsys, argv)
    got, want = (
        np.array(list(batch["gradient"].values())),
        np.array(list(exact["gradient"].values())),
    )
    assert np.linalg.norm(got - want) <= 1e-10 * np.linalg.norm(want)
