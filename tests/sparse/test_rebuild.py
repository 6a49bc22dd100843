"""rebuild(): kept entries keep value and slots, grown entries get the init value and zero slots, the result
passes the full check, and the pattern equals (kept + grown) exactly."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref.sparse import CSRWeight, rebuild


@given(st.integers(1, 7), st.integers(1, 7), st.integers(0, 2**32 - 1), st.floats(-2, 2, width=32))
def test_rebuild_carries_values_and_slots(rows, cols, seed, init):
    rng = np.random.default_rng(seed)
    mask = rng.random((rows, cols)) < rng.random()
    w = CSRWeight.from_dense(mask, rng.standard_normal((rows, cols)))
    momentum = rng.standard_normal(w.nnz).astype(np.float32)
    keep = rng.random(w.nnz) < 0.6
    kept_flat = w.active_flat_indices()[keep]
    free = np.setdiff1d(np.arange(w.size), kept_flat)
    grown = rng.permutation(free)[: rng.integers(0, len(free) + 1)]  # any order
    before = (w.data.copy(), momentum.copy())
    out = rebuild(w, keep, grown, grow_init=init, aligned=(momentum,))
    out.weight.check(full=True)
    new_mask, new_values = out.weight.to_dense()
    expected_mask = np.zeros(w.size, bool)
    expected_mask[kept_flat] = True
    expected_mask[grown] = True
    assert np.array_equal(new_mask.ravel(), expected_mask)
    old_values = w.to_dense()[1].ravel()
    assert np.array_equal(new_values.ravel()[kept_flat], old_values[kept_flat])
    assert np.all(new_values.ravel()[grown] == np.float32(init))
    slot_dense = np.zeros(w.size, np.float32)
    slot_dense[out.weight.active_flat_indices()] = out.aligned[0]
    assert np.array_equal(slot_dense[kept_flat], momentum[keep]) and not slot_dense[grown].any()
    assert np.array_equal(w.data, before[0]) and np.array_equal(momentum, before[1])  # inputs untouched


def test_per_position_init_values_follow_their_positions():
    w = CSRWeight.from_dense(np.array([[True, False, False]]), np.array([[1.0, 0, 0]]))
    out = rebuild(w, np.array([True]), [2, 1], grow_init=np.array([7.0, 5.0]))
    assert out.weight.data.tolist() == [1.0, 5.0, 7.0] and out.source.tolist() == [0, -1, -1]


def test_rebuild_bad_input():
    w = CSRWeight.from_dense(np.array([[True, False]]), np.array([[1.0, 0]]))
    with pytest.raises(ValueError, match="keep must be a bool array"):
        rebuild(w, np.array([1]), [1])
    with pytest.raises(ValueError, match="outside"):
        rebuild(w, np.array([True]), [2])
    with pytest.raises(ValueError, match="not kept"):
        rebuild(w, np.array([True]), [0])
    with pytest.raises(ValueError, match=r"aligned\[0\]"):
        rebuild(w, np.array([True]), [1], aligned=(np.zeros(3),))
