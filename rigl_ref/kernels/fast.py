"""The ``fast`` kernel mode: a weight gradient whose batch sums LLVM may reorder (``RunConfig.kernels``).

The exact kernels (``csr.py``) fix every summation order so that a run is the same float for float on
every CPU; the price is paid in ``sddmm``, whose lane order (``lanes.py``) LLVM can vectorise only with
its 16 partial sums kept in memory. ``sddmm_fast`` computes the same quantity,

    out[p] = sum_b XT[i, b] * dYT[j, b]   for the entry p = (i, j),

as one plain dot product per entry compiled with reassociation and FMA contraction
(``jit.FAST_JIT_OPTIONS``). Measured with ``bench/kernels.py`` (1 thread, 2026-12-07): 2.5-4x faster than
``sddmm`` on 784 x 1000 and 1000 x 1000 layers at 90-99 % sparsity with batch 100
(``bench/results/kernels_batch100.json``), where the exact kernel's lane passes fit the batch badly; only
1.1-1.4x at batch 256, where they fit. Its summation order is LLVM's choice for the CPU it runs on, so:

* on one machine and one build it is deterministic (no threads; the same inputs give the same floats);
* against the exact ``sddmm`` it differs by at most the bound of :func:`sddmm_fast_bound`, the standard
  bound for two dot products of length ``B`` computed in any order (Higham, *Accuracy and Stability of
  Numerical Algorithms*, eq. 3.5): ``|fast - exact| <= 2 gamma_B sum_b |XT[i, b] dYT[j, b]|``,
  ``gamma_B = B u / (1 - B u)``, ``u`` the unit roundoff of the dtype (tested under hypothesis);
* NaN and Inf propagate as in the exact kernel (no ``nnan``/``ninf`` flags).

Only the weight gradient at the active entries has a fast form: the products of the forward pass and
the input gradient gain nothing from contraction (measured: within 5 %, load bound), and RigL's grow
scores stay exact in both modes, so a mask update ranks the same floats whichever mode trained the
weights. The NumPy twin of ``sddmm_fast`` is the exact ``reference.sddmm``, within that bound.
"""

from __future__ import annotations

import numpy as np

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
    batch = XT.shape[1]
    unit_roundoff = np.finfo(XT.dtype).eps / 2
    gamma = batch * unit_roundoff / (1 - batch * unit_roundoff)
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    magnitudes = np.abs(XT.astype(np.float64)[rows] * dYT.astype(np.float64)[indices]).sum(axis=1)
    return 2 * gamma * magnitudes
