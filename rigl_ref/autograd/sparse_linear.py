"""Two rows of the primitive table for truly sparse weights: ``sparse_linear`` and ``sparse_conv2d``.

``sparse_linear``: ``y = x @ W``, with ``W`` a CSR weight of shape ``(in, out)``. Tensor inputs: the
activations ``x`` ``(batch, in)`` (batch-major, like every other primitive) and ``weight_data`` ``(nnz,)``,
aligned with the CSR data. The pattern is static (not differentiated): keyword arguments ``indptr``,
``indices`` and ``shape``. The kernels work feature-major (``rigl_ref.kernels.csr``): ``x`` is transposed
once to ``XT`` ``(in, batch)`` (free when ``x`` is itself a transposed feature-major array, as the output of
a previous sparse layer is) and the output is returned as the transposed view of ``YT`` ``(out, batch)``.
The forward is ``csr_transposed_matmul``, or, given ``transposed`` (the
``transpose_pattern`` view of the same pattern, which a layer builds once per pattern), the faster
``csr_matmul`` on that view with ``np.take(weight_data, order)``: the same array bit for bit (both add the
entries of a column in increasing row). VJPs: ``dx = dy @ W^T`` (``csr_matmul``) and the weight gradient only at the active entries,
``d weight_data[p] = sum_b x[b, i] * dy[b, j]`` for entry ``p = (i, j)`` (``sddmm``; its batch sum is in
the lane order of ``rigl_ref.kernels.lanes``, so it equals ``dense_weight_gradient`` at that position bit for bit).

``forward_mask`` (both primitives, optional): a bool array aligned with ``weight_data`` naming the entries
the forward pass uses (Top-KAST's forward set ``A`` inside the stored backward set ``B``,
``rigl_ref.sparse_training.topkast``): the output and ``dx`` are those of the weight whose other entries
are 0, and the weight gradient is ``dL/dalpha`` at *every* stored entry, ``alpha`` being that masked
weight (Top-KAST eq. 2's straight-through gradient; the derivative with respect to ``weight_data`` itself
would be 0 outside the mask). Without it every entry is used.

``kernels`` (both primitives): ``"exact"`` (default) computes the weight gradient with ``sddmm`` (the lane
order, equal to the dense gradient bit for bit) and ``dx`` with ``csr_matmul``; ``"fast"`` computes the
weight gradient with ``sddmm_fast`` and, for ``sparse_linear`` when ``dx`` is needed too, both gradients
in one pass with ``sparse_linear_backward_fast`` (orders LLVM picks, within the bounds of
``rigl_ref.kernels.fast``; ``sparse_conv2d``'s ``dx`` stays exact). The output is the same in both modes.

``sparse_conv2d``: a convolution (NCHW input, cross-correlation as in :mod:`rigl_ref.autograd.conv`) whose
kernel is a CSR matrix ``K`` of shape ``(out_channels, in_channels*kh*kw)`` over the im2col columns of the
input (H1's :func:`~rigl_ref.autograd.conv.im2col`, whose row order is that of ``K``'s columns):
``y_cols = K @ cols``; VJPs ``d cols = K^T @ g_cols`` (then col2im) and ``dK[p] = <g_cols[o], cols[f]>``.
"""

from __future__ import annotations

import numpy as np

from rigl_ref.autograd.conv import as_pair, col2im, cols_to_nchw, im2col, nchw_to_cols, output_size
from rigl_ref.autograd.primitives import Primitive, apply, register_primitive
from rigl_ref.autograd.tensor import Tensor
from rigl_ref.kernels import csr_matmul, csr_transposed_matmul, sddmm, sddmm_fast, sparse_linear_backward_fast
from rigl_ref.validate import check_choice

#: ``kernels`` mode -> the weight-gradient kernel (module docstring)
WEIGHT_GRADIENT_KERNELS = {"exact": sddmm, "fast": sddmm_fast}
KERNEL_MODES = tuple(WEIGHT_GRADIENT_KERNELS)


def feature_major(a: np.ndarray) -> np.ndarray:
    """``a.T`` as a C-contiguous array (no copy when ``a`` is already a transposed C-contiguous array)."""
    return np.ascontiguousarray(a.T)


def _check_pattern(op, weight_data, indptr, indices, n_rows):
    if weight_data.shape != (len(indices),):
        raise ValueError(f"{op}: weight_data has shape {weight_data.shape}, but the pattern has {len(indices)} entries")
    if len(indptr) != n_rows + 1:
        raise ValueError(f"{op}: indptr has {len(indptr)} entries, expected {n_rows + 1}")


def _weight_gradient_kernel(op, kernels):
    return WEIGHT_GRADIENT_KERNELS[check_choice(f"{op} kernels", kernels, KERNEL_MODES)]


def _forward_values(op, weight_data, forward_mask):
    """The weight entries the forward pass uses: all of them, or those of ``forward_mask`` (others 0)."""
    if forward_mask is None:
        return weight_data
    if forward_mask.dtype != bool or forward_mask.shape != weight_data.shape:
        raise ValueError(f"{op}: forward_mask must be a bool array of shape {weight_data.shape}, "
                         f"got {forward_mask.dtype} {forward_mask.shape}")
    return np.where(forward_mask, weight_data, weight_data.dtype.type(0))


# ----- sparse_linear -----
def _linear_forward(x, weight_data, *, indptr, indices, shape, transposed=None, forward_mask=None, kernels="exact"):
    _weight_gradient_kernel("sparse_linear", kernels)  # reject a bad mode before any work
    if x.ndim != 2 or x.shape[1] != shape[0]:
        raise ValueError(f"sparse_linear: input of shape {x.shape} does not match a weight of shape {tuple(shape)}")
    _check_pattern("sparse_linear", weight_data, indptr, indices, shape[0])
    weight_data = _forward_values("sparse_linear", weight_data, forward_mask)
    if transposed is None:
        return csr_transposed_matmul(indptr, indices, weight_data, feature_major(x), shape[1]).T
    t_indptr, t_indices, order = transposed
    if len(t_indptr) != shape[1] + 1 or len(order) != len(indices):
        raise ValueError(
            f"sparse_linear: transposed has {len(t_indptr)} row pointers and {len(order)} entries, "
            f"expected {shape[1] + 1} and {len(indices)} (transpose_pattern of the same pattern)"
        )
    return csr_matmul(t_indptr, t_indices, np.take(weight_data, order), feature_major(x)).T


def _linear_joint_vjp(g, out, x, weight_data, *, needs, indptr, indices, shape, transposed=None, forward_mask=None,
                      kernels="exact"):
    """``(dx, d weight_data)``, each only where ``needs`` asks; in ``"fast"`` mode with both asked, one pass
    (``sparse_linear_backward_fast``)."""
    weight_gradient = _weight_gradient_kernel("sparse_linear", kernels)
    gT = feature_major(g)
    values = _forward_values("sparse_linear", weight_data, forward_mask) if needs[0] else None
    if needs[0] and needs[1] and kernels == "fast":
        dXT, weight_grad = sparse_linear_backward_fast(indptr, indices, values, feature_major(x), gT)
        return dXT.T, weight_grad
    dx = csr_matmul(indptr, indices, values, gT).T if needs[0] else None
    return dx, (weight_gradient(indptr, indices, feature_major(x), gT) if needs[1] else None)


SPARSE_LINEAR = register_primitive(Primitive.fused("sparse_linear", _linear_forward, _linear_joint_vjp, n_inputs=2))


def sparse_linear(x, weight_data, *, indptr, indices, shape, transposed=None, forward_mask=None,
                  kernels="exact") -> Tensor:
    """``x @ W`` for the CSR weight ``W = (indptr, indices, weight_data)`` of shape ``(in, out)``.

    ``transposed``: optionally ``rigl_ref.kernels.transpose_pattern(indptr, indices, shape[1])``, built once
    per pattern by the caller (``SparseLinear`` does); it makes the forward faster and changes no value. Only
    its sizes are checked (``ValueError``); that it belongs to this very pattern is the caller's promise (an
    O(nnz) comparison per call would cost what the view saves). ``forward_mask``, ``kernels``: see the module
    docstring."""
    return apply(
        SPARSE_LINEAR, x, weight_data, indptr=indptr, indices=indices, shape=tuple(shape), transposed=transposed,
        forward_mask=forward_mask, kernels=kernels,
    )


# ----- sparse_conv2d -----
def _conv_geometry(x, weight_data, indptr, indices, kernel_shape, stride, padding):
    out_channels, in_channels, kh, kw = kernel_shape
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(f"sparse_conv2d: input of shape {x.shape} does not match a kernel of shape {tuple(kernel_shape)}")
    _check_pattern("sparse_conv2d", weight_data, indptr, indices, out_channels)
    stride = as_pair("sparse_conv2d", "stride", stride, minimum=1)
    padding = as_pair("sparse_conv2d", "padding", padding, minimum=0)
    return stride, padding, output_size("sparse_conv2d", x.shape[2:], (kh, kw), stride, padding)


def _conv_forward(x, weight_data, *, indptr, indices, kernel_shape, stride, padding, forward_mask=None,
                  kernels="exact"):
    _weight_gradient_kernel("sparse_conv2d", kernels)
    stride, padding, out_hw = _conv_geometry(x, weight_data, indptr, indices, kernel_shape, stride, padding)
    weight_data = _forward_values("sparse_conv2d", weight_data, forward_mask)
    cols = im2col(x, kernel_shape[2:], stride, padding)
    return cols_to_nchw(csr_matmul(indptr, indices, weight_data, cols), x.shape[0], out_hw)


def _conv_vjp_x(g, out, x, weight_data, *, indptr, indices, kernel_shape, stride, padding, forward_mask=None,
                kernels="exact"):
    weight_data = _forward_values("sparse_conv2d", weight_data, forward_mask)
    n_features = kernel_shape[1] * kernel_shape[2] * kernel_shape[3]
    cols_grad = csr_transposed_matmul(indptr, indices, weight_data, np.ascontiguousarray(nchw_to_cols(g)), n_features)
    return col2im(cols_grad, x.shape, kernel_shape[2:], stride, padding)


def _conv_vjp_weight_data(g, out, x, weight_data, *, indptr, indices, kernel_shape, stride, padding,
                          forward_mask=None, kernels="exact"):
    cols = im2col(x, kernel_shape[2:], stride, padding)
    weight_gradient = _weight_gradient_kernel("sparse_conv2d", kernels)
    return weight_gradient(indptr, indices, np.ascontiguousarray(nchw_to_cols(g)), cols)


SPARSE_CONV2D = register_primitive(
    Primitive("sparse_conv2d", forward=_conv_forward, vjp=(_conv_vjp_x, _conv_vjp_weight_data))
)


def sparse_conv2d(x, weight_data, *, indptr, indices, kernel_shape, stride=1, padding=0, forward_mask=None,
                  kernels="exact") -> Tensor:
    """Convolution of ``x (N, C, H, W)`` with the CSR kernel ``(indptr, indices, weight_data)`` of shape
    ``(O, C*kh*kw)``; ``kernel_shape = (O, C, kh, kw)``; ``forward_mask``, ``kernels``: see the module
    docstring."""
    return apply(
        SPARSE_CONV2D, x, weight_data, indptr=indptr, indices=indices, kernel_shape=tuple(kernel_shape),
        stride=stride, padding=padding, forward_mask=forward_mask, kernels=kernels,
    )
