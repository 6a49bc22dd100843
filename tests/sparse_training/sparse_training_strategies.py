"""Hypothesis strategies and ranking checks shared by the spec-layer property tests
(``test_drop_grow_properties.py``, ``test_updaters_properties.py``).

Scores are drawn from few integer levels half of the time, so ties are frequent: rankings are checked as
sets with the pinned tie rule (higher score first, then the lower flat index).
"""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rigl_ref import PRESETS
from rigl_ref.sparse_training.drop_grow import JAXPRUNER_EPS
from rigl_ref.sparse_training.updaters import LayerState

CONVENTIONS = tuple(PRESETS)
SHAPES = st.sampled_from([(1,), (2,), (5,), (8,), (16,), (3, 4), (4, 4), (2, 3, 2), (1, 6)])
FRACTIONS = st.one_of(st.sampled_from([0.0, 0.1, 0.25, 0.3, 0.5, 0.75, 1.0]), st.floats(0, 1, width=32))


def values(shape, low, high, tied):
    """float32 arrays: few integer levels when ``tied`` (many ties), else continuous values."""
    if tied:
        elements = st.integers(low, high).map(float)
    else:
        elements = st.floats(low, high, width=32, allow_subnormal=False)
    return arrays(np.float32, shape, elements=elements)


@st.composite
def layers(draw, *, clean=False, max_grad=100):
    """(mask, weights, grow scores, slot). ``clean``: active weights non-zero, inactive weights and slots
    zero and at least one active connection, the state normal training leaves behind. Grow scores stay
    below 256, so no preset's score lift is absorbed by float32."""
    shape = draw(SHAPES)
    tied = draw(st.booleans())
    mask = draw(arrays(bool, shape))
    weights = draw(values(shape, -4, 4, tied))
    grow = np.abs(draw(values(shape, 0, max_grad, tied)))
    slot = draw(values(shape, -3, 3, tied))
    if clean:
        if not mask.any():
            mask.reshape(-1)[0] = True
        weights = np.where(mask, np.where(weights == 0, np.float32(1.5), weights), np.float32(0))
        slot = np.where(mask, slot, np.float32(0))
    return mask, weights, grow, slot


@st.composite
def networks(draw, *, clean=False):
    """1-3 layers as ``LayerState`` (one slot each), two independent batches of signed gradients
    (|g| <= 100, tied or continuous like the layer's values), and a seed."""
    drawn = draw(st.lists(layers(clean=clean), min_size=1, max_size=3))
    state = [LayerState(mask, weights, (slot,)) for mask, weights, _, slot in drawn]
    batches = [[draw(values(mask.shape, -100, 100, draw(st.booleans()))) for mask, _, _, _ in drawn]
               for _ in range(2)]
    return state, batches, draw(st.integers(0, 2**32 - 1))


def ranks_before(scores, a, b):
    """Every position of ``a`` ranks before every position of ``b`` (higher score, or equal and lower index)."""
    flat = scores.reshape(-1)
    ia, ib = np.flatnonzero(a.reshape(-1)), np.flatnonzero(b.reshape(-1))
    if ia.size == 0 or ib.size == 0:
        return True
    sa, sb = flat[ia][:, None], flat[ib][None, :]
    return bool(np.all((sa > sb) | ((sa == sb) & (ia[:, None] < ib[None, :]))))


def drop_population(name, mask, scores):
    """The positions that compete for kept places under convention ``name``, and the scores they compete
    with (``Conventions.drop_ranking``)."""
    rule = PRESETS[name].drop_ranking
    if rule == "active_only":
        return mask, scores
    if rule == "all_positions":
        return np.ones_like(mask), scores
    lowest = np.float32(scores.min() - JAXPRUNER_EPS)
    return np.ones_like(mask), np.where(mask, scores, lowest)
