"""RigL's grow step without the dense gradient: the top-k of ``|scale * (XT @ dYT^T)|`` outside a pattern.

Evci et al. 2020, Alg. 1: ``I_grow = ArgTopK(|grad|, k)`` over the positions not in ``theta``. The values
ranked are the exact lane-order gradients of ``lanes.py`` times ``scale`` (the very floats
``dense_weight_gradient`` and ``sddmm`` give); ranking: higher ``|score|`` first, then the lower row-major
flat index ``i * n_out + j`` (the project-wide tie rule, ``docs/architecture.md``).

How it is fast, exact and small (filter with BLAS, keep a running top k of exact values):

1. **Filter.** Tile by tile (``block_rows x block_cols``), one BLAS GEMM gives an approximate gradient
   ``A[i, j]`` in BLAS's own summation order. Both ``A`` and the exact lane-order value ``G`` are sums of
   the same ``B`` products, so ``|A - G| <= E[i, j] = 2 gamma_B sum_b |XT[i, b] dYT[j, b]|`` with
   ``gamma_B = B u / (1 - B u)`` (Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1: any
   summation order, with or without FMA; ``u`` the dtype's unit roundoff). The code uses the
   Cauchy-Schwarz bound ``sum_b |x_b g_b| <= ||x|| ||g||`` with 4x slack for the rounding of the bound
   itself, plus ``8 B tiny`` for underflow. A free position is a **candidate** unless its score is
   certainly below the cutoff ``c``: ``(|A| + E) * |scale| * (1 + 8u) + d_min < c`` (``d_min`` the
   smallest subnormal: the margin of the scaled rounding).
2. **Exact values, running top k.** The candidates of a tile get their exact lane-order value from
   :func:`~rigl_ref.kernels.csr.sddmm` at once (its unpadded ``sddmm_blocks``: padding the factors per
   tile would copy them per tile, and once per call measured no faster), times ``scale``, and are
   appended to a buffer of ``k + max(EXTRA_CANDIDATES, 2 tiles)`` 64-bit **rank keys**
   ``(~bits(|g|), flat, sign)``: unsigned integer order = rank order (the bit patterns of non-negative floats order like the floats), the
   sign bit restores the signed value. When the next tile might not fit, the buffer is partitioned in
   place (``ndarray.partition``) down to its best k keys and the cutoff rises to the k-th best exact
   score (at least k positions are that good, so a position certainly below it can never enter).
3. **Start and check.** The first cutoff is a guess from the free positions among about
   ``SAMPLE_POSITIONS`` evenly spaced ones (one small GEMM; the rank k takes among the free positions,
   with a 25 % + 5 sigma margin).
   Every position ever discarded scored below some cutoff, and every cutoff after the guess is at most
   the final k-th score; so the result is exact as soon as the final k-th score reaches the guess
   (otherwise, or when fewer than k candidates were found, the pass runs again from ``c = -inf``).
   With a guess, the filter covers only the rows and columns whose Cauchy-Schwarz cap reaches it
   (:func:`_live_lines`): the others hold no position the filter would keep.
   Ties are never a problem: the keys order them exactly (``scale = 0`` or all-equal gradients just
   make every position a candidate).

The output is the best ``k`` keys, sorted in place and decoded in place (the flat indices reuse the key
buffer). Extra memory beyond the two outputs: ``max(EXTRA_CANDIDATES, 2 tiles) * 8`` bytes of spare key
slots (blocks larger than the layer are cut to it), one GEMM tile (one buffer that every GEMM writes into:
fresh megabyte arrays would cost page faults), one tile of candidate columns and exact values, the
sampled block, ``O(n_in + n_out)`` norms and cursors, and, when lines are left out, contiguous copies of the
live rows of both factors (at most ``(n_in + n_out) x batch`` values) and the exclusion pattern renumbered to
them (at most its size); nothing grows with ``k`` beyond the outputs, nor with ``n_in x n_out``.

The keys need float32 gradients and ``n_in * n_out <= 2**31`` (31 bits of flat index). Otherwise (float64,
larger layers), and when the bounds cannot be used (non-finite inputs or ``scale``, a bound that could
overflow), :func:`exhaustive_grow_topk` answers: every free position's exact value, block by block,
through an in-place heap of k (memory: the outputs, one panel, one block). Both paths give the same
arrays, independent of the block sizes and of BLAS (its results only decide which positions are
evaluated exactly).
"""

from __future__ import annotations

import numpy as np

from .csr import sddmm_blocks
from .jit import jit
from .lanes import LANES, batch_major_panel, lane_gradient_rows

EXTRA_CANDIDATES = 65536  # spare key slots beyond k (at least two tiles: a partition per tile at most)
SAMPLE_POSITIONS = 65536  # about this many evenly spaced positions: the GEMM that guesses the first cutoff
FLAT_BITS = 31  # flat index bits of a rank key (the lowest key bit holds the sign)


def grow_topk(XT, dYT, kept_indptr, kept_indices, k, scale, block_rows, block_cols):
    """The ``k`` positions with the largest ``|scale * (XT @ dYT^T)|`` among those NOT in the exclusion
    pattern ``(kept_indptr, kept_indices)``, computed block by block so the dense gradient never exists.

    Returns ``(flat, gradient)``: row-major flat indices in rank order (higher ``|score|`` first, ties to
    the lower flat index) and the signed scaled gradient values there (fewer than ``k`` if fewer positions
    are free). Raises ``ValueError`` if a gradient value outside the pattern is NaN. See the module
    docstring for the method; the values never depend on ``block_rows``/``block_cols``.
    """
    n_in, batch = XT.shape
    n_out = dYT.shape[0]
    if k == 0 or n_in * n_out == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=XT.dtype)
    scale = XT.dtype.type(scale)
    bounds = _error_bounds(XT, dYT, scale) if XT.dtype == np.float32 and n_in * n_out <= 2**FLAT_BITS else None
    if bounds is None:
        return exhaustive_grow_topk(XT, dYT, kept_indptr, kept_indices, k, scale, block_rows, block_cols)
    n_free = n_in * n_out - (int(kept_indptr[-1]) - int(kept_indptr[0]))
    blocks = min(block_rows, n_in), min(block_cols, n_out)
    start = _cutoff_guess(XT, dYT, kept_indptr, kept_indices, k, n_free, scale, *bounds)
    result = _filtered_topk(XT, dYT, kept_indptr, kept_indices, k, n_free, scale, *blocks, bounds, start)
    if result is None:  # the guess was above the final k-th score: once more, from -inf
        result = _filtered_topk(XT, dYT, kept_indptr, kept_indices, k, n_free, scale, *blocks, bounds, -np.inf)
    return result


def _error_bounds(XT, dYT, scale):
    """``(row_norms, col_norms, factor, slack)`` with ``|A - G| <= factor * row_norms[i] * col_norms[j] +
    slack`` for any two summation orders ``A``, ``G`` of the float32 batch products, or None if the inputs
    or ``scale`` are not finite or a bound could overflow (the exhaustive path then runs)."""
    dtype = XT.dtype
    info = np.finfo(dtype)
    batch = XT.shape[1]
    n_u = batch * float(info.eps) / 2
    if n_u >= 0.25 or not (np.isfinite(scale) and np.isfinite(XT).all() and np.isfinite(dYT).all()):
        return None
    row_norms, col_norms = _row_norms(XT), _row_norms(dYT)
    largest = float(row_norms.max(initial=0.0)) * float(col_norms.max(initial=0.0))
    if not largest * 2 < float(info.max):
        return None
    factor = 8 * n_u / (1 - n_u)  # 2 gamma_B (two orders), times 4 slack for the bound's own rounding
    return row_norms, col_norms, factor, 8 * batch * float(info.tiny)


@jit
def _row_norms(A):
    """Euclidean norm of every row of a float32 array, summed in float64 (the square of a float32 can
    neither overflow nor underflow in float64, and the float64 rounding is far inside the bound's slack)."""
    norms = np.zeros(A.shape[0])
    for i in range(A.shape[0]):
        total = 0.0
        for b in range(A.shape[1]):
            v = np.float64(A[i, b])  # not float(): in Numba that keeps float32, whose squares underflow
            total += v * v
        norms[i] = np.sqrt(total)
    return norms


def _cutoff_guess(XT, dYT, kept_indptr, kept_indices, k, n_free, scale, row_norms, col_norms, factor, slack):
    """A first cutoff that spares the filter its warm-up: the lower bounds ``(|A| - E) * |scale|`` of the
    free positions on a grid of about ``SAMPLE_POSITIONS`` (every ``step``-th row and column, the same
    step both ways; one small GEMM), at the rank that k takes among all free positions, with a 25 % + 5
    sigma margin. Only a guess, checked at the end (module docstring); -inf when the sample would not be
    much smaller than the layer.

    Why this sample (measured on the RigL updates of a 784-1000-1000-10 MLP at 95 % sparsity, where a
    guess above the final k-th score makes the update run the filter twice): the positions of the
    exclusion pattern are left out, because they are the connections just kept, whose gradients run
    larger than a free position's (counting them failed a third of the guesses); and rows and columns are
    thinned alike, because a layer's rows differ more from each other than its positions within a row
    (64 rows of 1000, with the kept connections left out, still failed a tenth of the guesses). The share
    of a sample above the k-th score still strays from the layer's by up to 1.5x (rows of a layer are
    alike in groups: image pixels, dead units), more than binomial noise, hence the 25 % margin: 0 of 60
    guesses failed at 95 %, 1 of 60 at 90 %; a larger margin only adds exact evaluations of candidates."""
    n_in, n_out = XT.shape[0], dYT.shape[0]
    step = max(1, int(np.ceil(np.sqrt(n_in * n_out / SAMPLE_POSITIONS))))
    rows, cols = np.arange(0, n_in, step), np.arange(0, n_out, step)
    if 4 * len(rows) * len(cols) > n_in * n_out:
        return -np.inf
    lower = np.abs(XT[rows] @ dYT[cols].T) - (factor * row_norms[rows, None] * col_norms[None, cols] + slack)
    free = _sampled_free_positions(rows, step, len(cols), kept_indptr, kept_indices)
    candidates = lower[free]
    expected = k * candidates.size / n_free
    rank = int(expected * 1.25 + 5 * np.sqrt(expected)) + 1
    if rank >= candidates.size:
        return -np.inf
    return float(np.partition(candidates, candidates.size - rank)[candidates.size - rank]) * abs(float(scale))


@jit
def _sampled_free_positions(rows, col_step, n_cols, kept_indptr, kept_indices):
    """``free[r, c]``: the position ``(rows[r], c * col_step)`` is not in the pattern ``(kept_indptr,
    kept_indices)``."""
    free = np.ones((rows.shape[0], n_cols), dtype=np.bool_)
    for r in range(rows.shape[0]):
        for p in range(kept_indptr[rows[r]], kept_indptr[rows[r] + 1]):
            j = kept_indices[p]
            if j % col_step == 0 and j // col_step < n_cols:
                free[r, j // col_step] = False
    return free


def _filtered_topk(XT, dYT, kept_indptr, kept_indices, k, n_free, scale, block_rows, block_cols, bounds, start):
    """Steps 1-3 of the module docstring from the cutoff ``start``; None if the result does not reach it.
    The key buffer never needs more than one slot per free position (no position is visited twice)."""
    n_in, n_out = XT.shape[0], dYT.shape[0]
    row_norms, col_norms, factor, slack = bounds
    tile_size = block_rows * block_cols
    keys = np.empty(min(n_free, k + max(EXTRA_CANDIDATES, 2 * tile_size)), dtype=np.uint64)
    tile_buffer = np.empty(tile_size, dtype=XT.dtype)
    tile_indptr = np.empty(block_rows + 1, dtype=np.int64)
    tile_cols = np.empty(tile_size, dtype=np.int32)
    upper = np.empty(block_cols)
    scale_bound, margin = _scaled_test(scale, XT.dtype)
    row_ids, col_ids = _live_lines(row_norms, col_norms, factor, slack, scale_bound, margin, start)
    if len(row_ids) < n_in or len(col_ids) < n_out:  # filter only the live rows x live columns
        XT, dYT, row_norms, col_norms = XT[row_ids], dYT[col_ids], row_norms[row_ids], col_norms[col_ids]
        kept_indptr, kept_indices = _pattern_on_lines(kept_indptr, kept_indices, row_ids, col_ids, n_out)
    cursor = kept_indptr[:-1].astype(np.int64)
    count, cutoff = 0, start
    for i0 in range(0, len(row_ids), block_rows):
        i1 = min(len(row_ids), i0 + block_rows)
        for j0 in range(0, len(col_ids), block_cols):
            j1 = min(len(col_ids), j0 + block_cols)
            if count + (i1 - i0) * (j1 - j0) > len(keys) and count > k:
                count, cutoff = _keep_best(keys, count, k, cutoff)
            tile = tile_buffer[: (i1 - i0) * (j1 - j0)].reshape(i1 - i0, j1 - j0)
            np.matmul(XT[i0:i1], dYT[j0:j1].T, out=tile)  # BLAS: any summation order, only a filter
            count = _collect_tile(tile, i0, j0, row_ids, col_ids, n_out, row_norms, col_norms, factor, slack,
                                  scale_bound, margin, cutoff, kept_indptr, kept_indices, cursor, XT, dYT, scale,
                                  keys, count, tile_indptr, tile_cols, upper)
    count, _ = _keep_best(keys, count, k, -np.inf)
    if start > -np.inf and (count < k or _score_of(keys[k - 1]) < start):
        return None
    keys[:count].sort()  # in place: rank order
    gradient = np.empty(count, dtype=XT.dtype)
    _decode_keys(keys, count, gradient)
    return keys[:count].view(np.int64), gradient


def _scaled_test(scale, dtype):
    """``(scale_bound, margin)`` of the filter's test ``bound * scale_bound + margin < cutoff``: ``|scale|``
    widened by the rounding of the scaled score (``1 + 8u``) and the smallest subnormal (module docstring,
    step 1)."""
    return abs(float(scale)) * (1 + 8 * float(np.finfo(dtype).eps)), float(np.finfo(dtype).smallest_subnormal)


def _keep_best(keys, count, k, cutoff):
    """Keep the best ``k`` of ``keys[:count]`` (in place, any order) and raise ``cutoff`` to the k-th best
    score; returns the new ``(count, cutoff)``."""
    if count <= k:
        return count, cutoff
    keys[:count].partition(k - 1)
    return k, max(cutoff, _score_of(keys[k - 1]))


def _score_of(key):
    """The score ``|g|`` (as a Python float) that a rank key holds."""
    return float(np.uint32(0xFFFFFFFF - (int(key) >> 32)).view(np.float32))


def _live_lines(row_norms, col_norms, factor, slack, scale_bound, margin, start):
    """``(row_ids, col_ids)``: the rows and columns that can hold a position scoring ``start`` or more.

    The Cauchy-Schwarz bound caps a whole row: ``|A[i, j]| + E[i, j] <= (1 + 2 factor) ||x_i|| ||g_j|| + 2
    slack`` (``|A| <= (1 + gamma_B) sum_b |x_b g_b| <= (1 + gamma_B) ||x_i|| ||g_j||``, ``factor >= 4
    gamma_B``, and the doubled slack covers underflow and the norms' float64 rounding), so no position of
    row ``i`` exceeds ``(1 + 2 factor) ||x_i|| max_j ||g_j|| + 2 slack`` (columns alike). A row or column
    whose cap, scaled as in the filter's test, is below ``start`` holds only positions the filter would
    discard at any cutoff (cutoffs only rise from ``start``), so leaving it out of the GEMMs changes no
    candidate and no result. Rows of input pixels
    that are 0 in the whole batch, dead units and output units with small gradients are such lines
    (measured on the RigL updates of the 784-1000-1000-10 MLP at 99 %: 20-80 % of the rows and 73-95 %
    of the columns of the two large layers)."""
    if start == -np.inf or len(row_norms) == 0 or len(col_norms) == 0:
        return np.arange(len(row_norms)), np.arange(len(col_norms))
    reach = 1 + 2 * factor

    def live(norms, other):
        return np.flatnonzero((norms * (other.max() * reach) + 2 * slack) * scale_bound + margin >= start)

    return live(row_norms, col_norms), live(col_norms, row_norms)


@jit
def _pattern_on_lines(kept_indptr, kept_indices, row_ids, col_ids, n_out):
    """The exclusion pattern restricted to the rows ``row_ids`` and columns ``col_ids`` (both sorted), in
    their positions: CSR over ``len(row_ids)`` rows with column numbers in ``range(len(col_ids))``."""
    position = np.full(n_out, -1, dtype=np.int64)
    for c in range(col_ids.shape[0]):
        position[col_ids[c]] = c
    indptr = np.zeros(row_ids.shape[0] + 1, dtype=np.int64)
    indices = np.empty(kept_indices.shape[0], dtype=np.int64)
    n = 0
    for r in range(row_ids.shape[0]):
        for p in range(kept_indptr[row_ids[r]], kept_indptr[row_ids[r] + 1]):
            c = position[kept_indices[p]]
            if c >= 0:
                indices[n] = c
                n += 1
        indptr[r + 1] = n
    return indptr, indices[:n]


@jit
def _collect_tile(tile, i0, j0, row_ids, col_ids, n_out, row_norms, col_norms, factor, slack, scale_bound, margin,
                  cutoff, kept_indptr, kept_indices, cursor, XT, dYT, scale, keys, count, tile_indptr, tile_cols,
                  upper):
    """Append the rank keys of the candidates of ``tile`` (rows ``i0...``, columns ``j0...`` of the filtered
    lines, layer positions ``(row_ids[i], col_ids[j])``; free positions whose score is not certainly below
    ``cutoff``) to ``keys[count:]``; returns the new count."""
    rows, width = tile.shape
    n = 0
    for r in range(rows):
        i = i0 + r
        row = tile[r]
        cur, end = cursor[i], kept_indptr[i + 1]
        while cur < end and kept_indices[cur] < j0 + width:
            row[kept_indices[cur] - j0] = np.nan  # excluded: NaN never passes the test below
            cur += 1
        cursor[i] = cur
        row_factor = factor * row_norms[i]
        for c in range(width):  # vectorised; the test below is then one compare per position
            upper[c] = (abs(float(row[c])) + row_factor * col_norms[j0 + c] + slack) * scale_bound + margin
        tile_indptr[r] = n
        for c in range(width):
            if upper[c] >= cutoff:
                tile_cols[n] = j0 + c
                n += 1
    tile_indptr[rows] = n
    if n == 0:
        return count
    values = sddmm_blocks(tile_indptr[: rows + 1], tile_cols[:n], XT[i0 : i0 + rows], dYT)
    for q in range(n):
        values[q] = values[q] * scale
    bits = values.view(np.uint32)
    for r in range(rows):
        for q in range(tile_indptr[r], tile_indptr[r + 1]):
            flat = np.uint64(row_ids[i0 + r] * n_out + col_ids[tile_cols[q]])
            magnitude = np.uint64(bits[q] & np.uint32(0x7FFFFFFF))
            sign = np.uint64(bits[q] >> np.uint32(31))
            keys[count] = ((np.uint64(0xFFFFFFFF) - magnitude) << np.uint64(32)) | (flat << np.uint64(1)) | sign
            count += 1
    return count


@jit
def _decode_keys(keys, count, gradient):
    """Turn ``keys[:count]`` into the signed gradients (``gradient``, float32) and, in place, the flat
    indices (``keys`` viewed as int64)."""
    bits = gradient.view(np.uint32)
    for q in range(count):
        key = keys[q]
        magnitude = np.uint64(0xFFFFFFFF) - (key >> np.uint64(32))
        bits[q] = np.uint32(magnitude | ((key & np.uint64(1)) << np.uint64(31)))
        keys[q] = (key >> np.uint64(1)) & np.uint64(2**FLAT_BITS - 1)


@jit
def _ranks_below(grad_a, flat_a, grad_b, flat_b):
    """True if candidate a ranks below b: a lower ``|gradient|``, or an equal one and a higher flat index."""
    score_a, score_b = abs(grad_a), abs(grad_b)
    return score_a < score_b or (score_a == score_b and flat_a > flat_b)


@jit
def _sift_down(heap_flat, heap_grad, size, pos):
    """Restore the heap property (the worst-ranked candidate at the root) below ``pos``."""
    while True:
        worst = pos
        for child in (2 * pos + 1, 2 * pos + 2):
            if child < size and _ranks_below(heap_grad[child], heap_flat[child], heap_grad[worst], heap_flat[worst]):
                worst = child
        if worst == pos:
            return
        heap_flat[pos], heap_flat[worst] = heap_flat[worst], heap_flat[pos]
        heap_grad[pos], heap_grad[worst] = heap_grad[worst], heap_grad[pos]
        pos = worst


@jit
def exhaustive_grow_topk(XT, dYT, kept_indptr, kept_indices, k, scale, block_rows, block_cols):
    """The same result as :func:`grow_topk` by brute force: every free position's exact lane-order
    gradient, block by block (a batch-major panel of ``block_cols`` columns, ``block_rows`` rows at a time),
    through a heap of the ``k`` best candidates, finally sorted in place (heapsort). The path of
    ``grow_topk`` for float64, huge layers and non-finite inputs; raises ``ValueError`` on NaN."""
    n_in, n_out = XT.shape[0], dYT.shape[0]
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
                    if grad != grad:
                        raise ValueError("grow_topk: the gradient contains NaN")
                    flat = i * n_out + j
                    if size < k:  # fill, then heapify once the heap is full
                        heap_flat[size] = flat
                        heap_grad[size] = grad
                        size += 1
                        if size == k:
                            for pos in range(k // 2 - 1, -1, -1):
                                _sift_down(heap_flat, heap_grad, k, pos)
                    elif _ranks_below(heap_grad[0], heap_flat[0], grad, flat):
                        heap_flat[0] = flat
                        heap_grad[0] = grad
                        _sift_down(heap_flat, heap_grad, k, 0)
                cursor[i] = cur
    if size < k:
        for pos in range(size // 2 - 1, -1, -1):
            _sift_down(heap_flat, heap_grad, size, pos)
    for last in range(size - 1, 0, -1):  # heapsort: the worst goes to the back, so the front is the best
        heap_flat[0], heap_flat[last] = heap_flat[last], heap_flat[0]
        heap_grad[0], heap_grad[last] = heap_grad[last], heap_grad[0]
        _sift_down(heap_flat, heap_grad, last, 0)
    return heap_flat[:size], heap_grad[:size]
