"""The lane order: how every weight-gradient value ``G[i, j] = sum_b XT[i, b] * dYT[j, b]`` is summed.

One order for ``sddmm``, ``dense_weight_gradient`` and ``grow_topk`` (so the SDDMM gradient of an active
weight, the dense gradient at that position and a grow score are the same float), chosen because LLVM can
vectorise it without ``fastmath`` (nothing is reassociated: the lanes are independent sums):

1. ``LANES = 16`` partial sums, all starting at +0.0 in the activations' dtype; lane ``l`` adds the products
   ``XT[i, b] * dYT[j, b]`` of the batch positions ``b = l, l + 16, l + 32, ...`` (``b % 16 == l``) in
   increasing ``b``; a batch shorter than 16, or its last ``B % 16`` positions, simply leave the higher lanes
   with fewer terms (an empty lane stays +0.0);
2. the lanes are combined by a fixed halving tree, ``lane[l] += lane[l + h]`` for ``l < h`` and
   ``h = 8, 4, 2, 1``; the value is ``lane[0]``, i.e.
   ``((((s0+s8)+(s4+s12))+((s2+s10)+(s6+s14)))+(((s1+s9)+(s5+s13))+((s3+s11)+(s7+s15))))``;
3. a scaled gradient (``dense_weight_gradient``, ``grow_topk``) multiplies that value once by ``scale``.

This module holds the building blocks (no NumPy twins of their own: the kernels built from them have
twins); ``reference.py`` restates the order with whole-array NumPy operations.
"""

from __future__ import annotations

import numpy as np

from .jit import jit

LANES = 16


@jit
def combine_lanes(lanes, width):
    """Add the ``LANES`` partial sums of each of the first ``width`` columns of ``lanes`` (shape
    ``(LANES, >= width)``) in the fixed halving tree: ``lanes[l] += lanes[l + h]`` for ``l < h``,
    ``h = 8, 4, 2, 1``; the results are ``lanes[0, :width]``."""
    h = LANES // 2
    while h > 0:
        for lane in range(h):
            for c in range(width):
                lanes[lane, c] += lanes[lane + h, c]
        h //= 2


@jit
def lane_gradient_rows(XT, panel, i0, i1, out, lanes):
    """``out[r, c] = sum_b XT[i0 + r, b] * panel[b, c]`` for ``r < i1 - i0``, in the lane order (AXPY form:
    lane ``b % LANES`` of the whole row gets ``XT[i0 + r, b] * panel[b, :]``, a contiguous loop over the
    columns that LLVM vectorises). ``panel`` is a batch-major copy of some columns of the output gradient;
    ``lanes`` is C-contiguous scratch of shape ``(LANES, >= panel.shape[1])``."""
    width = panel.shape[1]
    for r in range(i1 - i0):
        for lane in range(LANES):
            acc = lanes[lane]
            for c in range(width):
                acc[c] = 0
        x = XT[i0 + r]
        for b in range(panel.shape[0]):
            xb = x[b]
            pb = panel[b]
            acc = lanes[b % LANES]
            for c in range(width):
                acc[c] += xb * pb[c]
        combine_lanes(lanes, width)
        total = lanes[0]
        row = out[r]
        for c in range(width):
            row[c] = total[c]


@jit
def batch_major_panel(dYT, j0, j1):
    """Batch-major copy ``dYT[j0:j1].T`` (shape ``(batch, j1 - j0)``), contiguous."""
    panel = np.empty((dYT.shape[1], j1 - j0), dtype=dYT.dtype)
    for c in range(j1 - j0):
        for b in range(dYT.shape[1]):
            panel[b, c] = dYT[j0 + c, b]
    return panel
