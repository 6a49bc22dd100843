"""The Dataset record, float32 scaling, and the deterministic, resumable batch order."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.data import (
    Dataset,
    batches,
    batches_per_epoch,
    epoch_permutation,
    stored_batch,
    synthetic,
    to_float32,
    train_mean_std,
)


def _dataset(**changes):
    fields = dict(
        name="d",
        train_x=np.zeros((4, 2, 2), np.uint8),
        train_y=np.array([0, 1, 2, 1], np.uint8),
        test_x=np.zeros((2, 2, 2), np.uint8),
        test_y=np.array([2, 0]),
        num_classes=3,
    )
    fields.update(changes)
    return Dataset(**fields)


def test_dataset_properties_and_label_dtype():
    data = _dataset()
    assert (data.n_train, data.n_test, data.example_shape, data.n_features) == (4, 2, (2, 2), 4)
    assert data.train_y.dtype == np.int64 and data.test_y.dtype == np.int64
    assert "train=(4, 2, 2) uint8" in repr(data)


@pytest.mark.parametrize(
    "changes, error, message",
    [
        (dict(train_y=np.array([0, 1, 3, 1])), ValueError, "train_y contains label 3, outside 0..2"),
        (dict(test_y=np.array([-1, 0])), ValueError, "test_y contains label -1"),
        (dict(train_y=np.array([0, 1, 2])), ValueError, "train_y has 3 labels but train_x has 4 examples"),
        (dict(test_x=np.zeros((2, 3, 2), np.uint8)), ValueError, r"test_x examples have shape \(3, 2\)"),
        (dict(train_x=np.zeros((4, 2, 2), np.int32)), TypeError, "train_x must be"),
        (dict(train_x=np.zeros(4, np.uint8)), TypeError, "train_x must be"),
        (dict(train_y=np.array([0.0, 1, 2, 1])), TypeError, "train_y must be a 1-d integer array"),
        (dict(num_classes=0), ValueError, "num_classes must be a positive integer"),
        (dict(class_names=("a", "b")), ValueError, "class_names has 2 names for num_classes=3"),
    ],
)
def test_dataset_rejects_inconsistent_fields(changes, error, message):
    with pytest.raises(error, match=message):
        _dataset(**changes)


def test_pixel_scaling_matches_float64_division_for_every_byte():
    pixels = np.arange(256, dtype=np.uint8)
    scaled = to_float32(pixels)
    assert scaled.dtype == np.float32
    np.testing.assert_array_equal(scaled, (pixels / 255.0).astype(np.float32))
    assert scaled[0] == 0.0 and scaled[255] == 1.0


def test_standardisation_and_float_passthrough():
    pixels = np.array([0, 51, 255], np.uint8)
    out = to_float32(pixels, mean=0.2, std=0.5)
    expected = (np.array([0, 51, 255], np.float32) / np.float32(255) - np.float32(0.2)) / np.float32(0.5)
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(to_float32(np.array([1.5, -2.0])), np.array([1.5, -2.0], np.float32))
    with pytest.raises(ValueError, match="give both mean and std"):
        to_float32(pixels, mean=0.1)
    with pytest.raises(ValueError, match="std must be positive"):
        to_float32(pixels, mean=0.1, std=0.0)
    with pytest.raises(TypeError, match="uint8 pixels or floats, got dtype int16"):
        to_float32(pixels.astype(np.int16))


def test_train_mean_std_by_hand():
    data = _dataset(train_x=np.array([0, 255, 0, 255], np.uint8).reshape(4, 1, 1), test_x=np.zeros((2, 1, 1), np.uint8))
    assert train_mean_std(data) == (0.5, 0.5)


def test_epoch_permutation_is_the_documented_formula():
    np.testing.assert_array_equal(
        epoch_permutation(50, seed=7, epoch=3), np.random.default_rng([7, 3]).permutation(50)
    )
    assert not np.array_equal(epoch_permutation(50, seed=7, epoch=3), epoch_permutation(50, seed=7, epoch=4))
    assert not np.array_equal(epoch_permutation(50, seed=7, epoch=3), epoch_permutation(50, seed=8, epoch=3))
    with pytest.raises(ValueError, match="epoch must be a non-negative int, got -1"):
        epoch_permutation(5, seed=1, epoch=-1)
    with pytest.raises(TypeError, match="seed must be a non-negative int"):
        epoch_permutation(5, seed=np.random.default_rng(0), epoch=0)


def test_epoch_permutation_is_kept_read_only():
    first = epoch_permutation(50, seed=7, epoch=3)
    assert epoch_permutation(50, seed=7, epoch=3) is first
    with pytest.raises(ValueError):
        first[0] = 1  # a caller cannot corrupt the order later batches of the epoch are drawn from


@given(
    n=st.integers(1, 60),
    batch_size=st.integers(1, 25),
    seed=st.integers(0, 2**32),
    epoch=st.integers(0, 1000),
    drop_remainder=st.booleans(),
)
def test_one_epoch_visits_every_example_once_in_the_documented_order(n, batch_size, seed, epoch, drop_remainder):
    x = np.arange(n, dtype=np.float32)[:, None]  # example i holds the value i
    y = np.arange(n) % 3
    got = list(batches(x, y, batch_size, seed=seed, epoch=epoch, drop_remainder=drop_remainder))
    assert len(got) == batches_per_epoch(n, batch_size, drop_remainder=drop_remainder)
    order = np.concatenate([xb[:, 0] for xb, _ in got]).astype(int) if got else np.array([], int)
    expected = np.random.default_rng([seed, epoch]).permutation(n)
    kept = (n // batch_size) * batch_size if drop_remainder else n
    np.testing.assert_array_equal(order, expected[:kept])
    assert all(len(xb) == batch_size for xb, _ in got[: n // batch_size])
    for xb, yb in got:
        assert xb.dtype == np.float32 and yb.dtype == np.int64
        np.testing.assert_array_equal(yb, xb[:, 0].astype(int) % 3)


@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), seed=st.integers(0, 99), data=st.data())
def test_resuming_mid_epoch_gives_the_remaining_batches(n, batch_size, seed, data):
    x = np.arange(n, dtype=np.uint8).reshape(n, 1)
    y = np.zeros(n, dtype=np.int64)
    full = list(batches(x, y, batch_size, seed=seed, epoch=2))
    start = data.draw(st.integers(0, len(full)), label="start_batch")
    resumed = list(batches(x, y, batch_size, seed=seed, epoch=2, start_batch=start))
    assert len(resumed) == len(full) - start
    for (xa, ya), (xb, yb) in zip(full[start:], resumed):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)


@given(n=st.integers(1, 40), batch_size=st.integers(1, 12), seed=st.integers(0, 99), epoch=st.integers(0, 3))
def test_stored_batches_are_the_batches_before_scaling(n, batch_size, seed, epoch):
    x = (np.arange(n * 3, dtype=np.int64) * 37 % 256).astype(np.uint8).reshape(n, 3)
    y = np.arange(n, dtype=np.uint8)
    for index, (xb, yb) in enumerate(batches(x, y, batch_size, seed=seed, epoch=epoch)):
        stored_x, stored_y = stored_batch(x, y, batch_size, seed=seed, epoch=epoch, index=index)
        assert stored_x.dtype == np.uint8 and stored_y.dtype == np.int64
        assert to_float32(stored_x).tobytes() == xb.tobytes() and np.array_equal(stored_y, yb)


@pytest.mark.parametrize("index", [-1, 3, 1.5, True])
def test_stored_batch_rejects_an_index_outside_the_epoch(index):
    x, y = np.zeros((10, 2), np.uint8), np.zeros(10, np.int64)  # batches of 4: indices 0, 1, 2
    with pytest.raises(ValueError, match="index must be an int in 0..2"):
        stored_batch(x, y, 4, seed=0, epoch=0, index=index)


def test_unshuffled_flattened_normalised_batches():
    x = np.arange(5 * 4, dtype=np.uint8).reshape(5, 2, 2)
    y = np.arange(5)
    got = list(batches(x, y, 2, shuffle=False, flatten=True, mean=0.0, std=2.0))
    assert [xb.shape for xb, _ in got] == [(2, 4), (2, 4), (1, 4)]
    np.testing.assert_array_equal(got[2][0], (x[4].reshape(1, 4).astype(np.float32) / np.float32(255)) / np.float32(2))
    np.testing.assert_array_equal(np.concatenate([yb for _, yb in got]), y)


def test_bad_batch_arguments_fail_at_the_call_not_at_iteration():
    x, y = np.zeros((4, 1), np.uint8), np.zeros(4, np.int64)
    with pytest.raises(TypeError, match="seed must be an explicit int when shuffle=True"):
        batches(x, y, 2)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        batches(x, y, 0, seed=1)
    with pytest.raises(ValueError, match="y has 3 labels but x has 4 examples"):
        batches(x, y[:3], 2, seed=1)
    with pytest.raises(ValueError, match=r"start_batch must be an int in 0..2, got 3"):
        batches(x, y, 2, seed=1, start_batch=3)
    with pytest.raises(ValueError, match="give both mean and std"):
        batches(x, y, 2, seed=1, std=1.0)


def test_synthetic_is_deterministic_balanced_and_learnable():
    first = synthetic(300, 100, n_classes=4, example_shape=16, seed=3)
    again = synthetic(300, 100, n_classes=4, example_shape=16, seed=np.random.default_rng(3))
    for field in ("train_x", "train_y", "test_x", "test_y"):
        np.testing.assert_array_equal(getattr(first, field), getattr(again, field))
    assert first.train_x.dtype == np.float32 and first.train_x.shape == (300, 16)
    assert np.bincount(first.train_y).tolist() == [75, 75, 75, 75]
    assert not np.array_equal(first.train_x, synthetic(300, 100, n_classes=4, example_shape=16, seed=4).train_x)
    # a least-squares linear classifier separates the blobs
    features = np.c_[first.train_x, np.ones(300)]
    weights = np.linalg.lstsq(features, np.eye(4)[first.train_y], rcond=None)[0]
    accuracy = np.mean(np.argmax(np.c_[first.test_x, np.ones(100)] @ weights, axis=1) == first.test_y)
    assert accuracy > 0.9


def test_synthetic_default_is_mnist_shaped_and_documents_its_call():
    data = synthetic()
    assert data.train_x.shape == (512, 28, 28) and data.test_x.shape == (128, 28, 28) and data.num_classes == 10
    assert data.source.startswith("synthetic(n_train=512") and "seed=0" in data.source


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(n_train=0), ValueError, "n_train must be a positive integer"),
        (dict(n_classes=1.5), ValueError, "n_classes must be a positive integer"),
        (dict(example_shape=()), ValueError, "example_shape must have at least one dimension"),
        (dict(example_shape=(3, 0)), ValueError, "example_shape must be a positive integer, got 0"),
        (dict(noise=-1.0), ValueError, "noise must be a finite non-negative number"),
        (dict(seed=None), TypeError, "seed must be an explicit seed"),
    ],
)
def test_synthetic_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        synthetic(**kwargs)
