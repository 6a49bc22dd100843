"""A small, fast, deterministic classification data set for tests and smoke runs.

Gaussian blobs: each class ``c`` has a prototype ``mu_c`` drawn from a standard normal over the example
shape; an example of class ``c`` is ``mu_c + noise * z`` with ``z`` standard normal. Two prototypes lie about
``sqrt(2 * n_features)`` apart, so with the default ``noise=1`` a linear classifier separates the classes
almost perfectly once there are more than a few dozen features.

All randomness comes from one ``numpy.random.Generator`` built from ``seed`` and is drawn in this order:
the prototypes ``(n_classes, *example_shape)``, the training labels (a permutation of
``arange(n_train) % n_classes``, so every class is present and the classes are balanced), the training
noise, then the same two draws for the test split. The examples are float32.
"""

from __future__ import annotations

import numpy as np

from rigl_ref.data.dataset import Dataset
from rigl_ref.validate import as_generator, check_positive_int


def synthetic(
    n_train: int = 512,
    n_test: int = 128,
    *,
    n_classes: int = 10,
    example_shape: int | tuple[int, ...] = (28, 28),
    noise: float = 1.0,
    seed=0,
) -> Dataset:
    """Gaussian-blob data set (see the module docstring); ``seed`` is an int or a ``numpy.random.Generator``."""
    n_train = check_positive_int("n_train", n_train)
    n_test = check_positive_int("n_test", n_test)
    n_classes = check_positive_int("n_classes", n_classes)
    shape = (example_shape,) if isinstance(example_shape, (int, np.integer)) else tuple(example_shape)
    if not shape:
        raise ValueError(f"example_shape must have at least one dimension, got {example_shape!r}")
    shape = tuple(check_positive_int("example_shape", size) for size in shape)
    noise = float(noise)
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"noise must be a finite non-negative number, got {noise!r}")
    source = f"synthetic(n_train={n_train}, n_test={n_test}, n_classes={n_classes}, " \
             f"example_shape={shape}, noise={noise}, seed={seed!r})"
    rng = as_generator(seed, name="seed")

    prototypes = rng.standard_normal((n_classes, *shape))

    def draw(n: int):
        labels = rng.permutation(np.arange(n) % n_classes)
        examples = prototypes[labels] + noise * rng.standard_normal((n, *shape))
        return examples.astype(np.float32), labels.astype(np.int64)

    train_x, train_y = draw(n_train)
    test_x, test_y = draw(n_test)
    return Dataset(
        name="synthetic",
        train_x=train_x,
        train_y=train_y,
        test_x=test_x,
        test_y=test_y,
        num_classes=n_classes,
        source=source if isinstance(seed, (int, np.integer)) else "synthetic (from a Generator)",
    )
