"""Plain NumPy twins of the kernels (``csr.py``, ``grow.py``, ``sample.py``, ``sets.py``, ``sgd.py``, ``bias.py``,
``pixels.py``), with the
same names and signatures.

They are written for reading and for the tests, not for speed (one exception: ``rigl_ref.optim.SGD`` steps a
parameter that is not C-contiguous with ``sgd_momentum_step``'s twin, which works on any layout). Each performs the same floating-point
operations in the same order as its kernel (see the summation orders in ``csr.py``), vectorised only over
independent outputs, so a twin and its kernel agree bit for bit unless the compiler fuses a multiply and an
add; ``tests/kernels/tolerances.py`` states what the tests allow.
"""

from __future__ import annotations

import numpy as np

from .lanes import LANES


def _row_of_entry(indptr):
    return np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))


def csr_transposed_matmul(indptr, indices, data, XT, n_out):
    """``A^T @ XT``; entries added row by row (increasing row), as the kernel does."""
    YT = np.zeros((n_out, XT.shape[1]), dtype=XT.dtype)
    for i in range(len(indptr) - 1):
        p = slice(indptr[i], indptr[i + 1])
        YT[indices[p]] += data[p, None] * XT[i]  # columns are unique within a row
    return YT


def csr_matmul(indptr, indices, data, dYT):
    """``A @ dYT``; the k-th entry of every row is added in step k (increasing column order)."""
    dXT = np.zeros((len(indptr) - 1, dYT.shape[1]), dtype=dYT.dtype)
    counts = np.diff(indptr)
    for k in range(int(counts.max(initial=0))):
        rows = np.flatnonzero(counts > k)
        p = indptr[rows] + k
        dXT[rows] += data[p, None] * dYT[indices[p]]
    return dXT


def transpose_pattern(indptr, indices, n_cols):
    """The CSR pattern of ``A^T``: entries ordered by column of ``A`` (stable, so by row within a column)."""
    order = np.argsort(indices, kind="stable").astype(np.int64)
    t_indptr = np.zeros(n_cols + 1, dtype=indptr.dtype)
    np.cumsum(np.bincount(indices, minlength=n_cols), out=t_indptr[1:])
    return t_indptr, _row_of_entry(indptr)[order].astype(indices.dtype), order


def _lane_sum(products):
    """Sum ``products`` (shape ``(..., batch)``) over its last axis in the lane order of ``lanes.py``:
    lane ``l`` adds the positions ``b % LANES == l`` in increasing ``b`` from +0.0, then the halving tree."""
    lanes = np.zeros(products.shape[:-1] + (LANES,), dtype=products.dtype)
    for b in range(products.shape[-1]):
        lanes[..., b % LANES] += products[..., b]
    h = LANES // 2
    while h > 0:
        lanes[..., :h] += lanes[..., h : 2 * h]
        h //= 2
    return lanes[..., 0]


def sddmm(indptr, indices, XT, dYT):
    """``out[p] = sum_b XT[i, b] * dYT[j, b]`` in the lane order."""
    return _lane_sum(XT[_row_of_entry(indptr)] * dYT[indices])


def dense_weight_gradient(XT, dYT, scale):
    """``scale * (XT @ dYT^T)``: every batch sum in the lane order, then one multiplication by ``scale``."""
    return _lane_sum(XT[:, None, :] * dYT[None, :, :]) * XT.dtype.type(scale)


def grow_topk(XT, dYT, kept_indptr, kept_indices, k, scale, block_rows, block_cols):
    """Dense twin: the whole gradient, kept positions excluded, ranked by ``argsort(-|g|, stable)``.
    ``block_rows``/``block_cols`` are accepted for signature parity and ignored."""
    G = dense_weight_gradient(XT, dYT, scale).ravel()
    candidate = np.ones(G.size, dtype=bool)
    candidate[_row_of_entry(kept_indptr) * dYT.shape[0] + kept_indices] = False
    flat = np.flatnonzero(candidate)
    if np.isnan(G[flat]).any():
        raise ValueError("grow_topk: the gradient contains NaN")
    order = np.argsort(-np.abs(G[flat]), kind="stable")[:k]
    return flat[order].astype(np.int64), G[flat[order]]


def rebuild_pattern(indptr, indices, keep, grown_rows, grown_cols):
    """Concatenate kept entries and grown positions, then order them by (row, column) with ``lexsort``."""
    grown_rows = np.asarray(grown_rows, dtype=np.int64)
    grown_cols = np.asarray(grown_cols, dtype=np.int64)
    n_rows = len(indptr) - 1
    if np.any((grown_rows < 0) | (grown_rows >= n_rows)):
        raise ValueError("rebuild_pattern: a grown row is out of range")
    if np.any(np.lexsort((grown_cols, grown_rows)) != np.arange(len(grown_rows))):
        raise ValueError("rebuild_pattern: grown positions must be unique, sorted by (row, column), and not kept")
    kept_entries = np.flatnonzero(keep)
    rows = np.concatenate([_row_of_entry(indptr)[kept_entries], grown_rows])
    cols = np.concatenate([indices[kept_entries], grown_cols])
    source = np.concatenate([kept_entries, np.full(len(grown_rows), -1)]).astype(np.int64)
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    if np.any((np.diff(rows) == 0) & (np.diff(cols) == 0)):
        raise ValueError("rebuild_pattern: grown positions must be unique, sorted by (row, column), and not kept")
    new_indptr = np.zeros(n_rows + 1, dtype=indptr.dtype)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=new_indptr[1:])
    return new_indptr, cols.astype(indices.dtype), source[order]


def floyd_sample(draws, n):
    """Floyd's Algorithm F2 step by step with a Python set: for ``j = n - k + i`` insert ``draws[i]`` if
    it is new, else ``j``; the sample sorted."""
    k = len(draws)
    chosen = set()
    for i, t in enumerate(np.asarray(draws, dtype=np.int64).tolist()):
        chosen.add(t if t not in chosen else n - k + i)
    return np.sort(np.fromiter(chosen, dtype=np.int64, count=k))


def sorted_in(a, b):
    """Twin of ``sets.sorted_in``: ``np.isin`` (which needs no order; the kernel checks it)."""
    if np.any(np.diff(a) < 0) or np.any(np.diff(b) < 0):
        raise ValueError("sorted_in: the arrays must be sorted")
    return np.isin(a, b)


def sorted_membership(a, b):
    """Twin of ``sets.sorted_membership``: ``np.isin`` both ways."""
    return sorted_in(a, b), sorted_in(b, a)


def sgd_momentum_step(param, grad, velocity, lr, momentum, decay, decayed, nesterov):
    """Twin of ``sgd.sgd_momentum_step``: the same rounding, one whole-array operation at a time."""
    g = grad + decay * param if decayed else grad
    velocity *= momentum
    velocity += g
    direction = g + momentum * velocity if nesterov else velocity
    param -= lr * direction


def bias_activation(PT, bias, relu):
    """Twin of ``bias.bias_activation``: ``maximum(PT + bias, 0)`` (the ``relu`` primitive's form)."""
    out = PT + bias[:, None]
    return np.maximum(out, 0) if relu else out


def relu_gradient(GT, outT):
    """Twin of ``bias.relu_gradient``: the ``relu`` primitive's ``g * (x > 0)``."""
    return GT * (outT > 0)


def scaled_pixels(x, feature_major):
    """``x.astype(float32) / float32(255)``, transposed to a C-contiguous ``(features, batch)`` if asked."""
    out = x.astype(np.float32) / np.float32(255)
    return np.ascontiguousarray(out.T) if feature_major else out
