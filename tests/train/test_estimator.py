"""``circuitlearn.CircuitClassifier``: scikit-learn checks, pipelines, search, export."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn", reason="scikit-learn (a dev dependency) is not installed")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from circuitlearn import CircuitClassifier  # noqa: E402
from circuitlearn.errors import ConfigError, DataError  # noqa: E402
from circuitlearn.netlist import from_spice  # noqa: E402
from circuitlearn.solve import solve_dc  # noqa: E402


@pytest.mark.slow
@parametrize_with_checks([CircuitClassifier(epochs=10, random_state=0)])
def test_scikit_learn_estimator_checks(estimator, check) -> None:
    """Every check scikit-learn 1.9 runs on a classifier passes; none is excluded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        check(estimator)


def test_fits_iris_and_works_in_pipelines_and_searches() -> None:
    X, y = load_iris(return_X_y=True)
    clf = CircuitClassifier(hidden=(8,), epochs=30, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.85
    proba = clf.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert np.array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    assert len(clf.loss_curve_) == 30 and clf.loss_curve_[-1] < clf.loss_curve_[0]
    pipe = make_pipeline(StandardScaler(), CircuitClassifier(epochs=8, random_state=0))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.6
    search = GridSearchCV(CircuitClassifier(epochs=5, random_state=0), {"hidden": [(4,), (8,)]},
                          cv=2).fit(X, y)  # fmt: skip
    assert search.best_params_["hidden"] in [(4,), (8,)]


def test_partial_fit_and_pickle_keep_training_state() -> None:
    X, y = load_iris(return_X_y=True)
    clf = CircuitClassifier(epochs=1, random_state=0)
    clf.partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    clf.partial_fit(X[50:], y[50:])
    assert len(clf.loss_curve_) == 2
    copy = pickle.loads(pickle.dumps(clf))
    assert np.array_equal(copy.predict(X), clf.predict(X))
    with pytest.raises(DataError, match="differ from the first call"):
        clf.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(DataError, match=r"not among the classes \[0, 1, 2\]: 5, 6, 7$"):
        clf.partial_fit(X, y + 5)
    with pytest.raises(DataError, match=r"not among the classes \[0, 1\]: 2$"):
        CircuitClassifier().partial_fit(X, y, classes=[0, 1])
    with pytest.raises(DataError, match=r"at least 2 classes; got 1 class: 0$"):
        CircuitClassifier().fit(X[:10], y[:10])
    with pytest.raises(DataError, match=r"got 1 class: 'setosa'$"):
        CircuitClassifier().fit(X[:10], np.array(["setosa"] * 10))
    with pytest.raises(ConfigError, match="CircuitClassifier: method: expected one of"):
        CircuitClassifier(method="fd").fit(X, y)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"epochs": -1}, r"epochs: expected an integer ≥ 1; got -1"),
        ({"epochs": 0}, r"epochs: expected an integer ≥ 1; got 0"),
        ({"batch_size": 0}, r"batch_size: expected an integer ≥ 1"),
        ({"hidden": (4, 0)}, r"hidden: expected an integer ≥ 1; got 0"),
        ({"hidden": 4}, r"hidden: expected a list of layer sizes"),
        ({"optimizer": "rmsprop"}, r"optimizer: expected one of"),
        ({"lr": -1.0}, r"lr: expected a positive number"),
        ({"lr_fraction": float("nan")}, r"lr_fraction: expected a positive number"),
        ({"beta": 0.0}, r"beta: expected a positive number"),
        ({"g_range": (1e-4, 1e-5)}, r"g_range: expected low ≤ high"),
        ({"g_range": (0.0, 1e-5)}, r"g_range: expected a positive number"),
        ({"input_range": (0.0,)}, r"input_range: expected \[low, high\]"),
        ({"temperature": 0.0}, r"temperature: expected a positive number"),
        ({"amplifier_gain": float("inf")}, r"amplifier_gain: expected a finite number"),
        ({"activation": "tanh"}, r"activation: expected one of diode, nmos, relu"),
        ({"cost": "hinge"}, r"cost: expected one of"),
        ({"schedule": "linear"}, r"schedule: expected one of constant, step, cosine"),
        ({"verbose": "yes"}, r"verbose: expected true or false"),
        ({"n_jobs": 0}, r"n_jobs must be None or a nonzero integer; got 0"),
        ({"n_jobs": 1.5}, r"n_jobs must be"),
    ],
)
def test_a_bad_parameter_is_refused_by_name_before_training(params: dict, match: str) -> None:
    X, y = load_iris(return_X_y=True)
    for fit in (lambda c: c.fit(X, y), lambda c: c.partial_fit(X, y, classes=[0, 1, 2])):
        clf = CircuitClassifier(**params)
        with pytest.raises(ConfigError, match=match):
            fit(clf)
        assert not hasattr(clf, "classes_")


def test_n_jobs_shares_the_batches_and_learns_the_same() -> None:
    X, y = load_iris(return_X_y=True)
    params = {"hidden": (4,), "epochs": 3, "batch_size": 30, "random_state": 0}
    one = CircuitClassifier(**params).fit(X, y)
    two = CircuitClassifier(n_jobs=2, **params).fit(X, y)
    every = CircuitClassifier(n_jobs=-1, **params).partial_fit(X, y)
    np.testing.assert_allclose(two.conductances_, one.conductances_, rtol=1e-6)
    np.testing.assert_allclose(two.loss_curve_, one.loss_curve_, rtol=1e-6)
    np.testing.assert_array_equal(two.predict(X), one.predict(X))
    assert every.loss_curve_[0] == pytest.approx(one.loss_curve_[0], rel=1e-6)


def test_numpy_values_of_parameters_are_accepted() -> None:
    """GridSearchCV over np.arange and friends hands numpy scalars and arrays."""
    X, y = load_iris(return_X_y=True)
    clf = CircuitClassifier(hidden=np.array([4]), epochs=np.int64(1), batch_size=np.int32(30),
                            g_range=np.array([1e-5, 1e-4]), random_state=0).fit(X, y)  # fmt: skip
    assert len(clf.loss_curve_) == 1


@pytest.mark.ngspice
def test_the_trained_classifier_exports_to_ngspice() -> None:
    """to_spice(x) holds one sample's inputs: ngspice's output voltages pick the same class."""
    X, y = load_iris(return_X_y=True)
    clf = CircuitClassifier(hidden=(6,), epochs=10, random_state=0, method="aep").fit(X, y)
    for row in (0, 60, 100, 140):
        sample = X[row : row + 1]
        op = solve_dc(from_spice(clf.to_spice(X[row])), backend="ngspice")
        outputs = np.array([op.voltages[n] for n in clf.network_.output_nodes])
        assert np.allclose(outputs, clf._outputs(sample)[0], atol=1e-9)
        assert clf.classes_[np.argmax(outputs)] == clf.predict(sample)[0]
        assert clf.to_spice(sample) == clf.to_spice(X[row])


@pytest.mark.filterwarnings("ignore:X does not have valid feature names")  # numpy rows, as predict
def test_to_spice_defaults_to_the_training_minimum_and_checks_its_sample() -> None:
    X, y = load_iris(return_X_y=True, as_frame=True)
    clf = CircuitClassifier(hidden=(4,), epochs=1, random_state=0).fit(X, y)
    assert clf.to_spice() == clf.to_spice(X.min().to_numpy())
    assert clf.to_spice(X.iloc[[5]]) == clf.to_spice(X.iloc[5].to_numpy())
    with pytest.raises(DataError, match="to_spice: x must be one sample; got 2 rows"):
        clf.to_spice(X.iloc[:2])
    with pytest.raises(DataError, match=r"to_spice: .*4 features"):
        clf.to_spice(np.ones(3))
    with pytest.raises(DataError, match=r"to_spice: .*NaN"):
        clf.to_spice(np.array([1.0, np.nan, 1.0, 1.0]))


def test_predictions_do_not_depend_on_the_solve_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Evaluation solves in chunks sized to the Jacobian (DRN-1H: 24 samples, DRN-XS: 248)."""
    from circuitlearn.learn import batched

    X, y = load_iris(return_X_y=True)
    clf = CircuitClassifier(hidden=(8,), epochs=3, random_state=0).fit(X, y)
    whole = clf.predict_proba(X)
    engine = clf._engine_for()
    assert engine.solve_chunk == batched.SOLVE_CHUNK  # a small Jacobian: the most samples
    monkeypatch.setattr(batched, "CHUNK_VALUES", 1)
    assert engine.solve_chunk == 16
    np.testing.assert_allclose(clf.predict_proba(X), whole, rtol=1e-12, atol=1e-15)


def test_activation_cost_schedule_and_verbose_reach_the_training(
    capsys: pytest.CaptureFixture[str],
) -> None:
    X, y = load_iris(return_X_y=True)
    relu = CircuitClassifier(hidden=(4,), activation="relu", epochs=1, random_state=0).fit(X, y)
    saturating = CircuitClassifier(hidden=(4,), epochs=1, random_state=0).fit(X, y)
    count = lambda clf: sum(type(e).__name__ == "Diode" for e in clf.network_.circuit)  # noqa: E731
    assert (count(relu), count(saturating)) == (4, 8)  # one diode per unit, or two
    ce = CircuitClassifier(hidden=(4,), cost="cross_entropy", epochs=1, random_state=0).fit(X, y)
    assert ce._task.cost.name == "cross_entropy" and np.allclose(ce._targets(y[:1]).sum(), 1.0)
    cosine = CircuitClassifier(hidden=(4,), schedule="cosine", epochs=3, random_state=0)
    cosine.fit(X, y)
    assert [cosine._optimizer.factor(e) for e in (1, 3)] == pytest.approx([1.0, 0.25])
    capsys.readouterr()
    verbose = CircuitClassifier(hidden=(4,), epochs=2, verbose=True, random_state=0).fit(X, y)
    assert verbose.n_iter_ == 2 and capsys.readouterr().out.count("Iteration") == 2
    verbose.partial_fit(X, y)
    assert verbose.n_iter_ == 3 == len(verbose.loss_curve_)
