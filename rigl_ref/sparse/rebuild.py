"""Pattern rebuild of a ``CSRWeight`` after one drop/grow update (RigL Alg. 1: the new connectivity is
``(theta \\ I_drop) + I_grow``), carrying every array aligned with the weight's data along."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from rigl_ref.kernels import rebuild_pattern

from .csr_weight import CSRWeight


class Rebuilt(NamedTuple):
    """Result of :func:`rebuild`: the new weight, the remapped aligned arrays (same order as given), and
    ``source`` (for each new entry, the old entry it continues, or -1 if it was grown)."""

    weight: CSRWeight
    aligned: tuple
    source: np.ndarray


def rebuild(weight: CSRWeight, keep, grown_flat, *, grow_init=0.0, aligned=()) -> Rebuilt:
    """New weight = the kept entries (``keep``: bool per stored entry) plus the grown positions
    (``grown_flat``: row-major flat indices, any order, unique, none of them kept).

    Kept entries keep their value and every aligned array's value (optimizer slots such as momentum or
    Adam moments); grown entries get ``grow_init`` (a scalar, or one value per ``grown_flat`` entry in the
    order given) and 0 in every aligned array. Inputs are not modified.
    """
    keep = np.asarray(keep)
    if keep.dtype != bool or keep.shape != (weight.nnz,):
        raise ValueError(f"keep must be a bool array of shape ({weight.nnz},), got {keep.dtype} {keep.shape}")
    grown_flat = np.asarray(grown_flat)
    if grown_flat.ndim != 1 or (grown_flat.size and grown_flat.dtype.kind not in "iu"):
        raise ValueError(f"grown_flat must be a 1-D integer array, got {grown_flat.dtype} {grown_flat.shape}")
    grown_flat = grown_flat.astype(np.int64)
    if grown_flat.size and (grown_flat.min() < 0 or grown_flat.max() >= weight.size):
        bad = grown_flat[(grown_flat < 0) | (grown_flat >= weight.size)][0]
        raise ValueError(f"grown_flat contains {bad}, outside [0, {weight.size}) for shape {weight.shape}")
    init = np.asarray(grow_init, dtype=weight.data.dtype)
    if init.ndim not in (0,) and init.shape != grown_flat.shape:
        raise ValueError(f"grow_init must be a scalar or have shape {grown_flat.shape}, got {init.shape}")
    aligned = tuple(np.asarray(a) for a in aligned)
    for n, array in enumerate(aligned):
        if array.shape != (weight.nnz,):
            raise ValueError(f"aligned[{n}] has shape {array.shape}; arrays aligned with data need ({weight.nnz},)")
    order = np.argsort(grown_flat, kind="stable")
    grown_sorted = grown_flat[order]
    cols = weight.shape[1]
    indptr, indices, source = rebuild_pattern(
        weight.indptr, weight.indices, keep, grown_sorted // max(cols, 1), (grown_sorted % max(cols, 1)).astype(weight.indices.dtype)
    )
    is_grown = source < 0
    data = _remap(weight.data, source, 0)
    data[is_grown] = init if init.ndim == 0 else init[order]
    new_weight = CSRWeight(indptr, indices, data, weight.shape, check=False)
    return Rebuilt(new_weight, tuple(_remap(a, source, 0) for a in aligned), source)


def _remap(old: np.ndarray, source: np.ndarray, fill) -> np.ndarray:
    """``new[p] = old[source[p]]`` where ``source[p] >= 0``, else ``fill``."""
    new = np.full(len(source), fill, dtype=old.dtype)
    carried = source >= 0
    new[carried] = old[source[carried]]
    return new
