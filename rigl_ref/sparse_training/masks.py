"""Random initial masks with exact per-layer counts (RigL paper Sec. 3: "initialized randomly").

The official code (google-research/rigl ``sparse_utils.get_mask_random_numpy``) sets ``floor(s * N)``
entries of a flat ones-vector to 0 and shuffles it with NumPy's *global* RNG, once per layer in collection
order. rigl_ref keeps the exact count and the one-permutation-per-layer structure, but draws from an
explicit ``numpy.random.Generator``:

* ``random_mask`` calls ``rng.permutation(N)`` exactly once and activates the first ``n_active`` flat
  (row-major) indices of that permutation;
* ``init_masks`` walks the layers in the given order and calls ``random_mask`` once per masked layer
  (including layers of sparsity 0); an unmasked layer (sparsity ``None``) gets an all-True mask and
  consumes nothing from the Generator.

So ``init_masks(layers, sparsities, np.random.default_rng(seed))`` is reproducible from ``seed`` alone, and
layer ``l``'s mask depends only on the seed and the sizes of the masked layers before it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from rigl_ref.sparse_training.conventions import DEFAULT_CONVENTION
from rigl_ref.sparse_training.distributions import active_counts, as_layer_shapes
from rigl_ref.validate import as_generator


def random_mask(shape, n_active: int, rng) -> np.ndarray:
    """Boolean mask of ``shape`` with exactly ``n_active`` True entries, chosen by one
    ``rng.permutation(prod(shape))`` (its first ``n_active`` entries are the active flat indices)."""
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in dims):
        raise ValueError(f"shape must be a tuple of non-negative integers, got {shape!r}")
    shape = tuple(int(d) for d in dims)
    size = math.prod(shape)
    if isinstance(n_active, bool) or int(n_active) != n_active or not 0 <= int(n_active) <= size:
        raise ValueError(f"n_active must be an integer in [0, {size}] for shape {shape}, got {n_active!r}")
    rng = as_generator(rng)
    mask = np.zeros(size, dtype=bool)
    mask[rng.permutation(size)[: int(n_active)]] = True
    return mask.reshape(shape)


def init_masks(layers, sparsities: Mapping[str, float | None], rng, convention=DEFAULT_CONVENTION) -> dict[str, np.ndarray]:
    """One random mask per layer, in layer order, with the convention's exact active count
    (``distributions.active_count``); ``rng`` is a Generator or an int seed, consumed as the module
    docstring describes."""
    records = as_layer_shapes(layers)
    names = [layer.name for layer in records]
    unknown = sorted(set(sparsities) - set(names))
    missing = [name for name in names if name not in sparsities]
    if unknown or missing:
        raise ValueError(f"sparsities must name exactly the layers {names}; unknown {unknown}, missing {missing}")
    rng = as_generator(rng)
    counts = active_counts(records, sparsities, convention)
    return {
        layer.name: np.ones(layer.shape, dtype=bool) if sparsities[layer.name] is None
        else random_mask(layer.shape, counts[layer.name], rng)
        for layer in records
    }
