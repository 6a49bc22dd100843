"""Conventions.masked_slots: which optimizer slots the slot rules act on, on both layers."""

import numpy as np
import pytest

from rigl_ref import drop_grow
from rigl_ref.sparse import CSRWeight
from rigl_ref.sparse_training.csr_update import csr_drop_grow
from rigl_ref.sparse_training.drop_grow import score_drop

MASK = np.array([True, True, False, False])
WEIGHTS = np.array([0.5, 2.0, 0.0, 0.0], np.float32)
GROW = np.array([0.0, 0.0, 3.0, 1.0], np.float32)
SLOT = np.array([1.0, 2.0, 3.0, 4.0], np.float32)  # a framework's slot may be non-zero anywhere


def _update(convention, names, slots=(SLOT, SLOT)):
    return drop_grow(MASK, WEIGHTS, score_drop(MASK, WEIGHTS, convention), GROW, 0.5, convention=convention,
                     slots=slots, slot_names=names)


def test_rigl_torch_masks_only_sgd_momentum():
    result = _update("rigl_torch", ("momentum_buffer", "exp_avg"))
    assert result.mask.tolist() == [False, True, True, False]
    assert result.slots[0].tolist() == [0.0, 2.0, 3.0, 0.0]  # buf *= mask (a grown position keeps its buffer)
    assert result.slots[1].tolist() == SLOT.tolist()  # Adam's moment untouched everywhere


def test_unnamed_slots_count_as_sgd_momentum_and_every_slot_presets_ignore_names():
    unnamed = _update("rigl_torch", None)
    assert unnamed.slots[0].tolist() == unnamed.slots[1].tolist() == [0.0, 2.0, 3.0, 0.0]
    for name in ("paper", "tf1", "jaxpruner"):
        named = _update(name, ("m", "v"))
        assert [s.tolist() for s in named.slots] == [s.tolist() for s in _update(name, None).slots], name


def test_slot_names_must_name_every_slot():
    with pytest.raises(ValueError, match=r"slot_names names 1 slot\(s\) \['m'\], but 2 slot\(s\) were given"):
        _update("paper", ("m",))


def test_csr_layer_refuses_a_slot_it_cannot_keep():
    weight = CSRWeight.from_dense(MASK.reshape(2, 2), WEIGHTS.reshape(2, 2))
    slots = (np.ones(2, np.float32), np.ones(2, np.float32))
    with pytest.raises(ValueError, match="keeps optimizer slot 'exp_avg' at dropped connections"):
        csr_drop_grow(weight, 0.5, grow_scores=GROW.reshape(2, 2), convention="rigl_torch", slots=slots,
                      slot_names=("exp_avg", "exp_avg_sq"))
    result = csr_drop_grow(weight, 0.5, grow_scores=GROW.reshape(2, 2), convention="rigl_torch",
                           slots=slots[:1], slot_names=("momentum",))
    assert result.weights.nnz == 2
