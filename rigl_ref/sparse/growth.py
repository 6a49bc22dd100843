"""What RigL's grow step needs from one layer, without a dense gradient matrix: the two factors of the
dense weight gradient, ``G = row_factor @ col_factor^T`` (shape = the weight's CSR shape).

* sparse linear (weight ``(in, out)``): ``row_factor = x^T`` ``(in, batch)`` and ``col_factor = dy^T``
  ``(out, batch)``, where ``dy`` is the gradient w.r.t. the layer's pre-bias output;
* sparse conv2d (kernel ``(out_channels, in_channels*kh*kw)``): ``row_factor`` = the output gradient in
  im2col column order ``(out_channels, positions)`` and ``col_factor`` = the im2col columns of the input
  ``(in_channels*kh*kw, positions)``.

Both factors are feature-major and C-contiguous, as ``rigl_ref.kernels.grow_topk`` takes them. The
gradient at a few positions (:meth:`GrowthInputs.gradient_at`, e.g. TF1 RigL's slot value
``grad * initial_acc_scale`` of grown connections) costs O(positions x batch). Several
batches combine by concatenation along the batch axis: ``sum_b X_b^T dY_b = concat(X)^T concat(dY)``, so
rigl-torch's mean over the last ``n`` batches is ``GrowthInputs.concatenate(records)`` with ``scale=1/n``.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from rigl_ref.kernels import dense_weight_gradient, sddmm

from .csr_weight import flat_to_pattern


class GrowthInputs(NamedTuple):
    """The factors of one layer's dense weight gradient ``row_factor @ col_factor^T`` (see module doc)."""

    row_factor: np.ndarray
    col_factor: np.ndarray

    @classmethod
    def concatenate(cls, records: Sequence["GrowthInputs"]) -> "GrowthInputs":
        """Join recorded batches along the batch axis (their gradient is the sum of theirs)."""
        if not records:
            raise ValueError("GrowthInputs.concatenate needs at least one record")
        return cls(
            np.ascontiguousarray(np.concatenate([r.row_factor for r in records], axis=1)),
            np.ascontiguousarray(np.concatenate([r.col_factor for r in records], axis=1)),
        )

    def dense_gradient(self, scale: float = 1.0) -> np.ndarray:
        """The dense gradient ``scale * row_factor @ col_factor^T`` with the batch sum in the kernels'
        lane order (``rigl_ref.kernels.lanes``): the very values ``grow_topk`` ranks (for test-sized
        layers and the spec layer)."""
        return dense_weight_gradient(self.row_factor, self.col_factor, self.row_factor.dtype.type(scale))

    def gradient_at(self, flat, scale: float = 1.0) -> np.ndarray:
        """``scale * G`` at the strictly increasing row-major flat positions ``flat`` of the gradient's shape
        ``(row_factor rows, col_factor rows)``: the same floats as ``dense_gradient(scale)`` there (SDDMM in
        the lane order, then one multiplication by ``scale``), without the dense matrix."""
        shape = (self.row_factor.shape[0], self.col_factor.shape[0])
        indptr, indices = flat_to_pattern(flat, shape)
        dtype = self.row_factor.dtype.type
        return sddmm(indptr, indices, self.row_factor, self.col_factor) * dtype(scale)


class CandidateScores(NamedTuple):
    """Grow scores at some positions only: ``flat`` (sorted, distinct row-major flat indices) and one
    finite ``score >= 0`` each; every other position counts as scoring below all of them (-1), ties to
    the lower flat index. A sampled grow step (GSE) scores this way without a dense gradient."""

    flat: np.ndarray
    scores: np.ndarray

    def dense(self, shape) -> np.ndarray:
        """The dense score array the spec layer ranks: the scores at ``flat``, -1 elsewhere (float64)."""
        out = np.full(int(np.prod(shape)), -1.0)
        out[self.flat] = self.scores
        return out.reshape(shape)
