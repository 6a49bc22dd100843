"""Layer 0: Numba kernels of the truly sparse substrate (``csr.py``, options in ``jit.py``) and their plain
NumPy twins of the same names (``reference.py``). Raw arrays in, arrays out; no validation here (callers in
``rigl_ref.sparse`` and ``rigl_ref.autograd.sparse_linear`` check their inputs)."""

from .csr import csr_matmul, csr_transposed_matmul, dense_weight_gradient, grow_topk, rebuild_pattern, sddmm

__all__ = [
    "csr_matmul",
    "csr_transposed_matmul",
    "dense_weight_gradient",
    "grow_topk",
    "rebuild_pattern",
    "sddmm",
]
