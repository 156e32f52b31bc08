"""Training entry point: config validation, run directory, learning, reproducibility, resume."""

from __future__ import annotations

import json
import re
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest

from circuitlearn.errors import CircuitLearnError
from circuitlearn.train.config import load_config, parse_config, to_toml
from circuitlearn.train.trainer import (
    EPOCH_KEYS,
    TrainingWarning,
    _build_problem,
    _encode,
    _plot,
    run_label,
    train,
)

PRESET = Path(__file__).resolve().parents[2] / "circuitlearn" / "configs" / "iris.toml"


def tiny(**learning: object) -> dict:
    """A seconds-long iris problem: 8 training samples, 2 hidden nodes."""
    return {
        "data": {"dataset": "iris", "n_train": 8, "n_test": 6, "input_range": [-1.0, 1.0]},
        "network": {"hidden": [2]},
        "learning": {"method": "aep", "epochs": 2, "batch_size": 4, "lr_fraction": 0.05,
                     **learning},
    }  # fmt: skip


def write(path: Path, raw: dict) -> Path:
    path.write_text(to_toml(parse_config(raw)), encoding="utf-8")
    return path


def test_preset_is_valid_and_round_trips() -> None:
    config = load_config(PRESET)
    again = parse_config(tomllib.loads(to_toml(config)))
    assert (again.data, again.network, again.learning) == (
        config.data, config.network, config.learning,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"data": {"dataset": "iris", "ntrain": 5}}, "[data] unknown key 'ntrain'; valid keys: "),
        (
            {"data": {"dataset": "cifar"}},
            "[data] dataset: expected one of xor, iris, digits, mnist",
        ),
        ({"data": {"dataset": "iris"}, "learning": {"lr": -1.0}}, "[learning] lr: expected a"),
        ({"data": {"dataset": "iris"}, "learning": {"epochs": 0}}, "[learning] epochs"),
        ({"data": {"dataset": "iris"}, "network": {"g_range": [1e-4]}}, "[network] g_range"),
        ({"data": {"dataset": "iris"}, "optim": {}}, "unknown table [optim]; valid tables"),
        ({"network": {}}, "missing table [data]"),
        ({"data": {}}, "missing key 'dataset'"),
        (
            {"data": {"dataset": "iris", "input_range": [0.0, 0.0]}},
            "[data] input_range: expected low < high (equal ends encode every sample alike)",
        ),
        ({"data": {"dataset": "iris", "target_range": [0.3, 0.3]}}, "[data] target_range"),
        (
            {"data": {"dataset": "iris"}, "learning": {"g_floor": 1e-3, "g_ceiling": 1e-6}},
            "[learning] g_floor = 0.001 S is not below g_ceiling = 1e-06 S",
        ),
        (
            {"data": {"dataset": "iris"}, "learning": {"g_floor": 1e-3}},
            "[network] g_range = [1e-05, 0.0001] S reaches outside the device range",
        ),
        (
            {"data": {"dataset": "iris"}, "learning": {"g_ceiling": 5e-5}},
            "clip the initial conductances to g_ceiling",
        ),
        (  # the clamps' model would refuse it too, but naming its internal model, not the key
            {"data": {"dataset": "iris"}, "network": {"diode": {"is": 1e-14, "nn": 2.0}}},
            "[network] diode: model diode (d): unknown parameter 'nn'",
        ),
    ],
)
def test_config_errors_name_the_key(raw: dict, match: str) -> None:
    with pytest.raises(CircuitLearnError, match=None) as info:
        parse_config(raw, source="cfg.toml")
    assert str(info.value).startswith("cfg.toml: ")
    assert match in str(info.value)


def test_unknown_key_lists_valid_keys() -> None:
    with pytest.raises(CircuitLearnError) as info:
        parse_config({"data": {"dataset": "iris"}, "learning": {"rate": 1.0}})
    assert "batch_size, beta, cost, epochs, g_ceiling, g_floor, layer_lr, lr, lr_fraction" in str(
        info.value
    )


def test_too_many_samples_is_an_error(tmp_path: Path) -> None:
    raw = tiny()
    raw["data"]["n_test"] = 1000
    with pytest.raises(CircuitLearnError, match=r"\[data\] n_test: iris has only 30 samples"):
        train(write(tmp_path / "c.toml", raw), tmp_path / "run", progress=False)


def test_tiny_run_writes_the_run_directory_and_learns(tmp_path: Path) -> None:
    config = write(tmp_path / "tiny.toml", tiny(epochs=3))
    result = train(config, tmp_path / "run", progress=False)
    run = tmp_path / "run"
    assert load_config(run / "config.toml").learning == load_config(config).learning
    metrics = json.loads((run / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [0, 1, 2, 3]
    assert all(set(e) == set(EPOCH_KEYS) for e in metrics["epochs"])
    for key in ("beta", "lr", "estimator", "n_parameters", "conservation", "n_train", "n_test"):
        assert key in metrics
    names = (run / "parameters.txt").read_text().splitlines()
    assert len(names) == metrics["n_parameters"] == len(result.conductances)
    assert len(set(names)) == len(names)
    assert metrics["n_train"] == 8 and metrics["n_test"] == 6
    # diodes: the conservation law does not apply, said once with the reason
    assert metrics["conservation"]["applicable"] is False
    assert any("diode" in r for r in metrics["conservation"]["reasons"])
    assert all(e["drift"] is None for e in metrics["epochs"])
    assert metrics["epochs"][1]["newton_iterations"] > 0
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        f"epoch_000{k}.npz" for k in range(4)
    ]
    assert [p.name for p in result.figures] == ["training.png", "layers.png"]
    assert (run / "figures" / "training.png").read_bytes()[:4] == b"\x89PNG"
    losses = [e["train_loss"] for e in metrics["epochs"]]
    assert losses[-1] < 0.9 * losses[0]
    assert np.all(result.conductances >= 1e-9)


def test_n_train_eval_scores_a_training_subset_without_changing_training(tmp_path: Path) -> None:
    full = train(write(tmp_path / "a.toml", tiny()), tmp_path / "a", progress=False).metrics
    raw = tiny()
    raw["data"]["n_train_eval"] = 3
    part = train(write(tmp_path / "b.toml", raw), tmp_path / "b", progress=False).metrics
    assert full["n_train_eval"] == 8 and part["n_train_eval"] == 3 and part["n_train"] == 8
    for a, b in zip(full["epochs"], part["epochs"], strict=True):
        assert (a["test_loss"], a["test_accuracy"]) == (b["test_loss"], b["test_accuracy"])
        assert b["train_accuracy"] * 3 == pytest.approx(round(b["train_accuracy"] * 3))
    assert [e["train_loss"] for e in full["epochs"]] != [e["train_loss"] for e in part["epochs"]]
    raw["data"]["n_train_eval"] = 1000  # more than the training set: all of it
    more = train(write(tmp_path / "c.toml", raw), tmp_path / "c", progress=False).metrics
    assert more["n_train_eval"] == 8
    assert [e["train_loss"] for e in more["epochs"]] == [e["train_loss"] for e in full["epochs"]]


def test_a_validation_set_is_held_out_of_training_and_scored_each_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``n_validation`` takes the last samples of the (shuffled) training split: never trained
    on, never in the centring means, scored after each epoch beside the training and test sets."""
    raw = tiny()
    raw["data"].pop("n_train")
    plain = _build_problem(parse_config(raw))  # iris: 120 training samples
    raw["data"].update(n_validation=20, center=True)
    held = _build_problem(parse_config(raw))
    assert (held.n_train, held.n_validation, held.n_eval) == (100, 20, 100 + 20 + 6)
    mean = plain.train[0][:100].mean(axis=0)
    np.testing.assert_allclose(held.train[0], plain.train[0][:100] - mean)
    np.testing.assert_allclose(held.validation[0], plain.train[0][100:] - mean)
    np.testing.assert_array_equal(held.validation[2], plain.train[2][100:])
    raw["data"]["n_train"] = 8
    raw["learning"]["warm_start"] = True
    metrics = train(write(tmp_path / "v.toml", raw), tmp_path / "run").metrics
    assert metrics["n_validation"] == 20 and metrics["n_train"] == 8
    keys = metrics["epoch_keys"]
    assert keys[keys.index("train_accuracy") + 1 : keys.index("test_loss")] == [
        "validation_loss", "validation_accuracy",
    ]  # fmt: skip
    for entry in metrics["epochs"]:
        assert list(entry) == keys
        assert entry["validation_accuracy"] * 20 == pytest.approx(
            round(entry["validation_accuracy"] * 20)
        )
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all(" validation, " in line for line in lines)
    plain_run = train(write(tmp_path / "p.toml", tiny()), tmp_path / "plain", progress=False)
    assert "validation_accuracy" not in plain_run.metrics["epochs"][-1]
    assert plain_run.metrics["epoch_keys"] == list(EPOCH_KEYS)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ({"n_validation": 0}, r"\[data\] n_validation: expected an integer ≥ 1; got 0"),
        (
            {"n_validation": 120},
            r"\[data\] n_validation = 120 leaves no training sample: iris's training split has 120",
        ),
        (
            {"n_validation": 115, "n_train": 8},
            r"n_train: iris has only 5 samples in this split \(test_fraction = 0.2, after "
            r"n_validation = 115\); got 8",
        ),
    ],
)
def test_a_validation_set_that_does_not_fit_is_a_one_line_error(
    tmp_path: Path, data: dict, match: str
) -> None:
    raw = tiny()
    raw["data"].update(data)
    with pytest.raises(CircuitLearnError, match=match):
        train(parse_config(raw), tmp_path / "run", progress=False)


def test_center_subtracts_the_training_means_and_keeps_the_bias_pair(tmp_path: Path) -> None:
    plain, centred = tiny(), tiny()
    centred["data"]["center"] = True
    a = _build_problem(parse_config(plain))
    b = _build_problem(parse_config(centred))
    mean = a.train[0].mean(axis=0)
    assert np.abs(mean).min() > 0.1  # iris features in [0, 1]: the centring has work to do
    np.testing.assert_allclose(b.train[0], a.train[0] - mean)
    np.testing.assert_allclose(b.test[0], a.test[0] - mean)  # the training means, not the test's
    np.testing.assert_allclose(b.train[0].mean(axis=0), 0.0, atol=1e-12)
    columns = _encode(b.train[0], (-1.0, 1.0), bias_input=True)
    np.testing.assert_allclose(columns[:, -2:], [[1.0, -1.0]] * len(columns))  # bias pair at 1
    np.testing.assert_allclose(columns[:, :-2:2].mean(axis=0), -1.0, atol=1e-12)  # around low
    with pytest.raises(CircuitLearnError, match=r"\[data\] center"):
        parse_config({"data": {"dataset": "iris", "center": 1}})
    metrics = train(write(tmp_path / "c.toml", centred), tmp_path / "run", progress=False).metrics
    plain_metrics = train(write(tmp_path / "p.toml", plain), tmp_path / "p", progress=False).metrics
    assert metrics["epochs"][-1]["train_loss"] != plain_metrics["epochs"][-1]["train_loss"]


def test_dead_units_are_counted_and_warned_about_once(tmp_path: Path) -> None:
    """Inputs all between 20 and 30 V put every unit's weighted average of (+v, −v) pairs volts
    away from 0 on one side for every sample: all units dead, one warning naming the cure."""
    raw = tiny(epochs=2)
    raw["data"]["input_range"] = [20.0, 30.0]
    raw["network"]["hidden"] = [4]
    with pytest.warns(TrainingWarning) as caught:
        metrics = train(write(tmp_path / "c.toml", raw), tmp_path / "run", progress=False).metrics
    dead = [str(w.message) for w in caught if "are dead" in str(w.message)]
    assert len(dead) == 1 and dead[0].startswith("epoch 1: 4 of 4 units of hidden layer 1")
    assert "center = true" in dead[0]
    assert [e["dead_by_layer"] for e in metrics["epochs"][1:]] == [[1.0], [1.0]]
    for e in metrics["epochs"]:
        assert e["dead_by_layer"][0] <= e["conducting_by_layer"][0]


def test_linear_network_tracks_the_conserved_quantity(tmp_path: Path) -> None:
    raw = tiny(method="ep", epochs=1, lr_fraction=0.01)
    raw["network"]["hidden"] = []
    result = train(write(tmp_path / "lin.toml", raw), tmp_path / "run", progress=False)
    assert result.metrics["conservation"]["applicable"] is True
    last = result.metrics["epochs"][-1]
    assert last["conserved_quantity"] > 0 and abs(last["drift"]) < 1e-2
    assert [p.name for p in result.figures] == ["training.png", "layers.png", "conservation.png"]


def _without_time(metrics: dict) -> list[dict]:
    return [{k: v for k, v in e.items() if k != "time"} for e in metrics["epochs"]]


def test_same_seed_same_metrics_and_resume_is_bit_for_bit(tmp_path: Path) -> None:
    full = train(write(tmp_path / "a.toml", tiny()), tmp_path / "full", progress=False)
    again = train(write(tmp_path / "b.toml", tiny()), tmp_path / "again", progress=False)
    assert _without_time(full.metrics) == _without_time(again.metrics)
    np.testing.assert_array_equal(full.conductances, again.conductances)

    part = write(tmp_path / "c.toml", tiny(epochs=1))
    train(part, tmp_path / "resumed", progress=False)
    with pytest.raises(CircuitLearnError, match="already holds a run"):
        train(part, tmp_path / "resumed", progress=False)
    resumed = train(write(part, tiny()), tmp_path / "resumed", resume=True, progress=False)
    assert resumed.conductances.tobytes() == full.conductances.tobytes()
    assert _without_time(resumed.metrics) == _without_time(full.metrics)
    assert load_config(tmp_path / "resumed" / "config.toml").learning.epochs == 2
    with pytest.raises(CircuitLearnError, match="already has 2 epochs"):
        train(write(part, tiny(epochs=1)), tmp_path / "resumed", resume=True, progress=False)
    assert load_config(tmp_path / "resumed" / "config.toml").learning.epochs == 2


def test_resume_refuses_another_config_and_starts_a_run_without_checkpoint(
    tmp_path: Path,
) -> None:
    with pytest.warns(UserWarning, match="no complete checkpoint yet"):
        fresh = train(write(tmp_path / "a.toml", tiny(epochs=1)), tmp_path / "none",
                      resume=True, progress=False)  # fmt: skip
    assert [e["epoch"] for e in fresh.metrics["epochs"]] == [0, 1]
    train(write(tmp_path / "b.toml", tiny(epochs=1)), tmp_path / "run", progress=False)
    with pytest.raises(CircuitLearnError, match=r"\[learning\] differs"):
        changed = write(tmp_path / "c.toml", tiny(lr_fraction=0.1, epochs=1))
        train(changed, tmp_path / "run", resume=True, progress=False)


@pytest.mark.parametrize(
    "learning",
    [{"method": "exact"}, {"method": "dyadic"}, {"method": "cl"}, {"cost": "cross_entropy"}],
)
def test_every_method_and_cost_trains(tmp_path: Path, learning: dict) -> None:
    raw = tiny(epochs=1, **learning)
    result = train(write(tmp_path / "m.toml", raw), tmp_path / "run", progress=False)
    first, last = result.metrics["epochs"][0], result.metrics["epochs"][-1]
    assert last["train_loss"] < first["train_loss"]
    assert (result.metrics["beta"] is None) == (learning.get("method") == "exact")


def test_progress_bar_is_off_in_ci_and_without_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from circuitlearn.train import trainer

    monkeypatch.setattr(trainer.sys.stderr, "isatty", lambda: True, raising=False)
    monkeypatch.setenv("CI", "true")
    assert trainer._progress_bar(None, total=1, desc="t").disable
    monkeypatch.setenv("CI", "false")
    bar = trainer._progress_bar(None, total=1, desc="t")
    shown = not bar.disable
    bar.close()
    assert shown
    monkeypatch.setattr(trainer.sys.stderr, "isatty", lambda: False, raising=False)
    assert trainer._progress_bar(None, total=1, desc="t").disable


def test_a_run_on_a_terminal_names_its_setup_stages_and_shows_its_test_accuracy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the bar (minutes on DRN-1H) a line says what the run is doing; the bar then carries
    the last epoch's test accuracy, and says when an epoch's scoring holds it still."""
    result = train(write(tmp_path / "m.toml", tiny(epochs=2)), tmp_path / "run", progress=True)
    err = capsys.readouterr().err
    stages = [
        "run: loading the data and building the network…",
        "run: compiling the circuit (",
        "run: checking which learning rules apply…",
        "run: scoring the untrained network on 14 images…",
    ]
    positions = [err.find(stage) for stage in stages]
    assert -1 not in positions and positions == sorted(positions), err
    assert "epoch 2: scoring 14 images" in err
    last = result.metrics["epochs"][-1]["test_accuracy"]
    assert err.strip().split("\r")[-1].endswith(f"test {last:.4f}]"), err
    too_many = tiny()
    too_many["data"]["n_train"] = 10_000
    with pytest.raises(CircuitLearnError, match="has only"):  # fails while building
        train(write(tmp_path / "big.toml", too_many), tmp_path / "failed", progress=True)
    err = capsys.readouterr().err  # the stage line is erased, for the error that follows
    stage = "failed: loading the data and building the network…"
    assert err == "\r" + stage + "\r" + " " * len(stage) + "\r"
    (tmp_path / "run" / "metrics.json").unlink()  # a resume that warns during its setup
    with pytest.warns(TrainingWarning, match="missing or behind its checkpoint"):
        train(write(tmp_path / "m3.toml", tiny(epochs=3)), tmp_path / "run", resume=True,
              progress=True)  # fmt: skip
    stage = "run: checking which learning rules apply…"
    erased = re.escape(stage) + " *" + re.escape("\r" + " " * len(stage) + "\r")  # (padded)
    assert re.search(erased, capsys.readouterr().err)  # erased before the warning


def test_a_run_logging_to_a_file_prints_a_line_per_epoch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without a terminal (``nohup … > log``) each epoch still reports its figures; an explicit
    ``progress=False`` (sweep workers, the estimator) stays quiet."""
    train(write(tmp_path / "m.toml", tiny(epochs=2)), tmp_path / "run")
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ")[1] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("test" in line and line.startswith("run: ") for line in lines)
    train(write(tmp_path / "q.toml", tiny(epochs=1)), tmp_path / "quiet", progress=False)
    assert capsys.readouterr().err == ""


@pytest.mark.skipif(
    not Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz").is_file(),
    reason="Debian's dataset-fashion-mnist is not installed",
)
def test_fashion_mnist_training_puts_hidden_units_to_use(tmp_path: Path) -> None:
    """The packaged Fashion-MNIST preset's network on a subset: its random units start set by
    their resistors; trained, they clamp on some images and not on others (about 96 % of unit
    and image pairs clamped with these 20 units; 72 % with the preset's 100 on all the data);
    accuracy rises."""
    raw = tomllib.loads(
        (Path(__file__).parents[2] / "circuitlearn/configs/fashion_drn_xs.toml").read_text()
    )
    raw["data"].update(n_train=600, n_test=200)
    raw["network"]["hidden"] = [20]
    raw["learning"].update(epochs=2, batch_size=20)
    result = train(write(tmp_path / "f.toml", raw), tmp_path / "run", progress=False)
    epochs = result.metrics["epochs"]
    fractions = [e["hidden_conducting_fraction"] for e in epochs]
    assert fractions[0] < 0.1
    assert all(0.2 < f < 1.0 for f in fractions[1:]), fractions
    assert epochs[-1]["test_accuracy"] > epochs[0]["test_accuracy"] + 0.1


def test_centred_pixels_keep_units_alive(tmp_path: Path) -> None:
    """The same subset network, pixels raw and centred: raw, most units end clamped on one side
    for every image (their bias pair cannot cancel w·x̄; 14 of 20 when measured) and the warning
    says so; centred, none do, and the network learns faster (0.655 against 0.33 when
    measured)."""
    runs = {}
    for center in (False, True):
        raw = tomllib.loads(
            (Path(__file__).parents[2] / "circuitlearn/configs/fashion_drn_xs.toml").read_text()
        )
        raw["data"].update(n_train=600, n_test=200, center=center)
        raw["network"]["hidden"] = [20]
        raw["learning"].update(epochs=2, batch_size=20)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runs[center] = train(
                write(tmp_path / f"{center}.toml", raw), tmp_path / str(center), progress=False
            ).metrics["epochs"]
        runs[center, "warned"] = any("are dead" in str(w.message) for w in caught)
    assert runs[False][-1]["dead_by_layer"][0] > 0.5 and runs[False, "warned"]
    assert runs[True][-1]["dead_by_layer"] == [0.0] and not runs[True, "warned"]
    assert runs[True][-1]["test_accuracy"] > runs[False][-1]["test_accuracy"] + 0.1


@pytest.mark.parametrize(
    "learning",
    [
        {"optimizer": "momentum", "momentum": 0.5},
        {"optimizer": "adam", "lr_fraction": 0.02},
        {"schedule": "step", "schedule_gamma": 0.5, "schedule_every": 1},
        {"schedule": "cosine", "layer_lr": [1.0, 0.3], "g_ceiling": 2e-4},
    ],
)
def test_optimizers_learn_and_resume_bit_for_bit(tmp_path: Path, learning: dict) -> None:
    """Every optimizer, schedule and per-layer rate lowers the loss; its state survives resume."""
    raw = tiny(epochs=3, method="exact", **learning)
    full = train(write(tmp_path / "full.toml", raw), tmp_path / "full", progress=False)
    losses = [e["train_loss"] for e in full.metrics["epochs"]]
    assert losses[-1] < losses[0]
    if "g_ceiling" in learning:
        assert full.conductances.max() <= learning["g_ceiling"]
    part = dict(raw, learning={**raw["learning"], "epochs": 1})
    train(write(tmp_path / "part.toml", part), tmp_path / "run", progress=False)
    resumed = train(write(tmp_path / "full.toml", raw), tmp_path / "run", resume=True,
                    progress=False)  # fmt: skip
    assert resumed.conductances.tobytes() == full.conductances.tobytes()


def test_glorot_initialisation_balances_each_node_input(tmp_path: Path) -> None:
    raw = tiny(epochs=1)
    raw["network"].update(init="glorot", g_node=2e-3, hidden=[3])
    result = train(write(tmp_path / "g.toml", raw), tmp_path / "run", progress=False)
    first = np.load(tmp_path / "run/checkpoints/epoch_0000.npz")["conductances"]
    layer1, layer2 = first[: 10 * 3].reshape(10, 3), first[10 * 3 :].reshape(3, 3)
    assert np.all(np.abs(layer1.sum(axis=0) / 2e-3 - 1) < 0.5)  # 4 + 1 bias pairs per node
    assert np.all(np.abs(layer2.sum(axis=0) / 2e-3 - 1) < 0.5)  # 3 hidden per output
    assert result.metrics["epochs"][-1]["epoch"] == 1


def test_layer_lr_must_match_the_crossbars(tmp_path: Path) -> None:
    raw = tiny(epochs=1, layer_lr=[1.0, 1.0, 1.0])
    with pytest.raises(CircuitLearnError, match="layer_lr has 3 factors; the network has 2"):
        train(write(tmp_path / "c.toml", raw), tmp_path / "run", progress=False)


def _accuracy_axes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, accuracy: list[float]):
    """The accuracy panel of ``training.png`` drawn for a run with these accuracies."""
    from matplotlib.figure import Figure

    saved: list[Figure] = []
    monkeypatch.setattr(Figure, "savefig", lambda fig, *a, **k: saved.append(fig))
    epochs = [
        {"epoch": k, "train_loss": 1.0 / (k + 1), "test_loss": 1.0 / (k + 1)}
        | {"train_accuracy": a + 0.01, "test_accuracy": a}
        for k, a in enumerate(accuracy)
    ]
    metrics = {
        "epochs": epochs,
        "dataset": "fashion_mnist",
        "method": "ep",
        "beta": 5e-9,
        "conservation": {"applicable": False},
    }
    _plot(tmp_path, metrics, np.full(4, 1e-5), np.full(4, 2e-5), [4])
    return saved[0].axes[1]


def test_accuracy_panel_fits_a_long_runs_plateau(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 40-epoch run's accuracy between 0.84 and 0.89 was a flat line on a 0–1 axis, set by
    the untrained epoch 0 (0.1); a run that climbs from chance keeps the full scale."""
    plateau = [0.10, 0.84, 0.86, 0.875, 0.88, 0.885, 0.886]
    low, high = _accuracy_axes(tmp_path, monkeypatch, plateau).get_ylim()
    assert 0.8 < low < 0.84 and 0.896 < high < 0.92
    climb = [0.33, 0.6, 0.8, 0.9, 0.95]
    assert _accuracy_axes(tmp_path, monkeypatch, climb).get_ylim() == (0.0, 1.02)


def test_run_label_reads_as_the_rule_and_a_short_beta() -> None:
    """Figure titles and the CLI's summary line: not a dataclass repr with 16 digits of β."""
    assert run_label({"method": "ep", "beta": 5.482654877162808e-09}) == "ep (β = 5.48e-09)"
    assert run_label({"method": "exact", "beta": None}) == "exact"


@pytest.mark.parametrize("warm_start", [False, True])
def test_workers_share_the_batches_and_the_scoring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warm_start: bool
) -> None:
    """Two processes: the scoring is the same bit for bit (each chunk is solved whole), the
    training the same to rounding (the batch's parts are averaged)."""
    import circuitlearn.learn.batched as batched_module

    monkeypatch.setattr(batched_module, "SOLVE_CHUNK", 16)  # several chunks to share out
    raw = tiny(epochs=3, batch_size=8, method="ep", warm_start=warm_start)
    raw["data"].update(n_train=40, n_test=30)
    config = write(tmp_path / "a.toml", raw)
    one = train(config, tmp_path / "one", progress=False)
    two = train(config, tmp_path / "two", progress=False, workers=2)
    assert _without_time(two.metrics)[0] == _without_time(one.metrics)[0]
    for a, b in zip(one.metrics["epochs"][1:], two.metrics["epochs"][1:], strict=True):
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-6)
        assert b["test_accuracy"] == a["test_accuracy"]
    np.testing.assert_allclose(two.conductances, one.conductances, rtol=1e-6)
    with pytest.raises(CircuitLearnError, match="workers must be at least 1"):
        train(config, tmp_path / "zero", progress=False, workers=0)
