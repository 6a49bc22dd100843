"""Random initial masks with exact per-layer counts (RigL paper Sec. 3: "initialized randomly"), drawn
directly as the sorted list of active positions, in memory O(active count).

The official code (google-research/rigl ``sparse_utils.get_mask_random_numpy``) sets ``floor(s * N)``
entries of a flat ones-vector to 0 and shuffles it with NumPy's *global* RNG, once per layer in collection
order: O(N) memory and time per layer (a 32 768 x 32 768 layer needs an 8.6 GB permutation). rigl_ref keeps
the exact count and the one-draw-per-layer structure, from an explicit ``numpy.random.Generator``, but
samples the ``k = n_active`` active flat (row-major) indices of a layer of ``N`` positions with Floyd's
algorithm (``rigl_ref.kernels.sample``, O(k)):

* ``random_active_indices`` makes exactly one Generator call, ``rng.integers(0, highs)`` with
  ``highs = [N - k + 1, ..., N]`` (int64, so ``draws[i]`` is uniform in ``[0, N - k + i]``), and returns
  ``floyd_sample(draws, N)``: the ``k`` distinct indices, sorted;
* ``random_mask`` scatters them into a boolean array (the spec layer's dense mask; a dense mask and the
  CSR pattern of the same seed are the same positions);
* ``init_patterns`` walks the layers in the given order and calls ``random_active_indices`` once per
  masked layer (including layers of sparsity 0); an unmasked layer (sparsity ``None``) is left out and
  consumes nothing. ``init_masks`` is the same walk, returning dense masks (all-True when unmasked).

So ``init_patterns(layers, sparsities, np.random.default_rng(seed))`` is reproducible from ``seed``
alone, layer ``l``'s pattern depends only on the seed and the shapes and counts of the masked layers
before it, and ``init_masks`` with the same seed gives exactly those positions as dense masks.
(rigl_ref before this sampler activated the first ``k`` entries of ``rng.permutation(N)``: the same
distribution over patterns, another stream, so runs from the same seed start from other masks.)
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from rigl_ref.kernels.sample import floyd_sample
from rigl_ref.sparse_training.conventions import DEFAULT_CONVENTION
from rigl_ref.sparse_training.distributions import active_counts, as_layer_shapes
from rigl_ref.validate import as_generator


def _checked(shape, n_active) -> tuple[tuple[int, ...], int, int]:
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 0 for d in dims):
        raise ValueError(f"shape must be a tuple of non-negative integers, got {shape!r}")
    shape = tuple(int(d) for d in dims)
    size = math.prod(shape)
    if isinstance(n_active, bool) or int(n_active) != n_active or not 0 <= int(n_active) <= size:
        raise ValueError(f"n_active must be an integer in [0, {size}] for shape {shape}, got {n_active!r}")
    return shape, size, int(n_active)


def random_active_indices(shape, n_active: int, rng) -> np.ndarray:
    """The sorted row-major flat indices (int64) of ``n_active`` distinct positions of an array of
    ``shape``, uniform over all such sets: Floyd's algorithm on one ``rng.integers`` call (module
    docstring). Memory and time O(``n_active``), whatever the size of ``shape``."""
    _, size, n_active = _checked(shape, n_active)
    rng = as_generator(rng)
    draws = rng.integers(0, np.arange(size - n_active + 1, size + 1, dtype=np.int64))
    return floyd_sample(draws.astype(np.int64, copy=False), size)


def random_mask(shape, n_active: int, rng) -> np.ndarray:
    """Boolean mask of ``shape`` with exactly ``n_active`` True entries: the positions of
    :func:`random_active_indices` (same ``rng`` consumption)."""
    shape, size, n_active = _checked(shape, n_active)
    mask = np.zeros(size, dtype=bool)
    mask[random_active_indices(shape, n_active, rng)] = True
    return mask.reshape(shape)


def _walk(layers, sparsities: Mapping[str, float | None], rng, convention):
    records = as_layer_shapes(layers)
    names = [layer.name for layer in records]
    unknown = sorted(set(sparsities) - set(names))
    missing = [name for name in names if name not in sparsities]
    if unknown or missing:
        raise ValueError(f"sparsities must name exactly the layers {names}; unknown {unknown}, missing {missing}")
    rng = as_generator(rng)
    counts = active_counts(records, sparsities, convention)
    for layer in records:
        if sparsities[layer.name] is None:
            yield layer, None
        else:
            yield layer, random_active_indices(layer.shape, counts[layer.name], rng)


def init_patterns(layers, sparsities: Mapping[str, float | None], rng, convention=DEFAULT_CONVENTION) -> dict[str, np.ndarray]:
    """The sorted active flat indices of every masked layer, in layer order, with the convention's exact
    active count (``distributions.active_count``); unmasked layers (sparsity ``None``) are left out.
    ``rng`` is a Generator or an int seed, consumed as the module docstring describes."""
    return {layer.name: flat for layer, flat in _walk(layers, sparsities, rng, convention) if flat is not None}


def init_masks(layers, sparsities: Mapping[str, float | None], rng, convention=DEFAULT_CONVENTION) -> dict[str, np.ndarray]:
    """:func:`init_patterns` as dense boolean masks (the spec layer's form; all-True for an unmasked
    layer): the same positions from the same seed."""
    masks = {}
    for layer, flat in _walk(layers, sparsities, rng, convention):
        mask = np.zeros(layer.shape, dtype=bool) if flat is not None else np.ones(layer.shape, dtype=bool)
        mask.reshape(-1)[flat if flat is not None else []] = True
        masks[layer.name] = mask
    return masks


def positions_outside(taken: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """The positions of rank ``ranks`` (0-based, ascending order) among the integers not in the sorted,
    distinct ``taken``: the r-th one is ``r + #{i: taken[i] - i <= r}``, without enumerating the range."""
    taken = np.asarray(taken, np.int64)
    ranks = np.asarray(ranks, np.int64)
    return ranks + np.searchsorted(taken - np.arange(len(taken), dtype=np.int64), ranks, side="right")


def random_inactive_indices(active_flat: np.ndarray, size: int, count: int, rng) -> np.ndarray:
    """``count`` distinct positions of ``[0, size)`` outside the sorted active positions ``active_flat``,
    sorted, uniform over all such sets: :func:`random_active_indices` draws their ranks among the
    ``size - len(active_flat)`` inactive positions (one Generator call), :func:`positions_outside` maps
    ranks to positions. Memory and time O(``len(active_flat) + count``), whatever ``size``."""
    active_flat = np.asarray(active_flat, np.int64)
    ranks = random_active_indices((int(size) - len(active_flat),), count, rng)
    return positions_outside(active_flat, ranks)
