"""Layer 0: Numba kernels of the truly sparse substrate (``csr.py``; RigL's grow top-k in ``grow.py``; the
weight-gradient summation order in ``lanes.py``; Floyd's exact-count
sampling of random patterns in ``sample.py``; the ``fast`` mode's backward in ``fast.py``; sorted-set membership in ``sets.py``; SGD's momentum step in ``sgd.py``; a sparse layer's bias and activation in ``bias.py``; uint8 pixels to a float32 batch in ``pixels.py``; options in ``jit.py``) and their plain
NumPy twins of the same names (``reference.py``). Raw arrays in, arrays out; no validation here (callers in
``rigl_ref.sparse`` and ``rigl_ref.autograd.sparse_linear`` check their inputs)."""

from .bias import bias_activation, relu_gradient
from .csr import csr_matmul, csr_transposed_matmul, dense_weight_gradient, rebuild_pattern, sddmm, transpose_pattern
from .fast import sddmm_fast, sparse_linear_backward_fast
from .grow import grow_topk
from .pixels import scaled_pixels
from .sample import floyd_sample
from .sets import sorted_in, sorted_membership
from .sgd import sgd_momentum_step

__all__ = [
    "bias_activation",
    "csr_matmul",
    "csr_transposed_matmul",
    "dense_weight_gradient",
    "floyd_sample",
    "grow_topk",
    "rebuild_pattern",
    "relu_gradient",
    "scaled_pixels",
    "sddmm",
    "sddmm_fast",
    "sgd_momentum_step",
    "sorted_in",
    "sorted_membership",
    "sparse_linear_backward_fast",
    "transpose_pattern",
]
