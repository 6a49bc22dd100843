"""The CSR drop/grow executor equals the spec layer ``rigl_ref.drop_grow`` on the dense equivalents (zeros
outside the pattern), for every preset, for RigL (blockwise gradient scores) and dense scores (SET), with
tie-heavy inputs (zero-valued active weights, small-integer values), per-position grow/slot values (TF1
RigL's ``grad * initial_acc_scale``) and grow scores large enough for float32 to absorb TF's
``min(score) - 1`` lift: masks, values, slots and the position sets exactly, or the same ValueError."""

import numpy as np
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from rigl_ref import drop_grow
from rigl_ref.sparse import CSRWeight, GrowthInputs
from rigl_ref.sparse_training.conventions import PRESETS
from rigl_ref.sparse_training.csr_update import csr_drop_grow
from rigl_ref.sparse_training.drop_grow import score_drop


@st.composite
def layers(draw, densities=st.sampled_from([0.0, 0.3, 0.6, 1.0]) | st.floats(0, 1)):
    rows, cols = draw(st.integers(1, 7), label="rows"), draw(st.integers(1, 7), label="cols")
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))
    ties = draw(st.booleans(), label="tie_heavy")
    mask = rng.random((rows, cols)) < draw(densities, label="density")

    def values(shape, dtype=np.float32):
        v = rng.integers(-2, 3, size=shape) if ties else rng.standard_normal(shape)
        return v.astype(dtype)

    weights = np.where(mask, values(mask.shape), 0).astype(np.float32)
    slots = tuple(np.where(mask, values(mask.shape), 0).astype(np.float32) for _ in range(draw(st.integers(0, 2))))
    return dict(mask=mask, weights=weights, slots=slots, rng=rng, values=values)


def _dense(update, shape):
    mask, values = update.weights.to_dense()
    slots = []
    for s in update.slots:
        dense = np.zeros(mask.size, s.dtype)
        dense[update.weights.active_flat_indices()] = s
        slots.append(dense.reshape(shape))
    return mask, values, slots


@st.composite
def dense_layers(draw):
    """Layers that are mostly full: a grow step that takes every candidate reaches the minimum grow score."""
    return draw(layers(densities=st.sampled_from([1.0, 1.0, 0.8, 0.5])))


def _huge(shape, rng, factor):
    """Positive float32 gradient factors 4096 or 4097 (times ``factor``): gradients of at least 2**25, where
    float32 always absorbs the ``- 1`` of TF's lift, with many ties at the minimum."""
    return rng.choice([4096, 4097], size=shape).astype(np.float32) * np.float32(factor)


@given(layers(), st.sampled_from(sorted(PRESETS)), st.sampled_from(["rigl", "set"]),
       st.sampled_from([0.0, 0.3, 0.5, 1.0]) | st.floats(0, 1), st.booleans(), st.data())
def test_csr_update_equals_the_spec_layer(layer, convention, method, drop_fraction, reinit, data):
    _assert_equals_spec(layer, PRESETS[convention], method, drop_fraction, reinit, data, huge=False)


@given(dense_layers(), st.sampled_from(["tf1", "tf2", "rigl_torch", "paper"]), st.sampled_from(["rigl", "set"]),
       st.sampled_from([0.3, 0.5, 1.0]) | st.floats(0, 1), st.booleans(), st.data())
def test_absorbed_lift_is_refused_exactly_when_the_spec_layer_refuses(layer, convention, method, drop_fraction,
                                                                       reinit, data):
    _assert_equals_spec(layer, PRESETS[convention], method, drop_fraction, reinit, data, huge=True)


def _assert_equals_spec(layer, conv, method, drop_fraction, reinit, data, huge):
    mask, weights, slots, rng = layer["mask"], layer["weights"], layer["slots"], layer["rng"]
    grow_init = 0.0 if conv.grown_weight == "unchanged" else data.draw(st.sampled_from([0.0, 0.5]), label="grow_init")
    slot_init = data.draw(st.sampled_from([0.0, -1.0]), label="slot_init")
    spec_inits = fast_inits = dict(grow_init=grow_init, slot_init=slot_init)
    if method == "rigl":
        batch = data.draw(st.integers(1, 4), label="batch")
        shapes = (mask.shape[0], batch), (mask.shape[1], batch)
        if huge:
            growth = GrowthInputs(_huge(shapes[0], rng, 2), _huge(shapes[1], rng, 1))
        else:
            growth = GrowthInputs(layer["values"](shapes[0]), layer["values"](shapes[1]))
        scale = data.draw(st.sampled_from([1.0, 0.5, 1 / 3]), label="scale")
        grow_scores = np.abs(growth.dense_gradient(scale))
        fast_input = dict(growth=growth, growth_scale=scale)
        if data.draw(st.booleans(), label="per_position_init"):  # TF1 RigL: grad_scale_2 weights, grad * 0.25 slots
            gradient, acc = growth.dense_gradient(scale), np.float32(0.25)
            unchanged = conv.grown_weight == "unchanged"
            spec_inits = dict(grow_init=0.0 if unchanged else gradient / np.float32(2), slot_init=gradient * acc)
            fast_inits = dict(grow_init=0.0 if unchanged else (lambda flat: growth.gradient_at(flat, scale) / np.float32(2)),
                              slot_init=lambda flat: growth.gradient_at(flat, scale) * acc)
    elif huge:  # tied scores at 2**25 (the lift is absorbed) or at 2**22 (it is not)
        base = data.draw(st.sampled_from([2**25, 2**22]), label="score_base")
        grow_scores = (base + 4 * rng.integers(0, 3, mask.shape)).astype(np.float32)
    else:
        grow_scores = rng.random(mask.shape)
    if method == "set":
        fast_input = dict(grow_scores=grow_scores)
    weight = CSRWeight.from_dense(mask, weights)
    slot_data = tuple(s[mask] for s in slots)

    def run_fast():
        return csr_drop_grow(weight, drop_fraction, convention=conv, reinit_when_same=reinit, slots=slot_data,
                             **fast_inits, **fast_input)

    try:
        spec = drop_grow(mask, weights, score_drop(mask, weights, conv), grow_scores, drop_fraction,
                         convention=conv, reinit_when_same=reinit, slots=slots, **spec_inits)
    except ValueError as error:  # TF's disjointness assertion: the CSR path must refuse the same update
        assert huge and "min(score) - 1 lift" in str(error)
        event("the spec layer refuses the update (absorbed lift)")
        with pytest.raises(ValueError, match=r"min\(score\) - 1 lift"):
            run_fast()
        return
    event("the spec layer accepts the update")
    kept_inactive = spec.grown & ~spec.reinitialized & ~mask
    if conv.weights_outside_mask == "kept" and kept_inactive.any():  # the raw weight is not in a CSR layer
        event("the CSR layer refuses weights_outside_mask='kept'")
        with pytest.raises(ValueError, match="weights_outside_mask='kept'"):
            run_fast()
        return
    fast = run_fast()
    fast.weights.check(full=True)
    new_mask, values, new_slots = _dense(fast, mask.shape)
    assert np.array_equal(new_mask, spec.mask)
    assert np.array_equal(values, np.where(spec.mask, spec.weights, 0))
    for got, want in zip(new_slots, spec.slots):
        assert np.array_equal(got, np.where(spec.mask, want, 0))
    for name in ("dropped", "grown", "regrown", "reinitialized"):
        assert np.array_equal(getattr(fast, name), np.flatnonzero(getattr(spec, name))), name
    assert fast.n_drop == spec.n_drop and fast.k == spec.k
    assert np.array_equal(weight.to_dense()[1], weights)  # the input weight is untouched


def test_all_positions_lets_an_inactive_position_replace_a_zero_weight():
    # rigl_torch: active (0,1) = 0.0 (just grown) and (1,1) = 2.0; inactive (0,0) scores 0 too and has the
    # lower flat index, so with k = 0 (f = 0) the kept place of the zero weight goes to (0,0), not "new"
    mask = np.array([[False, True], [False, True]])
    weights = np.array([[0.0, 0.0], [0.0, 2.0]], np.float32)
    fast = csr_drop_grow(CSRWeight.from_dense(mask, weights), 0.0, grow_scores=np.zeros((2, 2)),
                         convention="rigl_torch")
    assert fast.weights.to_dense()[0].tolist() == [[True, False], [False, True]]
    assert fast.dropped.tolist() == [1] and fast.grown.tolist() == [0] and fast.reinitialized.size == 0
    assert fast.k == 0 and fast.n_drop == 1  # TF's n_prune is 0, yet one active connection left
    paper = csr_drop_grow(CSRWeight.from_dense(mask, weights), 0.0, grow_scores=np.zeros((2, 2)), convention="paper")
    assert paper.weights.to_dense()[0].tolist() == mask.tolist()
    # tf2 ranks the same way but skips an update at f = 0 altogether (zero_fraction_update="skipped")
    tf2 = csr_drop_grow(CSRWeight.from_dense(mask, weights), 0.0, grow_scores=np.zeros((2, 2)), convention="tf2")
    assert tf2.weights.to_dense()[0].tolist() == mask.tolist() and tf2.dropped.size == tf2.grown.size == 0
    moved = csr_drop_grow(CSRWeight.from_dense(mask, weights), 1e-9, grow_scores=np.zeros((2, 2)), convention="tf2")
    assert moved.weights.to_dense()[0].tolist() == [[True, False], [False, True]]  # any f > 0 runs it
    # tf1 keeps raw kernel values outside the mask: (0,0) would return with its raw value, which a CSR
    # layer does not store, so the CSR executor refuses instead of returning 0
    with pytest.raises(ValueError, match=r"Conventions.weights_outside_mask='kept' \(tf1\)"):
        csr_drop_grow(CSRWeight.from_dense(mask, weights), 0.0, grow_scores=np.zeros((2, 2)), convention="tf1")


@pytest.mark.parametrize("method", ["rigl", "set"])
def test_absorbed_lift_hand_cases(method):
    # one row, fully dense, every grow score 2**25 (float32: 2**25 - 1 rounds back to 2**25), f = 2/3: the two
    # smallest weights leave and both grow again, tied with the kept weight at the lifted score 2**25.
    # Kept flat 2 comes after the grown flats 0, 1: TF's top_k takes 0 and 1, fine. Kept flat 0 comes first:
    # TF's top_k takes it, the disjointness assertion fails, and both layers refuse.
    if method == "rigl":
        grow = dict(growth=GrowthInputs(np.array([[8192.0]], np.float32), np.full((3, 1), 4096.0, np.float32)))
    else:
        grow = dict(grow_scores=np.full((1, 3), 2.0**25, np.float32))
    scores = np.full((1, 3), 2.0**25, np.float32)
    mask = np.ones((1, 3), bool)
    for weights, refused in (([[0.1, 0.2, 5.0]], False), ([[5.0, 0.1, 0.2]], True)):
        weights = np.array(weights, np.float32)
        args = (mask, weights, score_drop(mask, weights, "tf1"), scores, 2 / 3)
        if refused:
            with pytest.raises(ValueError, match=r"min\(score\) - 1 lift"):
                drop_grow(*args, convention="tf1")
            with pytest.raises(ValueError, match=r"min\(score\) - 1 lift"):
                csr_drop_grow(CSRWeight.from_dense(mask, weights), 2 / 3, convention="tf1", **grow)
        else:
            spec = drop_grow(*args, convention="tf1")
            fast = csr_drop_grow(CSRWeight.from_dense(mask, weights), 2 / 3, convention="tf1", **grow)
            assert spec.regrown.tolist() == [[True, True, False]] and fast.regrown.tolist() == [0, 1]


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
    with pytest.raises(ValueError, match="slot_init must be a finite scalar or a function"):
        csr_drop_grow(w, 0.5, grow_scores=np.zeros((1, 2)), slot_init=np.zeros(2))
    move = dict(drop_fraction=1.0, grow_scores=np.array([[0.0, 1.0]]))  # (0, 0) leaves, (0, 1) grows
    with pytest.raises(ValueError, match=r"grow_init returned shape \(2,\) for 1 positions"):
        csr_drop_grow(w, **move, convention="tf1", grow_init=lambda flat: np.zeros(2))
    with pytest.raises(ValueError, match="slot_init contains 1 non-finite"):
        csr_drop_grow(w, **move, slots=(np.ones(1),), slot_init=lambda flat: flat * np.nan)
    with pytest.raises(ValueError, match="leaves grown weights unchanged"):
        csr_drop_grow(w, 0.5, grow_scores=np.ones((1, 2)), convention="jaxpruner", grow_init=lambda flat: flat * 0.0)
    with pytest.raises(ValueError, match="growth factors"):
        csr_drop_grow(w, 0.5, growth=GrowthInputs(np.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32)))
