"""Hypothesis strategy for small CSR problems: random shapes including 1x1, empty rows and columns, nnz = 0
and fully dense patterns, float32/float64, and values that are either standard normal or small integers."""

import numpy as np
from hypothesis import strategies as st


@st.composite
def csr_problems(draw, max_dim=9, max_batch=7):
    rows = draw(st.integers(1, max_dim), label="rows")
    cols = draw(st.integers(1, max_dim), label="cols")
    batch = draw(st.integers(1, max_batch), label="batch")
    density = draw(st.sampled_from([0.0, 0.15, 0.5, 1.0]) | st.floats(0.0, 1.0), label="density")
    dtype = np.dtype(draw(st.sampled_from([np.float32, np.float64]), label="dtype"))
    index_dtype = np.dtype(draw(st.sampled_from([np.int32, np.int64]), label="index_dtype"))
    integers = draw(st.booleans(), label="small_integer_values")
    seed = draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    mask = rng.random((rows, cols)) < density
    if draw(st.booleans(), label="empty_first_row_and_column"):
        mask[0, :] = False
        mask[:, 0] = False

    def values(shape):
        v = rng.integers(-3, 4, size=shape) if integers else rng.standard_normal(shape)
        return v.astype(dtype)

    indptr = np.zeros(rows + 1, dtype=index_dtype)
    np.cumsum(mask.sum(axis=1), out=indptr[1:])
    indices = np.nonzero(mask)[1].astype(index_dtype)
    return dict(
        mask=mask, indptr=indptr, indices=indices, data=values(len(indices)),
        XT=values((rows, batch)), dYT=values((cols, batch)), rng=rng, dtype=dtype,
    )
