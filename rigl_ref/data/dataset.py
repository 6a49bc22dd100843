"""The ``Dataset`` record, float32 normalisation, and deterministic mini-batches.

Data order. With ``shuffle=True`` the examples of epoch ``e`` (0-based) are visited in the order
``numpy.random.default_rng([seed, e]).permutation(n)`` and cut into consecutive batches of
``batch_size``; the last batch is shorter unless ``drop_remainder=True`` drops it. The order of an epoch
therefore depends only on ``(seed, epoch, n)``, never on what ran before, so a run resumed at epoch ``e``,
batch ``b`` (``start_batch=b``) sees exactly the batches an uninterrupted run would have seen.

Pixel scaling. uint8 images become ``x.astype(float32) / float32(255)``. For each of the 256 possible
values this equals ``float32(x / 255.0)`` computed in float64 (checked by the tests), i.e. what Keras/TF
scripts (``x / 255.0``) and torchvision's ``ToTensor`` produce; note that multiplying by ``1/255`` would
differ in the last bit for some values. Optional standardisation is ``(x01 - mean) / std`` in float32.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Iterator

import numpy as np

from rigl_ref.validate import check_positive_int


@dataclass(frozen=True, eq=False)
class Dataset:
    """A classification data set held in memory.

    ``train_x``/``test_x``: uint8 images ``(N, 28, 28)`` (pixel values 0..255) or float features
    ``(N, ...)``; ``train_y``/``test_y``: int64 labels in ``0 .. num_classes-1`` (other integer dtypes are
    converted). ``source`` says where the data came from (a directory, "embedded", or a generator call).
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int
    class_names: tuple[str, ...] = ()
    source: str = field(default="", compare=False)

    def __post_init__(self):
        check_positive_int("num_classes", self.num_classes)
        for split in ("train", "test"):
            x, y = getattr(self, f"{split}_x"), getattr(self, f"{split}_y")
            if not isinstance(x, np.ndarray) or x.ndim < 2 or not (x.dtype == np.uint8 or x.dtype.kind == "f"):
                raise TypeError(
                    f"{split}_x must be a numpy array of uint8 images or float features with at least 2 "
                    f"dimensions, got {type(x).__name__} {getattr(x, 'dtype', '')} {np.shape(x)}"
                )
            y = np.asarray(y)
            if y.ndim != 1 or y.dtype.kind not in "iu":
                raise TypeError(f"{split}_y must be a 1-d integer array, got {y.dtype} with shape {y.shape}")
            if len(y) != len(x):
                raise ValueError(f"{split}_y has {len(y)} labels but {split}_x has {len(x)} examples")
            if len(y) and (y.min() < 0 or y.max() >= self.num_classes):
                bad = y[(y < 0) | (y >= self.num_classes)][0]
                raise ValueError(f"{split}_y contains label {bad}, outside 0..{self.num_classes - 1}")
            object.__setattr__(self, f"{split}_y", y.astype(np.int64, copy=False))
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(
                f"test_x examples have shape {self.test_x.shape[1:]}, train_x examples {self.train_x.shape[1:]}"
            )
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ValueError(f"class_names has {len(self.class_names)} names for num_classes={self.num_classes}")

    @property
    def n_train(self) -> int:
        return len(self.train_y)

    @property
    def n_test(self) -> int:
        return len(self.test_y)

    @property
    def example_shape(self) -> tuple[int, ...]:
        """Shape of one example, e.g. ``(28, 28)``."""
        return self.train_x.shape[1:]

    @property
    def n_features(self) -> int:
        """Number of inputs of one flattened example, e.g. 784."""
        return int(np.prod(self.example_shape))

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={self.train_x.shape} {self.train_x.dtype}, "
            f"test={self.test_x.shape}, num_classes={self.num_classes}, source={self.source!r})"
        )


def hold_out_validation(dataset: Dataset, fraction: float) -> tuple[Dataset, tuple[np.ndarray, np.ndarray] | None]:
    """Split a validation set off the end of the training set: the first ``floor((1 - fraction) * n_train)``
    examples stay for training, the rest validate.

    Returns ``(dataset with the first examples as its training set, (val_x, val_y))``, or the dataset
    unchanged and ``None`` when ``fraction`` is 0. A contiguous tail of the stored order, exactly as
    TimDettmers/sparse_learning's ``get_mnist_dataloaders(args, validation_split)``
    (``sparselearning/utils.py``: ``split = int(np.floor((1.0 - validation_split) * len(full_dataset)))``,
    ``DatasetSplitter(split_end=split)`` / ``(split_start=split)``); the test set is untouched.
    """
    fraction = float(fraction)
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation_fraction must lie in [0, 1), got {fraction!r}")
    if fraction == 0.0:
        return dataset, None
    keep = int(np.floor((1.0 - fraction) * dataset.n_train))
    if keep == dataset.n_train:
        return dataset, None
    if keep == 0:
        raise ValueError(f"validation_fraction {fraction!r} leaves no training example of {dataset.n_train}")
    train = replace(dataset, train_x=dataset.train_x[:keep], train_y=dataset.train_y[:keep])
    return train, (dataset.train_x[keep:], dataset.train_y[keep:])


def to_float32(x, *, mean: float | None = None, std: float | None = None) -> np.ndarray:
    """Convert examples to float32: uint8 pixels are divided by 255, floats are kept as they are.

    With ``mean`` and ``std`` (both or neither) the result is then standardised, ``(x - mean) / std``.
    The exact arithmetic is stated in the module docstring.
    """
    x = np.asarray(x)
    if x.dtype == np.uint8:
        out = x.astype(np.float32) / np.float32(255)
    elif x.dtype.kind == "f":
        out = x.astype(np.float32)
    else:
        raise TypeError(f"x must hold uint8 pixels or floats, got dtype {x.dtype}")
    if (mean is None) != (std is None):
        raise ValueError(f"give both mean and std or neither, got mean={mean!r}, std={std!r}")
    if mean is not None:
        if not (np.isfinite(mean) and np.isfinite(std) and std > 0):
            raise ValueError(f"std must be positive and mean, std finite, got mean={mean!r}, std={std!r}")
        out = (out - np.float32(mean)) / np.float32(std)
    return out


def train_mean_std(dataset: Dataset) -> tuple[float, float]:
    """Mean and standard deviation of the training examples after ``to_float32`` (computed in float64).

    For full MNIST this gives the familiar (0.1307, 0.3081).
    """
    values = to_float32(dataset.train_x).astype(np.float64)
    return float(values.mean()), float(values.std())


def _check_seed(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a non-negative int, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    return int(value)


def epoch_permutation(n: int, *, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits ``n`` examples: ``default_rng([seed, epoch]).permutation(n)``.

    Read-only, and the same array for repeated calls with the same arguments (the last few are kept: the
    trainer asks for its batch one iteration at a time, and drawing a permutation of the 54 000 MNIST
    training examples every step cost more than a sparse layer's forward)."""
    seed, epoch = _check_seed("seed", seed), _check_seed("epoch", epoch)
    return _permutation(int(n), seed, epoch)


@functools.lru_cache(maxsize=4)
def _permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    order = np.random.default_rng([seed, epoch]).permutation(n)
    order.flags.writeable = False
    return order


def batches_per_epoch(n: int, batch_size: int, *, drop_remainder: bool = False) -> int:
    """How many batches ``batches`` yields for ``n`` examples."""
    batch_size = check_positive_int("batch_size", batch_size)
    return n // batch_size if drop_remainder else -(-n // batch_size)


def batches(
    x,
    y,
    batch_size: int,
    *,
    seed: int | None = None,
    epoch: int = 0,
    shuffle: bool = True,
    drop_remainder: bool = False,
    start_batch: int = 0,
    flatten: bool = False,
    mean: float | None = None,
    std: float | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(x_batch, y_batch)`` for one epoch: float32 examples (see ``to_float32``) and int64 labels.

    ``shuffle=True`` needs an explicit ``seed``; the order is the one in the module docstring. Batches
    before ``start_batch`` are skipped (to resume mid-epoch). ``flatten=True`` reshapes each example to a
    vector, e.g. 28x28 -> 784 for an MLP. Arguments are checked when ``batches`` is called, not when
    the first batch is drawn.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"y has {len(y)} labels but x has {len(x)} examples")
    if shuffle:
        if seed is None:
            raise TypeError("seed must be an explicit int when shuffle=True, got None")
        order = epoch_permutation(len(x), seed=seed, epoch=epoch)
    else:
        order = np.arange(len(x))
    total = batches_per_epoch(len(x), batch_size, drop_remainder=drop_remainder)
    if isinstance(start_batch, bool) or int(start_batch) != start_batch or not 0 <= start_batch <= total:
        raise ValueError(f"start_batch must be an int in 0..{total}, got {start_batch!r}")
    to_float32(x[:0], mean=mean, std=std)  # reject a bad dtype, mean or std now
    return _iterate(x, y, order, batch_size, range(int(start_batch), total), flatten, mean, std)


def stored_batch(x, y, batch_size: int, *, seed: int, epoch: int, index: int) -> tuple[np.ndarray, np.ndarray]:
    """Batch ``index`` of epoch ``epoch`` in the shuffled order of :func:`batches`, before conversion: the
    examples as stored (uint8 pixels or floats) and int64 labels, for a caller that converts them itself
    (the trainer scales pixels and lays them out for the first layer in one pass,
    ``rigl_ref.kernels.scaled_pixels``). ``to_float32`` of its examples is ``batches``' batch."""
    batch_size = check_positive_int("batch_size", batch_size)
    order = epoch_permutation(len(x), seed=seed, epoch=epoch)
    total = batches_per_epoch(len(x), batch_size)
    if isinstance(index, bool) or int(index) != index or not 0 <= index < total:
        raise ValueError(f"index must be an int in 0..{total - 1}, got {index!r}")
    chosen = _positions(order, batch_size, int(index))
    return x[chosen], y[chosen].astype(np.int64, copy=False)


def _positions(order, batch_size, index):
    return order[index * batch_size : (index + 1) * batch_size]


def _iterate(x, y, order, batch_size, batch_indices, flatten, mean, std):
    for index in batch_indices:
        chosen = _positions(order, batch_size, index)
        x_batch = to_float32(x[chosen], mean=mean, std=std)
        if flatten:
            x_batch = x_batch.reshape(len(chosen), -1)
        yield x_batch, y[chosen].astype(np.int64, copy=False)
