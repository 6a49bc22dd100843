"""Numba kernels of the truly sparse substrate (each has a NumPy twin of the same name in ``reference.py``).

Layout (measured, ``/work/shared/spec/perf_and_data.md`` §2.2): activations are **feature-major**, i.e.
``XT`` has shape ``(n_in, batch)`` and ``dYT`` shape ``(n_out, batch)``, both C-contiguous, so every inner
loop runs over a contiguous batch row (an AXPY that LLVM vectorises without reassociating anything).
The weight ``W`` has shape ``(n_in, n_out)`` (``y = x @ W``) and is stored as CSR over its rows:
``indptr`` (n_in + 1), ``indices`` (nnz, column = output unit, sorted within a row), ``data`` (nnz).

Summation orders (fixed, documented, independent of any block size; ``fastmath=False`` keeps them):

* ``csr_transposed_matmul`` (linear forward) ``YT[j, b]``: the entries ``(i, j)`` of column ``j`` are added
  in increasing row ``i``;
* ``csr_matmul`` (linear input gradient) ``dXT[i, b]``: the entries of row ``i`` in increasing column ``j``;
* every weight-gradient value ``G[i, j] = sum_b XT[i, b] * dYT[j, b]`` (``sddmm``,
  ``dense_weight_gradient``, ``grow_topk``) is summed **sequentially over the batch, b = 0, 1, ..., B-1,
  starting from +0.0, in the activations' dtype**. So ``sddmm`` at an entry, the dense gradient at that
  position, and a grow score computed blockwise are the same float, bit for bit.

Ranking rule of ``grow_topk``: a higher ``|score|`` first, then the lower row-major flat index
``i * n_out + j`` (the project-wide tie rule, ``docs/architecture.md``).
"""

from __future__ import annotations

import numpy as np

from .jit import jit


@jit
def csr_transposed_matmul(indptr, indices, data, XT, n_out):
    """``A^T @ XT`` for the CSR matrix ``A`` (shape ``(n_rows, n_out)``), ``XT`` of shape ``(n_rows, batch)``.

    The forward of a sparse linear layer, ``YT = W^T XT`` (``y = x @ W``), and the input gradient of a
    sparse conv2d (``A`` = its kernel, ``XT`` = the output gradient in im2col columns)."""
    batch = XT.shape[1]
    YT = np.zeros((n_out, batch), dtype=XT.dtype)
    for i in range(indptr.shape[0] - 1):
        x = XT[i]
        for p in range(indptr[i], indptr[i + 1]):
            y = YT[indices[p]]
            v = data[p]
            for b in range(batch):
                y[b] += v * x[b]
    return YT


@jit
def csr_matmul(indptr, indices, data, dYT):
    """``A @ dYT`` for the CSR matrix ``A`` (shape ``(n_rows, n_cols)``), ``dYT`` of shape ``(n_cols, batch)``.

    The input gradient of a sparse linear layer, ``dXT = W dYT`` (``dx = dy @ W^T``), and the forward of
    a sparse conv2d (``A`` = its kernel ``(out_channels, in_channels*kh*kw)``, ``dYT`` = im2col columns)."""
    n_in = indptr.shape[0] - 1
    batch = dYT.shape[1]
    dXT = np.zeros((n_in, batch), dtype=dYT.dtype)
    for i in range(n_in):
        acc = dXT[i]
        for p in range(indptr[i], indptr[i + 1]):
            g = dYT[indices[p]]
            v = data[p]
            for b in range(batch):
                acc[b] += v * g[b]
    return dXT


@jit
def sddmm(indptr, indices, XT, dYT):
    """Weight gradient at the active entries only: ``out[p] = sum_b XT[i, b] * dYT[j, b]`` for entry
    ``p = (i, j)`` (sampled dense-dense matrix product, i.e. ``(XT @ dYT^T)`` at the pattern; sequential
    batch order). For a sparse conv2d, ``XT`` is the output gradient and ``dYT`` the im2col columns.

    Each sum is one dependency chain that LLVM may not reassociate, so four entries of a row are summed
    side by side (four independent chains sharing the loads of ``XT[i]``): about 2x faster, same values.
    """
    out = np.empty(indices.shape[0], dtype=XT.dtype)
    zero = np.zeros(1, dtype=XT.dtype)[0]
    batch = XT.shape[1]
    for i in range(indptr.shape[0] - 1):
        x = XT[i]
        p, end = indptr[i], indptr[i + 1]
        while p + 4 <= end:
            g0, g1, g2, g3 = dYT[indices[p]], dYT[indices[p + 1]], dYT[indices[p + 2]], dYT[indices[p + 3]]
            s0, s1, s2, s3 = zero, zero, zero, zero
            for b in range(batch):
                xb = x[b]
                s0 += xb * g0[b]
                s1 += xb * g1[b]
                s2 += xb * g2[b]
                s3 += xb * g3[b]
            out[p], out[p + 1], out[p + 2], out[p + 3] = s0, s1, s2, s3
            p += 4
        while p < end:
            g = dYT[indices[p]]
            s = zero
            for b in range(batch):
                s += x[b] * g[b]
            out[p] = s
            p += 1
    return out


@jit
def _gradient_rows(XT, panel, i0, i1, out):
    """``out[r, c] = sum_b XT[i0 + r, b] * panel[b, c]`` for ``r < i1 - i0`` (sequential in b, AXPY form;
    ``panel`` is a batch-major copy of some columns of the output gradient)."""
    width = panel.shape[1]
    for r in range(i1 - i0):
        row = out[r]
        for c in range(width):
            row[c] = 0
        x = XT[i0 + r]
        for b in range(panel.shape[0]):
            xb = x[b]
            pb = panel[b]
            for c in range(width):
                row[c] += xb * pb[c]


@jit
def _panel(dYT, j0, j1):
    """Batch-major copy ``dYT[j0:j1].T`` (shape ``(batch, j1 - j0)``), contiguous."""
    panel = np.empty((dYT.shape[1], j1 - j0), dtype=dYT.dtype)
    for c in range(j1 - j0):
        for b in range(dYT.shape[1]):
            panel[b, c] = dYT[j0 + c, b]
    return panel


@jit
def dense_weight_gradient(XT, dYT, scale):
    """The dense gradient ``G = scale * (XT @ dYT^T)`` (shape ``(n_in, n_out)``) with the batch sums in the
    sequential order shared by ``sddmm`` and ``grow_topk``; for test-sized layers and the spec layer."""
    n_in, n_out = XT.shape[0], dYT.shape[0]
    G = np.empty((n_in, n_out), dtype=XT.dtype)
    block = 256
    for j0 in range(0, n_out, block):
        j1 = min(n_out, j0 + block)
        panel = _panel(dYT, j0, j1)
        rows = np.empty((n_in, j1 - j0), dtype=XT.dtype)
        _gradient_rows(XT, panel, 0, n_in, rows)
        for i in range(n_in):
            for c in range(j1 - j0):
                G[i, j0 + c] = rows[i, c] * scale
    return G


@jit
def _ranks_below(score_a, flat_a, score_b, flat_b):
    """True if candidate a ranks below b: a lower score, or an equal score and a higher flat index."""
    return score_a < score_b or (score_a == score_b and flat_a > flat_b)


@jit
def _swap(heap_score, heap_flat, heap_grad, a, b):
    heap_score[a], heap_score[b] = heap_score[b], heap_score[a]
    heap_flat[a], heap_flat[b] = heap_flat[b], heap_flat[a]
    heap_grad[a], heap_grad[b] = heap_grad[b], heap_grad[a]


@jit
def _sift_down(heap_score, heap_flat, heap_grad, size, pos):
    """Restore the heap property (the worst-ranked candidate at the root) below ``pos``."""
    while True:
        worst = pos
        for child in (2 * pos + 1, 2 * pos + 2):
            if child < size and _ranks_below(heap_score[child], heap_flat[child], heap_score[worst], heap_flat[worst]):
                worst = child
        if worst == pos:
            return
        _swap(heap_score, heap_flat, heap_grad, pos, worst)
        pos = worst


@jit
def _sift_up(heap_score, heap_flat, heap_grad, pos):
    """Move the candidate at ``pos`` up while it ranks below its parent."""
    while pos > 0:
        parent = (pos - 1) // 2
        if not _ranks_below(heap_score[pos], heap_flat[pos], heap_score[parent], heap_flat[parent]):
            return
        _swap(heap_score, heap_flat, heap_grad, pos, parent)
        pos = parent


@jit
def grow_topk(XT, dYT, kept_indptr, kept_indices, k, scale, block_rows, block_cols):
    """RigL's grow step (Evci et al. 2020, Alg. 1: ``I_grow = ArgTopK(|grad|, k)`` over ``i not in theta``):
    the ``k`` positions with the largest ``|scale * (XT @ dYT^T)|`` among those NOT in the exclusion
    pattern ``(kept_indptr, kept_indices)``, computed block by block so the dense gradient never exists.

    Returns ``(flat, gradient)``: row-major flat indices ``i * n_out + j`` in rank order (higher ``|score|``
    first, ties to the lower flat index) and the signed gradient values there. Extra memory: one batch-major
    panel ``(batch, block_cols)``, one gradient block ``(block_rows, block_cols)``, a heap of ``k``
    candidates and a per-row cursor; the values do not depend on the block sizes.
    """
    n_in, n_out = XT.shape[0], dYT.shape[0]
    heap_score = np.empty(k, dtype=XT.dtype)
    heap_flat = np.empty(k, dtype=np.int64)
    heap_grad = np.empty(k, dtype=XT.dtype)
    size = 0
    cursor = kept_indptr[:-1].astype(np.int64)
    block = np.empty((block_rows, block_cols), dtype=XT.dtype)
    for j0 in range(0, n_out, block_cols):
        j1 = min(n_out, j0 + block_cols)
        panel = _panel(dYT, j0, j1)
        for i0 in range(0, n_in, block_rows):
            i1 = min(n_in, i0 + block_rows)
            _gradient_rows(XT, panel, i0, i1, block)
            for r in range(i1 - i0):
                i = i0 + r
                cur = cursor[i]
                end = kept_indptr[i + 1]
                for c in range(j1 - j0):
                    j = j0 + c
                    if cur < end and kept_indices[cur] == j:
                        cur += 1
                        continue
                    grad = block[r, c] * scale
                    score = abs(grad)
                    if score != score:
                        raise ValueError("grow_topk: the gradient contains NaN")
                    flat = i * n_out + j
                    if size < k:
                        heap_score[size] = score
                        heap_flat[size] = flat
                        heap_grad[size] = grad
                        _sift_up(heap_score, heap_flat, heap_grad, size)
                        size += 1
                    elif k > 0 and _ranks_below(heap_score[0], heap_flat[0], score, flat):
                        heap_score[0] = score
                        heap_flat[0] = flat
                        heap_grad[0] = grad
                        _sift_down(heap_score, heap_flat, heap_grad, size, 0)
                cursor[i] = cur
    by_flat = np.argsort(heap_flat[:size])
    order = by_flat[np.argsort(-heap_score[:size][by_flat], kind="mergesort")]
    return heap_flat[:size][order], heap_grad[:size][order]


@jit
def rebuild_pattern(indptr, indices, keep, grown_rows, grown_cols):
    """The CSR pattern after one drop/grow update (Alg. 1: ``theta <- (theta \\ I_drop) + I_grow``).

    The kept old entries (``keep[p]`` true) and the grown positions ``(grown_rows[q], grown_cols[q])``
    (given sorted by row, then column) are merged per row in increasing column order. Returns
    ``(new_indptr, new_indices, source)``: ``source[p_new]`` is the old entry that the new entry continues,
    or -1 for a grown one, so any array aligned with ``data`` (the values, optimizer slots) is remapped by
    ``where(source >= 0, old[source], fill)``. Raises ``ValueError`` if a grown position coincides with a
    kept entry, repeats, or is out of order.
    """
    n_rows = indptr.shape[0] - 1
    n_grown = grown_rows.shape[0]
    counts = np.zeros(n_rows, dtype=np.int64)
    for i in range(n_rows):
        for p in range(indptr[i], indptr[i + 1]):
            if keep[p]:
                counts[i] += 1
    for q in range(n_grown):
        if grown_rows[q] < 0 or grown_rows[q] >= n_rows:
            raise ValueError("rebuild_pattern: a grown row is out of range")
        counts[grown_rows[q]] += 1
    new_indptr = np.zeros(n_rows + 1, dtype=indptr.dtype)
    for i in range(n_rows):
        new_indptr[i + 1] = new_indptr[i] + counts[i]
    new_indices = np.empty(new_indptr[n_rows], dtype=indices.dtype)
    source = np.empty(new_indptr[n_rows], dtype=np.int64)
    q = 0
    for i in range(n_rows):
        out = new_indptr[i]
        p, end = indptr[i], indptr[i + 1]
        while True:
            while p < end and not keep[p]:
                p += 1
            has_kept = p < end
            has_grown = q < n_grown and grown_rows[q] == i
            if not has_kept and not has_grown:
                break
            if has_kept and (not has_grown or indices[p] < grown_cols[q]):
                new_indices[out] = indices[p]
                source[out] = p
                p += 1
            else:
                new_indices[out] = grown_cols[q]
                source[out] = -1
                q += 1
            if out > new_indptr[i] and new_indices[out] <= new_indices[out - 1]:
                raise ValueError("rebuild_pattern: grown positions must be unique, sorted by (row, column), and not kept")
            out += 1
    if q != n_grown:
        raise ValueError("rebuild_pattern: grown positions must be unique, sorted by (row, column), and not kept")
    return new_indptr, new_indices, source
