"""Numba kernels of the truly sparse substrate (each has a NumPy twin of the same name in ``reference.py``).

Layout (measured on this project's 2-core benchmark machine, ``bench/kernels.py``): activations are **feature-major**, i.e.
``XT`` has shape ``(n_in, batch)`` and ``dYT`` shape ``(n_out, batch)``, both C-contiguous, so every inner
loop runs over a contiguous batch row (an AXPY that LLVM vectorises without reassociating anything).
The weight ``W`` has shape ``(n_in, n_out)`` (``y = x @ W``) and is stored as CSR over its rows:
``indptr`` (n_in + 1), ``indices`` (nnz, column = output unit, sorted within a row), ``data`` (nnz).

Summation orders (fixed, documented, independent of any block size; ``fastmath=False`` keeps them):

* ``csr_transposed_matmul`` (linear forward) ``YT[j, b]``: the entries ``(i, j)`` of column ``j`` are added
  in increasing row ``i`` (also the order of ``csr_matmul`` on the ``transpose_pattern`` view, the
  faster forward of a layer whose pattern is fixed for many steps);
* ``csr_matmul`` (linear input gradient) ``dXT[i, b]``: the entries of row ``i`` in increasing column ``j``;
* every weight-gradient value ``G[i, j] = sum_b XT[i, b] * dYT[j, b]`` (``sddmm``,
  ``dense_weight_gradient``, and ``grow_topk`` in ``grow.py``) is summed in the **lane order** of
  ``lanes.py``: 16 partial sums, lane ``l`` adding the batch positions ``b = l, l + 16, ...`` in
  increasing ``b`` from +0.0 in the activations' dtype, then a fixed halving tree over the lanes. So
  ``sddmm`` at an entry, the dense gradient at that position and a grow score are the same float, bit for
  bit, whatever the block sizes.
"""

from __future__ import annotations

import numpy as np

from .jit import jit, jit_inline
from .lanes import LANES, batch_major_panel, lane_gradient_rows

TILE_BYTES = 1 << 20  # working set of a tile: half the 2 MiB L2 cache of the project machine
BATCH_TILE = 128  # batch columns per tile of csr_transposed_matmul


@jit
def csr_transposed_matmul(indptr, indices, data, XT, n_out):
    """``A^T @ XT`` for the CSR matrix ``A`` (shape ``(n_rows, n_out)``), ``XT`` of shape ``(n_rows, batch)``.

    The forward of a sparse linear layer, ``YT = W^T XT`` (``y = x @ W``), and the input gradient of a
    sparse conv2d (``A`` = its kernel, ``XT`` = the output gradient in im2col columns).

    When the output is larger than ``TILE_BYTES`` (so its randomly updated rows would not stay in the
    2 MiB L2 cache), the batch is cut into contiguous copies of ``BATCH_TILE`` columns processed one after
    the other (measured with ``bench/kernels.py``). Each output value still adds the
    entries of its column in increasing row order, so the result is the same with or without tiles."""
    batch = XT.shape[1]
    YT = np.zeros((n_out, batch), dtype=XT.dtype)
    if n_out * batch * XT.itemsize <= TILE_BYTES or batch <= BATCH_TILE:
        _add_transposed_product(indptr, indices, data, XT, YT)
        return YT
    for b0 in range(0, batch, BATCH_TILE):
        b1 = min(batch, b0 + BATCH_TILE)
        tile = np.zeros((n_out, b1 - b0), dtype=XT.dtype)
        _add_transposed_product(indptr, indices, data, np.ascontiguousarray(XT[:, b0:b1]), tile)
        YT[:, b0:b1] = tile
    return YT


@jit
def _add_transposed_product(indptr, indices, data, XT, YT):
    """``YT += A^T @ XT``, row ``i`` of ``A`` after row ``i - 1`` (C-contiguous ``XT`` and ``YT``)."""
    batch = XT.shape[1]
    for i in range(indptr.shape[0] - 1):
        x = XT[i]
        for p in range(indptr[i], indptr[i + 1]):
            y = YT[indices[p]]
            v = data[p]
            for b in range(batch):
                y[b] += v * x[b]


@jit
def csr_matmul(indptr, indices, data, dYT):
    """``A @ dYT`` for the CSR matrix ``A`` (shape ``(n_rows, n_cols)``), ``dYT`` of shape ``(n_cols, batch)``.

    The input gradient of a sparse linear layer, ``dXT = W dYT`` (``dx = dy @ W^T``), its forward on the
    transposed pattern (``YT = W^T XT`` with ``A`` = :func:`transpose_pattern` of ``W``), and the forward of
    a sparse conv2d (``A`` = its kernel ``(out_channels, in_channels*kh*kw)``, ``dYT`` = im2col columns).

    Speed, without changing any value: the columns are visited in blocks whose rows of ``dYT`` fit in
    ``TILE_BYTES`` (L2-resident while every row uses them; one block when ``dYT`` is small, and then a row's
    entries are taken whole, without scanning for the block's end: 1.02-1.03x per trainer step on the
    784-1000-1000-10 MLP at 90-99 %, 2026-12-07), and eight
    consecutive entries of a row are added in one pass over the batch,
    ``acc[b] = (((acc[b] + v0 g0[b]) + v1 g1[b]) + ...) + v7 g7[b]`` (one load and store of ``acc`` instead
    of eight; 25-35 % faster than one entry per pass, 10 % faster than four on 4096x4096 at 90 %), then
    four of the at most seven left in one pass if there are four (1.03-1.13x on 784 x 1000 and 1000 x 1000
    at 95-99 %, where rows hold a few dozen entries or fewer; Intel Xeon, 2026-12-08). A row's entries are
    still added one by one in increasing column order. The last ``batch % VECTOR`` positions of
    each pass go through the overlapping window of :func:`_window` rather than a scalar remainder loop
    (1.03-1.12x on 784-1000-1000 layers at 95 % with batch 100, AMD EPYC, 2026-12-08). When
    :func:`gathers_from_aligned_copy` says so, the rows are gathered from an aligned copy of ``dYT``
    instead (:func:`_product_from_aligned_copy`)."""
    if gathers_from_aligned_copy(dYT, indices.shape[0]):
        return _product_from_aligned_copy(indptr, indices, data, dYT)
    n_in = indptr.shape[0] - 1
    batch = dYT.shape[1]
    dXT = np.zeros((n_in, batch), dtype=dYT.dtype)
    head, window = _window(batch)
    block = max(1, TILE_BYTES // max(1, batch * dYT.itemsize))
    if block >= dYT.shape[0]:  # one block: each row's entries are taken whole
        for i in range(n_in):
            _add_row_entries(dXT[i], indices, data, dYT, indptr[i], indptr[i + 1], head, window)
        return dXT
    cursor = indptr[:-1].astype(np.int64)  # first entry of each row not yet added
    for j1 in range(block, dYT.shape[0] + block, block):
        for i in range(n_in):
            end = cursor[i]
            while end < indptr[i + 1] and indices[end] < j1:
                end += 1
            _add_row_entries(dXT[i], indices, data, dYT, cursor[i], end, head, window)
            cursor[i] = end
    return dXT


#: :func:`aligned_rows` starts its copy at a multiple of this many bytes (a cache line); its rows being
#: whole multiples of ``VECTOR`` values (32 bytes in float32, an AVX2 register), each of them then starts on
#: a 32-byte boundary, and no vector load of a row straddles two cache lines
ALIGN_BYTES = 64
#: ``csr_matmul`` copies ``dYT`` only when the pattern gathers each of its rows this many times on average
#: (measured with batch 100: the copy costs about as much as 2-3 gathers per row; 0.91x at 2, 1.06x at
#: 4, 1.17x at 10, 1.29-1.34x at 40-100)
COPY_FROM_GATHERS = 4


@jit
def gathers_from_aligned_copy(dYT, nnz):
    """Whether ``csr_matmul`` gathers the rows of ``dYT`` from an aligned copy: when they are not all
    aligned already (a row of ``batch`` values is not a multiple of ``VECTOR`` values, or the array does
    not start at a multiple of ``ALIGN_BYTES``), the copy fits the ``TILE_BYTES`` column block (so it
    costs at most that much memory) and the pattern has at least ``COPY_FROM_GATHERS`` entries per row of
    ``dYT``.

    Why: a 400-byte row (batch 100, float32) starts 16 bytes off a 32-byte boundary in every other row,
    and then each of its vector loads straddles two cache lines. Gathering from a copy whose rows are
    padded to 104 values and start on 32-byte boundaries, the forward of a 1000 x 1000 layer at 95 % runs
    1.29x faster, copy included, and 784 x 1000 1.31x (Intel Xeon, AVX-512, 2026-12-08)."""
    n_rows, batch = dYT.shape
    width = batch + (-batch) % VECTOR
    aligned = batch % VECTOR == 0 and dYT.ctypes.data % ALIGN_BYTES == 0
    return (not aligned and n_rows * width * dYT.itemsize <= TILE_BYTES and nnz >= COPY_FROM_GATHERS * n_rows
            and batch >= VECTOR)


@jit
def aligned_rows(A, width):
    """A copy of the 2-D array ``A`` with rows of ``width >= A.shape[1]`` values, the new ones +0.0, whose
    first row starts at a multiple of ``ALIGN_BYTES`` (so every row does when ``width`` is a multiple of
    ``VECTOR``)."""
    return _copy_zero_extended(A, _aligned_empty(A, A.shape[0], width))


@jit_inline
def _aligned_empty(like, n_rows, width):
    """An uninitialised C-contiguous ``(n_rows, width)`` array of ``like``'s dtype starting at a multiple of
    ``ALIGN_BYTES``."""
    per_line = ALIGN_BYTES // like.itemsize
    raw = np.empty(n_rows * width + per_line, dtype=like.dtype)
    start = (-raw.ctypes.data) % ALIGN_BYTES // like.itemsize
    return raw[start:start + n_rows * width].reshape(n_rows, width)


@jit
def _product_from_aligned_copy(indptr, indices, data, dYT):
    """``csr_matmul`` gathering from ``aligned_rows(dYT, width)``, ``width`` the batch rounded up to a
    multiple of ``VECTOR``: each row of the result is summed in an aligned scratch row of that width (the
    same entries in the same order, so the same values; the padded positions add ``v * 0`` and are
    dropped) and then copied into the result."""
    n_in = indptr.shape[0] - 1
    batch = dYT.shape[1]
    width = batch + (-batch) % VECTOR
    G = aligned_rows(dYT, width)
    acc = _aligned_empty(dYT, 1, width)[0]  # zeroed per row below
    dXT = np.empty((n_in, batch), dtype=dYT.dtype)
    for i in range(n_in):
        acc[:] = 0
        _add_row_entries(acc, indices, data, G, indptr[i], indptr[i + 1], width, width)
        row = dXT[i]
        for b in range(batch):
            row[b] = acc[b]
    return dXT


@jit_inline
def _add_row_entries(acc, indices, data, dYT, p, end, head, window):
    """``acc += sum_p data[p] dYT[indices[p]]`` over the entries ``[p, end)`` of one row, one by one in
    increasing ``p``: eight per pass over the batch, then four if at least four are left, then the rest
    singly (``csr_matmul``'s docstring), each pass split by :func:`_window` (the window's trip count is the
    constant ``VECTOR``, so LLVM vectorises it whole; a trip count read from a variable left it scalar and
    the gain vanished). Inlined into its caller by Numba: compiled as a call of its own, the kernel lost
    5-10 %."""
    window_width = VECTOR if head < acc.shape[0] else 0
    while p + 8 <= end:
        g0, g1, g2, g3 = dYT[indices[p]], dYT[indices[p + 1]], dYT[indices[p + 2]], dYT[indices[p + 3]]
        g4, g5, g6, g7 = dYT[indices[p + 4]], dYT[indices[p + 5]], dYT[indices[p + 6]], dYT[indices[p + 7]]
        v0, v1, v2, v3 = data[p], data[p + 1], data[p + 2], data[p + 3]
        v4, v5, v6, v7 = data[p + 4], data[p + 5], data[p + 6], data[p + 7]
        for k in range(window_width):  # the window first: it reads acc before the main loop writes it
            b = window + k
            total = (((((((acc[b] + v0 * g0[b]) + v1 * g1[b]) + v2 * g2[b]) + v3 * g3[b])
                       + v4 * g4[b]) + v5 * g5[b]) + v6 * g6[b]) + v7 * g7[b]
            if b >= head:
                acc[b] = total
        for b in range(head):
            acc[b] = (((((((acc[b] + v0 * g0[b]) + v1 * g1[b]) + v2 * g2[b]) + v3 * g3[b])
                        + v4 * g4[b]) + v5 * g5[b]) + v6 * g6[b]) + v7 * g7[b]
        p += 8
    if p + 4 <= end:  # four of the last seven in one pass
        g0, g1, g2, g3 = dYT[indices[p]], dYT[indices[p + 1]], dYT[indices[p + 2]], dYT[indices[p + 3]]
        v0, v1, v2, v3 = data[p], data[p + 1], data[p + 2], data[p + 3]
        for k in range(window_width):
            b = window + k
            total = (((acc[b] + v0 * g0[b]) + v1 * g1[b]) + v2 * g2[b]) + v3 * g3[b]
            if b >= head:
                acc[b] = total
        for b in range(head):
            acc[b] = (((acc[b] + v0 * g0[b]) + v1 * g1[b]) + v2 * g2[b]) + v3 * g3[b]
        p += 4
    while p < end:
        g = dYT[indices[p]]
        v = data[p]
        for k in range(window_width):
            b = window + k
            total = acc[b] + v * g[b]
            if b >= head:
                acc[b] = total
        for b in range(head):
            acc[b] += v * g[b]
        p += 1


#: width of the overlapping window of :func:`_window`: eight float32 values, one AVX2 register
VECTOR = 8


@jit
def _window(batch):
    """How ``csr_matmul`` splits one pass over a batch row: returns ``(head, window)``.

    Positions ``[0, head)``, a multiple of ``VECTOR``, are the main loop that LLVM vectorises; the rest,
    ``[head, batch)``, would be its scalar remainder (several times slower per position). Instead the
    ``VECTOR`` positions ``[window, batch)``, ``window = batch - VECTOR``, are computed first, from the same
    ``acc`` values, and only those ``>= head`` are stored: each stored value is the same chain of operations
    as in the plain loop, so the result is the same bit for bit, at the cost of recomputing
    ``VECTOR - batch % VECTOR`` positions. No window (``head = batch``) when ``batch`` is a multiple of
    ``VECTOR`` or shorter than it."""
    if batch % VECTOR == 0 or batch < VECTOR:
        return batch, batch
    return batch - batch % VECTOR, batch - VECTOR


@jit
def transpose_pattern(indptr, indices, n_cols):
    """The CSR pattern of ``A^T`` (i.e. the CSC view of ``A``) for the CSR pattern ``(indptr, indices)`` of
    ``A`` with ``n_cols`` columns: returns ``(t_indptr, t_indices, order)``, where row ``j`` of ``A^T`` holds
    the entries of column ``j`` of ``A`` in increasing row ``t_indices[q]``, and ``order[q]`` is the entry's
    position in ``A``'s ``data`` (so ``A^T``'s data is ``data[order]``). A counting sort, O(nnz + n_cols).

    ``csr_matmul(t_indptr, t_indices, data[order], XT)`` adds the entries of each column of ``A`` in
    increasing row, the order of ``csr_transposed_matmul``: the two give the same array bit for bit."""
    t_indptr = np.zeros(n_cols + 1, dtype=indptr.dtype)
    for p in range(indices.shape[0]):
        t_indptr[indices[p] + 1] += 1
    for j in range(n_cols):
        t_indptr[j + 1] += t_indptr[j]
    fill = t_indptr[:-1].astype(np.int64)  # next free slot of each row of A^T
    t_indices = np.empty(indices.shape[0], dtype=indices.dtype)
    order = np.empty(indices.shape[0], dtype=np.int64)
    for i in range(indptr.shape[0] - 1):
        for p in range(indptr[i], indptr[i + 1]):
            q = fill[indices[p]]
            t_indices[q] = i
            order[q] = p
            fill[indices[p]] = q + 1
    return t_indptr, t_indices, order


#: ``sddmm`` zero-pads the batch to a multiple of ``4 * LANES`` when its last block would hold at least
#: this many positions. Timed against the unpadded kernel, the copy of ``dYT`` included (784 x 1000 at 95 %,
#: 1000 x 1000 and 1000 x 10 at 99 %): on an Intel Xeon (AVX-512, 2026-12-08) remainder 32 (batch 32)
#: 1.16-1.67x faster, 24 (batch 88, 152) 1.10-1.37x, 16 (batch 80, 144) 0.95-1.18x, 8 (batch 72, 136)
#: 0.80-1.00x; on an AMD EPYC (AVX2, 2026-12-08, 784 x 1000 and 1000 x 1000 at 95 %, 1000 x 1000 and
#: 1000 x 10 at 99 %) remainder 36 1.67-2.04x, 24 1.33-1.69x, 16 1.12-1.38x, 8 0.78-1.04x. So from 16 on
PAD_FROM = LANES


@jit
def padded_width(batch):
    """The batch width ``sddmm`` computes on: ``batch``, or the next multiple of ``4 * LANES`` when the
    last block would hold ``PAD_FROM`` or more positions."""
    block = 4 * LANES
    return batch + block - batch % block if batch % block >= PAD_FROM else batch


@jit
def zero_padded(a, width):
    """``a`` (2-D) as a C-contiguous array of ``width >= a.shape[1]`` columns, the new ones +0.0 (one pass,
    each position written once: 2.5x faster than zero-filling and then copying with slices)."""
    return _copy_zero_extended(a, np.empty((a.shape[0], width), dtype=a.dtype))


@jit_inline
def _copy_zero_extended(a, out):
    """``out[:, :n] = a`` and ``out[:, n:] = +0.0`` (``n = a.shape[1]``), each position written once;
    returns ``out`` (:func:`zero_padded`, :func:`aligned_rows`)."""
    n = a.shape[1]
    for r in range(a.shape[0]):
        for b in range(n):
            out[r, b] = a[r, b]
        for b in range(n, out.shape[1]):
            out[r, b] = 0
    return out


@jit
def sddmm(indptr, indices, XT, dYT):
    """Weight gradient at the active entries only: ``out[p] = sum_b XT[i, b] * dYT[j, b]`` for entry
    ``p = (i, j)`` (sampled dense-dense matrix product, i.e. ``(XT @ dYT^T)`` at the pattern), in the
    lane order of ``lanes.py``. For a sparse conv2d, ``XT`` is the output gradient and ``dYT`` the im2col
    columns.

    When the batch's last block of ``4 * LANES`` positions would hold ``PAD_FROM`` or more of them, the
    batch is zero-padded to whole blocks (:func:`sddmm_blocks` handles the rest of a block one
    ``LANES``-chunk at a time, several times slower per product): ``dYT`` is copied once to the padded
    width and each row of ``XT`` that has entries is zero-extended inside the kernel (copying ``XT``
    whole cost more than the products of a sparse layer: 33 us of 40 on the 1000 x 10 layer at 99 %).
    The padded positions add ``+0.0 * +0.0 = +0.0`` to their lanes, which leaves every lane sum as it was
    (a sum started at +0.0 is never -0.0, and ``s + 0.0 = s`` for every other ``s``, Inf and NaN
    included), so the result is the same bit for bit, padded or not (tested)."""
    if XT.shape[1] != dYT.shape[1]:
        raise ValueError("sddmm: XT and dYT have different batch widths")
    width = padded_width(XT.shape[1])
    if width != XT.shape[1]:
        return sddmm_blocks(indptr, indices, XT, zero_padded(dYT, width))
    return sddmm_blocks(indptr, indices, XT, dYT)


@jit
def sddmm_blocks(indptr, indices, XT, dYT):
    """:func:`sddmm` without the padding (for a caller with many small patterns over the same factors,
    such as ``grow.py``'s tiles, where copying the factors per call would cost more than it saves).
    ``XT`` may have fewer batch columns than ``dYT`` (``sddmm``'s padded ``dYT``): each row of ``XT`` is
    then read zero-extended to ``dYT``'s width, from a row buffer filled only for rows with entries.

    Speed, without changing any value: the columns are visited in blocks whose rows of ``dYT`` fit in
    ``TILE_BYTES`` (they stay in the L2 cache while every row of the weight uses them; one block when
    ``dYT`` is small), four entries of a row are summed together (they share the loads of
    ``XT[i]``; a row's last group is padded with repeats of its last entry, whose extra results are
    discarded), and each lane takes four of its batch positions per pass,
    ``lane = (((lane + x[b] g[b]) + x[b+16] g[b+16]) + x[b+32] g[b+32]) + x[b+48] g[b+48]`` (the
    accumulators live in memory, so this saves three of every four store-load round trips; 15-20 % faster),
    and the halving tree of ``combine_lanes`` is written out as one expression per entry (the same
    additions in the same order, without the store and reload between its levels: 1.1x faster at 95 %
    sparsity, 2.2x at 99 %, where a row's few entries leave the tree a larger share).
    The loop over the ``LANES`` lanes is what LLVM vectorises (independent sums). It is kept in this one
    function body on purpose: moved into a helper, LLVM unrolled it instead (4x slower)."""
    if XT.shape[1] > dYT.shape[1]:
        raise ValueError("sddmm_blocks: XT has more batch columns than dYT")
    out = np.empty(indices.shape[0], dtype=XT.dtype)
    batch = dYT.shape[1]
    extended = XT.shape[1] < batch
    row = np.zeros(batch if extended else 0, dtype=XT.dtype)  # XT[i] zero-extended (its tail stays +0.0)
    full = batch - batch % LANES
    full4 = batch - batch % (4 * LANES)
    acc = np.empty((4, LANES), dtype=XT.dtype)  # acc[e, lane]: the lanes of the group's e-th entry
    block = max(1, TILE_BYTES // max(1, batch * dYT.itemsize))
    cursor = indptr[:-1].astype(np.int64)  # first entry of each row not yet computed
    for j1 in range(block, dYT.shape[0] + block, block):
        for i in range(indptr.shape[0] - 1):
            p = end = cursor[i]
            while end < indptr[i + 1] and indices[end] < j1:
                end += 1
            cursor[i] = end
            if p == end:
                continue
            if extended:  # an explicit loop: a slice assignment here cost 40 ns per row
                for b in range(XT.shape[1]):
                    row[b] = XT[i, b]
                x = row
            else:
                x = XT[i]
            while p < end:
                last = end - 1
                g0, g1 = dYT[indices[p]], dYT[indices[min(p + 1, last)]]
                g2, g3 = dYT[indices[min(p + 2, last)]], dYT[indices[min(p + 3, last)]]
                acc[:] = 0
                a0, a1, a2, a3 = acc[0], acc[1], acc[2], acc[3]
                for b0 in range(0, full4, 4 * LANES):
                    for lane in range(LANES):
                        b, c, d, e = b0 + lane, b0 + LANES + lane, b0 + 2 * LANES + lane, b0 + 3 * LANES + lane
                        xb, xc, xd, xe = x[b], x[c], x[d], x[e]
                        a0[lane] = (((a0[lane] + xb * g0[b]) + xc * g0[c]) + xd * g0[d]) + xe * g0[e]
                        a1[lane] = (((a1[lane] + xb * g1[b]) + xc * g1[c]) + xd * g1[d]) + xe * g1[e]
                        a2[lane] = (((a2[lane] + xb * g2[b]) + xc * g2[c]) + xd * g2[d]) + xe * g2[e]
                        a3[lane] = (((a3[lane] + xb * g3[b]) + xc * g3[c]) + xd * g3[d]) + xe * g3[e]
                for b0 in range(full4, full, LANES):
                    for lane in range(LANES):
                        xb = x[b0 + lane]
                        a0[lane] += xb * g0[b0 + lane]
                        a1[lane] += xb * g1[b0 + lane]
                        a2[lane] += xb * g2[b0 + lane]
                        a3[lane] += xb * g3[b0 + lane]
                for b in range(full, batch):
                    xb = x[b]
                    a0[b - full] += xb * g0[b]
                    a1[b - full] += xb * g1[b]
                    a2[b - full] += xb * g2[b]
                    a3[b - full] += xb * g3[b]
                for e in range(min(4, end - p)):  # combine_lanes's halving tree, as one expression
                    a = acc[e]
                    out[p + e] = ((((a[0] + a[8]) + (a[4] + a[12])) + ((a[2] + a[10]) + (a[6] + a[14])))
                                  + (((a[1] + a[9]) + (a[5] + a[13])) + ((a[3] + a[11]) + (a[7] + a[15]))))
                p += 4
    return out


@jit
def dense_weight_gradient(XT, dYT, scale):
    """The dense gradient ``G = scale * (XT @ dYT^T)`` (shape ``(n_in, n_out)``) with the batch sums in the
    lane order shared with ``sddmm`` and ``grow_topk``, then one multiplication by ``scale``; for
    test-sized layers, SNFS's dense momentum and the spec layer."""
    n_in, n_out = XT.shape[0], dYT.shape[0]
    G = np.empty((n_in, n_out), dtype=XT.dtype)
    block = 256
    lanes = np.empty((LANES, block), dtype=XT.dtype)
    rows = np.empty((n_in, block), dtype=XT.dtype)
    for j0 in range(0, n_out, block):
        j1 = min(n_out, j0 + block)
        lane_gradient_rows(XT, batch_major_panel(dYT, j0, j1), 0, n_in, rows, lanes)
        for i in range(n_in):
            for c in range(j1 - j0):
                G[i, j0 + c] = rows[i, c] * scale
    return G


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
