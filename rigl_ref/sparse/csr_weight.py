"""``CSRWeight``: the truly sparse weight of a layer, stored as CSR (indptr, indices, data, shape).

The sparsity pattern lives **only** in ``(indptr, indices)``. An active weight whose value is 0.0 (every
freshly grown weight, RigL Alg. 1: grown weights start at zero) is still active: nothing in rigl_ref ever
derives the pattern from the values. scipy.sparse arithmetic that drops stored zeros (``A + B``,
``A.multiply(B)``, ``eliminate_zeros``) only ever sees the copy returned by :meth:`CSRWeight.to_scipy`.

A dense-layer weight has shape ``(in, out)`` (``y = x @ W``); a conv kernel has shape
``(out_channels, in_channels * kh * kw)`` (``docs/architecture.md``). Flat indices are row-major.
Invariants, checked by :meth:`CSRWeight.check` in the spirit of scipy's ``check_format``:
indptr has ``rows + 1`` entries, starts at 0, is non-decreasing and ends at ``nnz``; indices and indptr
share one integer dtype (int32 or int64); indices are in ``[0, cols)``, strictly increasing within a row;
data is float32 or float64 and finite.
"""

from __future__ import annotations

import numpy as np

from rigl_ref.validate import check_finite

INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
VALUE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


class CSRWeight:
    """A sparse weight matrix in CSR form whose pattern is independent of its values.

    ``CSRWeight(indptr, indices, data, shape)`` takes the arrays as given (never reordered or copied
    unless a conversion is unavoidable) and runs ``check(full=True)``; unsorted input is an error, use
    :meth:`sorted_copy` to sort explicitly. ``data`` may be updated in place (optimizer steps); the
    pattern is replaced only by building a new ``CSRWeight`` (``rigl_ref.sparse.rebuild``).
    """

    __slots__ = ("indptr", "indices", "data", "shape")

    def __init__(self, indptr, indices, data, shape, *, check: bool = True):
        self.indptr = np.asarray(indptr)
        self.indices = np.asarray(indices)
        self.data = np.asarray(data)
        shape = tuple(shape) if np.ndim(shape) == 1 else shape
        if not (isinstance(shape, tuple) and len(shape) == 2 and all(_is_count(n) for n in shape)):
            raise ValueError(f"shape must be a pair of non-negative integers, got {shape!r}")
        self.shape = (int(shape[0]), int(shape[1]))
        if check:
            self.check(full=True)

    # ----------------------------------------------------------------- invariants
    def check(self, full: bool = False) -> None:
        """Raise ``ValueError`` naming the field if an invariant is broken.

        The cheap mode checks dtypes, lengths and the ends of ``indptr`` (O(rows)); ``full=True`` also
        checks that ``indptr`` is non-decreasing, every index is in range and strictly increasing within its
        row (sorted, unique), and that ``data`` is finite (O(nnz)).
        """
        rows, cols = self.shape
        indptr, indices, data = self.indptr, self.indices, self.data
        for name, array in (("indptr", indptr), ("indices", indices), ("data", data)):
            if array.ndim != 1:
                raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
        if indices.dtype not in INDEX_DTYPES:
            raise ValueError(f"indices must have dtype int32 or int64, got {indices.dtype}")
        if indptr.dtype != indices.dtype:
            raise ValueError(f"indptr has dtype {indptr.dtype} but indices has {indices.dtype}; they must match")
        if data.dtype not in VALUE_DTYPES:
            raise ValueError(f"data must have dtype float32 or float64, got {data.dtype}")
        if len(indptr) != rows + 1:
            raise ValueError(f"indptr must have rows + 1 = {rows + 1} entries for shape {self.shape}, got {len(indptr)}")
        if indptr[0] != 0:
            raise ValueError(f"indptr[0] must be 0, got {indptr[0]}")
        if len(indices) != len(data):
            raise ValueError(f"indices has {len(indices)} entries but data has {len(data)}; they must match")
        if indptr[-1] != len(indices):
            raise ValueError(f"indptr[-1] must equal the number of entries {len(indices)}, got {indptr[-1]}")
        if not full:
            return
        steps = np.diff(indptr)
        if np.any(steps < 0):
            row = int(np.flatnonzero(steps < 0)[0])
            raise ValueError(f"indptr must be non-decreasing; indptr[{row + 1}] = {indptr[row + 1]} < indptr[{row}] = {indptr[row]}")
        bad = (indices < 0) | (indices >= cols)
        if bad.any():
            p = int(np.flatnonzero(bad)[0])
            raise ValueError(f"indices[{p}] = {indices[p]} is out of range [0, {cols})")
        row_start = np.zeros(len(indices), dtype=bool)
        row_start[indptr[:-1][steps > 0]] = True
        unordered = ~row_start[1:] & (np.diff(indices) <= 0)
        if unordered.any():
            p = int(np.flatnonzero(unordered)[0]) + 1
            what = "duplicate" if indices[p] == indices[p - 1] else "unsorted"
            raise ValueError(
                f"indices must be strictly increasing within each row: {what} column at indices[{p}] = "
                f"{indices[p]} after {indices[p - 1]} (use CSRWeight.sorted_copy to sort explicitly)"
            )
        check_finite("data", data)

    # ----------------------------------------------------------------- construction
    @classmethod
    def sorted_copy(cls, indptr, indices, data, shape) -> "CSRWeight":
        """A new weight with each row's entries sorted by column (copies; duplicates are still an error)."""
        indptr = np.asarray(indptr)
        indices, data = np.array(indices), np.array(data)
        rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr)) if len(indptr) else np.zeros(0, int)
        if len(rows) == len(indices):
            order = np.lexsort((indices, rows))
            indices, data = indices[order], data[order]
        return cls(indptr, indices, data, shape)

    @classmethod
    def from_dense(cls, mask, values, *, dtype=np.float32, index_dtype=np.int32) -> "CSRWeight":
        """The weight whose pattern is ``mask`` (bool, or 0/1 numbers) and whose data are ``values[mask]``
        (zeros included: a zero value at an active position stays active)."""
        mask = np.asarray(mask)
        values = np.asarray(values)
        if mask.ndim != 2:
            raise ValueError(f"mask must be 2-D, got shape {mask.shape}")
        if values.shape != mask.shape:
            raise ValueError(f"values has shape {values.shape}, but mask has shape {mask.shape}; they must match")
        if mask.dtype != bool:
            if not np.all((mask == 0) | (mask == 1)):
                raise ValueError("mask must be boolean or contain only 0 and 1")
            mask = mask != 0
        rows, cols = np.nonzero(mask)
        indptr = np.zeros(mask.shape[0] + 1, dtype=index_dtype)
        np.cumsum(mask.sum(axis=1), out=indptr[1:])
        return cls(indptr, cols.astype(index_dtype), values[rows, cols].astype(dtype), mask.shape)

    # ----------------------------------------------------------------- views and conversions
    @property
    def nnz(self) -> int:
        """Number of active connections (stored entries), whatever their values."""
        return int(len(self.indices))

    @property
    def size(self) -> int:
        """Number of positions of the dense matrix, ``rows * cols``."""
        return self.shape[0] * self.shape[1]

    @property
    def density(self) -> float:
        """``nnz / size`` (0.0 for an empty shape)."""
        return self.nnz / self.size if self.size else 0.0

    def row_of_entry(self) -> np.ndarray:
        """The row of every stored entry (int64, aligned with ``data``)."""
        return np.repeat(np.arange(self.shape[0], dtype=np.int64), np.diff(self.indptr))

    def active_flat_indices(self) -> np.ndarray:
        """Row-major flat indices ``row * cols + col`` of the active entries, increasing, aligned with data."""
        return self.row_of_entry() * self.shape[1] + self.indices.astype(np.int64)

    def to_dense(self) -> tuple[np.ndarray, np.ndarray]:
        """``(mask, values)``: a boolean mask of the pattern and the dense values (0 where inactive)."""
        mask = np.zeros(self.shape, dtype=bool)
        values = np.zeros(self.shape, dtype=self.data.dtype)
        rows = self.row_of_entry()
        mask[rows, self.indices] = True
        values[rows, self.indices] = self.data
        return mask, values

    def to_scipy(self):
        """A ``scipy.sparse.csr_array`` copy (explicit zeros kept as stored entries); editing it never
        changes this weight."""
        from scipy.sparse import csr_array

        return csr_array((self.data.copy(), self.indices.copy(), self.indptr.copy()), shape=self.shape)

    def copy(self) -> "CSRWeight":
        """A deep copy (new arrays)."""
        return CSRWeight(self.indptr.copy(), self.indices.copy(), self.data.copy(), self.shape, check=False)

    def __repr__(self) -> str:
        return f"CSRWeight(shape={self.shape}, nnz={self.nnz}, density={self.density:.4g}, dtype={self.data.dtype})"


def flat_to_pattern(flat, shape) -> tuple[np.ndarray, np.ndarray]:
    """CSR ``(indptr, indices)`` (int64) of strictly increasing row-major flat positions in a matrix of
    ``shape``; raises ``ValueError`` naming ``flat`` if the positions are not strictly increasing or out of
    range."""
    flat = np.asarray(flat, dtype=np.int64)
    rows, cols = shape
    if flat.ndim != 1:
        raise ValueError(f"flat must be a 1-D array of flat positions, got shape {flat.shape}")
    unordered = np.flatnonzero(np.diff(flat) <= 0)
    if unordered.size:
        p = int(unordered[0]) + 1
        raise ValueError(f"flat must be strictly increasing; flat[{p}] = {flat[p]} follows {flat[p - 1]}")
    if flat.size and (flat[0] < 0 or flat[-1] >= rows * cols):
        bad = flat[0] if flat[0] < 0 else flat[-1]
        raise ValueError(f"flat holds {bad}, outside [0, {rows * cols}) for shape {tuple(shape)}")
    indptr = np.zeros(rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(flat // max(cols, 1), minlength=rows), out=indptr[1:])
    return indptr, flat % max(cols, 1)


def _is_count(n) -> bool:
    return isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0
