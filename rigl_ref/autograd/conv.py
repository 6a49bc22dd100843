"""2-D convolution and max-pooling on NCHW arrays: im2col/col2im and the forward/VJP functions of the rows
``conv2d`` and ``max_pool2d`` in :mod:`rigl_ref.autograd.primitives`.

Layouts (the ones PyTorch uses): input ``x`` is ``(N, C, H, W)``, a convolution weight is
``(O, C, kh, kw)`` (OIHW), the output is ``(N, O, OH, OW)`` with ``OH = (H + 2*ph - kh) // sh + 1``
(windows that do not fit are dropped). As in every deep-learning framework, "convolution" here is
cross-correlation: the kernel is not flipped.

:func:`im2col` lays the patches out feature-major, ``cols[(c*kh + i)*kw + j, (n*OH + oh)*OW + ow]``, so
that ``weight.reshape(O, C*kh*kw) @ cols`` is the convolution. Rows are in the order of a weight kept as a
CSR matrix of shape ``(O, C*kh*kw)``, and a sparse kernel can multiply the same columns.

Nothing loops over pixels in Python: im2col is one copy of a strided window view, and col2im and the
max-pool VJP loop only over the ``kh*kw`` offsets inside a window, each step a vectorised strided add.
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


def _windows(x: np.ndarray, kernel, stride, padding) -> np.ndarray:
    """A read-only strided view ``(N, C, OH, OW, kh, kw)`` of the windows of the zero-padded ``x``."""
    if padding != (0, 0):
        x = np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))
    return sliding_window_view(x, kernel, axis=(2, 3))[:, :, :: stride[0], :: stride[1]]


def _window_slices(offset_i: int, offset_j: int, out_hw, stride) -> tuple[slice, slice]:
    """Positions in the (padded) input read by window offset ``(i, j)`` across all output pixels."""
    return (
        slice(offset_i, offset_i + stride[0] * (out_hw[0] - 1) + 1, stride[0]),
        slice(offset_j, offset_j + stride[1] * (out_hw[1] - 1) + 1, stride[1]),
    )


def im2col(x: np.ndarray, kernel_size, stride=1, padding=0) -> np.ndarray:
    """Patches of ``x (N, C, H, W)`` as columns of a ``(C*kh*kw, N*OH*OW)`` array (layout in the module doc)."""
    kernel = as_pair("im2col", "kernel_size", kernel_size, minimum=1)
    stride = as_pair("im2col", "stride", stride, minimum=1)
    padding = as_pair("im2col", "padding", padding, minimum=0)
    _check_nchw("im2col", "x", x)
    n, c = x.shape[:2]
    oh, ow = output_size("im2col", x.shape[2:], kernel, stride, padding)
    windows = _windows(x, kernel, stride, padding)  # (N, C, OH, OW, kh, kw)
    return windows.transpose(1, 4, 5, 0, 2, 3).reshape(c * kernel[0] * kernel[1], n * oh * ow)


def col2im(cols: np.ndarray, x_shape, kernel_size, stride=1, padding=0) -> np.ndarray:
    """The adjoint of :func:`im2col`: add every column entry back onto the input pixel it was copied from."""
    kernel = as_pair("col2im", "kernel_size", kernel_size, minimum=1)
    stride = as_pair("col2im", "stride", stride, minimum=1)
    padding = as_pair("col2im", "padding", padding, minimum=0)
    n, c, h, w = x_shape
    oh, ow = output_size("col2im", (h, w), kernel, stride, padding)
    if cols.shape != (c * kernel[0] * kernel[1], n * oh * ow):
        raise ValueError(f"col2im: cols have shape {cols.shape}, expected {(c * kernel[0] * kernel[1], n * oh * ow)}")
    patches = cols.reshape(c, kernel[0], kernel[1], n, oh, ow)
    padded = np.zeros((n, c, h + 2 * padding[0], w + 2 * padding[1]), dtype=cols.dtype)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            rows, columns = _window_slices(i, j, (oh, ow), stride)
            padded[:, :, rows, columns] += patches[:, i, j].transpose(1, 0, 2, 3)
    return padded[:, :, padding[0] : padding[0] + h, padding[1] : padding[1] + w]


def _check_nchw(op: str, name: str, array: np.ndarray) -> None:
    if array.ndim != 4:
        raise ValueError(f"{op}: {name} must be 4-D (N, C, H, W), got shape {array.shape}")


# ----- conv2d: forward and one VJP per input -----
def _conv_geometry(x, weight, stride, padding):
    _check_nchw("conv2d", "input", x)
    if weight.ndim != 4:
        raise ValueError(f"conv2d: weight must be 4-D (out_channels, in_channels, kh, kw), got shape {weight.shape}")
    if x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"conv2d: input {x.shape} has {x.shape[1]} channels but weight {weight.shape} expects {weight.shape[1]}"
        )
    stride = as_pair("conv2d", "stride", stride, minimum=1)
    padding = as_pair("conv2d", "padding", padding, minimum=0)
    out_hw = output_size("conv2d", x.shape[2:], weight.shape[2:], stride, padding)
    return stride, padding, out_hw


def _output_gradient_matrix(g: np.ndarray) -> np.ndarray:
    """``g (N, O, OH, OW)`` as ``(O, N*OH*OW)``, the column order of :func:`im2col`."""
    return g.transpose(1, 0, 2, 3).reshape(g.shape[1], -1)


def conv2d_forward(x, weight, stride=1, padding=0):
    """Cross-correlation of ``x (N, C, H, W)`` with ``weight (O, C, kh, kw)``: one GEMM over im2col columns."""
    stride, padding, (oh, ow) = _conv_geometry(x, weight, stride, padding)
    out = weight.reshape(weight.shape[0], -1) @ im2col(x, weight.shape[2:], stride, padding)
    return np.ascontiguousarray(out.reshape(weight.shape[0], x.shape[0], oh, ow).transpose(1, 0, 2, 3))


def conv2d_vjp_input(g, out, x, weight, stride=1, padding=0):
    stride, padding, _ = _conv_geometry(x, weight, stride, padding)
    cols_grad = weight.reshape(weight.shape[0], -1).T @ _output_gradient_matrix(g)
    return col2im(cols_grad, x.shape, weight.shape[2:], stride, padding)


def conv2d_vjp_weight(g, out, x, weight, stride=1, padding=0):
    stride, padding, _ = _conv_geometry(x, weight, stride, padding)
    cols = im2col(x, weight.shape[2:], stride, padding)
    return (_output_gradient_matrix(g) @ cols.T).reshape(weight.shape)


# ----- max_pool2d -----
def _pool_geometry(x, kernel_size, stride):
    _check_nchw("max_pool2d", "input", x)
    kernel = as_pair("max_pool2d", "kernel_size", kernel_size, minimum=1)
    stride = kernel if stride is None else as_pair("max_pool2d", "stride", stride, minimum=1)
    out_hw = output_size("max_pool2d", x.shape[2:], kernel, stride, (0, 0))
    return kernel, stride, out_hw


def max_pool2d_forward(x, kernel_size, stride=None):
    """Maximum over each ``kernel_size`` window of ``x (N, C, H, W)``; ``stride`` defaults to the kernel size."""
    kernel, stride, _ = _pool_geometry(x, kernel_size, stride)
    return _windows(x, kernel, stride, (0, 0)).max(axis=(4, 5))


def max_pool2d_vjp(g, out, x, kernel_size, stride=None):
    """Route each window's gradient to its maximum; on ties, to the FIRST maximum in row-major window order
    (``numpy.argmax``). Overlapping windows (stride < kernel) add their contributions."""
    kernel, stride, out_hw = _pool_geometry(x, kernel_size, stride)
    windows = _windows(x, kernel, stride, (0, 0))
    winner = windows.reshape(*windows.shape[:4], -1).argmax(axis=-1)  # (N, C, OH, OW), row-major offset
    grad = np.zeros_like(x)
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            rows, columns = _window_slices(i, j, out_hw, stride)
            grad[:, :, rows, columns] += np.where(winner == i * kernel[1] + j, g, 0)
    return grad
