"""2-D convolution and max-pooling on NCHW arrays: im2col/col2im and the forward/VJP functions of the rows
``conv2d`` and ``max_pool2d`` in :mod:`rigl_ref.autograd.primitives`.

Layouts (the ones PyTorch uses): input ``x`` is ``(N, C, H, W)``, a convolution weight is
``(O, C, kh, kw)`` (OIHW), the output is ``(N, O, OH, OW)`` with ``OH = (H + 2*ph - kh) // sh + 1``
(windows that do not fit are dropped). As in every deep-learning framework, "convolution" here is
cross-correlation: the kernel is not flipped.

:func:`im2col` lays the patches out feature-major with the batch index fastest:
``cols[(c*kh + i)*kw + j, (oh*OW + ow)*N + n] = x_padded[n, c, oh*sh + i, ow*sw + j]``. Then
``weight.reshape(O, C*kh*kw) @ cols`` is the convolution as an ``(O, OH*OW*N)`` matrix (turned into NCHW by
:func:`cols_to_nchw`), and the rows are in the order of a kernel kept as a CSR matrix of shape
``(O, C*kh*kw)``, so a sparse kernel multiplies the same columns. The batch goes last because the strided
copies of im2col and col2im then move runs of ``N`` contiguous numbers; measured on LeNet-5 shapes this
was 2-3x faster than the batch-first order.

Nothing loops over pixels in Python: im2col is one copy of a strided window view, and col2im and the
max-pool functions loop only over the ``kh*kw`` offsets inside a window, each step a vectorised strided
operation over all windows at once.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def as_pair(op: str, name: str, value, *, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints, each ``>= minimum``, as a pair (``stride=2`` means ``(2, 2)``)."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum for v in pair):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints >= {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def output_size(op: str, in_hw, kernel, stride, padding) -> tuple[int, int]:
    """``(OH, OW)`` of a sliding window; refuses a kernel larger than the padded input."""
    padded = (in_hw[0] + 2 * padding[0], in_hw[1] + 2 * padding[1])
    if padded[0] < kernel[0] or padded[1] < kernel[1]:
        raise ValueError(f"{op}: kernel {tuple(kernel)} is larger than the padded input {padded}")
    return (padded[0] - kernel[0]) // stride[0] + 1, (padded[1] - kernel[1]) // stride[1] + 1


def _window_slices(offset_i: int, offset_j: int, out_hw, stride) -> tuple[slice, slice]:
    """The (row, column) positions of the input read at window offset ``(i, j)``, over all output pixels."""
    return (
        slice(offset_i, offset_i + stride[0] * (out_hw[0] - 1) + 1, stride[0]),
        slice(offset_j, offset_j + stride[1] * (out_hw[1] - 1) + 1, stride[1]),
    )


def _geometry(op: str, x_shape, kernel_size, stride, padding):
    kernel = as_pair(op, "kernel_size", kernel_size, minimum=1)
    stride = as_pair(op, "stride", stride, minimum=1)
    padding = as_pair(op, "padding", padding, minimum=0)
    if len(x_shape) != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W), got shape {tuple(x_shape)}")
    return kernel, stride, padding, output_size(op, x_shape[2:], kernel, stride, padding)


def im2col(x: np.ndarray, kernel_size, stride=1, padding=0) -> np.ndarray:
    """Zero-padded patches of ``x (N, C, H, W)`` as a ``(C*kh*kw, OH*OW*N)`` array (layout in the module doc)."""
    kernel, stride, padding, (oh, ow) = _geometry("im2col", np.shape(x), kernel_size, stride, padding)
    n, c, h, w = x.shape
    batch_last = np.zeros((c, h + 2 * padding[0], w + 2 * padding[1], n), dtype=x.dtype)
    batch_last[:, padding[0] : padding[0] + h, padding[1] : padding[1] + w] = x.transpose(1, 2, 3, 0)
    windows = sliding_window_view(batch_last, kernel, axis=(1, 2))[:, :: stride[0], :: stride[1]]
    return windows.transpose(0, 4, 5, 1, 2, 3).reshape(c * kernel[0] * kernel[1], oh * ow * n)


def col2im(cols: np.ndarray, x_shape, kernel_size, stride=1, padding=0) -> np.ndarray:
    """The adjoint of :func:`im2col`: add every column entry back onto the input pixel it was copied from."""
    kernel, stride, padding, (oh, ow) = _geometry("col2im", tuple(x_shape), kernel_size, stride, padding)
    n, c, h, w = x_shape
    if cols.shape != (c * kernel[0] * kernel[1], oh * ow * n):
        raise ValueError(f"col2im: cols have shape {cols.shape}, expected {(c * kernel[0] * kernel[1], oh * ow * n)}")
    patches = cols.reshape(c, kernel[0], kernel[1], oh, ow, n)
    batch_last = np.zeros((c, h + 2 * padding[0], w + 2 * padding[1], n), dtype=cols.dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            rows, columns = _window_slices(i, j, (oh, ow), stride)
            batch_last[:, rows, columns] += patches[:, i, j]
    interior = batch_last[:, padding[0] : padding[0] + h, padding[1] : padding[1] + w]
    return np.ascontiguousarray(interior.transpose(3, 0, 1, 2))


def cols_to_nchw(y: np.ndarray, batch: int, out_hw) -> np.ndarray:
    """A convolution result in im2col column order, ``(O, OH*OW*N)``, as a contiguous ``(N, O, OH, OW)``."""
    return np.ascontiguousarray(y.reshape(y.shape[0], out_hw[0], out_hw[1], batch).transpose(3, 0, 1, 2))


def nchw_to_cols(g: np.ndarray) -> np.ndarray:
    """The inverse of :func:`cols_to_nchw`: ``(N, O, OH, OW)`` as ``(O, OH*OW*N)``."""
    return g.transpose(1, 2, 3, 0).reshape(g.shape[1], -1)


# ----- conv2d: forward and one VJP per input -----
def _conv_geometry(x, weight, stride, padding):
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be 4-D (out_channels, in_channels, kh, kw), got shape {weight.shape}")
    _, stride, padding, out_hw = _geometry("conv2d", x.shape, weight.shape[2:], stride, padding)
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"conv2d: input {x.shape} has {x.shape[1]} channels but weight {weight.shape} expects {weight.shape[1]}"
        )
    return stride, padding, out_hw


def conv2d_forward(x, weight, stride=1, padding=0):
    """Cross-correlation of ``x (N, C, H, W)`` with ``weight (O, C, kh, kw)``: one GEMM over im2col columns."""
    stride, padding, out_hw = _conv_geometry(x, weight, stride, padding)
    y = weight.reshape(weight.shape[0], -1) @ im2col(x, weight.shape[2:], stride, padding)
    return cols_to_nchw(y, x.shape[0], out_hw)


def conv2d_vjp_input(g, out, x, weight, stride=1, padding=0):
    stride, padding, _ = _conv_geometry(x, weight, stride, padding)
    cols_grad = weight.reshape(weight.shape[0], -1).T @ nchw_to_cols(g)
    return col2im(cols_grad, x.shape, weight.shape[2:], stride, padding)


def conv2d_vjp_weight(g, out, x, weight, stride=1, padding=0):
    stride, padding, _ = _conv_geometry(x, weight, stride, padding)
    cols = im2col(x, weight.shape[2:], stride, padding)
    return (nchw_to_cols(g) @ cols.T).reshape(weight.shape)


# ----- max_pool2d -----
def _pool_geometry(x, kernel_size, stride):
    stride = kernel_size if stride is None else stride  # PyTorch's default
    kernel, stride, _, out_hw = _geometry("max_pool2d", x.shape, kernel_size, stride, 0)
    offsets = [(i, j, _window_slices(i, j, out_hw, stride)) for i in range(kernel[0]) for j in range(kernel[1])]
    return offsets, any(s < k for s, k in zip(stride, kernel))  # do windows overlap?


def max_pool2d_forward(x, kernel_size, stride=None):
    """Maximum over each ``kernel_size`` window of ``x (N, C, H, W)``; ``stride`` defaults to the kernel size."""
    offsets, _ = _pool_geometry(x, kernel_size, stride)
    (_, _, (rows, columns)), *rest = offsets
    out = x[:, :, rows, columns].copy()
    for _, _, (rows, columns) in rest:
        np.maximum(out, x[:, :, rows, columns], out=out)
    return out


def max_pool2d_vjp(g, out, x, kernel_size, stride=None):
    """Route each window's gradient to its maximum: on ties, to the FIRST position holding the maximum in
    row-major window order (as ``numpy.argmax`` would). Overlapping windows add their contributions."""
    offsets, overlapping = _pool_geometry(x, kernel_size, stride)
    grad = np.zeros_like(x)
    routed = np.zeros(out.shape, dtype=bool)  # windows whose maximum has already received g
    for _, _, (rows, columns) in offsets:
        hit = x[:, :, rows, columns] == out
        hit &= ~routed
        routed |= hit
        if overlapping:
            grad[:, :, rows, columns] += np.where(hit, g, 0)
        else:  # each input position belongs to at most one window
            np.multiply(g, hit, out=grad[:, :, rows, columns])
    return grad
