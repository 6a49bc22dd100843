"""Exact-count random patterns in O(k) memory: Floyd's sampling of ``k`` distinct integers of ``[0, n)``.

Floyd's algorithm (Bentley & Floyd, "Programming pearls: a sample of brilliance", CACM 30(9), 1987,
Algorithm F2): for ``j = n - k, ..., n - 1`` take ``t`` uniform in ``[0, j]``; insert ``t`` into the sample
if it is not there yet, else insert ``j``. Every ``k``-subset of ``[0, n)`` comes out with probability
``1 / C(n, k)``; the work and the memory are O(k), whatever ``n`` (``rng.choice(n, k, replace=False)`` and
``rng.permutation(n)`` are O(n): 8.6 GB of int64 for one 32 768 x 32 768 layer).

The random numbers are drawn by the caller (``draws[i]`` uniform in ``[0, n - k + i]``, from a
``numpy.random.Generator``; ``rigl_ref.sparse_training.masks`` says how), so the kernel is deterministic
and its NumPy twin (``reference.floyd_sample``) gives the same array. The membership test is an
open-addressing hash set (linear probing, Fibonacci hashing) of ``2^ceil(log2(2k))`` int64 slots; the
sample is returned sorted (increasing flat index = the CSR entry order).
"""

from __future__ import annotations

import numpy as np

from .jit import jit

FIBONACCI = np.uint64(11400714819323198485)  # 2^64 / golden ratio, odd: a multiplicative hash


@jit
def floyd_sample(draws, n):
    """The sorted Floyd sample of ``len(draws)`` distinct integers of ``[0, n)`` (int64)."""
    k = draws.shape[0]
    bits = 1
    while (1 << bits) < 2 * k:
        bits += 1
    capacity = 1 << bits
    mask = capacity - 1
    shift = np.uint64(64 - bits)
    table = np.full(capacity, -1, dtype=np.int64)
    out = np.empty(k, dtype=np.int64)
    for i in range(k):
        j = n - k + i
        t = draws[i]
        for value in (t, j):  # t if it is new, else j (never in the set: every member so far is < j)
            slot = np.int64((np.uint64(value) * FIBONACCI) >> shift)
            while table[slot] != -1 and table[slot] != value:
                slot = (slot + 1) & mask
            if table[slot] == -1:
                table[slot] = value
                out[i] = value
                break
    out.sort()
    return out
