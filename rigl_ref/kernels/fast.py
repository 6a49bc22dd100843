"""The ``fast`` kernel mode: a sparse layer's backward whose sums LLVM may reorder (``RunConfig.kernels``).

The exact kernels (``csr.py``) fix every summation order so that a run is the same float for float on
every CPU; the price is paid in ``sddmm``, whose lane order (``lanes.py``) LLVM can vectorise only with
its 16 partial sums kept in memory, and in loading every row of the output gradient ``dYT`` twice, once
for the input gradient (``csr_matmul``) and once for the weight gradient. The fast mode computes the same
two quantities of a sparse linear layer's backward,

    dW[p] = sum_b XT[i, b] * dYT[j, b]          for the entry p = (i, j)      (sddmm_fast),
    dXT[i, b] = sum_p data[p] * dYT[j_p, b]     over the entries p of row i  (sparse_linear_backward_fast),

compiled with reassociation and FMA contraction (``jit.FAST_JIT_OPTIONS``): ``sddmm_fast`` as one plain
dot product per entry, and, when the layer's input needs a gradient too, both in one pass over the pattern
(``sparse_linear_backward_fast``: each group of rows of ``dYT`` is loaded once for both). Measured
(1 thread): ``sddmm_fast`` 2.5-4x faster than ``sddmm`` on 784 x 1000 and 1000 x 1000 layers at 90-99 %
sparsity with batch 100 (Intel Xeon, 2026-12-07, ``bench/results/kernels_batch100.json``), only 1.1-1.4x at
batch 256; the one-pass backward 1.31-1.38x faster than ``csr_matmul`` plus ``sddmm_fast`` on 784 x 1000
and 1000 x 1000 layers at 50-99 % with batch 100 (AMD EPYC, 2026-12-08; 1.45-1.59x on the Intel Xeon,
``bench/results/kernels_batch100_2026-12-08_xeon.json``; ``bench/kernels.py``'s ``backward_both`` rows), 1.10x / 1.09x / 1.06x per trainer step of the 784-1000-1000-10 MLP at 90 / 95 / 99 %. Their summation orders are LLVM's choice for the CPU they run on, so:

* on one machine and one build they are deterministic (no threads; the same inputs give the same floats);
* against the exact kernels they differ by at most the standard bound for two dot products of length
  ``n`` computed in any order (Higham, *Accuracy and Stability of Numerical Algorithms*, eq. 3.5),
  ``|fast - exact| <= 2 gamma_n sum |terms|``, ``gamma_n = n u / (1 - n u)``, ``u`` the unit roundoff of
  the dtype: ``n = B`` (the batch) for the weight gradient (:func:`sddmm_fast_bound`), ``n`` = the row's
  entries for the input gradient (:func:`input_gradient_fast_bound`); tested under hypothesis;
* NaN and Inf propagate as in the exact kernels (no ``nnan``/``ninf`` flags).

The forward pass has no fast form (its products gain little or nothing from contraction: 1.12x on the
Intel Xeon's kernel, 1.04x per step; 0.89-1.03x on the AMD EPYC; load bound),
and RigL's grow scores stay exact in both modes, so a mask update ranks the floats of its inputs exactly
whichever mode trained the weights. The NumPy twins are the exact ``reference.sddmm`` and
``reference.csr_matmul``, within those bounds.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from .jit import jit_fast


@jit_fast
def sddmm_fast(indptr, indices, XT, dYT):
    """``out[p] = sum_b XT[i, b] * dYT[j, b]`` for each entry ``p = (i, j)`` of the CSR pattern, the batch
    sum in an order LLVM picks (vectorised, fused multiply-adds); see the module docstring for its bound.
    Four entries of a row are summed in one pass over the batch (one load of ``XT[i, b]`` for four
    products: 10-25 % faster than one entry per pass, timed on 1000 x 1000 and 4096 x 4096 layers at
    90-99 %, batch 64-256, 2026-12-07), the row's last ones singly."""
    out = np.empty(indices.shape[0], dtype=XT.dtype)
    batch = XT.shape[1]
    zero = XT.dtype.type(0)
    for i in range(indptr.shape[0] - 1):
        x = XT[i]
        p, end = indptr[i], indptr[i + 1]
        while p + 4 <= end:
            g0, g1, g2, g3 = dYT[indices[p]], dYT[indices[p + 1]], dYT[indices[p + 2]], dYT[indices[p + 3]]
            t0 = t1 = t2 = t3 = zero
            for b in range(batch):
                xb = x[b]
                t0 += xb * g0[b]
                t1 += xb * g1[b]
                t2 += xb * g2[b]
                t3 += xb * g3[b]
            out[p], out[p + 1], out[p + 2], out[p + 3] = t0, t1, t2, t3
            p += 4
        while p < end:
            g = dYT[indices[p]]
            total = zero
            for b in range(batch):
                total += x[b] * g[b]
            out[p] = total
            p += 1
    return out


def sddmm_fast_bound(indptr, indices, XT, dYT) -> np.ndarray:
    """Per entry, the largest ``|sddmm_fast - sddmm|`` allowed: ``2 gamma_B sum_b |XT[i, b] dYT[j, b]|``
    (module docstring), evaluated in float64 from the inputs."""
    gamma = _gamma(XT.shape[1], XT.dtype)
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    magnitudes = np.abs(XT.astype(np.float64)[rows] * dYT.astype(np.float64)[indices]).sum(axis=1)
    return 2 * gamma * magnitudes


@jit_fast
def sparse_linear_backward_fast(indptr, indices, data, XT, dYT):
    """Both gradients of a sparse linear layer's backward in one pass: ``(dXT, dW)``, with
    ``dXT = A @ dYT`` (``csr_matmul``'s quantity: the input gradient, ``data`` the weight values the
    forward used) and ``dW[p] = sum_b XT[i, b] * dYT[j, b]`` (``sddmm``'s quantity), their sums in orders
    LLVM picks (module docstring; bounds :func:`input_gradient_fast_bound` and :func:`sddmm_fast_bound`).
    Four entries of a row per pass over the batch: the four rows of ``dYT`` are loaded once for the four
    dot products and the four input-gradient terms; the row's last entries singly."""
    n_in = indptr.shape[0] - 1
    batch = dYT.shape[1]
    dXT = np.zeros((n_in, batch), dtype=dYT.dtype)
    dW = np.empty(indices.shape[0], dtype=XT.dtype)
    zero = XT.dtype.type(0)
    for i in range(n_in):
        x, acc = XT[i], dXT[i]
        p, end = indptr[i], indptr[i + 1]
        while p + 4 <= end:
            g0, g1, g2, g3 = dYT[indices[p]], dYT[indices[p + 1]], dYT[indices[p + 2]], dYT[indices[p + 3]]
            v0, v1, v2, v3 = data[p], data[p + 1], data[p + 2], data[p + 3]
            t0 = t1 = t2 = t3 = zero
            for b in range(batch):
                xb, h0, h1, h2, h3 = x[b], g0[b], g1[b], g2[b], g3[b]
                t0 += xb * h0
                t1 += xb * h1
                t2 += xb * h2
                t3 += xb * h3
                acc[b] += v0 * h0 + v1 * h1 + v2 * h2 + v3 * h3
            dW[p], dW[p + 1], dW[p + 2], dW[p + 3] = t0, t1, t2, t3
            p += 4
        while p < end:
            g, v = dYT[indices[p]], data[p]
            total = zero
            for b in range(batch):
                total += x[b] * g[b]
                acc[b] += v * g[b]
            dW[p] = total
            p += 1
    return dXT, dW


def input_gradient_fast_bound(indptr, indices, data, dYT) -> np.ndarray:
    """Per position ``(i, b)``, the largest ``|fast - csr_matmul|`` allowed for the input gradient:
    ``2 gamma_n sum_p |data[p] dYT[j_p, b]|`` over the ``n`` entries of row ``i`` (module docstring),
    evaluated in float64 from the inputs."""
    n_rows = len(indptr) - 1
    gamma = _gamma(np.diff(indptr).astype(np.float64), dYT.dtype)
    magnitude = scipy.sparse.csr_matrix((np.abs(data.astype(np.float64)), indices, indptr),
                                        shape=(n_rows, dYT.shape[0]))
    return 2 * gamma[:, None] * (magnitude @ np.abs(dYT.astype(np.float64)))


def _gamma(n, dtype):
    """Higham's ``gamma_n = n u / (1 - n u)``, ``u`` the unit roundoff of ``dtype`` (``n`` a number or an array)."""
    unit_roundoff = np.finfo(dtype).eps / 2
    return n * unit_roundoff / (1 - n * unit_roundoff)
