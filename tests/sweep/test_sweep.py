"""Sweeps on dask.distributed: grid expansion, a 2-worker LocalCluster, resume, failures, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("dask.distributed")

from circuitlearn.cli import main
from circuitlearn.errors import CircuitLearnError, ConfigError
from circuitlearn.sweep import core, load_sweep, run_sweep
from circuitlearn.sweep.runs import ratenet_run, train_run

TINY = """
[sweep]
kind = "ratenet"
out = "out"
workers = 2
report_epochs = [1]

[base]
dataset = "fashion-mnist"
n_train = 40
n_test = 20
hidden = [4]
epochs = 1
batch_size = 20

[grid]
method = ["vf", "aep"]
seed = [0, 1]
"""


@pytest.fixture
def sweep_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    return path


def test_grid_and_presets_expand(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        TINY + '\n[[preset]]\nname = "a"\nlr = 0.5\n\n[[preset]]\nname = "b"\nlr = 2.0\n',
        encoding="utf-8",
    )
    spec = load_sweep(path)
    assert len(spec.runs) == 8 and spec.grid_keys == ("method", "seed", "preset")
    assert {(r["preset"], r["lr"]) for r in spec.runs} == {("a", 0.5), ("b", 2.0)}
    assert spec.out == tmp_path / "out" and spec.workers == 2
    assert len({spec.run_id(r) for r in spec.runs}) == 8
    assert spec.run_id({"a": 1, "b": 2}) == spec.run_id({"b": 2, "a": 1})


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[sweep]\nkind = 'nope'\n", "kind must be one of"),
        ("[sweep]\ncolour = 1\n", r"\[sweep\] unknown key"),
        ("[grid]\nseed = []\n", r"\[grid\] seed must be a non-empty list"),
        ("[grids]\nseed = [1]\n", "unknown table"),
        ("[sweep]\nworkers = 0\n", "workers must be an integer >= 1"),
        ("[grid\n", "not valid TOML"),
        ("[[preset]]\nlr = 1\n[[preset]]\nlr = 2\n", "needs a 'name'"),
        ("[sweep]\nrecords = 3\n", r"\[sweep\] records must be a path"),
        ("[sweep]\ntrain_workers = 0\n", r"\[sweep\] train_workers must be an integer >= 1"),
        ("[sweep]\ntrain_workers = true\n", r"train_workers must be an integer >= 1"),
        ("[sweep]\ntrain_workers = 2\n", r"\[sweep\] train_workers is for kind = 'train'"),
    ],
)
def test_bad_sweep_files_name_the_problem(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CircuitLearnError, match=match):
        load_sweep(path)


def test_two_worker_local_cluster_table_figure_and_resume(sweep_file: Path) -> None:
    spec = load_sweep(sweep_file)
    first = run_sweep(spec, processes=False)
    assert (first.computed, first.skipped, first.failed) == (4, 0, [])
    assert {row["method"] for row in first.rows} == {"vf", "aep"}
    assert all(row["runs"] == 2 for row in first.rows)
    assert all(0.0 <= row["acc_epoch1_mean"] <= 1.0 for row in first.rows)
    assert first.table_csv.read_text().startswith("method,runs,acc_epoch1_mean,acc_epoch1_std")
    assert "| vf | 2 |" in first.table_md.read_text()
    assert first.figure is not None and first.figure.stat().st_size > 0
    assert not list((spec.out / "runs").glob("*.tmp"))

    again = run_sweep(spec, processes=False)
    assert (again.computed, again.skipped) == (0, 4)
    assert again.rows == first.rows

    lost = spec.result_path(spec.runs[1])
    lost.unlink()
    resumed = run_sweep(spec, processes=False)
    assert (resumed.computed, resumed.skipped) == (1, 3)
    record = json.loads(lost.read_text())
    assert record["params"] == spec.runs[1] and len(record["metrics"]["test_accuracy"]) == 2


def test_a_failing_run_is_reported_and_retried_later(
    sweep_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = load_sweep(sweep_file)

    def flaky(params: dict, run_dir: Path | None = None) -> dict:
        if params["method"] == "aep" and params["seed"] == 1:
            raise RuntimeError("worker lost")
        return ratenet_run(params, run_dir)

    monkeypatch.setitem(core.RUN_KINDS, "ratenet", flaky)
    lines: list[str] = []
    result = run_sweep(spec, processes=False, progress=lines.append)
    assert result.computed == 3 and len(result.failed) == 1
    assert "worker lost" in next(iter(result.errors.values()))
    assert not spec.result_path({**spec.runs[3]}).exists()
    assert lines[0].startswith("4 of 4 runs to compute (0 finished before)")
    assert [line[:5] for line in lines[1:]] == ["[1/4]", "[2/4]", "[3/4]", "[4/4]"]
    assert sum("FAILED (RuntimeError: worker lost)" in line for line in lines) == 1
    monkeypatch.setitem(core.RUN_KINDS, "ratenet", ratenet_run)
    lines.clear()
    assert run_sweep(spec, processes=False, progress=lines.append).computed == 1
    assert lines[0].startswith("1 of 4 runs to compute (3 finished before)")
    assert lines[1].startswith("[1/1] run ") and " done: {" in lines[1]


def test_existing_cluster_by_address(sweep_file: Path) -> None:
    from dask.distributed import LocalCluster

    spec = load_sweep(sweep_file)
    with LocalCluster(n_workers=2, processes=False, dashboard_address=":0") as cluster:
        result = run_sweep(spec, scheduler=cluster.scheduler_address)
    assert result.computed == 4


def test_cli_sweep_json_and_errors(sweep_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(sweep_file), "--workers", "2", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["computed"] == 4 and Path(payload["figure"]).is_file()
    assert main(["sweep", str(sweep_file)]) == 0
    assert "0 runs computed, 4 already done" in capsys.readouterr().out
    for argv, match in (
        ([str(sweep_file.parent / "missing.toml")], "missing.toml"),
        ([str(sweep_file), "--workers", "0"], "--workers must be >= 1"),
        ([str(sweep_file), "--train-workers", "0"], "--train-workers must be >= 1"),
        ([str(sweep_file), "--train-workers", "2"], "train_workers is for kind = 'train'"),
    ):
        assert main(["sweep", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and match in err[0]


def test_unknown_run_parameter_and_dataset() -> None:
    with pytest.raises(CircuitLearnError, match=r"unknown parameter\(s\) \['colour'\]"):
        ratenet_run({"colour": 1})
    with pytest.raises(CircuitLearnError, match="dataset must be"):
        ratenet_run({"dataset": "cifar", "epochs": 0})
    with pytest.raises(CircuitLearnError, match="'config'"):
        train_run({"seed": 1})
    with pytest.raises(CircuitLearnError, match="no such preset or config file"):
        train_run({"config": "no_such_preset"})


@pytest.mark.parametrize(
    ("kind", "grid", "match"),
    [
        (
            "train",
            '"config" = ["iris"]\nepochs = [5]',
            r"\{'config': 'iris', 'epochs': 5\}: .*"
            r"parameter 'epochs' must be a dotted key",
        ),
        (
            "train",
            '"config" = ["iris"]\n"learning.method" = ["ep", "nope"]',
            r"'learning.method': 'nope'\}: .*\[learning\] method",
        ),
        ("train", '"config" = ["iris", "no_such_preset"]', "no such preset or config file"),
        ("ratenet", 'method = ["vf", "backprop"]', r"'method': 'backprop'\}: .*method must be"),
        ("ratenet", 'colour = ["red"]', r"unknown parameter\(s\) \['colour'\]"),
        ("ratenet", 'dataset = ["cifar"]', "dataset must be 'mnist' or 'fashion-mnist'"),
        ("ratenet", "n_train = [100]", "mnist is always 4,000/1,000; drop n_train/n_test"),
        ("train", '"config" = ["iris"]\nseed = [0, "a"]', r"\[data\] seed: expected an integer"),
        ("train", '"config" = ["iris"]\nseed = [1.5]', r"\[data\] seed: expected an integer"),
        ("ratenet", 'seed = ["a"]', "seed: expected an integer ≥ 0; got 'a'"),
        ("ratenet", "lr = [1.0, -1.0]", r"'lr': -1.0\}: .*lr: expected a positive number"),
        ("ratenet", "hidden = [[16, 0]]", "hidden: expected an integer ≥ 1; got 0"),
    ],
)
def test_a_run_that_would_fail_on_its_settings_refuses_the_sweep_before_it_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, grid: str, match: str
) -> None:
    path = tmp_path / "bad_runs.toml"
    path.write_text(f'[sweep]\nkind = "{kind}"\nout = "out"\n\n[grid]\n{grid}\n', "utf-8")
    with pytest.raises(ConfigError, match=match):
        load_sweep(path)
    assert main(["sweep", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0]
    assert not (tmp_path / "out").exists()  # no run started, nothing written


def iris_sweep(path: Path, sweep: str, methods: str) -> Path:
    """A sweep file of one-epoch iris trainings on 12 samples: ``sweep`` lines of its [sweep]
    table, ``methods`` the TOML list of its methods."""
    path.write_text(
        f"""
[sweep]
kind = "train"
report_epochs = [1]
{sweep}

[base]
config = "iris"
"learning.epochs" = 1
"data.n_train" = 12
"data.n_test" = 6

[grid]
"learning.method" = {methods}
seed = [0]
""",
        encoding="utf-8",
    )
    return path


def test_train_kind_runs_circuit_presets(tmp_path: Path) -> None:
    spec = load_sweep(iris_sweep(tmp_path / "circuits.toml", "workers = 2", '["ep", "aep"]'))
    assert spec.out == tmp_path / "runs" / "circuits"
    result = run_sweep(spec, processes=False)
    assert result.computed == 2 and not result.failed
    assert {row["learning.method"] for row in result.rows} == {"ep", "aep"}
    run_dirs = [p for p in (spec.out / "runs").iterdir() if p.is_dir()]
    assert len(run_dirs) == 2 and all((d / "metrics.json").is_file() for d in run_dirs)


def test_publish_regenerates_a_marked_section(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    results = tmp_path / "docs" / "RESULTS.md"
    results.write_text(
        "# Results\nkept above\n<!-- BEGIN sweep pub -->\nold table\n<!-- END sweep pub -->\n"
        "kept below\n",
        encoding="utf-8",
    )
    path = tmp_path / "pub.toml"
    path.write_text(
        """
[sweep]
kind = "train"
report_epochs = [1]
plot = "error"
publish = "docs/RESULTS.md"

[base]
config = "xor_transistor"
"learning.epochs" = 2

[grid]
"learning.method" = ["ep"]
seed = [0, 1]
""",
        encoding="utf-8",
    )
    before = results.read_text(encoding="utf-8")
    nothing_yet = run_sweep(load_sweep(path), processes=False, compute=False)  # a fresh checkout
    assert (nothing_yet.missing, nothing_yet.published) == (2, None)
    assert results.read_text(encoding="utf-8") == before
    result = run_sweep(load_sweep(path), processes=False)
    assert (result.missing, result.published) == (0, results)
    row = result.rows[0]
    assert row["runs"] == 2 and row["seconds_per_epoch"] > 0
    assert row["acc_final_mean"] is not None and row["acc_final_std"] is not None
    text = results.read_text(encoding="utf-8")
    assert "old table" not in text and "kept above" in text and "kept below" in text
    assert "| learning.method | runs | acc_epoch1 (mean ± std) | acc_final (mean ± std) |" in text
    assert "![pub: test error against epoch](figures/pub.png)" in text
    assert (tmp_path / "docs" / "figures" / "pub.png").read_bytes()[:4] == b"\x89PNG"
    complete = results.read_text(encoding="utf-8")
    spec = load_sweep(path)
    spec.result_path(spec.runs[0]).unlink()  # a lost run: the table of one seed is not published
    partial = run_sweep(spec, processes=False, compute=False)
    assert partial.rows[0]["runs"] == 1 and partial.missing == 1 and partial.published is None
    assert results.read_text(encoding="utf-8") == complete
    results.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(CircuitLearnError, match="needs one '<!-- BEGIN sweep pub -->' line"):
        run_sweep(load_sweep(path), processes=False)


def test_interrupted_train_run_resumes_and_collect_computes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "part.toml"
    path.write_text(
        """
[sweep]
kind = "train"
report_epochs = [1]

[base]
config = "xor_transistor"
"learning.epochs" = 3

[grid]
"learning.method" = ["ep"]
seed = [0, 1]
""",
        encoding="utf-8",
    )
    spec = load_sweep(path)
    first = spec.runs[0]
    # a worker killed after epoch 1 of the first run leaves its run directory behind
    partial = dict(first, **{"learning.epochs": 1})
    train_run(partial, spec.run_dir(first))
    collected = run_sweep(spec, processes=False, compute=False)
    assert collected.computed == 0 and collected.rows == []
    assert not spec.result_path(first).exists()
    result = run_sweep(spec, processes=False)
    assert result.computed == 2 and not result.failed
    record = json.loads(spec.result_path(first).read_text(encoding="utf-8"))
    assert len(record["metrics"]["test_accuracy"]) == 4  # epochs 0..3: resumed, not restarted
    assert run_sweep(spec, processes=False, compute=False).rows == result.rows


def test_records_kept_apart_carry_finished_runs_to_another_checkout(tmp_path: Path) -> None:
    """A sweep split over two machines: the records folder (under version control) travels,
    the run folders do not; the second computes only the missing runs, then publishes."""
    (tmp_path / "docs").mkdir()
    results = tmp_path / "docs" / "RESULTS.md"
    results.write_text("<!-- BEGIN sweep split -->\nold\n<!-- END sweep split -->\n", "utf-8")
    text = """
[sweep]
kind = "train"
out = "scratch"
records = "records/split"
report_epochs = [1]
publish = "docs/RESULTS.md"

[base]
config = "xor_transistor"
"learning.epochs" = 1

[grid]
"learning.method" = ["ep"]
seed = [0, 1]
"""
    path = tmp_path / "split.toml"
    path.write_text(text, encoding="utf-8")
    spec = load_sweep(path)
    assert spec.record_dir == tmp_path / "records" / "split"
    assert spec.result_path(spec.runs[0]).parent == spec.record_dir
    assert spec.run_dir(spec.runs[0]).parent == tmp_path / "scratch" / "runs"
    (spec.out / "runs").mkdir(parents=True)
    core.execute_run("train", spec.runs[0], str(spec.result_path(spec.runs[0])),
                     str(spec.run_dir(spec.runs[0])))  # fmt: skip
    assert (spec.run_dir(spec.runs[0]) / "metrics.json").is_file()
    assert sorted(p.name for p in spec.record_dir.iterdir()) == [
        spec.result_path(spec.runs[0]).name
    ]

    other = tmp_path / "clone"  # the sweep file and its records, without the run folders
    (other / "docs").mkdir(parents=True)
    (other / "docs" / "RESULTS.md").write_text(results.read_text("utf-8"), "utf-8")
    (other / "split.toml").write_text(text, encoding="utf-8")
    (other / "records").mkdir()
    (other / "records" / "split").mkdir()
    for record in spec.record_dir.iterdir():
        (other / "records" / "split" / record.name).write_bytes(record.read_bytes())
    collected = run_sweep(load_sweep(other / "split.toml"), processes=False, compute=False)
    assert (collected.rows[0]["runs"], collected.missing, collected.published) == (1, 1, None)
    finished = run_sweep(load_sweep(other / "split.toml"), processes=False)
    assert (finished.computed, finished.skipped, finished.missing) == (1, 1, 0)
    assert finished.published == other / "docs" / "RESULTS.md"
    assert "| ep | 2 |" in finished.published.read_text(encoding="utf-8")
    assert not (other / "scratch" / "runs" / spec.run_id(spec.runs[0])).exists()


def test_train_workers_share_each_run_in_worker_processes_that_may_fork(tmp_path: Path) -> None:
    """dask's worker processes are daemonic and may not fork: a sweep whose runs take two
    processes each starts its local workers as non-daemonic ones, and the runs compute."""
    path = iris_sweep(tmp_path / "shared.toml", "workers = 1\ntrain_workers = 2", '["ep"]')
    spec = load_sweep(path)
    assert spec.train_workers == 2
    result = run_sweep(spec)  # worker processes, as `circuitlearn sweep` starts them
    assert (result.computed, result.failed) == (1, []), result.errors
    alone = load_sweep(path).with_train_workers(1)
    assert alone.run_id(alone.runs[0]) == spec.run_id(spec.runs[0])  # not part of the identity


def test_a_run_sharing_its_batches_refuses_a_daemonic_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import multiprocessing

    class Daemonic:
        daemon = True

    monkeypatch.setattr(multiprocessing, "current_process", lambda: Daemonic())
    with pytest.raises(CircuitLearnError, match="DASK_DISTRIBUTED__WORKER__DAEMON=False"):
        train_run({"config": "iris"}, None, 2)


def test_editing_a_config_makes_its_runs_new(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[data]\ndataset = "xor"\n[learning]\nepochs = 1\n', encoding="utf-8")
    path = tmp_path / "s.toml"
    path.write_text(
        f'[sweep]\nkind = "train"\n[base]\nconfig = "{config}"\n[grid]\nseed = [0]\n',
        encoding="utf-8",
    )
    spec = load_sweep(path)
    before = spec.run_id(spec.runs[0])
    assert spec.run_id(spec.runs[0]) == before  # stable while the config is unchanged
    config.write_text(  # a comment, another layout, a default spelled out: the same settings
        '# the XOR truth table\n[learning]\nepochs = 1\nseed = 0\n\n[data]\ndataset = "xor"\n',
        encoding="utf-8",
    )
    assert spec.run_id(spec.runs[0]) == before
    config.write_text('[data]\ndataset = "xor"\n[learning]\nepochs = 2\n', encoding="utf-8")
    assert spec.run_id(spec.runs[0]) != before


def test_unsettled_evaluations_are_counted_not_fatal() -> None:
    params = {"dataset": "fashion-mnist", "n_train": 20, "n_test": 10, "hidden": [4]}
    metrics = ratenet_run({**params, "epochs": 1, "max_steps": 1, "tol": 1e-12})
    assert metrics["relaxation_failures"] == 1  # the one mini-batch was skipped
    assert metrics["unsettled_evaluations"] == 4  # test and train, before and after the epoch
    assert len(metrics["test_accuracy"]) == 2
    assert ratenet_run({**params, "epochs": 1})["unsettled_evaluations"] == 0


def test_local_worker_processes_keep_glibc_s_own_trim_threshold(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """dask's MALLOC_TRIM_THRESHOLD_ of 64 KiB made every numpy temporary a fresh page-faulted
    allocation (3× the wall time of a training step); the sweep's workers do without it, and
    keep dask's one-thread BLAS (dask's default, which a caller's own setting replaces)."""
    import os

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    with core._client(None, 1, processes=True) as client:
        environ = client.run(lambda: dict(os.environ))
    (worker,) = environ.values()
    assert "MALLOC_TRIM_THRESHOLD_" not in worker
    assert worker["OMP_NUM_THREADS"] == "1"


def test_curve_labels_name_the_other_grid_values_or_the_seed_average() -> None:
    assert core._curve_label(("iris", "ep"), 0, 3) == "ep (n=3)"
    assert core._curve_label(("ep",), None, 2) == "ep (n=2)"
    # one config over seeds: the panel title names the config, the legend what the band is
    assert core._curve_label(("fashion_drn_1h",), 0, 3) == "mean ± std over seeds (n=3)"


def test_a_second_sweep_into_the_same_folder_is_refused_and_collect_still_reads(
    sweep_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two sweeps at once used to both exit 1, each failing the run the other was training."""
    from circuitlearn.train.rundir import RunLock

    spec = load_sweep(sweep_file)
    with RunLock(spec.out, holder="circuitlearn sweep", what="sweep"):  # the first sweep
        assert main(["sweep", str(sweep_file)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "another circuitlearn sweep" in err[0] and "--collect" in err[0]
        assert main(["sweep", str(sweep_file), "--collect"]) == 0
        assert "0 runs computed, 0 already done" in capsys.readouterr().out
    assert main(["sweep", str(sweep_file)]) == 0  # once the first one is done
    assert "4 runs computed" in capsys.readouterr().out
