"""RigL's grow step without the dense gradient: the top-k of ``|scale * (XT @ dYT^T)|`` outside a pattern.

Evci et al. 2020, Alg. 1: ``I_grow = ArgTopK(|grad|, k)`` over the positions not in ``theta``. The values
ranked are the exact lane-order gradients of ``lanes.py`` times ``scale`` (the very floats
``dense_weight_gradient`` and ``sddmm`` give); ranking: higher ``|score|`` first, then the lower row-major
flat index ``i * n_out + j`` (the project-wide tie rule, ``docs/architecture.md``).

How it is fast and still exact (filter, then certify):

1. **Filter.** Tile by tile (``block_rows x block_cols``), one BLAS GEMM gives an approximate gradient
   ``A[i, j]`` in BLAS's own summation order. Both ``A`` and the exact lane-order value ``G`` are sums of
   the same ``B`` products, so ``|A - G| <= E[i, j] = 2 gamma_B sum_b |XT[i, b] dYT[j, b]|`` with
   ``gamma_B = B u / (1 - B u)`` (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1: any
   summation order, with or without FMA; ``u`` the dtype's unit roundoff). The code uses the
   Cauchy-Schwarz bound ``sum_b |x_b g_b| <= ||x|| ||g||`` with 4x slack for the rounding of the bound
   itself, plus ``8 B tiny`` for underflow. A position is a candidate while its upper bound ``|A| + E``
   reaches the running threshold ``T`` = the k-th largest lower bound ``|A| - E`` seen so far (at least k
   positions are certainly at least that large, so a position whose upper bound is below ``T`` cannot
   be in the top k). The candidate buffer (flat index and both bounds, rounded outwards to the dtype)
   holds ``2k + 65536`` entries; when full, ``T`` is raised by a radix selection and the buffer compacted.
2. **Exact values.** The surviving candidates (about k plus the few near the threshold) get their exact
   lane-order gradient from :func:`~rigl_ref.kernels.csr.sddmm`, times ``scale``, and are ranked.
3. **Certificate.** Every discarded position had an upper bound below the final threshold ``T``; the
   result is returned only if ``|fl(dtype(T) * scale)|`` is strictly below the k-th selected score, so no
   discarded position can reach or tie it. Otherwise (all-equal gradients, ``scale = 0``, massive ties
   that overflow the buffer, non-finite inputs or bounds) the exhaustive exact path runs: every gradient
   block in the lane order (``lane_gradient_rows``) through a heap of ``k`` candidates.

Either way the output is the same pair of arrays, independent of the block sizes and of BLAS (its
results only decide which positions are evaluated exactly). Extra memory: one ``block_rows x block_cols``
tile, the candidate buffer (16 or 24 bytes per entry, ``2k + 65536`` entries) and the two norm vectors; the
exhaustive path: one panel, one block, a heap of ``k`` and a per-row cursor.
"""

from __future__ import annotations

import numpy as np

from .csr import sddmm
from .jit import jit
from .lanes import LANES, batch_major_panel, lane_gradient_rows

EXTRA_CANDIDATES = 65536  # buffer entries beyond 2k
SAMPLE_ROWS = 64  # rows of the GEMM that guesses the starting threshold


def grow_topk(XT, dYT, kept_indptr, kept_indices, k, scale, block_rows, block_cols):
    """The ``k`` positions with the largest ``|scale * (XT @ dYT^T)|`` among those NOT in the exclusion
    pattern ``(kept_indptr, kept_indices)``, computed block by block so the dense gradient never exists.

    Returns ``(flat, gradient)``: row-major flat indices in rank order (higher ``|score|`` first, ties to
    the lower flat index) and the signed scaled gradient values there (fewer than ``k`` if fewer positions
    are free). Raises ``ValueError`` if a gradient value outside the pattern is NaN. See the module
    docstring for the filter-and-certify method; the values never depend on ``block_rows``/``block_cols``.
    """
    n_in, batch = XT.shape
    n_out = dYT.shape[0]
    if k == 0 or n_in * n_out == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=XT.dtype)
    bounds = _error_bounds(XT, dYT)
    if bounds is not None:
        n_free = n_in * n_out - (int(kept_indptr[-1]) - int(kept_indptr[0]))
        start = _threshold_guess(XT, dYT, k, n_free, *bounds)
        result = _filtered_topk(XT, dYT, kept_indptr, kept_indices, k, scale, block_rows, block_cols, *bounds,
                                start)
        if result is not None:
            return result
    return exhaustive_grow_topk(XT, dYT, kept_indptr, kept_indices, k, scale, block_rows, block_cols)


def _error_bounds(XT, dYT):
    """``(row_norms, col_norms, factor, slack)`` with ``|A - G| <= factor * row_norms[i] * col_norms[j] +
    slack`` for any two summation orders ``A``, ``G`` of the batch products, or None if the inputs are not
    finite or a bound could overflow (the exhaustive path then runs)."""
    dtype = XT.dtype
    info = np.finfo(dtype)
    batch = XT.shape[1]
    n_u = batch * float(info.eps) / 2
    if n_u >= 0.25 or not (np.isfinite(XT).all() and np.isfinite(dYT).all()):
        return None
    row_norms, col_norms = _row_norms(XT), _row_norms(dYT)
    largest = float(row_norms.max(initial=0.0)) * float(col_norms.max(initial=0.0))
    if not largest * 2 < float(info.max):
        return None
    factor = 8 * n_u / (1 - n_u)  # 2 gamma_B (two orders), times 4 slack for the bound's own rounding
    return row_norms, col_norms, factor, 8 * batch * float(info.tiny)


@jit
def _row_norms(A):
    """Euclidean norm of every row in float64, scaled by the row's largest magnitude (no overflow or
    underflow of the squares)."""
    norms = np.zeros(A.shape[0])
    for i in range(A.shape[0]):
        big = 0.0
        for b in range(A.shape[1]):
            big = max(big, abs(float(A[i, b])))
        if big > 0:
            total = 0.0
            for b in range(A.shape[1]):
                v = float(A[i, b]) / big
                total += v * v
            norms[i] = big * np.sqrt(total)
    return norms


def _threshold_guess(XT, dYT, k, n_free, row_norms, col_norms, factor, slack):
    """A starting threshold that spares the filter its warm-up: the lower bounds of about
    ``SAMPLE_ROWS`` evenly spaced rows (one small GEMM), at the rank that k takes among all free positions,
    with a 5 % + 5 sigma margin. Only a guess: ``_filtered_topk`` verifies it and starts again from -inf
    if fewer than k candidates reach it. -inf when the sample would not be smaller than the layer."""
    n_in = XT.shape[0]
    rows = np.arange(0, n_in, max(1, n_in // SAMPLE_ROWS))
    if 2 * len(rows) > n_in:
        return -np.inf
    lower = np.abs(XT[rows] @ dYT.T) - (factor * row_norms[rows, None] * col_norms[None, :] + slack)
    expected = k * lower.size / n_free
    rank = int(expected * 1.05 + 5 * np.sqrt(expected)) + 1
    if rank >= lower.size:
        return -np.inf
    return float(np.partition(lower.ravel(), lower.size - rank)[lower.size - rank])


def _filtered_topk(XT, dYT, kept_indptr, kept_indices, k, scale, block_rows, block_cols,
                   row_norms, col_norms, factor, slack, start):
    """Steps 1-3 of the module docstring from the threshold ``start``; None when the certificate fails or
    the buffer overflows."""
    n_in, n_out = XT.shape[0], dYT.shape[0]
    capacity = 2 * k + EXTRA_CANDIDATES
    flat = np.empty(capacity, dtype=np.int64)
    lower = np.empty(capacity, dtype=XT.dtype)  # bounds of |G|, rounded outwards to the dtype
    upper = np.empty(capacity, dtype=XT.dtype)
    lower_bits = lower.view(np.uint32 if XT.dtype.itemsize == 4 else np.uint64)
    cursor = kept_indptr[:-1].astype(np.int64)
    count, threshold = 0, start
    for i0 in range(0, n_in, block_rows):
        i1 = min(n_in, i0 + block_rows)
        for j0 in range(0, n_out, block_cols):
            j1 = min(n_out, j0 + block_cols)
            tile = XT[i0:i1] @ dYT[j0:j1].T  # BLAS: any summation order, only a filter
            count, threshold = _collect_candidates(tile, i0, j0, n_out, row_norms, col_norms, factor, slack,
                                                   kept_indptr, kept_indices, cursor, k, flat, lower, upper,
                                                   lower_bits, count, threshold)
            if count < 0:
                return None
    count, threshold = _compact(flat, lower, upper, lower_bits, count, k, -np.inf)
    if not threshold >= start:  # fewer than k candidates reached the guess: it was not a valid threshold
        return _filtered_topk(XT, dYT, kept_indptr, kept_indices, k, scale, block_rows, block_cols,
                              row_norms, col_norms, factor, slack, -np.inf)
    positions = np.sort(flat[:count])
    rows, cols = positions // n_out, positions % n_out
    indptr = np.zeros(n_in + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_in), out=indptr[1:])
    gradient = sddmm(indptr, cols, XT, dYT) * XT.dtype.type(scale)
    score = np.abs(gradient)
    if np.isnan(score).any():
        return None  # the exhaustive path raises with its message
    order = _rank(score, k)
    if threshold > -np.inf and len(order):
        discarded_best = abs(XT.dtype.type(threshold) * XT.dtype.type(scale))
        if not discarded_best < score[order[-1]]:
            return None
    return positions[order], gradient[order]


def _rank(score, k):
    """Indices of the ``k`` best entries of ``score`` (non-negative, no NaN): higher score first, ties to
    the lower index. For float32, one sort of 64-bit keys ``(~bits(score), index)`` (the bit patterns of
    non-negative floats order like the floats); otherwise a stable argsort."""
    if score.dtype == np.float32 and len(score) < 2**32:
        inverted = np.uint64(0xFFFFFFFF) - score.view(np.uint32).astype(np.uint64)
        keys = (inverted << np.uint64(32)) | np.arange(len(score), dtype=np.uint64)
        return (np.sort(keys)[:k] & np.uint64(0xFFFFFFFF)).astype(np.int64)
    return np.argsort(-score, kind="stable")[:k]


@jit
def _outward(value, like, direction):
    """``value`` (float64) rounded to ``like``'s dtype, then moved one step towards ``direction`` if the
    rounding went the other way (so a lower bound stays a lower bound, an upper bound an upper bound)."""
    r = like.dtype.type(value)
    if (direction < 0 and r > value) or (direction > 0 and r < value):
        r = np.nextafter(r, like.dtype.type(direction))
    return r


@jit
def _collect_candidates(tile, i0, j0, n_out, row_norms, col_norms, factor, slack, kept_indptr, kept_indices,
                        cursor, k, flat, lower, upper, lower_bits, count, threshold):
    """Append the free positions of ``tile`` whose upper bound ``|A| + E`` reaches ``threshold`` to the
    buffer ``(flat, lower, upper)`` holding ``count`` candidates; compacts the buffer when it is full.
    Returns the new ``(count, threshold)``, with ``count = -1`` if compaction cannot free a quarter of it."""
    capacity = flat.shape[0]
    upper_row = np.empty(tile.shape[1])
    for r in range(tile.shape[0]):
        i = i0 + r
        row = tile[r]
        cur, end = cursor[i], kept_indptr[i + 1]
        while cur < end and kept_indices[cur] < j0 + row.shape[0]:
            row[kept_indices[cur] - j0] = np.nan  # excluded: NaN never passes the test below
            cur += 1
        cursor[i] = cur
        row_factor = factor * row_norms[i]
        for c in range(row.shape[0]):  # vectorised; the test below is then one compare per position
            upper_row[c] = abs(float(row[c])) + row_factor * col_norms[j0 + c]
        for c in range(row.shape[0]):
            if not upper_row[c] + slack >= threshold:
                continue
            if count == capacity:
                count, threshold = _compact(flat, lower, upper, lower_bits, count, k, threshold)
                if count > capacity - capacity // 4:
                    return -1, threshold
                if not upper_row[c] + slack >= threshold:
                    continue
            a = abs(float(row[c]))
            error = row_factor * col_norms[j0 + c] + slack
            flat[count] = i * n_out + j0 + c
            lower[count] = _outward(max(a - error, 0.0), lower, -np.inf)
            upper[count] = _outward(a + error, upper, np.inf)
            count += 1
    return count, threshold


@jit
def _compact(flat, lower, upper, lower_bits, count, k, threshold):
    """Raise ``threshold`` to the k-th largest lower bound in the buffer (never lowering it) and drop every
    candidate whose upper bound is below it; returns the new ``(count, threshold)``."""
    if count >= k:
        threshold = max(threshold, float(lower[_kth_largest(lower_bits, count, k)]))
    kept = 0
    for q in range(count):
        if upper[q] >= threshold:
            flat[kept] = flat[q]
            lower[kept] = lower[q]
            upper[kept] = upper[q]
            kept += 1
    return kept, threshold


@jit
def _kth_largest(bits, count, k):
    """The position of a ``k``-th largest of ``bits[:count]``, the unsigned bit patterns of non-negative
    floats (which order like the floats), by radix selection 16 bits at a time, most significant first."""
    width = bits.itemsize * 8
    hist = np.empty(65536, dtype=np.int64)
    prefix = np.uint64(0)
    remaining = k
    for level in range(width // 16):
        shift = np.uint64(width - 16 * (level + 1))
        above = np.uint64(width - 16 * level)
        hist[:] = 0
        for q in range(count):
            key = np.uint64(bits[q])
            if level == 0 or (key >> above) == (prefix >> above):
                hist[(key >> shift) & np.uint64(0xFFFF)] += 1
        digit = 65535
        while hist[digit] < remaining:
            remaining -= hist[digit]
            digit -= 1
        prefix |= np.uint64(digit) << shift
    for q in range(count):
        if np.uint64(bits[q]) == prefix:
            return q
    return -1


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
def exhaustive_grow_topk(XT, dYT, kept_indptr, kept_indices, k, scale, block_rows, block_cols):
    """The same result as :func:`grow_topk` by brute force: every free position's exact lane-order
    gradient, block by block (a batch-major panel of ``block_cols`` columns, ``block_rows`` rows at a time),
    through a heap of the ``k`` best candidates. The fallback of ``grow_topk``; raises ``ValueError`` on NaN."""
    n_in, n_out = XT.shape[0], dYT.shape[0]
    heap_score = np.empty(k, dtype=XT.dtype)
    heap_flat = np.empty(k, dtype=np.int64)
    heap_grad = np.empty(k, dtype=XT.dtype)
    size = 0
    cursor = kept_indptr[:-1].astype(np.int64)
    block = np.empty((block_rows, block_cols), dtype=XT.dtype)
    lanes = np.empty((LANES, block_cols), dtype=XT.dtype)
    for j0 in range(0, n_out, block_cols):
        j1 = min(n_out, j0 + block_cols)
        panel = batch_major_panel(dYT, j0, j1)
        for i0 in range(0, n_in, block_rows):
            i1 = min(n_in, i0 + block_rows)
            lane_gradient_rows(XT, panel, i0, i1, block, lanes)
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
