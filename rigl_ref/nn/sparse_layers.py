"""Truly sparse layers: ``SparseLinear`` and ``SparseConv2d``, whose weights are ``CSRWeight`` matrices.

They share the interface of the dense layers in :mod:`rigl_ref.nn.layers`: calling the layer on a Tensor
gives its output, and ``parameters()`` maps ``"weight"`` and ``"bias"`` to the leaf Tensors an optimizer
updates. Here ``parameters()["weight"]`` is the Tensor over ``layer.weight.data`` (shape ``(nnz,)``,
the same array object, so an in-place optimizer step changes the CSR weight); its gradient after
``backward()`` is the SDDMM gradient at the active entries. Memory and time scale with ``nnz``.

After a drop/grow update, install the rebuilt weight with :meth:`set_weight` (new pattern, new data
Tensor; the optimizer's slots are remapped by the caller through ``rigl_ref.sparse.rebuild``).

``forward_mask`` (Top-KAST, ``rigl_ref.sparse_training.topkast``): a bool array aligned with the weight's
data, or None. Given one, the layer stores its backward set and computes with the masked entries only,
and the weight gradient is the straight-through ``dL/dalpha`` at every stored entry
(``rigl_ref.autograd.sparse_linear``); :attr:`active_nnz` counts the entries the forward pass uses.

``kernels`` (``use_kernels``): the kernel mode of the layer's backward, ``"exact"`` (default) or ``"fast"``
(``rigl_ref.autograd.sparse_linear``, ``rigl_ref.kernels.fast``).

Growth inputs (for RigL's grow step without a dense gradient matrix): set ``layer.record_growth_inputs =
True`` before the forward pass of the batch whose gradient should rank the growth candidates; after
``backward()``, ``layer.growth_inputs()`` returns the :class:`~rigl_ref.sparse.GrowthInputs` of that batch
(feature-major factors of the dense weight gradient w.r.t. the pre-bias output), ready for
``rigl_ref.kernels.grow_topk`` / ``rigl_ref.sparse_training.csr_update``. Recording costs one reference
to the input and one retained output gradient; switch it off on ordinary steps.
"""

from __future__ import annotations

import numpy as np

from rigl_ref.autograd import Tensor, im2col
from rigl_ref.autograd.bias_activation import bias_activation
from rigl_ref.autograd.conv import nchw_to_cols
from rigl_ref.autograd.sparse_linear import KERNEL_MODES, feature_major, sparse_conv2d, sparse_linear
from rigl_ref.kernels import transpose_pattern
from rigl_ref.sparse import CSRWeight, GrowthInputs
from rigl_ref.validate import check_choice, check_positive_int


class _SparseLayer:
    """Shared parts: the CSR weight, its data Tensor, the dense bias, and growth-input recording."""

    expected_shape: tuple[int, int]
    kernels = "exact"  # the backward kernel mode (module docstring); changed by use_kernels

    def _init_parameters(self, weight: CSRWeight, bias) -> None:
        self.record_growth_inputs = False
        self._recorded = None
        self.set_weight(weight)
        if bias is None:
            bias = np.zeros(self.bias_size, dtype=weight.data.dtype)
        bias = np.asarray(bias)
        if bias.shape != (self.bias_size,) or bias.dtype != weight.data.dtype:
            raise ValueError(
                f"bias must have shape ({self.bias_size},) and the weight's dtype {weight.data.dtype}, "
                f"got {bias.shape} {bias.dtype}"
            )
        self.bias = Tensor(bias, requires_grad=True)

    def set_weight(self, weight: CSRWeight, forward_mask=None) -> None:
        """Install a (rebuilt) CSR weight of the same shape; its data array becomes the weight parameter.
        ``forward_mask``: the entries the forward pass uses (module docstring; None: all)."""
        if not isinstance(weight, CSRWeight):
            raise TypeError(f"weight must be a CSRWeight, got {type(weight).__name__}")
        if weight.shape != self.expected_shape:
            raise ValueError(f"weight has shape {weight.shape}, expected {self.expected_shape}")
        if forward_mask is not None:
            forward_mask = np.asarray(forward_mask)
            if forward_mask.dtype != bool or forward_mask.shape != weight.data.shape:
                raise ValueError(f"forward_mask must be a bool array of shape {weight.data.shape}, "
                                 f"got {forward_mask.dtype} {forward_mask.shape}")
        self.weight = weight
        self.forward_mask = forward_mask
        self.weight_data = Tensor(weight.data, requires_grad=True)

    def use_kernels(self, kernels: str) -> None:
        """Compute this layer's backward with the ``"exact"`` or the ``"fast"`` kernels."""
        self.kernels = check_choice("kernels", kernels, KERNEL_MODES)

    @property
    def active_nnz(self) -> int:
        """Connections the forward pass uses: every stored entry, or those of ``forward_mask``."""
        return self.weight.nnz if self.forward_mask is None else int(self.forward_mask.sum())

    def active_entries_per_row(self) -> np.ndarray:
        """Per row of the CSR weight, how many of its entries the forward pass uses (int64)."""
        counts = np.diff(self.weight.indptr).astype(np.int64)
        if self.forward_mask is None:
            return counts
        return np.bincount(self.weight.row_of_entry()[self.forward_mask], minlength=len(counts)).astype(np.int64)

    def parameters(self) -> dict[str, Tensor]:
        return {"weight": self.weight_data, "bias": self.bias}

    def _record(self, x: Tensor, pre_bias: Tensor) -> None:
        self._recorded = (x.value, pre_bias.retain_grad()) if self.record_growth_inputs else None

    def _recorded_gradient(self):
        if self._recorded is None:
            raise RuntimeError("no growth inputs recorded: set record_growth_inputs = True before the forward pass")
        x, pre_bias = self._recorded
        if pre_bias.grad is None:
            raise RuntimeError("growth inputs need the output gradient: call backward() after the recorded forward pass")
        return x, pre_bias.grad


class SparseLinear(_SparseLayer):
    """``x (batch, in) -> x @ W + b`` with ``W`` a ``CSRWeight`` of shape ``(in, out)`` and a dense bias."""

    def __init__(self, in_features: int, out_features: int, weight: CSRWeight, bias=None):
        self.in_features = check_positive_int("in_features", in_features)
        self.out_features = check_positive_int("out_features", out_features)
        self.expected_shape = (self.in_features, self.out_features)
        self.bias_size = self.out_features
        self._transposed_of = self._transposed = None
        self._init_parameters(weight, bias)

    def transposed_pattern(self):
        """``transpose_pattern`` of the current weight's pattern (for the faster, bit-identical forward of
        ``sparse_linear``), rebuilt only when the pattern arrays change (a new ``CSRWeight``, e.g. after a
        drop/grow update: patterns are never edited in place); O(nnz) once per pattern."""
        w = self.weight
        cached = self._transposed_of
        if cached is None or cached[0] is not w.indptr or cached[1] is not w.indices:
            self._transposed = transpose_pattern(w.indptr, w.indices, w.shape[1])
            self._transposed_of = (w.indptr, w.indices)
        return self._transposed

    def __call__(self, x: Tensor, activation: str = "identity") -> Tensor:
        """``act(x @ W + b)``, ``activation`` ``"identity"`` or ``"relu"`` (the bias and the activation in
        one fused row, ``rigl_ref.autograd.bias_activation``)."""
        w = self.weight
        pre_bias = sparse_linear(
            x, self.weight_data, indptr=w.indptr, indices=w.indices, shape=w.shape, transposed=self.transposed_pattern(),
            forward_mask=self.forward_mask, kernels=self.kernels,
        )
        self._record(x if isinstance(x, Tensor) else Tensor(x), pre_bias)
        return bias_activation(pre_bias, self.bias, activation=activation)

    def growth_inputs(self) -> GrowthInputs:
        """``(x^T, dy^T)`` of the recorded batch: ``x^T @ dy`` is the dense weight gradient ``(in, out)``."""
        x, dy = self._recorded_gradient()
        return GrowthInputs(feature_major(x), feature_major(dy))


class SparseConv2d(_SparseLayer):
    """Convolution (NCHW, cross-correlation) whose kernel is a ``CSRWeight`` of shape
    ``(out_channels, in_channels * kernel_size**2)`` over im2col columns, plus a per-channel bias."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, weight: CSRWeight, bias=None,
                 *, stride: int = 1, padding: int = 0):
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = check_positive_int("out_channels", out_channels)
        self.kernel_size = check_positive_int("kernel_size", kernel_size)
        self.stride, self.padding = stride, padding
        self.kernel_shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.expected_shape = (out_channels, in_channels * kernel_size * kernel_size)
        self.bias_size = self.out_channels
        self._init_parameters(weight, bias)

    def __call__(self, x: Tensor) -> Tensor:
        w = self.weight
        pre_bias = sparse_conv2d(
            x, self.weight_data, indptr=w.indptr, indices=w.indices, kernel_shape=self.kernel_shape,
            stride=self.stride, padding=self.padding, forward_mask=self.forward_mask, kernels=self.kernels,
        )
        self._record(x if isinstance(x, Tensor) else Tensor(x), pre_bias)
        return pre_bias + self.bias.reshape(1, -1, 1, 1)

    def growth_inputs(self) -> GrowthInputs:
        """``(dy_cols, cols)``: ``dy_cols @ cols^T`` is the dense kernel gradient ``(out, in*k*k)``."""
        x, dy = self._recorded_gradient()
        cols = im2col(x, self.kernel_shape[2:], self.stride, self.padding)
        return GrowthInputs(np.ascontiguousarray(nchw_to_cols(dy)), np.ascontiguousarray(cols))
