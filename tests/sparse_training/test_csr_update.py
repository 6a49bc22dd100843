"""The CSR drop/grow executor equals the spec layer ``rigl_ref.drop_grow`` on the dense equivalents (zeros
outside the pattern), for every preset, for RigL (blockwise gradient scores) and dense scores (SET), with
tie-heavy inputs (zero-valued active weights, small-integer values): masks, values, slots and the
position sets exactly."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rigl_ref import drop_grow
from rigl_ref.sparse import CSRWeight, GrowthInputs
from rigl_ref.sparse_training.conventions import PRESETS
from rigl_ref.sparse_training.csr_update import csr_drop_grow
from rigl_ref.sparse_training.drop_grow import score_drop


@st.composite
def layers(draw):
    rows, cols = draw(st.integers(1, 7), label="rows"), draw(st.integers(1, 7), label="cols")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    ties = draw(st.booleans(), label="tie_heavy")
    mask = rng.random((rows, cols)) < draw(st.sampled_from([0.0, 0.3, 0.6, 1.0]) | st.floats(0, 1), label="density")

    def values(shape, dtype=np.float32):
        v = rng.integers(-2, 3, size=shape) if ties else rng.standard_normal(shape)
        return v.astype(dtype)

    weights = np.where(mask, values(mask.shape), 0).astype(np.float32)
    slots = tuple(np.where(mask, values(mask.shape), 0).astype(np.float32) for _ in range(draw(st.integers(0, 2))))
    return dict(mask=mask, weights=weights, slots=slots, rng=rng, values=values)


def _dense(update, shape):
    mask, values = update.weight.to_dense()
    slots = []
    for s in update.slots:
        dense = np.zeros(mask.size, s.dtype)
        dense[update.weight.active_flat_indices()] = s
        slots.append(dense.reshape(shape))
    return mask, values, slots


@given(layers(), st.sampled_from(sorted(PRESETS)), st.sampled_from(["rigl", "set"]),
       st.sampled_from([0.0, 0.3, 0.5, 1.0]) | st.floats(0, 1), st.booleans(), st.data())
def test_csr_update_equals_the_spec_layer(layer, convention, method, drop_fraction, reinit, data):
    mask, weights, slots, rng = layer["mask"], layer["weights"], layer["slots"], layer["rng"]
    conv = PRESETS[convention]
    grow_init = 0.0 if conv.grown_weight == "unchanged" else data.draw(st.sampled_from([0.0, 0.5]), label="grow_init")
    slot_init = data.draw(st.sampled_from([0.0, -1.0]), label="slot_init")
    if method == "rigl":
        batch = data.draw(st.integers(1, 4), label="batch")
        growth = GrowthInputs(layer["values"]((mask.shape[0], batch)), layer["values"]((mask.shape[1], batch)))
        scale = data.draw(st.sampled_from([1.0, 0.5, 1 / 3]), label="scale")
        grow_scores = np.abs(growth.dense_gradient(scale))
        fast_input = dict(growth=growth, growth_scale=scale)
    else:
        grow_scores = rng.random(mask.shape)
        fast_input = dict(grow_scores=grow_scores)
    spec = drop_grow(mask, weights, score_drop(mask, weights, conv), grow_scores, drop_fraction, convention=conv,
                     reinit_when_same=reinit, grow_init=grow_init, slots=slots, slot_init=slot_init)
    weight = CSRWeight.from_dense(mask, weights)
    slot_data = tuple(s[mask] for s in slots)
    fast = csr_drop_grow(weight, drop_fraction, convention=conv, reinit_when_same=reinit, grow_init=grow_init,
                         slots=slot_data, slot_init=slot_init, **fast_input)
    fast.weight.check(full=True)
    new_mask, values, new_slots = _dense(fast, mask.shape)
    assert np.array_equal(new_mask, spec.mask)
    assert np.array_equal(values, np.where(spec.mask, spec.weights, 0))
    for got, want in zip(new_slots, spec.slots):
        assert np.array_equal(got, np.where(spec.mask, want, 0))
    for name in ("dropped", "grown", "regrown", "reinitialized"):
        assert np.array_equal(getattr(fast, name), np.flatnonzero(getattr(spec, name))), name
    assert fast.n_drop == spec.n_drop
    assert np.array_equal(weight.to_dense()[1], weights)  # the input weight is untouched


def test_all_positions_lets_an_inactive_position_replace_a_zero_weight():
    # tf1: active (0,1) = 0.0 (just grown) and (1,1) = 2.0; inactive (0,0) scores 0 too and has the lower
    # flat index, so with k = 0 (f = 0) the kept place of the zero weight goes to (0,0), which is not "new"
    mask = np.array([[False, True], [False, True]])
    weights = np.array([[0.0, 0.0], [0.0, 2.0]], np.float32)
    fast = csr_drop_grow(CSRWeight.from_dense(mask, weights), 0.0, grow_scores=np.zeros((2, 2)), convention="tf1")
    assert fast.weight.to_dense()[0].tolist() == [[True, False], [False, True]]
    assert fast.dropped.tolist() == [1] and fast.grown.tolist() == [0] and fast.reinitialized.size == 0
    paper = csr_drop_grow(CSRWeight.from_dense(mask, weights), 0.0, grow_scores=np.zeros((2, 2)), convention="paper")
    assert paper.weight.to_dense()[0].tolist() == mask.tolist()


def test_jaxpruner_absorbed_lift_is_refused():
    mask = np.array([[True, False]])
    with pytest.raises(NotImplementedError, match="kept_lifted_above_max"):
        csr_drop_grow(CSRWeight.from_dense(mask, np.ones((1, 2))), 0.5, grow_scores=np.array([[300.0, 300.0]]),
                      convention="jaxpruner")


def test_bad_input():
    w = CSRWeight.from_dense(np.array([[True, False]]), np.ones((1, 2)))
    with pytest.raises(ValueError, match="exactly one of growth"):
        csr_drop_grow(w, 0.5)
    with pytest.raises(ValueError, match="grow_scores has shape"):
        csr_drop_grow(w, 0.5, grow_scores=np.zeros((2, 1)))
    with pytest.raises(ValueError, match="drop_fraction"):
        csr_drop_grow(w, 1.5, grow_scores=np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"slots\[0\]"):
        csr_drop_grow(w, 0.5, grow_scores=np.zeros((1, 2)), slots=(np.zeros(2),))
    with pytest.raises(ValueError, match="growth factors"):
        csr_drop_grow(w, 0.5, growth=GrowthInputs(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)))
